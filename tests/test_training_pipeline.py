"""The training pipeline end to end on a small synthetic cohort: steps, audit table kept apart,
mitigation that only weights rows, the three-valued fairness gate, and promote's refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore import datasets, synthetic
from riskscore.errors import ConfigError, GateError
from riskscore.training import mitigation, pipeline, steps
from riskscore.training.config import parse_config

SMALL = {"model": {"n_estimators": 30, "learning_rate": 0.2, "min_child_samples": 30},
         "evaluation": {"n_boot": 30}, "fairness": {"n_boot": 40, "min_positives": 10},
         "mitigation": {"strengths": [1.0]}}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cohort") / "data"
    datasets.write_tables(synthetic.generate(1500, 4, 11, first_year="2020-21"), d)
    return d


def _cfg(data_dir: Path, **over: object) -> object:
    raw = {"seed": 3, "data": {"dir": str(data_dir)}, **SMALL, **over}
    return parse_config(raw)


@pytest.fixture(scope="module")
def trained(data_dir: Path) -> pipeline.Trained:
    return pipeline.train(_cfg(data_dir))


def test_steps_produce_folds_features_and_a_separate_audit_frame(trained: pipeline.Trained) -> None:
    prep = trained.prep
    assert prep.kind == "raw" and prep.audit_source.endswith("audit.parquet")
    assert {"gender", "migration_background", "ses_band", "level"} <= set(prep.audit.columns)
    assert not {"gender", "migration_background", "ses_band"} & set(prep.X.columns)  # never in the feature table
    assert (prep.audit.index == prep.X.index).all()
    assert all(n > 0 for n in prep.rows.values())
    years = {name: set(prep.X.loc[ix, "as_of"].dt.year) for name, ix in prep.idx.items()}
    assert max(years["train"]) <= min(years["test"])  # temporal


def test_the_served_model_never_sees_an_audit_attribute(trained: pipeline.Trained) -> None:
    from riskscore.model.guard import is_protected

    names = list(trained.additive.feature_names_in_)
    assert not any(is_protected(n) for n in names)
    X_te, _ = trained.prep.part("test")
    scrambled = X_te.assign(gender="x", migration_background="non_western", ses_band="low")
    np.testing.assert_array_equal(trained.additive.raw_score(X_te), trained.additive.raw_score(scrambled))


def test_front_and_gates_are_reported(trained: pipeline.Trained) -> None:
    front = trained.mitigated.front
    assert list(front["strength"]) == [0.0, 1.0][: len(front)] and front["chosen"].sum() == 1
    assert set(front["gate"]) <= {"pass", "fail", "inconclusive", "unmeasured"}
    g = trained.gates
    assert g["fairness_verdict"] in ("pass", "fail", "inconclusive", "unmeasured")
    assert g["passed"] == (g["beats_baselines"] and g["fairness_verdict"] == "pass")
    t = trained.verdict.table
    assert set(t["grouping"]) == {"gender", "migration_background", "ses_band"}
    judged = t[t["verdict"] != "too_small"]
    assert (judged["ci_low"] <= judged["estimate"] + 1e-12).all() and (judged["estimate"] <= judged["ci_high"] + 1e-12).all()


def test_training_weights_touch_only_positive_rows() -> None:
    y = np.array([1, 1, 0, 0, 1, 0])
    audit = pd.DataFrame({"g": ["a", "b", "a", "b", "b", "a"]})
    w = mitigation.training_weights(y, audit, {"g": {"b": 2.0}}, strength=1.0)
    assert w[0] == pytest.approx(w[2]) == pytest.approx(w[3]) == pytest.approx(w[5])  # a's VSV'er and the rest
    assert w[1] == pytest.approx(2 * w[0]) and w[4] == pytest.approx(2 * w[0])
    assert w.mean() == pytest.approx(1.0)
    assert (mitigation.training_weights(y, audit, {"g": {"b": 2.0}}, strength=0.0) == 1).all()
    assert (mitigation.training_weights(y, None, {"g": {"b": 2.0}}, strength=1.0) == 1).all()


def test_without_the_audit_table_fairness_is_unmeasured(data_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(data_dir, bare)
    (bare / "audit.parquet").unlink()
    cfg = _cfg(bare, mitigation={"method": "none"})
    prep = steps.prepare(cfg)
    assert prep.audit_source == "" and list(prep.audit.columns) == ["level"]
    model = steps.fit_additive(cfg, prep)
    X_te, _ = prep.part("test")
    raw = model.raw_score(X_te)
    _, k = steps.capacity(cfg, prep, "test")
    _, verdict = steps.fairness_on(cfg, prep, "test", raw, 1 / (1 + np.exp(-raw)), k)
    assert verdict.status == "unmeasured"
    assert {"gender", "migration_background", "ses_band"} == {g for g, s in verdict.by_grouping.items() if s == "unmeasured"}


@pytest.mark.slow
def test_cli_train_registers_the_verdict_and_promote_obeys_it(data_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump({"version": 1, "seed": 3, "data": {"dir": str(data_dir)}, **SMALL}))
    env = {**os.environ, "RISKSCORE_HOME": str(home), "PYTHONPATH": "src"}
    run = subprocess.run([sys.executable, "-m", "riskscore.cli", "train", "--config", str(cfg_path)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Fairness gate:" in run.stdout and "tpr_ratio_min" in run.stdout
    # the bundle's monitoring reference: no pupil key, no audit column, no count under 10
    bundle = home / "models" / "v1" / "bundle"
    rows = pd.read_parquet(bundle / pipeline.REFERENCE_FILE)
    groups = pd.read_parquet(bundle / pipeline.REFERENCE_GROUPS_FILE)
    audit = pd.read_parquet(data_dir / "audit.parquet")
    for frame in (rows, groups):
        assert not ({"student_id", *audit.columns} & set(frame.columns))
    assert {"probability", "band", "level", "school_id"} <= set(rows.columns)
    assert set(groups["column"]) == set(audit.columns) - {"student_id", "school_year"}
    assert (groups.loc[~groups["suppressed"], "n"] >= 10).all() and groups["n"].isna().equals(groups["suppressed"])
    verdict = run.stdout.split("Fairness gate: ")[1].split()[0]
    promote = subprocess.run([sys.executable, "-m", "riskscore.cli", "promote"], capture_output=True, text=True,
                             env=env, timeout=300)
    if verdict == "pass":
        assert promote.returncode == 0 or "baselines" in promote.stderr
    else:
        assert promote.returncode != 0 and "Traceback" not in promote.stderr
        assert ("--review" in promote.stderr) == (verdict in ("inconclusive", "unmeasured"))
        assert ("cannot be overridden" in promote.stderr) == (verdict == "fail")


def _fake_version(tmp_path: Path, tags: dict[str, str]) -> str:
    from riskscore import registry
    from riskscore.testing import tiny_bundle

    bundle = tiny_bundle(tmp_path / f"b{len(list(tmp_path.iterdir()))}")
    info = registry.log_training_run(experiment="t", params={}, metrics={}, config={}, data_fingerprint="f",
                                     artifacts={}, bundle_dir=bundle, tags=tags)
    return info.model_version


def test_promote_refuses_fail_and_records_a_review_for_inconclusive(tmp_path: Path) -> None:
    import mlflow

    from riskscore import registry

    registry.configure(f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts"))
    work = tmp_path / "bundles"
    work.mkdir()
    v_fail = _fake_version(work, {"gates_passed": "false", "beats_baselines": "true", "fairness_verdict": "fail",
                                  "fairness_violations": "tpr_ratio_min gender=x → fail"})
    with pytest.raises(GateError, match="cannot be overridden"):
        registry.promote(v_fail)
    with pytest.raises(GateError, match="cannot be overridden"):
        registry.promote(v_fail, forced=True, reason="please")
    v_inc = _fake_version(work, {"gates_passed": "false", "beats_baselines": "true", "fairness_verdict": "inconclusive",
                                 "fairness_violations": "tpr_ratio_min ses_band=low → inconclusive"})
    with pytest.raises(GateError, match="--review"):
        registry.promote(v_inc)
    with pytest.raises(ConfigError):
        registry.promote(v_inc, review="   ")
    result = registry.promote(v_inc, review="care-team lead and privacy officer read the card, 30 Nov")
    assert result.fairness_verdict == "inconclusive" and "privacy officer" in str(result)
    mv = mlflow.MlflowClient().get_model_version("riskscore-vsv", v_inc)
    assert mv.tags["fairness_review"].startswith("care-team lead")
    v_pass = _fake_version(work, {"gates_passed": "true", "beats_baselines": "true", "fairness_verdict": "pass"})
    with pytest.raises(ConfigError, match="--review is for"):
        registry.promote(v_pass, review="not needed")
    assert registry.promote(v_pass).previous_champion == v_inc
    v_base = _fake_version(work, {"gates_passed": "false", "beats_baselines": "false", "fairness_verdict": "pass"})
    with pytest.raises(GateError, match="baselines"):
        registry.promote(v_base)
    assert registry.promote(v_base, forced=True, reason="pilot without a baseline").forced


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from(["a", "b", "c"])), min_size=2, max_size=60),
       st.floats(0.1, 3.0), st.floats(0.0, 4.0))
def test_training_weights_property(rows: list, mult: float, strength: float) -> None:
    y = np.array([r[0] for r in rows])
    audit = pd.DataFrame({"g": [r[1] for r in rows]})
    w = mitigation.training_weights(y, audit, {"g": {"b": mult}}, strength)
    assert len(w) == len(y) and np.all(np.isfinite(w)) and (w > 0).all() and w.mean() == pytest.approx(1.0)
    others = w[(y == 0) | (audit["g"].to_numpy() != "b")]
    assert np.allclose(others, others[0]) if len(others) else True  # only group b's VSV'ers move


def test_cli_review_is_recorded_in_registry_and_audit_log(tmp_path: Path) -> None:
    import sqlite3

    from riskscore import registry

    home = tmp_path / "home"
    home.mkdir()
    registry.configure(f"sqlite:///{(home / 'mlflow.db').resolve()}", str(home / "mlartifacts"))
    _fake_version(home, {"gates_passed": "false", "beats_baselines": "true", "fairness_verdict": "inconclusive",
                         "fairness_violations": "tpr_ratio_min gender=v → inconclusive"})
    env = {**os.environ, "RISKSCORE_HOME": str(home), "PYTHONPATH": "src"}
    cli = [sys.executable, "-m", "riskscore.cli", "promote"]
    refused = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == GateError.exit_code and "--review" in refused.stderr and "Traceback" not in refused.stderr
    ok = subprocess.run([*cli, "--review", "privacy officer and care-team lead, 30 Nov"], capture_output=True,
                        text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    rows = sqlite3.connect(home / "riskscore.db").execute("select action, resource, purpose from audit_log").fetchall()
    assert rows == [("model.promote", "model:riskscore-vsv/1",
                     "fairness inconclusive, review: privacy officer and care-team lead, 30 Nov")]
