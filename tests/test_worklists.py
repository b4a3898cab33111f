"""Worklists and the review workflow through the API, on cases opened by a real batch run: ordering,
scope and role, expected_true_cases, 404 for out-of-scope cases, transitions with who and when,
outcomes, invalid transitions, and the audit trail."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from riskscore import batch
from riskscore.api import create_app
from riskscore.model.bundle import ModelBundle
from riskscore.settings import Settings
from riskscore.store.audit import list_audit, verify_chain
from riskscore.store.cases import ACTIVE_STATUSES, case_outcomes
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import ReviewCase
from test_api import auth


@pytest.fixture(scope="module")
def env(small_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("wl-home")
    url = f"sqlite:///{home / 'rs.db'}"
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        batch.run(s, small_world.tables, dt.date.fromisoformat(small_world.score_as_of),
                  ModelBundle.load(small_world.bundle_dir), home=home)
        cases = list(s.scalars(sa.select(ReviewCase)))
    schools = Counter(c.school_id for c in cases if c.role == "school").most_common()
    school_a, school_b = schools[0][0], schools[1][0]
    muni = Counter(c.municipality for c in cases if c.role == "leerplicht").most_common()[0][0]
    region = Counter(c.rmc_region for c in cases if c.role == "jeugdarts").most_common()[0][0]
    session = sessions()
    ids, keys = {}, {}
    for name, role, kind, values in [
        ("school_a", "school", "school", [school_a]), ("school_b", "school", "school", [school_b]),
        ("leerplicht", "leerplicht", "municipality", [muni]), ("jeugdarts", "jeugdarts", "rmc_region", [region]),
        ("data_team", "data_team", "all", []), ("admin", "admin", "all", []),
    ]:
        ids[name], keys[name] = create_key(session, role, kind, values, f"{name} reviewer")
    app = create_app(Settings(home=home, database_url=url, bundle_path=small_world.bundle_dir))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "keys": keys, "ids": ids, "session": session, "cases": cases,
               "school_a": school_a, "school_b": school_b, "muni": muni, "region": region}
    session.close()
    engine.dispose()


def get(env: dict[str, Any], name: str, path: str, **params: Any) -> Any:
    return env["client"].get(path, params=params, headers=auth(env, name))


def post(env: dict[str, Any], name: str, path: str, body: dict[str, Any]) -> Any:
    return env["client"].post(path, json=body, headers=auth(env, name))


def priority_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """The review core's order: overdue legal duties, then legal duties by deadline, then risk."""
    duty = row["duty"]
    open_duty = duty is not None and duty["done_on"] is None
    return (not (open_duty and duty["overdue"]), not open_duty, duty["deadline"] if open_duty else "",
            -(row["probability"] if row["probability"] is not None else -1.0), row["case_id"])


def test_worklist_is_ordered_in_scope_and_sums_the_probabilities(env: dict[str, Any]) -> None:
    r = get(env, "school_a", "/v1/worklists", limit=500)
    assert r.status_code == 200, r.text
    body = r.json()
    rows = body["rows"]
    expected = [c for c in env["cases"] if c.role == "school" and c.school_id == env["school_a"]
                and c.status in ACTIVE_STATUSES]
    assert body["count"] == len(rows) == len(expected) > 0
    assert {row["case_id"] for row in rows} == {c.id for c in expected}
    assert all(row["school_id"] == env["school_a"] and row["role"] == "school" for row in rows)
    assert [priority_key(x) for x in rows] == sorted(priority_key(x) for x in rows)
    assert body["expected_true_cases"] == pytest.approx(sum(x["probability"] or 0.0 for x in rows), abs=1e-3)
    assert "kalibreerde kansen" in body["expected_true_cases_nl"] and "calibrated" in body["expected_true_cases_en"]
    row = rows[0]
    assert {"case_id", "student_id", "school_id", "age", "probability", "band", "reasons", "triggers", "status",
            "owner", "duty", "next_step", "signals", "team"} <= set(row)
    assert all({"code", "text_nl", "text_en", "contribution"} <= set(reason) for x in rows for reason in x["reasons"])
    assert any(x["reasons"] for x in rows) and all(x["status"] in ACTIVE_STATUSES for x in rows)

    top2 = get(env, "school_a", "/v1/worklists", limit=2).json()["rows"]
    assert [x["case_id"] for x in top2] == [x["case_id"] for x in rows[:2]]
    band = rows[0]["band"] or "high"
    assert all(x["band"] == band for x in get(env, "school_a", "/v1/worklists", band=band).json()["rows"])
    # team filter for leerplicht is the municipality; a team outside the scope yields nothing
    lp = get(env, "leerplicht", "/v1/worklists", team=env["muni"], limit=500).json()
    assert lp["count"] > 0 and all(x["municipality"] == env["muni"] and x["role"] == "leerplicht" for x in lp["rows"])
    assert get(env, "leerplicht", "/v1/worklists", team="GM0000").json()["count"] == 0

    # every row read is audited, with the key id as actor (never the key)
    entries = list_audit(env["session"], resource=f"student:{rows[0]['student_id']}", actor=env["ids"]["school_a"])
    assert any(e.action == "worklist.read" and e.outcome == "allowed" for e in entries)
    assert all(env["keys"]["school_a"] not in e.actor for e in entries)


