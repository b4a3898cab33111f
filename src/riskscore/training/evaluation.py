"""Metrics for a risk score that feeds a reviewer with limited capacity, with honest uncertainty.

Every metric is a plain callable ``metric(y_true, y_score, ..., sample_weight=None)``. The weights
are how the bootstrap works: a resample is a vector of multiplicities over the *same* rows, so the
rows are sorted once and every metric, model and as-of slice of one replicate shares the resample
(paired comparisons come for free).

Conventions, chosen because the rules baseline scores many pupils exactly alike:
- **Ties** are never broken by row order. Ranking metrics see a tie group as one block:
  ROC-AUC counts a tied positive/negative pair as 1/2; average precision uses each distinct score as
  one threshold (as scikit-learn does); precision/recall at k give the **expected** value under a
  uniformly random tie-break at the k-th place (exact, seed-free). ``flag_top_k`` draws an actual
  random tie-break with a seed; its precision averages to ``precision_at_k``.
- **Degenerate input** (one class, no rows) gives NaN, never an exception, so a quiet as-of date
  does not crash an evaluation.
- **Calibration** uses equal-mass bins by default (each bin holds about the same weight of rows; a tie
  group is never split across bins), because VSV probabilities crowd near zero and equal-width bins
  would put almost everything in the first bin. ``strategy="uniform"`` gives equal-width bins on [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from riskscore.errors import DataError

Metric = Callable[..., float]
MSG_LENGTHS = "y_true ({n_y}), y_score ({n_s}) and sample_weight must have the same length"


# --- preparation ---------------------------------------------------------------------------------
def _prep(y_true: Any, y_score: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    w = np.ones_like(s) if sample_weight is None else np.asarray(sample_weight, dtype=float).ravel()
    if not (len(y) == len(s) == len(w)):
        raise DataError(MSG_LENGTHS.format(n_y=len(y), n_s=len(s)))
    return y, s, w


def _tie_groups(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores (descending) with the positive and total weight of each tie group."""
    keep = w > 0
    y, s, w = y[keep], s[keep], w[keep]
    if len(s) == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    order = np.argsort(-s, kind="stable")  # linear on already-sorted input (evaluate pre-sorts)
    s_o = s[order]
    start = np.r_[True, s_o[1:] != s_o[:-1]]
    gid = np.cumsum(start) - 1
    pos = np.bincount(gid, weights=(w * y)[order])
    tot = np.bincount(gid, weights=w[order])
    return s_o[start], pos, tot


# --- ranking metrics -----------------------------------------------------------------------------
def roc_auc(y_true: Any, y_score: Any, *, sample_weight: Any = None) -> float:
    """Area under the ROC curve; tied pairs count 1/2; NaN when only one class is present."""
    _, pos, tot = _tie_groups(*_prep(y_true, y_score, sample_weight))
    neg = tot - pos
    p, n = pos.sum(), neg.sum()
    if p <= 0 or n <= 0:
        return float("nan")
    neg_below = n - np.cumsum(neg)  # negatives with a strictly lower score
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (p * n))


def pr_auc(y_true: Any, y_score: Any, *, sample_weight: Any = None) -> float:
    """Average precision (step-wise area under precision-recall), scikit-learn's definition."""
    _, pos, tot = _tie_groups(*_prep(y_true, y_score, sample_weight))
    p = pos.sum()
    if p <= 0 or tot.sum() <= 0:
        return float("nan")
    cum_pos, cum_tot = np.cumsum(pos), np.cumsum(tot)
    precision = cum_pos / cum_tot
    recall_step = pos / p
    return float(np.sum(recall_step * precision))


def _expected_tp_at_k(pos: np.ndarray, tot: np.ndarray, k: float) -> tuple[float, float]:
    """Expected true positives among the top k (random tie-break at the boundary), and slots used."""
    before = np.cumsum(tot) - tot
    take = np.clip(k - before, 0, tot)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(tot > 0, take / tot, 0.0)
    return float(np.sum(frac * pos)), float(take.sum())


