"""The API through TestClient: a real (tiny) model bundle and a real SQLite store, every status code."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from riskscore.access import HEALTH_REDACTED_NL
from riskscore.api import create_app
from riskscore.api.schemas import NOTICE_EN, NOTICE_NL
from riskscore.clock import today as school_today
from riskscore.contracts import FEATURES
from riskscore.model.bundle import ModelBundle
from riskscore.settings import Settings
from riskscore.store.audit import list_audit, verify_chain
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key


def build_bundle(directory: Path, *, version: str = "test-1", card: bool = True) -> Path:
    """A tiny additive model where unauthorised absence and long sick spells raise the risk."""
    from riskscore.testing import tiny_bundle

    return tiny_bundle(directory, version=version, card=card)


def student(sid: str = "S-1", *, school: str = "01AB", sick: float = 25.0, absence: float = 35.0,
            **overrides: Any) -> dict[str, Any]:
    """A pupil's raw events: `absence` unauthorised hours in the last 4 lesson weeks, an ongoing sick
    spell of `sick` school days; overrides replace top-level fields, `student__x` the students row's x."""
    from riskscore.testing import student_events

    body: dict[str, Any] = student_events(sid, school=school, absence_hours=absence, sick_days=int(sick))
    for key, value in overrides.items():
        if key.startswith("student__"):
            body["student"][key.removeprefix("student__")] = value
        else:
            body[key] = value
    return body


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("bundle") / "b1")


@pytest.fixture(scope="module")
def env(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    keys = {name: create_key(session, role, kind, values, name)[1] for name, role, kind, values in [
        ("school_a", "school", "school", ["01AB"]),
        ("school_b", "school", "school", ["02CD"]),
        ("jeugdarts", "jeugdarts", "municipality", ["GM0363"]),
        ("leerplicht", "leerplicht", "municipality", ["GM0363"]),
        ("data_team", "data_team", "all", []),
        ("admin", "admin", "all", []),
    ]}
    settings = Settings(home=home, database_url=url, bundle_path=bundle_dir, max_batch=5, max_body_bytes=20_000)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "keys": keys, "session": session, "app": app, "url": url}
    session.close()
    engine.dispose()


def auth(env: dict[str, Any], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env['keys'][name]}"}


def score(env: dict[str, Any], name: str, *students: dict[str, Any], extra_headers: dict[str, str] | None = None,
          registered: bool = True) -> Any:
    """POST the pupils' events; ``registered``: first import their registrations where the bodies say
    (as the schools' exports would), else leave the registrations as they are."""
    from riskscore.testing import register_pupils

    if registered and students:
        register_pupils(env["session"], list(students))
    headers = {**auth(env, name), **(extra_headers or {})}
    return env["client"].post("/v1/scores", json={"students": list(students)}, headers=headers)


# --- operations ------------------------------------------------------------------------------------
def test_health_ready_and_metrics(env: dict[str, Any]) -> None:
    c = env["client"]
    assert c.get("/healthz").json() == {"status": "ok"}
    r = c.get("/readyz")
    assert r.status_code == 200 and r.json()["model_version"] == "test-1"
    assert r.headers["x-request-id"]
    assert c.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert c.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"] != "bad id\n"
    score(env, "school_a", student("M-1"))
    text = c.get("/metrics").text
    assert 'riskscore_model_info{version="test-1"} 1.0' in text
    assert 'route="/healthz"' in text and "riskscore_scores_total{band=" in text
    assert "M-1" not in text


