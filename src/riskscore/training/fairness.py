"""Fairness audit of the flags a care team would act on, by audit group and their intersections.

Group metrics come from fairlearn's ``MetricFrame``. Their bootstrap intervals are computed here from
weighted group sums instead of MetricFrame's own ``n_boot`` (which rebuilds a frame per replicate and
took ~8 s per grouping for 100 replicates on 10k rows): every metric is a ratio of group sums, so
a replicate is one ``bincount`` per grouping. Resampling can be clustered by student id.

Groups smaller than ``min_group_size`` stay in the table, marked ``suppressed`` with empty metrics:
reported, never dropped silently, and never shown with a figure that small numbers make meaningless
or identifying. For the gate groupings each group is also compared with a reference group: the
bootstrap interval is that of the ratio or difference itself (``comparisons``), and a group with
fewer than ``min_positives`` VSV'ers is "too small to judge" for TPR. ``gates.judge`` decides.
"""

from __future__ import annotations

import itertools
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



@dataclass
class FairnessReport:
    """`table`: one row per (grouping, group); `comparisons`: each group against its grouping's
    reference group, with intervals; `summary`: what was gated, what could not be measured."""

    table: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (gate grouping, group, metric)


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


# --- column names as people write them -----------------------------------------------------------
def normalise_name(name: str) -> str:
    """Case-, space- and punctuation-insensitive key: 'Scholarship holder' == 'scholarship_holder'."""
    return "".join(ch if ch.isalnum() else "_" for ch in str(name).strip().casefold()).strip("_")


