"""POST /v1/scores: score pupils from their raw events, store the results, return them cut to the role.

The service computes features and legal triggers itself through the one scoring core
(riskscore.scoring, the same code as `riskscore score`); a caller can no longer assert a trigger.
A pupil's scope (school, municipality, RMC region) comes from the store where the pupil is known
(batch runs, earlier scores), never from the body: a key cannot store a score for another school's
pupil by writing its own school id into the request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from riskscore.access import redact
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
    audit_many,
    purpose_of,
    require_role,
)
from riskscore.service.writer import writer_for

router = APIRouter(prefix="/v1/scores", tags=["scores"])

MSG_OUT_OF_SCOPE = "students at positions {positions} lie outside your scope; nothing was scored"
MSG_BATCH = "at most {limit} students per request"
MSG_NOT_ENROLLED = "not enrolled on {as_of} according to these enrolments: nothing to score"
MSG_DUPLICATE = "student_id appears more than once in this request (first at position {first})"

Scope = tuple[str | None, str | None, str | None]


def _stored_scopes(session: SessionDep, ids: list[str]) -> dict[str, Scope]:
    """school, municipality, region of each pupil the store knows (its latest complete score)."""
    from riskscore.store.runs import latest_scores

    return {sid: (row.school_id, row.municipality, row.rmc_region) for sid, row in latest_scores(session, ids).items()}


def score_students(state: StateDep, loaded: BundleDep, students: list[StudentEvents], scopes: dict[str, Scope], *,
                   objecting: frozenset[str], incomplete_schools: frozenset[str]) -> list[dict[str, object]]:
    """The scoring core per as-of date; results in request order, scope set from the store where known."""
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
        stored = scopes.get(s.student_id)
        if stored is not None:  # the store decides where a known pupil belongs, not the body
            scored = dataclasses.replace(scored, school_id=stored[0], municipality=stored[1], rmc_region=stored[2])
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
    scopes = _stored_scopes(session, ids)
    outside = []
    for i, s in enumerate(body.students):
        school, municipality, region = scopes.get(s.student_id) or (
            s.student.school_id, s.student.municipality, s.student.rmc_region)
        if not principal.can_see(school, municipality, region):
            outside.append(i)
    if outside:  # the attempt is audited too: scoring pupils outside one's scope is worth seeing
        audit_many(session, request, principal, action="score.write", outcome="denied",
                   purpose=purpose_of(request, "signalering"),
                   resources=[f"student:{body.students[i].student_id}" for i in outside])
        raise ForbiddenError(MSG_OUT_OF_SCOPE.format(positions=outside[:20]))
    objecting = state.objecting(session, ids)
    incomplete = state.incomplete_schools(session)
    results = score_students(state, loaded, body.students, scopes, objecting=objecting, incomplete_schools=incomplete)
    purpose = purpose_of(request, "signalering")
    session.close()  # end the key lookup's read transaction before the writer takes the write lock
    rid = getattr(request.state, "request_id", None)
    # stored and audited by the group writer, in one transaction with whatever else is waiting;
    # returns only once committed, so no data leaves the service before its audit entry
    writer_for(state).submit(results, [
        {"actor": principal.key_id, "role": principal.role, "action": "score.write", "resource": f"student:{r['student_id']}",
         "outcome": "allowed", "purpose": purpose, "request_id": rid} for r in results])
    for r in results:
        state.metrics.scores.labels(band=str(r["band"])).inc()
    out = [ScoreResult.from_result(redact(r, principal.role)) for r in results]
    return ScoreResponse(results=out, model_version=loaded.bundle.version)
