"""Access control as a table: every API operation (read from app.openapi(), so a new endpoint without
a row fails) x every role (and no key) x a student inside and outside the caller's scope.

Asserted per cell: exactly the allowed cells succeed; out of scope answers exactly like not found
(same status, headers and bytes, the request id aside); sick-report detail reaches the jeugdarts
only; every access to a student's data is in the audit log under the request's id. Then the chain
verifies, and `riskscore audit verify` exits 10 after a row is edited or deleted by direct SQL.
Also the failed-key throttle: slowed, then 429 with Retry-After, shared across workers via the
database, and free for valid keys (no query on auth_failures).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from riskscore.api import create_app
from riskscore.cli import app as cli_app
from riskscore.service.deps import AuthThrottle
from riskscore.settings import Settings
from riskscore.store.audit import verify_chain
from riskscore.store.cases import add_action, complete_action, open_or_update_case
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import AuditEntry
from riskscore.testing import register_pupils
from test_api import build_bundle, student

ROLES = ("school", "jeugdarts", "leerplicht", "rmc", "data_team", "admin")
STUDENT_ROLES = frozenset({"school", "jeugdarts", "leerplicht", "rmc"})
ANY_ROLE = frozenset(ROLES)
OPS_ROLES = frozenset({"admin", "data_team"})
PUBLIC = None
SCOPES = {"school": ("school", ["01AB"]), "jeugdarts": ("municipality", ["GM0363"]),
          "leerplicht": ("municipality", ["GM0363"]), "rmc": ("rmc_region", ["RMC27"]),
          "data_team": ("all", []), "admin": ("all", [])}
HEALTH_DETAIL = "schooldagen ziek"  # the mazl_long trigger's detail, computed from the sick report
#: every student role's scope covers IN; none covers OUT; NEVER was never scored
IN = {"student_id": "IN-1", "school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27"}
OUT = {"student_id": "OUT-1", "school_id": "02CD", "municipality": "GM0599", "rmc_region": "RMC05"}
RUN = "20260101T000000000000Z"  # a monitoring report the fixture publishes
NEVER: dict[str, Any] = {"student_id": "NEVER-1", "school_id": "01AB", "municipality": "GM0363",
                         "rmc_region": "RMC27", "cases": dict.fromkeys(STUDENT_ROLES, 2**31 - 1),
                         "actions": dict.fromkeys(STUDENT_ROLES, 2**31 - 1)}


def body_of(who: dict[str, Any]) -> dict[str, Any]:
    return student(who["student_id"], school=who["school_id"], student__municipality=who["municipality"],
                   student__rmc_region=who["rmc_region"])


@dataclass(frozen=True)
class Row:
    """How one operation is called and who may call it.

    allowed: roles that succeed (None: public, no key needed). student: the call touches one
    student's data (scoped, audited, health detail redacted). out_of_scope: 'not_found' when the
    operation looks stored data up (must be indistinguishable from a missing student) or
    'forbidden' when the caller itself sends the student's data (nothing stored is revealed)."""

    allowed: frozenset[str] | None
    call: Callable[[dict[str, Any], str | None], tuple[str, dict[str, Any]]]
    student: bool = False
    out_of_scope: str = "not_found"
    listing: bool = False  # a list of students (worklist): checked for what it must not contain
    carries_data: bool = True  # the answer shows the student's scores (False: e.g. an objection's receipt)


def _plain(url: str) -> Callable[[dict[str, Any], str | None], tuple[str, dict[str, Any]]]:
    return lambda _who, _role: (url, {})


