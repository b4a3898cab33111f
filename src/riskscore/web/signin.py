"""Signing in and out on the web: people sign in as themselves, with their institution's identity over
OpenID Connect (authorisation code flow with PKCE, through authlib's Starlette client), or — in the named
demo mode only — as a demo person without a provider. API keys are for machines and do not open web
sessions.

The callback accepts the provider's answer only when the state matches the one this browser's pre-login
cookie holds (signed under the session secret), the code exchange succeeds, and the ID token verifies:
signature against the provider's published keys, issuer, audience (our client id), expiry, and the nonce
this browser's flow sent. Then the person must be known to riskscore (store/users.py: the user table,
or the provider's claims where the deployment opts in); anyone else gets a "not authorised, ask your
administrator" page, audited. A sign-in makes a new server-side session (web/auth.py)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from riskscore.access import Principal
from riskscore.access.signin import SignInRefused, identity_from_claims, oidc_config, resolve_session_secret
from riskscore.errors import ConfigError, NotFoundError, StoreError
from riskscore.service.deps import STUDENT_ROLES, SessionDep
from riskscore.service.logs import get_logger
from riskscore.settings import Settings
from riskscore.store.audit import append_audit
from riskscore.store.users import demo_person, list_users, match_person
from riskscore.store.web_sessions import ActiveSession, end_session, start_session
from riskscore.web import i18n
from riskscore.web.auth import (
    SignInState,
    check_csrf,
    client_of,
    current_principal,
    signin_state,
    web_session,
)
from riskscore.web.pages import WebRoute, lang_of, redirect, render

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CLIENT_NAME = "idp"
FLOW_KEY = "oidc"
PURPOSE_SIGN_IN = "aanmelden"
PURPOSE_SIGN_OUT = "afmelden"
#: claims that decide who someone is or what they may do; when one is missing from the ID token,
#: the provider's userinfo endpoint is asked (as with conforming providers that keep the ID token small)
HTTP_TIMEOUT = 10.0


def signin_state_from(settings: Settings) -> SignInState:
    """How people sign in, from the settings. Without a usable session secret the API still serves but
    nobody can sign in on the web (`riskscore serve` refuses to start that way: exit 2); a half-configured
    identity provider is a ConfigError."""
    secret = settings.session_secret.get_secret_value() if settings.session_secret is not None else None
    demo = settings.demo_mode_not_for_real_pupils
    try:
        key, throwaway = resolve_session_secret(secret, demo_mode=demo)
    except ConfigError:
        get_logger().warning("web sign-in disabled: no usable session secret", extra={"event": "signin_disabled"})
        key, throwaway = None, False
    if throwaway:
        get_logger().warning("DEMO MODE: a random session secret for this process; sessions end when it stops",
                             extra={"event": "demo_session_secret"})
    oidc = oidc_config(
        issuer=settings.oidc_issuer, discovery_url=settings.oidc_discovery_url, client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
        scopes=settings.oidc_scopes, redirect_uri=settings.oidc_redirect_uri,
        provider_name=settings.oidc_provider_name, claim_name=settings.oidc_claim_name,
        claim_email=settings.oidc_claim_email, roles_from_claims=settings.oidc_roles_from_claims,
        claim_role=settings.oidc_claim_role, claim_scope=settings.oidc_claim_scope,
        claim_groups=settings.oidc_claim_groups)
    return SignInState(key=key, throwaway_key=throwaway, oidc=oidc, demo_mode=demo,
                       idle=timedelta(minutes=settings.session_idle_minutes),
                       lifetime=timedelta(hours=settings.session_max_hours))


def home_for(principal: Principal) -> str:
    """Where a person lands after signing in: the worklist for the roles that review pupils, the
    administration pages for admin (who sees no pupil), monitoring for the data team."""
    if principal.role in STUDENT_ROLES:
        return "/worklist"
    return "/admin" if principal.role == "admin" else "/monitoring"


def safe_next(target: str | None) -> str | None:
    """Only a local path: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 500:
        return None
    return target


def _audit(session: Session, request: Request, *, actor: str, role: str | None, action: str, outcome: str,
           purpose: str, detail: dict[str, Any] | None = None) -> None:
    append_audit(session, actor=actor, role=role, action=action, resource="web:login", outcome=outcome,
                 purpose=purpose, request_id=getattr(request.state, "request_id", None), detail=detail)


