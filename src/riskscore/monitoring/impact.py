"""Did a flag help? A regression-discontinuity evaluation at each team's capacity cut-off.

Each scoring run opens capacity cases for the top of each team's list and not for the pupils just
below (batch._candidates). Pupils just above and just below the cut-off are alike, but only one side
was flagged, so the jump in later outcomes at the cut-off estimates what a flag did there (Perdomo,
Britton, Hardt & Abebe 2023 did this for Wisconsin's DEWS).

- Running variable: per scoring run, role and team, the pupil's place in the team's capacity pool
  (pupils routed to the role, no rule case for it, ordered by probability as the batch job orders
  them): x = capacity - rank - 0.5, so x > 0 is flagged. The density test uses the score distance
  (probability minus the team's threshold) instead: ranks are uniform by construction.
- Outcomes: unauthorised absence hours in the 8 lesson weeks after the as-of date, and VSV within 12
  months; a run counts for an outcome only when its follow-up window lies inside the data.
- Comparison: each cut-off (run × team) in a symmetric window, as far from the cut-off as the team has
  pupils on both sides (comparison_rows), so the same teams make up both sides at every distance.
- Estimates: rdrobust (local linear, MSE-optimal bandwidth, robust bias-corrected 95 % interval),
  clustered by pupil when a pupil appears in several runs; the intent-to-treat jump (a flag) and, when
  the first stage is there, the fuzzy estimate (a conversation). rddensity (Cattaneo, Jansson & Ma)
  tests for manipulation; the first stage is the case-opened and reviewed rates on each side.
- Too small: fewer than `min_per_side` pupils on either side within the bandwidth, or an estimator
  that fails, gives a plain statement instead of a number.

Pure functions on frames (the simulation calls them without a database) plus `from_store`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskscore.clock import today as school_today
from riskscore.errors import DataError
from riskscore.monitoring.verdicts import FOLLOW_UP_NOTE, follow_up_rows, impact_conclusion
from riskscore.store.signals import impact_rows

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from riskscore.calendar import SchoolCalendar

TEAM_UNITS = {"school": "school_id", "leerplicht": "municipality", "rmc": "rmc_region", "jeugdarts": "rmc_region"}
OUTCOMES = ("absence_8w", "vsv_12m")
OUTCOME_TEXT = {
    "absence_8w": ("ongeoorloofd verzuim (uren) in de 8 lesweken erna", "unauthorised absence (hours) in the next 8 lesson weeks"),
    "vsv_12m": ("voortijdig schoolverlaten binnen 12 maanden", "early school leaving within 12 months"),
}
REVIEWED_STATUSES = frozenset({"in_review", "contacted", "referred", "no_action_needed", "false_alarm", "closed"})
MSG_NO_RUNS = "impact: no scoring runs with capacity cases in the store; run `riskscore score` first"
MSG_TOO_SMALL = ("Te weinig leerlingen rond de grens om iets te zeggen ({left} links, {right} rechts; minimaal {need} "
                 "per kant nodig). / Too few pupils near the cut-off to say anything ({left} left, {right} right; "
                 "at least {need} per side needed).")


@dataclass(frozen=True)
class ImpactConfig:
    absence_weeks: int = 8
    vsv_months: int = 12
    min_per_side: int = 30
    level: float = 95.0
    unauthorised_categories: tuple[str, ...] = ("unauthorised",)
    #: "rank": places to the team's cut-off (x); "score": probability minus the team's threshold (x_score)
    running: str = "rank"


# --- the running variable ---------------------------------------------------------------------------
def running_frame(scores: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, role, pupil in the team's capacity pool).

    scores: run_id, as_of, student_id, probability, roles (list), school_id, municipality, rmc_region.
    cases: run_id (or as_of), student_id, role, reason ('capacity' or 'rule:…'), reviewed (bool).
    Returns run_id, as_of, role, team, student_id, probability, rank, capacity, x (rank distance),
    x_score (score distance), flagged, reviewed."""
    out: list[pd.DataFrame] = []
    cases = cases.copy()
    cases["as_of"] = pd.to_datetime(cases["as_of"])
    scores = scores.copy()
    scores["as_of"] = pd.to_datetime(scores["as_of"])
    scores = scores.loc[scores["probability"].notna()]
    key = "run_id" if "run_id" in cases else "as_of"  # the store gives runs; a bare batch result its as-of
    rule = cases.loc[cases["reason"].astype(str).str.startswith("rule:"), [key, "student_id", "role"]]
    cap = cases.loc[cases["reason"] == "capacity", [key, "student_id", "role", "reviewed"]]
    for role, unit in TEAM_UNITS.items():
        routed = scores.loc[scores["roles"].map(lambda r, role=role: role in (r or ()))]
        if routed.empty:
            continue
        ruled = rule.loc[rule["role"] == role, [key, "student_id"]].drop_duplicates().assign(_rule=True)
        pool = routed.merge(ruled, on=[key, "student_id"], how="left")
        pool = pool.loc[pool["_rule"].isna() & pool[unit].notna()].drop(columns="_rule")
        mine = cap.loc[cap["role"] == role, [key, "student_id", "reviewed"]].drop_duplicates([key, "student_id"])
        pool = pool.merge(mine.assign(flagged=True), on=[key, "student_id"], how="left")
        pool["flagged"] = pool["flagged"].astype("boolean").fillna(False).astype(bool)
        pool["reviewed"] = pool["reviewed"].astype("boolean").fillna(False).astype(bool)
        pool = pool.sort_values(["run_id", unit, "probability", "student_id"], ascending=[True, True, False, True],
                                kind="mergesort")
        grp = pool.groupby(["run_id", unit], sort=False)
        pool["rank"] = grp.cumcount()
        pool["capacity"] = grp["flagged"].transform("sum").astype(int)
        pool = pool.loc[pool["capacity"] > 0]
        if pool.empty:
            continue
        pool["x"] = pool["capacity"] - pool["rank"] - 0.5

        def threshold(g: pd.DataFrame) -> float:
            p = g["probability"].to_numpy()
            k = int(g["capacity"].iloc[0])
            return float((p[k - 1] + p[k]) / 2) if k < len(p) else float(p[k - 1]) - 1e-9

        thr = pool.groupby(["run_id", unit], sort=False)[["probability", "capacity"]].apply(threshold).rename("_thr")
        pool = pool.join(thr, on=["run_id", unit])
        pool["x_score"] = pool["probability"] - pool["_thr"]
        pool["role"], pool["team"] = role, pool[unit].astype(str)
        out.append(pool[["run_id", "as_of", "role", "team", "student_id", "probability", "rank", "capacity", "x",
                         "x_score", "flagged", "reviewed"]])
    if not out:
        return pd.DataFrame(columns=["run_id", "as_of", "role", "team", "student_id", "probability", "rank", "capacity",
                                     "x", "x_score", "flagged", "reviewed"])
    return pd.concat(out, ignore_index=True)


