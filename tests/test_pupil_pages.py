"""The care team's pages on the review core, through TestClient: the worklist's order and its overdue
legal duties (marked "Verlopen" in words and counted at the top), the legal duty kept apart from the
next step, taking and handing over a case, the plan (a step becomes the next step on the worklist, done
→ the follow-up check six weeks later, its result), the school's report to DUO (leerplicht then sees that
it came), the letter to the parents (under 150 words, recorded), the timeline (hours and lates per lesson
week; sick dates for the jeugdarts only; said plainly when there is no data), and mentor groups (web and
API). Every form: POST + CSRF + redirect, and a mistake saves nothing and is named."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import sign_in_person
from riskscore import contracts, datasets
from riskscore.access import Principal
from riskscore.api import create_app
from riskscore.review import duties, letters
from riskscore.service.deps import get_principal
from riskscore.settings import Settings
from riskscore.store.audit import list_audit
from riskscore.store.cases import case_actions, case_history, get_case, open_or_update_case
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.models import ReviewCase, utcnow
from riskscore.store.registrations import sync_registrations
from riskscore.store.users import create_user
from riskscore.web.auth import SESSION_COOKIE
from test_api import build_bundle

#: the schools' day, set again when the site is built (a module collected before midnight in Amsterdam and
#: run after it would otherwise compare yesterday's dates with the pages' today)
TODAY = duties.today()
LATE = TODAY - dt.timedelta(days=3)  # pupil P-A's deadline: passed, not reported
SOON = TODAY + dt.timedelta(days=4)  # pupil P-B's deadline: still open


def _set_today() -> None:
    global TODAY, LATE, SOON
    TODAY = duties.today()
    LATE, SOON = TODAY - dt.timedelta(days=3), TODAY + dt.timedelta(days=4)
TL_AS_OF = dt.date(2025, 3, 3)  # the timeline pupil's run
DETAIL = "18 uur ongeoorloofd verzuim binnen 4 lesweken"
#: (pupil, school, municipality, mentor group)
PUPILS = [("P-A", "01AB", "GM0363", "3HA"), ("P-B", "01AB", "GM0363", "3HB"), ("P-C", "01AB", "GM0363", "3HA"),
          ("P-D", "01AB", "GM0363", "3HB"), ("P-T", "01AB", "GM0363", "3HA"), ("P-X", "02CD", "GM0599", "1A")]


def _registrations(session: Any) -> None:
    rows = [{"student_id": sid, "school_year": year, "school_id": school, "municipality": gm, "rmc_region": "RMC27",
             "mentor_group": group} for sid, school, gm, group in PUPILS for year in ("2024-25", "2026-27")]
    sync_registrations(session, pd.DataFrame(rows))


def _timeline_tables(folder: Path) -> None:
    """Raw tables of pupil P-T: unauthorised hours and a late arrival in the week of 13 January 2025, a
    sick spell 3–7 February 2025 (lesson weeks of the midden region)."""
    tables = {name: contracts.empty(name) for name in datasets.REQUIRED_TABLES}
    tables["students"] = pd.DataFrame([{
        "student_id": "P-T", "school_year": "2024-25", "school_id": "01AB", "municipality": "GM0363",
        "rmc_region": "RMC27", "calendar_region": "midden", "birth_date": pd.Timestamp("2010-05-01"),
        "school_type": "vo", "level": "havo", "pathway": None, "grade": 3.0, "final_year": False,
        "expects_mbo": False, "has_sk": False, "mentor_group": "3HA"}])
    tables["absences"] = pd.DataFrame({
        "student_id": ["P-T"] * 5,
        "date": pd.to_datetime(["2025-01-13", "2025-01-14", "2025-01-15", "2025-01-15", "2025-02-10"]),
        "hours": [3.0, 2.0, 0.25, 1.0, 4.0],
        "category": ["unauthorised", "unauthorised", "late", "authorised", "unauthorised"]})
    tables["sick_reports"] = pd.DataFrame({"student_id": ["P-T"], "start_date": pd.to_datetime(["2025-02-03"]),
                                           "end_date": pd.to_datetime(["2025-02-07"])})
    datasets.write_tables({k: contracts.validate(k, v) for k, v in tables.items()}, folder)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("pupil-pages")
    bundle = build_bundle(home / "bundle")
    _set_today()
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    _registrations(session)
    _timeline_tables(home / "data")
    people = {}
    for name, role, kind, values, groups, label in [
        ("anne", "school", "school", ["01AB"], (), "Anne de Vries"),
        ("bram", "school", "school", ["01AB"], (), "Bram Jansen"),
        ("other", "school", "school", ["02CD"], (), "Chris van Andere School"),
        ("mentor3a", "school", "school", ["01AB"], ("3HA",), "Mentor Dewi 3HA"),
        ("mentor_two", "school", "school", ["01AB"], ("3HA", "3HB"), "Mentor Gijs 3HA en 3HB"),
        ("leerplicht", "leerplicht", "municipality", ["GM0363"], (), "Leerplicht Eva"),
        ("jeugdarts", "jeugdarts", "rmc_region", ["RMC27"], (), "Jeugdarts Fenna"),
    ]:
        people[name] = create_user(session, display_name=label, role=role, scope_kind=kind, scope_values=values,
                                   groups=groups, email=f"{name}-{secrets.token_hex(3)}@pages.example").id
    cases: dict[str, int] = {}

    def case(sid: str, role: str, reason: str, *, p: float, band: str, due: dt.date | None = None,
             as_of: dt.date = TODAY, detail: str | None = None) -> None:
        school, gm = next((s, g) for x, s, g, _ in PUPILS if x == sid)
        c, _ = open_or_update_case(session, student_id=sid, role=role, reason=reason, as_of=as_of, school_id=school,
                                   municipality=gm, rmc_region="RMC27", probability=p, band=band, due_date=due,
                                   detail=detail, fired_on=due - dt.timedelta(days=7) if due else None)
        cases[f"{role}:{sid}"] = c.id

    case("P-A", "school", "rule:leerplicht_16h_4w", p=0.10, band="medium", due=LATE, detail=DETAIL)
    case("P-A", "leerplicht", "rule:leerplicht_16h_4w", p=0.10, band="medium", due=LATE, detail=DETAIL)
    case("P-B", "school", "rule:leerplicht_16h_4w", p=0.05, band="low", due=SOON, detail=DETAIL)
    case("P-C", "school", "capacity", p=0.60, band="high")
    case("P-D", "school", "capacity", p=0.30, band="high")
    case("P-T", "school", "capacity", p=0.40, band="high", as_of=TL_AS_OF)
    case("P-T", "jeugdarts", "rule:mazl_long", p=0.40, band="high", as_of=TL_AS_OF, detail="5 schooldagen ziek")
    case("P-X", "school", "capacity", p=0.70, band="high")
    # P-D's case opened a month ago: its next step's target date has passed — late work, but no legal duty,
    # so it stays below the legal duties (a list by next-step date put it first)
    session.execute(sa.update(ReviewCase).where(ReviewCase.id == cases["school:P-D"])
                    .values(opened_at=utcnow() - dt.timedelta(days=30)))
    session.commit()
    secret = secrets.token_urlsafe(32)
    settings = Settings(home=home, database_url=url, bundle_path=bundle, session_secret=SecretStr(secret))
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"app": app, "client": client, "session": session, "people": people, "cases": cases, "secret": secret,
               "home": home}
    session.close()
    engine.dispose()


def sign_in(site: dict[str, Any], who: str) -> TestClient:
    client = TestClient(site["app"], raise_server_exceptions=False)
    _actor, token = sign_in_person(site["session"], site["secret"], role="", user_id=site["people"][who])
    client.cookies.set(SESSION_COOKIE, token)
    return client


def actor(site: dict[str, Any], who: str) -> str:
    return f"user:{site['people'][who]}"


def text_of(html: str) -> str:
    body = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def rows_of(html: str) -> list[dict[str, str]]:
    """Each worklist row: its pupil, overdue flag, legal deadline, next-step date and the cells' text."""
    out = []
    for m in re.finditer(r'<tr data-student="([^"]+)" data-case="\d+" data-overdue="(yes|no)"\s+data-deadline="([^"]*)"'
                         r'\s+data-due="([^"]+)"[^>]*>(.*?)</tr>', html, flags=re.S):
        cells = dict(re.findall(r'<td data-label="[^"]*" class="(duty|step|owner|group)">(.*?)</td>', m.group(5), re.S))
        out.append({"student": m.group(1), "overdue": m.group(2), "deadline": m.group(3), "due": m.group(4),
                    **{k: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", v)).strip() for k, v in cells.items()}})
    return out


def row_of(html: str, sid: str) -> dict[str, str]:
    return next(r for r in rows_of(html) if r["student"] == sid)


def post(client: TestClient, path: str, data: dict[str, str], *, page: str) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


# --- the worklist ----------------------------------------------------------------------------------------------
def test_overdue_legal_duties_lead_and_are_marked_in_words(site: dict[str, Any]) -> None:
    html = sign_in(site, "anne").get("/worklist").text
    rows = rows_of(html)
    # overdue legal duty, then legal duties by deadline, then risk — the database's order; no other school
    assert [r["student"] for r in rows] == ["P-A", "P-B", "P-C", "P-T", "P-D"]
    assert [r["overdue"] for r in rows] == ["yes", "no", "no", "no", "no"]
    a = rows[0]
    assert a["duty"].startswith(f"Melden bij DUO vóór {_day(LATE)} — Verlopen (3 dagen geleden)")
    assert rows[1]["duty"] == f"Melden bij DUO vóór {_day(SOON)} — nog 4 dagen"
    assert rows[2]["duty"] == "geen wettelijke termijn"
    late_step = rows[4]  # P-D: its next step is late ("verlopen" in the step), its row is not an overdue duty
    assert late_step["student"] == "P-D" and "verlopen (20 dagen geleden)" in late_step["step"]
    assert late_step["duty"] == "geen wettelijke termijn" and late_step["overdue"] == "no"
    text = text_of(html)
    assert "Verlopen: 1 melding bij DUO is te laat. Die staat bovenaan de lijst." in text
    # the signals in words, one line per signal
    assert f"16 uur verzuim in 4 lesweken: {DETAIL}" in text and "rule:" not in text
    # the reader may sort by the store's other orders
    by_p = [r["student"] for r in rows_of(sign_in(site, "anne").get("/worklist?sort=probability&dir=desc").text)]
    assert by_p == ["P-C", "P-T", "P-D", "P-A", "P-B"]
    by_id = [r["student"] for r in rows_of(sign_in(site, "anne").get("/worklist?sort=student").text)]
    assert by_id == sorted(by_id)
    en = text_of(sign_in(site, "anne").get("/worklist?lang=en").text)
    assert f"Report to DUO before {_day(LATE, 'en')} — Overdue (3 days ago)" in en


def _day(day: dt.date, lang: str = "nl") -> str:
    from riskscore.web import i18n

    return i18n.when(day, lang)


def test_the_legal_duty_and_the_next_step_are_kept_apart(site: dict[str, Any]) -> None:
    row = row_of(sign_in(site, "anne").get("/worklist").text, "P-A")
    # the school's next step IS its legal duty: dated by the deadline and called that, never a target date
    # "nog 10 dagen" beside a deadline that passed
    assert row["deadline"] == LATE.isoformat() and row["due"] == LATE.isoformat()
    assert row["step"].startswith("Verzuim melden bij DUO (verzuimloket) wettelijke termijn: " + _day(LATE))
    assert "streefdatum" not in row["step"] and "nog" not in row["step"]
    # leerplicht's case of the same pupil: the report it awaits, apart from its own next step
    lp = row_of(sign_in(site, "leerplicht").get("/worklist").text, "P-A")
    assert lp["overdue"] == "yes" and lp["duty"].startswith(
        f"Melding van school verwacht vóór {_day(LATE)} — Verlopen: niet ontvangen (te laat, 3 dagen)")
    assert lp["step"].startswith("Leerling en ouders uitnodigen voor een verzuimgesprek streefdatum:")


def test_the_database_pages_the_list(site: dict[str, Any]) -> None:
    """No in-memory sort over a capped read: the store counts and pages (25 a page)."""
    from riskscore.web import data

    session = site["session"]
    principal = Principal(actor(site, "anne"), "Anne", "school", "school", ("01AB",), kind="person")
    one = data.build_worklist(session, principal, lang="nl", school=None, band=None, statuses=None, per_page=2)
    two = data.build_worklist(session, principal, lang="nl", school=None, band=None, statuses=None, per_page=2, page=2)
    three = data.build_worklist(session, principal, lang="nl", school=None, band=None, statuses=None, per_page=2,
                                page=3)
    assert (one.total, one.pages, one.overdue) == (5, 3, 1)
    seen = [r.case.student_id for w in (one, two, three) for r in w.rows]
    assert seen == ["P-A", "P-B", "P-C", "P-T", "P-D"]
    assert (three.first, three.last) == (5, 5)


# --- take and hand over -------------------------------------------------------------------------------------------
def test_take_and_hand_over_to_a_colleague_of_the_same_team(site: dict[str, Any]) -> None:
    anne, case_id = sign_in(site, "anne"), site["cases"]["school:P-D"]
    page = "/students/P-D"
    html = anne.get(page).text
    assert "Nog niemand heeft deze casus genomen." in text_of(html) and "Neem deze casus" in html
    # the list of colleagues: the same role and scope, never another school's person
    assert "Bram Jansen" in html and "Chris van Andere School" not in html and "Leerplicht Eva" not in html
    r = post(anne, f"/cases/{case_id}/take", {}, page=page)
    assert r.status_code == 303 and r.headers["location"] == f"/students/P-D?saved={case_id}&what=take#case-{case_id}"
    after = text_of(anne.get(r.headers["location"]).text)
    assert "U bent nu eigenaar van deze casus." in after and "Eigenaar: Anne de Vries (u)" in after
    assert row_of(anne.get("/worklist").text, "P-D")["owner"] == "Anne de Vries"
    # hand over to Bram (by name on the list and the page; the history says who to whom)
    r = post(anne, f"/cases/{case_id}/assign", {"owner": actor(site, "bram")}, page=page)
    assert r.status_code == 303
    assert row_of(anne.get("/worklist").text, "P-D")["owner"] == "Bram Jansen"
    history = text_of(anne.get(page).text)
    assert "eigenaar: Anne de Vries → Bram Jansen" in history and "user:" not in history
    # someone outside the team is refused, named, and nothing changes
    r = post(anne, f"/cases/{case_id}/assign", {"owner": actor(site, "other")}, page=page)
    assert r.status_code == 400 and "Kies een collega uit de lijst." in r.text
    site["session"].expire_all()
    assert get_case(site["session"], case_id).owner == actor(site, "bram")
    # another school's person cannot take it (the same 404 as a missing case)
    other = sign_in(site, "other")
    r = other.post(f"/cases/{case_id}/take", data={"csrf_token": csrf_of(other.get("/worklist").text)})
    assert r.status_code == 404
    assert list_audit(site["session"], resource=f"case:{case_id}")[0].outcome == "not_found"


# --- the plan ------------------------------------------------------------------------------------------------------
def test_a_plan_step_becomes_the_next_step_then_its_follow_up_check(site: dict[str, Any]) -> None:
    anne, case_id, page = sign_in(site, "anne"), site["cases"]["school:P-C"], "/students/P-C"
    due = TODAY + dt.timedelta(days=2)
    r = post(anne, f"/cases/{case_id}/plan", {"kind": "talk_parents", "owner": actor(site, "bram"),
                                              "due_on": due.isoformat(), "note": "met vader en moeder"}, page=page)
    assert r.status_code == 303
    row = row_of(anne.get("/worklist").text, "P-C")
    assert row["due"] == due.isoformat()
    assert row["step"] == f"gesprek met de ouders streefdatum: {_day(due)} (uit het plan) nog 2 dagen"
    html = anne.get(page).text
    assert "De stap staat in het plan." in text_of(anne.get(r.headers["location"]).text)
    assert "Bram Jansen" in html.split('class="plan cards"', 1)[1].split("</table>", 1)[0]  # who, by name
    (step,) = case_actions(site["session"], [case_id])[case_id]
    # done: what came of it; the follow-up check six weeks later is the next step now
    r = post(anne, f"/cases/{case_id}/plan/{step.id}/done", {"done_on": TODAY.isoformat(), "result": "afspraken",
                                                             "follow_up_on": ""}, page=page)
    assert r.status_code == 303
    check = TODAY + dt.timedelta(weeks=duties.FOLLOW_UP_WEEKS)
    row = row_of(anne.get("/worklist").text, "P-C")
    assert row["due"] == check.isoformat() and row["step"].startswith("nacontrole: gaat het beter? streefdatum: ")
    # the check's result: better; the history says so in words
    r = post(anne, f"/cases/{case_id}/plan/{step.id}/follow-up", {"result": "improved", "note": "komt weer"},
             page=page)
    assert r.status_code == 303
    text = text_of(anne.get(page).text)
    assert "nacontrole van gesprek met de ouders: beter" in text and "komt weer" in text
    assert f"stap gepland: gesprek met de ouders, vóór {_day(due)}" in text
    assert f"stap gedaan: gesprek met de ouders ({_day(TODAY)})" in text
    assert "talk_parents" not in text and "improved" not in text
    site["session"].expire_all()
    assert [e.action for e in case_history(site["session"], case_id)][-3:] == ["plan", "plan_done", "follow_up"]


def test_plan_mistakes_are_named_and_save_nothing(site: dict[str, Any]) -> None:
    anne, case_id, page = sign_in(site, "anne"), site["cases"]["school:P-B"], "/students/P-B"
    before = len(case_history(site["session"], case_id))
    cases = [({"kind": "halt", "due_on": TODAY.isoformat()}, "Kies een stap uit de lijst."),  # leerplicht's step
             ({"kind": "talk_pupil", "due_on": "31-02-2026"}, "is geen geldige datum"),
             ({"kind": "talk_pupil", "due_on": ""}, "Vul een datum in bij"),
             ({"kind": "talk_pupil", "due_on": TODAY.isoformat(), "owner": actor(site, "leerplicht")},
              "Kies een collega uit de lijst.")]
    for data, message in cases:
        r = post(anne, f"/cases/{case_id}/plan", data, page=page)
        assert r.status_code == 400 and message in r.text, (data, r.status_code)
        assert "Er is niets opgeslagen:" in r.text and "Traceback" not in r.text
    r = post(anne, f"/cases/{case_id}/plan", {"kind": "talk_pupil", "due_on": TODAY.isoformat()}, page=page)
    (step,) = case_actions(site["session"], [case_id])[case_id]
    future = (TODAY + dt.timedelta(days=1)).isoformat()
    r = post(anne, f"/cases/{case_id}/plan/{step.id}/done", {"done_on": future}, page=page)
    assert r.status_code == 400 and "'Gedaan op' ligt in de toekomst." in text_of(r.text)
    r = post(anne, f"/cases/{case_id}/plan/{step.id}/done", {"done_on": TODAY.isoformat(),
                                                             "follow_up_on": TODAY.isoformat()}, page=page)
    assert r.status_code == 400 and "De nacontrole moet na de datum liggen" in r.text
    en = anne.post(f"/cases/{case_id}/plan/{step.id}/follow-up?lang=en",
                   data={"csrf_token": csrf_of(anne.get(page).text), "result": "fine"})
    assert en.status_code == 400 and "Choose better, the same or worse." in en.text
    site["session"].expire_all()
    assert len(case_history(site["session"], case_id)) == before + 1  # only the one good step
    assert case_actions(site["session"], [case_id])[case_id][0].done_on is None


# --- the school's report to DUO --------------------------------------------------------------------------------------
def test_the_schools_report_to_duo_reaches_leerplicht(site: dict[str, Any]) -> None:
    anne, case_id, page = sign_in(site, "anne"), site["cases"]["school:P-A"], "/students/P-A"
    assert "Melding van school verwacht" in row_of(sign_in(site, "leerplicht").get("/worklist").text, "P-A")["duty"]
    bad = post(anne, f"/cases/{case_id}/duo-report",
               {"reported_on": (TODAY + dt.timedelta(days=1)).isoformat(), "reference": "X"}, page=page)
    assert bad.status_code == 400 and "De meldingsdatum ligt na vandaag." in bad.text
    reported = TODAY - dt.timedelta(days=1)
    r = post(anne, f"/cases/{case_id}/duo-report", {"reported_on": reported.isoformat(), "reference": "VZL-2026-118"},
             page=page)
    assert r.status_code == 303 and "De melding bij DUO is vastgelegd." in anne.get(r.headers["location"]).text
    html = anne.get("/worklist").text
    row = row_of(html, "P-A")
    assert row["overdue"] == "no"
    assert row["duty"] == f"Melden bij DUO vóór {_day(LATE)} — gemeld op {_day(reported)} (na de termijn)"
    assert "Geen verlopen wettelijke termijnen in deze lijst." in text_of(html)
    assert f"melding bij DUO vastgelegd: gemeld op {_day(reported)}" in text_of(anne.get(page).text)
    # leerplicht's case of the pupil: the report came, with DUO's reference
    lp = sign_in(site, "leerplicht")
    lp_row = row_of(lp.get("/worklist").text, "P-A")
    assert lp_row["overdue"] == "no" and lp_row["duty"].endswith(f"ontvangen op {_day(reported)} (na de termijn)")
    lp_page = text_of(lp.get(page).text)
    assert f"gemeld op {_day(reported)} · kenmerk VZL-2026-118" in lp_page
    # leerplicht records no report itself (it has no such duty): the same 404 as a missing case
    r = lp.post(f"/cases/{site['cases']['leerplicht:P-A']}/duo-report",
                data={"csrf_token": csrf_of(lp.get(page).text), "reported_on": TODAY.isoformat()})
    assert r.status_code == 404


# --- the letter ------------------------------------------------------------------------------------------------------
def test_the_letter_is_short_bilingual_printable_and_recorded(site: dict[str, Any]) -> None:
    anne, case_id, page = sign_in(site, "anne"), site["cases"]["school:P-B"], "/students/P-B"
    bad = post(anne, f"/cases/{case_id}/letter", {"meeting_on": TODAY.isoformat(), "meeting_at": "25:00"}, page=page)
    assert bad.status_code == 400 and "Vul een tijd in als uu:mm" in bad.text
    past = post(anne, f"/cases/{case_id}/letter", {"meeting_on": (TODAY - dt.timedelta(days=1)).isoformat(),
                                                   "meeting_at": "15:30"}, page=page)
    assert past.status_code == 400 and "ligt in het verleden" in past.text
    meeting = TODAY + dt.timedelta(days=7)
    r = post(anne, f"/cases/{case_id}/letter", {"meeting_on": meeting.isoformat(), "meeting_at": "9:15",
                                                "contact": "mentor@school.example"}, page=page)
    assert r.status_code == 303
    target = r.headers["location"]
    assert target.startswith(f"/cases/{case_id}/letter/") and parse_qs(urlsplit(target).query)["at"] == ["09:15"]
    letter = anne.get(target)
    assert letter.status_code == 200
    text = text_of(letter.text)
    assert "Er is niets verstuurd." in text and "<script" not in letter.text
    for lang, hours in (("nl", "18 uur"), ("en", "18 hours")):
        body = letter.text.split(f'<article class="letter" lang="{lang}">', 1)[1].split("</article>", 1)[0]
        words = text_of('<main id="main">' + body.split('class="letter-body">', 1)[1] + "</main>").split()
        assert len(words) < letters.MAX_WORDS and hours in " ".join(words) and "____________________" in body
        assert "mentor@school.example" in body and "09:15" in body
    # making it is recorded in the history (what it said, never the contact)
    site["session"].expire_all()
    event = case_history(site["session"], case_id)[-1]
    assert event.action == "letter" and "18 h in 4 lesson weeks" in event.note and "mentor@" not in event.note
    history = text_of(anne.get(page).text)
    assert f"brief aan de ouders gemaakt (18 uur in 4 lesweken); gesprek aangeboden op {_day(meeting)} om 09:15" \
        in history
    # only the school writes to the parents; another team's case answers like a missing one
    lp = sign_in(site, "leerplicht")
    assert lp.post(f"/cases/{site['cases']['leerplicht:P-A']}/letter",
                   data={"csrf_token": csrf_of(lp.get("/worklist").text), "meeting_on": meeting.isoformat(),
                         "meeting_at": "10:00"}).status_code == 404
    assert sign_in(site, "other").get(target).status_code == 404


# --- the timeline ------------------------------------------------------------------------------------------------------
def _week(html: str, monday: str) -> str:
    row = re.search(rf'<tr data-week="{monday}"[^>]*>(.*?)</tr>', html, flags=re.S)
    assert row, monday
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1))).strip()