def _case(suffix: str = "", body: dict[str, Any] | Callable[[str], dict[str, Any]] | None = None,
          ) -> Callable[[dict[str, Any], str | None], tuple[str, dict[str, Any]]]:
    """A call on the student's review case of the caller's own role (admin, data_team: the school's).
    ``suffix`` may name the case's plan step as {action}; ``body`` may depend on the role."""

    def call(who: dict[str, Any], role: str | None) -> tuple[str, dict[str, Any]]:
        mine = role if role in STUDENT_ROLES else "school"
        case_id = who["cases"][mine]
        path = f"/v1/cases/{case_id}{suffix.format(action=who['actions'].get(mine, 2**31 - 1))}"
        payload = body(mine) if callable(body) else body
        return path, ({"json": payload} if payload is not None else {})

    return call


#: one plan step each role may plan (review.plans.ACTION_KINDS)
STEP = {"school": "talk_parents", "jeugdarts": "invite", "leerplicht": "conversation", "rmc": "contact"}


#: data_team and admin never see a single pupil (access.view): no worklist, no case
CASE_READERS = STUDENT_ROLES
#: each team's own kind of case (a MAZL case is the jeugdarts' only)
CASE_REASONS = {"school": "rule:leerplicht_16h_4w", "jeugdarts": "rule:mazl_long",
                "leerplicht": "rule:leerplicht_16h_4w", "rmc": "rule:rmc_verzuim"}


TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row(PUBLIC, _plain("/healthz")),
    ("GET", "/readyz"): Row(PUBLIC, _plain("/readyz")),
    ("GET", "/metrics"): Row(PUBLIC, _plain("/metrics")),
    ("GET", "/v1/models/current"): Row(ANY_ROLE, _plain("/v1/models/current")),
    ("GET", "/v1/models/current/card"): Row(ANY_ROLE, _plain("/v1/models/current/card")),
    ("POST", "/v1/admin/reload"): Row(OPS_ROLES, _plain("/v1/admin/reload")),
    ("GET", "/v1/monitoring/status"): Row(OPS_ROLES, _plain("/v1/monitoring/status")),
    ("GET", "/v1/monitoring/reports/{run}/{name}"): Row(OPS_ROLES, _plain(f"/v1/monitoring/reports/{RUN}/report.html")),
    ("POST", "/v1/scores"): Row(STUDENT_ROLES, lambda who, _r: ("/v1/scores", {"json": {"students": [body_of(who)]}}),
                                student=True, out_of_scope="forbidden"),
    ("GET", "/v1/students/{student_id}/score"): Row(
        STUDENT_ROLES, lambda who, _r: (f"/v1/students/{who['student_id']}/score", {}), student=True),
    ("GET", "/v1/worklists"): Row(CASE_READERS, _plain("/v1/worklists?limit=500"), listing=True),
    ("GET", "/v1/cases/{case_id}"): Row(CASE_READERS, _case(), student=True),
    ("POST", "/v1/cases/{case_id}/notes"): Row(STUDENT_ROLES, _case("/notes", {"note": "gesprek gepland"}), student=True),
    ("POST", "/v1/cases/{case_id}/assign"): Row(STUDENT_ROLES, _case("/assign", {"owner": "mentor 2b"}), student=True),
    ("POST", "/v1/cases/{case_id}/outcome"): Row(
        STUDENT_ROLES, _case("/outcome", {"outcome": "no_concern", "worth_conversation": True}), student=True),
    ("POST", "/v1/cases/{case_id}/take"): Row(STUDENT_ROLES, _case("/take"), student=True),
    ("POST", "/v1/cases/{case_id}/plan"): Row(
        STUDENT_ROLES, _case("/plan", lambda role: {"kind": STEP[role], "due_on": "2025-03-10"}), student=True),
    ("POST", "/v1/cases/{case_id}/plan/{action_id}/done"): Row(
        STUDENT_ROLES, _case("/plan/{action}/done", {"done_on": "2025-03-05"}), student=True),
    ("POST", "/v1/cases/{case_id}/plan/{action_id}/follow-up"): Row(
        STUDENT_ROLES, _case("/plan/{action}/follow-up", {"result": "improved"}), student=True),
    # the school reports the 16-hour signal to DUO and writes to the parents: its duty, no one else's
    ("POST", "/v1/cases/{case_id}/duo-report"): Row(
        frozenset({"school"}), _case("/duo-report", {"reported_on": "2025-03-04", "reference": "DUO-1"}), student=True),
    ("POST", "/v1/cases/{case_id}/letter"): Row(
        frozenset({"school"}), _case("/letter", {"meeting_on": "2025-03-12", "meeting_at": "15:30"}), student=True,
        carries_data=False),
    ("POST", "/v1/cases/{case_id}/transition"): Row(
        STUDENT_ROLES, _case("/transition", {"to_status": "in_review"}), student=True),
    # the pupil's rights (issue 16): scope from stored data; erasure by admin only
    ("GET", "/v1/students/{student_id}/dossier"): Row(
        STUDENT_ROLES, lambda who, _r: (f"/v1/students/{who['student_id']}/dossier", {}), student=True),
    ("POST", "/v1/students/{student_id}/objection"): Row(
        STUDENT_ROLES, lambda who, _r: (f"/v1/students/{who['student_id']}/objection",
                                        {"json": {"reason": "ouders maken bezwaar"}}), student=True, carries_data=False),
    ("DELETE", "/v1/students/{student_id}/objection"): Row(
        STUDENT_ROLES, lambda who, _r: (f"/v1/students/{who['student_id']}/objection", {}), student=True,
        carries_data=False),
    # a pupil nothing is stored about (a pseudonym's shape: 64 hex): erasing IN/OUT would empty the fixture
    ("POST", "/v1/admin/students/{student_id}/erasure"): Row(
        frozenset({"admin"}), lambda _who, _r: (f"/v1/admin/students/{uuid.uuid4().hex * 2}/erasure",
                                                {"json": {"reason": "verzoek ouders"}})),
}


