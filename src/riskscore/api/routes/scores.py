"""POST /v1/scores: score a batch of students, store the results, return them cut to the caller's role."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from riskscore.api.deps import (
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
from riskscore.api.schemas import ErrorBody, ScoreRequest, ScoreResponse, ScoreResult
from riskscore.api.scoring import public, redact, score_students, store_scores

router = APIRouter(prefix="/v1/scores", tags=["scores"])

MSG_OUT_OF_SCOPE = "students at positions {positions} lie outside your scope; nothing was scored"
MSG_BATCH = "at most {limit} students per request"

#: SQLite admits one writer at a time; a second thread that tries anyway sleeps in SQLite's busy
#: handler (1, 2, 5, 10 … ms back-off) while holding a threadpool slot. Queueing the writes of this
#: process on a lock instead hands the database over the moment it is free.
_SQLITE_WRITES = threading.Lock()


def _serialised_writes(session: Any) -> contextlib.AbstractContextManager[Any]:
    bind = session.get_bind()
    return _SQLITE_WRITES if bind.dialect.name == "sqlite" else contextlib.nullcontext()


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
    purpose = purpose_of(request, "signalering")
    with _serialised_writes(session):
        # end the read transaction the key lookup opened: on SQLite, upgrading that older snapshot to a
        # write fails at once when another request committed meanwhile (then retried after a sleep)
        session.rollback()
        store_scores(session, results)
        # written before any data leaves the service; one transaction for the whole batch
        audit_many(session, request, principal, action="score.write",
                   resources=[f"student:{r['student_id']}" for r in results], outcome="allowed", purpose=purpose)
    for r in results:
        state.metrics.scores.labels(band=r["band"]).inc()
    out = [ScoreResult.model_validate(public(redact(r, principal.role))) for r in results]
    return ScoreResponse(results=out, model_version=loaded.bundle.version)
