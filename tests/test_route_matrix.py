"""Every route of the service — the OpenAPI operations and the web pages and forms — called by every role of
two tenants (and by nobody), with the answer each must get. The routes are read from the app itself, so a
new route without a row here fails the suite.

Tenant A (school 01AB, GM0363, RMC27) and tenant B (02CD, GM0599, RMC05) each have a person and a machine
key per reviewing role; the data team and the administrator see every place but no pupil. Every call is made
on tenant A's pupil and its cases: tenant A's team of the right role succeeds, tenant B's gets the same answer
as for a pupil nobody registered (404; 403 for a score it would write), other roles are refused (403), nobody
signed in is sent to sign in (web) or refused (401, API).

Health content (a jeugdarts note, MAZL trigger detail and sick reasons, all marked HEALTHMARK) sits in tenant A's
records: it may appear in no answer but the tenant A youth doctor's own."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import TEST_SESSION_SECRET
from riskscore.api import create_app
from riskscore.clock import today as school_today
from riskscore.settings import Settings
from riskscore.store.cases import add_action, add_note, complete_action, open_or_update_case
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.runs import write_scoring_run
from riskscore.store.users import create_user
from riskscore.store.web_sessions import start_session
from riskscore.testing import register_places
from riskscore.web.auth import SESSION_COOKIE
from test_api import build_bundle

MARK = "HEALTHMARK"
PUPIL_ROLES = ("school", "jeugdarts", "leerplicht", "rmc")
TENANTS = {"A": ("01AB", "GM0363", "RMC27"), "B": ("02CD", "GM0599", "RMC05")}
SCOPE = {"school": ("school", 0), "jeugdarts": ("municipality", 1), "leerplicht": ("municipality", 1),
         "rmc": ("rmc_region", 2)}
CALLERS: list[tuple[str | None, str]] = [(None, "-"), *((r, t) for r in PUPIL_ROLES for t in TENANTS),
                                         ("data_team", "-"), ("admin", "-")]
CASE_REASON = {"school": "rule:leerplicht_16h_4w", "jeugdarts": "rule:mazl_long",
               "leerplicht": "rule:leerplicht_16h_4w", "rmc": "rule:rmc_verzuim"}
STEP = {"school": "talk_parents", "jeugdarts": "invite", "leerplicht": "conversation", "rmc": "contact"}
OUTCOME = {"school": "no_concern", "jeugdarts": "no_concern", "leerplicht": "no_concern", "rmc": "no_concern"}
AS_OF = dt.date(2025, 3, 3)


@dataclass
class World:
    client: TestClient
    sessions: Any
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    people: dict[tuple[str, str], str] = field(default_factory=dict)
    last_pupil: str = ""  # the pupil the last call was made on

    def pupil(self, tenant: str = "A") -> dict[str, Any]:
        """A fresh pupil of the tenant with a score (health content in it) and a case per team, each with a
        plan step done: calls that change a case never meet another call's leftovers."""
        school, gm, rmc = TENANTS[tenant]
        sid = f"{tenant}-{uuid.uuid4().hex[:10]}"
        self.last_pupil = sid
        health_reason = {"code": "SICK_LONG", "feature": "longest_sick_spell_days", "category": "sick",
                         "value": 12.0, "contribution": 0.5, "text_nl": f"ziek {MARK}", "text_en": f"sick {MARK}"}
        absence = {"code": "ABS_UNAUTH_4W", "feature": "unauthorised_hours_4w", "category": "absence", "value": 18.0,
                   "contribution": 0.9, "text_nl": "18 uur verzuim", "text_en": "18 hours absent"}
        triggers = [{"id": "leerplicht_16h_4w", "source": "Leerplichtwet 1969", "role": "leerplicht",
                     "fired_on": "2025-02-28", "due_date": "2025-03-07",
                     "detail": "18 uur ongeoorloofd verzuim binnen 4 lesweken"},
                    {"id": "mazl_long", "source": "MAZL (NCJ)", "role": "jeugdarts", "fired_on": "2025-02-20",
                     "due_date": None, "detail": f"12 schooldagen ziek {MARK}"}]
        with self.sessions() as s:
            register_places(s, [(sid, school, gm, rmc)], school_year="2024-25")
            run = write_scoring_run(s, as_of=AS_OF, model_version=f"m-{sid}", scores=[{
                "student_id": sid, "school_id": school, "municipality": gm, "rmc_region": rmc, "age": 15.0,
                "probability": 0.5, "band": "high", "reasons": [absence, health_reason], "triggers": triggers,
                "roles": ["school", "jeugdarts", "leerplicht"]}])
            cases, actions = {}, {}
            for role in PUPIL_ROLES:
                case, _ = open_or_update_case(
                    s, student_id=sid, role=role, reason=CASE_REASON[role], as_of=AS_OF, school_id=school,
                    municipality=gm, rmc_region=rmc, probability=0.5, band="high", due_date=dt.date(2025, 3, 7),
                    opened_by_run=run.id, detail=f"12 schooldagen ziek {MARK}" if role == "jeugdarts" else
                    "18 uur ongeoorloofd verzuim binnen 4 lesweken")
                cases[role] = case.id
                if role == "jeugdarts":
                    add_note(s, case.id, f"MEDISCH: {MARK}", actor="jeugdarts A")
                actions[role] = add_action(s, case.id, kind=STEP[role], owner="x", due_on=AS_OF, actor="seed").id
                complete_action(s, case.id, actions[role], done_on=AS_OF, actor="seed")
        return {"sid": sid, "cases": cases, "actions": actions}

    def session_for(self, role: str, tenant: str) -> tuple[str, str]:
        """A fresh web session (cookie token, CSRF token) for that person: a call may end its own session."""
        user = self.people[(role, tenant)]
        with self.sessions() as s:
            token, active = start_session(s, user_id=user, secret=TEST_SESSION_SECRET.encode(),
                                          lifetime=timedelta(hours=1))
        return token, active.csrf


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("route-matrix")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    bundle = build_bundle(home / "bundle")
    (bundle / "model_card.html").write_text("<html><body><h1>Model card</h1></body></html>")
    app = create_app(Settings(home=home, database_url=url, bundle_path=bundle, session_secret=TEST_SESSION_SECRET,
                              log_level="ERROR"))
    with TestClient(app, raise_server_exceptions=False) as client:
        w = World(client=client, sessions=sessions)
        with sessions() as s:
            for role in PUPIL_ROLES:
                kind, i = SCOPE[role]
                for tenant, place in TENANTS.items():
                    w.keys[(role, tenant)] = create_key(s, role, kind, [place[i]], f"{role} {tenant}")[1]
                    w.people[(role, tenant)] = create_user(s, display_name=f"{role} {tenant}", role=role,
                                                           scope_kind=kind, scope_values=[place[i]],
                                                           email=f"{role}-{tenant}@test.example").id
            for role in ("data_team", "admin"):
                w.keys[(role, "-")] = create_key(s, role, "all", [], role)[1]
                w.people[(role, "-")] = create_user(s, display_name=role, role=role, scope_kind="all",
                                                    scope_values=[], email=f"{role}@test.example").id
        yield w
    engine.dispose()


