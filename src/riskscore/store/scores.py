"""Scores in the store: the one row a ScoredStudent becomes (``score_row``, validated), written by the batch
job as a whole run (store.runs.write_scoring_run) or by the API appended to the run of its as-of date and
model version (``store_scores``), and read back (``stored_to_result``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy.orm import Session

from riskscore.errors import DataError
from riskscore.scoring import ScoredStudent

BANDS = ("low", "medium", "high")
#: band of a stored pupil without a model score (scoring.UNKNOWN_BAND: objected or data incomplete)
UNSCORED_BAND = "unknown"
REQUIRED_SCORE_FIELDS = ("student_id", "band")
OPTIONAL_SCORE_FIELDS = ("school_id", "municipality", "rmc_region", "age", "reasons", "triggers", "roles", "base")
MSG_BAD_SCORE = "score row {index}: {details}"


def score_row(index: int, result: ScoredStudent | Mapping[str, Any]) -> dict[str, Any]:
    """The stored row of one result (scoring.ScoredStudent or its to_dict()), validated: a DataError names
    the row and what is wrong. Every score writer goes through here."""
    row: Mapping[str, Any] = result.to_dict() if isinstance(result, ScoredStudent) else result
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


def store_scores(session: Session, results: Iterable[Mapping[str, Any]]) -> None:
    """Add API scores to the run of their (as_of, model version), replacing the same student's earlier
    score in that run, in one transaction (all or nothing).

    store.runs.write_scoring_run replaces a whole run, which suits batch jobs but would wipe other
    students' API scores of the same day; this appends instead."""
    import sqlalchemy as sa

    from riskscore.store.db import run_write

    rows = list(results)
    try:
        run_write(session, lambda s: store_scores_rows(s, rows))
    except sa.exc.IntegrityError:  # another worker created the same run meanwhile: it exists now
        run_write(session, lambda s: store_scores_rows(s, rows))


def store_scores_rows(s: Session, results: Iterable[Mapping[str, Any]]) -> None:
    """Inside the caller's transaction: the work of store_scores (no commit)."""
    import sqlalchemy as sa

    from riskscore.store.models import Score, ScoringRun, utcnow
    from riskscore.store.privacy import objecting_ids

    results = list(results)
    objecting = objecting_ids(s, [str(r["student_id"]) for r in results])
    # AVG art. 21: a model score of a pupil who objected is never stored (a row without one may be)
    results = [r for r in results if not (str(r["student_id"]) in objecting and r.get("probability") is not None)]
    by_run: dict[tuple[dt.date, str], list[Mapping[str, Any]]] = {}
    for r in results:
        by_run.setdefault((r["as_of"], r["model_version"]), []).append(r)

    # Core statements on the tables: no ORM unit of work (identity map, flush) per request
    runs, scores = cast(sa.Table, ScoringRun.__table__), cast(sa.Table, Score.__table__)
    now = utcnow()
    for (as_of, version), rows in by_run.items():
        run_id = s.execute(sa.select(runs.c.id).where(runs.c.as_of == as_of,
                                                      runs.c.model_version == version)).scalar_one_or_none()
        if run_id is None:
            created = cast("sa.CursorResult[Any]", s.execute(sa.insert(runs).values(
                as_of=as_of, model_version=version, status="complete", started_at=now, finished_at=now,
                n_scored=0, source="api")))
            key = created.inserted_primary_key
            assert key is not None  # an INSERT of one row always has one
            run_id = key[0]
        latest = {str(r["student_id"]): r for r in rows}  # a student twice in one batch: keep the last
        deleted = cast("sa.CursorResult[Any]", s.execute(sa.delete(scores).where(
            scores.c.run_id == run_id, scores.c.student_id.in_(list(latest))))).rowcount
        s.execute(sa.insert(scores), [
            {**score_row(i, r), "run_id": run_id, "as_of": as_of, "model_version": version, "created_at": now}
            for i, r in enumerate(latest.values())
        ])
        # counted incrementally inside the write transaction: a count(*) would scan the whole run
        # (a batch run holds every enrolled student) on every request
        s.execute(sa.update(runs).where(runs.c.id == run_id).values(
            n_scored=runs.c.n_scored + (len(latest) - max(deleted, 0)), finished_at=now))


def stored_to_result(row: Any) -> dict[str, Any]:
    """A store.models.Score row as a result dict (the shape of scoring.ScoredStudent.to_dict())."""
    return {
        "student_id": row.student_id, "school_id": row.school_id, "municipality": row.municipality,
        "rmc_region": row.rmc_region, "age": row.age, "as_of": row.as_of, "probability": row.probability,
        "band": row.band, "reasons": list(row.reasons or []), "triggers": list(row.triggers or []),
        "roles": list(row.roles or []), "model_version": row.model_version, "scored_at": row.created_at,
        "base": getattr(row, "base", None),
        "objected": bool(getattr(row, "objected", False)), "data_incomplete": bool(getattr(row, "data_incomplete", False)),
    }
