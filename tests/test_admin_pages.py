"""The admin's pages and tools for people, keys and sessions, and the demo sign-in: who may use them,
what each change does at once (sessions ended, keys refused), and that every change is on the record.
TestClient on a real SQLite store; `riskscore users` through the CLI."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from conftest import sign_in_person
from riskscore.api import create_app
from riskscore.cli import app as cli_app
from riskscore.settings import Settings
from riskscore.store.audit import list_audit, verify_chain
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.privacy import dossier
from riskscore.store.users import create_user, get_user, list_users
from riskscore.web.auth import LOGIN_COOKIE, SESSION_COOKIE
from test_api import build_bundle
from test_web import _seed, csrf_of, main_text

SECRET = "admin-tests-session-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("admin-pages")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    cases = _seed(session)
    bundle = build_bundle(home / "bundle")
    app = create_app(Settings(home=home, database_url=url, bundle_path=bundle, session_secret=SecretStr(SECRET),
                              log_level="WARNING"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"app": app, "client": client, "session": session, "url": url, "home": home, "bundle": bundle,
               "cases": cases}
    session.close()
    engine.dispose()


def person(env: dict[str, Any], role: str, scope_kind: str = "all", values: tuple[str, ...] = (),
           label: str = "Someone") -> tuple[TestClient, str]:
    """A browser signed in as a new person; returns (browser, user id)."""
    actor, token = sign_in_person(env["session"], SECRET, role=role, scope_kind=scope_kind, scope_values=values,
                                  label=label)
    c = TestClient(env["app"], raise_server_exceptions=False)
    c.cookies.set(SESSION_COOKIE, token)
    return c, actor.removeprefix("user:")


def test_admin_pages_are_for_the_admin_only(env: dict[str, Any]) -> None:
    paths = ("/admin", "/admin/users", "/admin/keys", "/admin/sessions", "/admin/audit", "/admin/model")
    anonymous = TestClient(env["app"], raise_server_exceptions=False)
    for path in paths:
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    for role in ("school", "jeugdarts", "leerplicht", "rmc", "data_team"):
        c, _ = person(env, role, "school" if role == "school" else "all", ("01AB",) if role == "school" else ())
        for path in paths:
            assert c.get(path).status_code == 403, (role, path)
        token = csrf_of(c.get("/worklist" if role != "data_team" else "/monitoring").text)
        for path, data in (("/admin/users", {"name": "X", "email": "x@x.example", "role": "admin", "scope": "all"}),
                           ("/admin/keys", {"label": "X", "role": "admin", "scope": "all"}),
                           ("/admin/model/reload", {})):
            assert c.post(path, data={"csrf_token": token, **data}).status_code == 403, (role, path)
    assert not [u for u in list_users(env["session"]) if u.display_name == "X"]


def test_people_are_added_edited_and_deactivated_with_immediate_effect(env: dict[str, Any]) -> None:
    admin, admin_id = person(env, "admin", label="Functioneel beheerder")
    token = csrf_of(admin.get("/admin/users").text)
    # bad input: the form says what is wrong, in Dutch, and nothing is stored
    r = admin.post("/admin/users", data={"csrf_token": token, "name": "", "email": "not-an-address", "role": "boss",
                                         "scope": "school"})
    assert r.status_code == 400
    assert "Vul een naam in" in r.text and "Kies een rol" in r.text and "Schrijf het bereik" in r.text
    r = admin.post("/admin/users", data={"csrf_token": token, "name": "Mila", "email": "not-an-address",
                                         "role": "school", "scope": "school:01AB"})
    assert r.status_code == 400 and "Dit is geen e-mailadres" in r.text
    # a mentor of 01AB with two groups
    r = admin.post("/admin/users", data={"csrf_token": token, "name": "Mila Mentor", "email": "Mila@School.example",
                                         "role": "school", "scope": "school:01AB", "groups": "3A, 3B"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?saved=1"
    mila = next(u for u in list_users(env["session"]) if u.display_name == "Mila Mentor")
    assert (mila.email, mila.role, mila.scope_values, mila.groups) == ("mila@school.example", "school", ["01AB"],
                                                                       ["3A", "3B"])
    assert "Mila Mentor" in admin.get("/admin/users").text
    # the same address again is refused while Mila is active
    r = admin.post("/admin/users", data={"csrf_token": token, "name": "Other", "email": "mila@school.example",
                                         "role": "school", "scope": "school:01AB"})
    assert r.status_code == 400 and "heeft dit e-mailadres al" in r.text
    # Mila signs in (a session of her own), then the admin moves her to another school: her session ends
    _actor, mila_token = sign_in_person(env["session"], SECRET, role="", user_id=mila.id)
    mila_browser = TestClient(env["app"], raise_server_exceptions=False)
    mila_browser.cookies.set(SESSION_COOKIE, mila_token)
    assert mila_browser.get("/worklist").status_code == 200
    r = admin.post(f"/admin/users/{mila.id}", data={"csrf_token": token, "name": "Mila Mentor",
                                                     "email": "mila@school.example", "role": "school",
                                                     "scope": "school:02CD", "groups": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/users/{mila.id}?saved=ended"
    assert "sessies van deze persoon zijn beëindigd" in admin.get(r.headers["location"]).text
    assert mila_browser.get("/worklist", follow_redirects=False).status_code == 303
    # a new session sees the new scope only
    _actor, mila_token = sign_in_person(env["session"], SECRET, role="", user_id=mila.id)
    mila_browser.cookies.set(SESSION_COOKIE, mila_token)
    assert re.findall(r'<tr data-student="([^"]+)"', mila_browser.get("/worklist").text) == ["W-B1"]
    # a name-only edit keeps her signed in
    r = admin.post(f"/admin/users/{mila.id}", data={"csrf_token": token, "name": "Mila de Mentor",
                                                     "email": "mila@school.example", "role": "school",
                                                     "scope": "school:02CD", "groups": ""}, follow_redirects=False)
    assert r.headers["location"].endswith("saved=1") and mila_browser.get("/worklist").status_code == 200
    # deactivation ends her session at once
    r = admin.post(f"/admin/users/{mila.id}/active", data={"csrf_token": token, "active": "no"},
                   follow_redirects=False)
    assert r.status_code == 303
    assert mila_browser.get("/worklist", follow_redirects=False).status_code == 303
    env["session"].expire_all()
    assert get_user(env["session"], mila.id).deactivated_at is not None
    actions = [e.action for e in list_audit(env["session"], actor=f"user:{admin_id}", limit=50)]
    assert {"admin.user.create", "admin.user.update", "admin.user.deactivate"} <= set(actions)
    assert admin.get("/admin/users/not-an-id").status_code == 404


def test_sessions_are_listed_and_revoked_at_once(env: dict[str, Any]) -> None:
    admin, _ = person(env, "admin", label="Beheerder sessies")
    mentor, mentor_id = person(env, "school", "school", ("01AB",), label="Mentor Noor")
    assert mentor.get("/worklist").status_code == 200
    page = admin.get("/admin/sessions")
    assert page.status_code == 200 and "Mentor Noor" in page.text
    assert mentor.cookies.get(SESSION_COOKIE) not in page.text  # never the token
    session_ids = re.findall(r'action="/admin/sessions/([0-9a-f]+)/revoke"', page.text)
    row = page.text.split("Mentor Noor", 1)[1]
    noor_session = re.search(r'action="/admin/sessions/([0-9a-f]+)/revoke"', row)
    assert noor_session and noor_session.group(1) in session_ids
    r = admin.post(f"/admin/sessions/{noor_session.group(1)}/revoke", data={"csrf_token": csrf_of(page.text)},
                   follow_redirects=False)
    assert r.status_code == 303
    assert mentor.get("/worklist", follow_redirects=False).status_code == 303
    assert "Mentor Noor" not in admin.get("/admin/sessions").text
    assert admin.post("/admin/sessions/0000/revoke", data={"csrf_token": csrf_of(page.text)}).status_code == 404
    assert mentor_id


def test_api_keys_are_created_once_listed_and_revoked(env: dict[str, Any]) -> None:
    admin, _ = person(env, "admin", label="Beheerder sleutels")
    token = csrf_of(admin.get("/admin/keys").text)
    r = admin.post("/admin/keys", data={"csrf_token": token, "label": "SOMtoday koppeling 01AB", "role": "school",
                                        "scope": "school:01AB"})
    assert r.status_code == 200
    key = re.search(r'<code id="new-key">([^<]+)</code>', r.text)
    assert key and key.group(1).startswith("rsk_")
    plaintext = key.group(1)
    api = env["client"]
    assert api.get("/v1/students/W-A1/score", headers={"X-API-Key": plaintext}).status_code == 200
    listing = admin.get("/admin/keys").text
    assert "SOMtoday koppeling 01AB" in listing and plaintext not in listing  # shown once
    key_id = plaintext.split("_")[1]
    r = admin.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert api.get("/v1/students/W-A1/score", headers={"X-API-Key": plaintext}).status_code == 401
    assert "ingetrokken" in admin.get("/admin/keys").text
    r = admin.post("/admin/keys", data={"csrf_token": token, "label": "", "role": "school", "scope": "x"})
    assert r.status_code == 400 and "Vul een omschrijving in" in r.text
    # an API key opens no web page
    c = TestClient(env["app"], raise_server_exceptions=False)
    assert c.get("/worklist", headers={"X-API-Key": plaintext}, follow_redirects=False).status_code == 303


def test_audit_log_filters_by_pupil_person_and_action_and_pages(env: dict[str, Any]) -> None:
    mentor, mentor_id = person(env, "school", "school", ("01AB", "01AC"), label="Mentor Sam Bakker")
    for _ in range(3):
        assert mentor.get("/students/W-A1").status_code == 200
    admin, admin_id = person(env, "admin", label="Beheerder audit")
    page = admin.get("/admin/audit?student=W-A1&actor=Sam+Bakker&action=student.view")
    text = main_text(page.text)
    assert page.status_code == 200 and text.count("student.view") == 3 and "Mentor Sam Bakker" in text
    assert f"user:{mentor_id}" in text
    # the pupil filter also finds the pupil's cases (the mentor's review)
    case_id = env["cases"]["school:W-A1"]
    token = csrf_of(mentor.get("/students/W-A1").text)
    mentor.post(f"/cases/{case_id}/review", data={"csrf_token": token, "note": "gesprek"})
    assert f"case:{case_id}" in admin.get("/admin/audit?student=W-A1&action=case.review").text
    # paging: 50 a page, newest first
    for _ in range(55):
        mentor.get("/students/W-A2")
    first = admin.get("/admin/audit?student=W-A2").text
    ids = [int(i) for i in re.findall(r'<th scope="row" class="num">(\d+)</th>', first)]
    older = re.search(r'href="(/admin/audit\?student=W-A2&amp;before=(\d+))"', first)
    assert len(ids) == 50 and ids == sorted(ids, reverse=True) and older and int(older.group(2)) == min(ids)
    mentor.get("/students/W-A2")  # a new entry meanwhile does not shift the older page
    second = admin.get(older.group(1).replace("&amp;", "&")).text
    more = [int(i) for i in re.findall(r'<th scope="row" class="num">(\d+)</th>', second)]
    assert more and max(more) < min(ids) and len(more) >= 6
    # nonsense filters are ignored, not errors; reading the log is itself on the record
    assert admin.get("/admin/audit?student=<x>&action=DROP%20TABLE&before=-1").status_code == 200
    assert list_audit(env["session"], actor=f"user:{admin_id}")[0].action == "audit.read"
    assert verify_chain(env["session"]).ok


def test_the_dossier_names_the_person_who_looked(env: dict[str, Any]) -> None:
    mentor, mentor_id = person(env, "school", "school", ("01AB", "01AC"), label="Mentor Lotte Visser")
    assert mentor.get("/students/W-A3").status_code == 200
    data = dossier(env["session"], "W-A3")
    assert data is not None
    who = {e["who"]: e["who_label"] for e in data["access_log"]}
    assert who[f"user:{mentor_id}"] == "Mentor Lotte Visser"


def test_model_reload_from_the_admin_page(env: dict[str, Any]) -> None:
    admin, admin_id = person(env, "admin", label="Beheerder model")
    page = admin.get("/admin/model")
    assert 'id="model-version">test-1<' in page.text
    r = admin.post("/admin/model/reload", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and "done=unchanged" in r.headers["location"]
    assert "versie test-1 blijft" in admin.get(r.headers["location"]).text
    assert list_audit(env["session"], actor=f"user:{admin_id}")[0].action == "model.reload"


# --- demo sign-in ---------------------------------------------------------------------------------------
def test_demo_sign_in_exists_only_in_demo_mode(env: dict[str, Any]) -> None:
    session = env["session"]
    demo_admin = create_user(session, display_name="Demo beheerder (demo)", role="admin", scope_kind="all",
                             demo=True)
    regular = create_user(session, display_name="Real person", email=f"{secrets.token_hex(3)}@school.example",
                          role="admin", scope_kind="all")
    # outside demo mode: no demo section, and the route does not exist
    plain = TestClient(env["app"], raise_server_exceptions=False)
    assert "Demo beheerder" not in plain.get("/login").text
    assert plain.post("/login/demo", data={"user_id": demo_admin.id, "csrf_token": "x" * 43}).status_code == 404
    # demo mode (no session secret configured: a random one for this app)
    app = create_app(Settings(home=env["home"], database_url=env["url"], bundle_path=env["bundle"],
                              demo_mode_not_for_real_pupils=True, log_level="WARNING"))
    with TestClient(app, raise_server_exceptions=False) as c:
        page = c.get("/login")
        assert "Demo: aanmelden zonder instelling" in page.text and "Demo beheerder (demo)" in page.text
        assert "Real person" not in page.text
        before = c.cookies.get(LOGIN_COOKIE)
        token = csrf_of(page.text)
        assert c.post("/login/demo", data={"user_id": demo_admin.id}).status_code == 403  # CSRF
        assert c.post("/login/demo", data={"user_id": regular.id, "csrf_token": token}).status_code == 404
        r = c.post("/login/demo", data={"user_id": demo_admin.id, "csrf_token": token, "next": "/admin"},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin"
        assert c.cookies.get(SESSION_COOKIE) not in (None, before) and LOGIN_COOKIE not in c.cookies
        assert c.get("/admin").status_code == 200
        entry = list_audit(session, actor=f"user:{demo_admin.id}")[0]
        assert entry.action == "web.login" and '"method":"demo"' in (entry.detail or "")


# --- riskscore users --------------------------------------------------------------------------------------
def test_users_cli_add_list_deactivate(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    db = ["--database-url", env["url"]]
    r = runner.invoke(cli_app, ["users", "add", "--name", "Kees Koster", "--email", "kees@school.example",
                                "--role", "leerplicht", "--scope", "municipality:GM0363", *db])
    assert r.exit_code == 0, r.output
    user_id = r.output.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{12}", user_id)
    listed = runner.invoke(cli_app, ["users", "list", *db]).output
    assert f"{user_id}\tKees Koster\tkees@school.example\tleerplicht\tmunicipality:GM0363" in listed
    assert "not bound yet\tactive" in listed
    assert runner.invoke(cli_app, ["users", "deactivate", user_id, *db]).exit_code == 0
    assert "deactivated" in runner.invoke(cli_app, ["users", "list", *db]).output.split(user_id)[1].splitlines()[0]
    for bad in (["--role", "boss", "--scope", "all"], ["--role", "school", "--scope", "school"]):
        r = runner.invoke(cli_app, ["users", "add", "--name", "X", "--email", "x@x.example", *bad, *db])
        assert r.exit_code != 0
    monkeypatch.delenv("RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS", raising=False)
    from riskscore.settings import get_settings

    get_settings.cache_clear()
    r = runner.invoke(cli_app, ["users", "add", "--name", "Demo", "--role", "admin", "--scope", "all", "--demo", *db])
    assert r.exit_code != 0 and "demo" in str(r.exception or r.output).lower()
    assert runner.invoke(cli_app, ["users", "deactivate", "0123456789ab", *db]).exit_code != 0


@pytest.mark.parametrize("role,scope_kind,scope,landing", [
    ("admin", "all", None, "/admin"), ("data_team", "all", None, "/monitoring"),
    ("school", "school", ["01AB"], "/worklist"), ("leerplicht", "municipality", ["GM0363"], "/worklist"),
    ("jeugdarts", "rmc_region", ["RMC01"], "/worklist"), ("rmc", "rmc_region", ["RMC01"], "/worklist")])
def test_each_role_lands_on_a_page_it_may_see(env: dict[str, Any], role: str, scope_kind: str,
                                              scope: list[str] | None, landing: str) -> None:
    """Signing in without a 'next' lands where the role works — never on a page that refuses it (admin sees
    no pupil, so its home is the administration pages, not the worklist)."""
    user = create_user(env["session"], display_name=f"Demo {role} {secrets.token_hex(2)}", role=role,
                       scope_kind=scope_kind, scope_values=scope or (), demo=True)
    app = create_app(Settings(home=env["home"], database_url=env["url"], bundle_path=env["bundle"],
                              demo_mode_not_for_real_pupils=True, log_level="WARNING"))
    with TestClient(app, raise_server_exceptions=False) as c:
        token = csrf_of(c.get("/login").text)
        r = c.post("/login/demo", data={"user_id": user.id, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == landing
        page = c.get(landing)
        assert page.status_code == 200, (role, page.status_code)
        assert c.get("/", follow_redirects=False).headers["location"] == landing
        assert ('href="/worklist"' in page.text) == (landing == "/worklist")
