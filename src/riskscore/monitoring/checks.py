"""Monitoring: does the model still see the world it was trained on, and does it still treat groups alike?

Amsterdam's "Slimme Check" passed every bias test before launch and drifted into bias in use, so the
checks here run on every scoring run, not once:

* feature drift (drift.py, evidently) — a feature whose distribution moved: check its data feed;
* score drift — PSI of the calibrated probability and the shift of band shares: retrain when it persists;
* fairness without labels — the flag (selection) rate per audit group and level, and its change since
  the reference, judged with a significance test *and* an effect size so noise does not alert;
* with outcomes (VSV labels a year later) — precision, recall and calibration, overall and per group,
  with confidence intervals and a minimum group size; with review outcomes — the share of flags a
  reviewer found worth a conversation;
* breakdowns per school and RMC region — one school's flag rate jumping is usually its registration.

A *scored frame* (reference or current) is one row per pupil with `probability` and `band`, and where
available the model features, `level`, the audit columns (joined from students, never model inputs),
`school_id`, `rmc_region`, `student_id`, `as_of`, `flagged` and `label`. The champion's reference has
no `student_id` and no audit column per row: its audit groups come as counts per (column, group, band)
(*reference group counts*, the bundle's reference_groups.parquet), used for any fairness column the
reference rows lack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from riskscore.errors import DataError
from riskscore.monitoring.config import BANDS, MonitoringConfig, load_config
from riskscore.monitoring.stats import chi2_pvalue, diff_ci, psi, wilson_ci
from riskscore.monitoring.verdicts import (
    BAND_WORDS,
    METRIC_WORDS,
    change,
    check_word,
    compared,
    dec,
    finding,
    moved,
    p_value,
    share,
)

__all__ = [
    "Breach",
    "MonitoringConfig",
    "Verdict",
    "attach_outcomes",
    "group_counts",
    "load_config",
    "recommendations",
    "review_checks",
    "run_monitoring",
    "selection_rate_changes",
]

MSG_FRAME_COLUMNS = "{which} frame lacks required column(s) {missing}"
MSG_FRAME_VALUES = "{which} frame: {details}"
MSG_GROUP_COUNTS = "reference group counts: {details}"
REQUIRED = ("probability", "band")
GROUP_COUNT_COLUMNS = ("column", "group", "band", "n")
ALL_BANDS = "all"
TOO_SMALL = "too small in the reference"


@dataclass(frozen=True)
class Breach:
    """One threshold crossed, and what a person should do about it — in English (``message``,
    ``action``) and Dutch (``message_nl``, ``action_nl``), with the numbers that crossed it."""

    check: str  # feature_drift | score_drift | band_shift | fairness | performance | calibration | breakdown | review
    subject: str  # the feature, group or unit concerned
    severity: str  # "alert" makes the CLI exit non-zero; "warn" is shown but does not
    message: str
    action: str
    message_nl: str = ""
    action_nl: str = ""

    def to_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("check", "subject", "severity", "message", "action", "message_nl",
                                              "action_nl")}


def _breach(check: str, subject: str, severity: str, kind: str, **params: Any) -> Breach:
    """A finding with its sentences in both languages (monitoring.verdicts writes them from the numbers)."""
    f = finding(kind, **params)
    return Breach(check, subject, severity, f.message_en, f.action_en, f.message_nl, f.action_nl)


@dataclass
class Verdict:
    """Everything a run found: breaches, a JSON-ready summary and the tables behind it (for the report)."""

    breaches: list[Breach]
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    drift: Any = None  # drift.DriftResult, kept for evidently's HTML

    @property
    def alerts(self) -> list[Breach]:
        return [b for b in self.breaches if b.severity == "alert"]

    @property
    def status(self) -> str:
        if self.alerts:
            return "alert"
        return "warn" if self.breaches else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "breaches": [b.to_dict() for b in self.breaches], **self.summary}


# --- preparing frames ----------------------------------------------------------------------------
def _prepare(frame: pd.DataFrame, which: str, config: MonitoringConfig) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise DataError(MSG_FRAME_COLUMNS.format(which=which, missing=missing))
    if len(frame) == 0:
        raise DataError(MSG_FRAME_VALUES.format(which=which, details="no rows"))
    out = frame.reset_index(drop=True).copy()
    prob = pd.to_numeric(out["probability"], errors="coerce")
    if prob.isna().any() or ((prob < 0) | (prob > 1)).any():
        raise DataError(MSG_FRAME_VALUES.format(which=which, details="probability must be a number in [0, 1]"))
    out["probability"] = prob.astype(float)
    bad = sorted(set(out["band"].astype(str)) - set(BANDS))
    if bad:
        raise DataError(MSG_FRAME_VALUES.format(which=which, details=f"unknown band(s) {bad}"))
    if "flagged" not in out:
        out["flagged"] = out["band"].isin(config.flag.bands)
    out["flagged"] = out["flagged"].astype(bool)
    return out


def attach_outcomes(frame: pd.DataFrame, outcomes: pd.DataFrame, *, horizon_days: int = 365) -> pd.DataFrame:
    """Add `label` (became VSV within the horizon after as_of) from an outcomes table.

    Accepts either a `label` column per student (and as_of, when given) or the raw outcomes table
    (student_id, vsv_date), for which the frame needs `as_of`. Students absent from outcomes did not leave."""
    if "student_id" not in frame or "student_id" not in outcomes:
        raise DataError("outcomes: both the scored frame and the outcomes need student_id")
    out = frame.copy()
    if "label" in outcomes:
        keys = ["student_id", "as_of"] if "as_of" in outcomes and "as_of" in out else ["student_id"]
        lab = outcomes[[*keys, "label"]].drop_duplicates(keys)
        out = out.drop(columns=["label"], errors="ignore").merge(lab, on=keys, how="left")
        out["label"] = out["label"].fillna(False).astype(bool)
        return out
    if "vsv_date" not in outcomes or "as_of" not in out:
        raise DataError("outcomes: need a label column, or vsv_date with an as_of column on the scored frame")
    first = outcomes.groupby("student_id")["vsv_date"].min()
    vsv = pd.to_datetime(out["student_id"].map(first))
    as_of = pd.to_datetime(out["as_of"])
    out["label"] = ((vsv > as_of) & (vsv <= as_of + pd.Timedelta(days=horizon_days))).fillna(False).astype(bool)
    return out


def group_counts(table: pd.DataFrame, flag_bands: Sequence[str]) -> pd.DataFrame:
    """Flagged pupils and pupils per (column, group) from reference group counts (column, group, band, n;
    band low/medium/high or "all" for the whole group; n empty where suppressed), for the bands that count
    as flagged now.

    The numbers come from the stored counts where these allow it: the bands' sum, or the group's "all"
    (minus the bands that are not flagged, for the flagged). Otherwise they are NaN: the group is too small in the reference."""
    missing = [c for c in GROUP_COUNT_COLUMNS if c not in table]
    if missing:
        raise DataError(MSG_GROUP_COUNTS.format(details=f"lacks column(s) {missing}"))
    cells = table[list(GROUP_COUNT_COLUMNS)].astype({"column": str, "group": str, "band": str})
    bad = sorted(set(cells["band"]) - {*BANDS, ALL_BANDS})
    if bad:
        raise DataError(MSG_GROUP_COUNTS.format(details=f"unknown band(s) {bad}"))
    if cells.duplicated(["column", "group", "band"]).any():
        raise DataError(MSG_GROUP_COUNTS.format(details="a (column, group, band) appears twice"))
    cells["n"] = pd.to_numeric(cells["n"], errors="coerce").astype(float)
    if (cells["n"] < 0).any():
        raise DataError(MSG_GROUP_COUNTS.format(details="a count is negative"))
    flagged_bands = [b for b in BANDS if b in flag_bands]
    other_bands = [b for b in BANDS if b not in flag_bands]
    rows = []
    for (col, group), g in cells.groupby(["column", "group"], sort=True):
        v = g.set_index("band")["n"].reindex([*BANDS, ALL_BANDS])  # a missing or suppressed cell is NaN
        flagged = n = float("nan")
        if v[list(BANDS)].notna().all():
            flagged, n = float(v[flagged_bands].sum()), float(v[list(BANDS)].sum())
        elif pd.notna(v[ALL_BANDS]) and v[other_bands].notna().all():
            flagged, n = float(v[ALL_BANDS] - v[other_bands].sum()), float(v[ALL_BANDS])
        elif pd.notna(v[ALL_BANDS]) and v[flagged_bands].notna().all():
            flagged, n = float(v[flagged_bands].sum()), float(v[ALL_BANDS])
        rows.append({"column": col, "group": group, "flagged": flagged, "n": n})
    return pd.DataFrame(rows, columns=["column", "group", "flagged", "n"])


# --- score drift -------------------------------------------------------------------------------
def score_drift(
    ref: pd.DataFrame, cur: pd.DataFrame, config: MonitoringConfig
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, list[Breach]]:
    """PSI of the calibrated probability and the change of band shares (the reviewers' workload)."""
    sc = config.score_drift
    value = psi(ref["probability"], cur["probability"], bins=sc.psi_bins)
    rc = ref["band"].value_counts().reindex(BANDS, fill_value=0)
    cc = cur["band"].value_counts().reindex(BANDS, fill_value=0)
    bands = pd.DataFrame({
        "band": list(BANDS), "n_ref": rc.to_numpy(), "n_cur": cc.to_numpy(),
        "share_ref": (rc / rc.sum()).to_numpy(), "share_cur": (cc / cc.sum()).to_numpy(),
    })
    bands["change"] = bands["share_cur"] - bands["share_ref"]
    p_band = chi2_pvalue(rc.to_numpy(), cc.to_numpy())
    breaches: list[Breach] = []
    if value >= sc.psi_alert:
        breaches.append(_breach("score_drift", "probability", "alert", "psi_alert", psi=float(value),
                                limit=dec(sc.psi_alert)))
    elif value >= sc.psi_warn:
        breaches.append(_breach("score_drift", "probability", "warn", "psi_warn", psi=float(value),
                                limit=dec(sc.psi_warn)))
    worst = bands.loc[bands["change"].abs().idxmax()]
    if p_band < sc.band_alpha and abs(worst["change"]) >= sc.band_min_change:
        breaches.append(_breach(
            "band_shift", str(worst["band"]), "alert", "band_shift", band=BAND_WORDS.get(str(worst["band"]),
                                                                                         (str(worst["band"]),) * 2),
            ref=share(float(worst["share_ref"])), cur=share(float(worst["share_cur"])),
            change=change(float(worst["change"])), p=p_value(float(p_band))))
    top = max(float(ref["probability"].quantile(0.995)), float(cur["probability"].quantile(0.995)), 1e-6)
    edges = np.linspace(0.0, top, 31)
    hist = pd.DataFrame({
        "left": edges[:-1], "right": edges[1:],
        "share_ref": np.histogram(ref["probability"].clip(upper=top), bins=edges)[0] / len(ref),
        "share_cur": np.histogram(cur["probability"].clip(upper=top), bins=edges)[0] / len(cur),
    })
    summary = {"psi": value, "psi_warn": sc.psi_warn, "psi_alert": sc.psi_alert, "band_p_value": p_band, "mean_probability_ref": float(ref["probability"].mean()),
               "mean_probability_cur": float(cur["probability"].mean()),
               "bands": bands.to_dict("records")}
    return summary, bands, hist, breaches


# --- selection rates (fairness without labels; breakdowns) -------------------------------------------
def _log_rr_var(x1: float, n1: float, x2: float, n2: float) -> float:
    """Delta-method variance of log(p2/p1), with 0.5 added to the counts so empty cells stay finite."""
    return (1 / (x1 + 0.5) - 1 / (n1 + 0.5)) + (1 / (x2 + 0.5) - 1 / (n2 + 0.5))


def _log_rr(x1: float, n1: float, x2: float, n2: float) -> float:
    return math.log((x2 + 0.5) / (n2 + 0.5)) - math.log((x1 + 0.5) / (n1 + 0.5))


def selection_rate_changes(
    ref: pd.DataFrame, cur: pd.DataFrame, columns: list[str], *, min_group_size: int, alpha: float,
    min_ratio_change: float, min_abs_change: float, ci_level: float = 0.95, ref_counts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Flag rate per group value now and in the reference, with a Newcombe CI of the change.

    A change `alerts` only when (1) both samples reach min_group_size, (2) the group's rate moved out of
    proportion with everybody else's: the ratio (cur/ref of the group) / (cur/ref of the rest) is at
    least min_ratio_change (or at most its inverse) and significant after Bonferroni over every value
    tested (z-test on the log ratio of ratios), and (3) the group's own change is at least
    min_abs_change. A surge that lifts every group alike is drift — other checks catch it — not
    unfairness; testing against the rest (not the overall rate, which contains the group) keeps that apart.

    A column the reference rows lack is taken from `ref_counts` (`group_counts`: flagged and n per column
    and group of the reference); a group whose counts are suppressed there is shown "too small in the
    reference", not tested."""
    tot_x1, tot_n1 = float(ref["flagged"].sum()), float(len(ref))
    tot_x2, tot_n2 = float(cur["flagged"].sum()), float(len(cur))
    rows = []
    for col in columns:
        if col not in cur:
            continue
        if col in ref:
            r = ref.groupby(ref[col].astype(str))["flagged"].agg(["sum", "count"])
        elif ref_counts is not None and (ref_counts["column"] == col).any():
            r = (ref_counts[ref_counts["column"] == col].set_index("group")[["flagged", "n"]]
                 .rename(columns={"flagged": "sum", "n": "count"}))
        else:
            continue
        c = cur.groupby(cur[col].astype(str))["flagged"].agg(["sum", "count"])
        for value in sorted(set(r.index) | set(c.index)):
            x1, n1 = (float(r.loc[value, "sum"]), float(r.loc[value, "count"])) if value in r.index else (0.0, 0.0)
            x2, n2 = (float(c.loc[value, "sum"]), float(c.loc[value, "count"])) if value in c.index else (0.0, 0.0)
            suppressed = math.isnan(x1) or math.isnan(n1)
            if suppressed:
                x1, n1 = 0.0, 0.0  # unknown: neither compared nor tested
            tested = bool(n1 >= min_group_size and n2 >= min_group_size)
            lo, hi = diff_ci(x1, n1, x2, n2, level=ci_level) if not suppressed else (float("nan"), float("nan"))
            row = {
                "column": col, "group": value, "n_ref": pd.NA if suppressed else int(n1), "n_cur": int(n2),
                "rate_ref": x1 / n1 if n1 else float("nan"), "rate_cur": x2 / n2 if n2 else float("nan"),
                "change_lo": lo, "change_hi": hi, "ratio": float("nan"), "relative_to_rest": float("nan"),
                "p_value": float("nan"), "tested": tested, "note": TOO_SMALL if suppressed else "",
            }
            row["change"] = row["rate_cur"] - row["rate_ref"]
            if n1 and n2:
                row["ratio"] = math.exp(_log_rr(x1, n1, x2, n2))
            rx1, rn1, rx2, rn2 = tot_x1 - x1, tot_n1 - n1, tot_x2 - x2, tot_n2 - n2
            if tested and rn1 > 0 and rn2 > 0:
                did = _log_rr(x1, n1, x2, n2) - _log_rr(rx1, rn1, rx2, rn2)
                se = math.sqrt(_log_rr_var(x1, n1, x2, n2) + _log_rr_var(rx1, rn1, rx2, rn2))
                row["relative_to_rest"] = math.exp(did)
                row["p_value"] = float(2 * stats.norm.sf(abs(did) / se)) if se > 0 else 1.0
            rows.append(row)
    cols = ["column", "group", "n_ref", "n_cur", "rate_ref", "rate_cur", "change", "change_lo", "change_hi",
            "ratio", "relative_to_rest", "p_value", "tested", "alert", "note"]
    if not rows:
        return pd.DataFrame(columns=cols)
    table = pd.DataFrame(rows)
    table["n_ref"] = table["n_ref"].astype("Int64")
    n_tests = max(1, int(table["tested"].sum()))
    rel = table["relative_to_rest"]
    table["alert"] = (
        table["tested"] & (table["p_value"] < alpha / n_tests) & (table["change"].abs() >= min_abs_change)
        & ((rel >= min_ratio_change) | (rel <= 1 / min_ratio_change))
    ).fillna(False).astype(bool)
    return table[cols]


def _fairness_breaches(table: pd.DataFrame) -> list[Breach]:
    out = []
    for row in table[table["alert"]].itertuples():
        out.append(_breach(
            "fairness", f"{row.column}={row.group}", "alert", "fairness", group=f"{row.column}={row.group}",
            moved=moved(float(row.change)), compared=compared(float(row.change), float(row.relative_to_rest)), ref=share(float(row.rate_ref)), cur=share(float(row.rate_cur)),
            change=change(float(row.change)), relative=dec(float(row.relative_to_rest), 2),
            p=p_value(float(row.p_value)), n=int(row.n_cur)))
    return out


def _breakdown_breaches(table: pd.DataFrame) -> list[Breach]:
    out = []
    for row in table[table["alert"]].itertuples():
        out.append(_breach(
            "breakdown", f"{row.column}={row.group}", "alert", "breakdown", group=f"{row.column}={row.group}",
            moved=moved(float(row.change)), ref=share(float(row.rate_ref)), cur=share(float(row.rate_cur)),
            change=change(float(row.change)), p=p_value(float(row.p_value)), n=int(row.n_cur)))
    return out


# --- feature drift -----------------------------------------------------------------------------
def _feature_drift(ref: pd.DataFrame, cur: pd.DataFrame, config: MonitoringConfig) -> tuple[Any, list[Breach], dict[str, Any]]:
    from riskscore.monitoring import drift

    fc = config.feature_drift
    breaches: list[Breach] = []
    sparse, missing = [], []
    usable = []
    for c in fc.columns:
        if c not in cur and c in ref:
            missing.append(c)
        elif c in ref and c in cur:
            if ref[c].notna().sum() >= fc.min_non_null and cur[c].notna().sum() >= fc.min_non_null:
                usable.append(c)
            else:
                sparse.append(c)
    for c in missing:
        breaches.append(_breach("feature_drift", c, "alert", "feature_missing", feature=c))
    info: dict[str, Any] = {"too_sparse": sparse, "missing": missing, "columns": []}
    if not usable:
        return None, breaches, info
    result = drift.feature_drift(
        ref, cur, columns=usable, categorical=[c for c in fc.categorical if c in usable],
        num_method=fc.num_method, num_threshold=fc.num_threshold, cat_method=fc.cat_method,
        cat_threshold=fc.cat_threshold, per_column_threshold=fc.per_column_threshold,
        drift_share=fc.dataset_drift_share,
    )
    for row in result.per_column[result.per_column["drifted"]].itertuples():
        breaches.append(_breach("feature_drift", str(row.column), "alert", "feature_drifted", feature=str(row.column),
                                method=str(row.method), score=float(row.score), threshold=dec(float(row.threshold))))
    if result.dataset_drifted:
        breaches.append(_breach("feature_drift", "dataset", "alert", "dataset_drift",
                                share=share(float(result.share_drifted)), limit=share(float(result.drift_share))))
    info.update(result.to_dict())
    return result, breaches, info


# --- outcomes ----------------------------------------------------------------------------------
def _counts(y: np.ndarray, f: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"n": len(y), "positives": float(y.sum()), "flagged": float(f.sum()), "tp": float((y & f).sum()),
            "fp": float((~y & f).sum()), "expected": float(p.sum())}


def _rates(c: dict[str, float], level: float) -> dict[str, float]:
    """Precision, TPR, FPR and observed/expected with Wilson intervals from counts."""
    out: dict[str, float] = {}
    negatives = c["n"] - c["positives"]
    for name, x, n in (("precision", c["tp"], c["flagged"]), ("tpr", c["tp"], c["positives"]), ("fpr", c["fp"], negatives)):
        out[name] = x / n if n else float("nan")
        out[f"{name}_lo"], out[f"{name}_hi"] = wilson_ci(x, n, level=level)
    out["observed_rate"] = c["positives"] / c["n"] if c["n"] else float("nan")
    out["expected_rate"] = c["expected"] / c["n"] if c["n"] else float("nan")
    lo, hi = wilson_ci(c["positives"], c["n"], level=level)
    e = out["expected_rate"]
    out["calibration_ratio"] = out["observed_rate"] / e if e else float("nan")
    out["calibration_lo"], out["calibration_hi"] = (lo / e, hi / e) if e else (float("nan"), float("nan"))
    return out


def outcome_checks(cur: pd.DataFrame, config: MonitoringConfig) -> tuple[dict[str, Any], pd.DataFrame, list[Breach]]:
    """Precision of flags, recall, calibration; per group TPR/FPR/precision gaps against the rest.

    Group counts go through fairlearn's MetricFrame (house style); intervals are Wilson / Newcombe."""
    from fairlearn.metrics import MetricFrame

    oc = config.outcome_checks
    y = cur["label"].astype(bool).to_numpy()
    f = cur["flagged"].to_numpy()
    p = cur["probability"].to_numpy()
    overall = {**_counts(y, f, p)}
    overall.update(_rates(overall, oc.ci_level))
    breaches: list[Breach] = []
    if overall["flagged"] and overall["precision_hi"] < oc.min_precision:
        breaches.append(_breach("performance", "precision", "alert", "precision", value=share(overall["precision"]),
                                hi=share(overall["precision_hi"]), limit=share(oc.min_precision)))
    if overall["positives"] and overall["tpr_hi"] < oc.min_recall:
        breaches.append(_breach("performance", "recall", "alert", "recall", value=share(overall["tpr"]),
                                hi=share(overall["tpr_hi"]), limit=share(oc.min_recall)))
    if overall["positives"] and (overall["calibration_lo"] > oc.max_calibration_ratio
                                 or overall["calibration_hi"] < 1 / oc.max_calibration_ratio):
        breaches.append(_breach("calibration", "overall", "alert", "calibration",
                                observed=share(overall["observed_rate"]), expected=share(overall["expected_rate"])))
    metrics = {"tp": lambda yt, yp: float((yt & yp).sum()), "fp": lambda yt, yp: float((~yt & yp).sum()),
               "positives": lambda yt, yp: float(yt.sum()), "flagged": lambda yt, yp: float(yp.sum()),
               "n": lambda yt, yp: float(len(yt))}
    rows = []
    for col in config.fairness.groups:
        if col not in cur:
            continue
        groups = cur[col].astype(str).to_numpy()
        mf = MetricFrame(metrics=metrics, y_true=y, y_pred=f, sensitive_features=pd.Series(groups, name=col))
        expected = pd.Series(p).groupby(groups).sum()
        for value, g in mf.by_group.iterrows():
            gc = {k: float(g[k]) for k in metrics} | {"expected": float(expected[value])}
            rest = {k: overall[k] - gc[k] for k in ("n", "positives", "flagged", "tp", "fp", "expected")}
            row: dict[str, Any] = {"column": col, "group": value, **gc, **_rates(gc, oc.ci_level),
                                   "tested": gc["n"] >= oc.min_group_size and rest["n"] >= oc.min_group_size}
            for name, x, n, rx, rn in (
                ("tpr", gc["tp"], gc["positives"], rest["tp"], rest["positives"]),
                ("fpr", gc["fp"], gc["n"] - gc["positives"], rest["fp"], rest["n"] - rest["positives"]),
                ("precision", gc["tp"], gc["flagged"], rest["tp"], rest["flagged"]),
            ):
                lo, hi = diff_ci(rx, rn, x, n, level=oc.ci_level) if n >= 5 and rn >= 5 else (float("nan"), float("nan"))
                row[f"{name}_gap_lo"], row[f"{name}_gap_hi"] = lo, hi
                if row["tested"] and not math.isnan(lo) and (lo > oc.max_gap or hi < -oc.max_gap):
                    breaches.append(_breach(
                        "fairness", f"{col}={value}", "alert", "outcome_gap", group=f"{col}={value}",
                        metric=METRIC_WORDS[name], lo=change(lo), hi=change(hi), limit=share(oc.max_gap)))
            rows.append(row)
    return overall, pd.DataFrame(rows), breaches


REVIEW_GROUPS = ("role", "reason_kind", "band", "rmc_region")


def review_checks(reviews: pd.DataFrame, config: MonitoringConfig, *, current: pd.DataFrame | None = None
                  ) -> tuple[dict[str, Any], pd.DataFrame, list[Breach]]:
    """Share of reviewed flags a reviewer found worth a conversation (the weekly, label-free precision),
    overall and per group: the case's role, reason kind (rule or model), band and RMC region, and — joined
    from the current scored frame by student_id — the audit groups and level."""
    if "worth_conversation" not in reviews:
        raise DataError("review outcomes need a worth_conversation column")
    oc = config.outcome_checks
    reviews = reviews.copy()
    reviews["worth_conversation"] = reviews["worth_conversation"].astype(bool)
    w = reviews["worth_conversation"]
    lo, hi = wilson_ci(float(w.sum()), float(len(w)), level=oc.ci_level)
    info = {"n": len(w), "worth_conversation": float(w.mean()) if len(w) else float("nan"), "lo": lo, "hi": hi}
    breaches = []
    if len(w) and hi < oc.min_review_precision:
        breaches.append(_breach("review", "worth_conversation", "alert", "review_overall",
                                value=share(info["worth_conversation"]), hi=share(hi)))
    groups = [c for c in REVIEW_GROUPS if c in reviews]
    if current is not None and "student_id" in reviews and "student_id" in current:
        extra = [c for c in config.fairness.groups if c in current and c not in reviews]
        if extra:
            audit = current[["student_id", *extra]].drop_duplicates("student_id")
            reviews = reviews.merge(audit, on="student_id", how="left")
            for c in extra:
                reviews[c] = reviews[c].fillna("unknown")
            groups += extra
    rows = []
    for col in groups:
        for value, g in reviews.groupby(reviews[col].astype(str)):
            x, n = float(g["worth_conversation"].sum()), float(len(g))
            glo, ghi = wilson_ci(x, n, level=oc.ci_level)
            tested = n >= oc.min_group_size
            alert = bool(tested and ghi < oc.min_review_precision)
            rows.append({"column": col, "group": value, "n": int(n), "worth_conversation": x / n if n else float("nan"),
                         "lo": glo, "hi": ghi, "tested": tested, "alert": alert})
            if alert:
                breaches.append(_breach("review", f"{col}={value}", "alert", "review_group", group=f"{col}={value}",
                                        value=share(x / n), hi=share(ghi), n=int(n)))
    by_group = pd.DataFrame(rows, columns=["column", "group", "n", "worth_conversation", "lo", "hi", "tested", "alert"])
    return info, by_group, breaches


# --- what to do ----------------------------------------------------------------------------------
#: the to-do kinds, in the order a person should work through them: data first, then groups, then the model
ACTION_TEXTS: dict[str, tuple[str, str]] = {
    "check_data_feed": ("Check the data feed: {subjects}. A changed registration practice or a broken export "
                        "looks like drift; fix the feed before retraining.",
                        "Controleer de gegevensaanlevering: {subjects}. Een andere registratiepraktijk of een "
                        "kapotte export lijkt op drift; herstel de aanlevering vóór hertrainen."),
    "investigate_group": ("Investigate group(s) {subjects}: is their absence recorded differently (school, region, "
                          "registration practice)? Give their flags an extra review until explained.",
                          "Onderzoek groep(en) {subjects}: wordt hun verzuim anders geregistreerd (school, regio, "
                          "registratiepraktijk)? Geef hun signalen extra controle tot dit verklaard is."),
    "retrain": ("Retrain on recent data ({subjects}), then promote only if the new model passes the gates: "
                "riskscore train --data … && riskscore promote.",
                "Hertrain op recente gegevens ({subjects}) en promoveer alleen als het nieuwe model de poorten "
                "haalt: riskscore train --data … && riskscore promote."),
    "recalibrate": ("Recalibrate (or retrain): predicted and observed VSV rates differ ({subjects}).",
                    "Herkalibreer (of hertrain): voorspelde en werkelijke VSV-percentages verschillen ({subjects})."),
}
_KIND_OF_CHECK = {"fairness": "investigate_group", "breakdown": "check_data_feed", "score_drift": "retrain",
                  "band_shift": "retrain", "performance": "retrain", "calibration": "recalibrate", "review": "retrain"}


def recommendations(breaches: list[Breach]) -> list[dict[str, Any]]:
    """The alerts folded into a short to-do list (kind, subjects, text_en, text_nl), data feeds first.

    A drifted feature is first a data-feed question; only the dataset-wide drift says retrain. Subjects
    are features and groups by their codes; a check named as a subject (retrain after score drift) is
    named in the text's own language."""
    subjects: dict[str, list[tuple[str, str]]] = {}
    for b in breaches:
        if b.severity != "alert":
            continue
        if b.check == "feature_drift":
            kind = "retrain" if b.subject == "dataset" else "check_data_feed"
            subject = (check_word("feature_drift", "en"), check_word("feature_drift", "nl")) if b.subject == "dataset" \
                else (b.subject, b.subject)
        elif b.check == "review" and "=" in b.subject:
            kind, subject = "investigate_group", (b.subject, b.subject)
        else:
            kind = _KIND_OF_CHECK.get(b.check, "retrain")
            subject = (b.subject, b.subject) if kind != "retrain" else (check_word(b.check, "en"),
                                                                         check_word(b.check, "nl"))
        bucket = subjects.setdefault(kind, [])
        if subject not in bucket:
            bucket.append(subject)
    out = []
    for kind, (en, nl) in ACTION_TEXTS.items():
        if kind in subjects:
            out.append({"kind": kind, "subjects": [e for e, _ in subjects[kind]],
                        "text_en": en.format(subjects=", ".join(e for e, _ in subjects[kind])),
                        "text_nl": nl.format(subjects=", ".join(n for _, n in subjects[kind]))})
    return out


# --- the run -----------------------------------------------------------------------------------
def run_monitoring(
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    *,
    config: MonitoringConfig,
    outcomes: pd.DataFrame | None = None,
    reviews: pd.DataFrame | None = None,
    reference_groups: pd.DataFrame | None = None,
) -> Verdict:
    """Run every check that the data allows and collect the breaches with what to do about each.

    `reference_groups`: the reference's counts per (audit column, group, band), for the fairness columns
    the reference rows lack (the champion's reference rows carry no audit column)."""
    ref = _prepare(reference_frame, "reference", config)
    cur = _prepare(current_frame, "current", config)
    if outcomes is not None:
        cur = attach_outcomes(cur, outcomes, horizon_days=config.outcome_checks.horizon_days)
    breaches: list[Breach] = []
    tables: dict[str, pd.DataFrame] = {}

    drift_result, fd_breaches, fd_info = _feature_drift(ref, cur, config)
    breaches += fd_breaches
    if drift_result is not None:
        tables["feature_drift"] = drift_result.per_column

    sd_info, bands, hist, sd_breaches = score_drift(ref, cur, config)
    breaches += sd_breaches
    tables["bands"], tables["probability_hist"] = bands, hist

    fc = config.fairness
    ref_counts = group_counts(reference_groups, config.flag.bands) if reference_groups is not None else None
    sel = selection_rate_changes(ref, cur, fc.groups, min_group_size=fc.min_group_size, alpha=fc.alpha,
                                 min_ratio_change=fc.min_ratio_change, min_abs_change=fc.min_abs_change,
                                 ref_counts=ref_counts)
    in_counts = set(ref_counts["column"]) if ref_counts is not None else set()
    not_compared = [c for c in fc.groups if c in cur and c not in ref and c not in in_counts]
    tables["selection"] = sel
    breaches += _fairness_breaches(sel)

    bc = config.breakdowns
    bd = selection_rate_changes(ref, cur, bc.columns, min_group_size=bc.min_group_size, alpha=bc.alpha,
                                min_ratio_change=bc.min_ratio_change, min_abs_change=bc.min_abs_change)
    tables["breakdowns"] = bd
    breaches += _breakdown_breaches(bd)

    summary: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": config.model_version,
        "n_reference": len(ref), "n_current": len(cur),
        "as_of_reference": _as_of(ref), "as_of_current": _as_of(cur),
        "flag_rate_reference": float(ref["flagged"].mean()), "flag_rate_current": float(cur["flagged"].mean()),
        "feature_drift": fd_info, "score_drift": sd_info,
        "fairness": {"tested_groups": int(sel["tested"].sum()) if len(sel) else 0,
                     "alerts": int(sel["alert"].sum()) if len(sel) else 0,
                     "too_small_in_reference": [f"{r.column}={r.group}" for r in sel.itertuples() if r.note == TOO_SMALL],
                     "not_in_reference": not_compared},
        "breakdowns": {"tested_units": int(bd["tested"].sum()) if len(bd) else 0,
                       "alerts": int(bd["alert"].sum()) if len(bd) else 0},
    }
    if "label" in cur:
        overall, by_group, oc_breaches = outcome_checks(cur, config)
        breaches += oc_breaches
        tables["outcomes_by_group"] = by_group
        summary["outcomes"] = overall
    if reviews is not None:
        info, rv_table, rv_breaches = review_checks(reviews, config, current=cur)
        breaches += rv_breaches
        tables["reviews_by_group"] = rv_table
        summary["reviews"] = info
    summary["actions"] = recommendations(breaches)
    return Verdict(breaches=breaches, summary=_jsonable(summary), tables=tables, drift=drift_result)


def _as_of(frame: pd.DataFrame) -> str | None:
    if "as_of" not in frame or frame["as_of"].isna().all():
        return None
    return str(pd.Timestamp(frame["as_of"].max()).date())


def _jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN becomes None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, pd.Timestamp | datetime):
        return obj.isoformat()
    return obj