# --- how each route is called, and who may ------------------------------------------------------------
Call = Callable[[World, str | None], tuple[str, dict[str, Any]]]  # (url, request kwargs); the role of the caller


@dataclass(frozen=True)
class Row:
    """kind: public | signed_in | ops (data team, admin) | admin | pupil (a reviewing role, on tenant A's pupil)
    | school (the school only, on tenant A's pupil) | flow (the sign-in flow itself: its own expectations).
    ok: the status of success. other: what tenant B's team gets (404, or 403 when the caller sends the data)."""

    kind: str
    call: Call
    ok: int = 200
    other: int = 404
    signed: int | None = None  # flow rows: the answer to someone already signed in
    others: int = 403  # school rows: what another reviewing role gets (web: its own case is no school case, 404)


def plain(url: str) -> Call:
    return lambda _w, _r: (url, {})


def on_pupil(path: str, body: Callable[[str], dict[str, Any]] | None = None, *, form: bool = False) -> Call:
    """A call on a fresh tenant A pupil; {sid}, {case} (the caller's own role's case, the school's for other
    roles) and {action} in the path; ``body(role)`` as JSON, or as a web form when ``form``."""

    def call(w: World, role: str | None) -> tuple[str, dict[str, Any]]:
        p = w.pupil("A")
        mine = role if role in PUPIL_ROLES else "school"
        url = path.format(sid=p["sid"], case=p["cases"][mine], action=p["actions"][mine])
        if body is None:
            return url, {}
        return url, ({"data": body(mine)} if form else {"json": body(mine)})

    return call