def published_operations(app: Any) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in app.openapi()["paths"].items() for m in item
            if m in ("get", "post", "put", "patch", "delete")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        keys = {role: create_key(s, role, SCOPES[role][0], SCOPES[role][1], f"matrix {role}")[1] for role in ROLES}
        seeder = create_key(s, "school", "all", [], "seeder")[1]
    run = home / "reports" / "monitoring" / RUN
    run.mkdir(parents=True)
    (run / "summary.json").write_text('{"status": "ok", "created_at": "2026-01-01T00:00:00Z", "breaches": []}')
    (run / "report.html").write_text("<html><body>monitoring</body></html>")
    app = create_app(Settings(home=home, database_url=url, bundle_path=build_bundle(home / "bundle"),
                              log_level="WARNING"))
    with TestClient(app, raise_server_exceptions=False) as client:
        subjects = {}
        with sessions() as s:  # the import: IN and OUT are registered where they live; NEVER nowhere
            register_pupils(s, [body_of(IN), body_of(OUT)])
        for who in (IN, OUT):
            r = client.post("/v1/scores", json={"students": [body_of(who)]}, headers={"X-API-Key": seeder})
            assert r.status_code == 200, r.text
            with sessions() as s:  # one review case per reviewing role
                cases = {role: open_or_update_case(
                    s, student_id=who["student_id"], role=role, reason=CASE_REASONS[role], as_of=dt.date(2025, 3, 1),
                    school_id=who["school_id"], municipality=who["municipality"], rmc_region=who["rmc_region"],
                    probability=0.5, band="high", due_date=dt.date(2025, 3, 7),
                    detail="18 uur ongeoorloofd verzuim binnen 4 lesweken")[0].id for role in sorted(STUDENT_ROLES)}
                actions = {role: add_action(s, cases[role], kind=STEP[role], owner="mentor", due_on=dt.date(2025, 3, 9),
                                            actor="seeder").id for role in sorted(STUDENT_ROLES)}
                for role in sorted(STUDENT_ROLES):  # done, so its follow-up check can be recorded
                    complete_action(s, cases[role], actions[role], done_on=dt.date(2025, 3, 4), actor="seeder")
            subjects[who["student_id"]] = {**who, "cases": cases, "actions": actions}
        yield {"client": client, "keys": keys, "sessions": sessions, "app": app, "url": url, "home": home,
               "in": subjects["IN-1"], "out": subjects["OUT-1"]}
    engine.dispose()


