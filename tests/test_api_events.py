"""POST /v1/scores from raw events: scope from the store (no cross-tenant overwrite), bounded requests,
the import contract, and no caller-asserted triggers. TestClient, a real SQLite store, a real bundle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from conftest import sign_in_person
from riskscore.api import create_app
from riskscore.api.schemas import MAX_ABSENCES, MSG_NO_TRIGGERS, StudentEvents
from riskscore.clock import today as school_today
from riskscore.settings import Settings
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import AuditEntry, Score
from riskscore.testing import register_pupils, student_events, tiny_bundle
from riskscore.web.auth import SESSION_COOKIE

WEB_SECRET = "events-test-session-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("events")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        keys = {name: create_key(s, role, kind, values, name)[1] for name, role, kind, values in [
            ("school_a", "school", "school", ["01AB"]), ("school_b", "school", "school", ["02CD"]),
            ("leerplicht", "leerplicht", "municipality", ["GM0363"]), ("rmc", "rmc", "rmc_region", ["RMC27"])]}
    # large enough bodies for the per-pupil event bound (the byte bound has its own test in test_api)
    app = create_app(Settings(home=home, database_url=url, bundle_path=tiny_bundle(home / "bundle"), max_batch=3,
                              max_body_bytes=2_000_000, log_level="WARNING", session_secret=SecretStr(WEB_SECRET)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "keys": keys, "sessions": sessions, "app": app}
    engine.dispose()


def register(env: dict[str, Any], *bodies: dict[str, Any]) -> None:
    """What an import of the schools' students rows does: place each pupil where its body says."""
    with env["sessions"]() as s:
        register_pupils(s, list(bodies))


def post(env: dict[str, Any], who: str, *bodies: dict[str, Any], registered: bool = True) -> Any:
    """POST the bodies; ``registered``: import their registrations first (the usual case: a school scores
    its own pupils); False: the pupils' registrations stay as they are (an attacker's body)."""
    if registered:
        register(env, *bodies)
    return env["client"].post("/v1/scores", json={"students": list(bodies)},
                              headers={"Authorization": f"Bearer {env['keys'][who]}"})


def stored(env: dict[str, Any], sid: str) -> list[tuple[str | None, float | None]]:
    with env["sessions"]() as s:
        return [(r.school_id, r.probability) for r in s.query(Score).filter(Score.student_id == sid).order_by(Score.id)]


def test_cross_tenant_overwrite_is_refused_and_the_other_list_is_unchanged(env: dict[str, Any]) -> None:
    c = env["client"]
    a = post(env, "school_a", student_events("XT-1", school="01AB", absence_hours=35, sick_days=0))
    assert a.status_code == 200, a.text
    before = stored(env, "XT-1")
    read_a = c.get("/v1/students/XT-1/score", headers={"Authorization": f"Bearer {env['keys']['school_a']}"}).json()
    # school B writes its own school id into the body of school A's pupil: the registrations decide, not the body
    b = post(env, "school_b", student_events("XT-1", school="02CD", absence_hours=0, sick_days=0), registered=False)
    assert b.status_code == 403 and "[0]" in b.json()["error"]
    assert stored(env, "XT-1") == before  # nothing overwritten
    again = c.get("/v1/students/XT-1/score", headers={"Authorization": f"Bearer {env['keys']['school_a']}"}).json()
    assert {k: v for k, v in again.items() if k != "scored_at"} == {k: v for k, v in read_a.items() if k != "scored_at"}
    assert c.get("/v1/students/XT-1/score",  # school B still cannot read it either
                 headers={"Authorization": f"Bearer {env['keys']['school_b']}"}).status_code == 404
    with env["sessions"]() as s:
        denied = s.query(AuditEntry).filter(AuditEntry.resource == "student:XT-1", AuditEntry.outcome == "denied").all()
    assert [(e.action, e.role) for e in denied] == [("score.write", "school"), ("score.read", "school")]


