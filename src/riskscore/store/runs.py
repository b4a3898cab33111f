"""Scoring runs and scores. A run is written in one transaction (create, insert, mark complete), so a
crash leaves nothing visible; readers only look at complete runs; a rerun for the same as_of and
model version replaces the earlier run's scores under the same run id (review cases that point at it
stay valid)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from riskscore.errors import DataError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import Score, ScoringRun, utcnow

#: 'unknown': the pupil's school delivered incomplete data (ingest ledger), so no probability is given
BAND_UNKNOWN = "unknown"
BANDS = ("low", "medium", "high", BAND_UNKNOWN)
REQUIRED_SCORE_FIELDS = ("student_id", "probability", "band")
OPTIONAL_SCORE_FIELDS = ("school_id", "municipality", "rmc_region", "age", "reasons", "triggers", "roles")
MSG_BAD_SCORE = "score row {index}: {details}"
_CHUNK = 5000


def _score_values(index: int, row: Mapping[str, Any]) -> dict[str, Any]:
    unknown = row.get("band") == BAND_UNKNOWN  # data incomplete (ingest ledger): no probability
    missing = [f for f in REQUIRED_SCORE_FIELDS if row.get(f) is None and not (unknown and f == "probability")]
    if missing:
        raise DataError(MSG_BAD_SCORE.format(index=index, details=f"missing {', '.join(missing)}"))
    probability = None if unknown else float(row["probability"])
    if probability is not None and not 0.0 <= probability <= 1.0:
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
        "reasons": list(row.get("reasons") or []),
        "triggers": list(row.get("triggers") or []),
        "roles": list(row.get("roles") or []),
    }


def write_scoring_run(
    session: Session,
    *,
    as_of: date,
    model_version: str,
    scores: Iterable[Mapping[str, Any]],
    source: str = "batch",
    within: Callable[[Session, ScoringRun], None] | None = None,
) -> ScoringRun:
    """Write a complete run in one transaction and return it (status 'complete').

    Each score mapping needs student_id, probability and band; optional school_id, municipality,
    rmc_region, age, reasons (list of reason dicts), triggers (list of dicts), roles (list of str).
    Rows are validated before anything is written; a failure rolls everything back.

    ``within(session, run)``, if given, runs inside the same transaction after the scores are
    inserted and before the commit (the batch job opens review cases and writes the run's monitoring
    file there), so the run, its scores and whatever ``within`` writes become visible together or
    not at all. It may run more than once when SQLite was locked (the transaction is retried)."""
    values = [_score_values(i, row) for i, row in enumerate(scores)]
    now = utcnow()

    def work(s: Session) -> ScoringRun:
        run = s.scalars(
            select(ScoringRun).where(ScoringRun.as_of == as_of, ScoringRun.model_version == model_version)
        ).one_or_none()
        if run is None:
            run = ScoringRun(as_of=as_of, model_version=model_version, started_at=now, n_scored=0, source=source)
            s.add(run)
        else:  # rerun: same id, fresh scores
            s.execute(delete(Score).where(Score.run_id == run.id))
            run.started_at, run.finished_at, run.source = now, None, source
        run.status = "running"
        s.flush()
        for start in range(0, len(values), _CHUNK):
            s.execute(
                insert(Score),
                [
                    {**v, "run_id": run.id, "as_of": as_of, "model_version": model_version, "created_at": now}
                    for v in values[start : start + _CHUNK]
                ],
            )
        run.n_scored = len(values)
        if within is not None:
            within(s, run)
        run.status = "complete"
        run.finished_at = utcnow()
        return run

    return run_write(session, work)


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
