"""Metrics against hand-computed examples and scikit-learn; bootstrap and evaluation tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from riskscore.errors import DataError
from riskscore.training import evaluation as ev


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = (rng.random(3000) < 0.08).astype(int)
    s = np.round(np.clip(0.05 + 0.15 * y + rng.normal(0, 0.08, 3000), 0, 1), 2)  # rounded: many ties
    return y, s


def test_hand_computed_small_example() -> None:
    y = [1, 0, 1, 0, 0]
    s = [0.9, 0.8, 0.7, 0.2, 0.1]
    # pairs (pos, neg): 0.9 beats all 3 negatives, 0.7 beats 2 of 3 → 5/6
    assert ev.roc_auc(y, s) == pytest.approx(5 / 6)
    # AP: recall steps at rank 1 (precision 1) and rank 3 (precision 2/3) → (1 + 2/3) / 2
    assert ev.pr_auc(y, s) == pytest.approx((1 + 2 / 3) / 2)
    assert ev.precision_at_k(y, s, 2) == pytest.approx(0.5)
    assert ev.recall_at_k(y, s, 3) == pytest.approx(1.0)
    assert ev.brier(y, s) == pytest.approx(np.mean((np.array(s) - np.array(y)) ** 2))


def test_matches_sklearn_with_ties_and_weights(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = scored
    w = np.random.default_rng(1).integers(0, 4, len(y))
    assert ev.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert ev.roc_auc(y, s, sample_weight=w) == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert ev.pr_auc(y, s) == pytest.approx(average_precision_score(y, s))
    assert ev.pr_auc(y, s, sample_weight=w) == pytest.approx(average_precision_score(y, s, sample_weight=w))
    assert ev.brier(y, s, sample_weight=w) == pytest.approx(brier_score_loss(y, s, sample_weight=w))


def test_precision_at_k_counts_expected_value_of_ties() -> None:
    # the top 4 are tied and hold 1 VSV'er; k = 2 → expected 2 × 1/4 = 0.5 hits → precision 0.25
    y = [1, 0, 0, 0, 1, 0]
    s = [0.5, 0.5, 0.5, 0.5, 0.1, 0.0]
    assert ev.precision_at_k(y, s, 2) == pytest.approx(0.25)
    assert ev.recall_at_k(y, s, 2) == pytest.approx(0.25)
    # a random tie-break averages to the same value
    flags = np.array([ev.flag_top_k(s, None, 2, seed=i) for i in range(400)])
    hits = (flags & (np.array(y) == 1)).sum(axis=1) / 2
    assert hits.mean() == pytest.approx(0.25, abs=0.04)
    assert flags.sum(axis=1).tolist() == [2] * 400


def test_precision_at_k_per_stratum_pools_each_dates_top_k() -> None:
    y = np.array([1, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.1, 0.2, 0.8, 0.3, 0.4])
    dates = np.array(["a", "a", "a", "b", "b", "b"])
    # top 1 of a: row 0 (hit); top 1 of b: row 3 (miss) → 1/2; recall 1/2
    assert ev.precision_at_k(y, s, 1, strata=dates) == pytest.approx(0.5)
    assert ev.recall_at_k(y, s, 1, strata=dates) == pytest.approx(0.5)
    flags = ev.flag_top_k(s, dates, 1, seed=0)
    assert flags.tolist() == [True, False, False, True, False, False]


def test_top_fraction() -> None:
    y = np.r_[np.ones(5), np.zeros(95)]
    s = np.linspace(1, 0, 100)
    assert ev.precision_at_fraction(y, s, 0.05) == pytest.approx(1.0)
    assert ev.recall_at_fraction(y, s, 0.10) == pytest.approx(1.0)
    assert ev.precision_at_fraction(y, s, 0.10) == pytest.approx(0.5)


def test_degenerate_inputs_give_nan_not_errors() -> None:
    assert np.isnan(ev.roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert np.isnan(ev.pr_auc([0, 0], [0.1, 0.2]))
    assert np.isnan(ev.recall_at_k([0, 0], [0.1, 0.2], 1))
    assert np.isnan(ev.roc_auc([], []))
    assert np.isnan(ev.expected_calibration_error([], []))
    point, lo, hi = ev.bootstrap_ci(ev.roc_auc, [1, 1, 1], [0.2, 0.3, 0.4], n_boot=20, seed=0)
    assert np.isnan(point) and np.isnan(lo) and np.isnan(hi)
    with pytest.raises(DataError):
        ev.roc_auc([0, 1], [0.1])


def test_ece_small_for_calibrated_and_large_for_miscalibrated() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(1, 20, 50_000)
    y = rng.random(50_000) < p
    assert ev.expected_calibration_error(y, p) < 0.005
    assert ev.expected_calibration_error(y, p, strategy="uniform") < 0.01
    assert ev.expected_calibration_error(y, np.clip(p * 3, 0, 1)) > 0.05
    curve = ev.reliability_curve(y, p, n_bins=10)
    assert list(curve.columns) == ["bin", "mean_predicted", "observed", "count"]
    assert curve["count"].sum() == 50_000
    assert curve["count"].min() > 4000  # equal-mass bins
    assert np.allclose(curve["mean_predicted"], curve["observed"], atol=0.01)


def test_equal_mass_bins_keep_ties_together() -> None:
    s = np.r_[np.zeros(80), np.full(20, 0.5)]
    y = np.r_[np.zeros(80), np.ones(10), np.zeros(10)]
    curve = ev.reliability_curve(y, s, n_bins=10)
    assert curve["count"].tolist() == [80, 20]
    assert ev.expected_calibration_error(y, s) == pytest.approx(0.0)


def test_bootstrap_ci_contains_estimate_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(11)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.2).astype(int)
        return y, y * 0.3 + rng.random(n)

    widths = []
    for n in (400, 6400):
        y, s = sample(n)
        point, lo, hi = ev.bootstrap_ci(ev.roc_auc, y, s, n_boot=200, seed=1)
        assert lo <= point <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2.5  # ~1/sqrt(16) = 1/4 in theory


def test_cluster_bootstrap_is_wider_for_duplicated_students() -> None:
    rng = np.random.default_rng(5)
    y0 = (rng.random(500) < 0.2).astype(int)
    s0 = y0 * 0.3 + rng.random(500)
    y, s = np.tile(y0, 4), np.tile(s0, 4)  # 4 as-of rows per student, identical
    students = np.tile(np.arange(500), 4)
    _, lo_naive, hi_naive = ev.bootstrap_ci(ev.roc_auc, y, s, n_boot=200, seed=2)
    _, lo, hi = ev.bootstrap_ci(ev.roc_auc, y, s, n_boot=200, seed=2, groups=students)
    assert (hi - lo) > 1.5 * (hi_naive - lo_naive)


def test_evaluate_models_table(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = scored
    dates = np.repeat(pd.to_datetime(["2023-10-01", "2024-02-01", "2024-05-01"]).to_numpy(), 1000)
    students = np.tile(np.arange(1000), 3)
    rules = (s > 0.2).astype(float)  # a baseline with huge ties
    table = ev.evaluate_models(y, {"additive": s, "rules": rules}, capacities={"school": 30, "rmc": 10},
                               as_of=dates, groups=students, n_boot=50, seed=0)
    assert list(table.columns) == ["model", "as_of", "metric", "value", "ci_low", "ci_high"]
    assert set(table["as_of"]) == {"all", "2023-10-01", "2024-02-01", "2024-05-01"}
    wanted = {"roc_auc", "pr_auc", "brier", "ece", "precision_at_school", "recall_at_rmc", "precision_at_top_5pct",
              "recall_at_top_10pct", "n", "prevalence"}
    assert wanted <= set(table["metric"])
    overall = table[(table.model == "additive") & (table.as_of == "all")].set_index("metric")
    assert overall.loc["roc_auc", "value"] == pytest.approx(roc_auc_score(y, s))
    assert overall.loc["precision_at_school", "value"] == pytest.approx(ev.precision_at_k(y, s, 30, strata=dates))
    with_ci = overall.drop(["n", "prevalence"])
    assert ((with_ci["ci_low"] <= with_ci["value"] + 1e-12) & (with_ci["value"] <= with_ci["ci_high"] + 1e-12)).all()
    one_date = table[(table.model == "additive") & (table.as_of == "2024-02-01")].set_index("metric")
    m = dates == np.datetime64("2024-02-01")
    assert one_date.loc["precision_at_school", "value"] == pytest.approx(ev.precision_at_k(y[m], s[m], 30))
    single = ev.evaluate(y, s, capacities={"school": 30}, n_boot=0, seed=0)
    assert set(single["as_of"]) == {"all"} and single["ci_low"].isna().all()


def test_compare_at_capacity_detects_a_better_model(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = scored
    noise = np.random.default_rng(0).random(len(y))
    out = ev.compare_at_capacity(y, {"additive": s, "random": noise, "same": s}, challenger="additive",
                                 baselines=["random", "same"], k=150, n_boot=100, seed=0)
    assert out["random"]["beats"] is True and out["random"]["diff_ci_low"] > 0
    assert out["same"]["beats"] is False and out["same"]["diff"] == pytest.approx(0.0)