def score_body(w: World, role: str | None) -> tuple[str, dict[str, Any]]:
    from riskscore.testing import student_events

    p = w.pupil("A")
    return "/v1/scores", {"json": {"students": [student_events(p["sid"], school="01AB", as_of="2025-03-01")]}}


RUN = "20260101T000000000000Z"
HEX = "a" * 64  # a pseudonym nobody holds (erasure)

API: dict[tuple[str, str], Row] = {
    ("GET", "/openapi.json"): Row("public", plain("/openapi.json")),
    ("GET", "/docs"): Row("public", plain("/docs")),
    ("GET", "/healthz"): Row("public", plain("/healthz")),
    ("GET", "/readyz"): Row("public", plain("/readyz")),
    ("GET", "/metrics"): Row("public", plain("/metrics")),
    ("GET", "/v1/models/current"): Row("signed_in", plain("/v1/models/current")),
    ("GET", "/v1/models/current/card"): Row("signed_in", plain("/v1/models/current/card")),
    ("POST", "/v1/admin/reload"): Row("ops", plain("/v1/admin/reload")),
    ("GET", "/v1/monitoring/status"): Row("ops", plain("/v1/monitoring/status"), ok=404),  # no report published
    ("GET", "/v1/monitoring/reports/{run}/{name}"): Row("ops", plain(f"/v1/monitoring/reports/{RUN}/report.html"), ok=404),
    ("POST", "/v1/scores"): Row("pupil", score_body, other=403),
    ("GET", "/v1/students/{student_id}/score"): Row("pupil", on_pupil("/v1/students/{sid}/score")),
    ("GET", "/v1/students/{student_id}/dossier"): Row("pupil", on_pupil("/v1/students/{sid}/dossier")),
    ("POST", "/v1/students/{student_id}/objection"): Row("pupil", on_pupil("/v1/students/{sid}/objection",
                                                                          lambda _r: {"reason": "ouders"})),
    ("DELETE", "/v1/students/{student_id}/objection"): Row("pupil", on_pupil("/v1/students/{sid}/objection")),
    ("POST", "/v1/admin/students/{student_id}/erasure"): Row("admin", lambda _w, _r: (
        f"/v1/admin/students/{secrets.token_hex(32)}/erasure", {"json": {"reason": "verzoek ouders"}})),
    ("GET", "/v1/worklists"): Row("pupil", on_pupil("/v1/worklists"), other=200),  # a list: checked for content
    ("GET", "/v1/cases/{case_id:int}"): Row("pupil", on_pupil("/v1/cases/{case}")),
    ("POST", "/v1/cases/{case_id:int}/transition"): Row("pupil", on_pupil("/v1/cases/{case}/transition",
                                                                         lambda _r: {"to_status": "in_review"})),
    ("POST", "/v1/cases/{case_id:int}/assign"): Row("pupil", on_pupil("/v1/cases/{case}/assign", lambda _r: {"owner": "x"})),
    ("POST", "/v1/cases/{case_id:int}/take"): Row("pupil", on_pupil("/v1/cases/{case}/take")),
    ("POST", "/v1/cases/{case_id:int}/notes"): Row("pupil", on_pupil("/v1/cases/{case}/notes", lambda _r: {"note": "x"})),
    ("POST", "/v1/cases/{case_id:int}/outcome"): Row("pupil", on_pupil(
        "/v1/cases/{case}/outcome", lambda r: {"outcome": OUTCOME[r], "worth_conversation": True})),
    ("POST", "/v1/cases/{case_id:int}/plan"): Row("pupil", on_pupil(
        "/v1/cases/{case}/plan", lambda r: {"kind": STEP[r], "due_on": "2025-03-20"})),
    ("POST", "/v1/cases/{case_id:int}/plan/{action_id:int}/done"): Row("pupil", on_pupil(
        "/v1/cases/{case}/plan/{action}/done", lambda _r: {"done_on": "2025-03-05"})),
    ("POST", "/v1/cases/{case_id:int}/plan/{action_id:int}/follow-up"): Row("pupil", on_pupil(
        "/v1/cases/{case}/plan/{action}/follow-up", lambda _r: {"result": "improved"})),
    ("POST", "/v1/cases/{case_id:int}/duo-report"): Row("school", on_pupil(
        "/v1/cases/{case}/duo-report", lambda _r: {"reported_on": "2025-03-04", "reference": "DUO-1"})),
    ("POST", "/v1/cases/{case_id:int}/letter"): Row("school", on_pupil(
        "/v1/cases/{case}/letter", lambda _r: {"meeting_on": "2025-03-12", "meeting_at": "15:30"})),
}