def test_worklist_roles_and_validation(env: dict[str, Any]) -> None:
    assert env["client"].get("/v1/worklists").status_code == 401
    r = get(env, "school_a", "/v1/worklists", role="leerplicht")
    assert r.status_code == 403 and "leerplicht" in r.json()["error"]
    # data team and administrator work with aggregates only: no pupil list, whatever their scope
    assert get(env, "data_team", "/v1/worklists").status_code == 403
    assert get(env, "admin", "/v1/worklists", role="leerplicht", limit=500).status_code == 403
    for params, field in [({"band": "extreme"}, "band"), ({"limit": 0}, "limit"), ({"status": "done"}, "status")]:
        r = get(env, "school_a", "/v1/worklists", **params)
        assert r.status_code == 422 and field in r.json()["detail"][0]["loc"], r.text


def test_health_detail_only_for_the_jeugdarts(env: dict[str, Any]) -> None:
    rows = get(env, "jeugdarts", "/v1/worklists", limit=500).json()["rows"]
    assert rows and all(x["role"] == "jeugdarts" and x["rmc_region"] == env["region"] for x in rows)
    assert any(reason["category"] == "sick" and not reason["withheld"] for x in rows for reason in x["reasons"])
    for x in get(env, "school_a", "/v1/worklists", limit=500).json()["rows"]:
        assert all(reason["withheld"] for reason in x["reasons"] if reason["category"] == "sick")
        assert all(t["withheld"] for t in x["triggers"] if t["id"].startswith("mazl"))
    for x in get(env, "leerplicht", "/v1/worklists", limit=500).json()["rows"]:  # not even that there is one
        assert not [r for r in x["reasons"] if r["category"] == "sick"]
        assert not [t for t in x["triggers"] if t["id"].startswith("mazl")]


def test_out_of_scope_and_other_role_cases_are_404_like_missing_ones(env: dict[str, Any]) -> None:
    case = next(c for c in env["cases"] if c.role == "school" and c.school_id == env["school_a"])
    missing = get(env, "school_b", "/v1/cases/99999999")
    assert missing.status_code == 404
    for name in ("school_b", "leerplicht"):  # other scope; same area but another role's case
        r = get(env, name, f"/v1/cases/{case.id}")
        assert r.status_code == 404 and r.json()["error"] == missing.json()["error"]
        r = post(env, name, f"/v1/cases/{case.id}/transition", {"to_status": "in_review"})
        assert r.status_code == 404 and r.json()["error"] == missing.json()["error"]
    assert get(env, "school_a", f"/v1/cases/{case.id}").status_code == 200
    assert get(env, "admin", f"/v1/cases/{case.id}").status_code == 403  # no pupil for the administrator
    assert get(env, "data_team", f"/v1/cases/{case.id}").status_code == 403
    assert post(env, "admin", f"/v1/cases/{case.id}/notes", {"note": "x"}).status_code == 403
    for not_an_id in ("abc", "1.0", "+1", "1e0", f"{case.id}.0"):  # digits only: never read as another case
        r = get(env, "school_a", f"/v1/cases/{not_an_id}")
        assert r.status_code == 404 and r.json()["error"], not_an_id
    denied = list_audit(env["session"], resource=f"case:{case.id}", actor=env["ids"]["school_b"])
    assert denied and denied[0].outcome == "denied"


