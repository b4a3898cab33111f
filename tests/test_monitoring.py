"""monitoring.py and its report/CLI: statistics, config validation, fairness without labels, outcomes,
atomic reports and the exit code."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.errors import ConfigError, DataError, StorageFullError
from riskscore.monitoring import report as monitoring_report
from riskscore.monitoring import status as monitoring_status
from riskscore.monitoring.checks import attach_outcomes, run_monitoring, selection_rate_changes
from riskscore.monitoring.config import MonitoringConfig, load_config
from riskscore.monitoring.stats import diff_ci, psi, two_proportion_test, wilson_ci

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "monitoring" / "config.yaml"


# --- statistics --------------------------------------------------------------------------------------
def test_psi_zero_for_same_sample_and_large_for_shift() -> None:
    rng = np.random.default_rng(0)
    a = rng.beta(1, 20, 5000)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert psi(a, rng.beta(1, 20, 5000)) < 0.02
    assert psi(a, rng.beta(2, 20, 5000)) > 0.2


def test_wilson_and_newcombe_known_values() -> None:
    lo, hi = wilson_ci(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = wilson_ci(50, 100)
    assert (lo, hi) == pytest.approx((0.4038, 0.5962), abs=1e-3)
    lo, hi = diff_ci(10, 100, 30, 100)  # 0.10 → 0.30
    assert lo < 0.2 < hi and lo > 0.08
    assert two_proportion_test(10, 100, 30, 100) < 0.001
    assert two_proportion_test(10, 100, 11, 100) > 0.5


# --- config ------------------------------------------------------------------------------------------
def test_checked_in_config_is_valid() -> None:
    cfg = load_config(CONFIG)
    assert cfg.flag.bands == ["medium", "high"]  # see the reason in config.yaml
    assert cfg.reference is None and cfg.current is None and cfg.output_dir is None  # the pipeline defaults
    assert {"gender", "migration_background", "ses_band", "level"} <= set(cfg.fairness.groups)
    assert cfg.score_drift.psi_warn <= cfg.score_drift.psi_alert


@pytest.mark.parametrize("text, field", [
    ("score_drift: {psi_alert: -1}", "score_drift.psi_alert"),
    ("fairness: {min_ratio_change: 0.5}", "fairness.min_ratio_change"),
    ("surprise: 1", "surprise"),
    ("score_drift: {psi_warn: 0.3, psi_alert: 0.2}", "psi_warn"),
    ("flag: {bands: [urgent]}", "flag.bands"),
    ("- a list", "mapping"),
    ("a: [unclosed", "config"),
])
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and field in message and str(path) in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


# --- fairness without labels ---------------------------------------------------------------------------
def _flags(rates: dict[str, float], n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = np.repeat(list(rates), n)
    p = np.repeat(list(rates.values()), n)
    return pd.DataFrame({"g": groups, "flagged": rng.random(len(p)) < p})


def _changes(ref: pd.DataFrame, cur: pd.DataFrame, **kw):  # type: ignore[no-untyped-def]
    args = {"min_group_size": 100, "alpha": 0.01, "min_ratio_change": 1.25, "min_abs_change": 0.02} | kw
    return selection_rate_changes(ref, cur, ["g"], **args).set_index("group")


def test_one_group_rising_alerts_for_that_group_only() -> None:
    ref = _flags({"a": 0.05, "b": 0.05, "c": 0.05}, 3000, 1)
    cur = _flags({"a": 0.10, "b": 0.05, "c": 0.05}, 3000, 2)
    t = _changes(ref, cur)
    assert t["alert"].tolist() == [True, False, False]
    assert t.loc["a", "relative_to_rest"] > 1.5 and t.loc["a", "change_lo"] > 0


def test_uniform_surge_is_not_a_fairness_alert() -> None:
    ref = _flags({"a": 0.05, "b": 0.05, "c": 0.05}, 3000, 1)
    cur = _flags({"a": 0.10, "b": 0.10, "c": 0.10}, 3000, 2)
    t = _changes(ref, cur)
    assert not t["alert"].any()
    assert (t["ratio"] > 1.5).all()  # every group did change — that is drift, caught elsewhere


def test_small_groups_are_reported_but_not_tested() -> None:
    ref = _flags({"a": 0.05, "tiny": 0.05}, 3000, 1).iloc[: 3000 + 50]
    cur = _flags({"a": 0.05, "tiny": 0.60}, 3000, 2).iloc[: 3000 + 50]
    t = _changes(ref, cur)
    assert not t.loc["tiny", "tested"] and not t.loc["tiny", "alert"]
    assert t.loc["tiny", "n_cur"] == 50


# --- run_monitoring -------------------------------------------------------------------------------------
def _scored(seed: int, n: int = 2000, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.gamma(1.0, 2.0, n) * (1 + shift)
    p = 1 / (1 + np.exp(-(-3.5 + 0.35 * x)))
    return pd.DataFrame({
        "student_id": [f"s{seed}-{i}" for i in range(n)], "as_of": pd.Timestamp("2024-10-01"),
        "unauthorised_hours_4w": x, "probability": p,
        "band": np.where(p >= 0.15, "high", np.where(p >= 0.05, "medium", "low")),
        "gender": rng.choice(["f", "m"], n), "school_id": rng.choice(["A", "B"], n),
    })


@pytest.fixture(scope="module")
def cfg() -> MonitoringConfig:
    c = load_config(CONFIG)
    c.feature_drift.columns = ["unauthorised_hours_4w"]
    return c


def test_no_change_is_ok_and_summary_is_json(cfg: MonitoringConfig) -> None:
    v = run_monitoring(_scored(1), _scored(2), config=cfg)
    assert v.status == "ok", v.breaches
    assert json.loads(json.dumps(v.to_dict(), allow_nan=False))["status"] == "ok"
    assert v.summary["feature_drift"]["columns"][0]["column"] == "unauthorised_hours_4w"


def test_shift_alerts_with_actions(cfg: MonitoringConfig) -> None:
    v = run_monitoring(_scored(1), _scored(2, shift=1.0), config=cfg)
    assert v.status == "alert"
    assert v.summary["score_drift"]["psi"] >= cfg.score_drift.psi_alert
    checks = {b.check for b in v.alerts}
    assert {"feature_drift", "score_drift"} <= checks
    fd = next(b for b in v.alerts if b.check == "feature_drift" and b.subject == "unauthorised_hours_4w")
    assert "check the data feed for feature unauthorised_hours_4w" in fd.action
    assert any("retrain" in b.action for b in v.alerts)


def test_missing_feature_in_current_is_a_data_feed_alert(cfg: MonitoringConfig) -> None:
    v = run_monitoring(_scored(1), _scored(2).drop(columns=["unauthorised_hours_4w"]), config=cfg)
    assert any(b.subject == "unauthorised_hours_4w" and "data feed" in b.action for b in v.alerts)


def test_bad_frames_raise_data_error(cfg: MonitoringConfig) -> None:
    with pytest.raises(DataError, match="probability"):
        run_monitoring(_scored(1), _scored(2).drop(columns=["probability"]), config=cfg)
    with pytest.raises(DataError, match="band"):
        run_monitoring(_scored(1), _scored(2).assign(band="urgent"), config=cfg)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        run_monitoring(_scored(1), _scored(2).assign(probability=1.5), config=cfg)


def test_attach_outcomes_uses_the_horizon() -> None:
    frame = pd.DataFrame({"student_id": ["a", "b", "c", "d"], "as_of": pd.Timestamp("2024-01-01")})
    outcomes = pd.DataFrame({"student_id": ["a", "b", "c"],
                             "vsv_date": pd.to_datetime(["2024-06-01", "2025-03-01", "2023-12-01"])})
    assert attach_outcomes(frame, outcomes)["label"].tolist() == [True, False, False, False]


def test_outcomes_precision_recall_and_group_gap(cfg: MonitoringConfig) -> None:
    cur = _scored(2, n=4000)
    rng = np.random.default_rng(5)
    # labels follow the score for f; for m the model is blind (labels independent of the flags)
    p_true = np.where(cur["gender"] == "f", cur["probability"], cur["probability"].mean())
    cur["label"] = rng.random(len(cur)) < p_true
    outcomes = cur[["student_id", "label"]]
    v = run_monitoring(_scored(1, n=4000), cur.drop(columns=["label"]), config=cfg, outcomes=outcomes)
    o = v.summary["outcomes"]
    assert o["precision_lo"] <= o["precision"] <= o["precision_hi"]
    by = v.tables["outcomes_by_group"].set_index("group")
    assert by.loc["f", "tpr"] > by.loc["m", "tpr"]
    assert any(b.check == "fairness" and b.subject == "gender=m" for b in v.alerts)


def test_review_precision_alert(cfg: MonitoringConfig) -> None:
    reviews = pd.DataFrame({"worth_conversation": [True] * 5 + [False] * 95})
    v = run_monitoring(_scored(1), _scored(2), config=cfg, reviews=reviews)
    assert [b.check for b in v.alerts] == ["review"]


# --- reports --------------------------------------------------------------------------------------------
def test_reports_and_latest_status(cfg: MonitoringConfig, tmp_path: Path) -> None:
    assert monitoring_status.latest_status(tmp_path)["status"] == "unknown"
    v = run_monitoring(_scored(1), _scored(2, shift=0.6), config=cfg)
    paths = monitoring_report.write_reports(v, tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "check the data feed" in html
    assert paths["evidently"].exists()
    assert json.loads(paths["summary"].read_text())["status"] == "alert"
    status = monitoring_status.latest_status(tmp_path)
    assert status["status"] == "alert" and status["n_breaches"] == len(v.breaches)
    assert status["report"] == str(paths["report"])
    assert monitoring_report.headline_metrics(v)["n_alerts"] == len(v.alerts)


def test_full_disk_leaves_nothing(cfg: MonitoringConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v = run_monitoring(_scored(1), _scored(2), config=cfg)
    v.drift = None  # keep it quick: the failure is in our own write

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(monitoring_report, "_write_text", full)
    with pytest.raises(StorageFullError):
        monitoring_report.write_reports(v, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert monitoring_status.latest_status(tmp_path)["status"] == "unknown"


# --- CLI ------------------------------------------------------------------------------------------------
def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from riskscore import cli

    monkeypatch.setattr(sys, "argv", ["riskscore", "monitor", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
        raise SystemExit(0)
    return int(info.value.code or 0)


def test_cli_bad_config_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("fairness: {alpha: 2}")
    assert _cli(monkeypatch, "--config", str(bad)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "fairness.alpha" in err


def test_cli_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    conf = tmp_path / "config.yaml"
    conf.write_text("feature_drift: {columns: [unauthorised_hours_4w]}\n")
    _scored(1).to_parquet(tmp_path / "ref.parquet")
    _scored(2).to_csv(tmp_path / "same.csv", index=False)
    _scored(2, shift=0.6).to_parquet(tmp_path / "shifted.parquet")
    common = ["--config", str(conf), "--reference", str(tmp_path / "ref.parquet"), "--out", str(tmp_path / "r"), "--no-reviews"]
    assert _cli(monkeypatch, *common, "--current", str(tmp_path / "same.csv")) == 0
    assert "status: OK" in capsys.readouterr().out
    assert _cli(monkeypatch, *common, "--current", str(tmp_path / "shifted.parquet")) == 10
    out = capsys.readouterr().out
    assert "check the data feed for feature unauthorised_hours_4w" in out and "report:" in out
    assert _cli(monkeypatch, *common, "--current", str(tmp_path / "missing.parquet")) == 3


# --- the real pipeline: champion reference, latest scoring run, outcomes, review outcomes ----------------
def _pipeline_env(monkeypatch: pytest.MonkeyPatch, home: Path, bundle_dir: Path | None) -> None:
    from riskscore.settings import get_settings

    monkeypatch.setenv("RISKSCORE_HOME", str(home))
    monkeypatch.delenv("RISKSCORE_REPORTS_DIR", raising=False)
    monkeypatch.delenv("RISKSCORE_DATABASE_URL", raising=False)
    monkeypatch.setenv("RISKSCORE_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    if bundle_dir is None:
        monkeypatch.delenv("RISKSCORE_BUNDLE_PATH", raising=False)
    else:
        monkeypatch.setenv("RISKSCORE_BUNDLE_PATH", str(bundle_dir))
    get_settings.cache_clear()


@pytest.fixture()
def world_frames(small_world):  # type: ignore[no-untyped-def]
    """The whole scored frame behind the champion's reference (with student_id and the audit columns, as a
    scoring run keeps it; the bundle holds only its anonymous rows and group counts), and scored frames of
    the same model for other as-of dates."""
    from riskscore.model.bundle import ModelBundle
    from riskscore.training import pipeline as training

    bundle = ModelBundle.load(small_world.bundle_dir)
    table = small_world.features

    def scored(as_of: str) -> pd.DataFrame:
        rows = table[table["as_of"] == pd.Timestamp(as_of)]
        return training.reference_snapshot(bundle, rows, training.audit_frame(rows, small_world.tables["students"], small_world.tables.get("audit")))

    return scored(small_world.score_as_of), scored


def _fake_batch(monkeypatch: pytest.MonkeyPatch, frame: pd.DataFrame | None, run_id: int = 3) -> None:
    from riskscore import batch

    def latest(settings):  # type: ignore[no-untyped-def]
        if frame is None:
            return None
        out = frame.copy()
        out.attrs[batch.RUN_META_KEY] = {"run_id": run_id}
        return out

    monkeypatch.setattr(batch, "latest_scored_frame", latest)


def test_defaults_use_champion_reference_and_latest_run(monkeypatch, tmp_path, small_world, world_frames, capsys) -> None:  # type: ignore[no-untyped-def]
    reference, _ = world_frames
    _pipeline_env(monkeypatch, tmp_path, small_world.bundle_dir)
    _fake_batch(monkeypatch, reference.assign(as_of=pd.Timestamp("2025-05-01")))
    assert _cli(monkeypatch, "--config", str(CONFIG), "--no-reviews") == 0
    out = capsys.readouterr().out
    assert "status: OK" in out and "[RISKSCORE_BUNDLE_PATH (small-1)]" in out and "run-3.parquet" in out
    status = monitoring_status.latest_status(tmp_path / "reports" / "monitoring")  # settings.resolved_reports_dir()
    assert status["status"] == "ok" and status["model_version"] == "small-1" and status["as_of"] == "2025-05-01"
    assert f"report:  {status['report']}" in out
    summary = json.loads(Path(status["summary"]).read_text())
    assert "reference.parquet" in summary["sources"]["reference"]
    assert summary["sources"]["reference_groups"].endswith("reference_groups.parquet")
    assert any("outcomes" in n for n in summary["notes"]) is False  # no outcomes table in this home
    # the audit groups were compared through the bundle's group counts (its rows have no audit column)
    charts = json.loads((Path(status["summary"]).parent / monitoring_status.CHARTS).read_text())
    compared = {r["column"] for r in charts["selection"] if r["n_ref"]}
    assert {"gender", "migration_background", "ses_band", "level"} <= compared
    assert summary["fairness"]["not_in_reference"] == []


def test_breach_exits_10_with_a_todo_list(monkeypatch, tmp_path, small_world, world_frames, capsys) -> None:  # type: ignore[no-untyped-def]
    reference, _ = world_frames
    _pipeline_env(monkeypatch, tmp_path, small_world.bundle_dir)
    shifted = reference.copy()
    for col in ("unauthorised_hours_4w", "unauthorised_hours_12w", "unauthorised_hours_year"):
        shifted[col] = shifted[col] * 3 + 4
    shifted["probability"] = (shifted["probability"] * 3).clip(upper=1)
    shifted["band"] = np.where(shifted["probability"] >= 0.15, "high", np.where(shifted["probability"] >= 0.05, "medium", "low"))
    _fake_batch(monkeypatch, shifted)
    assert _cli(monkeypatch, "--config", str(CONFIG), "--no-reviews") == 10
    captured = capsys.readouterr()
    assert "what to do / wat te doen:" in captured.out
    assert "Check the data feed: unauthorised_hours_4w" in captured.out and "Controleer de gegevensaanlevering" in captured.out
    assert "Retrain on recent data" in captured.out and "Hertrain" in captured.out
    assert captured.err.strip().count("\n") == 0 and "alert(s)" in captured.err
    status = monitoring_status.latest_status(tmp_path / "reports" / "monitoring")
    assert status["status"] == "alert" and [a["kind"] for a in status["actions"]][:1] == ["check_data_feed"]
    html = Path(status["report"]).read_text(encoding="utf-8")
    assert "Wat te doen" in html and "Hertrain" in html


def test_no_scoring_run_and_no_champion_are_one_line_errors(monkeypatch, tmp_path, small_world, capsys) -> None:  # type: ignore[no-untyped-def]
    _pipeline_env(monkeypatch, tmp_path, small_world.bundle_dir)
    _fake_batch(monkeypatch, None)
    assert _cli(monkeypatch, "--config", str(CONFIG)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no complete scoring run" in err and "riskscore score --as-of" in err
    bare = tmp_path / "bare-bundle"
    bare.mkdir()
    _pipeline_env(monkeypatch, tmp_path, bare)
    assert _cli(monkeypatch, "--config", str(CONFIG)) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no reference.parquet" in err


def test_no_champion_in_registry_is_one_line(monkeypatch, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    _pipeline_env(monkeypatch, tmp_path, None)
    assert _cli(monkeypatch, "--config", str(CONFIG)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no model behind 'riskscore-vsv@champion'" in err


def test_a_bundle_without_group_counts_is_a_one_line_note(monkeypatch, tmp_path, small_world, world_frames, capsys) -> None:  # type: ignore[no-untyped-def]
    import shutil

    reference, _ = world_frames
    old = Path(shutil.copytree(small_world.bundle_dir, tmp_path / "old-bundle"))
    (old / "reference_groups.parquet").unlink()
    _pipeline_env(monkeypatch, tmp_path, old)
    _fake_batch(monkeypatch, reference)
    assert _cli(monkeypatch, "--config", str(CONFIG), "--no-reviews") == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.out.splitlines() if "not compared" in line]
    assert len(notes) == 1 and "gender, migration_background, ses_band" in notes[0]
    assert "no reference_groups.parquet" in notes[0] and "retrain" in notes[0]
    assert "Traceback" not in captured.err
    summary = json.loads(Path(monitoring_status.latest_status(tmp_path / "reports" / "monitoring")["summary"]).read_text())
    assert summary["fairness"]["not_in_reference"] == ["gender", "migration_background", "ses_band"]
    assert summary["fairness"]["tested_groups"] > 0  # level is still compared, from the rows


def test_a_given_row_level_reference_with_audit_columns_still_works(monkeypatch, tmp_path, small_world, world_frames, capsys) -> None:  # type: ignore[no-untyped-def]
    reference, _ = world_frames
    given = tmp_path / "mine" / "reference.parquet"
    given.parent.mkdir()
    reference.to_parquet(given, index=False)  # student_id and audit columns per row, no group counts beside it
    _pipeline_env(monkeypatch, tmp_path, None)
    _fake_batch(monkeypatch, reference)
    assert _cli(monkeypatch, "--config", str(CONFIG), "--no-reviews", "--reference", str(given)) == 0
    out = capsys.readouterr().out
    assert "status: OK" in out and "not compared" not in out
    status = monitoring_status.latest_status(tmp_path / "reports" / "monitoring")
    summary = json.loads(Path(status["summary"]).read_text())
    assert "reference_groups" not in summary["sources"] and summary["fairness"]["not_in_reference"] == []
    charts = json.loads((Path(status["summary"]).parent / monitoring_status.CHARTS).read_text())
    by_group = {(r["column"], r["group"]): r for r in charts["selection"]}
    counts = reference["gender"].astype(str).value_counts()
    assert {g: by_group[("gender", g)]["n_ref"] for g in counts.index} == counts.to_dict()


def test_outcomes_only_once_mature_and_reviews_from_the_store(monkeypatch, tmp_path, small_world, world_frames, capsys) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from riskscore.store.cases import open_or_update_case, record_outcome
    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.store.outcomes_read import review_outcomes

    reference, scored = world_frames
    _pipeline_env(monkeypatch, tmp_path, small_world.bundle_dir)
    (tmp_path / "data").mkdir()
    small_world.tables["outcomes"].to_parquet(tmp_path / "data" / "outcomes.parquet")
    url = f"sqlite:///{tmp_path / 'riskscore.db'}"
    migrate(url)
    engine = make_engine(url)
    flagged = reference[reference["band"] != "low"].head(120)
    with session_factory(engine)() as session:
        for i, row in enumerate(flagged.itertuples()):
            case, _ = open_or_update_case(session, student_id=row.student_id, role="school", reason="capacity",
                                          as_of=dt.date(2024, 5, 1), school_id=row.school_id, band=row.band)
            record_outcome(session, case.id, outcome="talked", worth_conversation=i % 10 == 0, recorded_by="t")
        frame = review_outcomes(session)
    engine.dispose()
    assert len(frame) == 120 and set(frame["reason_kind"]) == {"model"} and frame["worth_conversation"].sum() == 12

    # current as of 1 May 2024: its label window ends after the outcomes' last date → outcomes not used
    _fake_batch(monkeypatch, reference)
    code = _cli(monkeypatch, "--config", str(CONFIG))
    out = capsys.readouterr().out
    assert "note: outcomes: not used yet" in out
    assert "120 reviewed, 10% worth a conversation" in out
    assert code == 10  # 10 % worth a conversation is below the 30 % floor
    status = monitoring_status.latest_status(tmp_path / "reports" / "monitoring")
    assert any(b["check"] == "review" for b in status["breaches"])
    summary = json.loads(Path(status["summary"]).read_text())
    assert summary["reviews"]["n"] == 120 and "store" in summary["sources"]["reviews"]

    # current as of 1 May 2023 (a real scored frame): a full year of outcomes exists → labels attached
    _fake_batch(monkeypatch, scored("2023-05-01"))
    _cli(monkeypatch, "--config", str(CONFIG), "--no-reviews")
    out = capsys.readouterr().out
    assert "with outcomes" in out and "precision" in out
    summary = json.loads(Path(monitoring_status.latest_status(tmp_path / "reports" / "monitoring")["summary"]).read_text())
    assert summary["outcomes"]["n"] > 1000 and summary["sources"]["outcomes"].endswith("outcomes.parquet")


def test_cli_full_disk_is_one_line_and_leaves_nothing(monkeypatch, tmp_path, small_world, world_frames, capsys) -> None:  # type: ignore[no-untyped-def]
    reference, _ = world_frames
    _pipeline_env(monkeypatch, tmp_path, small_world.bundle_dir)
    _fake_batch(monkeypatch, reference)

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(monitoring_report, "_write_text", full)
    assert _cli(monkeypatch, "--config", str(CONFIG), "--no-reviews") == 9
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "No space left on device" in err
    reports = tmp_path / "reports" / "monitoring"
    assert list(reports.iterdir()) == []
    assert monitoring_status.latest_status(reports)["status"] == "unknown"


def test_recommendations_fold_alerts_into_a_todo_list() -> None:
    from riskscore.monitoring.checks import Breach, recommendations

    todo = recommendations([
        Breach("score_drift", "probability", "alert", "m", "a"),
        Breach("fairness", "gender=v", "alert", "m", "a"),
        Breach("feature_drift", "sick_days_year", "alert", "m", "a"),
        Breach("feature_drift", "dataset", "alert", "m", "a"),
        Breach("score_drift", "probability", "warn", "m", "a"),
    ])
    assert [t["kind"] for t in todo] == ["check_data_feed", "investigate_group", "retrain"]
    assert todo[0]["subjects"] == ["sick_days_year"] and "gender=v" in todo[1]["text_nl"]
    assert todo[2]["subjects"] == ["score drift", "feature drift"]