def _at_k(y_true: Any, y_score: Any, k: float, sample_weight: Any, strata: Any) -> tuple[float, float, float]:
    """(expected TP, flagged, positives), pooled over strata when each stratum has its own k."""
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    y, s, w = _prep(y_true, y_score, sample_weight)
    if strata is None:
        _, pos, tot = _tie_groups(y, s, w)
        tp, used = _expected_tp_at_k(pos, tot, k)
        return tp, used, float(pos.sum())
    strata = np.asarray(strata)
    tp = used = positives = 0.0
    for value in pd.unique(strata):
        m = strata == value
        _, pos, tot = _tie_groups(y[m], s[m], w[m])
        t, u = _expected_tp_at_k(pos, tot, k)
        tp, used, positives = tp + t, used + u, positives + float(pos.sum())
    return tp, used, positives


def precision_at_k(y_true: Any, y_score: Any, k: float, *, sample_weight: Any = None, strata: Any = None) -> float:
    """Share of VSV'ers among the k highest scores (per stratum, e.g. per as-of date, then pooled).

    k is the reviewers' capacity; ties at the boundary count their expected value.
    """
    tp, used, _ = _at_k(y_true, y_score, k, sample_weight, strata)
    return tp / used if used > 0 else float("nan")


def recall_at_k(y_true: Any, y_score: Any, k: float, *, sample_weight: Any = None, strata: Any = None) -> float:
    """Share of all VSV'ers that the top k reach (per stratum, then pooled)."""
    tp, _, positives = _at_k(y_true, y_score, k, sample_weight, strata)
    return tp / positives if positives > 0 else float("nan")


def _k_for_fraction(total_weight: float, fraction: float) -> float:
    if not 0 < fraction <= 1:
        raise DataError(f"fraction must be in (0, 1], got {fraction}")
    return max(1.0, float(np.round(fraction * total_weight)))


def _at_fraction(y_true: Any, y_score: Any, fraction: float, sample_weight: Any, strata: Any) -> tuple[float, float, float]:
    y, s, w = _prep(y_true, y_score, sample_weight)
    groups = [np.ones(len(y), bool)] if strata is None else [np.asarray(strata) == v for v in pd.unique(np.asarray(strata))]
    tp = used = positives = 0.0
    for m in groups:
        if w[m].sum() <= 0:
            continue
        t, u, p = _at_k(y[m], s[m], _k_for_fraction(float(w[m].sum()), fraction), w[m], None)
        tp, used, positives = tp + t, used + u, positives + p
    return tp, used, positives


def precision_at_fraction(y_true: Any, y_score: Any, fraction: float, *, sample_weight: Any = None, strata: Any = None) -> float:
    """Precision among the top `fraction` of rows (of each stratum), e.g. 0.05 for the top 5 %."""
    tp, used, _ = _at_fraction(y_true, y_score, fraction, sample_weight, strata)
    return tp / used if used > 0 else float("nan")


def recall_at_fraction(y_true: Any, y_score: Any, fraction: float, *, sample_weight: Any = None, strata: Any = None) -> float:
    """Recall of the top `fraction` of rows (of each stratum)."""
    tp, _, positives = _at_fraction(y_true, y_score, fraction, sample_weight, strata)
    return tp / positives if positives > 0 else float("nan")


# --- probability metrics -------------------------------------------------------------------------
def brier(y_true: Any, y_score: Any, *, sample_weight: Any = None) -> float:
    """Mean squared error of the probability (lower is better)."""
    y, s, w = _prep(y_true, y_score, sample_weight)
    return float(np.sum(w * (s - y) ** 2) / w.sum()) if w.sum() > 0 else float("nan")


