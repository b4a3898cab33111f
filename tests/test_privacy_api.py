"""The pupil's rights through the API (TestClient on a real SQLite store): the dossier shows the scores,
triggers and who looked; an objection is stored, audited and withdrawn; erasure is admin-only, needs a
reason, leaves nothing of the pupil (database and files) and `riskscore audit verify` still passes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from conftest import TEST_SESSION_SECRET, sign_in_person
from riskscore.api import create_app
from riskscore.cli import app as cli_app
from riskscore.settings import Settings
from riskscore.store.audit import list_audit, verify_chain
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.erasure import registry
from riskscore.store.keys import create_key
from riskscore.store.models import Base
from riskscore.store.users import create_user
from riskscore.testing import register_pupils
from riskscore.web.auth import SESSION_COOKIE
from test_api import build_bundle, student


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("rights-api")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        specs = [("school", "school", "school", ["01AB"], "mentor"), ("other", "school", "school", ["02CD"], "other school"),
                 ("admin", "admin", "all", [], "fg"), ("data_team", "data_team", "all", [], "dt")]
        keys = {name: create_key(s, role, kind, values, label)[1] for name, role, kind, values, label in specs}
        people = {name: create_user(s, display_name=label, email=f"{name}@rights.example", role=role, scope_kind=kind,
                                    scope_values=values).id for name, role, kind, values, label in specs}
    app = create_app(Settings(home=home, database_url=url, bundle_path=build_bundle(home / "bundle"),
                              log_level="WARNING", session_secret=SecretStr(TEST_SESSION_SECRET)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "keys": keys, "people": people, "sessions": sessions, "url": url, "home": home,
               "engine": engine}
    engine.dispose()


def call(env: dict[str, Any], who: str, method: str, url: str, **kw: Any) -> Any:
    if url == "/v1/scores" and method == "POST":  # the pupils' registrations come from an import first
        with env["sessions"]() as s:
            register_pupils(s, kw["json"]["students"])
    return env["client"].request(method, url, headers={"X-API-Key": env["keys"][who]}, **kw)


def test_dossier_objection_and_erasure(env: dict[str, Any]) -> None:
    sid = "S8000001"
    r = call(env, "school", "POST", "/v1/scores", json={"students": [
        student(sid), student("S8000002")]})  # 35 unauthorised hours: the service finds leerplicht_16h_4w
    assert r.status_code == 200, r.text
    call(env, "school", "GET", f"/v1/students/{sid}/score")
    d = call(env, "school", "GET", f"/v1/students/{sid}/dossier")
    assert d.status_code == 200, d.text
    body = d.json()
    assert body["scores"] and body["objection"] is None and "geen besluit" in body["notice_nl"]
    assert {e["action"] for e in body["access_log"]} >= {"score.read"}
    assert {e["who_label"] for e in body["access_log"]} == {"mentor"}  # the key's label, never the key
    assert "S8000002" not in d.text
    # another school: exactly like a pupil nothing is stored about
    assert call(env, "other", "GET", f"/v1/students/{sid}/dossier").status_code == 404
    # objection: reason required; then stored, shown in the dossier, audited
    assert call(env, "school", "POST", f"/v1/students/{sid}/objection", json={"reason": ""}).status_code == 422
    o = call(env, "school", "POST", f"/v1/students/{sid}/objection", json={"reason": "ouders willen dit niet"})
    assert o.status_code == 200 and o.json()["objecting"] is True
    after = call(env, "school", "GET", f"/v1/students/{sid}/dossier").json()
    assert after["objection"]["reason"] == "ouders willen dit niet"
    # the model's part of the earlier scores went with the objection; the legal signals stay
    assert after["scores"] and all(s["probability"] is None and s["reasons"] == [] for s in after["scores"])
    with env["sessions"]() as s:
        actions = [e.action for e in list_audit(s, resource=f"student:{sid}")]
    assert "privacy.objection.set" in actions and "dossier.read" in actions
    w = call(env, "school", "DELETE", f"/v1/students/{sid}/objection")
    assert w.status_code == 200 and w.json()["objecting"] is False
    assert call(env, "school", "POST", "/v1/scores", json={"students": [student(sid)]}).status_code == 200
    # erasure: admin only, with a reason
    for who in ("school", "data_team"):
        assert call(env, who, "POST", f"/v1/admin/students/{sid}/erasure", json={"reason": "x"}).status_code == 403
    assert call(env, "admin", "POST", f"/v1/admin/students/{sid}/erasure", json={}).status_code == 422
    e = call(env, "admin", "POST", f"/v1/admin/students/{sid}/erasure", json={"reason": "verzoek ouders"})
    assert e.status_code == 200, e.text
    assert e.json()["receipt"].startswith("ERA-") and e.json()["rows"]["scores"] == 1
    assert e.json()["audit_entries_erased"] >= 4
    with env["engine"].connect() as conn:
        for t in Base.metadata.sorted_tables:
            if "student_id" in t.c:
                assert conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.student_id == sid)).scalar_one() == 0
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM audit_log")) for v in row)
    assert sid not in dump and "S8000002" in dump
    assert registry(Settings(home=env["home"]).erasure_roots()).holders(sid).files == {}  # frames, reports
    for path in env["home"].glob("rs.db*"):  # the database files themselves: secure_delete + WAL checkpoint
        assert sid.encode() not in path.read_bytes(), path
    assert call(env, "school", "GET", f"/v1/students/{sid}/dossier").status_code == 404
    with env["sessions"]() as s:
        assert verify_chain(s).ok
    assert CliRunner().invoke(cli_app, ["audit", "verify", "--database-url", env["url"]]).exit_code == 0


def test_api_never_stores_a_model_score_of_an_objecting_pupil(env: dict[str, Any]) -> None:
    """Setting the objection removes the model part of the pupil's stored scores, and the scoring core
    never gives them a new one (ServiceState.objecting): what is kept is the rules-only result. Other
    pupils in the same request are scored and stored as usual."""
    from riskscore.store.models import Score
    from riskscore.store.privacy import set_objection

    assert call(env, "school", "POST", "/v1/scores", json={"students": [student("OBJ-A1")]}).status_code == 200
    with env["sessions"]() as s:
        set_objection(s, "OBJ-A1", reason="ouders", actor="key:fg")
    r = call(env, "school", "POST", "/v1/scores", json={"students": [student("OBJ-A1"), student("FREE-A1")]})
    assert r.status_code == 200, r.text
    with env["sessions"]() as s:
        rows = {sid: p for sid, p in s.execute(sa.select(Score.student_id, Score.probability).where(
            Score.student_id.in_(["OBJ-A1", "FREE-A1"])))}
    assert set(rows) == {"OBJ-A1", "FREE-A1"}
    assert rows["OBJ-A1"] is None and rows["FREE-A1"] is not None  # no model score is kept for the objector


def test_erasure_refuses_ids_that_are_not_pseudonyms(env: dict[str, Any]) -> None:
    """Break 6 of issue 21 at the API door: `0`, `1`, `S0` (and a BSN, a name-like id) are refused with a 422
    naming the field, before anything is touched — no audit entry, no receipt, the store unchanged."""
    assert call(env, "school", "POST", "/v1/scores", json={"students": [student("S8000100")]}).status_code == 200
    with env["sessions"]() as s:
        before = [(e.id, e.action) for e in list_audit(s, limit=10_000)]
    for bad in ("0", "1", "S0", "S12345", "s8000100", "RIGHTS-1", "A" * 64):
        r = call(env, "admin", "POST", f"/v1/admin/students/{bad}/erasure", json={"reason": "verzoek"})
        assert r.status_code == 422, (bad, r.text)
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["path", "student_id"] and "pseudonym" in detail["msg"], detail
    r = call(env, "admin", "POST", "/v1/admin/students/123456782/erasure", json={"reason": "verzoek"})
    assert r.status_code == 422 and "BSN" in r.json()["detail"][0]["msg"]
    with env["sessions"]() as s:
        after = [(e.id, e.action) for e in list_audit(s, limit=10_000)]
    assert [a for a in after if a not in before and a[1] == "privacy.erase"] == []
    with env["engine"].connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM scores WHERE student_id = 'S8000100'")).scalar_one() == 1
    # the web form: the same check, a plain message, nothing erased
    admin = _browser(env, "admin")
    form = admin.get("/admin/erasure")
    for bad in ("0", "S0"):
        r = admin.post("/admin/erasure", data={"csrf_token": _csrf(form.text), "student_id": bad, "reason": "verzoek",
                                               "confirm": "yes"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin/erasure?error=id"
    page = admin.get("/admin/erasure?error=id&lang=en")
    assert "This is not a pupil&#39;s pseudonym" in page.text
    assert "geen schuilnaam" in admin.get("/admin/erasure?error=id&lang=nl").text
    with env["sessions"]() as s:
        assert not [e for e in list_audit(s, limit=10_000) if (e.id, e.action) not in before and e.action == "privacy.erase"]


def test_bsn_like_ids_are_refused(env: dict[str, Any]) -> None:
    r = call(env, "school", "GET", "/v1/students/123456782/dossier")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "student_id"]


# --- the web pages ----------------------------------------------------------------------------------
def _browser(env: dict[str, Any], who: str) -> TestClient:
    """A browser with this person signed in (a fresh server-side session)."""
    client = TestClient(env["client"].app, raise_server_exceptions=False)
    with env["sessions"]() as s:
        client.cookies.set(SESSION_COOKIE, sign_in_person(s, TEST_SESSION_SECRET, role="",
                                                          user_id=env["people"][who])[1])
    return client


def _csrf(html: str) -> str:
    import re

    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_web_objection_dossier_erasure_and_impact(env: dict[str, Any]) -> None:
    sid = "S8000011"
    assert call(env, "school", "POST", "/v1/scores", json={"students": [student(sid)]}).status_code == 200
    mentor = _browser(env, "school")
    page = mentor.get(f"/students/{sid}/privacy")
    assert page.status_code == 200 and "Er is geen bezwaar vastgelegd" in page.text
    r = mentor.post(f"/students/{sid}/objection", data={"csrf_token": _csrf(page.text), "action": "set",
                                                        "reason": "ouders"}, follow_redirects=False)
    assert r.status_code == 303
    page = mentor.get(f"/students/{sid}/privacy?lang=en")
    assert "This pupil objected to the model" in page.text and "ouders" in page.text
    # without a CSRF token nothing is written
    assert mentor.post(f"/students/{sid}/objection", data={"action": "withdraw"}).status_code == 403
    dossier = mentor.get(f"/students/{sid}/dossier?lang=nl")
    assert dossier.status_code == 200 and "Je hebt bezwaar gemaakt" in dossier.text
    assert "sha256-" in dossier.headers["content-security-policy"] and "<script" not in dossier.text
    # another school's mentor: 404 like an unknown pupil; the data team: not a student page
    other = _browser(env, "other")
    assert other.get(f"/students/{sid}/dossier").status_code == 404
    assert other.get(f"/students/{sid}/privacy").status_code == 404
    assert _browser(env, "data_team").get(f"/students/{sid}/dossier").status_code == 403
    # erasure: admin only, reason and confirmation required
    assert mentor.get("/admin/erasure").status_code == 403
    admin = _browser(env, "admin")
    form = admin.get("/admin/erasure")
    assert form.status_code == 200
    r = admin.post("/admin/erasure", data={"csrf_token": _csrf(form.text), "student_id": sid, "reason": "",
                                           "confirm": "yes"}, follow_redirects=False)
    assert r.headers["location"] == "/admin/erasure?error=1"
    r = admin.post("/admin/erasure", data={"csrf_token": _csrf(form.text), "student_id": sid, "reason": "verzoek",
                                           "confirm": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and "receipt=ERA-" in r.headers["location"]
    assert "ERA-" in admin.get(r.headers["location"]).text
    assert mentor.get(f"/students/{sid}/dossier").status_code == 404
    # impact page: no report yet, then the newest report
    dt_browser = _browser(env, "data_team")
    assert "Er is nog geen impactrapport" in dt_browser.get("/impact").text
    assert mentor.get("/impact").status_code == 403
    folder = env["home"] / "reports" / "impact" / "20260101T000000Z"
    folder.mkdir(parents=True)
    (folder / "impact.json").write_text(json.dumps({"created_at": "2026-01-01T00:00:00Z", "runs": [{}], "n_rows": 9,
                                                    "notes": [], "estimates": [{
        "role": "school", "outcome": "absence_8w", "status": "ok", "estimate": -1.5, "ci_low": -2.5, "ci_high": -0.5,
        "n_left_h": 40, "n_right_h": 41, "first_stage": {"reviewed_left": 0.0, "reviewed_right": 0.8},
        "density_p": 0.4, "n_cutoffs": 17, "statement": "Het 95%-interval sluit 0 uit."}]}))
    page = dt_browser.get("/impact")
    assert page.status_code == 200 and "-1,5 uur" in page.text and "[-2,5; -0,5]" in page.text and "40 | 41" in page.text
    assert "Vergeleken teams" in page.text and "<td>17</td>" in page.text and "aan beide kanten" in page.text
    assert "Na een signaal minder ongeoorloofd verzuim" in page.text  # the conclusion in the page's language only
    assert "excludes" not in page.text
    # too few pupils to run the estimate: the count column and the conclusion give the same numbers
    data = json.loads((folder / "impact.json").read_text())
    data["estimates"].append({"role": "rmc", "outcome": "vsv_12m", "status": "too_small", "n_left": 11, "n_right": 12,
                              "n_left_h": 0, "n_right_h": 0, "first_stage": {}, "density_p": None, "statement": ""})
    (folder / "impact.json").write_text(json.dumps(data))
    page = dt_browser.get("/impact")
    assert "<td>11 | 12</td>" in page.text and "(11 links, 12 rechts)" in page.text
    english = dt_browser.get("/impact?lang=en").text
    assert "-1.5 hours" in english and "[-2.5, -0.5]" in english and "Less unauthorised absence after a flag" in english
