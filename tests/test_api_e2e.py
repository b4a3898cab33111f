"""End to end: a real `riskscore serve` (uvicorn) process, a real SQLite store and a saved bundle.
Two schools, a jeugdarts and a leerplichtambtenaar each see exactly what role and scope allow, and
every access lands in the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import running_server
from riskscore.store.audit import list_audit, verify_chain
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.testing import register_pupils
from test_api import build_bundle, student

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("e2e")
    bundle = build_bundle(home / "bundle")
    url = f"sqlite:///{home / 'riskscore.db'}"
    env = {**os.environ, "RISKSCORE_HOME": str(home)}
    env.pop("RISKSCORE_BUNDLE_PATH", None)
    cli = [sys.executable, "-m", "riskscore.cli"]
    # one key through the CLI (as an operator would), the others through the store API
    out = subprocess.run([*cli, "keys", "create", "--role", "school", "--scope", "school:01AB", "--label", "school A",
                          "--database-url", url], capture_output=True, text=True, env=env, timeout=120, check=True)
    keys = {"school_a": out.stdout.strip().splitlines()[-1]}
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    for name, role, scope in [("school_b", "school", ("school", ["02CD"])),
                              ("jeugdarts", "jeugdarts", ("municipality", ["GM0363", "GM0599"])),
                              ("leerplicht", "leerplicht", ("municipality", ["GM0363"]))]:
        keys[name] = create_key(session, role, scope[0], scope[1], name)[1]
    # the import's registrations: where each pupil the tests score belongs
    register_pupils(session, [student("E2E-A1"), student("E2E-B1", school="02CD", student__municipality="GM0599"),
                              student("E2E-P1")])
    try:
        with running_server(["--bundle", str(bundle), "--database-url", url], env=env, log_path=home / "server.log") as base, \
                httpx.Client(base_url=base, timeout=30) as client:
            yield {"client": client, "keys": keys, "session": session, "log": home / "server.log", "bundle": bundle}
    finally:
        session.close()
        engine.dispose()


def call(srv: dict[str, Any], who: str, method: str, path: str, **kw: Any) -> httpx.Response:
    return srv["client"].request(method, path, headers={"Authorization": f"Bearer {srv['keys'][who]}"}, **kw)


def test_roles_and_scopes_end_to_end(server: dict[str, Any]) -> None:
    a = call(server, "school_a", "POST", "/v1/scores", json={"students": [student("E2E-A1")]})
    b = call(server, "school_b", "POST", "/v1/scores",
             json={"students": [student("E2E-B1", school="02CD", student__municipality="GM0599")]})
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert a.json()["results"][0]["notice_nl"] == "Dit is een signaal voor een gesprek, geen besluit."
    # school A cannot score for school B either
    assert call(server, "school_a", "POST", "/v1/scores", json={"students": [student("E2E-X", school="02CD")]}).status_code == 403

    def read(who: str, sid: str) -> httpx.Response:
        return call(server, who, "GET", f"/v1/students/{sid}/score")

    # scope: each school sees only its own pupils; outside scope looks exactly like "never scored"
    assert read("school_a", "E2E-A1").status_code == 200
    assert read("school_b", "E2E-B1").status_code == 200
    for who, sid in [("school_a", "E2E-B1"), ("school_b", "E2E-A1"), ("leerplicht", "E2E-B1")]:
        r = read(who, sid)
        assert r.status_code == 404 and r.json()["error"] == "student not found"
    assert read("school_a", "E2E-NEVER").json()["error"] == "student not found"

    # health detail: only the jeugdarts
    doctor = read("jeugdarts", "E2E-A1").json()
    assert any(x["code"] == "SICK_LONG" and x["value"] == 25.0 for x in doctor["reasons"])
    assert next(t for t in doctor["triggers"] if t["id"] == "mazl_long")["detail"].startswith("25 schooldagen ziek")
    for who in ("school_a", "leerplicht"):
        seen = read(who, "E2E-A1").json()
        assert "SICK_LONG" not in json.dumps(seen) and "schooldagen" not in json.dumps(seen)
        # the school sees that there is a signal for the jeugdarts; leerplicht does not learn of it at all
        assert any(x["withheld"] for x in seen["reasons"]) == ("jeugdarts" in seen["reviewer_roles"]) == (who == "school_a")
    assert read("jeugdarts", "E2E-B1").status_code == 200  # the jeugdarts covers both municipalities

    # every access is audited, denied ones included, and the chain verifies
    session = server["session"]
    a_log = [(e.action, e.role, e.outcome) for e in reversed(list_audit(session, resource="student:E2E-A1"))]
    assert a_log == [("score.write", "school", "allowed"), ("score.read", "school", "allowed"),
                     ("score.read", "school", "denied"), ("score.read", "jeugdarts", "allowed"),
                     ("score.read", "school", "allowed"), ("score.read", "leerplicht", "allowed")]
    b_log = [(e.role, e.outcome) for e in reversed(list_audit(session, resource="student:E2E-B1"))]
    assert b_log == [("school", "allowed"), ("school", "allowed"), ("school", "denied"), ("leerplicht", "denied"),
                     ("jeugdarts", "allowed")]
    assert [e.outcome for e in list_audit(session, resource="student:E2E-NEVER")] == ["not_found"]
    assert verify_chain(session).ok

    # the server's log: JSON lines, route templates, no student ids and no keys
    lines = server["log"].read_text()
    assert "E2E-A1" not in lines and "E2E-B1" not in lines and "rsk_" not in lines
    requests = [json.loads(line) for line in lines.splitlines() if line.startswith("{")]
    assert any(r.get("route") == "/v1/students/{student_id}/score" for r in requests)


def test_real_server_scores_events_as_the_core_does(server: dict[str, Any]) -> None:
    """Parity over real HTTP: the uvicorn process returns what riskscore.scoring computes in-process."""
    from riskscore import scoring
    from riskscore.api.events import to_tables
    from riskscore.api.schemas import StudentEvents
    from riskscore.model.bundle import ModelBundle
    from riskscore.rules import RuleConfig

    body = student("E2E-P1", absence=22.0, sick=9.0)
    r = call(server, "jeugdarts", "POST", "/v1/scores", json={"students": [body]})
    assert r.status_code == 200, r.text
    [got] = r.json()["results"]
    events = StudentEvents.model_validate(body)
    [core] = scoring.score_events(to_tables([events]), events.reference_date(), ModelBundle.load(server["bundle"]),
                                  rule_config=RuleConfig.default()).students
    assert [t["id"] for t in got["triggers"]] == ["leerplicht_16h_4w", "mazl_long"]
    assert [{k: v for k, v in t.items() if k != "withheld"} for t in got["triggers"]] == [t.to_dict() for t in core.triggers]
    assert [{k: v for k, v in x.items() if k != "withheld"} for x in got["reasons"]] == [x.to_dict() for x in core.reasons]
    assert got["reviewer_roles"] == list(core.roles) and got["probability"] == core.probability
