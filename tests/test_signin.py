"""People sign in as themselves: the OpenID Connect code flow against a real, certified provider
(panva's oidc-provider on node, tests/oidc_support.py) with riskscore as a real uvicorn process, and the
answers that must be refused — a state from another flow, an ID token of another flow (nonce) or issued to
another application (audience), a replayed code, a person riskscore does not know. Also the session secret:
no built-in one (break 1 of issue 21), `serve` stops without it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.starlette_client.apps import StarletteOAuth2App
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from pydantic import SecretStr
from sqlalchemy import select

from conftest import free_port, running_server
from oidc_support import (
    CLIENT_ID,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    Provider,
    callback_path,
    oidc_env,
    provider_login,
    running_provider,
    start_flow,
)
from riskscore.api import create_app
from riskscore.settings import Settings
from riskscore.store.audit import list_audit
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import AuditEntry, Score, User
from riskscore.store.users import create_user, get_user, set_active, update_user
from riskscore.web.auth import LOGIN_COOKIE, SESSION_COOKIE
from test_api import build_bundle
from test_web import _seed, csrf_of, rows_of

pytestmark = [pytest.mark.e2e]

SECRET = "signin-tests-session-secret-0123456789abcdef"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "anne": {"name": "Anne de Vries", "email": "Anne@School.example", "email_verified": True},
    "eva": {"name": "Eva Smit", "email": "eva@school.example", "email_verified": True},
    "dirk": {"name": "Dirk Deactivated", "email": "dirk@school.example", "email_verified": True},
    "unverified": {"name": "Not Verified", "email": "unverified@school.example", "email_verified": False},
    "bram": {"name": "Bram Jansen", "email": "bram@gemeente.example", "riskscore_role": "leerplicht",
             "riskscore_scope": "municipality:GM0363", "riskscore_groups": []},
    "badclaims": {"name": "Bad Claims", "email": "bad@gemeente.example", "riskscore_role": "superuser",
                  "riskscore_scope": "school:01AB"},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Scores and cases of two schools (test_web's), and the people riskscore knows."""
    home = tmp_path_factory.mktemp("signin")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    cases = _seed(session)
    people = {
        "anne": create_user(session, display_name="Anne de Vries (mentor)", email="anne@school.example", role="school",
                            scope_kind="school", scope_values=["01AB"]).id,
        "eva": create_user(session, display_name="Eva Smit", email="eva@school.example", role="admin",
                           scope_kind="all").id,
        "dirk": create_user(session, display_name="Dirk", email="dirk@school.example", role="school",
                            scope_kind="school", scope_values=["01AB"]).id,
        "unverified": create_user(session, display_name="Unverified", email="unverified@school.example",
                                  role="school", scope_kind="school", scope_values=["02CD"]).id,
    }
    set_active(session, people["dirk"], False)
    yield {"home": home, "url": url, "session": session, "cases": cases, "people": people,
           "bundle": build_bundle(home / "bundle")}
    session.close()
    engine.dispose()