def test_the_timeline_shows_hours_and_lates_per_lesson_week(site: dict[str, Any]) -> None:
    html = sign_in(site, "anne").get("/students/P-T").text
    assert "Tijdlijn" in html
    week = _week(html, "2025-01-13")  # 3 + 2 unauthorised hours, one late; the authorised hour not counted
    assert week.startswith("13 januari 2025 5 1")
    assert _week(html, "2025-02-10").startswith("10 februari 2025 4 0")
    assert _week(html, "2025-01-20").startswith("20 januari 2025 0 0")
    assert 'data-week="2024-12-23"' not in html  # the Christmas holiday is no lesson week
    assert "9 uur ongeoorloofd verzuim en 1 keer te laat" in text_of(html)
    # the case opened, dated, in its own week (after the data: no figures, not zeros)
    opened = get_case(site["session"], site["cases"]["school:P-T"]).opened_at.date()
    monday = opened - dt.timedelta(days=opened.weekday())
    assert "nog geen gegevens" in _week(html, monday.isoformat())
    assert "casus geopend: hoge kans (binnen de capaciteit)" in _week(html, monday.isoformat())


def test_sick_dates_are_the_jeugdarts_only(site: dict[str, Any]) -> None:
    school = sign_in(site, "anne").get("/students/P-T").text
    # the week of 3 February is an ordinary lesson week for the school: no sick column, no spell, no count
    for absent in ("Ziek (schooldagen)", "tot en met 7 februari 2025", "Ziekteperiodes", "ziekmelding", "ziek",
                   'class="num sick"'):
        assert absent not in school, absent
    assert _week(school, "2025-02-03") == "3 februari 2025 0 0"
    doctor = sign_in(site, "jeugdarts").get("/students/P-T").text
    assert "Ziek (schooldagen)" in doctor
    assert "3 februari 2025 tot en met 7 februari 2025: 5 schooldagen" in text_of(doctor)
    assert _week(doctor, "2025-02-03").startswith("3 februari 2025 0 0 5")
    audit = list_audit(site["session"], resource="student:P-T")[0]
    detail = json.loads(audit.detail) if isinstance(audit.detail, str) else audit.detail
    assert audit.role == "jeugdarts" and detail.get("health") is True