def test_every_published_operation_has_a_row(world: dict[str, Any]) -> None:
    missing = published_operations(world["app"]) - set(TABLE)
    assert not missing, f"add these operations to TABLE in tests/test_access_matrix.py: {sorted(missing)}"
    assert set(TABLE) - published_operations(world["app"]) == set(), "TABLE names operations the app lacks"


def _request(world: dict[str, Any], role: str | None, method: str, url: str, kw: dict[str, Any]) -> Any:
    headers = {"X-Request-ID": uuid.uuid4().hex}
    if role is not None:
        headers["X-API-Key"] = world["keys"][role]
    return world["client"].request(method, url, headers=headers, **kw)


def _masked(response: Any) -> tuple[int, list[str], bytes]:
    """Status, header names and body with the request id blanked: what must match byte for byte."""
    rid = response.headers["x-request-id"]
    headers = sorted(f"{k}: {v}" if k != "x-request-id" else k for k, v in response.headers.items())
    return response.status_code, headers, response.content.replace(rid.encode(), b"<rid>")


def _audited(world: dict[str, Any], request_id: str) -> list[AuditEntry]:
    with world["sessions"]() as s:
        return list(s.scalars(sa.select(AuditEntry).where(AuditEntry.request_id == request_id)))


CELLS = [(op, role, scope) for op in TABLE for role in (*ROLES, None)
         for scope in (("in", "out") if TABLE[op].student else ("in",))]


@pytest.mark.parametrize(("op", "role", "scope"), CELLS,
                         ids=[f"{m} {p} {r or 'anonymous'} {s}" for (m, p), r, s in CELLS])
def test_cell(world: dict[str, Any], op: tuple[str, str], role: str | None, scope: str) -> None:
    method, _ = op
    row = TABLE[op]
    who = world[scope]
    url, kw = row.call(who, role)
    r = _request(world, role, method, url, kw)
    sees_all = role is not None and SCOPES[role][0] == "all"

    if row.allowed is PUBLIC:
        expected = 200
    elif role is None:
        expected = 401
    elif role not in row.allowed:
        expected = 403
    elif scope == "out" and not sees_all:
        expected = 404 if row.out_of_scope == "not_found" else 403
    else:
        expected = 200
    assert r.status_code == expected, (r.status_code, r.text[:300])

    if expected == 404:  # outside scope is indistinguishable from never existing
        never_url, never_kw = row.call(NEVER, role)
        twin = _request(world, role, method, never_url, never_kw)
        assert _masked(r) == _masked(twin)
    text = r.text
    if row.listing and expected == 200:
        assert world["out"]["student_id"] not in text or sees_all  # never a pupil outside the scope
        if not sees_all:
            assert world["in"]["student_id"] in text
    if not (row.student or row.listing):
        return
    if expected == 200 and row.carries_data and (row.student or world["in"]["student_id"] in text):  # health: jeugdarts only
        shown = "SICK_LONG" in text or HEALTH_DETAIL in text
        assert shown == (role == "jeugdarts"), text[:500]
        if role == "school":  # the school signals to the jeugdarts: it sees *that* there is a signal
            assert "HEALTH_SIGNAL" in text and '"withheld":true' in text
        elif role != "jeugdarts":  # leerplicht and RMC do not learn of a sick-reporting signal at all
            assert "HEALTH_SIGNAL" not in text and "mazl" not in text and "sick" not in text, text[:500]
    if (role is not None and role in (row.allowed or ()) and row.out_of_scope == "not_found") or expected == 200:
        # every access to a student's data is audited, refusals included, under the request's id
        entries = _audited(world, r.request.headers["x-request-id"])
        assert entries, f"no audit entry for {method} {url} as {role}"
        assert {e.role for e in entries} == {role}
        assert all(e.actor and not e.actor.startswith("rsk_") for e in entries)
        students = {e.resource for e in entries if e.resource.startswith("student:")}
        if row.student and expected == 200:
            assert students == {f"student:{who['student_id']}"}
            assert {e.outcome for e in entries} == {"allowed"}
        elif row.listing:
            assert f"student:{world['in']['student_id']}" in students or sees_all
        else:  # refused: the attempt is recorded (the student or case it named), no data left
            assert {e.outcome for e in entries} <= {"denied", "not_found"}