def _login_page(request: Request, session: Session, *, status_code: int = 200, next_path: str = "",
                info: str | None = None, error: str | None = None) -> Response:
    state = signin_state(request)
    lang = lang_of(request)
    provider = None
    if state.oidc is not None and state.key is not None:
        provider = state.oidc.provider_name or i18n.translate("login_provider_default", lang)
    demo_people = list_users(session, include_inactive=False, demo_only=True) if state.demo_mode else []
    demo_mode = state.demo_mode and state.key is not None
    start_url = "/login/start" + (f"?{urlencode({'next': next_path})}" if next_path else "")
    return render(request, "login.html", status_code=status_code, next=next_path, info=info, error=error,
                  provider=provider, start_url=start_url, demo_mode=demo_mode, demo_people=demo_people,
                  not_configured=provider is None and not demo_mode)


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    principal = current_principal(request, session)
    return redirect(home_for(principal) if principal else "/login")


@router.get("/login")
def login_form(request: Request, session: SessionDep, next: str | None = None, expired: str | None = None,
               logged_out: str | None = None) -> Response:
    principal = current_principal(request, session)
    if principal is not None:
        return redirect(safe_next(next) or home_for(principal))
    message = "session_ended" if expired else ("logged_out" if logged_out else None)
    return _login_page(request, session, next_path=safe_next(next) or "", info=message)


def oidc_client(state: SignInState) -> Any:
    """authlib's client for the configured provider (discovery and keys are fetched on first use)."""
    if state.client is None:
        assert state.oidc is not None
        oauth = OAuth()
        oauth.register(CLIENT_NAME, client_id=state.oidc.client_id, client_secret=state.oidc.client_secret,
                       server_metadata_url=state.oidc.metadata_url,
                       client_kwargs={"scope": state.oidc.scopes, "code_challenge_method": "S256",
                                      "timeout": HTTP_TIMEOUT})
        state.client = oauth.create_client(CLIENT_NAME)
    return state.client


def _redirect_uri(request: Request, state: SignInState) -> str:
    assert state.oidc is not None
    return state.oidc.redirect_uri or str(request.url_for("oidc_callback"))


@router.get("/login/start")
async def oidc_start(request: Request, next: str | None = None) -> Response:
    """Send the browser to the identity provider; the flow's state, nonce and PKCE verifier stay in the
    signed pre-login cookie (never in the URL besides the state itself)."""
    state = signin_state(request)
    if state.oidc is None or state.key is None:
        raise NotFoundError("sign-in over OpenID Connect is not configured")
    client = oidc_client(state)
    flow: dict[str, Any] = {}
    request.scope["session"] = flow  # authlib keeps the flow in request.session: here, our pre-login cookie
    try:
        response = await client.authorize_redirect(request, _redirect_uri(request, state))
    except Exception as exc:  # discovery unreachable or unreadable: the provider is down for us
        get_logger().error("identity provider unreachable", extra={"event": "oidc_unreachable",
                                                                   "error_type": type(exc).__name__})
        raise StoreError("identity provider unreachable") from exc
    ws = web_session(request)
    ws.csrf  # noqa: B018 - the pre-login cookie keeps its CSRF token
    ws.data[FLOW_KEY] = flow
    ws.data["next"] = safe_next(next) or ""
    ws.dirty = True
    return response


async def _claims(client: Any, token: dict[str, Any], state: SignInState) -> dict[str, Any]:
    """The verified ID token's claims, completed from userinfo when the ID token lacks the ones we read."""
    assert state.oidc is not None
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub") or not claims.get("iss"):
        raise ValueError("no verified ID token")
    wanted = [state.oidc.claim_name, state.oidc.claim_email]
    if state.oidc.roles_from_claims:
        wanted += [state.oidc.claim_role, state.oidc.claim_scope, state.oidc.claim_groups]
    metadata = await client.load_server_metadata()
    if any(w not in claims for w in wanted) and metadata.get("userinfo_endpoint") and token.get("access_token"):
        info = dict(await client.userinfo(token=token))
        if info.get("sub") != claims["sub"]:  # OIDC Core 5.3.2: userinfo of another subject is refused
            raise ValueError("userinfo subject differs from the ID token's")
        claims = {**{k: v for k, v in info.items() if k not in ("iss", "aud", "sub")}, **claims}
    return claims


def _subject_ref(issuer: str, subject: str) -> str:
    """A short reference to an unknown person for the audit log (who tried, without storing the subject)."""
    return hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:16]


def _sign_in(request: Request, session: Session, user_id: str) -> tuple[str, ActiveSession]:
    state = signin_state(request)
    assert state.key is not None
    return start_session(session, user_id=user_id, secret=state.key, lifetime=state.lifetime,
                         client=client_of(request))


