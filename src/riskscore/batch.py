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
    from riskscore.scoring import ScoredStudent
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
    students: list[ScoredStudent] = field(default_factory=list)  # the typed results behind ``scores``


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
def prepare(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundle: ModelBundle,
    *,
    config: ScoringConfig | None = None,
    routing: RoutingTable | None = None,
    rule_config: RuleConfig | None = None,
    calendar: Any = None,
    objecting: frozenset[str] = frozenset(),
    incomplete_schools: frozenset[str] = frozenset(),
    progress: Progress = lambda _step: None,
    source: str = "the data",
) -> Prepared:
    """The scoring core's results for one as-of date, plus the review-case candidates and the
    monitoring frame. Nothing here builds a result: scoring.score_events does."""
    from riskscore import scoring
    from riskscore.routing import RoutingTable

    cfg = config or ScoringConfig()
    tbl = routing or RoutingTable.default()
    if as_of > dt.date.today():
        raise DataError(MSG_FUTURE.format(as_of=as_of))
    tables = dict(tables)
    result = scoring.score_events(tables, as_of, bundle, rule_config=rule_config, calendar=calendar, routing=tbl,
                                  objecting=objecting, incomplete_schools=incomplete_schools, top_k=cfg.top_k,
                                  source=source)
    return _finish(tables, bundle, result, cfg, tbl, progress, source)


def assemble(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundle: ModelBundle,
    *,
    table: pd.DataFrame,
    fired: pd.DataFrame,
    config: ScoringConfig | None = None,
    routing: RoutingTable | None = None,
    objecting: frozenset[str] = frozenset(),
    incomplete_schools: frozenset[str] = frozenset(),
    progress: Progress = lambda _step: None,
    source: str = "the data",
) -> Prepared:
    """The same as prepare from a feature table and its rule triggers built elsewhere (the Spark
    engine's scored Parquet): the scoring core's results, case candidates and the monitoring frame.
    ``tables`` needs only students and diplomas (the pupils' context)."""
    from riskscore import scoring
    from riskscore.routing import RoutingTable

    cfg = config or ScoringConfig()
    tbl = routing or RoutingTable.default()
    result = scoring.from_features(table, fired, scoring.context(tables, as_of), bundle, as_of, routing=tbl,
                                   objecting=objecting, incomplete_schools=incomplete_schools, top_k=cfg.top_k,
                                   source=source)
    return _finish(tables, bundle, result, cfg, tbl, progress, source)


def _finish(tables: Mapping[str, pd.DataFrame], bundle: ModelBundle, result: Any, cfg: ScoringConfig,
            tbl: RoutingTable, progress: Progress, source: str) -> Prepared:
    """Case candidates (team capacities) and the monitoring frame from the scoring core's results."""
    from riskscore import scoring
    from riskscore.rules import RULES
    from riskscore.store.cases import TEAM_UNITS
    from riskscore.training import pipeline as training

    as_of = result.as_of
    if not result.students:
        raise DataError(MSG_NO_STUDENTS.format(as_of=as_of, source=source))
    progress("features")
    progress("score")
    progress("rules")
    progress("routing")
    scored = result.students
    candidates, capacities = _candidates(scored, result.leavers, cfg, tbl, RULES, TEAM_UNITS,
                                         ordering=scoring.capacity_ordering(bundle))
    progress("cases")

    table = result.table
    assert table is not None  # score_events always returns the feature table it scored
    unscored = {s.student_id for s in scored if s.probability is None}  # objected or data incomplete
    if unscored:  # monitoring sees what the model scored, never a stand-in for a pupil it did not score
        table = table[~table["student_id"].astype(str).isin(unscored)].reset_index(drop=True)
    audit = training.audit_frame(table, tables["students"], tables.get("audit"))  # monitoring frame only
    frame = training.reference_snapshot(bundle, table, audit)
    bands = [s.band for s in scored]
    band_counts = {b: bands.count(b) for b in ("low", "medium", "high")}
    if scoring.UNKNOWN_BAND in bands:
        band_counts[scoring.UNKNOWN_BAND] = bands.count(scoring.UNKNOWN_BAND)
    return Prepared(as_of=as_of, model_version=bundle.version, scores=[s.to_dict() for s in scored],
                    candidates=candidates, frame=frame, n_triggers=result.n_fired, bands=band_counts,
                    capacities=capacities, students=scored)


