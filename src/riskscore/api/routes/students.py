"""GET /v1/students/{student_id}/score: the latest stored score, within the caller's scope only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError

from riskscore.access import redact
from riskscore.api.schemas import MSG_LOOKS_LIKE_BSN, ErrorBody, StoredScore, is_bsn_like
from riskscore.errors import MSG_NOT_FOUND, NotFoundError
from riskscore.service.deps import STUDENT_ROLES, PrincipalDep, SessionDep, audit, purpose_of, require_role
from riskscore.store.scores import stored_to_result

router = APIRouter(prefix="/v1/students", tags=["students"])


@router.get("/{student_id}/score", response_model=StoredScore, summary="A student's latest score.",
            responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}})
def student_score(
    student_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                    description="Pseudonymous student id.")],
    request: Request, principal: PrincipalDep, session: SessionDep,
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
    audit(session, request, principal, action="score.read", resource=resource, outcome="allowed", purpose=purpose)
    return StoredScore.from_result(redact(stored_to_result(row), principal.role))
