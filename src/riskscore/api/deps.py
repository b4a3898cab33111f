"""Named dependencies: SessionDep, PrincipalDep, BundleDep, StateDep, and the access helpers.

Access rules live here so every route applies them the same way:
- a caller authenticates with `Authorization: Bearer <key>` or `X-API-Key: <key>` (else 401);
- student endpoints refuse `data_team` and `admin` (403): they work with aggregates, never one pupil;
- a student outside the caller's scope is reported exactly like a missing one (404, same body);
- every read or write of a student's data is written to the audit log *before* data is returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from riskscore.api.state import Loaded, ServiceState
from riskscore.errors import MSG_BAD_KEY, AuthError, RiskscoreError, StoreError
from riskscore.store.principal import Principal

#: roles that review single students; data_team and admin see aggregates only
STUDENT_ROLES = frozenset({"school", "jeugdarts", "leerplicht", "rmc"})
ADMIN_ROLES = frozenset({"admin", "data_team"})
MSG_FORBIDDEN_ROLE = "role '{role}' may not {what}"
_PURPOSE = re.compile(r"^[\w .:/-]{1,120}$")

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative header).")


class ForbiddenError(RiskscoreError):
    """Authenticated, but the role may not do this (never used for scope: that is a 404)."""

    http_status = 403


def get_state(request: Request) -> ServiceState:
    return request.app.state.riskscore  # type: ignore[no-any-return]


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One session per request; StoreError (503) when the database was never reachable."""
    if state.sessions is None or not state.ensure_migrated():
        from riskscore.errors import MSG_DB_UNAVAILABLE

        raise StoreError(MSG_DB_UNAVAILABLE)
    session = state.sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_bundle(state: StateDep) -> Loaded:
    """The serving bundle, captured once per request so a concurrent swap cannot mix two models."""
    return state.require_loaded()


BundleDep = Annotated[Loaded, Depends(get_bundle)]


def get_principal(
    request: Request,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller behind the key; 401 for a missing, malformed, unknown or revoked key."""
    from riskscore.store.keys import authenticate

    key = bearer.credentials if bearer is not None else api_key
    principal = authenticate(session, key or "") if key else None
    if principal is None:
        raise AuthError(MSG_BAD_KEY)
    request.state.role = principal.role  # for the request log (a role, never the key)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(principal: Principal, allowed: frozenset[str], what: str) -> None:
    if principal.role not in allowed:
        raise ForbiddenError(MSG_FORBIDDEN_ROLE.format(role=principal.role, what=what))


def purpose_of(request: Request, default: str) -> str:
    """The purpose for the audit log: the X-Purpose header if it is short plain text, else the route's default."""
    value = (request.headers.get("x-purpose") or "").strip()
    return value if value and _PURPOSE.match(value) else default


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def audit(session: Session, request: Request, principal: Principal, *, action: str, resource: str, outcome: str,
          purpose: str) -> None:
    """Append one audit entry; the actor is the key id (never the key)."""
    from riskscore.store.audit import append_audit

    append_audit(session, actor=principal.key_id, role=principal.role, action=action, resource=resource,
                 outcome=outcome, purpose=purpose, request_id=request_id_of(request))
