"""Mitigation without scoring on a protected attribute: reweighing training rows for TPR parity.

The boundary is one function, ``training_weights``: it is the only place where audit attributes
touch model training, and what it returns is a weight per training row — a number, never an
attribute. The model is an ordinary ``AdditiveLGBM`` fitted with ``sample_weight``: it has no
audit column among its features (the guard refuses them), and the served bundle scores from the
features alone, so nothing about a pupil's group is needed — or possible — at scoring time.

How: on the calibration year, the unmitigated model's TPR per group is compared with the
reference group's. A candidate of strength ``s`` multiplies the weight of each training VSV'er of
group g by ``(TPR_ref / TPR_g) ** s`` (clipped to [0.2, 5]; over groupings the factors multiply):
under-found groups count more. Every candidate is judged on the calibration year (precision at
capacity, the fairness gate) — the accuracy–fairness front — and the configured rule picks one.
Strength 0 is the unmitigated model, always on the front. (Kamiran & Calders' reweighing, aimed at
TPR rather than base rates; fairlearn's reductions relabel rows as well as weighting them, which is
why they are not used here.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

CLIP = (0.2, 5.0)


def tpr_multipliers(comparisons: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per grouping and group: TPR_ref / TPR_g from a report's judgeable TPR comparisons (1 for the
    reference group and for groups too small to judge)."""
    out: dict[str, dict[str, float]] = {}
    if comparisons is None or not len(comparisons):
        return out
    tpr = comparisons[(comparisons["metric"] == "tpr") & comparisons["judgeable"]]
    for row in tpr.to_dict("records"):
        est = float(row["estimate"])
        if np.isfinite(est) and est > 0:
            out.setdefault(str(row["grouping"]), {})[str(row["group"])] = 1.0 / est
    return out


def training_weights(y: Any, audit: pd.DataFrame | None, multipliers: Mapping[str, Mapping[str, float]],
                     strength: float) -> np.ndarray:
    """THE boundary between audit data and training: one weight per training row, nothing else.

    Only VSV'ers (y = 1) are reweighted; everyone else keeps weight 1. Weights are normalised to
    mean 1 so the learning rate means the same for every candidate. `audit` is read here and
    nowhere else in training; no attribute leaves this function."""
    y_arr = np.asarray(y, dtype=float).ravel()
    w = np.ones(len(y_arr), dtype=np.float64)
    if audit is None or strength == 0 or not multipliers:
        return w
    for grouping, by_group in multipliers.items():
        if grouping not in audit.columns:
            continue
        labels = audit[grouping].astype(str).to_numpy()
        factor = np.array([by_group.get(g, 1.0) for g in labels], dtype=np.float64) ** float(strength)
        w *= np.where(y_arr == 1, np.clip(factor, *CLIP), 1.0)
    return w * (len(w) / w.sum())


@dataclass
class Candidate:
    strength: float
    model: Any
    precision: float
    roc_auc: float
    worst_tpr_ratio: float
    worst_tpr_ratio_low: float
    verdict: str


def choose(candidates: Sequence[Candidate], rule: str = "most_precise_passing") -> tuple[int, str]:
    """Index of the chosen candidate and what happened, in words that are true for this front: never
    'no candidate passes' when no candidate's fairness could be measured at all."""
    passing = [i for i, c in enumerate(candidates) if c.verdict == "pass"]
    if passing:
        best = max(passing, key=lambda i: (candidates[i].precision, -candidates[i].strength))
        return best, "the most precise candidate whose fairness gate passes on the calibration year"
    if not any(np.isfinite(c.worst_tpr_ratio_low) for c in candidates):
        first = min(range(len(candidates)), key=lambda i: candidates[i].strength)
        return first, ("no candidate's TPR could be judged for any group on the calibration fold (every group too small), "
                       "so none was preferred: the unmitigated model is used — fairness is unmeasured, not shown")
    not_failing = [i for i, c in enumerate(candidates) if c.verdict != "fail"]
    pool = not_failing or list(range(len(candidates)))

    def key(i: int) -> tuple[float, float]:
        low = candidates[i].worst_tpr_ratio_low
        return (low if np.isfinite(low) else -1.0, candidates[i].precision)

    best = max(pool, key=key)
    verdicts = ", ".join(f"strength {c.strength:g}: {c.verdict}" for c in candidates)
    some_unmeasured = any(c.verdict == "unmeasured" for c in candidates)
    least = ("the least unfair one (highest lower bound of the worst TPR ratio among the groups that could be judged)"
             if some_unmeasured else "the least unfair one (highest lower bound of the worst TPR ratio)")
    what = (f"no candidate passes ({verdicts}); {least} that does not fail" if not_failing else
            f"every candidate fails ({verdicts}); {least} — it will not pass the gate")
    return best, what


def not_run(unmitigated: Candidate, *, min_positives: int, word: str = "VSV'ers") -> str:
    """Why reweighing did not run: there was nothing to correct, or nothing could be measured."""
    if unmitigated.verdict == "pass":
        return "not needed: the unmitigated model passes the fairness gate on the calibration fold"
    return (f"did not run: no group's TPR could be judged against its reference on the calibration fold (fewer than "
            f"{min_positives} {word} per group), so there was nothing to reweigh; the unmitigated model is used "
            f"(calibration-fold verdict: {unmitigated.verdict})")


def front_table(candidates: Sequence[Candidate], chosen: int) -> pd.DataFrame:
    return pd.DataFrame([{"strength": c.strength, "precision_at_capacity": c.precision, "roc_auc": c.roc_auc,
                          "worst_tpr_ratio": c.worst_tpr_ratio, "worst_tpr_ratio_ci_low": c.worst_tpr_ratio_low,
                          "gate": c.verdict, "chosen": i == chosen} for i, c in enumerate(candidates)])


__all__ = ["Candidate", "choose", "front_table", "not_run", "tpr_multipliers", "training_weights"]
