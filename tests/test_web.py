"""The care team's web pages through TestClient: sign-in, session cookie, CSRF, languages, scope,
filters, the review form (post/redirect/get) and the audit trail. A tiny bundle and hand-made scores
and cases, so every expectation is known in advance."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from conftest import sign_in_person
from riskscore.api import create_app
from riskscore.settings import Settings
from riskscore.store.audit import list_audit, verify_chain
from riskscore.store.cases import case_history, case_outcomes, list_worklist, open_or_update_case
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import UserSession, utcnow
from riskscore.store.runs import write_scoring_run
from riskscore.store.users import create_user, set_active
from riskscore.store.web_sessions import find_session, token_digest
from riskscore.testing import register_places
from riskscore.web import i18n
from riskscore.web.auth import SESSION_COOKIE
from test_api import build_bundle

AS_OF = dt.date(2025, 3, 3)
NOTICE_NL = "Dit is een signaal voor een gesprek, geen besluit."
SICK_TEXT = "langste ziekteperiode 12 schooldagen"


def _reason(code: str, feature: str, category: str, value: float, contribution: float, nl: str, en: str) -> dict[str, Any]:
    return {"code": code, "feature": feature, "category": category, "value": value, "contribution": contribution,
            "text_nl": nl, "text_en": en}


ABSENCE = _reason("ABS_UNAUTH_4W", "unauthorised_hours_4w", "absence", 18.0, 0.9,
                  "18 uur ongeoorloofd verzuim in de laatste 4 lesweken",
                  "18 hours of unauthorised absence in the last 4 lesson weeks")
SICK = _reason("SICK_LONG", "longest_sick_spell_days", "sick", 12.0, 0.5, SICK_TEXT, "longest sick spell 12 school days")
PROTECTIVE = _reason("LEVEL", "level_code", "context", 4.0, -0.3, "onderwijsniveau havo", "education level havo")
STUDENTS = [  # id, school, municipality, probability, band, reasons, triggers
    ("W-A1", "01AB", "GM0363", 0.62, "high", [ABSENCE, SICK, PROTECTIVE],
     [{"id": "leerplicht_16h_4w", "source": "Leerplichtwet 1969", "role": "leerplicht", "fired_on": "2025-02-28",
       "due_date": "2025-03-07", "detail": "18 uur in 4 lesweken"},
      {"id": "mazl_long", "source": "MAZL (NCJ)", "role": "jeugdarts", "fired_on": "2025-02-20", "due_date": None,
       "detail": "12 schooldagen ziek"}]),
    ("W-A2", "01AB", "GM0363", 0.21, "medium", [ABSENCE], []),
    ("W-A3", "01AC", "GM0363", 0.08, "low", [PROTECTIVE], []),
    ("W-B1", "02CD", "GM0599", 0.55, "high", [ABSENCE], []),
]


BASE = {"scale": "log_odds", "value": -3.1, "probability": 0.043, "excess": 1.78, "other": 0.88,
        "text_nl": "bij onderwijsniveau havo is de gebruikelijke kans 4,3 %",
        "text_en": "at education level havo the usual probability is 4.3 %"}


def _seed(session: Any) -> dict[str, int]:
    register_places(session, [(sid, school, gm, "RMC27") for sid, school, gm, *_ in STUDENTS], school_year="2024-25")
    run = write_scoring_run(session, as_of=AS_OF, model_version="test-1", scores=[
        {"student_id": sid, "school_id": school, "municipality": gm, "rmc_region": "RMC27", "age": 15.0,
         "probability": p, "band": band, "reasons": reasons, "triggers": triggers,
         "roles": ["school", "leerplicht"], "base": BASE if sid == "W-A2" else None}
        for sid, school, gm, p, band, reasons, triggers in STUDENTS])
    ids: dict[str, int] = {}
    for sid, school, gm, p, band, _, _ in STUDENTS:
        due = dt.date(2025, 3, 10) if sid == "W-A2" else None  # a legal date puts W-A2 first despite its lower p
        reason = "rule:leerplicht_16h_4w" if sid == "W-A2" else "capacity"  # the school must report 16 h to DUO
        case, _ = open_or_update_case(session, student_id=sid, role="school", reason=reason, as_of=AS_OF,
                                      school_id=school, municipality=gm, rmc_region="RMC27", probability=p, band=band,
                                      due_date=due, opened_by_run=run.id)
        ids[f"school:{sid}"] = case.id
    case, _ = open_or_update_case(session, student_id="W-A1", role="leerplicht", reason="rule:leerplicht_16h_4w",
                                  as_of=AS_OF, school_id="01AB", municipality="GM0363", rmc_region="RMC27",
                                  probability=0.62, band="high", due_date=dt.date(2025, 3, 7), opened_by_run=run.id)
    ids["leerplicht:W-A1"] = case.id
    case, _ = open_or_update_case(session, student_id="W-A1", role="jeugdarts", reason="rule:mazl_long", as_of=AS_OF,
                                  school_id="01AB", municipality="GM0363", rmc_region="RMC27", probability=0.62,
                                  band="high", opened_by_run=run.id)
    ids["jeugdarts:W-A1"] = case.id
    return ids


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("web-home")
    bundle = build_bundle(home / "bundle")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    keys: dict[str, str] = {}
    key_ids: dict[str, str] = {}
    people: dict[str, str] = {}  # who -> user id
    for name, role, kind, values in [
        ("school_a", "school", "school", ["01AB", "01AC"]),
        ("school_b", "school", "school", ["02CD"]),
        ("jeugdarts", "jeugdarts", "municipality", ["GM0363"]),
        ("leerplicht", "leerplicht", "municipality", ["GM0363"]),
        ("data_team", "data_team", "all", []),
        ("admin", "admin", "all", []),
        ("revokable", "school", "school", ["01AB"]),
    ]:
        key_ids[name], keys[name] = create_key(session, role, kind, values, f"{name} key")  # machines: the API
        people[name] = create_user(session, display_name=f"{name} label", email=f"{name}@web.example", role=role,
                                   scope_kind=kind, scope_values=values).id
    cases = _seed(session)
    secret = secrets.token_urlsafe(32)
    settings = Settings(home=home, database_url=url, bundle_path=bundle, session_secret=SecretStr(secret))
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"app": app, "client": client, "keys": keys, "key_ids": key_ids, "people": people, "session": session,
               "cases": cases, "home": home, "settings": settings, "secret": secret}
    session.close()
    engine.dispose()


def browser(web: dict[str, Any]) -> TestClient:
    """A fresh client (its own cookie jar) on the running app."""
    return TestClient(web["app"], raise_server_exceptions=False)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(web: dict[str, Any], who: str, client: TestClient | None = None) -> TestClient:
    """A client with a fresh session of this person (as a sign-in makes it: a new server-side session)."""
    client = client or browser(web)
    _actor, token = sign_in_person(web["session"], web["secret"], role="", user_id=web["people"][who])
    client.cookies.set(SESSION_COOKIE, token)
    return client


def actor(web: dict[str, Any], who: str) -> str:
    """What the audit log and case history record for this person."""
    return f"user:{web['people'][who]}"


def main_text(html: str) -> str:
    """The page's <main> without tags (what a reader sees), request ids removed."""
    body = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# --- sign in, session cookie, CSRF ---------------------------------------------------------------