def _bins(s: np.ndarray, w: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin index per row. Equal-mass bins keep each tie group whole."""
    if strategy == "uniform":
        return np.minimum((np.clip(s, 0, 1) * n_bins).astype(int), n_bins - 1)
    if strategy != "quantile":
        raise DataError(f"unknown binning strategy '{strategy}' (use 'quantile' or 'uniform')")
    order = np.argsort(s, kind="stable")
    s_o, w_o = s[order], w[order]
    start = np.r_[True, s_o[1:] != s_o[:-1]] if len(s_o) else np.empty(0, bool)
    gid = np.cumsum(start) - 1
    gw = np.bincount(gid, weights=w_o) if len(s_o) else np.empty(0)
    mid = (np.cumsum(gw) - gw / 2) / max(gw.sum(), 1e-300)
    gbin = np.minimum((mid * n_bins).astype(int), n_bins - 1)
    out = np.empty(len(s), int)
    out[order] = gbin[gid]
    return out


def reliability_curve(y_true: Any, y_score: Any, *, n_bins: int = 10, strategy: str = "quantile",
                      sample_weight: Any = None) -> pd.DataFrame:
    """Per non-empty bin: mean predicted probability, observed rate and (weighted) count."""
    y, s, w = _prep(y_true, y_score, sample_weight)
    b = _bins(s, w, n_bins, strategy)
    count = np.bincount(b, weights=w, minlength=n_bins)
    pred = np.bincount(b, weights=w * s, minlength=n_bins)
    obs = np.bincount(b, weights=w * y, minlength=n_bins)
    keep = count > 0
    return pd.DataFrame({
        "bin": np.arange(n_bins)[keep],
        "mean_predicted": pred[keep] / count[keep],
        "observed": obs[keep] / count[keep],
        "count": count[keep],
    })


def expected_calibration_error(y_true: Any, y_score: Any, *, n_bins: int = 10, strategy: str = "quantile",
                               sample_weight: Any = None) -> float:
    """Weighted mean |mean predicted − observed| over bins (equal-mass bins by default)."""
    curve = reliability_curve(y_true, y_score, n_bins=n_bins, strategy=strategy, sample_weight=sample_weight)
    if curve.empty:
        return float("nan")
    gap = np.abs(curve["mean_predicted"] - curve["observed"])
    return float(np.sum(curve["count"] * gap) / curve["count"].sum())


ece = expected_calibration_error


# --- bootstrap -----------------------------------------------------------------------------------
def bootstrap_weights(n: int, *, n_boot: int, seed: int, groups: Any = None) -> Iterator[np.ndarray]:
    """Row multiplicities of each bootstrap replicate.

    With `groups` (student ids) whole students are resampled, so the several as-of rows of one
    pupil move together and do not fake precision.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        for _ in range(n_boot):
            yield rng.multinomial(n, np.full(n, 1.0 / n)).astype(float) if n else np.empty(0)
        return
    codes, uniques = pd.factorize(np.asarray(groups))
    g = len(uniques)
    for _ in range(n_boot):
        yield rng.multinomial(g, np.full(g, 1.0 / g)).astype(float)[codes] if g else np.empty(0)


def _interval(values: Sequence[float], alpha: float) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if len(arr) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(arr, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_ci(metric: Metric, y_true: Any, y_score: Any, *, n_boot: int = 200, alpha: float = 0.05,
                 seed: int = 0, groups: Any = None, **metric_kwargs: Any) -> tuple[float, float, float]:
    """(point estimate, low, high): percentile interval of `metric` over bootstrap replicates.

    `metric` must accept ``sample_weight``; extra keyword arguments (k, strata, …) are passed on.
    """
    y, s, _ = _prep(y_true, y_score)
    point = float(metric(y, s, **metric_kwargs))
    reps = [metric(y, s, sample_weight=w, **metric_kwargs) for w in bootstrap_weights(len(y), n_boot=n_boot, seed=seed, groups=groups)]
    lo, hi = _interval(reps, alpha) if n_boot > 0 else (float("nan"), float("nan"))
    return point, lo, hi


#: most resampling units the ECE's BCa interval uses; beyond it pupils are pooled into this many
#: random blocks (the jackknife behind BCa costs one statistic per unit)
ECE_MAX_UNITS = 1000
#: BCa estimates its bias correction from the share of replicates below the estimate; for the ECE
#: that share is small, so it needs more replicates than a percentile interval (measured: 95 % intervals
#: covered a known ECE in 48 % of 40 seeds with 2,000 replicates at n = 130, 90 % at n = 5,000)
ECE_MIN_RESAMPLES = 2000


def ece_interval(y_true: Any, y_score: Any, *, n_bins: int = 10, n_boot: int = 200, alpha: float = 0.05,
                 seed: int = 0, groups: Any = None) -> tuple[float, float, float]:
    """(ECE, low, high): a bias-corrected and accelerated (BCa) bootstrap interval from
    ``scipy.stats.bootstrap``, resampling pupils (``groups``) or rows.

    Why not the percentile interval: the ECE is biased upward (a bin's |mean predicted − observed|
    is never negative, so noise only adds), so percentile intervals of its replicates sit above the
    estimate and can exclude it; BCa corrects for that bias. The equal-mass bins are fixed from the
    whole sample, and the ECE is then Σ_bins |Σ (p − y)| / n, a function of per-unit bin sums; with
    more than ECE_MAX_UNITS pupils they are pooled into that many random blocks (seeded)."""
    import warnings as _warnings

    from scipy.stats import bootstrap

    y, s, w = _prep(y_true, y_score)
    point = expected_calibration_error(y, s, n_bins=n_bins)
    if n_boot <= 0 or len(y) < 2:
        return point, float("nan"), float("nan")
    bins = _bins(s, w, n_bins, "quantile")
    units, _ = pd.factorize(np.asarray(groups)) if groups is not None else (np.arange(len(y)), None)
    n_units = int(units.max()) + 1
    rng = np.random.default_rng(seed)
    if n_units > ECE_MAX_UNITS:
        units = rng.permutation(n_units)[units] % ECE_MAX_UNITS
        n_units = ECE_MAX_UNITS
    if n_units < 3:
        return point, float("nan"), float("nan")
    count = np.zeros((n_units, n_bins))
    gap = np.zeros((n_units, n_bins))
    np.add.at(count, (units, bins), 1.0)
    np.add.at(gap, (units, bins), s - y)

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        # each resample as unit multiplicities (one bincount), then its bin sums by one matrix product
        idx = np.asarray(idx, dtype=np.int64)
        flat = idx.reshape(-1, idx.shape[-1])
        offsets = (np.arange(len(flat), dtype=np.int64) * n_units)[:, None]
        times = np.bincount((flat + offsets).ravel(), minlength=len(flat) * n_units).reshape(len(flat), n_units)
        out = np.abs(times @ gap).sum(axis=-1) / (times @ count).sum(axis=-1)
        return out.reshape(idx.shape[:-1])

    with _warnings.catch_warnings():  # degenerate data (every replicate equal) gives NaN bounds, said as such
        _warnings.simplefilter("ignore")
        res = bootstrap((np.arange(n_units),), statistic, n_resamples=max(n_boot, ECE_MIN_RESAMPLES), vectorized=True, batch=50,
                        confidence_level=1 - alpha, method="BCa", rng=rng)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return point, lo, hi


# --- evaluation tables ---------------------------------------------------------------------------
def _pct_name(fraction: float) -> str:
    return f"top_{fraction * 100:g}pct"


def metric_suite(capacities: dict[str, int], top_fractions: Sequence[float] = (0.05, 0.10)) -> dict[str, tuple[Metric, dict[str, Any]]]:
    """Name → (metric, kwargs). Capacity metrics are named after the role: precision_at_school."""
    suite: dict[str, tuple[Metric, dict[str, Any]]] = {
        "roc_auc": (roc_auc, {}),
        "pr_auc": (pr_auc, {}),
        "brier": (brier, {}),
        "ece": (expected_calibration_error, {}),
    }
    for role, k in capacities.items():
        suite[f"precision_at_{role}"] = (precision_at_k, {"k": k})
        suite[f"recall_at_{role}"] = (recall_at_k, {"k": k})
    for frac in top_fractions:
        suite[f"precision_at_{_pct_name(frac)}"] = (precision_at_fraction, {"fraction": frac})
        suite[f"recall_at_{_pct_name(frac)}"] = (recall_at_fraction, {"fraction": frac})
    return suite


_PER_STRATUM = {precision_at_k, recall_at_k, precision_at_fraction, recall_at_fraction}


def evaluate_models(y_true: Any, scores: dict[str, Any], *, capacities: dict[str, int], as_of: Any = None,
                    groups: Any = None, top_fractions: Sequence[float] = (0.05, 0.10), n_boot: int = 200,
                    alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Long table (model, as_of, metric, value, ci_low, ci_high) per as-of date and overall ('all').

    Capacities are per as-of date (a care team reviews k pupils each time it meets), so overall
    capacity metrics take the top k of every date and pool them. All models share the same
    bootstrap replicates (cluster bootstrap by `groups`), so their intervals are comparable.
    """
    y = np.asarray(y_true, dtype=float).ravel()
    n = len(y)
    dates = np.full(n, "all", dtype=object) if as_of is None else np.asarray(as_of)
    if len(dates) != n:
        raise DataError(f"as_of has {len(dates)} rows, y_true {n}")
    suite = metric_suite(capacities, top_fractions)
    slices: list[tuple[str, np.ndarray]] = [("all", np.ones(n, bool))]
    if as_of is not None:
        slices += [(str(pd.Timestamp(d).date()) if _is_date(d) else str(d), dates == d) for d in sorted(pd.unique(dates))]

    rows = []
    for model, raw in scores.items():
        s = np.asarray(raw, dtype=float).ravel()
        if len(s) != n:
            raise DataError(MSG_LENGTHS.format(n_y=n, n_s=len(s)))
        order = np.argsort(-s, kind="stable")  # sort once: every later sort is linear
        ys, ss, ds = y[order], s[order], dates[order]
        sorted_slices = [(sl, m[order]) for sl, m in slices]

        def strata(sl: str, mm: np.ndarray, ds: np.ndarray = ds) -> np.ndarray | None:
            return ds[mm] if sl == "all" and as_of is not None else None

        point = {sl: _compute(suite, ys[mm], ss[mm], None, strata(sl, mm)) for sl, mm in sorted_slices}
        reps: dict[str, list[dict[str, float]]] = {sl: [] for sl, _ in slices}
        for w in bootstrap_weights(n, n_boot=n_boot, seed=seed, groups=groups):
            w = w[order]
            for sl, mm in sorted_slices:
                reps[sl].append(_compute(suite, ys[mm], ss[mm], w[mm], strata(sl, mm)))
        for sl, m in slices:
            for metric, value in point[sl].items():
                if metric == "ece":  # biased upward: a BCa interval (scipy), not the percentile one
                    _, lo, hi = ece_interval(y[m], s[m], n_boot=n_boot, alpha=alpha, seed=seed,
                                             groups=None if groups is None else np.asarray(groups)[m])
                else:
                    lo, hi = _interval([r[metric] for r in reps[sl]], alpha) if reps[sl] else (float("nan"), float("nan"))
                rows.append((model, sl, metric, value, lo, hi))
            rows.append((model, sl, "n", float(m.sum()), float("nan"), float("nan")))
            rows.append((model, sl, "prevalence", float(y[m].mean()) if m.any() else float("nan"), float("nan"), float("nan")))
    return pd.DataFrame(rows, columns=["model", "as_of", "metric", "value", "ci_low", "ci_high"])


def _is_date(d: Any) -> bool:
    return isinstance(d, np.datetime64 | pd.Timestamp) or hasattr(d, "isoformat")


def _compute(suite: dict[str, tuple[Metric, dict[str, Any]]], y: np.ndarray, s: np.ndarray, w: np.ndarray | None,
             strata: np.ndarray | None) -> dict[str, float]:
    out = {}
    for name, (fn, kwargs) in suite.items():
        extra = {"strata": strata} if fn in _PER_STRATUM and strata is not None else {}
        out[name] = float(fn(y, s, sample_weight=w, **kwargs, **extra)) if len(y) else float("nan")
    return out


def evaluate(y_true: Any, y_score: Any, *, capacities: dict[str, int], as_of: Any = None, groups: Any = None,
             top_fractions: Sequence[float] = (0.05, 0.10), n_boot: int = 200, seed: int = 0,
             model: str = "model") -> pd.DataFrame:
    """One model's evaluation table; see `evaluate_models`."""
    return evaluate_models(y_true, {model: y_score}, capacities=capacities, as_of=as_of, groups=groups,
                           top_fractions=top_fractions, n_boot=n_boot, seed=seed)


def flag_top_k(y_score: Any, as_of: Any, k: int, *, seed: int = 0) -> np.ndarray:
    """Boolean flags: the k highest scores of each as-of date, ties broken at random (seeded).

    These are the pupils a team of capacity k would review; fairness is audited on them.
    """
    s = np.asarray(y_score, dtype=float).ravel()
    dates = np.zeros(len(s)) if as_of is None else np.asarray(as_of)
    tiebreak = np.random.default_rng(seed).random(len(s))
    flags = np.zeros(len(s), bool)
    for d in pd.unique(dates):
        idx = np.flatnonzero(dates == d)
        order = idx[np.lexsort((tiebreak[idx], -s[idx]))]
        flags[order[:k]] = True
    return flags


def compare_at_capacity(y_true: Any, scores: dict[str, Any], *, challenger: str, baselines: Sequence[str], k: int,
                        as_of: Any = None, groups: Any = None, n_boot: int = 200, alpha: float = 0.05,
                        seed: int = 0) -> dict[str, dict[str, Any]]:
    """Paired bootstrap of precision@k (per as-of date, pooled): challenger minus each baseline.

    `beats` needs the whole interval of the difference above zero (without bootstrap: the point
    difference), so a lucky draw does not promote a model.
    """
    y = np.asarray(y_true, dtype=float).ravel()
    strata = None if as_of is None else np.asarray(as_of)
    missing = [m for m in [challenger, *baselines] if m not in scores]
    if missing:
        raise DataError(f"no scores for model(s) {missing}")
    weights = list(bootstrap_weights(len(y), n_boot=n_boot, seed=seed, groups=groups))

    def prec(name: str, w: np.ndarray | None) -> float:
        return precision_at_k(y, scores[name], k, sample_weight=w, strata=strata)

    ch_reps = [prec(challenger, w) for w in weights]
    out = {}
    for base in baselines:
        diffs = [c - prec(base, w) for c, w in zip(ch_reps, weights, strict=True)]
        c, b = prec(challenger, None), prec(base, None)
        lo, hi = _interval(diffs, alpha) if weights else (float("nan"), float("nan"))
        beats = bool(lo > 0) if weights and np.isfinite(lo) else bool(c - b > 0)
        out[base] = {"challenger": c, "baseline": b, "diff": c - b, "diff_ci_low": lo, "diff_ci_high": hi, "beats": beats}
    return out


__all__ = [
    "bootstrap_ci", "bootstrap_weights", "brier", "compare_at_capacity", "ece", "ece_interval", "evaluate", "evaluate_models",
    "expected_calibration_error", "flag_top_k", "metric_suite", "pr_auc", "precision_at_fraction", "precision_at_k",
    "recall_at_fraction", "recall_at_k", "reliability_curve", "roc_auc",
]
