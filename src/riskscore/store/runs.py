"""Scoring runs and scores. A run is written in short chunked transactions under an invisible staging
run and flipped complete at the end, so a crash leaves nothing visible and the service keeps
answering during a large run; readers only look at complete runs; a rerun for the same as_of and
model version replaces the earlier run's scores under the same run id (review cases that point at it
stay valid)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from riskscore.errors import DataError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import Score, ScoringRun, utcnow

BANDS = ("low", "medium", "high")
#: band of a stored pupil without a model score (scoring.UNKNOWN_BAND: objected or data incomplete)
UNSCORED_BAND = "unknown"
REQUIRED_SCORE_FIELDS = ("student_id", "band")
OPTIONAL_SCORE_FIELDS = ("school_id", "municipality", "rmc_region", "age", "reasons", "triggers", "roles", "base")
MSG_BAD_SCORE = "score row {index}: {details}"
_CHUNK = 5000


def _score_values(index: int, row: Mapping[str, Any]) -> dict[str, Any]:
    missing = [f for f in REQUIRED_SCORE_FIELDS if row.get(f) is None]
    if missing:
        raise DataError(MSG_BAD_SCORE.format(index=index, details=f"missing {', '.join(missing)}"))
    unscored = row["band"] == UNSCORED_BAND and row.get("probability") is None
    probability: float | None = None
    if not unscored:
        if row.get("probability") is None:
            raise DataError(MSG_BAD_SCORE.format(index=index, details="missing probability"))
        probability = float(row["probability"])
        if not 0.0 <= probability <= 1.0:
            raise DataError(MSG_BAD_SCORE.format(index=index, details=f"probability {probability} not in [0, 1]"))
        if row["band"] not in BANDS:
            raise DataError(MSG_BAD_SCORE.format(index=index, details=f"band {row['band']!r} not in {BANDS}"))
    age = row.get("age")
    return {
        "student_id": str(row["student_id"]),
        "school_id": row.get("school_id"),
        "municipality": row.get("municipality"),
        "rmc_region": row.get("rmc_region"),
        "age": None if age is None else float(age),
        "probability": probability,
        "band": str(row["band"]),
        "objected": bool(row.get("objected", False)),
        "data_incomplete": bool(row.get("data_incomplete", False)),
        "reasons": list(row.get("reasons") or []),
        "triggers": list(row.get("triggers") or []),
        "roles": list(row.get("roles") or []),
        "base": dict(row["base"]) if row.get("base") else None,
    }


STAGING = "~staging~"


def write_scoring_run(
    session: Session,
    *,
    as_of: date,
    model_version: str,
    scores: Iterable[Mapping[str, Any]],
    source: str = "batch",
    within: Callable[[Session, ScoringRun], None] | None = None,
) -> ScoringRun:
    """Write a complete run and return it (status 'complete'); readers see all of it or nothing.

    Each score mapping needs student_id, probability and band; optional school_id, municipality,
    rmc_region, age, reasons (list of reason dicts), triggers (list of dicts), roles (list of str).
    Rows are validated before anything is written.

    The scores are written in chunks of _CHUNK rows, each its own short transaction, under a
    *staging* run (status 'running', a model version marked STAGING) that no reader looks at; so
    on SQLite reviewers' saves and API scores get the write lock between chunks instead of waiting
    behind one long transaction. A last short transaction flips the run visible: the staging run
    becomes the run (first run for this as_of and model), or — on a rerun — its scores move under
    the earlier run's id (review cases that point at it stay valid) and the earlier scores go.
    A crash leaves only an invisible staging run, removed by the next write.

    ``within(session, run)``, if given, runs inside the flip's transaction (the batch job opens
    review cases and writes the run's monitoring file there), so the run, its scores and whatever
    ``within`` writes become visible together or not at all. It may run more than once when SQLite
    was locked (the transaction is retried)."""
    values = [_score_values(i, row) for i, row in enumerate(scores)]
    now = utcnow()
    staging_version = f"{model_version}{STAGING}{uuid.uuid4().hex[:12]}"[:64]

    def stage(s: Session) -> int:
        stale = list(s.scalars(select(ScoringRun.id).where(
            ScoringRun.as_of == as_of, ScoringRun.status == "running",
            ScoringRun.model_version.like(f"{model_version}{STAGING}%"))))
        if stale:  # what a crashed writer left: never visible, now gone
            s.execute(delete(Score).where(Score.run_id.in_(stale)))
            s.execute(delete(ScoringRun).where(ScoringRun.id.in_(stale)))
        run = ScoringRun(as_of=as_of, model_version=staging_version, started_at=now, n_scored=0, source=source,
                         status="running")
        s.add(run)
        s.flush()
        return int(run.id)

    staged = run_write(session, stage)
    try:
        for start in range(0, len(values), _CHUNK):
            rows = [{**v, "run_id": staged, "as_of": as_of, "model_version": model_version, "created_at": now}
                    for v in values[start : start + _CHUNK]]
            run_write(session, lambda s, rows=rows: s.execute(insert(Score), rows))  # type: ignore[misc]

        def flip(s: Session) -> ScoringRun:
            earlier = s.scalars(
                select(ScoringRun).where(ScoringRun.as_of == as_of, ScoringRun.model_version == model_version)
            ).one_or_none()
            staging_run = s.get(ScoringRun, staged)
            assert staging_run is not None
            if earlier is None:
                run = staging_run
                run.model_version = model_version
            else:  # rerun: same id, fresh scores
                s.execute(delete(Score).where(Score.run_id == earlier.id))
                s.execute(update(Score).where(Score.run_id == staged).values(run_id=earlier.id))
                s.delete(staging_run)
                s.flush()
                run = earlier
                run.started_at, run.source = now, source
            run.n_scored = len(values)
            if within is not None:
                within(s, run)
            run.status = "complete"
            run.finished_at = utcnow()
            return run

        return run_write(session, flip)
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: otherwise the next write removes it
            run_write(session, lambda s: (s.execute(delete(Score).where(Score.run_id == staged)),
                                          s.execute(delete(ScoringRun).where(ScoringRun.id == staged,
                                                                             ScoringRun.status == "running"))))
        raise


def latest_score(session: Session, student_id: str) -> Score | None:
    """The student's newest score from a complete run (newest as_of, then newest write)."""
    stmt = (
        select(Score)
        .join(ScoringRun, ScoringRun.id == Score.run_id)
        .where(Score.student_id == student_id, ScoringRun.status == "complete")
        .order_by(Score.as_of.desc(), Score.created_at.desc(), Score.id.desc())
        .limit(1)
    )
    with translate_errors():
        return session.scalars(stmt).first()


