"""The batch job: score every enrolled student as of a date, open review cases, store one run.

A thin caller of the two cores: ``scoring.score_events`` makes the typed results, the review core
(``riskscore.review``) makes the case candidates (routing once, one case per pupil per team, capacity per
team) and the monitoring frame; this module validates the configuration and writes it all. Everything is
computed first; then the run, its scores and the review cases are written so that readers see all of it
or nothing (store.runs.write_scoring_run: chunked under an invisible staging run, then one flip that also
opens the cases and writes the run's monitoring file). A crash or ``kill -9`` at any point leaves no
partial run visible: readers only ever see runs with status ``complete``, and a monitoring file is only
trusted when the attempt stamp inside it matches the committed run.

Idempotent: a rerun for the same as-of date and model version replaces the run's scores under the
same run id and refreshes, never duplicates, its cases (the store's unique index enforces it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from riskscore import review
from riskscore.audit_table import audit_frame
from riskscore.clock import today as school_today
from riskscore.errors import MSG_CONFIG_INVALID, ConfigError, DataError
from riskscore.review.frame import monitoring_frame
from riskscore.store.registrations import sync_registrations

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from riskscore.model.bundle import ModelBundle
    from riskscore.review.candidates import CaseCandidate
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
        bad = sorted(set(value) - set(review.CASE_ROLES))
        if bad:
            raise ValueError(f"unknown role(s) {bad}; choose from {list(review.CASE_ROLES)}")
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
    students: list[ScoredStudent]  # the scoring core's typed results (stored as the run's scores)
    candidates: list[CaseCandidate]  # the review core's cases-to-be
    frame: pd.DataFrame
    n_triggers: int
    bands: dict[str, int]
    capacities: dict[str, int] = field(default_factory=dict)  # role -> summed capacity over its teams

    @property
    def scores(self) -> list[ScoredStudent]:
        return self.students


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
    if as_of > school_today():
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
    """Case candidates and the monitoring frame from the scoring core's results (the review core)."""
    from riskscore import scoring

    as_of = result.as_of
    if not result.students:
        raise DataError(MSG_NO_STUDENTS.format(as_of=as_of, source=source))
    progress("features")
    progress("score")
    progress("rules")
    progress("routing")
    scored = result.students
    cands, capacities = review.candidates(scored, result.leavers, capacity_per_10k=cfg.capacity_per_10k,
                                          rank=scoring.capacity_ordering(bundle))
    progress("cases")
    table = result.table
    assert table is not None  # score_events always returns the feature table it scored
    audit = audit_frame(table, tables["students"], tables.get("audit"))  # the monitoring frame only
    frame = monitoring_frame(table, scored, bundle.features, audit)
    bands = [s.band for s in scored]
    band_counts = {b: bands.count(b) for b in ("low", "medium", "high")}
    if scoring.UNKNOWN_BAND in bands:
        band_counts[scoring.UNKNOWN_BAND] = bands.count(scoring.UNKNOWN_BAND)
    return Prepared(as_of=as_of, model_version=bundle.version, students=[*scored], candidates=cands, frame=frame,
                    n_triggers=result.n_fired, bands=band_counts, capacities=capacities)


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
    """Drop what the model said about pupils marked as objecting (store.privacy): their model scores,
    their model signals (capacity) and their rows in the monitoring frame. Rule signals stay: the legal
    rules are statutory duties. A score without a model part (probability None, from a scoring core that
    already skipped the model) is kept."""
    import dataclasses

    from riskscore.review.candidates import MODEL
    from riskscore.store.privacy import objecting_ids

    objecting = objecting_ids(session, [s.student_id for s in prepared.students])
    if not objecting:
        return prepared
    students = [s for s in prepared.students if not (s.student_id in objecting and s.probability is not None)]
    candidates = []
    for c in prepared.candidates:
        if c.student_id not in objecting:
            candidates.append(c)
            continue
        rules = tuple(sig for sig in c.signals if sig.kind != MODEL)
        if rules:
            candidates.append(dataclasses.replace(c, signals=rules, probability=None, band=None))
    frame = prepared.frame
    if "student_id" in frame:
        frame = frame.loc[~frame["student_id"].astype(str).isin(objecting)].reset_index(drop=True)
    return dataclasses.replace(prepared, students=students, candidates=candidates, frame=frame)


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
    from riskscore.store.cases import upsert_candidates
    from riskscore.store.runs import write_scoring_run
    from riskscore.store.signals import record_signals

    seen: dict[str, Any] = {}
    prepared = without_model_part(session, prepared)  # AVG art. 21: objecting pupils' model scores are never stored

    def within(s: Session, run: Any) -> None:
        seen["cases"] = upsert_candidates(s, prepared.candidates, as_of=prepared.as_of, run_id=run.id,
                                          actor=BATCH_ACTOR)
        record_signals(s, run.id, review.signal_keys(prepared.candidates))  # who this run flagged (impact)
        frame = prepared.frame.copy()
        frame.attrs[RUN_META_KEY] = {"run_id": int(run.id), "as_of": prepared.as_of.isoformat(),
                                     "model_version": prepared.model_version,
                                     "attempt": _attempt_stamp(run.started_at)}
        seen["path"] = datasets.write_parquet_atomic(frame, frame_path(home, run.id))
        if pause_before_commit > 0:  # fault-injection hook for the crash tests (hidden CLI option)
            progress("holding the transaction open")
            time.sleep(pause_before_commit)

    run = write_scoring_run(session, as_of=prepared.as_of, model_version=prepared.model_version,
                            scores=prepared.students, source="batch", within=within)
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
    # where each pupil belongs (scope) comes from the same tables the run scored
    sync_registrations(session, tables["students"], tables.get("enrolments"))
    run_id, cases, path = write(session, prepared, home=home, progress=progress,
                                pause_before_commit=pause_before_commit)
    t2 = time.perf_counter()
    return BatchResult(run_id=run_id, as_of=as_of, model_version=prepared.model_version,
                       n_scored=len(prepared.students), n_triggers=prepared.n_triggers, bands=prepared.bands,
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
    from riskscore.store.runs import list_runs_if_any

    def newest(s: Session) -> pd.DataFrame | None:
        for r in list_runs_if_any(s, limit=20):
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