def test_no_raw_data_is_said_plainly(site: dict[str, Any]) -> None:
    folder = site["home"] / "data"
    folder.rename(site["home"] / "data-away")
    try:
        html = sign_in(site, "anne").get("/students/P-T").text
    finally:
        (site["home"] / "data-away").rename(folder)
    assert "Er zijn geen verzuimgegevens beschikbaar" in text_of(html) and 'class="timeline cards"' not in html
    # a pupil the folder holds nothing of
    assert "In de gegevensmap staan geen gegevens van deze leerling." in text_of(
        sign_in(site, "anne").get("/students/P-D").text)


# --- mentor groups ----------------------------------------------------------------------------------------------------
def test_a_mentor_sees_only_the_pupils_of_their_groups(site: dict[str, Any]) -> None:
    mentor = sign_in(site, "mentor3a")
    html = mentor.get("/worklist").text
    assert {r["student"] for r in rows_of(html)} == {"P-A", "P-C", "P-T"}  # 3HA, not 3HB
    assert "U ziet alleen de leerlingen van uw mentorgroep(en): 3HA." in text_of(html)
    assert all(r["group"] == "3HA" for r in rows_of(html))
    assert mentor.get("/students/P-C").status_code == 200
    assert mentor.get("/students/P-B").status_code == 404  # another group's pupil: like an unknown one
    token = csrf_of(html)
    assert mentor.post(f"/cases/{site['cases']['school:P-D']}/take", data={"csrf_token": token}).status_code == 404
    # the school's other people see the whole school, with each pupil's class
    assert {r["student"] for r in rows_of(sign_in(site, "anne").get("/worklist").text)} >= {"P-B", "P-D"}
    # hand-over lists only colleagues whose scope holds the pupil: the 3HA mentor for a 3HA pupil only
    assert "Mentor Dewi 3HA" in sign_in(site, "anne").get("/students/P-C").text
    assert "Mentor Dewi 3HA" not in sign_in(site, "anne").get("/students/P-B").text