@pytest.fixture(scope="module")
def served(store: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The provider, and riskscore as a real uvicorn process signing people in through it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = tmp_path_factory.mktemp("signin-served")
    with running_provider(tmp, redirect_uris=[f"{base}/login/callback", "http://testserver/login/callback"],
                          accounts=ACCOUNTS) as provider:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
        env.update(RISKSCORE_HOME=str(store["home"]), RISKSCORE_SESSION_SECRET=SECRET, **oidc_env(provider))
        with running_server(["--bundle", str(store["bundle"]), "--database-url", store["url"]], env=env,
                            log_path=tmp / "server.log", port=port) as url:
            yield {"base": url, "provider": provider, **store}


def clients(base: str) -> tuple[httpx.Client, httpx.Client]:
    """A browser's two sides: riskscore's cookies, and the provider's."""
    return httpx.Client(base_url=base, follow_redirects=False, timeout=15), httpx.Client(follow_redirects=False,
                                                                                           timeout=15)


def sign_in(base: str, login: str, *, next_path: str = "") -> tuple[httpx.Client, httpx.Response]:
    rs, idp = clients(base)
    path = "/login/start" + (f"?{urlencode({'next': next_path})}" if next_path else "")
    back = provider_login(idp, start_flow(rs, path), login)
    return rs, rs.get(callback_path(back))


def last_login_entry(session: Any) -> AuditEntry:
    session.expire_all()
    return session.scalars(select(AuditEntry).where(AuditEntry.action == "web.login")
                           .order_by(AuditEntry.id.desc())).first()


# --- the code flow, end to end ------------------------------------------------------------------------
def test_code_flow_signs_the_person_in_with_a_fresh_server_side_session(served: dict[str, Any]) -> None:
    base, provider, session = served["base"], served["provider"], served["session"]
    rs, idp = clients(base)
    page = rs.get("/login")
    assert page.status_code == 200 and "Aanmelden via Testinstelling" in page.text
    assert 'name="api_key"' not in page.text
    pre_login = rs.cookies.get(LOGIN_COOKIE)
    assert pre_login
    authorize = start_flow(rs, "/login/start?next=/students/W-A1")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{provider.issuer}/auth")
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [f"{base}/login/callback"]
    back = provider_login(idp, authorize, "anne")
    assert back.startswith(f"{base}/login/callback?") and "code=" in back
    r = rs.get(callback_path(back))
    assert r.status_code == 303 and r.headers["location"] == "/students/W-A1", r.text[:500]
    cookies = {h.split("=", 1)[0]: h.lower() for h in r.headers.get_list("set-cookie")}
    flags = cookies[SESSION_COOKIE]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "max-age" not in flags and "expires" not in flags  # gone when the browser closes
    assert "max-age=0" in cookies[LOGIN_COOKIE]  # the pre-login cookie (state, nonce, verifier) is deleted
    token = rs.cookies.get(SESSION_COOKIE)
    assert token and token != pre_login and pre_login not in token  # rotation: nothing from before sign-in
    # the worklist of Anne's own school only, with her name in the header
    worklist = rs.get("/worklist")
    assert worklist.status_code == 200 and rows_of(worklist.text) == ["W-A2", "W-A1"]
    assert "Aangemeld als Anne de Vries (mentor)" in worklist.text
    # her account is now bound to the provider's subject; the sign-in is on the record
    session.expire_all()
    user = get_user(session, served["people"]["anne"])
    assert (user.issuer, user.subject) == (provider.issuer, "anne")
    entry = last_login_entry(session)
    assert (entry.actor, entry.outcome, entry.role) == (f"user:{user.id}", "allowed", "school")
    assert '"matched_on":"email"' in (entry.detail or "")
    # the pre-login cookie's value never works as a session
    thief = httpx.Client(base_url=base, follow_redirects=False, cookies={SESSION_COOKIE: pre_login})
    assert thief.get("/worklist").status_code == 303
    # the same answer replayed (its code, its state) signs nobody in
    replay = httpx.Client(base_url=base, follow_redirects=False)
    r = replay.get(callback_path(back))
    assert r.status_code == 400 and SESSION_COOKIE not in replay.cookies
    r = rs.get(callback_path(back))
    assert r.status_code == 400 and "kon niet worden gecontroleerd" in r.text
    # logout ends the session in the store: the old cookie opens nothing
    logout = rs.post("/logout", data={"csrf_token": csrf_of(rs.get("/worklist").text)})
    assert logout.status_code == 303 and logout.headers["location"] == "/login?logged_out=1"
    old = httpx.Client(base_url=base, follow_redirects=False, cookies={SESSION_COOKIE: token})
    assert old.get("/worklist").status_code == 303
    assert old.get("/students/W-A1").status_code == 303


def test_later_sign_ins_match_on_the_subject_not_the_address(served: dict[str, Any]) -> None:
    session, people = served["session"], served["people"]
    rs, r = sign_in(served["base"], "anne")  # binds the subject (if the test above did not already)
    assert r.status_code == 303
    update_user(session, people["anne"], email="anne.new@school.example")
    rs, r = sign_in(served["base"], "anne")  # the provider still says Anne@School.example: the subject decides
    assert r.status_code == 303 and rs.get("/worklist").status_code == 200
    entry = last_login_entry(session)
    assert entry.actor == f"user:{people['anne']}" and '"matched_on":"subject"' in (entry.detail or "")


def test_a_person_riskscore_does_not_know_is_refused_and_audited(served: dict[str, Any]) -> None:
    session = served["session"]
    for login, reason in (("stranger", "unknown_person"), ("dirk", "deactivated"), ("unverified", "unknown_person")):
        rs, r = sign_in(served["base"], login)
        assert r.status_code == 403, login
        assert "geen toegang tot riskscore" in r.text and "Vraag uw beheerder" in r.text
        assert SESSION_COOKIE not in rs.cookies
        assert rs.get("/worklist").status_code == 303
        entry = last_login_entry(session)
        assert (entry.outcome, entry.actor) == ("denied", "anonymous")
        assert f'"reason":"{reason}"' in (entry.detail or ""), (login, entry.detail)
    # nobody was created or bound along the way
    session.expire_all()
    assert session.scalar(select(User).where(User.subject.in_(["stranger", "dirk", "unverified"]))) is None


def test_an_answer_for_another_flow_is_refused(served: dict[str, Any]) -> None:
    """State: the provider's answer to browser B, delivered to browser A, signs nobody in (login CSRF)."""
    base = served["base"]
    a, _idp_a = clients(base)
    b, idp_b = clients(base)
    start_flow(a)
    back_b = provider_login(idp_b, start_flow(b), "anne")
    r = a.get(callback_path(back_b))
    assert r.status_code == 400 and SESSION_COOKIE not in a.cookies
    assert "MismatchingStateError" in (last_login_entry(served["session"]).detail or "")
    # the flow's state was used up: B's own answer, now replayed into A's browser again, still fails
    assert a.get(callback_path(back_b)).status_code == 400
    # an answer naming another issuer (RFC 9207 mix-up) and a provider's error are refused too
    c, idp_c = clients(base)
    back_c = provider_login(idp_c, start_flow(c), "anne")
    forged = re.sub(r"iss=[^&]+", "iss=https%3A%2F%2Fevil.example", callback_path(back_c))
    assert "evil.example" in forged and c.get(forged).status_code == 400
    d, _ = clients(base)
    start_flow(d)
    r = d.get("/login/callback?error=access_denied&state=x")
    assert r.status_code == 400 and "Traceback" not in r.text


# --- ID-token validation, in-process: the tokens are the provider's own, swapped in transit ------------------
@pytest.fixture(scope="module")
def inproc(store: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("signin-inproc")
    with running_provider(tmp, redirect_uris=["http://testserver/login/callback"], accounts=ACCOUNTS) as provider:
        yield {"provider": provider, **store}


def inproc_app(env: dict[str, Any], **extra: Any) -> Any:
    oidc = oidc_env(env["provider"])
    return create_app(Settings(home=env["home"], database_url=env["url"], bundle_path=env["bundle"],
                               session_secret=SecretStr(SECRET), log_level="WARNING",
                               oidc_issuer=oidc["RISKSCORE_OIDC_ISSUER"], oidc_client_id=CLIENT_ID,
                               oidc_client_secret=SecretStr(oidc["RISKSCORE_OIDC_CLIENT_SECRET"]),
                               oidc_scopes=oidc["RISKSCORE_OIDC_SCOPES"], **extra))


def nonce_of(client: TestClient, state: str) -> str:
    """The nonce this browser's flow sent (the pre-login cookie is signed, not encrypted: tests know the key)."""
    data = URLSafeTimedSerializer(SECRET.encode(), salt="riskscore.web.login.v1").loads(client.cookies[LOGIN_COOKIE])
    return str(data["oidc"][f"_state_idp_{state}"]["data"]["nonce"])


def token_for_other_app(provider: Provider, login: str, nonce: str) -> dict[str, Any]:
    """A genuine token response from the provider to another application, for the same person and nonce."""
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = "http://testserver/login/callback"
    authorize = f"{provider.issuer}/auth?" + urlencode({
        "client_id": OTHER_CLIENT_ID, "response_type": "code", "scope": "openid profile email", "state": "s1",
        "nonce": nonce, "redirect_uri": redirect, "code_challenge": challenge, "code_challenge_method": "S256"})
    back = provider_login(httpx.Client(follow_redirects=False, timeout=15), authorize, login)
    code = parse_qs(urlsplit(back).query)["code"][0]
    r = httpx.post(provider.discovery["token_endpoint"], auth=(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET), timeout=15,
                   data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                         "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_id_tokens_of_another_flow_or_another_application_are_refused(inproc: dict[str, Any],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    provider, session = inproc["provider"], inproc["session"]
    seen: list[dict[str, Any]] = []
    swap: dict[str, dict[str, Any]] = {}
    original = StarletteOAuth2App.fetch_access_token

    async def in_transit(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The real exchange with the provider; then, if the test says so, the answer is replaced by another
        genuine answer of the same provider (a token injected by an attacker who sits in between)."""
        token = await original(self, *args, **kwargs)
        seen.append(dict(token))
        return dict(swap.pop("next", token))

    monkeypatch.setattr(StarletteOAuth2App, "fetch_access_token", in_transit)
    app = inproc_app(inproc)
    with TestClient(app, raise_server_exceptions=False) as first:

        def flow(client: TestClient) -> tuple[str, str]:
            authorize = start_flow(client)
            state = parse_qs(urlsplit(authorize).query)["state"][0]
            return state, callback_path(provider_login(httpx.Client(follow_redirects=False, timeout=15), authorize,
                                                       "eva"))

        # the harness itself lets a genuine answer through
        _state, back = flow(first)
        r = first.get(back, follow_redirects=False)
        assert r.status_code == 303 and SESSION_COOKIE in first.cookies
        genuine = seen[-1]
        # nonce: the whole token response of that earlier flow (valid signature, audience, at_hash), replayed
        second = TestClient(app, raise_server_exceptions=False)
        _state, back = flow(second)
        swap["next"] = genuine
        r = second.get(back, follow_redirects=False)
        assert r.status_code == 400 and SESSION_COOKIE not in second.cookies
        detail = last_login_entry(session).detail or ""
        assert "InvalidClaimError" in detail and "'nonce'" in detail, detail
        # audience: a token the provider issued to another application, for the same person and nonce
        third = TestClient(app, raise_server_exceptions=False)
        state, back = flow(third)
        swap["next"] = token_for_other_app(provider, "eva", nonce_of(third, state))
        r = third.get(back, follow_redirects=False)
        assert r.status_code == 400 and SESSION_COOKIE not in third.cookies
        detail = last_login_entry(session).detail or ""
        assert "InvalidClaimError" in detail and "'aud'" in detail, detail
        # an answer without an ID token at all
        fourth = TestClient(app, raise_server_exceptions=False)
        _state, back = flow(fourth)
        swap["next"] = {k: v for k, v in genuine.items() if k != "id_token"}
        assert fourth.get(back, follow_redirects=False).status_code == 400
        assert SESSION_COOKIE not in fourth.cookies


def test_roles_from_claims_when_the_deployment_opts_in(inproc: dict[str, Any]) -> None:
    provider, session = inproc["provider"], inproc["session"]
    with TestClient(inproc_app(inproc, oidc_roles_from_claims=True), raise_server_exceptions=False) as c:
        back = provider_login(httpx.Client(follow_redirects=False, timeout=15), start_flow(c), "bram")
        r = c.get(callback_path(back), follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/worklist"
        page = c.get("/worklist")
        assert "Aangemeld als Bram Jansen (rol: leerplicht)" in page.text and rows_of(page.text) == ["W-A1"]
        session.expire_all()
        bram = session.scalar(select(User).where(User.subject == "bram"))
        assert bram is not None and (bram.source, bram.role, bram.scope_values) == ("claims", "leerplicht", ["GM0363"])
        for login, reason in (("badclaims", "invalid_claims"), ("stranger", "unknown_person")):
            other = TestClient(c.app, raise_server_exceptions=False)
            back = provider_login(httpx.Client(follow_redirects=False, timeout=15), start_flow(other), login)
            assert other.get(callback_path(back), follow_redirects=False).status_code == 403
            assert f'"reason":"{reason}"' in (last_login_entry(session).detail or "")
    # without the opt-in, role claims give nobody a role
    with TestClient(inproc_app(inproc), raise_server_exceptions=False) as c:
        back = provider_login(httpx.Client(follow_redirects=False, timeout=15), start_flow(c), "badclaims")
        assert c.get(callback_path(back), follow_redirects=False).status_code == 403
    assert provider.issuer.startswith("http://127.0.0.1:")


# --- the session secret (break 1) -----------------------------------------------------------------------
def test_there_is_no_built_in_session_secret() -> None:
    assert Settings.model_fields["session_secret"].default is None
    text = (Path(__file__).resolve().parents[1] / "src" / "riskscore" / "settings.py").read_text()
    assert not re.search(r'SecretStr\("', text)


def test_a_cookie_signed_with_the_old_built_in_secret_opens_nothing(store: dict[str, Any]) -> None:
    """Break 1: a cookie signed with 'dev-only-session-secret-change-me' as admin was accepted, and
    erased a pupil. Now a session is a row in the store; a signed cookie names none."""
    session = store["session"]
    key_id, _key = create_key(session, "admin", "all", [], "an admin key")
    forged = URLSafeTimedSerializer("dev-only-session-secret-change-me", salt="riskscore.web.session.v1").dumps(
        {"kid": key_id, "role": "admin", "csrf": "x" * 43})
    app = create_app(Settings(home=store["home"], database_url=store["url"], bundle_path=store["bundle"],
                              session_secret=SecretStr(SECRET), log_level="WARNING"))
    with TestClient(app, raise_server_exceptions=False) as c:
        c.cookies.set(SESSION_COOKIE, forged)
        r = c.post("/admin/erasure", data={"csrf_token": "x" * 43, "student_id": "W-B1", "reason": "forged",
                                           "confirm": "yes"}, follow_redirects=False)
        assert r.status_code in (303, 403) and "receipt" not in r.headers.get("location", "")
        assert c.get("/admin/users", follow_redirects=False).headers["location"].startswith("/login")
    session.expire_all()
    assert session.scalar(select(Score.id).where(Score.student_id == "W-B1")) is not None  # nothing erased
    assert all(e.action != "privacy.erase" for e in list_audit(session, resource="student:W-B1", limit=1000))


def _serve(env_extra: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
    env.update(RISKSCORE_HOME=str(tmp), **env_extra)
    return subprocess.run([sys.executable, "-m", "riskscore.cli", "serve", "--port", str(free_port())],
                          capture_output=True, text=True, env=env, timeout=120)


def test_serve_stops_without_a_session_secret(tmp_path: Path) -> None:
    done = _serve({}, tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "RISKSCORE_SESSION_SECRET" in lines[0] and "secrets.token_urlsafe" in lines[0], lines
    short = _serve({"RISKSCORE_SESSION_SECRET": "short"}, tmp_path)
    assert short.returncode == 2 and "shorter than 32" in short.stderr
    half = _serve({"RISKSCORE_SESSION_SECRET": SECRET, "RISKSCORE_OIDC_ISSUER": "https://idp.example",
                   "RISKSCORE_OIDC_CLIENT_ID": "riskscore"}, tmp_path)
    assert half.returncode == 2 and "RISKSCORE_OIDC_CLIENT_SECRET" in half.stderr
    plain = _serve({"RISKSCORE_SESSION_SECRET": SECRET, "RISKSCORE_OIDC_ISSUER": "http://idp.example",
                    "RISKSCORE_OIDC_CLIENT_ID": "riskscore", "RISKSCORE_OIDC_CLIENT_SECRET": "x" * 32}, tmp_path)
    assert plain.returncode == 2 and "https://" in plain.stderr


def test_demo_mode_serves_without_a_secret_and_its_demo_people_sign_in(store: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    """What `make demo` ends with: `riskscore serve` in demo mode, no secret configured (a random one for
    the run, handed to the workers), demo people made with `riskscore users add --demo` sign in from /login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
    env.update(RISKSCORE_HOME=str(tmp_path), RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS="1",
               RISKSCORE_DATABASE_URL=store["url"])
    added = subprocess.run([sys.executable, "-m", "riskscore.cli", "users", "add", "--demo", "--name",
                            "Demo Mentor (school:01AB)", "--role", "school", "--scope", "school:01AB"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert added.returncode == 0, added.stderr
    with running_server(["--bundle", str(store["bundle"]), "--workers", "2"], env=env,
                        log_path=tmp_path / "server.log") as base:
        assert "DEMO MODE: a random session secret" in (tmp_path / "server.log").read_text()
        c = httpx.Client(base_url=base, follow_redirects=False, timeout=15)
        page = c.get("/login")
        assert "Demo Mentor (school:01AB)" in page.text
        user_id = re.search(r'name="user_id" value="([0-9a-f]+)"', page.text)
        assert user_id
        r = c.post("/login/demo", data={"user_id": user_id.group(1), "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/worklist"
        for _ in range(6):  # two workers: the session is accepted whichever one answers
            assert c.get("/worklist").status_code == 200
