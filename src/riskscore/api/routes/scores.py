"""POST /v1/scores: score pupils from their raw events, store the results, return them cut to the role.

The service computes features and legal triggers itself through the one scoring core
(riskscore.scoring, the same code as `riskscore score`); a caller can no longer assert a trigger.
A pupil's place (school, municipality, RMC region) comes from the imported registrations on the
as-of date (access.scope), never from the body and never from whoever scored the pupil first: a caller
can only score pupils registered inside its scope, and the score is stamped with that registration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from riskscore.access import Place, place_for, view_result
from riskscore.api.schemas import (
    FUTURE_SLACK,
    ErrorBody,
    ScoreRequest,
    ScoreResponse,
    ScoreResult,
    StudentEvents,
)
from riskscore.service.deps import (
    STUDENT_ROLES,
    BundleDep,
    ForbiddenError,
    PrincipalDep,
    SessionDep,
    StateDep,
    access_entry,
    audit_many,
    purpose_of,
    require_role,
)
from riskscore.service.writer import writer_for
from riskscore.store.registrations import spans_of

router = APIRouter(prefix="/v1/scores", tags=["scores"])

MSG_OUT_OF_SCOPE = ("no registration places the students at positions {positions} inside your scope on their "
                    "as-of date; nothing was scored")
MSG_OTHER_SCHOOL = "does not match the school of this pupil's registration on {as_of} ({school})"
MSG_BATCH = "at most {limit} students per request"
MSG_NOT_ENROLLED = "not enrolled on {as_of} according to these enrolments: nothing to score"
MSG_DUPLICATE = "student_id appears more than once in this request (first at position {first})"

def score_students(state: StateDep, loaded: BundleDep, students: list[StudentEvents], places: dict[str, Place], *,
                   objecting: frozenset[str], incomplete_schools: frozenset[str]) -> list[dict[str, object]]:
    """The scoring core per as-of date; results in request order, each stamped with the place of the
    pupil's registration (``places``, from place_for)."""
    from riskscore import scoring
    from riskscore.api.events import to_tables

    groups: dict[dt.date, list[StudentEvents]] = defaultdict(list)
    for s in students:
        groups[s.reference_date()].append(s)
    by_id: dict[str, scoring.ScoredStudent] = {}
    for as_of, group in groups.items():
        try:
            result = scoring.score_events(to_tables(group), as_of, loaded.bundle, rule_config=state.rule_config(),
                                          calendar=state.calendar(), routing=state.routing, objecting=objecting,
                                          incomplete_schools=incomplete_schools, source="the request",
                                          today=dt.date.today() + FUTURE_SLACK)  # as the request model allows
        except scoring.NothingToScoreError:
            continue  # nobody of this date is enrolled: named per pupil below
        by_id.update(result.by_id())
    out: list[dict[str, object]] = []
    for i, s in enumerate(students):
        scored = by_id.get(s.student_id)
        if scored is None:  # its own enrolments say it was not enrolled on as_of, and no rule fired
            raise RequestValidationError([{"type": "value_error", "input": None,
                                           "loc": ("body", "students", i, "enrolments"),
                                           "msg": MSG_NOT_ENROLLED.format(as_of=s.reference_date())}])
        place = places[s.student_id]  # the registrations decide where the pupil belongs, not the body
        scored = dataclasses.replace(scored, school_id=place.school_id, municipality=place.municipality,
                                     rmc_region=place.rmc_region)
        out.append(scored.to_dict())
    return out


@router.post("", response_model=ScoreResponse, summary="Score pupils from their events: a signal for review, not a decision.",
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 413: {"model": ErrorBody},
                        503: {"model": ErrorBody}})
def score(body: ScoreRequest, request: Request, state: StateDep, principal: PrincipalDep, session: SessionDep,
          loaded: BundleDep) -> ScoreResponse:
    """Roles school, jeugdarts, leerplicht, rmc, each only for pupils in its scope (else 403 naming the
    positions; nothing is scored or stored). The service derives features and legal triggers (with
    their due dates, from the configured rules) from the events. Each result is stored
    (GET /v1/students/{id}/score returns the latest) and audited."""
    require_role(principal, STUDENT_ROLES, "score students")
    limit = state.settings.max_batch
    if len(body.students) > limit:
        raise RequestValidationError([{"type": "too_long", "loc": ("body", "students"),
                                       "msg": MSG_BATCH.format(limit=limit), "input": None,
                                       "ctx": {"max_length": limit}}])
    first: dict[str, int] = {}
    for i, s in enumerate(body.students):
        if s.student_id in first:
            raise RequestValidationError([{"type": "value_error", "loc": ("body", "students", i, "student_id"),
                                           "msg": MSG_DUPLICATE.format(first=first[s.student_id]), "input": None}])
        first[s.student_id] = i
    ids = [s.student_id for s in body.students]
    spans = spans_of(session, ids)
    places: dict[str, Place] = {}
    outside = []
    for i, s in enumerate(body.students):
        place = place_for(principal, spans.get(s.student_id, ()), s.reference_date())
        if place is None:
            outside.append(i)
        else:
            places[s.student_id] = place
    if outside:  # the attempt is audited too: scoring pupils outside one's scope is worth seeing
        audit_many(session, request, principal, action="score.write", outcome="denied",
                   purpose=purpose_of(request, "signalering"),
                   resources=[f"student:{body.students[i].student_id}" for i in outside])
        raise ForbiddenError(MSG_OUT_OF_SCOPE.format(positions=outside[:20]))
    wrong = [{"type": "value_error", "loc": ("body", "students", i, "student", "school_id"), "input": None,
              "msg": MSG_OTHER_SCHOOL.format(as_of=s.reference_date(), school=places[s.student_id].school_id)}
             for i, s in enumerate(body.students) if s.student.school_id != places[s.student_id].school_id]
    if wrong:  # the events would be read with another school's calendar: say so, score nothing
        raise RequestValidationError(wrong[:20])
    objecting = state.objecting(session, ids)
    incomplete = state.incomplete_schools(session)
    results = score_students(state, loaded, body.students, places, objecting=objecting, incomplete_schools=incomplete)
    purpose = purpose_of(request, "signalering")
    session.close()  # end the key lookup's read transaction before the writer takes the write lock
    # stored and audited by the group writer, in one transaction with whatever else is waiting;
    # returns only once committed, so no data leaves the service before its audit entry
    writer_for(state).submit(results, [
        access_entry(request, principal, action="score.write", resource=f"student:{r['student_id']}",
                     outcome="allowed", purpose=purpose) for r in results])
    for r in results:
        state.metrics.scores.labels(band=str(r["band"])).inc()
    out = [ScoreResult.from_result(view_result(r, principal.role)) for r in results]
    return ScoreResponse(results=out, model_version=loaded.bundle.version)
