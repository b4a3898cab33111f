"""Small statistics the monitoring checks share: PSI, Wilson intervals, two-proportion tests.

Kept apart so each is a plain callable that can be tested against textbook values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

_EPS = 1e-4


def psi(reference: Any, current: Any, *, bins: int = 10) -> float:
    """Population stability index with bins at the reference's quantiles (ties merged).

    Quantile bins put equal reference mass in each bin, so the index is not dominated by a few
    sparsely populated tails; empty bins get a small floor instead of log(0)."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_idx = np.searchsorted(inner, ref, side="right")
    cur_idx = np.searchsorted(inner, cur, side="right")
    k = len(inner) + 1
    p = np.bincount(ref_idx, minlength=k) / len(ref)
    q = np.bincount(cur_idx, minlength=k) / len(cur)
    p, q = np.maximum(p, _EPS), np.maximum(q, _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def wilson_ci(successes: float, n: float, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval: honest at small n and near 0 or 1, unlike the Wald interval."""
    if n <= 0:
        return (float("nan"), float("nan"))
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_test(x1: float, n1: float, x2: float, n2: float) -> float:
    """Two-sided p-value of the pooled z-test that two proportions are equal (1.0 when undefined)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x2 / n2 - x1 / n1) / se
    return float(2 * stats.norm.sf(abs(z)))


def diff_ci(x1: float, n1: float, x2: float, n2: float, *, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's interval for p2 − p1 (hybrid Wilson): stays inside [−1, 1] and works for small counts."""
    if n1 <= 0 or n2 <= 0:
        return (float("nan"), float("nan"))
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_ci(x1, n1, level=level)
    l2, u2 = wilson_ci(x2, n2, level=level)
    d = p2 - p1
    lo = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return (lo, hi)


def chi2_pvalue(ref_counts: Any, cur_counts: Any) -> float:
    """Chi-square test of homogeneity of two count vectors over the same categories."""
    table = np.vstack([np.asarray(ref_counts, float), np.asarray(cur_counts, float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=False)[1])