# --- outcomes ---------------------------------------------------------------------------------------------
def _regions(students: pd.DataFrame, ids: pd.Series) -> pd.Series:
    last = students.sort_values("school_year").drop_duplicates("student_id", keep="last").set_index("student_id")
    return ids.map(last["calendar_region"]).fillna("midden").astype(str)


def attach_outcomes(frame: pd.DataFrame, tables: Mapping[str, pd.DataFrame], *, calendar: SchoolCalendar | None = None,
                    config: ImpactConfig | None = None, data_until: dt.date | None = None) -> pd.DataFrame:
    """Add absence_8w and vsv_12m (NaN when the follow-up window is not complete in the data)."""
    from riskscore.calendar import SchoolCalendar

    cfg = config or ImpactConfig()
    cal = calendar or SchoolCalendar.default()
    out = frame.copy()
    absences = tables.get("absences", pd.DataFrame(columns=["student_id", "date", "hours", "category"]))
    outcomes = tables.get("outcomes", pd.DataFrame(columns=["student_id", "vsv_date"]))
    if data_until is None:
        dates = pd.to_datetime(absences["date"]) if len(absences) else pd.Series(dtype="datetime64[ns]")
        data_until = dates.max().date() if len(dates) else school_today()
    unauth = absences.loc[absences["category"].isin(cfg.unauthorised_categories), ["student_id", "date", "hours"]].copy()
    unauth["date"] = pd.to_datetime(unauth["date"])
    out["region"] = _regions(tables["students"], out["student_id"]) if "students" in tables else "midden"
    out["absence_8w"] = np.nan
    out["absence_before"] = np.nan
    for (as_of, region), idx in out.groupby(["as_of", "region"]).groups.items():
        day = pd.Timestamp(as_of).date()
        if not cal.covers(day):
            continue
        w0 = cal.last_lesson_week_id(day, str(region))
        if w0 - cfg.absence_weeks + 1 >= 0:  # the same window before: a covariate that sharpens the estimate
            b0 = pd.Timestamp(cal.lesson_week_monday([w0 - cfg.absence_weeks + 1], str(region))[0])
            prior = unauth.loc[(unauth["date"] >= b0) & (unauth["date"] <= pd.Timestamp(day))]
            out.loc[idx, "absence_before"] = out.loc[idx, "student_id"].map(
                prior.groupby("student_id")["hours"].sum()).fillna(0.0).to_numpy()
        try:
            start, end = (pd.Timestamp(d) for d in cal.lesson_week_monday([w0 + 1, w0 + 1 + cfg.absence_weeks], str(region)))
        except DataError:  # the window runs past the calendar
            continue
        if end.date() > data_until + dt.timedelta(days=1):
            continue
        sub = unauth.loc[(unauth["date"] >= start) & (unauth["date"] < end)]
        hours = sub.groupby("student_id")["hours"].sum()
        out.loc[idx, "absence_8w"] = out.loc[idx, "student_id"].map(hours).fillna(0.0).to_numpy()
    first = pd.to_datetime(outcomes["vsv_date"]).groupby(outcomes["student_id"]).min() if len(outcomes) else pd.Series(
        dtype="datetime64[ns]")
    vsv = pd.to_datetime(out["student_id"].map(first))
    as_of = pd.to_datetime(out["as_of"])
    horizon = as_of + pd.DateOffset(months=cfg.vsv_months)
    complete = horizon.dt.date <= data_until
    out["vsv_12m"] = np.where(complete, ((vsv > as_of) & (vsv <= horizon)).astype(float), np.nan)
    return out.drop(columns="region")


