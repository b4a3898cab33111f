"""Registry round trip on a throw-away SQLite store: log → challenger → promote → champion → pyfunc.

Uses the real ModelBundle built from a tiny LightGBM when riskscore.model.bundle and riskscore.model.additive
exist; otherwise a stand-in module with the same interface, so the registry is tested either way.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.contracts import FEATURES
from riskscore.errors import ConfigError, GateError, RegistryError

REAL_BUNDLE = all(importlib.util.find_spec(m) is not None for m in ("riskscore.model.bundle", "riskscore.model.additive", "riskscore.model.explain"))


# --- a stand-in with the bundle's interface (only used before bundle.py exists) ------------------
@dataclass
class _Scored:
    raw: np.ndarray
    probability: np.ndarray
    band: np.ndarray
    contributions: np.ndarray
    top: np.ndarray


@dataclass
class _Reason:
    code: str
    feature: str
    value: float
    contribution: float
    text_nl: str
    text_en: str


class _FakeBundle:
    def __init__(self, weights: dict[str, float], version: str) -> None:
        self.weights, self.version, self.features = weights, version, tuple(weights)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "bundle.json").write_text(json.dumps({"weights": self.weights, "version": self.version}))

    @classmethod
    def load(cls, directory: Path) -> _FakeBundle:
        d = json.loads((Path(directory) / "bundle.json").read_text())
        return cls(d["weights"], d["version"])

    def score(self, X: pd.DataFrame, top_k: int = 3) -> _Scored:
        contrib = np.nan_to_num(X[list(self.features)].to_numpy(float)) * np.array(list(self.weights.values()))
        raw = contrib.sum(axis=1) - 3.0
        prob = 1 / (1 + np.exp(-raw))
        band = np.where(prob >= 0.2, "high", np.where(prob >= 0.05, "medium", "low"))
        return _Scored(raw, prob, band, contrib, np.argsort(-contrib, axis=1)[:, :top_k])


def _fake_reasons(bundle: _FakeBundle, values_row: dict, contributions_row: np.ndarray, top_k: int = 3) -> list:
    order = [i for i in np.argsort(-contributions_row) if contributions_row[i] > 0][:top_k]
    return [_Reason(f"R_{bundle.features[i].upper()}", bundle.features[i], float(values_row[bundle.features[i]]),
                    float(contributions_row[i]), f"hoog: {bundle.features[i]}", f"high: {bundle.features[i]}") for i in order]


@pytest.fixture(scope="module")
def bundle_modules() -> Iterator[types.SimpleNamespace]:
    if REAL_BUNDLE:
        from riskscore.model import bundle, explain

        yield types.SimpleNamespace(ModelBundle=bundle.ModelBundle, reasons=explain.reasons, real=True)
        return
    bundle = types.ModuleType("riskscore.model.bundle")
    bundle.ModelBundle = _FakeBundle  # type: ignore[attr-defined]
    explain = types.ModuleType("riskscore.model.explain")
    explain.reasons = _fake_reasons  # type: ignore[attr-defined]
    mp = pytest.MonkeyPatch()
    mp.setitem(sys.modules, "riskscore.model.bundle", bundle)
    mp.setitem(sys.modules, "riskscore.model.explain", explain)
    yield types.SimpleNamespace(ModelBundle=_FakeBundle, reasons=_fake_reasons, real=False)
    mp.undo()


def _training_frame(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f: rng.gamma(1.0, 3.0, n) for f in FEATURES})
    X["level_code"] = rng.integers(0, 11, n).astype(float)
    logit = -3 + 0.25 * X["unauthorised_hours_4w"] + 0.3 * X["sick_reports_12w"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def _make_bundle(ns: types.SimpleNamespace, directory: Path, version: str) -> Path:
    if ns.real:
        from riskscore.model import additive as model

        X, y = _training_frame()
        additive = model.AdditiveLGBM(random_state=0, n_estimators=30, num_leaves=4, min_child_samples=20).fit(X, y)
        calibrator = model.Calibrator(random_state=0).fit(additive.raw_score(X), y)
        bundle = ns.ModelBundle.from_model(additive, calibrator, version=version,
                                           band_thresholds={"medium": 0.05, "high": 0.2}, metadata={"test": True})
    else:
        bundle = _FakeBundle({f: 0.1 + 0.01 * i for i, f in enumerate(FEATURES)}, version)
    bundle.save(directory)
    return directory


def test_registry_round_trip(tmp_path: Path, bundle_modules: types.SimpleNamespace) -> None:
    import mlflow

    from riskscore import registry

    registry.configure(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts"))
    assert registry.get_alias_version("champion") is None
    with pytest.raises(RegistryError, match="no version with alias 'champion'"):
        registry.download_bundle("champion")

    card = tmp_path / "card.md"
    card.write_text("# card")
    bundle_dir = _make_bundle(bundle_modules, tmp_path / "b1", "v-test-1")
    info = registry.log_training_run(
        experiment="riskscore-test", params={"n_estimators": 30, "seed": 0}, metrics={"additive.roc_auc": 0.8, "x": float("nan")},
        config={"seed": 0}, data_fingerprint="abc123", artifacts={"model_card.md": card, "renamed.md": card},
        bundle_dir=bundle_dir, tags={"gates_passed": "false", "fairness_violations": "tpr_ratio_min: 0.6 < 0.8"},
    )
    assert info.model_version == "1"
    assert registry.get_alias_version("challenger") == "1"
    run = mlflow.get_run(info.run_id)
    assert run.data.params["data_fingerprint"] == "abc123" and run.data.metrics == {"additive.roc_auc": 0.8}
    assert str(tmp_path / "artifacts") in run.info.artifact_uri  # experiment created under our artifact root
    listed = {a.path for a in mlflow.MlflowClient().list_artifacts(info.run_id, "reports")}
    assert listed == {"reports/model_card.md", "reports/renamed.md"}

    with pytest.raises(GateError, match="tpr_ratio_min"):
        registry.promote()
    with pytest.raises(ConfigError):
        registry.promote(forced=True, reason="  ")
    result = registry.promote(forced=True, reason="pilot in one region, audited by hand")
    assert (result.version, result.forced, result.previous_champion) == ("1", True, None)
    assert registry.get_alias_version("champion") == "1" and registry.get_alias_version("challenger") is None
    tags = mlflow.get_run(info.run_id).data.tags
    assert tags["forced"] == "true" and tags["override_reason"] == "pilot in one region, audited by hand"
    assert tags["promoted_at"].startswith(str(pd.Timestamp.now(tz="UTC").year))

    # the champion as MLflow serves it: probabilities and reasons for a DataFrame of features
    X, _ = _training_frame(n=5, seed=9)
    X.loc[0, "unauthorised_hours_4w"] = 40.0
    model = mlflow.pyfunc.load_model("models:/riskscore-vsv@champion")
    out = model.predict(X)
    expected = bundle_modules.ModelBundle.load(bundle_dir).score(X[list(FEATURES)], top_k=3)
    np.testing.assert_allclose(out["probability"].to_numpy(), expected.probability, rtol=1e-9)
    assert out["band"].isin(["low", "medium", "high"]).all()
    first = bundle_modules.reasons(bundle_modules.ModelBundle.load(bundle_dir), X.iloc[0], expected.contributions[0], top_k=3)
    assert first and out.loc[0, "reason_1_code"] == first[0].code and out.loc[0, "reason_1_text_nl"] == first[0].text_nl
    assert out.loc[0, "reason_1_contribution"] == pytest.approx(first[0].contribution) and first[0].contribution > 0
    assert (out["reason_3_code"] == "").sum() == sum(1 for i in range(5) if expected.contributions[i].clip(0).astype(bool).sum() < 3)
    assert set(model.metadata.get_input_schema().input_names()) == set(FEATURES)

    # the service's path: the bundle folder, loadable without mlflow
    folder = registry.download_bundle("champion", dst=tmp_path / "dl")
    assert bundle_modules.ModelBundle.load(folder).version == "v-test-1"

    # a second version that passed its gates is promoted without force
    info2 = registry.log_training_run(
        experiment="riskscore-test", params={"seed": 1}, metrics={}, config={"seed": 1}, data_fingerprint="def456",
        artifacts={}, bundle_dir=_make_bundle(bundle_modules, tmp_path / "b2", "v-test-2"), tags={"gates_passed": "true"},
    )
    assert info2.model_version == "2" and registry.get_alias_version("champion") == "1"
    result2 = registry.promote()
    assert (result2.version, result2.previous_champion, result2.forced) == ("2", "1", False)
    assert mlflow.get_run(info2.run_id).data.tags["override_reason"] == ""
    with pytest.raises(RegistryError):
        registry.promote("99", forced=True, reason="no such version")

    run_id = registry.log_monitoring("2", {"drift.html": card}, {"drift_share": 0.1})
    assert mlflow.get_run(run_id).data.tags["model_version"] == "2"


def test_import_is_cheap() -> None:
    code = "import sys, riskscore.registry, riskscore.training.evaluation, riskscore.training.fairness; print('mlflow' in sys.modules, 'fairlearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
