"""POST /v1/scores: score a batch of students, store the results, return them cut to the caller's role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from riskscore.api.deps import (
    STUDENT_ROLES,
    BundleDep,
    ForbiddenError,
    PrincipalDep,
    SessionDep,
    StateDep,
    audit,
    purpose_of,
    require_role,
)
from riskscore.api.schemas import ErrorBody, ScoreRequest, ScoreResponse, ScoreResult
from riskscore.api.scoring import public, redact, score_students, store_scores

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
    if outside:
        raise ForbiddenError(MSG_OUT_OF_SCOPE.format(positions=outside[:20]))
    results = score_students(state, loaded, body.students)
    store_scores(session, results)
    purpose = purpose_of(request, "signalering")
    for r in results:  # written before any data leaves the service
        audit(session, request, principal, action="score.write", resource=f"student:{r['student_id']}",
              outcome="allowed", purpose=purpose)
    for r in results:
        state.metrics.scores.labels(band=r["band"]).inc()
    out = [ScoreResult.model_validate(public(redact(r, principal.role))) for r in results]
    return ScoreResponse(results=out, model_version=loaded.bundle.version)
