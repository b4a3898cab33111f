"""Fairness audit: planted gaps are found, small groups are suppressed (not dropped), gates fire."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.errors import ConfigError, DataError
from riskscore.training import fairness as fa
from riskscore.training import gates

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


GATES = {"tpr_ratio_min": 0.8, "calibration_gap_max": 0.05}
GROUPINGS = ["gender", "migration_background", "ses_band"]


def _audit(y: np.ndarray, flags: np.ndarray, p: np.ndarray, audit: pd.DataFrame, **kw: object) -> fa.FairnessReport:
    kw.setdefault("intersections", False)
    return fa.fairness_audit(y, flags, p, audit, columns=[*GROUPINGS, "level"], gate_groupings=GROUPINGS, **kw)  # type: ignore[arg-type]


def test_planted_tpr_gap_fails_with_the_interval_of_the_ratio(cohort: tuple) -> None:
    y, p, audit = cohort
    flags = _flags(y, audit, {"geen": 0.7, "westers": 0.7, "niet-westers": 0.35})
    report = _audit(y, flags, p, audit, n_boot=100, seed=1, reference={"migration_background": "geen"})
    t = report.table.set_index(["grouping", "group"])
    assert t.loc[("migration_background", "niet-westers"), "tpr"] == pytest.approx(0.35, abs=0.08)
    c = report.comparisons.set_index(["grouping", "group", "metric"]).loc[("migration_background", "niet-westers", "tpr")]
    assert c["reference"] == "geen" and c["estimate"] == pytest.approx(0.5, abs=0.12)
    assert c["ci_low"] < c["estimate"] < c["ci_high"] < 0.8  # the interval of the ratio itself
    verdict = gates.judge(report, GATES)
    assert verdict.status == "fail" and verdict.by_grouping["migration_background"] == "fail"
    assert verdict.by_grouping["gender"] != "fail" and any("niet-westers" in ln and "→ fail" in ln for ln in verdict.lines)


def test_no_gap_passes_and_overlapping_intervals_do_not_decide_a_fail(cohort: tuple) -> None:
    y, p, audit = cohort
    fair = _flags(y, audit, {"geen": 0.7, "westers": 0.7, "niet-westers": 0.7})
    assert gates.judge(_audit(y, fair, p, audit, n_boot=100, seed=1), GATES).status == "pass"
    # the first case: TPR 0.276 vs 0.376 (ratio 0.73) on few VSV'ers — the interval straddles 0.8
    rng = np.random.default_rng(5)
    small = audit.sample(1500, random_state=5).reset_index(drop=True)
    ys = (rng.random(1500) < 0.12).astype(int)
    fs = _flags(ys, small, {"geen": 0.376, "westers": 0.376, "niet-westers": 0.276}, seed=6)
    v = gates.judge(_audit(ys, fs, np.full(1500, 0.12), small, n_boot=200, seed=2, min_positives=20), GATES)
    assert v.by_grouping["migration_background"] == "inconclusive"


def test_group_with_few_positives_is_too_small_to_judge(cohort: tuple) -> None:
    y, p, audit = cohort
    a = audit.copy()
    idx = np.flatnonzero(y == 1)[:25]
    a.loc[idx, "gender"] = "x"  # 25 VSV'ers in group x, all flagged: served "better" than everyone
    flags = _flags(y, a, {"geen": 0.5, "westers": 0.5, "niet-westers": 0.5})
    flags[idx] = True
    report = _audit(y, flags, p, a, n_boot=50, seed=0, min_group_size=10, min_positives=30)
    row = report.comparisons.set_index(["grouping", "group", "metric"]).loc[("gender", "x", "tpr")]
    assert not row["judgeable"] and "too small" in row["why_not"] and np.isnan(row["estimate"])
    verdict = gates.judge(report, {"tpr_ratio_min": 0.8})
    assert verdict.by_grouping["gender"] in ("pass", "inconclusive")  # x does not decide its TPR gate


def test_calibration_gap_difference_gate(cohort: tuple) -> None:
    y, p, audit = cohort
    over = np.where(audit["ses_band"] == "laag", np.clip(p + 0.1, 0, 1), p)  # over-predicts one group
    report = _audit(y, y == 1, over, audit, n_boot=50, seed=0, reference={"ses_band": "hoog"})
    gap = report.table.set_index(["grouping", "group"]).loc[("ses_band", "laag"), "calibration_gap"]
    assert gap == pytest.approx(0.1, abs=0.02)
    verdict = gates.judge(report, {"calibration_gap_max": 0.05})
    assert verdict.by_grouping["ses_band"] == "fail"
    assert gates.judge(report, {"calibration_gap_max": 0.2}).by_grouping["ses_band"] == "pass"


def test_user_groupings_are_checked_case_insensitively_and_missing_ones_are_unmeasured(cohort: tuple) -> None:
    y, p, audit = cohort
    a = audit.rename(columns={"gender": "Gender"}).assign(Team=np.where(np.arange(len(y)) % 2, "A", "B"))
    flags = np.where(a["Team"] == "A", _flags(y, a.rename(columns={"Gender": "gender"}), {"geen": 0.7, "westers": 0.7, "niet-westers": 0.7}),
                     _flags(y, a, {"geen": 0.3, "westers": 0.3, "niet-westers": 0.3}, seed=3))
    report = fa.fairness_audit(y, flags, p, a, columns=["gender", "team"], gate_groupings=["gender", "team"],
                               n_boot=60, seed=0, intersections=False)
    assert set(report.summary["gate_groupings"]) == {"Gender", "Team"} and report.summary["unmeasured"] == []
    v = gates.judge(report, GATES)
    assert v.by_grouping["Team"] == "fail" and v.status == "fail"  # a user's own grouping, checked
    missing = fa.fairness_audit(y, flags, p, a, gate_groupings=["gender", "religion"], n_boot=20, seed=0)
    vm = gates.judge(missing, {"tpr_ratio_min": 0.8})
    assert vm.by_grouping["religion"] == "unmeasured" and vm.status in ("unmeasured", "fail")
    none = fa.fairness_audit(y, flags, p, a[[]], gate_groupings=[], n_boot=0)
    assert gates.judge(none, GATES).status == "unmeasured"


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 3), st.floats(0, 3), st.floats(0.5, 1.0))
def test_judge_interval_is_three_valued_and_monotone(a: float, b: float, t: float) -> None:
    lo, hi = min(a, b), max(a, b)
    band = gates.allowed_band("ratio", t)
    v = gates.judge_interval(lo, hi, band)
    if band[0] <= lo and hi <= band[1]:
        assert v == "pass"
    elif hi < band[0] or lo > band[1]:
        assert v == "fail"
    else:
        assert v == "inconclusive"
    # a wider interval is never more decisive
    wider = gates.judge_interval(lo * 0.9, hi * 1.1 + 1e-9, band)
    assert not (v == "inconclusive" and wider in ("pass", "fail"))


def test_small_groups_suppressed_not_dropped(cohort: tuple) -> None:
    y, p, audit = cohort
    report = _audit(y, p > 0.15, p, audit, min_group_size=50, n_boot=20, seed=0, intersections=True)
    t = report.table
    x = t[(t["grouping"] == "gender") & (t["group"] == "x")].iloc[0]
    assert bool(x["suppressed"]) and x["n"] == 30
    assert np.isnan(x["tpr"]) and np.isnan(x["tpr_ci_low"]) and np.isnan(x["positives"])
    # intersections exist, and those of 'x' are suppressed too
    inter = t[t["grouping"] == "gender&level"]
    assert len(inter) == 9 and inter[inter["group"].str.startswith("x")]["suppressed"].all()
    assert {"gender", "level", "migration_background&ses_band"} <= set(t["grouping"])


def test_metricframe_values_and_intervals(cohort: tuple) -> None:
    y, p, audit = cohort
    flags = p > 0.12
    report = _audit(y, flags, p, audit, n_boot=60, seed=3)
    row = report.table.set_index(["grouping", "group"]).loc[("level", "havo")]
    m = (audit["level"] == "havo").to_numpy()
    assert row["selection_rate"] == pytest.approx(flags[m].mean())
    assert row["fpr"] == pytest.approx(flags[m & (y == 0)].mean())
    assert row["precision"] == pytest.approx(y[m & flags].mean())
    assert row["calibration_gap"] == pytest.approx(p[m].mean() - y[m].mean())
    for metric in fa.METRICS:
        assert row[f"{metric}_ci_low"] <= row[metric] <= row[f"{metric}_ci_high"]


def test_unmeasurable_gate_is_unmeasured_and_bad_gate_is_config_error(cohort: tuple) -> None:
    y, p, audit = cohort
    report = _audit(y, p > 0.1, p, audit, min_group_size=10_000, n_boot=0, seed=0)
    assert report.table["suppressed"].all()
    assert gates.judge(report, {"tpr_ratio_min": 0.8}).status == "unmeasured"
    with pytest.raises(ConfigError):
        gates.judge(report, {"tpr_ratio_at_least": 0.8})
    with pytest.raises(ConfigError):
        _audit(y, p > 0.1, p, audit, reference={"gender": "martian"}, n_boot=0)
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


def test_gate_simulation_plants_what_it_says() -> None:
    """training/gate_simulation.py (the recorded table): the planted model's TPR ratio is ~2/3 and it never
    passes; the fair one's is ~1 and it never fails."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "training" / "gate_simulation.py"
    spec = importlib.util.spec_from_file_location("gate_simulation", path)
    assert spec is not None and spec.loader is not None
    sim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim)
    unfair = [sim.one(seed, 30_000, 0.05, True, 60) for seed in range(2)]
    fair = [sim.one(seed, 30_000, 0.05, False, 60) for seed in range(2)]
    assert np.mean([r for _, r in unfair]) == pytest.approx(2 / 3, abs=0.06)
    assert np.mean([r for _, r in fair]) == pytest.approx(1.0, abs=0.08)
    assert "pass" not in {v for v, _ in unfair} and "fail" not in {v for v, _ in fair}