def test_never_scored_is_audited_as_not_found(world: dict[str, Any]) -> None:
    r = _request(world, "school", "GET", "/v1/students/NEVER-2/score", {})
    assert r.status_code == 404
    assert [e.outcome for e in _audited(world, r.request.headers["x-request-id"])] == ["not_found"]


def _copy_db(world: dict[str, Any], name: str) -> str:
    src_path = Path(world["url"].removeprefix("sqlite:///"))
    dst = world["home"] / name
    with sqlite3.connect(src_path) as src, sqlite3.connect(dst) as out:
        src.backup(out)
    return f"sqlite:///{dst}"


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET outcome = CASE outcome WHEN 'allowed' THEN 'denied' ELSE 'allowed' END WHERE id = 3",
                                 "UPDATE audit_log SET resource = 'student:SOMEONE-ELSE' WHERE id = 2",
                                 "DELETE FROM audit_log WHERE id = 2",
                                 "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)"])
def test_audit_chain_verifies_and_tampering_is_found(world: dict[str, Any], sql: str) -> None:
    with world["sessions"]() as s:
        assert verify_chain(s).ok and verify_chain(s).checked >= 10
    url = _copy_db(world, f"tamper-{uuid.uuid4().hex[:8]}.db")
    ok = CliRunner().invoke(cli_app, ["audit", "verify", "--database-url", url])
    assert ok.exit_code == 0, ok.output
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the triggers refuse this; an attacker with file access drops them
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(sa.text(sql))
    engine.dispose()
    bad = CliRunner().invoke(cli_app, ["audit", "verify", "--database-url", url])
    assert bad.exit_code == 10, bad.output
    assert "BROKEN" in bad.output