def test_review_workflow_keeps_who_and_when_and_refuses_invalid_steps(env: dict[str, Any]) -> None:
    case = next(c for c in env["cases"] if c.role == "school" and c.school_id == env["school_a"] and c.status == "open")
    path = f"/v1/cases/{case.id}"
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)

    r = post(env, "school_a", f"{path}/transition", {"to_status": "in_review", "note": "eerste gesprek gepland"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "in_review" and "contacted" in body["allowed_transitions"]
    step = body["history"][-1]
    assert step["action"] == "status" and step["from_status"] == "open" and step["to_status"] == "in_review"
    assert "school_a reviewer" in step["actor"] and env["ids"]["school_a"] in step["actor"]
    assert dt.datetime.fromisoformat(step["at"]).replace(tzinfo=dt.UTC) >= before
    assert body["history"][0]["action"] == "open"

    bad = post(env, "school_a", f"{path}/transition", {"to_status": "closed"})
    assert bad.status_code == 409 and "in_review" in bad.json()["error"] and "contacted" in bad.json()["error"]
    unknown = post(env, "school_a", f"{path}/transition", {"to_status": "done"})
    assert unknown.status_code == 422 and "to_status" in unknown.json()["detail"][0]["loc"]
    assert post(env, "school_a", f"{path}/notes", {"note": "   "}).status_code == 422
    assert post(env, "school_a", f"{path}/outcome", {"outcome": "x"}).status_code == 422  # worth_conversation missing

    assert post(env, "school_a", f"{path}/assign", {"owner": "mentor J. de Vries"}).json()["owner"] == "mentor J. de Vries"
    assert post(env, "school_a", f"{path}/notes", {"note": "ouders gebeld"}).status_code == 200
    r = post(env, "school_a", f"{path}/outcome",
             {"outcome": "conversation_held", "worth_conversation": True, "note": "studiekeuze heroverwogen"})
    assert r.status_code == 200
    out = r.json()["outcomes"]
    assert len(out) == 1 and out[0]["worth_conversation"] is True and out[0]["outcome"] == "conversation_held"
    assert post(env, "school_a", f"{path}/transition", {"to_status": "contacted"}).status_code == 200

    stored = case_outcomes(env["session"], case.id)
    assert [(o.outcome, o.worth_conversation, o.note) for o in stored] == [
        ("conversation_held", True, "studiekeuze heroverwogen")]
    detail = get(env, "school_a", path).json()
    assert [e["action"] for e in detail["history"]] == ["open", "status", "assign", "note", "outcome", "status"]
    assert detail["status"] == "contacted" and detail["owner"] == "mentor J. de Vries"
    assert all(e["actor"].startswith("school_a reviewer") for e in detail["history"][1:])

    actions = {e.action for e in list_audit(env["session"], resource=f"student:{case.student_id}",
                                            actor=env["ids"]["school_a"], limit=1000)}
    assert {"case.transition", "case.assign", "case.note", "case.outcome", "case.read"} <= actions
    assert verify_chain(env["session"]).ok


def test_rerun_keeps_the_workflow_state(env: dict[str, Any], small_world: Any) -> None:
    """A batch rerun refreshes cases but never reopens or duplicates them."""
    s = env["session"]
    before = {c.id: c.status for c in s.scalars(sa.select(ReviewCase))}
    with session_factory(s.get_bind())() as other:
        result = batch.run(other, small_world.tables, dt.date.fromisoformat(small_world.score_as_of),
                           ModelBundle.load(small_world.bundle_dir), home=Path(s.get_bind().url.database).parent)
    assert result.cases["opened"] == 0
    s.expire_all()
    assert {c.id: c.status for c in s.scalars(sa.select(ReviewCase))} == before
