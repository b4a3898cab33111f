"""The bundle scores like the model, round-trips exactly, and refuses missing or corrupt files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.contracts import FEATURES
from riskscore.errors import ModelError
from riskscore.model import additive as model
from riskscore.model.bundle import ModelBundle


@pytest.fixture(scope="module")
def parts() -> tuple[model.AdditiveLGBM, model.Calibrator, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n = 3000
    X = pd.DataFrame({f: rng.poisson(2.0, n).astype(float) for f in FEATURES})
    X.loc[rng.random(n) < 0.1, "unauthorised_hours_12w"] = np.nan
    y = (rng.random(n) < 1 / (1 + np.exp(-(-3 + 0.5 * X["unauthorised_hours_4w"])))).astype(int).to_numpy()
    additive = model.AdditiveLGBM(n_estimators=50, learning_rate=0.1, min_child_samples=30).fit(X.iloc[:2000], y[:2000])
    cal = model.Calibrator().fit(additive.raw_score(X.iloc[2000:]), y[2000:])
    return additive, cal, X


@pytest.fixture(scope="module")
def bundle(parts) -> ModelBundle:
    additive, cal, _ = parts
    return ModelBundle.from_model(additive, cal, version="test-1", band_thresholds={"medium": 0.05, "high": 0.2},
                                  metadata={"seed": 0})


def test_score_matches_model(parts, bundle: ModelBundle) -> None:
    additive, cal, X = parts
    s = bundle.score(X, top_k=3)
    np.testing.assert_allclose(s.raw, additive.raw_score(X), atol=1e-9)
    # contributions on the bundle's scale: times the Platt slope (shares of logit(p)), or as they are (isotonic)
    slope = bundle.calibrator["a"] if bundle.scale == "log_odds" else 1.0
    np.testing.assert_allclose(s.contributions, slope * additive.contributions(X), atol=1e-9)
    np.testing.assert_allclose(s.probability, cal.transform(additive.raw_score(X)), atol=1e-12)
    assert s.top.shape == (len(X), 3)
    expected_band = np.where(s.probability >= 0.2, "high", np.where(s.probability >= 0.05, "medium", "low"))
    np.testing.assert_array_equal(s.band, expected_band)
    signal = np.array([f not in bundle.context_features for f in bundle.features])
    first = s.top[:, 0]
    has = first >= 0
    best_signal = np.where(signal, s.contributions, -np.inf)
    assert np.all(s.contributions[has, first[has]] == best_signal[has].max(axis=1))  # reasons: signals only
    assert np.all(best_signal[~has].max(axis=1) <= 0)
    assert bundle.feature_spec["unauthorised_hours_4w"]["justification"]


def test_extra_columns_ignored(bundle: ModelBundle, parts) -> None:
    _, _, X = parts
    extra = X.head(50).assign(gender="v", school_id="S1")[[*reversed(X.columns), "gender", "school_id"]]
    np.testing.assert_array_equal(bundle.score(extra).raw, bundle.score(X.head(50)).raw)


def test_save_load_round_trip(bundle: ModelBundle, parts, tmp_path: Path) -> None:
    _, _, X = parts
    target = bundle.save(tmp_path / "bundle")
    again = ModelBundle.load(target)
    a, b = bundle.score(X), again.score(X)
    for name in ("raw", "probability", "contributions", "top", "band"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert again.version == "test-1" and again.metadata == {"seed": 0} and again.features == FEATURES
    bundle.save(target)  # overwrite in place stays loadable, no temp dirs left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    reasons = again.reasons(X.iloc[0], b.contributions[0])
    assert all(r.contribution > 0 for r in reasons)


def test_missing_and_corrupt_bundles(bundle: ModelBundle, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model bundle"):
        ModelBundle.load(tmp_path / "nowhere")
    target = bundle.save(tmp_path / "b")
    (target / "tables.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="no model bundle"):
        ModelBundle.load(target)
    target = bundle.save(tmp_path / "c")
    manifest = json.loads((target / "bundle.json").read_text())
    manifest["features"] = manifest["features"][:-1]
    (target / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="inconsistent"):
        ModelBundle.load(target)
    (target / "bundle.json").write_text("{ truncated")
    with pytest.raises(ModelError):
        ModelBundle.load(target)


def test_bad_band_thresholds(parts) -> None:
    additive, cal, _ = parts
    with pytest.raises(ModelError):
        ModelBundle.from_model(additive, cal, version="x", band_thresholds={"medium": 0.3, "high": 0.1})


def test_load_needs_no_lightgbm_or_sklearn(bundle: ModelBundle, tmp_path: Path) -> None:
    target = bundle.save(tmp_path / "bundle")
    code = (
        "import sys\nfrom riskscore.model.bundle import ModelBundle\nimport numpy as np\n"
        f"b = ModelBundle.load({str(target)!r})\n"
        "b.score(np.zeros((2, len(b.features))))\n"
        "bad = [m for m in ('lightgbm', 'sklearn', 'mlflow') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
