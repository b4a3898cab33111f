"""Named dependencies: SessionDep, PrincipalDep, BundleDep, StateDep, and the access helpers.

Access rules live here so every route applies them the same way:
- a caller authenticates with `Authorization: Bearer <key>` or `X-API-Key: <key>` (else 401);
- student endpoints refuse `data_team` and `admin` (403): they work with aggregates, never one pupil;
- a student outside the caller's scope is reported exactly like a missing one (404, same body);
- every read or write of a student's data is written to the audit log *before* data is returned;
- bad keys are throttled per client address and, separately, per key id (the key's public prefix):
  after a few failures each further failure is slowed, after `limit` it is refused (429 +
  Retry-After) for a while. A key that authenticates is never blocked, so one mistyped key behind a
  school's NAT does not lock out its colleagues, and an attacker cannot lock out a real key by
  guessing at its prefix. Only a *failure* touches the auth_failures table (record it, and read the
  count all workers wrote, so a guesser cannot spread attempts over the workers).
- the client address is the direct peer; `X-Forwarded-For` counts only when the peer is one of the
  configured proxies (settings.trusted_proxies; `riskscore serve` hands them to uvicorn), so a
  client cannot rotate that header to dodge the throttle or pick an address to lock out.
"""

from __future__ import annotations

import hmac
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from riskscore.access import HEALTH_ROLE, PUPIL_ROLES, Place, Principal
from riskscore.errors import (
    MSG_BAD_KEY,
    MSG_DB_UNAVAILABLE,
    MSG_NOT_FOUND,
    AuthError,
    NotFoundError,
    RiskscoreError,
    StoreError,
)
from riskscore.service.logs import get_logger
from riskscore.service.state import Loaded, ServiceState

#: roles that review single students; data_team and admin see aggregates only (access.scope)
STUDENT_ROLES = PUPIL_ROLES
ADMIN_ROLES = frozenset({"admin", "data_team"})
ADMIN_ONLY = frozenset({"admin"})
MSG_FORBIDDEN_ROLE = "role '{role}' may not {what}"
_PURPOSE = re.compile(r"^[\w .:/-]{1,120}$")

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative header).")


class ForbiddenError(RiskscoreError):
    """Authenticated, but the role may not do this (never used for scope: that is a 404)."""

    http_status = 403


class ThrottledError(RiskscoreError):
    """Too many failed keys from this client: refused until the window has passed (429)."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


MSG_THROTTLED = "too many failed API keys from this client or for this key id; try again in {seconds} s"


@dataclass
class AuthThrottle:
    """Failed-key throttling per subject ('addr:<client>' or 'key:<key id>'): after `slow_after` failures within `window` each
    further failure is answered after a growing delay; after `limit` failures the client is refused
    (429, Retry-After) until enough of them have aged out of the window.

    Memory holds the failure times of clients that failed recently (bounded by `max_clients`);
    a client that never failed costs one dict lookup. The database table is written and read on
    failures only, which shares the count between uvicorn workers and survives restarts."""

    limit: int = 10
    window: timedelta = timedelta(minutes=15)
    slow_after: int = 5
    delay_step: float = 0.2  # seconds added per failure beyond slow_after
    max_delay: float = 1.0
    max_clients: int = 10_000
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        horizon = now - self.window.total_seconds()
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until this client may try again, or None when it is not blocked (the fast path)."""
        if client not in self._failures:
            return None
        now = time.time()
        with self._lock:
            times = self._recent(client, now)
            if times is None or len(times) < self.limit:
                return None
            # blocked until the failure that put it over the limit leaves the window
            oldest_relevant = times[len(times) - self.limit]
            return max(1, math.ceil(oldest_relevant + self.window.total_seconds() - now))

    def failed(self, client: str, *, shared_count: int | None = None) -> float:
        """Count one failure (shared_count: the count all workers recorded, this one included);
        return the delay to apply before answering."""
        now = time.time()
        with self._lock:
            times = self._recent(client, now)
            if times is None:
                if len(self._failures) >= self.max_clients:  # forget the client seen longest ago
                    del self._failures[min(self._failures, key=lambda c: self._failures[c][-1])]
                times = self._failures.setdefault(client, deque())
            times.append(now)
            while shared_count is not None and len(times) < min(shared_count, self.limit):
                times.appendleft(now)  # other workers' failures: conservatively dated now
            n = len(times)
        return min(self.max_delay, self.delay_step * (n - self.slow_after)) if n > self.slow_after else 0.0

    def blocked(self, subjects: list[str]) -> int | None:
        """The longest wait among the subjects that are over the limit, or None."""
        waits = [w for w in (self.retry_after(s) for s in subjects) if w is not None]
        return max(waits) if waits else None

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


