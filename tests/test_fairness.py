"""Fairness audit: planted gaps are found, small groups are suppressed (not dropped), gates fire."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskscore.errors import ConfigError, DataError
from riskscore.training import fairness as fa

N = 6000


@pytest.fixture(scope="module")
def cohort() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(42)
    audit = pd.DataFrame({
        "gender": rng.choice(["m", "v"], N),
        "migration_background": rng.choice(["geen", "westers", "niet-westers"], N),
        "ses_band": rng.choice(["laag", "midden", "hoog"], N),
        "level": rng.choice(["vmbo-b", "havo", "mbo-2"], N),
    })
    audit.loc[:29, "gender"] = "x"  # 30 pupils: below the minimum group size
    p = rng.beta(2, 20, N)
    y = (rng.random(N) < p).astype(int)
    return y, p, audit


def _flags(y: np.ndarray, audit: pd.DataFrame, tpr_by_migration: dict[str, float], seed: int = 0) -> np.ndarray:
    """Flag VSV'ers at a planted TPR per migration group; a fixed 5 % of the others."""
    rng = np.random.default_rng(seed)
    tpr = audit["migration_background"].map(tpr_by_migration).to_numpy()
    return np.where(y == 1, rng.random(len(y)) < tpr, rng.random(len(y)) < 0.05)


def test_planted_tpr_gap_is_detected_and_gate_fires(cohort: tuple) -> None:
    y, p, audit = cohort
    flags = _flags(y, audit, {"geen": 0.7, "westers": 0.7, "niet-westers": 0.35})
    report = fa.fairness_audit(y, flags, p, audit, n_boot=50, seed=1)
    t = report.table.set_index(["grouping", "group"])
    assert t.loc[("migration_background", "niet-westers"), "tpr"] == pytest.approx(0.35, abs=0.08)
    assert t.loc[("migration_background", "geen"), "tpr"] == pytest.approx(0.7, abs=0.08)
    assert report.summary["tpr_ratio"] < 0.65
    assert report.summary["worst_grouping"]["tpr_ratio"] == "migration_background"
    violations = fa.check_gates(report, {"tpr_ratio_min": 0.8, "calibration_gap_max": 0.05})
    assert len(violations) == 1 and violations[0].startswith("tpr_ratio_min")


def test_no_gap_passes_gates(cohort: tuple) -> None:
    y, p, audit = cohort
    flags = _flags(y, audit, {"geen": 0.7, "westers": 0.7, "niet-westers": 0.7})
    report = fa.fairness_audit(y, flags, p, audit, n_boot=0, seed=1)
    assert report.summary["tpr_ratio"] > 0.8
    assert fa.check_gates(report, {"tpr_ratio_min": 0.8, "calibration_gap_max": 0.05}) == []


def test_calibration_gap_gate(cohort: tuple) -> None:
    y, p, audit = cohort
    over = np.where(audit["ses_band"] == "laag", np.clip(p + 0.1, 0, 1), p)  # over-predicts one group
    report = fa.fairness_audit(y, y == 1, over, audit, n_boot=0, seed=0)
    gap = report.table.set_index(["grouping", "group"]).loc[("ses_band", "laag"), "calibration_gap"]
    assert gap == pytest.approx(0.1, abs=0.02)
    assert any(v.startswith("calibration_gap_max") for v in fa.check_gates(report, {"calibration_gap_max": 0.05}))


def test_small_groups_suppressed_not_dropped(cohort: tuple) -> None:
    y, p, audit = cohort
    report = fa.fairness_audit(y, p > 0.15, p, audit, min_group_size=50, n_boot=20, seed=0)
    t = report.table
    x = t[(t["grouping"] == "gender") & (t["group"] == "x")].iloc[0]
    assert bool(x["suppressed"]) and x["n"] == 30
    assert np.isnan(x["tpr"]) and np.isnan(x["tpr_ci_low"]) and np.isnan(x["positives"])
    # intersections exist, and those of 'x' are suppressed too
    inter = t[t["grouping"] == "gender&level"]
    assert len(inter) == 9 and inter[inter["group"].str.startswith("x")]["suppressed"].all()
    assert {"gender", "level", "migration_background&ses_band"} <= set(t["grouping"])
    assert report.summary["by_grouping"]["gender"]["groups_suppressed"] == 1


def test_metricframe_values_and_intervals(cohort: tuple) -> None:
    y, p, audit = cohort
    flags = p > 0.12
    report = fa.fairness_audit(y, flags, p, audit, n_boot=60, seed=3)
    row = report.table.set_index(["grouping", "group"]).loc[("level", "havo")]
    m = (audit["level"] == "havo").to_numpy()
    assert row["selection_rate"] == pytest.approx(flags[m].mean())
    assert row["fpr"] == pytest.approx(flags[m & (y == 0)].mean())
    assert row["precision"] == pytest.approx(y[m & flags].mean())
    assert row["calibration_gap"] == pytest.approx(p[m].mean() - y[m].mean())
    for metric in fa.METRICS:
        assert row[f"{metric}_ci_low"] <= row[metric] <= row[f"{metric}_ci_high"]


def test_unmeasurable_quantity_is_a_violation_and_bad_gate_is_config_error(cohort: tuple) -> None:
    y, p, audit = cohort
    report = fa.fairness_audit(y, p > 0.1, p, audit, min_group_size=10_000, n_boot=0, seed=0)
    assert report.table["suppressed"].all()
    assert "could not be measured" in fa.check_gates(report, {"tpr_ratio_min": 0.8})[0]
    with pytest.raises(ConfigError):
        fa.check_gates(report, {"tpr_ratio_at_least": 0.8})
    with pytest.raises(DataError):
        fa.fairness_audit(y[:10], p[:10], p[:10], audit, n_boot=0)


def test_selection_rates_without_labels(cohort: tuple) -> None:
    _, p, audit = cohort
    flags = (p > 0.1) | (audit["ses_band"] == "laag").to_numpy()
    rates = fa.selection_rates(flags, audit, min_group_size=50)
    t = rates.set_index(["grouping", "group"])
    assert t.loc[("ses_band", "laag"), "selection_rate"] == pytest.approx(1.0)
    m = (audit["ses_band"] == "hoog").to_numpy()
    assert t.loc[("ses_band", "hoog"), "selection_rate"] == pytest.approx(flags[m].mean())
    assert bool(t.loc[("gender", "x"), "suppressed"]) and np.isnan(t.loc[("gender", "x"), "selection_rate"])