# --- failed-key throttling -------------------------------------------------------------------------
@pytest.fixture()
def throttled(tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        key = create_key(s, "school", "school", ["01AB"], "good")[1]
    settings = Settings(home=tmp_path, database_url=url, bundle_path=build_bundle(tmp_path / "bundle"),
                        log_level="ERROR")
    apps = [create_app(settings), create_app(settings)]  # two "workers" sharing one database
    for app in apps:
        app.state.auth_throttle = AuthThrottle(limit=10, slow_after=5, delay_step=0.05, max_delay=0.2)
    with TestClient(apps[0], raise_server_exceptions=False) as one, \
            TestClient(apps[1], raise_server_exceptions=False) as two, \
            TestClient(apps[0], raise_server_exceptions=False, client=("10.9.9.9", 4000)) as other:
        yield {"one": one, "two": two, "other": other, "key": key, "engine": engine, "apps": apps}
    engine.dispose()


def test_failed_keys_are_slowed_then_blocked(throttled: dict[str, Any]) -> None:
    one = throttled["one"]
    bad = {"X-API-Key": "rsk_guess_notthesecret"}
    times = []
    for _ in range(10):
        started = time.perf_counter()
        r = one.get("/v1/models/current", headers=bad)
        times.append(time.perf_counter() - started)
        assert r.status_code == 401
    assert min(times[6:]) >= 0.05  # failures 7-10 waited (slow_after=5, 0.05 s per extra failure)
    r = one.get("/v1/models/current", headers=bad)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 15 * 60
    assert "too many failed" in r.json()["error"] and r.json()["request_id"]
    # the NAT case: a colleague behind the same address with a valid key is never blocked
    assert one.get("/v1/models/current", headers={"X-API-Key": throttled["key"]}).status_code == 200
    # another bad key from the blocked address: still refused
    assert one.get("/v1/models/current", headers={"X-API-Key": "rsk_other_notthesecret"}).status_code == 429
    # per key id, separately: guessing at the key id 'guess' from another address is refused too,
    # a different bad key from there is an ordinary 401, and a valid key from there works
    other = throttled["other"]
    assert other.get("/v1/models/current", headers=bad).status_code == 429
    assert other.get("/v1/models/current", headers={"X-API-Key": "rsk_other_notthesecret"}).status_code == 401
    assert other.get("/v1/models/current", headers={"X-API-Key": throttled["key"]}).status_code == 200
    # no key at all is not a guess: 401, never counted
    assert other.get("/v1/models/current").status_code == 401
    # the second worker learns the count from the database at its first failure
    two = throttled["two"]
    assert two.get("/v1/models/current", headers={"X-API-Key": throttled["key"]}).status_code == 200
    assert two.get("/v1/models/current", headers=bad).status_code == 401
    assert two.get("/v1/models/current", headers=bad).status_code == 429
    assert two.get("/v1/models/current", headers={"X-API-Key": throttled["key"]}).status_code == 200
    with throttled["engine"].connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM auth_failures WHERE client = 'testclient'")).scalar() == 11
        stored = {row[0] for row in conn.execute(sa.text("SELECT key_prefix FROM auth_failures"))}
    assert stored == {"guess", "other"}  # the public id part only, never the secret
    text = throttled["apps"][0].state.riskscore.metrics.render().decode()
    assert 'riskscore_auth_failures_total{outcome="invalid"} 11.0' in text
    assert 'riskscore_auth_failures_total{outcome="throttled"} 3.0' in text


def test_valid_keys_cost_no_throttle_query(throttled: dict[str, Any]) -> None:
    statements: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        statements.append(statement)

    engine = throttled["apps"][0].state.riskscore.engine
    sa.event.listen(engine, "before_cursor_execute", spy)
    try:
        for _ in range(5):
            assert throttled["one"].get("/v1/models/current", headers={"X-API-Key": throttled["key"]}).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", spy)
    assert statements and not any("auth_failures" in s for s in statements)
    assert len(statements) == 5  # one key lookup per request, nothing more


def test_block_ends_when_failures_leave_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import riskscore.service.deps as deps

    clock = {"now": 1_000_000.0}
    monkeypatch.setattr(deps.time, "time", lambda: clock["now"])
    throttle = AuthThrottle(limit=3, slow_after=1, delay_step=0.5, max_delay=2.0)
    delays = [throttle.failed("c") for _ in range(3)]
    assert delays == [0.0, 0.5, 1.0]
    assert throttle.retry_after("c") == 15 * 60 and throttle.retry_after("d") is None
    clock["now"] += 15 * 60 - 10
    assert throttle.retry_after("c") == 10
    clock["now"] += 11
    assert throttle.retry_after("c") is None
    # another worker recorded more failures than this one knows: the shared count wins
    assert throttle.failed("e", shared_count=7) > 0 and throttle.retry_after("e") == 15 * 60


def test_malformed_or_conflicting_credentials_are_refused(throttled: dict[str, Any]) -> None:
    """An Authorization header that is not 'Bearer <key>' is never skipped in favour of X-API-Key,
    and two different keys are refused rather than one of them picked."""
    other, good = throttled["other"], throttled["key"]
    for headers in ({"Authorization": "Basic dXNlcjpwdw==", "X-API-Key": good},
                    {"Authorization": "Bearer rsk_a_b", "X-API-Key": good},
                    {"Authorization": "Bearer"}):
        r = other.get("/v1/models/current", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", headers
    assert other.get("/v1/models/current", headers={"Authorization": f"Bearer {good}", "X-API-Key": good}).status_code == 200