def test_a_mentor_of_two_groups_picks_one_under_my_pupils(site: dict[str, Any]) -> None:
    mentor = sign_in(site, "mentor_two")
    html = mentor.get("/worklist").text
    assert '<label for="f-group">Mijn leerlingen</label>' in html and "al mijn groepen (3HA, 3HB)" in html
    assert {r["student"] for r in rows_of(html)} == {"P-A", "P-B", "P-C", "P-D", "P-T"}
    assert {r["student"] for r in rows_of(mentor.get("/worklist?group=3HB").text)} == {"P-B", "P-D"}
    # a group that is not theirs is ignored (their own groups, never more)
    assert {r["student"] for r in rows_of(mentor.get("/worklist?group=1A").text)} == {"P-A", "P-B", "P-C", "P-D", "P-T"}


def test_the_api_worklist_narrows_to_mentor_groups_too(site: dict[str, Any]) -> None:
    app = site["app"]
    app.dependency_overrides[get_principal] = lambda: Principal(actor(site, "mentor3a"), "Mentor Dewi 3HA", "school",
                                                                "school", ("01AB",), kind="person", groups=("3HA",))
    try:
        r = site["client"].get("/v1/worklists", params={"limit": 100})
    finally:
        app.dependency_overrides.clear()
    assert r.status_code == 200, r.text
    assert {row["student_id"] for row in r.json()["rows"]} == {"P-A", "P-C", "P-T"}
