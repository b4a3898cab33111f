"""GET /v1/students/{student_id}/score: the latest stored score, within the caller's scope only; with
``rescore=true`` the pupil is scored again as of today from the stored raw events (the service's data
folder), through the same scoring core as POST /v1/scores and the batch job."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from riskscore.access import redact
from riskscore.api.schemas import MSG_LOOKS_LIKE_BSN, ErrorBody, StoredScore, is_bsn_like
from riskscore.errors import MSG_NOT_FOUND, DataError, NotFoundError
from riskscore.service.deps import (
    STUDENT_ROLES,
    PrincipalDep,
    SessionDep,
    StateDep,
    audit,
    purpose_of,
    request_id_of,
    require_role,
)
from riskscore.store.scores import stored_to_result

router = APIRouter(prefix="/v1/students", tags=["students"])

MSG_NO_EVENTS = "no stored events enrol this pupil on {day}: nothing to rescore (the latest stored score stands)"


def _rescore(state: StateDep, session: SessionDep, row: Any, student_id: str) -> dict[str, Any]:
    """The pupil scored as of today from the data folder; scope stays the stored one."""
    from riskscore import datasets, scoring

    loaded = state.require_loaded()
    today = dt.date.today()
    tables = datasets.read_student_tables(state.settings.resolved_data_dir(), student_id)
    if tables["students"].empty:
        raise DataError(MSG_NO_EVENTS.format(day=today))
    try:
        result = scoring.score_events(tables, today, loaded.bundle, rule_config=state.rule_config(),
                                      calendar=state.calendar(), routing=state.routing,
                                      objecting=state.objecting(session, [student_id]),
                                      incomplete_schools=state.incomplete_schools(session), source="the stored events")
    except scoring.NothingToScoreError:
        raise DataError(MSG_NO_EVENTS.format(day=today)) from None
    fresh = result.by_id().get(student_id)
    if fresh is None:
        raise DataError(MSG_NO_EVENTS.format(day=today))
    fresh = dataclasses.replace(fresh, school_id=row.school_id, municipality=row.municipality,
                                rmc_region=row.rmc_region)
    return fresh.to_dict()


@router.get("/{student_id}/score", response_model=StoredScore, summary="A student's latest score.",
            responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}})
def student_score(
    student_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                    description="Pseudonymous student id.")],
    request: Request, state: StateDep, principal: PrincipalDep, session: SessionDep,
    rescore: Annotated[bool, Query(description="Score again as of today from the stored raw events (the service's "
                                               "data folder) and store the result; default: the latest stored score.")]
    = False,
) -> StoredScore:
    """Roles school, jeugdarts, leerplicht, rmc. Outside the caller's scope the answer is the same 404
    as for a student never scored; the audit log records which it was."""
    require_role(principal, STUDENT_ROLES, "read a single student's data")
    if is_bsn_like(student_id):  # refused before anything is stored, the audit log included
        raise RequestValidationError([{"type": "value_error", "loc": ("path", "student_id"), "msg": MSG_LOOKS_LIKE_BSN,
                                       "input": None}])
    from riskscore.store.runs import latest_score

    row = latest_score(session, student_id)
    resource, purpose = f"student:{student_id}", purpose_of(request, "signalering")
    if row is None or not principal.can_see(row.school_id, row.municipality, row.rmc_region):
        audit(session, request, principal, action="score.read", resource=resource,
              outcome="not_found" if row is None else "denied", purpose=purpose)
        raise NotFoundError(MSG_NOT_FOUND)
    if not rescore:
        audit(session, request, principal, action="score.read", resource=resource, outcome="allowed", purpose=purpose)
        return StoredScore.from_result(redact(stored_to_result(row), principal.role))
    from riskscore.service.writer import writer_for

    result = _rescore(state, session, row, student_id)
    session.close()  # end the read transaction before the writer takes the write lock
    entry = {"actor": principal.key_id, "role": principal.role, "resource": resource, "outcome": "allowed",
             "purpose": purpose, "request_id": request_id_of(request)}
    writer_for(state).submit([result], [{**entry, "action": "score.write"}, {**entry, "action": "score.read"}])
    state.metrics.scores.labels(band=str(result["band"])).inc()
    return StoredScore.from_result({**redact(result, principal.role), "scored_at": dt.datetime.now(dt.UTC)})