def test_not_ready_without_model_then_reload_fixes_it(bundle_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    source = {"dir": tmp_path / "missing"}
    app = create_app(Settings(home=tmp_path, database_url=url),
                     bundle_loader=lambda: (ModelBundle.load(source["dir"]), source["dir"]))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["model_loaded"] is False and r.json()["database"] is True
        engine = make_engine(url)
        _, admin = create_key(session_factory(engine)(), "admin", "all", [], "ops")
        _, school = create_key(session_factory(engine)(), "school", "school", ["01AB"], "s")
        r = c.post("/v1/scores", json={"students": [student()]}, headers={"X-API-Key": school})
        assert r.status_code == 503 and "no model" in r.json()["error"]
        source["dir"] = bundle_dir
        r = c.post("/v1/admin/reload", headers={"X-API-Key": admin})
        assert r.status_code == 200 and r.json() == {"reloaded": True, "version": "test-1", "previous_version": None}
        assert c.get("/readyz").status_code == 200
        engine.dispose()


def test_reload_refuses_a_broken_model_and_keeps_serving(env: dict[str, Any], tmp_path: Path, bundle_dir: Path) -> None:
    state = env["app"].state.riskscore
    original = state.loader
    c = env["client"]
    try:
        broken = build_bundle(tmp_path / "b2", version="test-2", card=False)
        (broken / "tables.npz").write_bytes(b"not a zip")
        state.loader = lambda: ModelBundle.load(broken)
        r = c.post("/v1/admin/reload", headers=auth(env, "admin"))
        assert r.status_code == 409 and "still serving test-1" in r.json()["error"]
        # loads but scores nonsense: the smoke row catches it
        good = ModelBundle.load(bundle_dir)
        good.calibrator = {**good.calibrator, "method": "nonsense"}
        state.loader = lambda: good
        assert c.post("/v1/admin/reload", headers=auth(env, "data_team")).status_code == 409
        assert c.get("/v1/models/current", headers=auth(env, "admin")).json()["version"] == "test-1"
        assert score(env, "school_a", student("R-1")).status_code == 200
        # an unchanged version is not swapped; roles other than admin/data_team may not reload
        state.loader = original
        assert c.post("/v1/admin/reload", headers=auth(env, "admin")).json()["reloaded"] is False
        assert c.post("/v1/admin/reload", headers=auth(env, "school_a")).status_code == 403
        # a good new version is swapped in atomically
        newer = build_bundle(tmp_path / "b3", version="test-3")
        state.loader = lambda: (ModelBundle.load(newer), newer)
        r = c.post("/v1/admin/reload", headers=auth(env, "admin"))
        assert r.json() == {"reloaded": True, "version": "test-3", "previous_version": "test-1"}
        assert 'riskscore_model_info{version="test-3"} 1.0' in c.get("/metrics").text
    finally:
        state.loader = original
        assert c.post("/v1/admin/reload", headers=auth(env, "admin")).json()["version"] == "test-1"


# --- scoring ---------------------------------------------------------------------------------------
def test_score_returns_reasons_triggers_roles_and_notice(env: dict[str, Any]) -> None:
    from riskscore.calendar import SchoolCalendar

    r = score(env, "jeugdarts", student("J-1"))
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert res["band"] in ("medium", "high") and 0 <= res["probability"] <= 1
    assert res["notice_nl"] == NOTICE_NL and res["notice_en"] == NOTICE_EN
    codes = {x["code"] for x in res["reasons"]}
    assert {"ABS_UNAUTH_4W", "SICK_LONG"} <= codes and len(res["reasons"]) <= 3
    absence = next(x for x in res["reasons"] if x["code"] == "ABS_UNAUTH_4W")
    assert absence["value"] == 35.0 and absence["contribution"] > 0 and "35" in absence["text_nl"]
    trig = {t["id"]: t for t in res["triggers"]}
    # computed by the service from the events: 35 h in the last 4 lesson weeks, 25 school days sick
    assert set(trig) == {"leerplicht_16h_4w", "mazl_long"}
    lp = trig["leerplicht_16h_4w"]
    fired = dt.date.fromisoformat(lp["fired_on"])
    assert dt.date(2025, 1, 27) <= fired <= dt.date(2025, 3, 1)
    assert lp["due_date"] == SchoolCalendar.default().add_working_days(fired, 5).isoformat()  # DUO: 5 working days
    assert "Leerplichtwet" in lp["source"]
    assert "25 schooldagen" in trig["mazl_long"]["detail"]  # the jeugdarts sees health detail
    assert res["band"] == "high" and res["reviewer_roles"] == ["jeugdarts", "leerplicht", "school"]
    assert res["model_version"] == "test-1"


def test_the_school_sees_that_a_health_signal_exists_but_not_its_content(env: dict[str, Any]) -> None:
    res = score(env, "school_a", student("H-1")).json()["results"][0]
    sick = [x for x in res["reasons"] if x["category"] == "sick"]
    assert sick and all(x["withheld"] and x["value"] is None and x["code"] == "HEALTH_SIGNAL"
                        and x["text_nl"] == HEALTH_REDACTED_NL for x in sick)
    assert "SICK" not in json.dumps(res) and "schooldagen" not in json.dumps(res)
    assert "jeugdarts" in res["reviewer_roles"]
    mazl = next(t for t in res["triggers"] if t["id"] == "mazl_long")
    assert mazl["withheld"] is True and mazl["fired_on"] is None and mazl["due_date"] is None


def test_leerplicht_does_not_see_health_signals_at_all(env: dict[str, Any]) -> None:
    """Break 8 of the boundary issue: leerplicht and RMC saw the reason "gezondheidssignaal – zie
    jeugdarts"; they may not know of a sick-reporting signal at all (not even that one exists)."""
    res = score(env, "leerplicht", student("H-2")).json()["results"][0]
    text = json.dumps(res)
    assert [x for x in res["reasons"] if x["category"] == "sick"] == []
    assert HEALTH_REDACTED_NL not in text and "HEALTH_SIGNAL" not in text and "mazl" not in text
    assert "jeugdarts" not in res["reviewer_roles"]
    assert res["probability"] is not None  # the score itself stays: it is the model's, not health detail


def test_low_risk_student(env: dict[str, Any]) -> None:
    res = score(env, "school_a", student("L-1", sick=0.0, absence=0.0, student__birth_date="2010-06-01")).json()
    assert res["results"][0]["band"] == "low" and res["results"][0]["reviewer_roles"] == []
    assert res["results"][0]["triggers"] == []


def test_scores_are_stored_and_read_back_within_scope(env: dict[str, Any]) -> None:
    c = env["client"]
    assert score(env, "school_a", student("A-1")).status_code == 200
    assert score(env, "school_b", student("B-1", school="02CD")).status_code == 200
    mine = c.get("/v1/students/A-1/score", headers=auth(env, "school_a"))
    assert mine.status_code == 200 and mine.json()["student_id"] == "A-1" and mine.json()["scored_at"]
    assert mine.json()["notice_en"] == NOTICE_EN and mine.json()["reasons"][0]["text_nl"]
    other = c.get("/v1/students/B-1/score", headers=auth(env, "school_a"))
    missing = c.get("/v1/students/NOPE-9/score", headers=auth(env, "school_a"))
    assert other.status_code == missing.status_code == 404
    assert {k: v for k, v in other.json().items() if k != "request_id"} == \
        {k: v for k, v in missing.json().items() if k != "request_id"} == {"error": "student not found"}
    # the jeugdarts reads the stored sick detail, the school does not
    assert any(x["code"] == "SICK_LONG" for x in c.get("/v1/students/A-1/score", headers=auth(env, "jeugdarts")).json()["reasons"])
    assert not any(x["code"].startswith("SICK") for x in mine.json()["reasons"])
    # a later score of the same student replaces it; another student's score of that day survives
    score(env, "school_a", student("A-1", absence=0.0, sick=0.0))
    assert c.get("/v1/students/A-1/score", headers=auth(env, "school_a")).json()["band"] == "low"
    assert c.get("/v1/students/B-1/score", headers=auth(env, "school_b")).status_code == 200


def test_every_student_access_is_audited(env: dict[str, Any]) -> None:
    c = env["client"]
    score(env, "school_a", student("AU-1"), extra_headers={"X-Purpose": "zorgoverleg"})
    c.get("/v1/students/AU-1/score", headers=auth(env, "school_b"))
    c.get("/v1/students/AU-1/score", headers=auth(env, "school_a"))
    entries = list_audit(env["session"], resource="student:AU-1")
    got = [(e.action, e.role, e.outcome, e.purpose) for e in reversed(entries)]
    assert got == [("score.write", "school", "allowed", "zorgoverleg"), ("score.read", "school", "denied", "signalering"),
                   ("score.read", "school", "allowed", "signalering")]
    assert all(e.actor and not e.actor.startswith("rsk_") and e.request_id for e in entries)
    assert verify_chain(env["session"]).ok


# --- refusals --------------------------------------------------------------------------------------
def test_401_without_or_with_bad_key(env: dict[str, Any]) -> None:
    c = env["client"]
    for headers in ({}, {"Authorization": "Bearer rsk_nope_nope"}, {"X-API-Key": "garbage"}):
        r = c.post("/v1/scores", json={"students": [student()]}, headers=headers)
        assert r.status_code == 401 and r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
    assert c.get("/v1/students/A-1/score").status_code == 401
    assert c.get("/v1/models/current").status_code == 401


def test_403_for_roles_without_student_access_and_out_of_scope_batches(env: dict[str, Any]) -> None:
    c = env["client"]
    for role in ("data_team", "admin"):
        assert score(env, role, student()).status_code == 403
        assert c.get("/v1/students/A-1/score", headers=auth(env, role)).status_code == 403
    r = score(env, "school_a", student("X-1"), student("X-2", school="02CD"))
    assert r.status_code == 403 and "[1]" in r.json()["error"] and "X-2" not in r.json()["error"]
    assert c.get("/v1/students/X-1/score", headers=auth(env, "school_a")).status_code == 404  # nothing stored


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"absencez": []}, "absencez"),  # unknown field
        ({"unauthorised_hours_4w": 35}, "unauthorised_hours_4w"),  # features are computed, not sent
        ({"absences": [{"date": "2025-02-03", "hours": -1, "category": "unauthorised"}]}, "hours"),
        ({"absences": [{"date": "2025-02-03", "hours": 25, "category": "unauthorised"}]}, "hours"),
        ({"absences": [{"date": "2025-02-31", "hours": 2, "category": "unauthorised"}]}, "date"),
        ({"sick_reports": [{"start_date": "2025-02-03", "end_date": "2025-02-01"}]}, "sick_reports"),
        ({"student__birth_date": "2023-01-01"}, "students"),  # age 2 at as_of
        ({"student__level": "mbo-9"}, "level"),
        ({"as_of": (school_today() + dt.timedelta(days=30)).isoformat()}, "as_of"),
        ({"triggers": ["leerplicht_16h_4w"]}, "triggers"),  # a caller can no longer assert a trigger
        ({"triggers": []}, "triggers"),
        ({"student__municipality": "Amsterdam"}, "municipality"),
        ({"student_id": "a b"}, "student_id"),
    ],
)
def test_422_names_the_field(env: dict[str, Any], change: dict[str, Any], field: str) -> None:
    r = score(env, "school_a", student("V-1", **change))
    assert r.status_code == 422
    assert any(field in map(str, d["loc"]) for d in r.json()["detail"]), r.json()