# --- estimation -----------------------------------------------------------------------------------------
@dataclass
class Estimate:
    """One RD estimate. status: 'ok' | 'too_small' | 'failed'."""

    role: str
    outcome: str
    status: str
    n_left: int = 0
    n_right: int = 0
    n_left_h: int = 0
    n_right_h: int = 0
    #: cut-offs (run × team) with pupils on both sides, and pool pupils outside their team's symmetric window
    n_cutoffs: int = 0
    n_outside_window: int = 0
    #: the role's pool pupils whose follow-up window for this outcome is not complete in the data yet
    n_without_follow_up: int = 0
    bandwidth: float | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    mean_left: float | None = None
    fuzzy_estimate: float | None = None
    fuzzy_ci_low: float | None = None
    fuzzy_ci_high: float | None = None
    first_stage: dict[str, float | None] = field(default_factory=dict)
    density_p: float | None = None
    statement: str = ""
    #: what the estimate allows one to say, its diagnostics respected (monitoring.verdicts.impact_conclusion):
    #: code, nl, en
    conclusion: dict[str, str] = field(default_factory=dict)


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """rdrobust/rddensity print notes ('Mass points detected') to stdout: keep the CLI's output clean."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def rd(y: np.ndarray, x: np.ndarray, *, cluster: np.ndarray | None = None, fuzzy: np.ndarray | None = None,
       covs: np.ndarray | None = None, level: float = 95.0, h: float | None = None) -> dict[str, Any]:
    """rdrobust at c=0: conventional estimate, robust bias-corrected interval and p-value, bandwidth."""
    from rdrobust import rdrobust

    kwargs: dict[str, Any] = {"c": 0, "level": level}
    if cluster is not None:
        kwargs["cluster"] = cluster
    if fuzzy is not None:
        kwargs["fuzzy"] = fuzzy
    if h is not None:
        kwargs["h"] = h
    if covs is not None:
        kwargs["covs"] = covs
    r = _quiet(rdrobust, y, x, **kwargs)
    return {"estimate": _num(r.coef.iloc[0, 0]), "ci_low": _num(r.ci.iloc[2, 0]), "ci_high": _num(r.ci.iloc[2, 1]),
            "p_value": _num(r.pv.iloc[2, 0]), "h": _num(r.bws.iloc[0, 0]),
            "n_h": (int(r.N_h[0]), int(r.N_h[1]))}


def density_test(x_score: np.ndarray) -> float | None:
    """p-value of the Cattaneo-Jansson-Ma density discontinuity test at 0 (None when it cannot run)."""
    from rddensity import rddensity

    try:
        r = _quiet(rddensity, X=np.asarray(x_score, dtype=float), c=0)
        return _num(r.test["p_jk"])
    except Exception:  # too few points, all on one side: no test rather than a crash
        return None


def _cutoff_keys(frame: pd.DataFrame) -> list[str]:
    """The columns that name one cut-off (a team in a run); none: the frame is one cut-off."""
    return [k for k in ("run_id", "team") if k in frame]


def comparison_rows(frame: pd.DataFrame, *, role: str, outcome: str, config: ImpactConfig | None = None) -> pd.DataFrame:
    """The rows the estimate compares, with x set to the configured running variable.

    Symmetric window per cut-off: a team (per run) counts only as far from its cut-off as it has pupils
    on *both* sides — |x| up to the shorter side's reach — and a team with nobody below its cut-off
    (everyone in its pool got a case) not at all. Pooling the teams' full pools would change which
    teams sit at each distance differently on the two sides (pools are often short below the cut-off),
    and the local fits would read that change of teams as part of the jump: in the simulation this
    pulled the absence estimate towards zero and covered the true effect in only 80 % of seeds. With
    the same teams on both sides at every distance, a team's own level cancels out of the jump. The
    estimand is the effect at the cut-off for teams that had pupils just below it (see
    monitoring/README.md). Needs team and run_id columns; without them the frame is one cut-off."""
    cfg = config or ImpactConfig()
    d = frame.loc[(frame["role"] == role) & frame[outcome].notna()]
    if cfg.running == "score":  # same code below, on the score distance
        d = d.assign(x=d["x_score"].where(d["x_score"] != 0, np.sign(d["x"]) * 1e-9))
    if d.empty:
        return d
    keys = _cutoff_keys(d)
    if keys:
        by = [d[k] for k in keys]
        below = (-d["x"]).where(d["x"] < 0).groupby(by, sort=False).transform("max").fillna(0.0)
        above = d["x"].where(d["x"] > 0).groupby(by, sort=False).transform("max").fillna(0.0)
        reach = np.minimum(below, above)
    else:
        reach = pd.Series(min(-d["x"].min(), d["x"].max()), index=d.index)
    return d.loc[(reach > 0) & (d["x"].abs() <= reach)]


def estimate(frame: pd.DataFrame, *, role: str, outcome: str, config: ImpactConfig | None = None) -> Estimate:
    """The RD estimate for one role and outcome over every run in frame: each team's cut-off in its
    symmetric window (comparison_rows), pooled on the distance to the cut-off, clustered by pupil; with
    what it allows one to say (``conclusion``): an effect only when the first stage, the density test and
    the sample size allow it."""
    est = _estimate(frame, role=role, outcome=outcome, config=config)
    c = impact_conclusion(asdict(est))
    est.conclusion = c.to_dict()
    if est.status == "ok" or not est.statement:  # the too-small note keeps the numbers it needed
        est.statement = f"{c.nl} / {c.en}"
    return est


def _estimate(frame: pd.DataFrame, *, role: str, outcome: str, config: ImpactConfig | None) -> Estimate:
    cfg = config or ImpactConfig()
    full = frame.loc[(frame["role"] == role) & frame[outcome].notna()]
    d = comparison_rows(frame, role=role, outcome=outcome, config=cfg)
    left, right = d.loc[d["x"] < 0], d.loc[d["x"] > 0]
    keys = _cutoff_keys(d)
    est = Estimate(role=role, outcome=outcome, status="too_small", n_left=len(left), n_right=len(right),
                   n_cutoffs=int(d.groupby(keys).ngroups) if keys else int(len(d) > 0),
                   n_outside_window=len(full) - len(d),
                   n_without_follow_up=int(((frame["role"] == role) & frame[outcome].isna()).sum())
                   if outcome in frame else 0)
    if len(left) < cfg.min_per_side or len(right) < cfg.min_per_side:
        est.statement = MSG_TOO_SMALL.format(left=len(left), right=len(right), need=cfg.min_per_side)
        return est
    y = d[outcome].to_numpy(dtype=float)
    x = d["x"].to_numpy(dtype=float)
    codes = pd.factorize(d["student_id"])[0]
    cluster = codes if len(np.unique(codes)) < len(codes) else None
    covs = None
    if "absence_before" in d and d["absence_before"].notna().all() and d["absence_before"].std() > 0:
        covs = d["absence_before"].to_numpy(dtype=float)  # pre-period absence: same pupils, less noise
    try:
        r = rd(y, x, cluster=cluster, covs=covs, level=cfg.level)
    except Exception as exc:  # singular design, no variation in y, ...: say so
        est.status, est.statement = "failed", f"rdrobust: {type(exc).__name__}: {str(exc)[:200]}"
        return est
    est.n_left_h, est.n_right_h = r["n_h"]
    if min(r["n_h"]) < cfg.min_per_side:
        est.statement = MSG_TOO_SMALL.format(left=r["n_h"][0], right=r["n_h"][1], need=cfg.min_per_side)
        return est
    est.status = "ok"
    est.bandwidth, est.estimate, est.ci_low, est.ci_high, est.p_value = (
        r["h"], r["estimate"], r["ci_low"], r["ci_high"], r["p_value"])
    h = r["h"] or 0.0
    near = d.loc[d["x"].abs() <= h]
    est.mean_left = _num(near.loc[near["x"] < 0, outcome].mean())
    est.first_stage = {f"{k}_{side}": _num(near.loc[(near["x"] > 0) if side == "right" else (near["x"] < 0), k].mean())
                       for k in ("flagged", "reviewed") for side in ("left", "right")}
    reviewed = d["reviewed"].to_numpy(dtype=float)
    if (est.first_stage.get("reviewed_right") or 0) - (est.first_stage.get("reviewed_left") or 0) > 0.05:
        with contextlib.suppress(Exception):
            f = rd(y, x, cluster=cluster, fuzzy=reviewed, covs=covs, level=cfg.level)
            est.fuzzy_estimate, est.fuzzy_ci_low, est.fuzzy_ci_high = f["estimate"], f["ci_low"], f["ci_high"]
    est.density_p = density_test(full["x_score"].to_numpy(dtype=float))  # every pupil in the pools
    return est


@dataclass
class ImpactReport:
    created_at: str
    runs: list[dict[str, Any]]
    estimates: list[Estimate]
    n_rows: int
    notes: list[dict[str, str]] = field(default_factory=list)  # nl, en
    running: str = "rank"
    #: plan steps per role and kind with their follow-up results, counts only (store.cases.action_counts):
    #: which follow-up preceded less absence — an association, never an effect
    follow_up: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"created_at": self.created_at, "runs": self.runs, "n_rows": self.n_rows, "notes": self.notes,
                "running": self.running, "estimates": [asdict(e) for e in self.estimates],
                "follow_up": self.follow_up, "follow_up_note": dict(zip(("nl", "en"), FOLLOW_UP_NOTE, strict=True))}

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.estimates:
            for k in ("estimate", "ci_low", "ci_high", "p_value", "density_p"):
                v = getattr(e, k)
                if v is not None:
                    out[f"{e.role}.{e.outcome}.{k}"] = float(v)
            out[f"{e.role}.{e.outcome}.n_within_bandwidth"] = float(e.n_left_h + e.n_right_h)
        return out


def evaluate(frame: pd.DataFrame, *, roles: Sequence[str] | None = None, config: ImpactConfig | None = None) -> ImpactReport:
    """Estimates for every role present (or the given ones) and both outcomes."""
    cfg = config or ImpactConfig()
    present = [r for r in TEAM_UNITS if r in set(frame["role"])] if len(frame) else []
    chosen = [r for r in (roles or present)]
    runs = (frame.groupby(["run_id", "as_of"]).size().reset_index(name="rows").assign(
        as_of=lambda f: pd.to_datetime(f["as_of"]).dt.date.astype(str)).to_dict("records")) if len(frame) else []
    ests = [estimate(frame, role=r, outcome=o, config=cfg) for r in chosen for o in OUTCOMES]
    notes = []
    for o in OUTCOMES:
        if o in frame and frame[o].isna().all():
            nl, en = OUTCOME_TEXT[o]
            notes.append({"nl": f"{nl}: nog geen scoringsronde met een volledige nameting in de gegevens.",
                          "en": f"{en}: no run has a complete follow-up window in the data yet."})
    return ImpactReport(created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        runs=[{k: (int(v) if isinstance(v, np.integer) else v) for k, v in r.items()} for r in runs],
                        estimates=ests, n_rows=len(frame), notes=notes, running=cfg.running)


# --- from the store ------------------------------------------------------------------------------------------
def from_store(session: Session, *, run_ids: Iterable[int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and signals of complete scoring runs, shaped for running_frame (store.signals.impact_rows
    reads them). The treatment is what each run put on the lists (run_signals); 'reviewed' is whether the
    pupil's case of that team was worked on (moved on from 'open', or an outcome recorded)."""
    scores, cases = impact_rows(session, run_ids=run_ids, reviewed_statuses=REVIEWED_STATUSES)
    if not (cases["reason"] == "capacity").any():
        raise DataError(MSG_NO_RUNS)
    return scores, cases