def _candidates(
    scored: list[ScoredStudent],
    leavers: list[ScoredStudent],
    cfg: ScoringConfig,
    tbl: RoutingTable,
    rule_catalogue: Mapping[str, Any],
    team_units: Mapping[str, str],
    ordering: str = "probability",  # scoring.ORDERINGS: which value a capacity list sorts on
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    from riskscore.scoring import capacity_priority

    out: list[dict[str, Any]] = []
    rule_roles: set[tuple[str, str]] = set()
    for s in [*scored, *leavers]:  # every rule trigger opens a case, for the enrolled and for leavers
        place = {"school_id": s.school_id, "municipality": s.municipality, "rmc_region": s.rmc_region}
        for t in s.triggers:
            roles = tbl.resolve(tbl.rules.get(t.id, ()), age=s.age if s.age is not None else 0.0, has_sk=s.has_sk)
            if not roles and t.id in rule_catalogue:
                roles = {rule_catalogue[t.id].role}
            for role in sorted(roles):
                rule_roles.add((s.student_id, role))
                out.append({
                    "student_id": s.student_id, "role": role, "reason": f"rule:{t.id}", **place, "priority": 1,
                    "due_date": t.due_date, "probability": s.probability,
                    "band": s.band if s.scored else None,
                })
    # capacity: per team, its highest-risk routed students without a rule case for that role
    model_scored = [s for s in scored if s.scored]
    by_sid = {s.student_id: s for s in model_scored}
    df = pd.DataFrame({"student_id": [s.student_id for s in model_scored],
                       "probability": [capacity_priority(s, ordering) for s in model_scored],  # sort key
                       **{u: [getattr(s, u) for s in model_scored] for u in ("school_id", "municipality", "rmc_region")}})
    capacities: dict[str, int] = {}
    for role, per_10k in cfg.capacity_per_10k.items():
        unit = team_units[role]
        sizes = df.groupby(unit, dropna=True).size() if len(df) else pd.Series(dtype=int)
        caps = (sizes * per_10k / 10_000).round().clip(lower=1 if per_10k > 0 else 0).astype(int)
        capacities[role] = int(caps.sum())
        if not len(df):
            continue
        eligible = np.array([role in s.roles and (s.student_id, role) not in rule_roles for s in model_scored],
                            dtype=bool)
        pool = df.loc[eligible & df[unit].notna().to_numpy()].sort_values(
            ["probability", "student_id"], ascending=[False, True], kind="mergesort")
        rank = pool.groupby(unit).cumcount()
        chosen = pool.loc[rank.to_numpy() < pool[unit].map(caps).fillna(0).to_numpy()]
        for sid in chosen["student_id"]:
            s = by_sid[sid]
            out.append({"student_id": sid, "role": role, "reason": "capacity", "school_id": s.school_id,
                        "municipality": s.municipality, "rmc_region": s.rmc_region, "priority": 0,
                        "due_date": None, "probability": s.probability, "band": s.band})
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


def without_model_part(session: Session, prepared: Prepared) -> Prepared:
    """Drop what the model said about pupils marked as objecting (store.privacy): their model score
    rows, their capacity (model-ranked) case candidates and their rows in the monitoring frame. Rule
    candidates stay: the legal rules are statutory duties. A score row without a model part
    (probability None, from a scoring core that already skipped the model) is kept."""
    import dataclasses

    from riskscore.store.privacy import objecting_ids

    objecting = objecting_ids(session, [str(r["student_id"]) for r in prepared.scores])
    if not objecting:
        return prepared
    scores = [r for r in prepared.scores if not (str(r["student_id"]) in objecting and r.get("probability") is not None)]
    candidates = [c if str(c["student_id"]) not in objecting else {**c, "probability": None, "band": None}
                  for c in prepared.candidates if not (str(c["student_id"]) in objecting and c["reason"] == "capacity")]
    frame = prepared.frame
    if "student_id" in frame:
        frame = frame.loc[~frame["student_id"].astype(str).isin(objecting)].reset_index(drop=True)
    return dataclasses.replace(prepared, scores=scores, candidates=candidates, frame=frame)


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
    prepared = without_model_part(session, prepared)  # AVG art. 21: objecting pupils' model scores are never stored

    def within(s: Session, run: Any) -> None:
        seen["cases"] = upsert_cases(s, prepared.candidates, as_of=prepared.as_of, run_id=run.id, actor=BATCH_ACTOR)
        from riskscore.store.signals import record_signals  # who this run flagged (impact evaluation)

        record_signals(s, run.id, prepared.candidates)
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
    objecting: frozenset[str] = frozenset(),
    incomplete_schools: frozenset[str] = frozenset(),
    progress: Progress = lambda _step: None,
    pause_before_commit: float = 0.0,
    source: str = "the data",
) -> BatchResult:
    """prepare + write, timed. ``objecting`` (AVG art. 21) and ``incomplete_schools`` (import gaps)
    pass through to the scoring core: those pupils get their rule triggers but no model score."""
    t0 = time.perf_counter()
    prepared = prepare(tables, as_of, bundle, config=config, routing=routing, rule_config=rule_config,
                       objecting=objecting, incomplete_schools=incomplete_schools, progress=progress,
                       source=source)
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
    """The scored frame of the newest complete run that has a valid file (`training.reference_snapshot`'s
    columns: the bundle reference's plus student_id, municipality and the audit columns, which stay in
    the local runs folder; ``frame.attrs['riskscore_run']`` says which run), or None when there is none."""
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