def latest_scores(session: Session, student_ids: Iterable[str]) -> dict[str, Score]:
    """Each student's newest score from a complete run (as latest_score, for many students at once)."""
    ids = list(dict.fromkeys(str(i) for i in student_ids))
    out: dict[str, Score] = {}
    for start in range(0, len(ids), 500):  # stay well below any backend's bound-parameter limit
        stmt = (
            select(Score)
            .join(ScoringRun, ScoringRun.id == Score.run_id)
            .where(Score.student_id.in_(ids[start : start + 500]), ScoringRun.status == "complete")
            .order_by(Score.student_id, Score.as_of.desc(), Score.created_at.desc(), Score.id.desc())
        )
        with translate_errors():
            for row in session.scalars(stmt):
                out.setdefault(row.student_id, row)
    return out


def latest_run(session: Session, *, as_of: date | None = None) -> ScoringRun | None:
    """The newest complete run (optionally for one as_of)."""
    stmt = select(ScoringRun).where(ScoringRun.status == "complete")
    if as_of is not None:
        stmt = stmt.where(ScoringRun.as_of == as_of)
    stmt = stmt.order_by(ScoringRun.as_of.desc(), ScoringRun.finished_at.desc(), ScoringRun.id.desc()).limit(1)
    with translate_errors():
        return session.scalars(stmt).first()


def list_runs(session: Session, *, limit: int = 50) -> list[ScoringRun]:
    """Complete runs, newest first."""
    stmt = (
        select(ScoringRun)
        .where(ScoringRun.status == "complete")
        .order_by(ScoringRun.as_of.desc(), ScoringRun.id.desc())
        .limit(limit)
    )
    with translate_errors():
        return list(session.scalars(stmt))


def run_scores(session: Session, run_id: int) -> list[Score]:
    """All scores of one complete run (empty if the run is unknown or not complete)."""
    stmt = (
        select(Score)
        .join(ScoringRun, ScoringRun.id == Score.run_id)
        .where(Score.run_id == run_id, ScoringRun.status == "complete")
        .order_by(Score.probability.desc(), Score.id)
    )
    with translate_errors():
        return list(session.scalars(stmt))


def case_scores(session: Session, cases: Iterable[Any]) -> dict[int, tuple[Score, str]]:
    """For each review case, the score a worklist may show beside it, with its run's source.

    Only a score stored for the case's own school, municipality and RMC region counts: a score
    stored under the same pupil id from outside the case's scope (e.g. another tenant scoring a
    pupil id it does not enrol) is never shown to the case's team. Among those, the newest score of
    a batch run wins; without one, the score of the run that opened the case; without that, the
    newest in-scope score of any source (an API score, labelled 'api'). Cases without such a score
    are left out (the page shows the case's own probability, labelled as of its opening)."""
    cases = list(cases)
    ids = list(dict.fromkeys(str(c.student_id) for c in cases))
    found: dict[str, list[tuple[Score, str]]] = {}
    for start in range(0, len(ids), 500):
        stmt = (
            select(Score, ScoringRun.source)
            .join(ScoringRun, ScoringRun.id == Score.run_id)
            .where(Score.student_id.in_(ids[start : start + 500]), ScoringRun.status == "complete")
            .order_by(Score.student_id, Score.as_of.desc(), Score.created_at.desc(), Score.id.desc())
        )
        with translate_errors():
            for score, source in session.execute(stmt):
                found.setdefault(score.student_id, []).append((score, str(source or "batch")))
    out: dict[int, tuple[Score, str]] = {}
    for case in cases:
        own = [(s, src) for s, src in found.get(case.student_id, [])
               if (s.school_id, s.municipality, s.rmc_region) == (case.school_id, case.municipality, case.rmc_region)]
        batch = next(((s, src) for s, src in own if src != "api"), None)
        opening = next(((s, src) for s, src in own if s.run_id == case.opened_by_run), None)
        chosen = batch or opening or (own[0] if own else None)
        if chosen is not None:
            out[case.id] = chosen
    return out
