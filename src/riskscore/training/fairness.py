"""Fairness audit of the flags a care team would act on, by audit group and their intersections.

Group metrics come from fairlearn's ``MetricFrame``. Their bootstrap intervals are computed here from
weighted group sums instead of MetricFrame's own ``n_boot`` (which rebuilds a frame per replicate and
took ~8 s per grouping for 100 replicates on 10k rows): every metric is a ratio of group sums, so
a replicate is one ``bincount`` per grouping. Resampling can be clustered by student id.

Groups smaller than ``min_group_size`` stay in the table, marked ``suppressed`` with empty metrics:
reported, never dropped silently, and never shown with a figure that small numbers make meaningless
or identifying. Summary ratios use only groups with at least ``min_positives`` of the relevant
denominator, so one VSV'er in a group of 60 cannot decide a gate.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskscore.contracts import AUDIT_COLUMNS
from riskscore.errors import ConfigError, DataError

METRICS = ("selection_rate", "tpr", "fpr", "precision", "calibration_gap")
DEFAULT_COLUMNS = (*AUDIT_COLUMNS, "level")
SEP = " | "
MSG_UNKNOWN_GATE = "unknown fairness gate '{gate}': use <metric>_min or <metric>_max with metric in {known}"


@dataclass
class FairnessReport:
    """`table`: one row per (grouping, group); `summary`: the gate quantities and where they come from."""

    table: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


# --- plain metric callables for MetricFrame ------------------------------------------------------
def _rate(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def selection_rate(y_true: Any, y_pred: Any) -> float:
    """Share flagged for review."""
    y_pred = np.asarray(y_pred, dtype=float)
    return _rate(y_pred.sum(), len(y_pred))


def true_positive_rate(y_true: Any, y_pred: Any) -> float:
    """Share of the group's VSV'ers that were flagged (NaN without VSV'ers)."""
    y, f = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return _rate((y * f).sum(), y.sum())


def false_positive_rate(y_true: Any, y_pred: Any) -> float:
    """Share of the group's non-VSV'ers that were flagged."""
    y, f = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return _rate(((1 - y) * f).sum(), (1 - y).sum())


def flag_precision(y_true: Any, y_pred: Any) -> float:
    """Share of the group's flags that were VSV'ers (NaN when nobody was flagged)."""
    y, f = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return _rate((y * f).sum(), f.sum())


def calibration_gap(y_true: Any, y_pred: Any, *, prob: Any) -> float:
    """Mean predicted probability minus observed VSV rate: > 0 over-predicts the group's risk."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(prob, dtype=float)
    return float(p.mean() - y.mean()) if len(y) else float("nan")


_CALLABLES = {
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "precision": flag_precision,
    "calibration_gap": calibration_gap,
}


# --- helpers -------------------------------------------------------------------------------------
def groupings(columns: Sequence[str], *, intersections: bool = True) -> list[tuple[str, ...]]:
    """Each column alone, then every pair (gender & level, …)."""
    single = [(c,) for c in columns]
    return single + (list(itertools.combinations(columns, 2)) if intersections else [])


def _labels(audit: pd.DataFrame, cols: tuple[str, ...]) -> pd.Series:
    parts = [audit[c].astype("string").fillna("unknown") for c in cols]
    out = parts[0]
    for p in parts[1:]:
        out = out + SEP + p
    return out


def _group_sums(codes: np.ndarray, n_groups: int, y: np.ndarray, f: np.ndarray, p: np.ndarray,
                w: np.ndarray) -> dict[str, np.ndarray]:
    def bc(x: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=w * x, minlength=n_groups)

    ones = np.ones_like(y)
    return {"n": bc(ones), "pos": bc(y), "flag": bc(f), "tp": bc(y * f), "prob": bc(p)}


def _metrics_from_sums(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        neg = s["n"] - s["pos"]
        return {
            "selection_rate": np.where(s["n"] > 0, s["flag"] / s["n"], np.nan),
            "tpr": np.where(s["pos"] > 0, s["tp"] / s["pos"], np.nan),
            "fpr": np.where(neg > 0, (s["flag"] - s["tp"]) / neg, np.nan),
            "precision": np.where(s["flag"] > 0, s["tp"] / s["flag"], np.nan),
            "calibration_gap": np.where(s["n"] > 0, (s["prob"] - s["pos"]) / s["n"], np.nan),
        }


def _weights(n: int, *, n_boot: int, seed: int, groups: Any) -> list[np.ndarray]:
    from riskscore.training.evaluation import bootstrap_weights

    return list(bootstrap_weights(n, n_boot=n_boot, seed=seed, groups=groups))


# --- the audit -----------------------------------------------------------------------------------
def fairness_audit(y_true: Any, y_flag: Any, prob: Any, audit: pd.DataFrame, *, min_group_size: int = 50,
                   min_positives: int = 10, columns: Sequence[str] = DEFAULT_COLUMNS, intersections: bool = True,
                   gate_groupings: Sequence[str] | None = None, n_boot: int = 100, alpha: float = 0.05,
                   seed: int = 0, groups: Any = None) -> FairnessReport:
    """Selection rate, TPR, FPR, precision and calibration gap per group, with bootstrap intervals.

    `y_flag` are the pupils actually flagged (e.g. `evaluation.flag_top_k`); `prob` the calibrated
    probabilities. The summary's gate quantities are taken over `gate_groupings` (default: each audit
    column alone — level differs tenfold in base rate by design and is reported, not gated).
    """
    from fairlearn.metrics import MetricFrame

    y = np.asarray(y_true, dtype=float).ravel()
    f = np.asarray(y_flag, dtype=float).ravel()
    p = np.asarray(prob, dtype=float).ravel()
    if not (len(y) == len(f) == len(p) == len(audit)):
        raise DataError(f"y_true ({len(y)}), y_flag ({len(f)}), prob ({len(p)}) and audit ({len(audit)}) differ in length")
    missing = [c for c in columns if c not in audit.columns]
    if missing:
        raise DataError(f"audit frame lacks column(s) {missing}")
    audit = audit.reset_index(drop=True)
    gate_names = list(gate_groupings) if gate_groupings is not None else [c for c in AUDIT_COLUMNS if c in columns]
    weights = _weights(len(y), n_boot=n_boot, seed=seed, groups=groups)

    frames = []
    for cols in groupings(columns, intersections=intersections):
        name = "&".join(cols)
        labels = _labels(audit, cols)
        mf = MetricFrame(metrics=_CALLABLES, y_true=y, y_pred=f, sensitive_features=labels.rename(name).to_numpy(),
                         sample_params={"calibration_gap": {"prob": p}})
        by_group = mf.by_group
        codes, uniques = pd.factorize(labels, sort=True)
        sums = _group_sums(codes, len(uniques), y, f, p, np.ones_like(y))
        reps = [_metrics_from_sums(_group_sums(codes, len(uniques), y, f, p, w)) for w in weights]
        table = pd.DataFrame({"grouping": name, "group": list(uniques), "n": sums["n"].astype(int),
                              "positives": sums["pos"].astype(int)})
        table["suppressed"] = table["n"] < min_group_size
        for metric in METRICS:
            table[metric] = by_group[metric].reindex(list(uniques)).to_numpy(dtype=float)
            if reps:
                stack = np.vstack([r[metric] for r in reps])
                with warnings.catch_warnings():  # all-NaN columns (no VSV'ers in a group) stay NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    lo, hi = np.nanquantile(stack, [alpha / 2, 1 - alpha / 2], axis=0)
            else:
                lo = hi = np.full(len(uniques), np.nan)
            table[f"{metric}_ci_low"], table[f"{metric}_ci_high"] = lo, hi
        value_cols = [c for c in table.columns if c.startswith(METRICS)] + ["positives"]
        table[value_cols] = table[value_cols].astype(float)
        table.loc[table["suppressed"], value_cols] = np.nan
        frames.append(table)
    full = pd.concat(frames, ignore_index=True)
    return FairnessReport(table=full, summary=_summarise(full, gate_names, min_positives, min_group_size))


def _grouping_summary(t: pd.DataFrame, min_positives: int) -> dict[str, float]:
    ok = t[~t["suppressed"]]
    tpr = ok.loc[ok["positives"] >= min_positives, "tpr"].dropna()
    fpr = ok.loc[(ok["n"] - ok["positives"]) >= min_positives, "fpr"].dropna()
    sel = ok["selection_rate"].dropna()
    gap = ok["calibration_gap"].dropna().abs()
    return {
        "tpr_ratio": float(tpr.min() / tpr.max()) if len(tpr) >= 2 and tpr.max() > 0 else float("nan"),
        "fpr_difference": float(fpr.max() - fpr.min()) if len(fpr) >= 2 else float("nan"),
        "selection_rate_ratio": float(sel.min() / sel.max()) if len(sel) >= 2 and sel.max() > 0 else float("nan"),
        "calibration_gap": float(gap.max()) if len(gap) else float("nan"),
        "groups_compared": len(ok),
        "groups_suppressed": int(t["suppressed"].sum()),
    }


#: whether a larger value of the summary quantity is worse
_WORSE_WHEN_LARGER = {"tpr_ratio": False, "selection_rate_ratio": False, "fpr_difference": True, "calibration_gap": True}


def _summarise(table: pd.DataFrame, gate_names: list[str], min_positives: int, min_group_size: int) -> dict[str, Any]:
    by = {name: _grouping_summary(t, min_positives) for name, t in table.groupby("grouping", sort=False)}
    summary: dict[str, Any] = {"gate_groupings": gate_names, "min_group_size": min_group_size,
                               "min_positives": min_positives, "by_grouping": by, "worst_grouping": {}}
    for key, larger_is_worse in _WORSE_WHEN_LARGER.items():
        values = {g: by[g][key] for g in gate_names if g in by and math.isfinite(by[g][key])}
        if not values:
            summary[key] = float("nan")
            continue
        worst = (max if larger_is_worse else min)(values, key=values.__getitem__)
        summary[key], summary["worst_grouping"][key] = values[worst], worst
    return summary


def check_gates(report: FairnessReport, gates: dict[str, float]) -> list[str]:
    """Violated gates as readable lines; empty when all pass. A quantity that could not be measured
    (all groups suppressed or too few VSV'ers) counts as a violation: fairness unproven is not passed.

    Gate names are <quantity>_min or <quantity>_max, e.g. tpr_ratio_min: 0.8, calibration_gap_max: 0.05.
    """
    violations = []
    for gate, threshold in gates.items():
        quantity, _, bound = gate.rpartition("_")
        if quantity not in _WORSE_WHEN_LARGER or bound not in ("min", "max"):
            raise ConfigError(MSG_UNKNOWN_GATE.format(gate=gate, known=sorted(_WORSE_WHEN_LARGER)))
        value = report.summary.get(quantity, float("nan"))
        where = report.summary.get("worst_grouping", {}).get(quantity, "")
        if value is None or not math.isfinite(value):
            violations.append(f"{gate}: {quantity} could not be measured (groups too small or without VSV'ers)")
        elif bound == "min" and value < threshold:
            violations.append(f"{gate}: {quantity} {value:.3f} < {threshold:.3f} (worst: {where})")
        elif bound == "max" and value > threshold:
            violations.append(f"{gate}: {quantity} {value:.3f} > {threshold:.3f} (worst: {where})")
    return violations


def selection_rates(flags: Any, audit: pd.DataFrame, *, min_group_size: int = 50,
                    columns: Sequence[str] = DEFAULT_COLUMNS, intersections: bool = True) -> pd.DataFrame:
    """Share flagged per group, without labels — for live monitoring, where outcomes come a year late."""
    from fairlearn.metrics import MetricFrame

    f = np.asarray(flags, dtype=float).ravel()
    if len(f) != len(audit):
        raise DataError(f"flags ({len(f)}) and audit ({len(audit)}) differ in length")
    audit = audit.reset_index(drop=True)
    frames = []
    for cols in groupings([c for c in columns if c in audit.columns], intersections=intersections):
        labels = _labels(audit, cols)
        mf = MetricFrame(metrics={"selection_rate": selection_rate}, y_true=f, y_pred=f, sensitive_features=labels.to_numpy())
        counts = labels.value_counts()
        t = pd.DataFrame({"grouping": "&".join(cols), "group": mf.by_group.index.astype(str)})
        t["n"] = counts.reindex(t["group"]).to_numpy(dtype=int)
        t["selection_rate"] = mf.by_group["selection_rate"].to_numpy(dtype=float)
        t["suppressed"] = t["n"] < min_group_size
        t.loc[t["suppressed"], "selection_rate"] = np.nan
        frames.append(t)
    if not frames:
        return pd.DataFrame(columns=["grouping", "group", "n", "selection_rate", "suppressed"])
    return pd.concat(frames, ignore_index=True)


__all__ = ["FairnessReport", "calibration_gap", "check_gates", "fairness_audit", "groupings", "selection_rates"]
