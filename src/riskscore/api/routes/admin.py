"""Operations on the serving model: reload the champion, swapped in only if it loads and scores."""

from __future__ import annotations

from fastapi import APIRouter, Request

from riskscore.api.schemas import ErrorBody, ReloadResult
from riskscore.service.deps import (
    ADMIN_ROLES,
    PrincipalDep,
    SessionDep,
    StateDep,
    audit,
    purpose_of,
    require_role,
)

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/reload", response_model=ReloadResult, summary="Load the configured champion and swap it in.",
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def reload_model(request: Request, state: StateDep, principal: PrincipalDep, session: SessionDep) -> ReloadResult:
    """admin or data_team. A candidate that fails to load or to score smoke rows is refused (409) and
    the serving model stays; an unchanged version is not swapped."""
    require_role(principal, ADMIN_ROLES, "reload the model")
    try:
        swapped, version, previous = state.reload(reason="api")
    except Exception:
        audit(session, request, principal, action="model.reload", resource="model", outcome="denied",
              purpose=purpose_of(request, "model release"))
        raise
    audit(session, request, principal, action="model.reload", resource=f"model:{version}", outcome="allowed",
          purpose=purpose_of(request, "model release"))
    return ReloadResult(reloaded=swapped, version=version, previous_version=previous)