def test_422_for_missing_record_oversized_batch_and_too_many_events(env: dict[str, Any]) -> None:
    body = student("V-2")
    del body["student"]
    r = score(env, "school_a", body)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "student"
    body = student("V-3")
    del body["student"]["birth_date"]
    assert score(env, "school_a", body).status_code == 422
    r = score(env, "school_a", *[student(f"V-{i}") for i in range(6)])  # max_batch is 5
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "students"]
    assert "at most 5 students" in r.json()["detail"][0]["msg"]
    r = score(env, "school_a", student("V-7"), student("V-7"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "students", 1, "student_id"]
    r = env["client"].post("/v1/scores", content=b"{not json", headers={**auth(env, "school_a"), "Content-Type": "application/json"})
    assert r.status_code == 422


def test_413_for_large_bodies_declared_or_streamed(env: dict[str, Any]) -> None:
    c = env["client"]
    big = json.dumps({"students": [student(f"Z-{i}") for i in range(20)]}).encode()
    assert len(big) > 20_000
    r = c.post("/v1/scores", content=big, headers={**auth(env, "school_a"), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["request_id"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for i in range(0, len(big), 4096):
            yield big[i:i + 4096]

    r = c.post("/v1/scores", content=chunks(), headers={**auth(env, "school_a"), "Content-Type": "application/json"})
    assert r.status_code == 413


def test_503_when_the_database_is_gone(bundle_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone' / 'db.sqlite'}"
    app = create_app(Settings(home=tmp_path, database_url=url, bundle_path=bundle_dir))
    with TestClient(app) as c:
        (tmp_path / "gone" / "db.sqlite").unlink()
        for p in (tmp_path / "gone").iterdir():
            p.unlink()
        (tmp_path / "gone").rmdir()
        (tmp_path / "gone").write_text("now a file, not a folder")  # SQLite cannot open anything
        app.state.riskscore.engine.dispose()
        r = c.post("/v1/scores", json={"students": [student()]}, headers={"X-API-Key": "rsk_a_b"})
        assert r.status_code == 503 and r.json()["error"].startswith("the database is unavailable")
        assert c.get("/readyz").status_code == 503


def test_500_is_generic_and_logged_without_personal_data(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    import riskscore.api.routes.scores as scores_route

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("secret student S-SECRET broke it")

    monkeypatch.setattr(scores_route, "score_students", boom)
    logger = logging.getLogger("riskscore.api")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda rec: records.append(logger.handlers[0].format(rec))  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        r = score(env, "school_a", student("S-SECRET"))
    finally:
        logger.removeHandler(handler)
    assert r.status_code == 500 and "S-SECRET" not in r.text and "Traceback" not in r.text
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert records and not any("S-SECRET" in line or "rsk_" in line for line in records)
    lines = [json.loads(line) for line in records]
    assert any(x.get("error_type") == "RuntimeError" for x in lines)
    assert any(x.get("route") == "/v1/scores" and x.get("status") == 500 for x in lines)


def test_request_log_uses_route_templates(env: dict[str, Any]) -> None:
    logger = logging.getLogger("riskscore.api")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda rec: records.append(logger.handlers[0].format(rec))  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        env["client"].get("/v1/students/PRIVATE-7/score", headers=auth(env, "school_a"))
    finally:
        logger.removeHandler(handler)
    assert records and all("PRIVATE-7" not in line for line in records)
    assert json.loads(records[-1])["route"] == "/v1/students/{student_id}/score"


# --- the model -------------------------------------------------------------------------------------
def test_model_info_and_card(env: dict[str, Any]) -> None:
    c = env["client"]
    info = c.get("/v1/models/current", headers=auth(env, "data_team")).json()
    assert info["version"] == "test-1" and info["metrics"] == {"auc": 0.8} and info["features"] == list(FEATURES)
    assert info["card_url"] == "/v1/models/current/card"
    card = c.get(info["card_url"], headers=auth(env, "school_a"))
    assert card.status_code == 200 and card.text.startswith("# Model card") and "markdown" in card.headers["content-type"]


def test_card_404_when_absent(tmp_path: Path, bundle_dir: Path) -> None:
    bare = build_bundle(tmp_path / "bare", card=False)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = create_app(Settings(home=tmp_path, database_url=url, bundle_path=bare))
    with TestClient(app) as c:
        engine = make_engine(url)
        _, key = create_key(session_factory(engine)(), "data_team", "all", [], "d")
        assert c.get("/v1/models/current", headers={"X-API-Key": key}).json()["card_url"] is None
        assert c.get("/v1/models/current/card", headers={"X-API-Key": key}).status_code == 404
        engine.dispose()


def test_service_start_path_imports_no_mlflow(bundle_dir: Path, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom fastapi.testclient import TestClient\nfrom riskscore.api import create_app\n"
        "from riskscore.settings import Settings\n"
        f"app = create_app(Settings(home={str(tmp_path)!r}, bundle_path={str(bundle_dir)!r}))\n"
        "with TestClient(app) as c:\n    assert c.get('/readyz').status_code == 200\n"
        "print(sorted(m for m in ('mlflow', 'evidently', 'fairlearn', 'lightgbm', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_polling_swaps_in_a_new_champion(bundle_dir: Path, tmp_path: Path) -> None:
    import time

    newer = build_bundle(tmp_path / "newer", version="test-9", card=False)
    source = {"dir": bundle_dir}
    app = create_app(Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", reload_poll_seconds=0.05),
                     bundle_loader=lambda: ModelBundle.load(source["dir"]))
    with TestClient(app) as c:
        assert c.get("/readyz").json()["model_version"] == "test-1"
        source["dir"] = tmp_path / "broken"  # a broken candidate is refused; the old model keeps serving
        time.sleep(0.2)
        assert c.get("/readyz").json()["model_version"] == "test-1"
        source["dir"] = newer
        deadline = time.monotonic() + 5
        while c.get("/readyz").json()["model_version"] != "test-9" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/readyz").json()["model_version"] == "test-9"
        assert 'riskscore_model_reloads_total{outcome="rejected"}' in c.get("/metrics").text


def test_serve_refuses_a_missing_bundle_folder() -> None:
    out = subprocess.run([sys.executable, "-m", "riskscore.cli", "serve", "--bundle", "./no/such/bundle"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no such folder" in out.stderr


def test_bsn_like_ids_are_refused_and_never_stored(env: dict[str, Any]) -> None:
    from riskscore.api.schemas import is_bsn_like

    assert is_bsn_like("111222333") and is_bsn_like("123456782") and not is_bsn_like("123456789")
    assert not is_bsn_like("S033840") and not is_bsn_like("p-4f2a9c")
    r = score(env, "school_a", student("123456782"))
    assert r.status_code == 422 and "BSN" in r.text and "student_id" in r.text
    client = env["client"]
    r = client.get("/v1/students/123456782/score", headers=auth(env, "school_a"))
    assert r.status_code == 422 and "student_id" in r.text
    assert "123456782" not in r.text  # the input is not echoed back
    from riskscore.store.models import AuditEntry, Score

    s = env["session"]
    s.rollback()  # a fresh snapshot
    assert not s.query(Score).filter(Score.student_id == "123456782").count()
    assert not s.query(AuditEntry).filter(AuditEntry.resource.contains("123456782")).count()


def test_out_of_scope_scoring_attempt_is_audited_as_denied(env: dict[str, Any]) -> None:
    from riskscore.store.models import AuditEntry

    r = score(env, "school_b", student("S-DENIED-1", school="01AB"))
    assert r.status_code == 403
    s = env["session"]
    s.rollback()
    rows = s.query(AuditEntry).filter(AuditEntry.resource == "student:S-DENIED-1").all()
    assert [(e.action, e.outcome) for e in rows] == [("score.write", "denied")]
