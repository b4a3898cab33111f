"""Web sessions, kept server-side (store/web_sessions.py).

Two cookies, both HttpOnly, SameSite=Lax, Secure over https:
- ``riskscore_session``: an opaque random token, only while signed in. The store keeps only its HMAC
  digest under the session secret; each request looks it up, so logout, an admin's revocation, the
  person's deactivation, the idle timeout and the absolute lifetime end it at once, in every worker.
  It holds no role, no key and no CSRF token; the session's CSRF token lives in its row.
- ``riskscore_login``: before sign-in only. Signed (itsdangerous, under the session secret) and short-
  lived; holds the sign-in forms' CSRF token and the OpenID Connect flow's state, nonce and PKCE
  verifier. Signing in deletes it and makes a brand-new session: nothing from before sign-in becomes
  the signed-in session (no fixation).

Without a session secret (an API-only deployment) nobody can sign in: forms are refused, no cookie is
written. Every POST form carries the session's CSRF token (synchroniser token)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from riskscore.access import Principal
from riskscore.access.signin import OidcConfig
from riskscore.store.web_sessions import ActiveSession, find_session

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SESSION_COOKIE = "riskscore_session"
LOGIN_COOKIE = "riskscore_login"
LANG_COOKIE = "lang"
#: the sign-in page's form and an OpenID Connect round trip must finish within this (seconds)
LOGIN_MAX_AGE = 3600
_SALT = "riskscore.web.login.v1"


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
class SignInState:
    """How people sign in to this app: the session key, the identity provider, demo mode, lifetimes.
    Made once by mount_web from the settings; the OpenID Connect client is created on first use."""

    key: bytes | None
    throwaway_key: bool = False
    oidc: OidcConfig | None = None
    demo_mode: bool = False
    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=8)
    client: Any = None  # authlib's client for the provider (web/signin.py)


def signin_state(request: Request) -> SignInState:
    state = getattr(request.app.state, "signin", None)
    return state if isinstance(state, SignInState) else SignInState(key=None)


@dataclass
class WebSession:
    """This request's session: the signed-in one (``active``) or the pre-login cookie's data."""

    data: dict[str, Any] = field(default_factory=dict)
    dirty: bool = False  # the pre-login cookie must be written
    cleared: bool = False  # the pre-login cookie must be deleted
    persist: bool = True  # False without a session secret: nothing can be kept
    active: ActiveSession | None = None
    checked: bool = False  # the session cookie was looked up in the store
    new_token: str | None = None  # a fresh session token to set
    end_cookie: bool = False  # the session cookie must be deleted

    @property
    def csrf(self) -> str:
        if self.active is not None:
            return self.active.csrf
        token = self.data.get("csrf")
        if not isinstance(token, str) or len(token) < 20:
            token = secrets.token_urlsafe(32)
            self.data["csrf"] = token
            self.dirty = True
        return token

    def signed_in(self, token: str, active: ActiveSession) -> None:
        """A fresh session replaces whatever came before: the pre-login cookie goes."""
        self.active, self.new_token, self.checked = active, token, True
        self.data, self.dirty, self.cleared, self.end_cookie = {}, False, True, False

    def sign_out(self) -> None:
        self.active, self.new_token, self.end_cookie = None, None, True
        self.data, self.dirty, self.cleared = {}, False, True


def _serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=_SALT)


def web_session(request: Request) -> WebSession:
    """The request's session object (the pre-login cookie is read once; the store only by current_principal)."""
    existing = getattr(request.state, "web_session", None)
    if isinstance(existing, WebSession):
        return existing
    key = signin_state(request).key
    data: dict[str, Any] = {}
    raw = request.cookies.get(LOGIN_COOKIE)
    if raw and key is not None:
        try:
            loaded = _serializer(key).loads(raw, max_age=LOGIN_MAX_AGE)
            data = loaded if isinstance(loaded, dict) else {}
        except BadSignature:  # tampered, from another secret, or too old
            data = {}
    session = WebSession(data=data, persist=key is not None)
    request.state.web_session = session
    return session


def cookie_secure(request: Request) -> bool:
    """Secure cookies when settings say so; by default whenever the request came over https
    (uvicorn runs with proxy_headers for the configured proxies, so a TLS-terminating proxy counts)."""
    configured = getattr(request.app.state.riskscore.settings, "cookie_secure", None)
    if configured is not None:
        return bool(configured)
    return request.url.scheme == "https"


def write_session(request: Request, response: Response) -> None:
    """Set or delete the two cookies as this request changed them.

    SameSite=Lax, not Strict: a link from another site (an e-mail, the school's intranet) must land
    signed in, and the identity provider's redirect back to /login/callback (a top-level GET) must
    carry the pre-login cookie. Cross-site POSTs carry neither, and every form checks the CSRF token."""
    session = getattr(request.state, "web_session", None)
    if not isinstance(session, WebSession):
        return
    secure = cookie_secure(request)
    if session.new_token is not None:
        # no Max-Age: the browser forgets it when it closes; the store ends it after idle/lifetime anyway
        response.set_cookie(SESSION_COOKIE, session.new_token, path="/", secure=secure, httponly=True, samesite="lax")
    elif session.end_cookie and SESSION_COOKIE in request.cookies:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    key = signin_state(request).key
    if session.cleared:
        if LOGIN_COOKIE in request.cookies:
            response.delete_cookie(LOGIN_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    elif session.dirty and session.persist and key is not None:
        response.set_cookie(LOGIN_COOKIE, _serializer(key).dumps(session.data), max_age=LOGIN_MAX_AGE, path="/",
                            secure=secure, httponly=True, samesite="lax")


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise CsrfError unless the form's token equals the session's (constant-time compare).

    A signed-in request must have had its session looked up first (require_principal), so the token is
    compared with the server-side session's own, never with a pre-login one."""
    ws = web_session(request)
    if request.cookies.get(SESSION_COOKIE) and not ws.checked:
        raise CsrfError
    if ws.active is None and not ws.persist:
        raise CsrfError
    expected = ws.active.csrf if ws.active is not None else ws.data.get("csrf")
    if not isinstance(expected, str) or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfError


def current_principal(request: Request, session: Session) -> Principal | None:
    """The signed-in person, or None. A session cookie the store no longer accepts (logged out, revoked,
    idle, expired, person deactivated, unknown) is deleted and the login page says the session ended."""
    ws = web_session(request)
    if ws.checked:
        return ws.active.principal if ws.active is not None else None
    ws.checked = True
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    state = signin_state(request)
    active = None
    if state.key is not None:
        active, _why = find_session(session, token=token, secret=state.key, idle=state.idle)
    if active is None:
        ws.end_cookie = True
        request.state.session_ended = True
        return None
    ws.active = active
    request.state.web_principal = active.principal
    request.state.role = active.principal.role  # for the request log, as the API does
    return active.principal


def require_principal(request: Request, session: Session) -> Principal:
    principal = current_principal(request, session)
    if principal is None:
        raise LoginRequired
    return principal


def require_roles(principal: Principal, allowed: frozenset[str], message_key: str = "error_403") -> None:
    if principal.role not in allowed:
        raise WebForbidden(message_key)


def client_of(request: Request) -> str:
    """The client address (as the API's throttle: the peer, or a trusted proxy's word)."""
    return request.client.host if request.client is not None else "unknown"
