"""THE scoring core: raw events (or a prepared feature table) + an as-of date -> typed results.

Every door scores through here — the API (``POST /v1/scores``, ``GET /v1/students/{id}/score``), the
batch job (``riskscore score``) and the web pages — so a pupil gets the same reasons, the same legal
triggers and the same due dates wherever they are looked at. The path is always

    features.build  ->  rules.evaluate  ->  model (bundle.score)  ->  explain  ->  routing

and the only result type is ``ScoredStudent``. Its ``to_dict()`` is the one mapping to storage and
to the API's response; redaction by role (``access.redact``) works on it or on that dict.

Two kinds of pupil get no model score, only their rule triggers (the law keeps running):

* ``objecting`` — pupils who objected under AVG art. 21: the model never sees their row;
* ``incomplete_schools`` — schools whose data is known to be incomplete (an import gap): their
  pupils are flagged ``data_incomplete`` instead of being scored as low risk on missing events.

Both come out with ``probability=None`` and ``band="unknown"``.

Every model-scored pupil also gets a ``Base``: what is usual for pupils of their context (school
level, age for the grade: the ``context`` features a mentor cannot change), in words and as a
probability, and how the score adds up: base + Σ reasons + other = logit(p) exactly (Platt; see
``model.bundle`` for isotonic). Reasons come from ``signal`` features only. ``excess`` (the signals'
sum) is the second ordering a capacity list can use: risk above what is usual for the context
(``capacity_priority``; the bundle says which ordering its training config chose).

Layer: beside ``access``, above ``model``; imports features, rules, routing, calendar and model only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskscore.clock import today as school_today
from riskscore.errors import ConfigError, DataError
from riskscore.model.explain import Reason, ReasonTemplate, base_text, render

if TYPE_CHECKING:
    from riskscore.calendar import SchoolCalendar
    from riskscore.model.bundle import ModelBundle
    from riskscore.routing import RoutingTable
    from riskscore.rules import RuleConfig

#: band of a pupil without a model score (objection, incomplete data, no longer enrolled)
UNKNOWN_BAND = "unknown"
BANDS = ("low", "medium", "high", UNKNOWN_BAND)
TOP_K = 3

#: how a capacity list orders pupils: by calibrated probability, or by risk above what is usual for
#: the pupil's context (the signals' sum, ``Base.excess``)
ORDERINGS = ("probability", "excess")
MSG_UNKNOWN_ORDERING = "capacity ordering {ordering!r} is not one of {known}"

MSG_NO_STUDENTS = "no students are enrolled on {as_of} in {source}; nothing to score"
MSG_FUTURE = "as-of date {as_of} lies in the future"
MSG_MISSING_COLUMNS = "the feature table lacks column(s) {columns}"


class NothingToScoreError(DataError):
    """Nobody in the data is enrolled on the as-of date and no rule fired for anyone."""


@dataclass(frozen=True)
class Trigger:
    """A legal or protocol rule that fired: deterministic, sourced, with the legal deadline computed
    from the CONFIGURED rule thresholds (rules.evaluate), never from a class default."""

    id: str
    source: str
    role: str
    fired_on: dt.date | None
    due_date: dt.date | None
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "role": self.role,
                "fired_on": None if self.fired_on is None else self.fired_on.isoformat(),
                "due_date": None if self.due_date is None else self.due_date.isoformat(),
                "detail": self.detail}


@dataclass(frozen=True)
class Base:
    """What is usual for pupils like this one, and how the score adds up.

    ``value`` is the model's intercept plus the context features' contributions, on ``scale``
    (``log_odds``: shares of the calibrated logit(p); ``score``: of the uncalibrated score, with
    isotonic calibration). ``probability`` is the usual probability for this context: the model's
    probability averaged over the usual spread of signals (``ModelBundle.usual_probability``). ``excess``
    = Σ signal contributions; ``other`` = the signal contributions not
    listed among the reasons. value + Σ reasons + other = value + excess = logit(p) (log_odds)."""

    scale: str
    value: float
    probability: float
    excess: float
    other: float
    text_nl: str
    text_en: str

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "value": self.value, "probability": self.probability, "excess": self.excess,
                "other": self.other, "text_nl": self.text_nl, "text_en": self.text_en}


@dataclass(frozen=True)
class ScoredStudent:
    """One pupil at one as-of date: a signal for review, never a decision."""

    student_id: str
    school_id: str | None
    municipality: str | None
    rmc_region: str | None
    age: float | None  # whole years on as_of (legal limits turn on the birthday)
    as_of: dt.date
    probability: float | None  # None: no model score (objected, data incomplete, not enrolled)
    band: str  # low | medium | high | unknown
    reasons: tuple[Reason, ...]
    triggers: tuple[Trigger, ...]
    roles: tuple[str, ...]  # reviewer roles (routing)
    model_version: str
    has_sk: bool = False
    objected: bool = False
    data_incomplete: bool = False
    base: Base | None = None  # None without a model score
    #: who reviews which signal: (signal, role) pairs from routing.route_signals, ``model`` or ``rule:<id>``;
    #: the review core opens its cases from these (routing once)
    routes: tuple[tuple[str, str], ...] = ()

    @property
    def scored(self) -> bool:
        """True when the model scored this pupil."""
        return self.probability is not None

    @property
    def base_probability(self) -> float | None:
        """The usual probability for pupils of this context (level, age); None without a score."""
        return None if self.base is None else self.base.probability

    @property
    def excess(self) -> float | None:
        """Risk above what is usual for the context: the signals' sum on the bundle's scale."""
        return None if self.base is None else self.base.excess

    def to_dict(self) -> dict[str, Any]:
        """The one result/storage mapping (store.scores, store.runs, the API's response, redaction)."""
        return {
            "student_id": self.student_id, "school_id": self.school_id, "municipality": self.municipality,
            "rmc_region": self.rmc_region, "age": self.age, "as_of": self.as_of, "probability": self.probability,
            "band": self.band, "reasons": [r.to_dict() for r in self.reasons],
            "triggers": [t.to_dict() for t in self.triggers], "roles": list(self.roles),
            "model_version": self.model_version, "objected": self.objected, "data_incomplete": self.data_incomplete,
            "base": None if self.base is None else self.base.to_dict(),
        }


@dataclass
class Scoring:
    """What one scoring pass produced.

    ``students``: every pupil enrolled on as_of, in feature-table order. ``leavers``: young people not
    enrolled on as_of whose rules still fired (deregistration, VVA) — no model score, triggers only.
    ``table`` is the feature table the model saw (the batch job's monitoring frame is built from it)."""

    as_of: dt.date
    model_version: str
    students: list[ScoredStudent]
    leavers: list[ScoredStudent] = field(default_factory=list)
    table: pd.DataFrame | None = None
    n_fired: int = 0

    def by_id(self) -> dict[str, ScoredStudent]:
        return {s.student_id: s for s in [*self.leavers, *self.students]}


# --- context: who the pupil is on as_of -----------------------------------------------------------
def context(tables: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    """Per student: the last students row up to as_of's school year (school, municipality, region,
    birth date), with a startkwalificatie held on as_of (the row's flag or an sk diploma by then)."""
    from riskscore.calendar import school_year_of

    students = tables["students"]
    known = (students["school_year"].astype(str) <= school_year_of(as_of)).to_numpy()
    rows = students if known.all() else students[known]
    if len(rows) > 1:  # one row (one pupil's request) is sorted and unique already
        rows = rows.sort_values(["student_id", "school_year"]).drop_duplicates("student_id", keep="last")
    # built column by column: set_index + selection + copy cost ~0.5 ms even for one row
    ctx = pd.DataFrame({c: rows[c].array for c in ("school_id", "municipality", "rmc_region", "birth_date", "has_sk")},
                       index=pd.Index(rows["student_id"].astype(str), name="student_id"))
    diplomas = tables.get("diplomas")
    if diplomas is not None and len(diplomas):
        sk = diplomas.loc[diplomas["is_sk"].astype(bool) & (pd.to_datetime(diplomas["date"]) <= pd.Timestamp(as_of)),
                          "student_id"].astype(str)
        ctx["has_sk"] = ctx["has_sk"].astype(bool) | ctx.index.isin(sk)
    ctx["has_sk"] = ctx["has_sk"].astype(bool)
    return ctx


def _ages(birth_dates: Any, as_of: dt.date) -> np.ndarray:
    """Whole years on as_of (float, NaN when unknown)."""
    from riskscore.calendar import ages_on as age_on

    birth = np.asarray(birth_dates)
    if birth.dtype != np.dtype("datetime64[ns]"):
        birth = np.asarray(pd.to_datetime(birth), dtype="datetime64[ns]")
    birth = birth.reshape(-1)
    out = np.full(len(birth), np.nan)
    known = ~np.isnat(birth)
    if known.any():
        out[known] = age_on(birth[known], as_of).astype(float)
    return out


def _column(table: pd.DataFrame, name: str) -> list[Any]:
    """A context column as Python values, missing -> None (a handful of rows on the API path)."""
    if name not in table.columns:
        return [None] * len(table)
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in table[name].tolist()]


def _dates(values: pd.Series) -> list[dt.date]:
    """The as-of dates of a feature table as datetime.date (one numpy cast for the usual dtype)."""
    arr = values.to_numpy()
    if arr.dtype == np.dtype("datetime64[ns]") and not np.isnat(arr).any():
        return arr.astype("datetime64[D]").tolist()  # type: ignore[no-any-return]
    return [d.date() for d in pd.to_datetime(values)]


def _context_of(ctx: pd.DataFrame, sids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Birth date and sk of each student id from ``context``'s frame: one index lookup for both
    columns when every id is there (the usual case), else reindexed (missing: NaT, no sk)."""
    if ctx.index.is_unique and ctx["has_sk"].dtype == bool:
        pos = ctx.index.get_indexer(sids)
        if (pos >= 0).all():
            return ctx["birth_date"].to_numpy()[pos], ctx["has_sk"].to_numpy()[pos]
    return (ctx["birth_date"].reindex(sids).to_numpy(),
            ctx["has_sk"].reindex(sids).fillna(False).astype(bool).to_numpy())


def _date(value: Any) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def triggers_by_student(fired: pd.DataFrame) -> dict[str, tuple[Trigger, ...]]:
    """One trigger per rule per student: the newest firing. A rule that fired in several periods of
    the lookback (a new 4-week period after a report) is shown once, with its latest date and deadline."""
    out: dict[str, dict[str, Trigger]] = {}
    if not len(fired):
        return {}
    fired = fired.sort_values(["student_id", "fired_on", "rule_id"], kind="stable")
    for rec in fired.itertuples(index=False):
        detail = None if rec.detail is None or pd.isna(rec.detail) else str(rec.detail)
        out.setdefault(str(rec.student_id), {})[str(rec.rule_id)] = Trigger(
            id=str(rec.rule_id), source=str(rec.source), role=str(rec.role), fired_on=_date(rec.fired_on),
            due_date=_date(rec.due_date), detail=detail)
    from riskscore.contracts import RULE_IDS

    order = {r: i for i, r in enumerate(RULE_IDS)}
    return {sid: tuple(sorted(by_rule.values(), key=lambda t: (order.get(t.id, 99), t.id)))
            for sid, by_rule in out.items()}


def _reasons(bundle: ModelBundle, X: np.ndarray, contributions: np.ndarray, top: np.ndarray) -> list[tuple[Reason, ...]]:
    """The top positive reasons per row (explain.reasons' order), from the precomputed top indices."""
    feats = bundle.features
    out: list[tuple[Reason, ...]] = []
    for i in range(len(X)):
        row: list[Reason] = []
        for j in top[i]:
            if j < 0 or not contributions[i, j] > 0:
                continue
            feat = feats[j]
            tpl = bundle.catalogue.get(feat) or ReasonTemplate(feat.upper(), "context", f"{feat}: {{v}}",
                                                               f"{feat}: {{v}}", "float1")
            v = float(X[i, j])
            nl, en = render(tpl, v)
            row.append(Reason(tpl.code, feat, tpl.category, None if np.isnan(v) else v, float(contributions[i, j]),
                              nl, en))
        out.append(tuple(row))
    return out


#: most contexts (level × age bins) a bundle keeps the base text of: a few hundred exist, the cap only
#: bounds memory for a model with a continuous context feature
BASE_CACHE_SIZE = 4096


def _bases(bundle: ModelBundle, X: np.ndarray, scored: Any, reasons: list[tuple[Reason, ...]]) -> list[Base]:
    """Each row's Base: the context in words with its usual probability, and the rest of the sum. The
    text and usual probability depend on the context alone, so the bundle keeps them per context."""
    ctx_idx = [bundle.features.index(f) for f in bundle.context_features]
    cache = bundle.base_cache
    base = np.asarray(scored.base, dtype=np.float64)
    out = []
    for i in range(len(X)):
        key = tuple(float(X[i, j]) for j in ctx_idx)
        known = cache.get(key)
        if known is None:
            templates = [bundle.catalogue.get(f) or ReasonTemplate(f.upper(), "context", f"{f} {{v}}", f"{f} {{v}}", "float1")
                         for f in bundle.context_features]
            usual = float(bundle.usual_probability(base[i]))
            known = (*base_text(templates, [X[i, j] for j in ctx_idx], usual), usual)
            if len(cache) < BASE_CACHE_SIZE:
                cache[key] = known
        nl, en, usual = known
        excess = float(scored.excess[i])
        shown = sum(r.contribution for r in reasons[i])
        out.append(Base(bundle.scale, float(base[i]), usual, excess, excess - shown, nl, en))
    return out


def capacity_ordering(bundle: ModelBundle) -> str:
    """The ordering the bundle's training config chose for capacity lists (default: probability)."""
    ordering = str(bundle.metadata.get("capacity_ordering", "probability"))
    if ordering not in ORDERINGS:
        raise ConfigError(MSG_UNKNOWN_ORDERING.format(ordering=ordering, known=list(ORDERINGS)))
    return ordering


def capacity_priority(student: ScoredStudent, ordering: str) -> float | None:
    """What a capacity list sorts a pupil by, highest first: the calibrated probability, or the risk
    above what is usual for the pupil's context (``excess``). None for a pupil without a model score
    (objected, data incomplete): such a pupil never takes a capacity slot."""
    if ordering not in ORDERINGS:
        raise ConfigError(MSG_UNKNOWN_ORDERING.format(ordering=ordering, known=list(ORDERINGS)))
    return student.probability if ordering == "probability" else student.excess


# --- the core ---------------------------------------------------------------------------------------
def score_table(
    table: pd.DataFrame,
    bundle: ModelBundle,
    *,
    fired: pd.DataFrame | None = None,
    ctx: pd.DataFrame | None = None,
    routing: RoutingTable | None = None,
    objecting: Iterable[str] = frozenset(),
    incomplete_schools: Iterable[str] = frozenset(),
    top_k: int = TOP_K,
) -> list[ScoredStudent]:
    """Score a prepared feature table (one row per student and as-of date; features.build's columns).

    ``fired`` is rules.evaluate's output for the same date(s) (triggers with due dates); without it a
    pupil gets no triggers. ``ctx`` (from ``context``) gives birth date and startkwalificatie; without
    it the table's ``age`` is used and no sk is assumed."""
    from riskscore.routing import RoutingTable, route_signals

    missing = [c for c in ("student_id", "as_of", *bundle.features) if c not in table.columns]
    if missing:
        raise DataError(MSG_MISSING_COLUMNS.format(columns=missing))
    tbl = routing or RoutingTable.default()
    objecting, incomplete = frozenset(map(str, objecting)), frozenset(map(str, incomplete_schools))
    n = len(table)
    sids = table["student_id"].astype(str).to_numpy()
    as_ofs = _dates(table["as_of"])
    schools = _column(table, "school_id")
    place = {u: _column(table, u) for u in ("municipality", "rmc_region")}
    if ctx is not None and n:
        birth, has_sk = _context_of(ctx, sids)
        ages = np.array([_ages([b], d)[0] for b, d in zip(birth, as_ofs, strict=True)]) \
            if len(set(as_ofs)) > 1 else _ages(birth, as_ofs[0])
    else:
        ages = np.floor(pd.to_numeric(table["age"], errors="coerce").to_numpy(dtype=float)) \
            if "age" in table.columns else np.full(n, np.nan)
        has_sk = np.zeros(n, dtype=bool)

    objected = np.array([s in objecting for s in sids], dtype=bool)
    gap = np.array([s in incomplete for s in schools], dtype=bool) if incomplete else np.zeros(n, dtype=bool)
    model_rows = np.flatnonzero(~objected & ~gap)
    X = bundle.matrix(table if len(model_rows) == n else table.iloc[model_rows]) if len(model_rows) \
        else np.empty((0, len(bundle.features)))
    scored = bundle.score(X, top_k=top_k) if len(model_rows) else None
    reasons = _reasons(bundle, X, scored.contributions, scored.top) if scored is not None else []
    bases = _bases(bundle, X, scored, reasons) if scored is not None else []
    row_of = {int(r): k for k, r in enumerate(model_rows)}
    trig = triggers_by_student(fired) if fired is not None else {}

    out: list[ScoredStudent] = []
    for i, sid in enumerate(sids):
        k = row_of.get(i)
        base: Base | None = None
        if k is not None and scored is not None:
            probability: float | None = float(scored.probability[k])
            band, why, base = str(scored.band[k]), reasons[k], bases[k]
        else:
            probability, band, why = None, UNKNOWN_BAND, ()
        t = trig.get(sid, ())
        age = None if np.isnan(ages[i]) else float(ages[i])
        routes = route_signals(why, t, age=age if age is not None else 0.0, has_sk=bool(has_sk[i]), band=band,
                               table=tbl)
        roles = sorted({role for _, role in routes})
        out.append(ScoredStudent(
            student_id=sid, school_id=schools[i], municipality=place["municipality"][i],
            rmc_region=place["rmc_region"][i], age=age, as_of=as_ofs[i], probability=probability, band=band,
            reasons=why, triggers=t, roles=tuple(roles), model_version=bundle.version, has_sk=bool(has_sk[i]),
            objected=bool(objected[i]), data_incomplete=bool(gap[i]) and not bool(objected[i]), base=base,
            routes=routes))
    return out


def score_events(
    tables: Mapping[str, pd.DataFrame],
    as_of: Any,
    bundle: ModelBundle,
    *,
    rule_config: RuleConfig | None = None,
    calendar: SchoolCalendar | None = None,
    routing: RoutingTable | None = None,
    objecting: Iterable[str] = frozenset(),
    incomplete_schools: Iterable[str] = frozenset(),
    top_k: int = TOP_K,
    today: dt.date | None = None,
    source: str = "the data",
) -> Scoring:
    """Raw tables (contracts.RAW_SCHEMAS; one pupil or a whole cohort) -> typed results as of a date.

    Point in time: nothing dated after as_of is read (features.build and rules.evaluate cut every
    table). Raises DataError when as_of lies in the future, or when nobody is enrolled on it and no
    rule fired for anyone (a leaver's triggers alone are a result)."""
    from riskscore import features, rules
    from riskscore.calendar import SchoolCalendar, to_date
    from riskscore.routing import RoutingTable

    day = to_date(as_of)
    if day > (today or school_today()):
        raise DataError(MSG_FUTURE.format(as_of=day))
    cal = calendar or SchoolCalendar.default()
    tbl = routing or RoutingTable.default()
    tables = dict(tables)
    cfg = rule_config or rules.RuleConfig()
    # one preparation of the events for features and rules: the build's rule_<id> columns and the
    # triggers (with their dates and deadlines) come from the same single evaluation
    table, fired = features.build_with_triggers(tables, day, calendar=cal, rule_config=cfg)
    return _finish(table, fired, context(tables, day), bundle, day, routing=tbl, objecting=objecting,
                   incomplete_schools=incomplete_schools, top_k=top_k, source=source)


def from_features(
    table: pd.DataFrame,
    fired: pd.DataFrame,
    ctx: pd.DataFrame,
    bundle: ModelBundle,
    day: dt.date,
    *,
    routing: RoutingTable | None = None,
    objecting: Iterable[str] = frozenset(),
    incomplete_schools: Iterable[str] = frozenset(),
    top_k: int = TOP_K,
    source: str = "the data",
) -> Scoring:
    """The second half of score_events, for a feature table and rule triggers built elsewhere (the
    Spark engine): model, reasons and routing for the enrolled, triggers only for the leavers."""
    from riskscore.contracts import RULE_COLUMNS, RULE_IDS

    table = table.copy()
    for rule_id, column in zip(RULE_IDS, RULE_COLUMNS, strict=True):
        table[column] = table["student_id"].isin(fired.loc[fired["rule_id"] == rule_id, "student_id"])
    return _finish(table, fired, ctx, bundle, day, routing=routing, objecting=objecting,
                   incomplete_schools=incomplete_schools, top_k=top_k, source=source)


def _finish(
    table: pd.DataFrame,
    fired: pd.DataFrame,
    ctx: pd.DataFrame,
    bundle: ModelBundle,
    day: dt.date,
    *,
    routing: RoutingTable | None = None,
    objecting: Iterable[str] = frozenset(),
    incomplete_schools: Iterable[str] = frozenset(),
    top_k: int = TOP_K,
    source: str = "the data",
) -> Scoring:
    """Model, reasons and routing for a feature table whose rule columns already match ``fired``."""
    from riskscore.routing import RoutingTable, route_signals

    tbl = routing or RoutingTable.default()
    students = score_table(table, bundle, fired=fired, ctx=ctx, routing=tbl, objecting=objecting,
                           incomplete_schools=incomplete_schools, top_k=top_k)

    # young people not enrolled on as_of whose rules fired (deregistered without sk, VVA): triggers only
    enrolled = {s.student_id for s in students}
    trig = triggers_by_student(fired)
    objecting = frozenset(map(str, objecting))
    leavers: list[ScoredStudent] = []
    for sid in sorted(set(trig) - enrolled):
        if sid not in ctx.index:
            continue
        c = ctx.loc[sid]
        age = _ages([c["birth_date"]], day)[0]
        has_sk = bool(c["has_sk"])
        age_f = None if np.isnan(age) else float(age)
        routes = route_signals((), trig[sid], age=age_f if age_f is not None else 0.0, has_sk=has_sk,
                               band=UNKNOWN_BAND, table=tbl)
        roles = sorted({role for _, role in routes})
        leavers.append(ScoredStudent(
            student_id=sid, school_id=_none(c["school_id"]), municipality=_none(c["municipality"]),
            rmc_region=_none(c["rmc_region"]), age=age_f, as_of=day, probability=None, band=UNKNOWN_BAND,
            reasons=(), triggers=trig[sid], roles=tuple(roles), model_version=bundle.version, has_sk=has_sk,
            objected=sid in objecting, routes=routes))
    if not students and not leavers:
        raise NothingToScoreError(MSG_NO_STUDENTS.format(as_of=day, source=source))
    return Scoring(as_of=day, model_version=bundle.version, students=students, leavers=leavers, table=table,
                   n_fired=len(fired))


def _none(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


__all__ = ["BANDS", "ORDERINGS", "UNKNOWN_BAND", "Base", "NothingToScoreError", "Reason", "ScoredStudent", "Scoring",
           "Trigger", "capacity_ordering", "capacity_priority", "context", "from_features", "score_events",
           "score_table", "triggers_by_student"]