def test_root_redirects_to_login_then_worklist(web: dict[str, Any]) -> None:
    c = browser(web)
    assert c.get("/", follow_redirects=False).headers["location"] == "/login"
    r = c.get("/worklist", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fworklist")
    sign_in(web, "school_a", c)
    assert c.get("/", follow_redirects=False).headers["location"] == "/worklist"
    dt_client = sign_in(web, "data_team")
    assert dt_client.get("/", follow_redirects=False).headers["location"] == "/monitoring"


def test_session_cookie_is_an_opaque_token_whose_keyed_digest_alone_is_stored(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    token = c.cookies.get(SESSION_COOKIE)
    assert token and c.get("/worklist").status_code == 200
    session = web["session"]
    rows = list(session.scalars(select(UserSession).where(UserSession.user_id == web["people"]["school_a"])))
    assert rows and all(token not in (r.token_digest, r.id, r.csrf) for r in rows)
    assert any(r.token_digest == token_digest(web["secret"].encode(), token) for r in rows)
    # a token that is not in the store, or that differs by one character, opens nothing
    for forged in (secrets.token_urlsafe(32), token[:-1] + ("A" if token[-1] != "A" else "B")):
        f = browser(web)
        f.cookies.set(SESSION_COOKIE, forged)
        r = f.get("/worklist", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_secure_cookie_over_https(web: dict[str, Any]) -> None:
    c = TestClient(web["app"], base_url="https://testserver")
    r = c.get("/login")
    assert "secure" in r.headers["set-cookie"].lower()


def test_web_sign_in_with_an_api_key_is_gone(web: dict[str, Any]) -> None:
    """Web pages are for people: a machine key opens no web session (the form and route are gone)."""
    c = browser(web)
    page = c.get("/login")
    assert "API-sleutel" not in page.text and 'name="api_key"' not in page.text
    assert "niet ingesteld" in page.text  # no identity provider configured in this app: it says so
    r = c.post("/login", data={"api_key": web["keys"]["school_a"], "csrf_token": "x" * 43}, follow_redirects=False)
    assert r.status_code == 404 and "Traceback" not in r.text
    assert SESSION_COOKIE not in c.cookies
    assert c.get("/worklist", follow_redirects=False).status_code == 303
    # the same key still works on the API
    assert web["client"].get("/v1/students/W-A1/score",
                             headers={"Authorization": f"Bearer {web['keys']['school_a']}"}).status_code == 200


def test_csrf_token_is_required_on_every_post(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    case_id = web["cases"]["school:W-A3"]
    for data in ({"to_status": "in_review"}, {"csrf_token": "x" * 43, "to_status": "in_review"}):
        r = c.post(f"/cases/{case_id}/review", data=data)
        assert r.status_code == 403 and "Formulier verlopen" in r.text
    # a token from another session does not work either
    other = sign_in(web, "school_a")
    other_token = csrf_of(other.get("/worklist").text)
    mine = sign_in(web, "school_a")
    assert csrf_of(mine.get("/worklist").text) != other_token  # one token per session
    r = mine.post(f"/cases/{case_id}/review", data={"csrf_token": other_token, "to_status": "in_review"})
    assert r.status_code == 403
    r = mine.post("/logout", data={})
    assert r.status_code == 403
    assert mine.get("/worklist").status_code == 200  # still signed in: a logout needs the token too
    assert list_worklist(web["session"], role="school", statuses=None)  # nothing changed
    assert [e.action for e in case_history(web["session"], case_id)] == ["open"]


def test_next_parameter_is_never_an_open_redirect(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = c.get(f"/login?{urlencode({'next': target})}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/worklist", target
    r = c.get("/login?next=/students/W-A1", follow_redirects=False)
    assert r.headers["location"] == "/students/W-A1"


def test_logout_ends_the_session_and_the_old_cookie_opens_nothing(web: dict[str, Any]) -> None:
    """Break 5: logout used to clear the cookie in the browser only; a copy of it still read pupils'
    pages and saved reviews. Now the session ends in the store."""
    c = sign_in(web, "school_a")
    old = c.cookies.get(SESSION_COOKIE)
    token = csrf_of(c.get("/worklist").text)
    assert c.get("/logout").status_code == 200  # a confirmation form, never a state change on GET
    assert c.get("/worklist", follow_redirects=False).status_code == 200
    r = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?logged_out=1"
    assert 'max-age=0' in r.headers["set-cookie"].lower() or "expires" in r.headers["set-cookie"].lower()
    assert "U bent afgemeld" in c.get("/login?logged_out=1").text
    assert c.get("/worklist", follow_redirects=False).status_code == 303
    # the copied cookie: pages, dossier and the review form all refuse it
    thief = browser(web)
    thief.cookies.set(SESSION_COOKIE, old)
    for path in ("/worklist", "/students/W-A1", "/students/W-A1/dossier"):
        r = thief.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    case_id = web["cases"]["school:W-A3"]
    r = thief.post(f"/cases/{case_id}/review", data={"csrf_token": token, "note": "after logout"},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    web["session"].expire_all()
    assert all(e.note != "after logout" for e in case_history(web["session"], case_id))
    assert list_audit(web["session"], actor=actor(web, "school_a"))[0].action == "web.logout"


def test_deactivating_the_person_ends_their_web_session(web: dict[str, Any]) -> None:
    c = sign_in(web, "revokable")
    assert c.get("/worklist").status_code == 200
    set_active(web["session"], web["people"]["revokable"], False)
    try:
        r = c.get("/worklist", follow_redirects=False)
        assert r.status_code == 303 and "expired=1" in r.headers["location"]
        assert "sessie is beëindigd" in c.get(r.headers["location"]).text
    finally:
        set_active(web["session"], web["people"]["revokable"], True)
    assert c.get("/worklist", follow_redirects=False).status_code == 303  # ended stays ended


def test_idle_and_absolute_lifetime_end_a_session(web: dict[str, Any]) -> None:
    session = web["session"]
    key = web["secret"].encode()
    for shift, expected in ((dt.timedelta(minutes=29), None), (dt.timedelta(minutes=31), "idle")):
        _actor, token = sign_in_person(session, web["secret"], role="", user_id=web["people"]["school_a"])
        later = utcnow() + shift
        found, why = find_session(session, token=token, secret=key, idle=dt.timedelta(minutes=30), now=later)
        assert why == expected and (found is None) == (expected is not None)
    _actor, token = sign_in_person(session, web["secret"], role="", user_id=web["people"]["school_a"])
    t = utcnow()
    for hour in range(1, 8):  # active every 20 minutes all day: never idle ...
        for minute in (0, 20, 40):
            found, why = find_session(session, token=token, secret=key, idle=dt.timedelta(minutes=30),
                                      now=t + dt.timedelta(hours=hour - 1, minutes=minute))
            assert found is not None, (hour, minute, why)
    found, why = find_session(session, token=token, secret=key, idle=dt.timedelta(minutes=30),
                              now=t + dt.timedelta(hours=8, minutes=1))
    assert found is None and why == "expired"  # ... but never longer than the absolute lifetime
    c = browser(web)
    c.cookies.set(SESSION_COOKIE, token)
    assert c.get("/worklist", follow_redirects=False).status_code == 303


# --- language and layout -------------------------------------------------------------------------
def test_dutch_by_default_english_by_link_and_cookie(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    nl = c.get("/worklist").text
    assert '<html lang="nl">' in nl and "<h1>Werklijst</h1>" in nl and NOTICE_NL in nl
    assert 'href="/worklist?lang=en"' in nl  # the switch link on every page
    r = c.get("/worklist?lang=en")
    assert '<html lang="en">' in r.text and "<h1>Worklist</h1>" in r.text
    assert "This is a signal for a conversation, not a decision." in r.text
    assert "lang=en" in r.headers["set-cookie"]
    assert "<h1>Worklist</h1>" in c.get("/worklist").text  # remembered
    assert "<h1>Werklijst</h1>" in c.get("/worklist?lang=nl").text
    assert '<html lang="en">' in browser(web).get("/login?lang=en").text
    assert '<html lang="nl">' in browser(web).get("/login?lang=xx").text  # unknown language: default


def test_every_page_has_layout_accessibility_and_security_headers(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    for path in ("/worklist", "/students/W-A1", "/model", "/login"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert 'class="skip-link" href="#main"' in r.text and 'id="main"' in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
        assert "<script" not in r.text
        for control in re.findall(r'<(?:select|textarea|input)[^>]*\bid="([^"]+)"', r.text):
            assert f'for="{control}"' in r.text, (path, control)
        assert '<th scope="col">' in r.text or path in ("/login", "/students/W-A1")


def test_every_text_has_both_languages_and_templates_use_known_keys() -> None:
    for key, (nl, en) in i18n.TEXTS.items():
        assert nl.strip() and en.strip(), key
    folder = Path(i18n.__file__).parent / "templates"
    used = set()
    for path in folder.glob("*.html"):
        used |= set(re.findall(r'\bt\(\s*"([a-z0-9_]+)"', path.read_text()))
        used |= set(re.findall(r"\bt\(\s*'([a-z0-9_]+)'", path.read_text()))
    assert used and used <= set(i18n.TEXTS), used - set(i18n.TEXTS)


# --- worklist ------------------------------------------------------------------------------------
def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-student="([^"]+)"', html)


def test_worklist_is_scoped_ordered_and_filtered(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    html = c.get("/worklist").text
    assert rows_of(html) == ["W-A2", "W-A1", "W-A3"]  # legal due date first, then probability; no school B
    text = main_text(html)
    assert "62,0%" in text and "hoog" in text
    # W-A2: the school's legal duty (report the 16 hours to DUO) is long past: "Verlopen" in words, counted at
    # the top, apart from every row's next step with its target date
    assert "Melden bij DUO vóór 10 maart 2025 — Verlopen (" in text and "streefdatum" in text
    assert "Verlopen: 1 melding bij DUO is te laat." in text
    assert "Verwachte echte gevallen in deze lijst: 0,9" in html  # 0.62 + 0.21 + 0.08
    assert SICK_TEXT not in html and "gezondheidssignaal" in html  # health detail withheld from the school
    assert rows_of(c.get("/worklist?band=high").text) == ["W-A1"]
    assert rows_of(c.get("/worklist?school=01AC").text) == ["W-A3"]
    assert rows_of(c.get("/worklist?school=02CD").text) == []  # another school's id shows nothing
    assert "Geen casussen met deze filters" in c.get("/worklist?school=02CD").text
    assert rows_of(c.get("/worklist?status=closed").text) == []
    assert rows_of(c.get("/worklist?band=nonsense&status=bogus").text) == ["W-A2", "W-A1", "W-A3"]
    en = c.get("/worklist?lang=en&band=high").text
    assert "Expected true cases in this list: 0.6" in en and "62.0%" in en and ">high<" in en
    # school B sees only its own pupil
    assert rows_of(sign_in(web, "school_b").get("/worklist").text) == ["W-B1"]


def test_admin_sees_no_pupil(web: dict[str, Any]) -> None:
    """Break 4 of the boundary issue (admin read jeugdarts notes): the administrator manages people, keys
    and the model, and sees no single pupil — no worklist, no pupil page (least privilege)."""
    c = sign_in(web, "admin")
    for path in ("/worklist", "/worklist?role=leerplicht", "/students/W-A1", "/students/W-A1/dossier"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert not any(sid in main_text(r.text).replace(path, "") for sid in ("W-A1", "W-A2", "W-B1")), path


def test_data_team_sees_aggregates_only(web: dict[str, Any]) -> None:
    c = sign_in(web, "data_team")
    for path in ("/worklist", "/students/W-A1"):
        r = c.get(path)
        assert r.status_code == 403 and "Geen toegang" in r.text and "W-A1" not in main_text(r.text).replace(path, "")
    r = c.get("/monitoring")
    assert r.status_code == 200 and "nog geen monitoringrapport" in r.text
    assert sign_in(web, "school_a").get("/monitoring").status_code == 403


def test_monitoring_page_shows_the_latest_verdict(web: dict[str, Any]) -> None:
    run = web["settings"].resolved_reports_dir() / "monitoring" / "20250301T000000Z"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({
        "status": "alert", "created_at": "2025-03-01T00:00:00Z", "model_version": "test-1",
        "breaches": [{"check": "selection_rate", "subject": "gender=f", "severity": "alert",
                      "message": "flag rate up 4 points", "action": "review the threshold"}],
        "score_drift": {"psi": 0.31}, "flag_rate_current": 0.12}))
    try:
        html = sign_in(web, "admin").get("/monitoring?lang=en").text
        assert "Verdict: alert" in html and "flag rate up 4 points" in html and "0.310" in html
    finally:
        (run / "summary.json").unlink()
        run.rmdir()


# --- one student ---------------------------------------------------------------------------------
def test_student_page_shows_score_reasons_triggers_and_cases(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    r = c.get("/students/W-A1")
    assert r.status_code == 200
    text = main_text(r.text)
    assert "62,0%" in text and "18 uur ongeoorloofd verzuim" in text
    assert r.text.count('<svg class="bar"') == 2  # absence and the protective level; the sick one withheld
    assert 'class="neg"' in r.text and 'class="pos"' in r.text
    assert "Leerplichtwet 1969" in text and "uiterlijk 7 maart 2025" in text
    assert SICK_TEXT not in text and "12 schooldagen ziek" not in text
    assert f"Casus {web['cases']['school:W-A1']}" in text
    assert f"Casus {web['cases']['leerplicht:W-A1']}" not in text  # another role's case stays hidden
    doctor = sign_in(web, "jeugdarts").get("/students/W-A1").text
    assert SICK_TEXT in doctor and "12 schooldagen ziek" in doctor
    assert f"Casus {web['cases']['jeugdarts:W-A1']}" in main_text(doctor)


def test_student_page_shows_the_context_as_the_base(web: dict[str, Any]) -> None:
    """The pupil's context (level, age) is the base line above the reasons, never a reason of its own."""
    c = sign_in(web, "school_a")
    assert "Bij onderwijsniveau havo is de gebruikelijke kans 4,3 %." in main_text(c.get("/students/W-A2").text)
    assert "At education level havo the usual probability is 4.3 %." in main_text(c.get("/students/W-A2?lang=en").text)
    assert "gebruikelijke kans" not in main_text(c.get("/students/W-A1").text)  # a score stored without a base


def test_out_of_scope_and_unknown_students_get_the_same_404(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_b")
    pages = [c.get(f"/students/{sid}") for sid in ("W-A1", "NEVER-SCORED", "bad id!")]
    assert [p.status_code for p in pages] == [404, 404, 404]
    texts = {main_text(p.text) for p in pages}
    assert len(texts) == 1 and "valt buiten uw bevoegdheid" in texts.pop()
    session = web["session"]
    assert list_audit(session, resource="student:W-A1")[0].outcome == "denied"
    assert list_audit(session, resource="student:NEVER-SCORED")[0].outcome == "not_found"
    # the leerplicht officer of GM0363 does not see GM0599's pupil
    assert sign_in(web, "leerplicht").get("/students/W-B1").status_code == 404


def test_every_student_view_is_audited_with_a_purpose(web: dict[str, Any]) -> None:
    session = web["session"]
    before = len(list_audit(session, resource="student:W-A2", limit=1000))
    sign_in(web, "school_a").get("/students/W-A2")
    entries = list_audit(session, resource="student:W-A2", limit=1000)
    assert len(entries) == before + 1
    e = entries[0]
    assert (e.action, e.outcome, e.role, e.purpose, e.actor) == ("student.view", "allowed", "school", "signalering",
                                                                  actor(web, "school_a"))
    assert e.request_id
    assert list_audit(session, resource="worklist:school")[0].action == "worklist.read"
    assert verify_chain(session).ok


def test_review_outcome_is_saved_redirected_and_shown_after_reload(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    case_id = web["cases"]["school:W-A1"]
    token = csrf_of(c.get("/students/W-A1").text)
    r = c.post(f"/cases/{case_id}/review", follow_redirects=False, data={
        "csrf_token": token, "to_status": "in_review", "outcome": "conversation_held", "worth_conversation": "yes",
        "note": "Gesprek met mentor gepland."})
    assert r.status_code == 303
    assert r.headers["location"] == f"/students/W-A1?saved={case_id}#case-{case_id}"
    page = c.get(r.headers["location"]).text
    text = main_text(page)
    assert "Opgeslagen." in text and "gesprek gevoerd" in text and "Gesprek met mentor gepland." in text
    assert "status: in behandeling" in text and "school_a label" in text  # who: the key's label
    reloaded = main_text(c.get("/students/W-A1").text)
    assert "Opgeslagen." not in reloaded and "gesprek gevoerd" in reloaded
    session = web["session"]
    session.expire_all()
    events = case_history(session, case_id)
    assert [(e.action, e.to_status) for e in events] == [("open", "open"), ("status", "in_review"),
                                                         ("outcome", "in_review")]
    assert events[-1].actor == actor(web, "school_a")
    (outcome,) = case_outcomes(session, case_id)
    assert (outcome.outcome, outcome.worth_conversation, outcome.note) == (
        "conversation_held", True, "Gesprek met mentor gepland.")
    entry = list_audit(session, resource=f"case:{case_id}")[0]
    assert (entry.action, entry.outcome, entry.purpose) == ("case.review", "allowed", "beoordeling")
    # English after the fact: the same history in English words
    assert "conversation held" in c.get("/students/W-A1?lang=en").text


def test_review_form_errors_are_clear_and_save_nothing(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_a")
    case_id = web["cases"]["school:W-A2"]
    token = csrf_of(c.get("/students/W-A2").text)
    cases = [
        ({"outcome": "conversation_held"}, "of het signaal een gesprek waard was"),
        ({}, "Kies een nieuwe status of een uitkomst"),
        ({"to_status": "referred"}, "niet toegestaan"),  # open → referred skips a step
        ({"outcome": "<script>"}, "Kies een uitkomst uit de lijst"),
        ({"note": "x" * 2500}, "maximaal 2000 tekens"),
    ]
    for data, message in cases:
        r = c.post(f"/cases/{case_id}/review", data={"csrf_token": token, **data})
        assert r.status_code == 400 and message in r.text, (data, r.status_code)
        assert "Traceback" not in r.text and "<script>" not in r.text
    web["session"].expire_all()
    assert [e.action for e in case_history(web["session"], case_id)] == ["open"]
    assert case_outcomes(web["session"], case_id) == []


def test_review_of_a_case_outside_scope_or_role_is_404(web: dict[str, Any]) -> None:
    c = sign_in(web, "school_b")
    token = csrf_of(c.get("/worklist").text)
    for case_id in (web["cases"]["school:W-A3"], 999_999):
        r = c.post(f"/cases/{case_id}/review", data={"csrf_token": token, "note": "probe"})
        assert r.status_code == 404
    # school A cannot write into the leerplicht officer's case of its own pupil
    a = sign_in(web, "school_a")
    token = csrf_of(a.get("/worklist").text)
    assert a.post(f"/cases/{web['cases']['leerplicht:W-A1']}/review",
                  data={"csrf_token": token, "note": "probe"}).status_code == 404
    assert a.post("/cases/not-a-number/review", data={"csrf_token": token}).status_code in (400, 404)


# --- model ---------------------------------------------------------------------------------------
def test_model_page_shows_version_metrics_and_card(web: dict[str, Any]) -> None:
    c = sign_in(web, "data_team")
    html = c.get("/model?lang=en").text
    assert 'id="model-version">test-1<' in html and "auc" in html and "0.800" in html
    assert "Tiny test model." in html  # the bundle's model_card.md, rendered in the layout
    assert c.get("/model/card").status_code == 404  # no HTML card in this bundle
    folder = web["app"].state.riskscore.require_loaded().folder
    (folder / "model_card.html").write_text("<!doctype html><title>card</title><h1>Full card</h1>")
    try:
        assert 'href="/model/card"' in c.get("/model").text
        r = c.get("/model/card")
        assert r.status_code == 200 and "Full card" in r.text and "script-src" not in r.headers["content-security-policy"]
    finally:
        (folder / "model_card.html").unlink()
    assert browser(web).get("/model/card", follow_redirects=False).status_code == 303


def test_api_still_answers_json(web: dict[str, Any]) -> None:
    r = web["client"].get("/v1/students/W-A1/score", headers={"Authorization": f"Bearer {web['keys']['school_a']}"})
    assert r.status_code == 200 and r.json()["student_id"] == "W-A1"
    assert "set-cookie" not in r.headers
