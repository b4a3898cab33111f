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

from riskscore import monitoring_report
from riskscore.errors import ConfigError, DataError, StorageFullError
from riskscore.monitoring import attach_outcomes, run_monitoring, selection_rate_changes
from riskscore.monitoring_config import MonitoringConfig, load_config
from riskscore.monitoring_stats import diff_ci, psi, two_proportion_test, wilson_ci

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
    assert cfg.flag.bands == ["high"]
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
    assert monitoring_report.latest_status(tmp_path)["status"] == "unknown"
    v = run_monitoring(_scored(1), _scored(2, shift=0.6), config=cfg)
    paths = monitoring_report.write_reports(v, tmp_path)
    html = paths["report"].read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "check the data feed" in html
    assert paths["evidently"].exists()
    assert json.loads(paths["summary"].read_text())["status"] == "alert"
    status = monitoring_report.latest_status(tmp_path)
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
    assert monitoring_report.latest_status(tmp_path)["status"] == "unknown"


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
    common = ["--config", str(conf), "--reference", str(tmp_path / "ref.parquet"), "--out", str(tmp_path / "r")]
    assert _cli(monkeypatch, *common, "--current", str(tmp_path / "same.csv")) == 0
    assert "status: OK" in capsys.readouterr().out
    assert _cli(monkeypatch, *common, "--current", str(tmp_path / "shifted.parquet")) == 10
    out = capsys.readouterr().out
    assert "check the data feed for feature unauthorised_hours_4w" in out and "report:" in out
    assert _cli(monkeypatch, *common, "--current", str(tmp_path / "missing.parquet")) == 3