WEB: dict[tuple[str, str], Row] = {
    ("GET", "/"): Row("flow", plain("/"), ok=303, signed=303),
    ("GET", "/login"): Row("flow", plain("/login"), signed=303),
    ("GET", "/login/start"): Row("flow", plain("/login/start"), ok=404),  # no provider configured here
    ("GET", "/login/callback"): Row("flow", plain("/login/callback"), ok=404),
    ("POST", "/login/demo"): Row("flow", lambda _w, _r: ("/login/demo", {"data": {"user_id": "x"}}), ok=404),
    ("GET", "/logout"): Row("signed_in", plain("/logout")),
    # signing out without the session's CSRF token (nobody signed in has one) is refused: no forged logouts
    ("POST", "/logout"): Row("flow", lambda _w, _r: ("/logout", {"data": {}}), ok=403, signed=303),
    ("GET", "/worklist"): Row("pupil", on_pupil("/worklist"), other=200),
    ("GET", "/students/{student_id}"): Row("pupil", on_pupil("/students/{sid}")),
    ("POST", "/cases/{case_id:int}/review"): Row("pupil", on_pupil(
        "/cases/{case}/review", lambda _r: {"note": "gesprek gepland"}, form=True), ok=303),
    ("POST", "/cases/{case_id:int}/take"): Row("pupil", on_pupil("/cases/{case}/take", lambda _r: {}, form=True),
                                              ok=303),
    ("POST", "/cases/{case_id:int}/assign"): Row("pupil", lambda w, r: _hand_over(w, r), ok=303),
    ("POST", "/cases/{case_id:int}/plan"): Row("pupil", on_pupil(
        "/cases/{case}/plan", lambda r: {"kind": STEP[r], "due_on": "2025-03-20"}, form=True), ok=303),
    ("POST", "/cases/{case_id:int}/plan/{action_id:int}/done"): Row("pupil", on_pupil(
        "/cases/{case}/plan/{action}/done", lambda _r: {"done_on": "2025-03-05"}, form=True), ok=303),
    ("POST", "/cases/{case_id:int}/plan/{action_id:int}/follow-up"): Row("pupil", on_pupil(
        "/cases/{case}/plan/{action}/follow-up", lambda _r: {"result": "improved"}, form=True), ok=303),
    ("POST", "/cases/{case_id:int}/duo-report"): Row("school", on_pupil(
        "/cases/{case}/duo-report", lambda _r: {"reported_on": "2025-03-04", "reference": "DUO-1"}, form=True),
        ok=303, others=404),
    ("POST", "/cases/{case_id:int}/letter"): Row("school", on_pupil("/cases/{case}/letter", lambda _r: {
        "meeting_on": (school_today() + timedelta(days=7)).isoformat(), "meeting_at": "15:30"}, form=True),
        ok=303, others=404),
    ("GET", "/cases/{case_id:int}/letter/{event_id:int}"): Row("school", lambda w, r: _letter_page(w, r),
                                                               others=404),
    ("GET", "/students/{student_id}/privacy"): Row("pupil", on_pupil("/students/{sid}/privacy")),
    ("POST", "/students/{student_id}/objection"): Row("pupil", on_pupil(
        "/students/{sid}/objection", lambda _r: {"reason": "ouders"}, form=True), ok=303),
    ("GET", "/students/{student_id}/dossier"): Row("pupil", on_pupil("/students/{sid}/dossier")),
    ("GET", "/model"): Row("signed_in", plain("/model")),
    ("GET", "/model/card"): Row("signed_in", plain("/model/card")),
    ("GET", "/monitoring"): Row("ops", plain("/monitoring")),
    ("GET", "/monitoring/reports/{run}/{name}"): Row("ops", plain(f"/monitoring/reports/{RUN}/report.html"), ok=404),
    ("GET", "/impact"): Row("ops", plain("/impact")),
    ("GET", "/admin/erasure"): Row("admin", plain("/admin/erasure")),
    ("POST", "/admin/erasure"): Row("admin", lambda _w, _r: ("/admin/erasure", {"data": {
        "student_id": HEX, "reason": "verzoek", "confirm": "yes"}}), ok=303),
    ("GET", "/admin"): Row("admin", plain("/admin")),
    ("GET", "/admin/users"): Row("admin", plain("/admin/users")),
    ("POST", "/admin/users"): Row("admin", lambda _w, _r: ("/admin/users", {"data": {
        "name": "Nieuw", "email": f"{uuid.uuid4().hex[:8]}@x.example", "role": "school", "scope": "school:01AB"}}),
        ok=303),
    ("GET", "/admin/users/{user_id}"): Row("admin", lambda w, _r: (f"/admin/users/{w.people[('school', 'A')]}", {})),
    ("POST", "/admin/users/{user_id}"): Row("admin", lambda w, _r: (f"/admin/users/{_throwaway(w)}", {"data": {
        "name": "Ander", "email": f"{uuid.uuid4().hex[:8]}@x.example", "role": "school", "scope": "school:01AB"}}),
        ok=303),
    ("POST", "/admin/users/{user_id}/active"): Row("admin", lambda w, _r: (f"/admin/users/{_throwaway(w)}/active",
                                                                          {"data": {"active": "no"}}), ok=303),
    ("GET", "/admin/keys"): Row("admin", plain("/admin/keys")),
    ("POST", "/admin/keys"): Row("admin", lambda _w, _r: ("/admin/keys", {"data": {
        "label": "systeem", "role": "school", "scope": "school:01AB"}})),
    ("POST", "/admin/keys/{key_id}/revoke"): Row("admin", lambda w, _r: (f"/admin/keys/{_throwaway_key(w)}/revoke",
                                                                        {"data": {}}), ok=303),
    ("GET", "/admin/sessions"): Row("admin", plain("/admin/sessions")),
    ("POST", "/admin/sessions/{session_id}/revoke"): Row("admin", lambda w, _r: (
        f"/admin/sessions/{_throwaway_session(w)}/revoke", {"data": {}}), ok=303),
    ("GET", "/admin/audit"): Row("admin", plain("/admin/audit")),
    ("GET", "/admin/model"): Row("admin", plain("/admin/model")),
    ("POST", "/admin/model/reload"): Row("admin", lambda _w, _r: ("/admin/model/reload", {"data": {}}), ok=303),
}