def test_a_pupil_with_a_case_and_no_score_cannot_be_taken_over(env: dict[str, Any]) -> None:
    """Break 2 of the boundary issue: a pupil of school A with a (jeugdarts) case but no score. School B
    scored it with its own school in the body and from then on read A's dossier and cases. Scope comes
    from the registrations now: B's write is a 403, A keeps its pupil, B sees nothing."""
    from riskscore.store.cases import open_or_update_case

    body = student_events("TAKE-1", school="01AB", absence_hours=0, sick_days=0)
    register(env, body)
    with env["sessions"]() as s:
        open_or_update_case(s, student_id="TAKE-1", role="jeugdarts", reason="rule:mazl_long",
                            as_of=dt.date(2025, 3, 1), school_id="01AB", municipality="GM0363", rmc_region="RMC27")
    attack = post(env, "school_b", student_events("TAKE-1", school="02CD", absence_hours=0, sick_days=0),
                  registered=False)
    assert attack.status_code == 403
    assert stored(env, "TAKE-1") == []
    b = {"Authorization": f"Bearer {env['keys']['school_b']}"}
    for path in ("/v1/students/TAKE-1/score", "/v1/students/TAKE-1/dossier", "/v1/students/TAKE-1/score?rescore=true"):
        assert c_get(env, path, b).status_code == 404, path
    assert env["client"].post("/v1/students/TAKE-1/objection", json={"reason": "x"}, headers=b).status_code == 404
    a = {"Authorization": f"Bearer {env['keys']['school_a']}"}
    assert c_get(env, "/v1/students/TAKE-1/dossier", a).status_code == 200  # A keeps its pupil
    assert post(env, "school_a", body, registered=False).status_code == 200
    assert [school for school, _ in stored(env, "TAKE-1")] == ["01AB"]


def c_get(env: dict[str, Any], path: str, headers: dict[str, str]) -> Any:
    return env["client"].get(path, headers=headers)


def test_the_score_is_stamped_with_the_registration_and_another_school_in_the_body_is_named(env: dict[str, Any]) -> None:
    body = student_events("XT-2", school="01AB")
    assert post(env, "school_a", body).status_code == 200
    # the leerplicht office of GM0363 rescores the pupil: allowed (registered in its town), stamped 01AB
    assert post(env, "leerplicht", body, registered=False).status_code == 200
    assert [school for school, _ in stored(env, "XT-2")] == ["01AB"]
    # a body naming another school of the same town would be read with that school's calendar: 422 naming it
    r = post(env, "leerplicht", student_events("XT-2", school="03EF"), registered=False)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "students", 0, "student", "school_id"]
    assert "01AB" in r.json()["detail"][0]["msg"]
    assert [school for school, _ in stored(env, "XT-2")] == ["01AB"]


def test_an_unregistered_pupil_is_refused_whatever_the_body_says(env: dict[str, Any]) -> None:
    r = post(env, "school_a", student_events("XT-3", school="01AB"), registered=False)
    assert r.status_code == 403 and stored(env, "XT-3") == []
    # a registration outside the as-of date's school year does not count either
    register(env, student_events("XT-4", school="01AB", as_of="2023-03-01"))
    r = post(env, "school_a", student_events("XT-4", school="01AB"), registered=False)
    assert r.status_code == 403 and stored(env, "XT-4") == []


def test_triggers_cannot_be_asserted(env: dict[str, Any]) -> None:
    for value in (["leerplicht_16h_4w"], [{"id": "mazl_long"}], [], None):
        r = post(env, "school_a", {**student_events("TR-1", absence_hours=0, sick_days=0), "triggers": value})
        assert r.status_code == 422
        [err] = r.json()["detail"]
        assert err["loc"] == ["body", "students", 0, "triggers"] and MSG_NO_TRIGGERS in err["msg"]
    assert stored(env, "TR-1") == []


