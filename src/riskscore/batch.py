"""The batch job: score every enrolled student as of a date, open review cases, store one run.

Everything is computed first (features, scores, reasons, rule triggers, routing, case candidates,
the monitoring frame); then a single database transaction writes the run, its scores and the review
cases, and writes the run's monitoring file just before the commit. A crash or ``kill -9`` at any
point leaves no partial run visible: readers only ever see runs with status ``complete``, and a
monitoring file is only trusted when the attempt stamp inside it matches the committed run.

Review cases (see ``store.cases``):

* every rule trigger opens a case (reason ``rule:<id>``) for each role that acts on it, resolved by
  the routing table (age and startkwalificatie decide leerplicht vs RMC), with the legal due date;
  also for young people who are no longer enrolled (deregistration, VVA), whose context comes from
  their last students row;
* on top of that, each *team* — a reviewing role plus its scope unit (``store.cases.TEAM_UNITS``:
  school → school id, leerplicht → municipality, rmc and jeugdarts → RMC region) — gets cases
  (reason ``capacity``) for its highest-risk students up to its capacity: ``capacity_per_10k`` of
  the role × the team's scored students / 10,000 (at least 1 when the capacity is not 0). Only
  students the routing sends to that role are eligible, and a student who already has a rule case
  for the role does not take a capacity slot: legal triggers are never capped.

Idempotent: a rerun for the same as-of date and model version replaces the run's scores under the
same run id and refreshes, never duplicates, its cases (the store's unique keys enforce it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from riskscore.errors import MSG_CONFIG_INVALID, ConfigError, DataError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from riskscore.model.bundle import ModelBundle
    from riskscore.routing import RoutingTable
    from riskscore.rules import RuleConfig
    from riskscore.settings import Settings

#: defaults = training/config.yaml `capacity_per_10k` (cases per 10,000 students per as-of date)
DEFAULT_CAPACITY_PER_10K: dict[str, float] = {"school": 300, "leerplicht": 150, "jeugdarts": 100, "rmc": 100}
RUNS_DIR = "runs"
RUN_META_KEY = "riskscore_run"
BATCH_ACTOR = "batch:riskscore score"
TOP_K = 3
#: steps reported to the progress callback, in order (the CLI's progress bar has this many)
STEPS = ("features", "score", "rules", "routing", "cases", "store")

MSG_NO_STUDENTS = "no students are enrolled on {as_of} in {source}; nothing to score"
MSG_FUTURE = "as-of date {as_of} lies in the future"

Progress = Callable[[str], None]


class ScoringConfig(BaseModel):
    """Batch settings: capacities per reviewing role. Loadable from a YAML file that has either a
    ``scoring:`` section or a top-level ``capacity_per_10k`` (so training/config.yaml works as is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_per_10k: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_CAPACITY_PER_10K),
        description="reviewing role -> capacity-driven cases per 10,000 students per as-of date (0 = none)")
    top_k: int = Field(TOP_K, ge=1, le=10, description="reasons stored per student")

    @field_validator("capacity_per_10k")
    @classmethod
    def _known_roles(cls, value: dict[str, float]) -> dict[str, float]:
        from riskscore.store.cases import CASE_ROLES

        bad = sorted(set(value) - set(CASE_ROLES))
        if bad:
            raise ValueError(f"unknown role(s) {bad}; choose from {list(CASE_ROLES)}")
        if any(v < 0 for v in value.values()):
            raise ValueError("capacities must be >= 0")
        return value

    @classmethod
    def from_yaml(cls, path: str | Path) -> ScoringConfig:
        import yaml

        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            if not isinstance(raw, dict):
                raise ValueError("top level must be a mapping")
            section = raw.get("scoring") if isinstance(raw.get("scoring"), dict) else None
            data = dict(section) if section is not None else {}
            if "capacity_per_10k" not in data and "capacity_per_10k" in raw:
                data["capacity_per_10k"] = raw["capacity_per_10k"]
            if "capacity_per_10k" in data:
                data["capacity_per_10k"] = {**DEFAULT_CAPACITY_PER_10K, **(data["capacity_per_10k"] or {})}
            return cls(**data)
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=details)) from None
        except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=str(exc).splitlines()[0])) from None