_throttle_lock = threading.Lock()


def throttle_of(request: Request) -> AuthThrottle:
    """The app's throttle (one per app, created on first use)."""
    throttle = getattr(request.app.state, "auth_throttle", None)
    if throttle is None:
        with _throttle_lock:
            throttle = getattr(request.app.state, "auth_throttle", None)
            if throttle is None:
                limit = int(getattr(request.app.state.riskscore.settings, "auth_failure_limit", 10))
                throttle = request.app.state.auth_throttle = AuthThrottle(limit=limit, slow_after=max(1, limit // 2))
    return throttle  # type: ignore[no-any-return]


def client_of(request: Request) -> str:
    """The client address the throttle counts by: the direct peer, or what a configured proxy said
    (uvicorn rewrites the peer only for settings.trusted_proxies; see docs/SECURITY.md)."""
    return request.client.host if request.client is not None else "unknown"


def throttle_subjects(client: str, key_id: str | None) -> list[str]:
    """What a failure counts against: the address, and the key id it named (if it had one)."""
    return [f"addr:{client}", *([f"key:{key_id}"] if key_id else [])]


async def get_state(request: Request) -> ServiceState:
    """async on purpose: a plain attribute read should not cost a threadpool hop per request."""
    return request.app.state.riskscore  # type: ignore[no-any-return]


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One session per request; StoreError (503) when the database was never reachable."""
    if state.sessions is None or not state.ensure_migrated():
        raise StoreError(MSG_DB_UNAVAILABLE)
    session = state.sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def get_bundle(state: StateDep) -> Loaded:
    """The serving bundle, captured once per request so a concurrent swap cannot mix two models."""
    return state.require_loaded()


BundleDep = Annotated[Loaded, Depends(get_bundle)]


def get_principal(
    request: Request,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller behind the key; 401 for a missing, malformed, unknown or revoked key, 429 instead of
    401 once this address or this key id failed too often lately. A valid key always passes."""
    from riskscore.store.keys import authenticate, key_id_of

    key = bearer.credentials if bearer is not None else api_key
    authorization = request.headers.get("authorization")
    if not key and authorization is None:
        raise AuthError(MSG_BAD_KEY)  # no credentials is no guess: not counted
    # an Authorization header that is not 'Bearer <key>' is refused, never skipped for X-API-Key;
    # two different keys are refused rather than one of them picked
    malformed = authorization is not None and bearer is None
    ambiguous = bearer is not None and api_key is not None and not hmac.compare_digest(bearer.credentials, api_key)
    principal = None if (malformed or ambiguous or not key) else authenticate(session, key)
    if principal is not None:  # a key that authenticates is never throttled
        request.state.role = principal.role  # for the request log (a role, never the key)
        return principal
    throttle, client = throttle_of(request), client_of(request)
    key_id = key_id_of(key or "")
    wait = throttle.blocked(throttle_subjects(client, key_id))
    if wait is not None:  # already over the limit: refuse without recording (the window runs out)
        _count(request, "throttled")
        raise ThrottledError(MSG_THROTTLED.format(seconds=wait), wait)
    _count(request, "invalid")
    _failed(session, throttle, client, key_id)
    raise AuthError(MSG_BAD_KEY)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_principal_inline(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """get_principal for async routes: a valid key is looked up on the event loop (one indexed SELECT,
    a fraction of a millisecond) instead of two threadpool hops (session and principal) per request.
    Anything else — no key, a malformed or ambiguous header, a key that does not authenticate — goes
    through get_principal itself in the threadpool, unchanged: it records the failure and may sleep."""
    from riskscore.store.keys import authenticate

    key = bearer.credentials if bearer is not None else api_key
    authorization = request.headers.get("authorization")
    plain = bool(key) and not (authorization is not None and bearer is None) and not (
        bearer is not None and api_key is not None and not hmac.compare_digest(bearer.credentials, api_key))
    if plain and state.sessions is not None and state.db_migrated:
        session = state.sessions()
        try:
            principal = authenticate(session, key or "")
        finally:
            session.close()
        if principal is not None:
            request.state.role = principal.role  # for the request log (a role, never the key)
            return principal

    def slow() -> Principal:
        sessions = get_session(state)
        session = next(sessions)  # StoreError (503) when the database was never reachable
        try:
            return get_principal(request, session, bearer, api_key)
        finally:
            for _ in sessions:  # runs the generator on to its end: it closes the session
                pass

    return await run_in_threadpool(slow)


#: the caller, for async routes (the scoring route): see get_principal_inline
FastPrincipalDep = Annotated[Principal, Depends(get_principal_inline)]


def _count(request: Request, outcome: str) -> None:
    metrics = getattr(request.app.state.riskscore, "metrics", None)
    if metrics is not None:
        metrics.auth_failures.labels(outcome=outcome).inc()


def _failed(session: Session, throttle: AuthThrottle, client: str, key_id: str | None) -> None:
    """Record a failed key (database: shared by workers; memory: the fast check), then slow down."""
    from riskscore.store.keys import recent_auth_failures, record_auth_failure

    shared: dict[str, int | None] = {}
    try:
        record_auth_failure(session, client=client, key_id=(key_id or "")[:40] or None)
        shared[f"addr:{client}"] = recent_auth_failures(session, client=client, window=throttle.window)
        if key_id:
            shared[f"key:{key_id}"] = recent_auth_failures(session, key_prefix=key_id, window=throttle.window)
    except StoreError:  # a read-only or absent database must not turn a 401 into a 503
        get_logger().warning("auth failure not recorded", extra={"event": "auth_failure_unrecorded"})
    delay = max(throttle.failed(subject, shared_count=shared.get(subject))
                for subject in throttle_subjects(client, key_id))
    get_logger().warning("invalid API key", extra={"event": "auth_failed"})
    if delay > 0:
        time.sleep(delay)


def require_role(principal: Principal, allowed: frozenset[str], what: str) -> None:
    if principal.role not in allowed:
        raise ForbiddenError(MSG_FORBIDDEN_ROLE.format(role=principal.role, what=what))


def purpose_of(request: Request, default: str) -> str:
    """The purpose for the audit log: the X-Purpose header if it is short plain text, else the route's default."""
    value = (request.headers.get("x-purpose") or "").strip()
    return value if value and _PURPOSE.match(value) else default


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def access_entry(request: Request, principal: Principal | None, *, action: str, resource: str, outcome: str,
                 purpose: str, actor: str | None = None) -> dict[str, Any]:
    """One audit entry about an access: who (the person's or machine's actor id, never a secret), in
    which role, what, through which page or operation (``via``: method and route template), why and
    with what outcome. Reads of a pupil by the role that sees health detail are marked ``health``
    (NEN 7513 asks care systems to log every access to health data; the pupil's dossier lists them)."""
    route = request.scope.get("route")
    via = f"{request.method} {getattr(route, 'path', None) or request.url.path}"[:120]
    detail: dict[str, Any] = {"via": via}
    if principal is not None and principal.role == HEALTH_ROLE and resource.startswith(("student:", "case:")):
        detail["health"] = True
    return {"actor": actor or (principal.actor_id if principal is not None else "anonymous"),
            "role": principal.role if principal is not None else None, "action": action, "resource": resource,
            "outcome": outcome, "purpose": purpose, "request_id": request_id_of(request), "detail": detail}


def audit(session: Session, request: Request, principal: Principal, *, action: str, resource: str, outcome: str,
          purpose: str) -> None:
    """Append one audit entry (access_entry); the actor is the principal's actor id (never a key)."""
    from riskscore.store.audit import append_audit_many

    append_audit_many(session, [access_entry(request, principal, action=action, resource=resource, outcome=outcome,
                                             purpose=purpose)])


def audit_many(session: Session, request: Request, principal: Principal, *, action: str, resources: list[str],
               outcome: str, purpose: str) -> None:
    """Append one audit entry per resource, all in one transaction (e.g. every pupil on a worklist)."""
    from riskscore.store.audit import append_audit_many

    append_audit_many(session, [access_entry(request, principal, action=action, resource=r, outcome=outcome,
                                             purpose=purpose) for r in resources])


def require_student_in_scope(session: Session, request: Request, principal: Principal, student_id: str, *,
                             action: str, purpose: str) -> None:
    """404 (audited as not_found or denied) unless the pupil's registrations place them inside the
    caller's scope: outside it the answer is the same as for a pupil nobody registered."""
    from riskscore.access import pupil_in_scope
    from riskscore.store.registrations import spans_of

    spans = spans_of(session, [student_id]).get(student_id, [])
    if not spans or not pupil_in_scope(principal, spans):
        audit(session, request, principal, action=action, resource=f"student:{student_id}",
              outcome="not_found" if not spans else "denied", purpose=purpose)
        raise NotFoundError(MSG_NOT_FOUND)


def place_to_act(session: Session, principal: Principal, student_id: str, day: Any) -> Place | None:
    """Where the caller may act for the pupil on ``day`` (access.scope.place_for over the pupil's
    registrations), or None: then the write is refused."""
    from riskscore.access import place_for
    from riskscore.store.registrations import spans_of

    return place_for(principal, spans_of(session, [student_id]).get(student_id, []), day)