def test_triggers_come_from_the_events(env: dict[str, Any]) -> None:
    quiet = post(env, "school_a", student_events("TR-2", absence_hours=8, sick_days=0)).json()["results"][0]
    loud = post(env, "school_a", student_events("TR-3", absence_hours=20, sick_days=0)).json()["results"][0]
    assert quiet["triggers"] == [] and [t["id"] for t in loud["triggers"]] == ["leerplicht_16h_4w"]
    assert loud["triggers"][0]["due_date"] > loud["triggers"][0]["fired_on"]


def test_bounds_events_per_pupil_and_pupils_per_request(env: dict[str, Any]) -> None:
    body = student_events("BIG-1", absence_hours=0, sick_days=0)
    body["absences"] = [{"date": "2025-02-03", "hours": 0.25, "category": "late"}] * (MAX_ABSENCES + 1)
    r = post(env, "school_a", body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "students", 0, "absences"]
    assert r.json()["detail"][0]["type"] == "too_long"
    r = post(env, "school_a", *[student_events(f"MANY-{i}") for i in range(4)])  # max_batch is 3
    assert r.status_code == 422 and "at most 3 students" in r.json()["detail"][0]["msg"]
    assert stored(env, "BIG-1") == [] and stored(env, "MANY-0") == []


def test_bsn_like_application_id_is_refused(env: dict[str, Any]) -> None:
    body = student_events("APP-1", absence_hours=0, sick_days=0)
    body["applications"] = [{"application_id": "123456782", "programme": "25180", "level": "mbo-2",
                             "submitted_on": "2025-02-01"}]
    r = post(env, "school_a", body)
    assert r.status_code == 422 and "BSN" in r.text and "123456782" not in r.text.replace('"input":"123456782"', "")


def test_not_enrolled_is_named(env: dict[str, Any]) -> None:
    body = student_events("GONE-1", absence_hours=0, sick_days=0)
    body["enrolments"] = [{"school_id": "01AB", "level": "vmbo-b", "start_date": "2024-08-20",
                           "end_date": "2025-01-10", "dereg_reason": "moved"}]
    r = post(env, "school_a", body)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "students", 0, "enrolments"]


def test_objection_hook_removes_the_model_score_keeps_the_rules(env: dict[str, Any]) -> None:
    state = env["app"].state.riskscore
    original = state.objecting
    state.objecting = lambda _s, ids: frozenset(i for i in ids if i.startswith("OBJ-"))
    try:
        r = post(env, "school_a", student_events("OBJ-1", absence_hours=35), student_events("NOOBJ-1", absence_hours=35))
    finally:
        state.objecting = original
    assert r.status_code == 200, r.text
    obj, other = r.json()["results"]
    assert obj["objected"] and obj["probability"] is None and obj["band"] == "unknown" and obj["reasons"] == []
    assert [t["id"] for t in obj["triggers"]] == [t["id"] for t in other["triggers"]] != []
    assert other["probability"] is not None and not other["objected"]
    assert stored(env, "OBJ-1") == [("01AB", None)]