@dataclass
class Prepared:
    """Everything a run writes, computed before the transaction starts."""

    as_of: dt.date
    model_version: str
    scores: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    frame: pd.DataFrame
    n_triggers: int
    bands: dict[str, int]
    capacities: dict[str, int] = field(default_factory=dict)  # role -> summed capacity over its teams


@dataclass
class BatchResult:
    run_id: int
    as_of: dt.date
    model_version: str
    n_scored: int
    n_triggers: int
    bands: dict[str, int]
    cases: dict[str, int]
    capacities: dict[str, int]
    frame_path: Path
    seconds: float
    timings: dict[str, float]


# --- preparation -----------------------------------------------------------------------------------
def _context(tables: Mapping[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    """Per student: the last students row up to as_of's school year, with sk held on as_of."""
    from riskscore.calendar import school_year_of

    students = tables["students"]
    sy = school_year_of(as_of)
    rows = students.loc[students["school_year"].astype(str) <= sy]
    rows = rows.sort_values(["student_id", "school_year"]).drop_duplicates("student_id", keep="last")
    ctx = rows.set_index(rows["student_id"].astype(str))[
        ["school_id", "municipality", "rmc_region", "birth_date", "has_sk"]].copy()
    diplomas = tables.get("diplomas")
    if diplomas is not None and len(diplomas):
        sk = diplomas.loc[diplomas["is_sk"].astype(bool) & (pd.to_datetime(diplomas["date"]) <= pd.Timestamp(as_of)),
                          "student_id"].astype(str)
        ctx["has_sk"] = ctx["has_sk"].astype(bool) | ctx.index.isin(sk)
    ctx["has_sk"] = ctx["has_sk"].astype(bool)
    return ctx


def _age_on(birth: Any, as_of: dt.date) -> float | None:
    if birth is None or pd.isna(birth):
        return None
    b = pd.Timestamp(birth)
    return float(as_of.year - b.year - ((as_of.month, as_of.day) < (b.month, b.day)))


def _iso(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _triggers_by_student(fired: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """One trigger per rule per student: the newest firing (as for the cases), so a rule that fired in
    several windows of the lookback is shown once, with its most recent date and due date."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if len(fired):
        fired = fired.sort_values("fired_on", kind="stable")
    for rec in fired.itertuples(index=False):
        out.setdefault(str(rec.student_id), {})[str(rec.rule_id)] = {
            "id": rec.rule_id, "source": rec.source, "role": rec.role, "fired_on": _iso(rec.fired_on),
            "due_date": _iso(rec.due_date), "detail": None if pd.isna(rec.detail) else str(rec.detail),
        }
    return {sid: list(by_rule.values()) for sid, by_rule in out.items()}


def _reasons(bundle: ModelBundle, X: np.ndarray, contributions: np.ndarray, top: np.ndarray) -> list[list[dict[str, Any]]]:
    """The top positive reasons per row, as explain.reasons gives them, from the precomputed top indices."""
    from riskscore.model import explain

    feats = bundle.features
    out: list[list[dict[str, Any]]] = []
    for i in range(len(X)):
        row: list[dict[str, Any]] = []
        for j in top[i]:
            if j < 0 or not contributions[i, j] > 0:
                continue
            feat = feats[j]
            tpl = bundle.catalogue.get(feat) or explain.ReasonTemplate(
                feat.upper(), "context", f"{feat}: {{v}}", f"{feat}: {{v}}", "float1")
            v = X[i, j]
            nl, en = explain.render(tpl, v)
            # the keys of explain.Reason.to_dict(), without dataclasses.asdict's deep copies (100k rows)
            row.append({"code": tpl.code, "feature": feat, "category": tpl.category,
                        "value": None if np.isnan(v) else float(v), "contribution": float(contributions[i, j]),
                        "text_nl": nl, "text_en": en})
        out.append(row)
    return out


def prepare(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundle: ModelBundle,
    *,
    config: ScoringConfig | None = None,
    routing: RoutingTable | None = None,
    rule_config: RuleConfig | None = None,
    calendar: Any = None,
    progress: Progress = lambda _step: None,
    source: str = "the data",
) -> Prepared:
    """Features, scores, reasons, triggers, routing and case candidates for one as-of date."""
    from riskscore import features, rules
    from riskscore.calendar import SchoolCalendar
    from riskscore.routing import RoutingTable

    cfg = config or ScoringConfig()
    tbl = routing or RoutingTable.default()
    cal = calendar or SchoolCalendar.default()
    if as_of > dt.date.today():
        raise DataError(MSG_FUTURE.format(as_of=as_of))
    tables = dict(tables)
    table = features.build(tables, as_of, calendar=cal, rule_config=rule_config)
    progress("features")
    if table.empty:
        raise DataError(MSG_NO_STUDENTS.format(as_of=as_of, source=source))
    table = table.drop_duplicates("student_id", keep="last").reset_index(drop=True)

    scored = bundle.score(bundle.matrix(table), top_k=cfg.top_k)
    fired = rules.evaluate(features.point_in_time(tables, as_of), as_of, config=rule_config, calendar=cal)
    return assemble(tables, as_of, bundle, table=table, scored=scored, fired=fired, config=cfg, routing=tbl,
                    progress=progress)


def assemble(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundle: ModelBundle,
    *,
    table: pd.DataFrame,
    scored: Any,
    fired: pd.DataFrame,
    config: ScoringConfig | None = None,
    routing: RoutingTable | None = None,
    progress: Progress = lambda _step: None,
) -> Prepared:
    """Reasons, routing, capacity-bounded case candidates and the monitoring frame from a feature
    table, its scores (``bundle.Scored``) and the rule triggers — computed here (pandas engine) or
    read back from the Spark engine's scored Parquet. ``tables`` needs only students and diplomas."""
    from riskscore.routing import RoutingTable, route
    from riskscore.rules import RULES
    from riskscore.store.cases import TEAM_UNITS
    from riskscore.training import pipeline as training

    cfg = config or ScoringConfig()
    tbl = routing or RoutingTable.default()
    X = bundle.matrix(table)
    reasons = _reasons(bundle, X, scored.contributions, scored.top)
    progress("score")

    triggers = _triggers_by_student(fired)
    ctx = _context(tables, as_of)
    progress("rules")

    sids = table["student_id"].astype(str).to_numpy()
    has_sk = ctx["has_sk"].reindex(sids).fillna(False).astype(bool).to_numpy()
    ages = pd.to_numeric(table["age"], errors="coerce").to_numpy(dtype=float)
    probs = np.asarray(scored.probability, dtype=float)
    bands = np.asarray(scored.band).astype(str)
    place = {u: table[u].astype(object).where(table[u].notna(), None).to_numpy()
             for u in ("school_id", "municipality", "rmc_region")}
    scores: list[dict[str, Any]] = []
    routed: list[list[str]] = []
    for i, sid in enumerate(sids):
        trig = triggers.get(sid, [])
        age = None if np.isnan(ages[i]) else float(ages[i])
        roles = route(reasons[i], trig, age=age if age is not None else 0.0, has_sk=bool(has_sk[i]),
                      band=bands[i], table=tbl)
        routed.append(roles)
        scores.append({
            "student_id": sid, "school_id": place["school_id"][i], "municipality": place["municipality"][i],
            "rmc_region": place["rmc_region"][i], "age": age, "probability": float(probs[i]), "band": bands[i],
            "reasons": reasons[i], "triggers": trig, "roles": roles,
        })
    progress("routing")

    candidates, capacities = _candidates(scores, routed, triggers, ctx, as_of, cfg, tbl, RULES, TEAM_UNITS)
    progress("cases")

    audit = training.audit_frame(table, tables["students"])
    frame = training.reference_snapshot(bundle, table, audit)
    band_counts = {b: int((bands == b).sum()) for b in ("low", "medium", "high")}
    return Prepared(as_of=as_of, model_version=bundle.version, scores=scores, candidates=candidates, frame=frame,
                    n_triggers=len(fired), bands=band_counts, capacities=capacities)


def _candidates(
    scores: list[dict[str, Any]],
    routed: list[list[str]],
    triggers: dict[str, list[dict[str, Any]]],
    ctx: pd.DataFrame,
    as_of: dt.date,
    cfg: ScoringConfig,
    tbl: RoutingTable,
    rule_catalogue: Mapping[str, Any],
    team_units: Mapping[str, str],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    by_sid = {s["student_id"]: s for s in scores}
    out: list[dict[str, Any]] = []
    rule_roles: set[tuple[str, str]] = set()
    for sid, trigs in triggers.items():
        s = by_sid.get(sid)
        if s is not None:
            place = {k: s[k] for k in ("school_id", "municipality", "rmc_region")}
            age, sk = s["age"], None
        elif sid in ctx.index:  # no longer enrolled (deregistered, VVA): its last known school and region
            c = ctx.loc[sid]
            place = {"school_id": c["school_id"], "municipality": c["municipality"], "rmc_region": c["rmc_region"]}
            age, sk = _age_on(c["birth_date"], as_of), bool(c["has_sk"])
        else:
            continue
        if sk is None:
            sk = bool(ctx.at[sid, "has_sk"]) if sid in ctx.index else False
        newest: dict[str, dict[str, Any]] = {}
        for t in trigs:  # a rule can fire twice in the lookback (a new 4-week period): the newest counts
            if t["id"] not in newest or (t["fired_on"] or "") >= (newest[t["id"]]["fired_on"] or ""):
                newest[t["id"]] = t
        for t in newest.values():
            roles = tbl.resolve(tbl.rules.get(t["id"], ()), age=age if age is not None else 0.0, has_sk=sk)
            if not roles and t["id"] in rule_catalogue:
                roles = {rule_catalogue[t["id"]].role}
            for role in sorted(roles):
                rule_roles.add((sid, role))
                out.append({
                    "student_id": sid, "role": role, "reason": f"rule:{t['id']}", **place, "priority": 1,
                    "due_date": dt.date.fromisoformat(t["due_date"]) if t["due_date"] else None,
                    "probability": None if s is None else s["probability"], "band": None if s is None else s["band"],
                })
    # capacity: per team, its highest-risk routed students without a rule case for that role
    df = pd.DataFrame({"student_id": [s["student_id"] for s in scores],
                       "probability": [s["probability"] for s in scores],
                       **{u: [s[u] for s in scores] for u in ("school_id", "municipality", "rmc_region")}})
    capacities: dict[str, int] = {}
    for role, per_10k in cfg.capacity_per_10k.items():
        unit = team_units[role]
        sizes = df.groupby(unit, dropna=True).size()
        caps = (sizes * per_10k / 10_000).round().clip(lower=1 if per_10k > 0 else 0).astype(int)
        capacities[role] = int(caps.sum())
        eligible = np.array([role in r and (sid, role) not in rule_roles
                             for sid, r in zip(df["student_id"], routed, strict=True)], dtype=bool)
        pool = df.loc[eligible & df[unit].notna().to_numpy()].sort_values(
            ["probability", "student_id"], ascending=[False, True], kind="mergesort")
        rank = pool.groupby(unit).cumcount()
        chosen = pool.loc[rank.to_numpy() < pool[unit].map(caps).fillna(0).to_numpy()]
        for sid in chosen["student_id"]:
            s = by_sid[sid]
            out.append({"student_id": sid, "role": role, "reason": "capacity", "school_id": s["school_id"],
                        "municipality": s["municipality"], "rmc_region": s["rmc_region"], "priority": 0,
                        "due_date": None, "probability": s["probability"], "band": s["band"]})
    return out, capacities


# --- writing -----------------------------------------------------------------------------------------
def _attempt_stamp(value: dt.datetime) -> str:
    """The run attempt's start time as UTC text: SQLite gives naive UTC back, PostgreSQL aware."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def runs_dir(home: Path) -> Path:
    return Path(home) / RUNS_DIR


def frame_path(home: Path, run_id: int) -> Path:
    return runs_dir(home) / f"run-{int(run_id)}.parquet"


def scored_frame_path(settings: Settings, run_id: int) -> Path:
    """Where the monitoring frame of a run lives: <home>/runs/run-<run_id>.parquet."""
    return frame_path(settings.home, run_id)


def write(
    session: Session,
    prepared: Prepared,
    *,
    home: Path,
    progress: Progress = lambda _step: None,
    pause_before_commit: float = 0.0,
) -> tuple[int, dict[str, int], Path]:
    """One transaction: the run, its scores, the review cases, and (just before the commit) the run's
    monitoring file. Returns (run id, case counts, file path)."""
    from riskscore import datasets
    from riskscore.store.cases import upsert_cases
    from riskscore.store.runs import write_scoring_run

    seen: dict[str, Any] = {}

    def within(s: Session, run: Any) -> None:
        seen["cases"] = upsert_cases(s, prepared.candidates, as_of=prepared.as_of, run_id=run.id, actor=BATCH_ACTOR)
        frame = prepared.frame.copy()
        frame.attrs[RUN_META_KEY] = {"run_id": int(run.id), "as_of": prepared.as_of.isoformat(),
                                     "model_version": prepared.model_version,
                                     "attempt": _attempt_stamp(run.started_at)}
        seen["path"] = datasets.write_parquet_atomic(frame, frame_path(home, run.id))
        if pause_before_commit > 0:  # fault-injection hook for the crash tests (hidden CLI option)
            progress("holding the transaction open")
            time.sleep(pause_before_commit)

    run = write_scoring_run(session, as_of=prepared.as_of, model_version=prepared.model_version,
                            scores=prepared.scores, source="batch", within=within)
    progress("store")
    return int(run.id), dict(seen["cases"]), Path(seen["path"])


def run(
    session: Session,
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundle: ModelBundle,
    *,
    home: Path,
    config: ScoringConfig | None = None,
    routing: RoutingTable | None = None,
    rule_config: RuleConfig | None = None,
    progress: Progress = lambda _step: None,
    pause_before_commit: float = 0.0,
    source: str = "the data",
) -> BatchResult:
    """prepare + write, timed."""
    t0 = time.perf_counter()
    prepared = prepare(tables, as_of, bundle, config=config, routing=routing, rule_config=rule_config,
                       progress=progress, source=source)
    t1 = time.perf_counter()
    run_id, cases, path = write(session, prepared, home=home, progress=progress,
                                pause_before_commit=pause_before_commit)
    t2 = time.perf_counter()
    return BatchResult(run_id=run_id, as_of=as_of, model_version=prepared.model_version,
                       n_scored=len(prepared.scores), n_triggers=prepared.n_triggers, bands=prepared.bands,
                       cases=cases, capacities=prepared.capacities, frame_path=path, seconds=t2 - t0,
                       timings={"prepare": t1 - t0, "store": t2 - t1})


# --- reading the monitoring frame ------------------------------------------------------------------
def read_scored_frame(home: Path, run: Any) -> pd.DataFrame | None:
    """The run's monitoring frame, or None when it is missing or belongs to another (crashed) attempt."""
    path = frame_path(home, run.id)
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path)
    except Exception:  # unreadable: treat as missing, never as data
        return None
    meta = frame.attrs.get(RUN_META_KEY) or {}
    if meta.get("run_id") != run.id or meta.get("attempt") != _attempt_stamp(run.started_at):
        return None
    return frame


def latest_scored_frame(settings: Settings, *, session: Session | None = None) -> pd.DataFrame | None:
    """The scored frame of the newest complete run that has a valid file (same columns as the training
    reference snapshot; ``frame.attrs['riskscore_run']`` says which run), or None when there is none."""
    from riskscore.store.db import make_engine, session_factory
    from riskscore.store.runs import list_runs

    def newest(s: Session) -> pd.DataFrame | None:
        import sqlalchemy as sa

        from riskscore.errors import StoreError

        try:
            runs = list_runs(s, limit=20)
        except (sa.exc.SQLAlchemyError, StoreError):  # no tables yet: nothing was ever scored
            return None
        for r in runs:
            frame = read_scored_frame(settings.home, r)
            if frame is not None:
                return frame
        return None

    if session is not None:
        return newest(session)
    url = settings.resolved_database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            return newest(s)
    finally:
        engine.dispose()


def summary_json(result: BatchResult) -> str:
    return json.dumps({"run_id": result.run_id, "as_of": result.as_of.isoformat(),
                       "model_version": result.model_version, "n_scored": result.n_scored,
                       "n_triggers": result.n_triggers, "bands": result.bands, "cases": result.cases,
                       "capacities": result.capacities, "frame": str(result.frame_path),
                       "seconds": round(result.seconds, 2),
                       "timings": {k: round(v, 2) for k, v in result.timings.items()}})