def _hand_over(w: World, role: str | None) -> tuple[str, dict[str, Any]]:
    """Hand a fresh tenant A case of the caller's role over to a colleague of that team."""
    p = w.pupil("A")
    mine = role if role in PUPIL_ROLES else "school"
    kind, i = SCOPE[mine]
    with w.sessions() as s:
        colleague = create_user(s, display_name=f"collega {mine}", role=mine, scope_kind=kind,
                                scope_values=[TENANTS["A"][i]], email=f"{uuid.uuid4().hex[:8]}@x.example").id
    return f"/cases/{p['cases'][mine]}/assign", {"data": {"owner": f"user:{colleague}"}}


def _letter_page(w: World, role: str | None) -> tuple[str, dict[str, Any]]:
    """The printable letter of a letter made on a fresh tenant A school case (the caller's own role's case
    otherwise: only a school case has letters)."""
    from riskscore.store.cases import record_event

    p = w.pupil("A")
    mine = role if role in PUPIL_ROLES else "school"
    with w.sessions() as s:
        event = record_event(s, p["cases"][mine], "letter", "letter to the parents", actor="seed")
    return f"/cases/{p['cases'][mine]}/letter/{event.id}?on=2025-03-12&at=15:30", {}


def _throwaway(w: World) -> str:
    with w.sessions() as s:
        return create_user(s, display_name="weg", role="school", scope_kind="school", scope_values=["01AB"],
                           email=f"{uuid.uuid4().hex[:8]}@x.example").id


