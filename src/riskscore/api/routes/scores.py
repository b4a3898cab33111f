"""POST /v1/scores: score a batch of students, store the results, return them cut to the caller's role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from riskscore.access import redact
from riskscore.api.schemas import ErrorBody, ScoreRequest, ScoreResponse, ScoreResult
from riskscore.api.scoring import public, score_students
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

@router.post("", response_model=ScoreResponse, summary="Score students: a signal for review, not a decision.",
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 413: {"model": ErrorBody},
                        503: {"model": ErrorBody}})
def score(body: ScoreRequest, request: Request, state: StateDep, principal: PrincipalDep, session: SessionDep,
          loaded: BundleDep) -> ScoreResponse:
    """Roles school, jeugdarts, leerplicht, rmc, each only for students in its scope (else 403 naming
    the positions: the caller sent the data, so nothing about stored pupils is revealed). Each
    result is stored (GET /v1/students/{id}/score returns the latest) and audited."""
    require_role(principal, STUDENT_ROLES, "score students")
    if len(body.students) > state.settings.max_batch:
        raise RequestValidationError([{"type": "too_long", "loc": ("body", "students"),
                                       "msg": MSG_BATCH.format(limit=state.settings.max_batch),
                                       "input": None, "ctx": {"max_length": state.settings.max_batch}}])
    outside = [i for i, s in enumerate(body.students) if not principal.can_see(s.school_id, s.municipality, s.rmc_region)]
    if outside:  # the attempt is audited too: scoring pupils outside one's scope is worth seeing
        audit_many(session, request, principal, action="score.write", outcome="denied",
                   purpose=purpose_of(request, "signalering"),
                   resources=[f"student:{body.students[i].student_id}" for i in outside])
        raise ForbiddenError(MSG_OUT_OF_SCOPE.format(positions=outside[:20]))
    results = score_students(state, loaded, body.students)
    purpose = purpose_of(request, "signalering")
    session.close()  # end the key lookup's read transaction before the writer takes the write lock
    rid = getattr(request.state, "request_id", None)
    # stored and audited by the group writer, in one transaction with whatever else is waiting;
    # returns only once committed, so no data leaves the service before its audit entry
    writer_for(state).submit(results, [
        {"actor": principal.key_id, "role": principal.role, "action": "score.write", "resource": f"student:{r['student_id']}",
         "outcome": "allowed", "purpose": purpose, "request_id": rid} for r in results])
    for r in results:
        state.metrics.scores.labels(band=r["band"]).inc()
    out = [ScoreResult.model_validate(public(redact(r, principal.role))) for r in results]
    return ScoreResponse(results=out, model_version=loaded.bundle.version)