# --- output ------------------------------------------------------------------------------------------------------
def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _follow_up_html(report: ImpactReport) -> str:
    head = ("rol / role", "stap / step", "gepland / planned", "gedaan / done", "nagecontroleerd / checked",
            "beter / better", "hetzelfde / same", "slechter / worse", "aandeel beter / share better")
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
        r["role"], r["kind"], r["n"], r["done"], r["checked"], r["improved"], r["unchanged"], r["worse"],
        "–" if r["improved_share"] is None else f"{100 * r['improved_share']:.0f}%")) + "</tr>"
        for r in follow_up_rows(report.follow_up))
    body = (f"<table border='1'><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{rows}</tbody></table>") if rows else "<p>Nog geen vervolgstappen vastgelegd. / No follow-up steps recorded yet.</p>"
    return (f"<h2>Vervolgstappen en nacontrole (samenhang, geen effect) / Follow-up steps and checks (association, "
            f"not effect)</h2><p>{html.escape(FOLLOW_UP_NOTE[0])}</p><p>{html.escape(FOLLOW_UP_NOTE[1])}</p>{body}")


def to_html(report: ImpactReport) -> str:
    """A plain page for the data team (no scripts, no external files)."""
    rows = []
    for e in report.estimates:
        nl, en = OUTCOME_TEXT[e.outcome]
        fs = e.first_stage
        rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
                e.role, f"{nl} / {en}", e.status, _fmt(e.estimate), f"[{_fmt(e.ci_low)}, {_fmt(e.ci_high)}]",
                _fmt(e.p_value), _fmt(e.bandwidth, 1), f"{e.n_left_h} | {e.n_right_h}", f"{e.n_cutoffs} | {e.n_outside_window}",
                _fmt(e.mean_left),
                f"{_fmt(fs.get('flagged_left'), 2)} | {_fmt(fs.get('flagged_right'), 2)}",
                f"{_fmt(fs.get('reviewed_left'), 2)} | {_fmt(fs.get('reviewed_right'), 2)}",
                f"{_fmt(e.fuzzy_estimate)} [{_fmt(e.fuzzy_ci_low)}, {_fmt(e.fuzzy_ci_high)}]",
                _fmt(e.density_p), f"{e.conclusion.get('nl', '')} / {e.conclusion.get('en', '')}",
                e.statement if e.status == "too_small" else "")) + "</tr>")
    notes = "".join(f"<li>{html.escape(n['nl'])} / {html.escape(n['en'])}</li>" for n in report.notes)
    head = ("role", "uitkomst / outcome", "status", "sprong / jump (flag)", "95% robust CI", "p", "bandbreedte / bandwidth (ranks)",
            "n links | rechts (in h)", "grenzen / cut-offs | buiten venster / outside window", "gemiddelde links / mean left", "casus geopend / case opened L | R",
            "beoordeeld / reviewed L | R", "gesprek / conversation (fuzzy) [CI]", "dichtheidstest / density p", "conclusie / conclusion",
            "toelichting / note")
    return ("<!doctype html><html lang='nl'><head><meta charset='utf-8'><title>riskscore impact</title></head><body>"
            "<h1>Helpt een signaal? / Does a flag help?</h1>"
            "<p>Regressie-discontinuïteit op de capaciteitsgrens van elk team per scoringsronde. Leerlingen net boven en "
            "net onder de grens lijken op elkaar; alleen de bovenste kregen een casus. Elk team telt mee tot zo ver van zijn "
            "grens als het aan beide kanten leerlingen heeft; een team zonder leerlingen onder de grens telt niet mee. / "
            "Regression discontinuity at each team's capacity cut-off per scoring run: pupils just above and below are "
            "alike; only those above got a case. Each team counts only as far from its cut-off as it has pupils on both "
            "sides; a team with nobody below its cut-off does not count.</p>"
            "<p>Een schatting geldt voor leerlingen rond de grens, niet voor alle leerlingen. Een effect wordt alleen "
            "genoemd als de eigen controles het toelaten: genoeg leerlingen, casussen boven de grens vaker opgepakt "
            "dan eronder (eerste fase) en een dichtheidstest die niet verwerpt. / An estimate holds for pupils near "
            "the cut-off, not for all pupils. An effect is named only when its own checks allow it: enough pupils, "
            "cases above the cut-off worked on more than below it (first stage), and a density test that does not "
            "reject.</p>"
            f"<p>{report.n_rows} rijen / rows, {len(report.runs)} runs, running variable: "
            f"{'rank distance' if report.running == 'rank' else 'score distance'}. {html.escape(report.created_at)}</p>"
            f"<ul>{notes}</ul><table border='1'><thead><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table><p>Een positieve sprong bij verzuim betekent méér verzuim na een signaal. Een interval dat 0 "
              "bevat betekent: geen meetbaar effect – niet: bewezen geen effect. / A positive jump in absence means more "
              "absence after a flag. An interval containing 0 means no measurable effect – not proof of no effect.</p>"
            + _follow_up_html(report) + "</body></html>")


def write_report(report: ImpactReport, out_dir: Path) -> dict[str, Path]:
    """impact.json and impact.html in out_dir (atomic)."""
    from riskscore.datasets import write_atomic

    out_dir = Path(out_dir)
    body_json = json.dumps(report.to_dict(), indent=2, default=str)
    body_html = to_html(report)

    def put(name: str, body: str) -> Path:
        def write(tmp: str) -> None:
            Path(tmp).write_text(body, encoding="utf-8")

        return write_atomic(out_dir / name, write, suffix=Path(name).suffix)

    return {"impact.json": put("impact.json", body_json), "impact.html": put("impact.html", body_html)}