def resolve_columns(requested: Sequence[str], available: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map each requested grouping to the audit frame's own column (matched case-insensitively);
    the second value lists those that could not be found — they are reported as unmeasured."""
    by_key = {normalise_name(c): c for c in available}
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in requested:
        col = by_key.get(normalise_name(name))
        if col is None:
            missing.append(name)
        else:
            found[name] = col
    return found, missing


# --- the audit -----------------------------------------------------------------------------------
#: metrics compared against the reference group: how (ratio or difference) and what each needs
COMPARED = {"tpr": "ratio", "selection_rate": "ratio", "calibration_gap": "difference"}


def fairness_audit(y_true: Any, y_flag: Any, prob: Any, audit: pd.DataFrame, *, min_group_size: int = 50,
                   min_positives: int = 30, columns: Sequence[str] | None = None, intersections: bool = True,
                   gate_groupings: Sequence[str] | None = None, reference: dict[str, str] | None = None,
                   n_boot: int = 200, alpha: float = 0.10, seed: int = 0, groups: Any = None,
                   positives_word: str = "VSV'ers") -> FairnessReport:
    """Selection rate, TPR, FPR, precision and calibration gap per group, with bootstrap intervals,
    and — for every gate grouping — each group's ratio (TPR, selection rate) or difference
    (calibration gap) against the reference group with a bootstrap interval of that ratio/difference.

    `y_flag` are the pupils actually flagged (e.g. `evaluation.flag_top_k`); `prob` the calibrated
    probabilities. `columns` are the groupings reported (default: every audit column in `audit`);
    `gate_groupings` those that decide the gates (default: `columns`). Names are matched to the
    frame's columns case-insensitively; a gate grouping that is not there is listed in
    ``summary['unmeasured']``, never silently skipped. The reference group of a grouping is
    ``reference[grouping]`` or else its largest group.
    """
    from fairlearn.metrics import MetricFrame

    y = np.asarray(y_true, dtype=float).ravel()
    f = np.asarray(y_flag, dtype=float).ravel()
    p = np.asarray(prob, dtype=float).ravel()
    if not (len(y) == len(f) == len(p) == len(audit)):
        raise DataError(f"y_true ({len(y)}), y_flag ({len(f)}), prob ({len(p)}) and audit ({len(audit)}) differ in length")
    audit = audit.reset_index(drop=True)
    requested = list(columns) if columns is not None else [c for c in audit.columns]
    gate_requested = list(gate_groupings) if gate_groupings is not None else list(requested)
    found, missing = resolve_columns(list(dict.fromkeys([*requested, *gate_requested])), list(audit.columns))
    report_cols = [found[c] for c in requested if c in found]
    gate_cols = [found[c] for c in gate_requested if c in found]
    ref_by_col = {found[k]: v for k, v in (reference or {}).items() if k in found}
    weights = _weights(len(y), n_boot=n_boot, seed=seed, groups=groups)

    frames, comparisons = [], []
    all_groupings = groupings(list(dict.fromkeys([*report_cols, *gate_cols])), intersections=intersections)
    for cols in all_groupings:
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
            lo, hi = _percentiles(np.vstack([r[metric] for r in reps]) if reps else None, len(uniques), alpha)
            table[f"{metric}_ci_low"], table[f"{metric}_ci_high"] = lo, hi
        if len(cols) == 1 and cols[0] in gate_cols:
            comparisons.append(_compare(name, table, reps, ref_by_col.get(cols[0]), min_group_size=min_group_size,
                                        min_positives=min_positives, alpha=alpha, positives_word=positives_word))
        value_cols = [c for c in table.columns if c.startswith(METRICS)] + ["positives"]
        table[value_cols] = table[value_cols].astype(float)
        table.loc[table["suppressed"], value_cols] = np.nan
        frames.append(table)
    full = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["grouping", "group", "n", "positives", "suppressed"])
    comp = pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame(columns=COMPARISON_COLUMNS)
    summary = {"gate_groupings": gate_cols, "unmeasured": missing, "min_group_size": min_group_size,
               "min_positives": min_positives, "ci_level": 1 - alpha, "n_boot": n_boot,
               "reference": {g: str(r) for g, r in comp.groupby("grouping")["reference"].first().items()} if len(comp) else {}}
    return FairnessReport(table=full, summary=summary, comparisons=comp)


COMPARISON_COLUMNS = ["grouping", "group", "reference", "metric", "kind", "value", "reference_value", "estimate",
                      "ci_low", "ci_high", "n", "positives", "judgeable", "why_not"]


def _percentiles(stack: np.ndarray | None, n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    if stack is None or not len(stack):
        return np.full(n, np.nan), np.full(n, np.nan)
    with warnings.catch_warnings():  # all-NaN columns (no VSV'ers in a group) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(stack, [alpha / 2, 1 - alpha / 2], axis=0)
    return lo, hi


def _compare(name: str, table: pd.DataFrame, reps: list[dict[str, np.ndarray]], reference: str | None, *,
             min_group_size: int, min_positives: int, alpha: float, positives_word: str = "VSV'ers") -> pd.DataFrame:
    """Each group against the reference: the estimate and the bootstrap percentile interval of the
    ratio (or difference) itself — not two overlapping per-group intervals eyeballed side by side."""
    groups = [str(g) for g in table["group"]]
    if reference is not None and str(reference) not in groups:
        raise ConfigError(MSG_UNKNOWN_REFERENCE.format(reference=reference, grouping=name, groups=groups))
    ref = str(reference) if reference is not None else groups[int(np.argmax(table["n"].to_numpy()))]
    r = groups.index(ref)
    rows = []
    for metric, kind in COMPARED.items():
        value = table[metric].to_numpy(dtype=float)
        stack = np.vstack([rep[metric] for rep in reps]) if reps else None
        with np.errstate(invalid="ignore", divide="ignore"):
            est = value / value[r] if kind == "ratio" else value - value[r]
            boot = None if stack is None else (stack / stack[:, [r]] if kind == "ratio" else stack - stack[:, [r]])
        boot = None if boot is None else np.where(np.isfinite(boot), boot, np.nan)
        lo, hi = _percentiles(boot, len(groups), alpha) if boot is not None else (est.copy(), est.copy())
        for i, g in enumerate(groups):
            if i == r:
                continue
            why = _why_not(table, i, r, metric, min_group_size=min_group_size, min_positives=min_positives,
                           positives_word=positives_word)
            if not why and not (np.isfinite(est[i]) and np.isfinite(lo[i]) and np.isfinite(hi[i])):
                why = f"not measurable (no flags or no {positives_word} in the reference group)"
            rows.append({"grouping": name, "group": g, "reference": ref, "metric": metric, "kind": kind,
                         "value": value[i], "reference_value": value[r], "estimate": est[i], "ci_low": lo[i],
                         "ci_high": hi[i], "n": int(table["n"].iloc[i]), "positives": int(table["positives"].iloc[i]),
                         "judgeable": not why, "why_not": why})
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    out.loc[~out["judgeable"], ["value", "estimate", "ci_low", "ci_high"]] = np.nan  # too small: no figure shown
    return out


def _why_not(table: pd.DataFrame, i: int, r: int, metric: str, *, min_group_size: int, min_positives: int,
             positives_word: str = "VSV'ers") -> str:
    n, pos = table["n"].to_numpy(), table["positives"].to_numpy()
    if n[r] < min_group_size or (metric == "tpr" and pos[r] < min_positives):
        return "reference group too small to judge"
    if n[i] < min_group_size:
        return f"too small to judge (n < {min_group_size})"
    if metric == "tpr" and pos[i] < min_positives:
        return f"too small to judge (< {min_positives} {positives_word})"
    return ""


MSG_UNKNOWN_REFERENCE = "fairness.reference: '{reference}' is not a group of '{grouping}' (groups: {groups})"


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


__all__ = ["FairnessReport", "calibration_gap", "fairness_audit", "groupings", "normalise_name", "resolve_columns",
           "selection_rates"]
