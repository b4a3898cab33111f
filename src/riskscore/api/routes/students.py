"""GET /v1/students/{student_id}/score: the latest stored score the caller may see (stamped with a place
inside its scope, cut by the role view); with ``rescore=true`` the pupil is scored again as of today from
the stored raw events (the service's data folder), through the same scoring core as POST /v1/scores and
the batch job — only when today's registration places the pupil in the caller's scope."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from riskscore.access import Place, view_result
from riskscore.api.schemas import MSG_LOOKS_LIKE_BSN, ErrorBody, StoredScore, is_bsn_like
from riskscore.clock import today as school_today
from riskscore.errors import MSG_NOT_FOUND, DataError, NotFoundError
from riskscore.service.deps import (
    STUDENT_ROLES,
    ForbiddenError,
    PrincipalDep,
    SessionDep,
    StateDep,
    access_entry,
    audit,
    place_to_act,
    purpose_of,
    require_role,
    require_student_in_scope,
)
from riskscore.service.writer import writer_for
from riskscore.store.runs import latest_visible_score
from riskscore.store.scores import stored_to_result

router = APIRouter(prefix="/v1/students", tags=["students"])

MSG_NOT_REGISTERED_TODAY = "no registration places this pupil inside your scope today: nothing to rescore"
MSG_NO_EVENTS = "no stored events enrol this pupil on {day}: nothing to rescore (the latest stored score stands)"


def _rescore(state: StateDep, session: SessionDep, place: Place, student_id: str) -> dict[str, Any]:
    """The pupil scored as of today from the data folder, stamped with today's registration."""
    from riskscore import datasets, scoring

    loaded = state.require_loaded()
    today = school_today()
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
    fresh = dataclasses.replace(fresh, school_id=place.school_id, municipality=place.municipality,
                                rmc_region=place.rmc_region)
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
    resource, purpose = f"student:{student_id}", purpose_of(request, "signalering")
    require_student_in_scope(session, request, principal, student_id, action="score.read", purpose=purpose)
    if not rescore:
        row = latest_visible_score(session, student_id, principal)
        if row is None:
            audit(session, request, principal, action="score.read", resource=resource, outcome="not_found",
                  purpose=purpose)
            raise NotFoundError(MSG_NOT_FOUND)
        audit(session, request, principal, action="score.read", resource=resource, outcome="allowed", purpose=purpose)
        return StoredScore.from_result(view_result(stored_to_result(row), principal.role))
    place = place_to_act(session, principal, student_id, school_today())
    if place is None:  # registered in scope once, not today: a past school does not rescore a pupil who left
        audit(session, request, principal, action="score.write", resource=resource, outcome="denied", purpose=purpose)
        raise ForbiddenError(MSG_NOT_REGISTERED_TODAY)
    result = _rescore(state, session, place, student_id)
    session.close()  # end the read transaction before the writer takes the write lock
    writer_for(state).submit([result], [access_entry(request, principal, action=action, resource=resource,
                                                     outcome="allowed", purpose=purpose)
                                        for action in ("score.write", "score.read")])
    state.metrics.scores.labels(band=str(result["band"])).inc()
    return StoredScore.from_result({**view_result(result, principal.role), "scored_at": dt.datetime.now(dt.UTC)})