def _throwaway_key(w: World) -> str:
    with w.sessions() as s:
        return create_key(s, "school", "school", ["01AB"], "weg")[0]


def _throwaway_session(w: World) -> str:
    with w.sessions() as s:
        _token, active = start_session(s, user_id=_throwaway(w), secret=TEST_SESSION_SECRET.encode(),
                                       lifetime=timedelta(hours=1))
    return active.id


def app_routes(app: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(API operations, web routes) as the app serves them (the routers' leaves, methods without HEAD)."""
    def leaves(routes: list[Any]) -> Iterator[Any]:
        for r in routes:
            inner = getattr(r, "original_router", None)
            yield from (leaves(inner.routes) if inner is not None else [r])

    api, web = set(), set()
    for r in leaves(app.routes):
        for m in sorted((getattr(r, "methods", None) or set()) - {"HEAD"}):
            path = r.path
            (api if path.startswith("/v1/") or path in ("/openapi.json", "/docs", "/healthz", "/readyz", "/metrics")
             else web).add((m, path))
    return api, web


def test_every_route_has_a_row(world: World) -> None:
    api, web = app_routes(world.client.app)
    assert api == set(API), f"API routes without a row: {sorted(api - set(API))}; rows without a route: {sorted(set(API) - api)}"
    assert web == set(WEB), f"web routes without a row: {sorted(web - set(WEB))}; rows without a route: {sorted(set(WEB) - web)}"


def expected(row: Row, role: str | None, tenant: str, *, web: bool) -> int:
    if row.kind == "public":
        return row.ok
    if row.kind == "flow":
        return row.signed if role is not None and row.signed is not None else row.ok
    if role is None:
        return 303 if web else 401
    allowed = {"signed_in": {*PUPIL_ROLES, "data_team", "admin"}, "ops": {"data_team", "admin"}, "admin": {"admin"},
               "pupil": set(PUPIL_ROLES), "school": {"school"}}[row.kind]
    if role not in allowed:
        return row.others if row.kind == "school" and role in PUPIL_ROLES else 403
    if row.kind in ("pupil", "school") and tenant != "A":
        return row.other
    return row.ok


CELLS = [(kind, op, role, tenant) for kind, table in (("api", API), ("web", WEB)) for op in table
         for role, tenant in CALLERS]


@pytest.mark.parametrize(("kind", "op", "role", "tenant"), CELLS,
                         ids=[f"{k} {m} {p} {r or 'nobody'} {t}" for k, (m, p), r, t in CELLS])
def test_cell(world: World, kind: str, op: tuple[str, str], role: str | None, tenant: str) -> None:
    method, _ = op
    web = kind == "web"
    row = (WEB if web else API)[op]
    url, kw = row.call(world, role)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if role is not None and web:
        token, csrf = world.session_for(role, tenant)
        cookies[SESSION_COOKIE] = token
        if "data" in kw:
            kw = {**kw, "data": {**kw["data"], "csrf_token": csrf}}
    elif role is not None:
        headers["X-API-Key"] = world.keys[(role, tenant)]
    client = world.client
    client.cookies.clear()
    r = client.request(method, url, headers=headers, cookies=cookies, follow_redirects=False, **kw)
    want = expected(row, role, tenant, web=web)
    assert r.status_code == want, (r.status_code, want, r.text[:300])
    if web and role is None and want == 303:
        assert r.headers["location"].startswith("/login"), r.headers["location"]
    # health content: only the tenant A youth doctor's own answers carry it
    if MARK in r.text:
        assert role == "jeugdarts" and tenant == "A", (role, tenant, url)
    # tenant A's pupil reaches nobody outside tenant A's teams: not in a list, not in a refusal (a page's
    # header echoes the address the caller typed, in its language switch: the main content is what counts)
    if row.kind in ("pupil", "school") and (role is None or tenant != "A"):
        shown = r.text.split('<main id="main"', 1)[-1] if web else r.text
        assert world.last_pupil not in shown, (role, tenant, url)