@router.get("/login/callback", name="oidc_callback")
async def oidc_callback(request: Request, session: SessionDep) -> Response:
    """The provider's answer. Anything that does not verify is refused (400) and audited as denied."""
    state = signin_state(request)
    if state.oidc is None or state.key is None:
        raise NotFoundError("sign-in over OpenID Connect is not configured")
    ws = web_session(request)
    flow = ws.data.get(FLOW_KEY)
    next_path = safe_next(ws.data.get("next")) or ""
    request.scope["session"] = dict(flow) if isinstance(flow, dict) else {}
    client = oidc_client(state)
    try:
        metadata = await client.load_server_metadata()
        answered_by = request.query_params.get("iss")
        if answered_by is not None and answered_by != metadata.get("issuer"):
            raise ValueError("the answer names another issuer")  # RFC 9207: a mix-up attack
        # authlib checks the audience only when told to (by default it checks iss, and azp when aud differs):
        # OIDC Core 3.1.3.7 says the ID token's aud MUST contain our client id, so it is told
        token = await client.authorize_access_token(request, claims_options={
            "iss": {"essential": True, "values": [metadata.get("issuer")]},
            "aud": {"essential": True, "values": [state.oidc.client_id]}})
        claims = await _claims(client, token, state)
        identity = identity_from_claims(claims, state.oidc)
    except Exception as exc:  # wrong state, nonce, audience, signature, issuer, expiry, a refused code...
        error_type = type(exc).__name__
        get_logger().warning("sign-in refused", extra={"event": "oidc_refused", "error_type": error_type})
        ws.data.pop(FLOW_KEY, None)
        ws.dirty = True
        # the library's own words for what did not verify ("invalid claim 'aud'", "mismatching_state"): no
        # personal data, and what a security officer needs to tell an attack from a misconfiguration
        description = getattr(exc, "description", None) or getattr(exc, "error", None) or ""
        await run_in_threadpool(_audit, session, request, actor="anonymous", role=None, action="web.login",
                                outcome="denied", purpose=PURPOSE_SIGN_IN,
                                detail={"reason": "invalid_response", "error": error_type,
                                        "description": str(description)[:160]})
        return await run_in_threadpool(_login_page, request, session, status_code=400, next_path=next_path,
                                       error="login_failed")
    try:
        match = await run_in_threadpool(match_person, session, identity, roles_from_claims=state.oidc.roles_from_claims)
    except SignInRefused as refused:
        ws.data.pop(FLOW_KEY, None)
        ws.dirty = True
        await run_in_threadpool(_audit, session, request, actor="anonymous", role=None, action="web.login",
                                outcome="denied", purpose=PURPOSE_SIGN_IN,
                                detail={"reason": refused.reason, "person": _subject_ref(identity.issuer,
                                                                                          identity.subject),
                                        "email": identity.email})
        return await run_in_threadpool(_login_page, request, session, status_code=403, next_path=next_path,
                                       error="login_not_authorised")
    token_value, active = await run_in_threadpool(_sign_in, request, session, match.user.id)
    ws.signed_in(token_value, active)
    request.state.web_principal = active.principal
    await run_in_threadpool(_audit, session, request, actor=active.principal.actor_id, role=active.principal.role,
                            action="web.login", outcome="allowed", purpose=PURPOSE_SIGN_IN,
                            detail={"method": "oidc", "matched_on": match.how})
    return redirect(next_path or home_for(active.principal))


@router.post("/login/demo")
def demo_sign_in(
    request: Request,
    session: SessionDep,
    user_id: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Demo mode only (RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS=1): sign in as one of the demo people."""
    state = signin_state(request)
    if not state.demo_mode or state.key is None:
        raise NotFoundError("demo sign-in exists only in demo mode")
    current_principal(request, session)  # a stale session cookie is looked up (and ended) first
    check_csrf(request, csrf_token)
    user = demo_person(session, user_id.strip())
    token_value, active = _sign_in(request, session, user.id)
    web_session(request).signed_in(token_value, active)
    request.state.web_principal = active.principal
    _audit(session, request, actor=active.principal.actor_id, role=active.principal.role, action="web.login",
           outcome="allowed", purpose=PURPOSE_SIGN_IN, detail={"method": "demo"})
    return redirect(safe_next(next) or home_for(active.principal))


@router.get("/logout")
def logout_form(request: Request, session: SessionDep) -> Response:
    if current_principal(request, session) is None:
        return redirect("/login")
    return render(request, "logout.html")


@router.post("/logout")
def logout(request: Request, session: SessionDep,
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Ends the session in the store at once: the old cookie opens nothing afterwards."""
    principal = current_principal(request, session)
    check_csrf(request, csrf_token)
    ws = web_session(request)
    if principal is not None and ws.active is not None:
        end_session(session, ws.active.id, reason="logout")
        _audit(session, request, actor=principal.actor_id, role=principal.role, action="web.logout",
               outcome="allowed", purpose=PURPOSE_SIGN_OUT)
    ws.sign_out()
    return redirect("/login?logged_out=1")
