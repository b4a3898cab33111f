"""Web sessions: a signed cookie that holds a key *id*, a role and a CSRF token — never the key.

Signed with itsdangerous under settings.session_secret, so a client can read but not forge it. Each
request looks the key id up again and refuses a revoked key, so revoking a key ends its web sessions
at once. Every POST form carries the session's CSRF token (synchroniser token); signing in rotates it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from riskscore.access import Principal

SESSION_COOKIE = "riskscore_session"
LANG_COOKIE = "lang"
SESSION_MAX_AGE = 8 * 3600  # one working day; then sign in again
_SALT = "riskscore.web.session.v1"
#: failed sign-ins per client within 15 minutes before the login form refuses further tries
MAX_LOGIN_FAILURES = 10


class LoginRequired(Exception):
    """No valid session: the page redirects to /login."""


class CsrfError(Exception):
    """A POST without the session's CSRF token."""


class WebForbidden(Exception):
    """Signed in, but the role may not see this page."""

    def __init__(self, message_key: str = "error_403") -> None:
        super().__init__(message_key)
        self.message_key = message_key


@dataclass
class WebSession:
    """The cookie's content for this request; dirty when it must be written back."""

    data: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False
    cleared: bool = False

    @property
    def csrf(self) -> str:
        token = self.data.get("csrf")
        if not isinstance(token, str) or len(token) < 20:
            token = secrets.token_urlsafe(32)
            self.data["csrf"] = token
            self.dirty = True
        return token

    def sign_in(self, principal: Principal) -> None:
        """A fresh session (new CSRF token) for this key: nothing from before sign-in survives."""
        self.data = {"kid": principal.key_id, "role": principal.role, "csrf": secrets.token_urlsafe(32)}
        self.dirty = True

    def sign_out(self) -> None:
        self.data = {}
        self.cleared = True
        self.dirty = False


def _serializer(request: Request) -> URLSafeTimedSerializer:
    secret = request.app.state.riskscore.settings.session_secret.get_secret_value()
    return URLSafeTimedSerializer(secret, salt=_SALT)


def web_session(request: Request) -> WebSession:
    """The request's session, read from the cookie once (a bad or expired cookie reads as empty)."""
    existing = getattr(request.state, "web_session", None)
    if isinstance(existing, WebSession):
        return existing
    data: dict[str, Any] = {}
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            loaded = _serializer(request).loads(raw, max_age=SESSION_MAX_AGE)
            data = loaded if isinstance(loaded, dict) else {}
        except BadSignature:  # tampered, from another secret, or expired
            data = {}
    session = WebSession(data=data, dirty=not raw)
    request.state.web_session = session
    return session


def cookie_secure(request: Request) -> bool:
    """Secure cookies when settings say so; by default whenever the request came over https
    (uvicorn runs with proxy_headers, so a TLS-terminating proxy counts)."""
    configured = getattr(request.app.state.riskscore.settings, "cookie_secure", None)
    if configured is not None:
        return bool(configured)
    return request.url.scheme == "https"


def write_session(request: Request, response: Response) -> None:
    """Write the session cookie back if it changed (or delete it after sign-out).

    SameSite=Lax, not Strict: a link from another site (an e-mail, the school's intranet) must land
    signed in, instead of on /login where a fresh cookie would replace the session. Cross-site POSTs
    still carry no cookie, and every form checks the session's CSRF token besides."""
    session = getattr(request.state, "web_session", None)
    if not isinstance(session, WebSession):
        return
    secure = cookie_secure(request)
    if session.cleared:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
        return
    if session.dirty:
        session.csrf  # noqa: B018 - make sure every written session carries a token
        response.set_cookie(SESSION_COOKIE, _serializer(request).dumps(session.data), max_age=SESSION_MAX_AGE,
                            path="/", secure=secure, httponly=True, samesite="lax")


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise CsrfError unless the form's token equals the session's (constant-time compare)."""
    expected = web_session(request).data.get("csrf")
    if not isinstance(expected, str) or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfError


def principal_for_key_id(session: Session, key_id: str) -> Principal | None:
    """The principal of an unrevoked key, looked up by its id (the session holds no key)."""
    from riskscore.store.db import translate_errors
    from riskscore.store.models import ApiKey

    with translate_errors():
        row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    return Principal(actor_id=row.id, label=row.label, role=row.role, scope_kind=row.scope_kind,
                     scope_values=tuple(row.scope_values or ()))


def current_principal(request: Request, session: Session) -> Principal | None:
    """The signed-in principal, or None; a session whose key was revoked (or changed role) is ended."""
    ws = web_session(request)
    key_id, role = ws.data.get("kid"), ws.data.get("role")
    if not isinstance(key_id, str) or not key_id:
        return None
    principal = principal_for_key_id(session, key_id)
    if principal is None or principal.role != role:
        ws.sign_out()
        request.state.session_ended = True
        return None
    request.state.web_principal = principal
    request.state.role = principal.role  # for the request log, as the API does
    return principal


def require_principal(request: Request, session: Session) -> Principal:
    principal = current_principal(request, session)
    if principal is None:
        raise LoginRequired
    return principal


def require_roles(principal: Principal, allowed: frozenset[str], message_key: str = "error_403") -> None:
    if principal.role not in allowed:
        raise WebForbidden(message_key)


def client_of(request: Request) -> str:
    """The address failed sign-ins count against (as the API's throttle: the peer, or a trusted proxy's word)."""
    from riskscore.service.deps import client_of as api_client_of

    return api_client_of(request)