_dates = st.dates(min_value=dt.date(2024, 8, 1), max_value=dt.date(2025, 3, 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(absences=st.lists(st.fixed_dictionaries({
           "date": _dates.map(str), "hours": st.sampled_from([0, 0.25, 1, 2.5, 8, 24]),
           "category": st.sampled_from(["unauthorised", "authorised", "late", "sent_out", "other_x"])}), max_size=30),
       sick=st.lists(st.tuples(_dates, st.integers(0, 20) | st.none()), max_size=4),
       diplomas=st.lists(st.fixed_dictionaries({"date": _dates.map(str), "level": st.sampled_from(["vmbo-b", "havo"]),
                                                "is_sk": st.booleans()}), max_size=2))
def test_every_accepted_body_passes_the_import_contract(absences: list[dict[str, Any]],
                                                        sick: list[tuple[Any, int | None]],
                                                        diplomas: list[dict[str, Any]]) -> None:
    from riskscore.api.events import to_tables
    from riskscore.contracts import RAW_SCHEMAS, validate

    body = student_events("PROP-1", absence_hours=0, sick_days=0)
    body.update(absences=absences, diplomas=diplomas, sick_reports=[
        {"start_date": str(s), "end_date": None if n is None else str(s + dt.timedelta(days=n))} for s, n in sick])
    tables = to_tables([StudentEvents.model_validate(body)])
    for name, frame in tables.items():
        assert name in RAW_SCHEMAS
        checked = validate(name, frame)  # raises ContractError on any breach
        assert list(checked.dtypes) == list(frame[checked.columns].dtypes), name  # already the contract's types


def test_rescore_from_stored_events_as_of_today(env: dict[str, Any]) -> None:
    """GET ?rescore=true scores the stored pupil again, today, from the service's data folder, through the
    same core as POST; the result is stored and both the write and the read are audited."""
    from riskscore import datasets
    from riskscore.api.events import to_tables

    c = env["client"]
    headers = {"Authorization": f"Bearer {env['keys']['school_a']}"}
    today = school_today()
    body = student_events("RS-1", as_of=today.isoformat(), absence_hours=30, sick_days=0)
    home = env["app"].state.riskscore.settings.home
    assert c.get("/v1/students/RS-1/score?rescore=true", headers=headers).status_code == 404  # never scored
    first = post(env, "school_a", body)
    assert first.status_code == 200, first.text
    r = c.get("/v1/students/RS-1/score?rescore=true", headers=headers)
    assert r.status_code == 422 and "data folder not found" in r.json()["error"]  # nothing stored to rescore from
    datasets.write_tables(to_tables([StudentEvents.model_validate(body)]), home / "data")
    fresh = c.get("/v1/students/RS-1/score?rescore=true", headers=headers)
    assert fresh.status_code == 200, fresh.text
    got, posted = fresh.json(), first.json()["results"][0]
    assert got["as_of"] == today.isoformat()
    assert got["triggers"] == posted["triggers"] and got["reasons"] == posted["reasons"]
    assert [t["id"] for t in got["triggers"]] == ["leerplicht_16h_4w"]
    # stored: the plain read returns it; out of scope it stays a 404
    assert c.get("/v1/students/RS-1/score", headers=headers).json()["triggers"] == got["triggers"]
    other = {"Authorization": f"Bearer {env['keys']['school_b']}"}
    assert c.get("/v1/students/RS-1/score?rescore=true", headers=other).status_code == 404
    with env["sessions"]() as s:
        log = [(e.action, e.outcome) for e in s.query(AuditEntry).filter(AuditEntry.resource == "student:RS-1")
               .order_by(AuditEntry.id)]
    assert log == [("score.read", "not_found"), ("score.write", "allowed"),  # the POST
                   ("score.write", "allowed"), ("score.read", "allowed"),  # the rescore: stored, then shown
                   ("score.read", "allowed"), ("score.read", "denied")]  # a 422 returns no data and logs nothing
    # a pupil the data folder does not enrol today: the stored score stands, and the answer says why
    post(env, "school_a", student_events("RS-2", as_of=today.isoformat()))
    r = c.get("/v1/students/RS-2/score?rescore=true", headers=headers)
    assert r.status_code == 422 and "nothing to rescore" in r.json()["error"]


def test_web_page_shows_a_pupil_without_a_model_score(env: dict[str, Any]) -> None:
    state = env["app"].state.riskscore
    original = state.objecting
    state.objecting = lambda _s, ids: frozenset(ids)
    try:
        assert post(env, "school_a", student_events("OBJ-WEB", absence_hours=35)).status_code == 200
    finally:
        state.objecting = original
    c = env["client"]
    with env["sessions"]() as s:  # a mentor of school A, signed in on the web
        _actor, token = sign_in_person(s, WEB_SECRET, role="school", scope_kind="school", scope_values=["01AB"])
    c.cookies.set(SESSION_COOKIE, token)
    page = c.get("/students/OBJ-WEB", headers={"Accept-Language": "nl"})
    assert page.status_code == 200
    assert "onbekend (geen modelscore" in page.text and "leerplicht" in page.text.lower()
