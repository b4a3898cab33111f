"""A working hour per role in real chromium against a real uvicorn process (issues 17 and 22).

School mentor, leerplicht officer, youth doctor and RMC: sign in → the worklist in the review core's
order (overdue legal duties first, marked "Verlopen" and counted at the top; the legal duty apart from
the next step) → the most urgent pupil → why (hours or detail, rule, source), the timeline (hours and
lates per lesson week; sick days for the jeugdarts only) → take the case → a step in the plan (it
becomes the next step), done, with its follow-up check → record contact and outcome in one save → back
to the list. The school also records its report to DUO (and leerplicht then sees that it came) and makes
the letter to the parents (a printable page, under 150 words, in the history). RMC's list holds only its
own region's young people. The data team: sign in → the monitoring page's charts → the evidently report
one click away. Each on a desktop and on a 390×844 phone (no horizontal scroll), with axe-core (npm
package in tests/browser, installed on first use) at 0 violations on every page.
Screenshots go to test-artifacts/ (not in git)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import SiteHome, browser_sign_in, served_site, sign_in_person
from riskscore.clock import today as school_today
from riskscore.review import duties
from riskscore.store.cases import case_signals, list_worklist
from riskscore.store.models import Score
from riskscore.web import i18n

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
AXE_DIR = Path(__file__).resolve().parent / "browser"
AXE_FILE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
#: how the page header names each reviewing role
ROLE_WORDS = {"school": "school", "leerplicht": "leerplicht", "jeugdarts": "jeugdarts", "rmc": "RMC"}


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core from npm (tests/browser/package.json, pinned by its lock file), installed when missing."""
    if not AXE_FILE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("RISKSCORE_REQUIRE_BROWSER") == "1":
                pytest.fail("npm missing: cannot install axe-core for the accessibility checks")
            pytest.skip("npm missing (needed once to install axe-core into tests/browser)")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and AXE_FILE.is_file(), done.stderr[-2000:]
    return AXE_FILE.read_text(encoding="utf-8")


#: an outcome each role records in the walk (code, words on the page)
OUTCOME_OF = {"school": ("conversation_held", "gesprek gevoerd"), "leerplicht": ("conversation_held", "gesprek gevoerd"),
              "jeugdarts": ("consultation_held", "consult gehouden"), "rmc": ("back_to_education", "terug naar een opleiding")}
#: signals that go to RMC alone by the default routing (DOMAIN.md): its own legal work, 18–23 without sk
RMC_OWN_REASONS = ("rule:rmc_verzuim", "rule:deregistered_no_sk")


def rmc_population(world: Any, student_id: str) -> bool:
    """From the world's own tables, not the system's: 18 up to 23 and no startkwalificatie on the
    scoring date (RMC's people)."""
    import pandas as pd

    as_of = pd.Timestamp(world.score_as_of)
    students = world.tables["students"]
    born = pd.Timestamp(students.loc[students["student_id"] == student_id, "birth_date"].iloc[0])
    age = (as_of - born).days / 365.25
    diplomas = world.tables["diplomas"]
    sk = diplomas[(diplomas["student_id"] == student_id) & diplomas["is_sk"].astype(bool)
                  & (pd.to_datetime(diplomas["date"]) <= as_of)]
    return 18 <= age < 23 and sk.empty


@pytest.fixture(scope="module")
def site(small_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The small synthetic world scored by the batch command, a monitoring report, one key per role."""

    def prepare(site: SiteHome) -> dict[str, Any]:
        site.env["RISKSCORE_DATA_DIR"] = str(small_world.data_dir)  # the timeline reads the raw events from here
        scored = site.score(small_world)
        assert scored.returncode == 0, scored.stderr[-2000:]
        monitored = site.cli("monitor", "--reference", str(site.bundle / "reference.parquet"),
                             "--outcomes", str(small_world.data_dir / "outcomes.parquet"), "--no-mlflow")
        assert monitored.returncode in (0, 10), monitored.stderr[-2000:]  # 10: thresholds crossed (still a report)
        session = site.session

        def busiest(role: str, column: str) -> str:
            counts = Counter(getattr(c, column) for c in list_worklist(session, role=role) if getattr(c, column))
            assert counts, f"no {role} cases in the scored world"
            return str(counts.most_common(1)[0][0])

        # RMC: the region with the most of RMC's own legal signals, one such pupil of RMC age without sk
        # inside it, and a pupil on another region's RMC list outside it
        # a case holds every signal that brought the pupil to the team; its reason is the most urgent one
        rmc_cases = list_worklist(session, role="rmc")
        held = {cid: {f"rule:{x.rule_id}" for x in sigs if x.kind == "rule"}
                for cid, sigs in case_signals(session, [c.id for c in rmc_cases]).items()}
        own = Counter(c.rmc_region for c in rmc_cases if held.get(c.id, set()) & set(RMC_OWN_REASONS) and c.rmc_region)
        both = [r for r, _ in own.most_common()
                if all(any(c.rmc_region == r and reason in held.get(c.id, ()) for c in rmc_cases)
                       for reason in RMC_OWN_REASONS)]
        assert both, f"no region with both RMC signals ({', '.join(RMC_OWN_REASONS)}) in the scored world: {own}"
        region = str(both[0])
        in_region = {c.student_id for c in rmc_cases if c.rmc_region == region}
        rmc_inside = sorted(c.student_id for c in rmc_cases if c.rmc_region == region and c.reason == "rule:rmc_verzuim"
                            and rmc_population(small_world, c.student_id))
        assert rmc_inside, f"no pupil of 18-23 without sk with rmc_verzuim in {region}"
        rmc_outside = sorted({c.student_id for c in rmc_cases if c.rmc_region not in (region, None)} - in_region)
        assert rmc_outside, "every RMC case lies in one region: nothing to keep out of the list"
        left = sorted(c.student_id for c in rmc_cases if c.rmc_region == region
                      and "rule:deregistered_no_sk" in held.get(c.id, ())
                      and session.scalar(select(Score.id).where(Score.student_id == c.student_id).limit(1)) is None)
        assert left, f"no unscored young person deregistered without sk in {region}"

        secret = site.env["RISKSCORE_SESSION_SECRET"]

        def person(role: str, kind: str, values: list[str], name: str) -> str:
            """A person with a live web session (signing in itself: test_signin_browser.py)."""
            return sign_in_person(session, secret, role=role, scope_kind=kind, scope_values=values, label=name)[1]

        people = {
            "school": person("school", "school", [busiest("school", "school_id")], "Mentor Anne de Vries"),
            "leerplicht": person("leerplicht", "municipality", [busiest("leerplicht", "municipality")],
                                 "Leerplichtambtenaar Bram Jansen"),
            "jeugdarts": person("jeugdarts", "rmc_region", [busiest("jeugdarts", "rmc_region")],
                                "Jeugdarts Chris Bakker"),
            "rmc": person("rmc", "rmc_region", [region], "RMC-trajectbegeleider Dewi Visser"),
            "leerplicht_all": person("leerplicht", "all", [], "Leerplichtambtenaar Ilse de Boer"),
            "school_colleague": person("school", "school", [busiest("school", "school_id")], "Mentor Joost Smit"),
            "data_team": person("data_team", "all", [], "Datateam"),
            "admin": person("admin", "all", [], "Functioneel beheerder Eva Smit"),
        }
        return {"keys": {}, "people": people, "rmc": {"region": region, "in_region": in_region,
                                                      "inside": rmc_inside[0], "outside": rmc_outside[0],
                                                      "left": left[0],
                                                      "left_reason": next(c.reason for c in rmc_cases
                                                                          if c.student_id == left[0])}}

    with served_site(small_world, tmp_path_factory.mktemp("roles-home"), prepare) as served:
        yield served


def check_axe(page: Any, axe_source: str, where: str) -> None:
    """axe-core's WCAG 2 A/AA rules on the page as it is now: no violation."""
    page.evaluate(axe_source)  # the context bypasses the page's CSP for this injected checker only
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    assert result == [], f"axe-core on {where}: {json.dumps(result, indent=1)}"


def no_horizontal_scroll(page: Any, where: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{where}: page is {width} px wide on a {viewport} px screen"


def worklist_order_is_the_review_cores(page: Any, role: str) -> None:
    """Overdue legal duties first (marked "Verlopen" in words), then the open legal duties by deadline, then
    the rest; the count of overdue duties at the top matches the rows marked."""
    rows = page.locator("table.worklist tbody tr")
    facts = rows.evaluate_all("rs => rs.map(r => [r.dataset.overdue, r.dataset.deadline])")
    overdue = [o == "yes" for o, _ in facts]
    assert overdue == sorted(overdue, reverse=True), f"{role}: an overdue legal duty below another row"
    deadlines = [d for _, d in facts]
    with_deadline = [d for d in deadlines if d]
    assert deadlines[:len(with_deadline)] == with_deadline and with_deadline == sorted(with_deadline), (role, deadlines)
    for i, late in enumerate(overdue):
        duty = rows.nth(i).locator("td.duty").inner_text()
        assert ("Verlopen" in duty) is late, (role, duty)
    if role in ("school", "leerplicht"):
        count = page.locator("#overdue-count").inner_text()
        assert ("Verlopen:" in count) is any(overdue), count


def timeline_is_shown(page: Any, role: str) -> None:
    """Hours and lates per lesson week from the raw events; the sick column for the jeugdarts only."""
    from playwright.sync_api import expect

    block = page.locator("section.timeline-block")
    expect(block.get_by_role("heading", name="Tijdlijn")).to_be_visible()
    table = block.locator("table.timeline")
    expect(table).to_have_count(1)
    assert table.locator("tbody tr").count() >= 10
    hours = table.locator("td.hours .hours-value").all_inner_texts()
    assert hours and all(re.fullmatch(r"\d+(,\d)?", h) for h in hours), hours[:5]
    headers = table.locator("thead th").all_inner_texts()
    assert ("Ziek (schooldagen)" in headers) is (role == "jeugdarts"), headers
    if role != "jeugdarts":
        assert "ziek" not in block.inner_text().lower()


def plan_a_step(page: Any, role: str, kind: str) -> None:
    """Take the case, add a step to its plan (it becomes the next step), mark it done: the follow-up check
    six weeks later is the next step now."""
    from playwright.sync_api import expect

    case = page.locator("article.case").first
    take = case.get_by_role("button", name="Neem deze casus")
    if take.count():  # the phone walk may come back to a case the desktop walk took
        take.click()
        page.wait_for_load_state()
        expect(page.get_by_role("status")).to_contain_text("U bent nu eigenaar van deze casus.")
    case = page.locator("article.case").first
    expect(case.locator(".owner-line")).to_contain_text("(u)")
    case.locator("summary", has_text="Stap toevoegen").click()
    form = case.locator("form.add-step")
    labels = form.get_by_label("Wat").locator("option").all_inner_texts()
    form.get_by_label("Wat").select_option(kind)
    step_name = form.get_by_label("Wat").locator("option:checked").inner_text()
    form.get_by_label("Datum (streefdatum)").fill((school_today() + dt.timedelta(days=3)).isoformat())
    form.get_by_role("button", name="Stap toevoegen").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("De stap staat in het plan.")
    assert labels, role
    why = page.locator(".why-case").first.locator("p.step")
    expect(why).to_contain_text(step_name)
    expect(why).to_contain_text("uit het plan")
    case = page.locator("article.case").first
    case.locator("summary", has_text=f"Gedaan: {step_name}").first.click()
    done = case.locator("form.step-done").first
    done.get_by_label("Wat kwam eruit? (optioneel)").fill("afspraken gemaakt")
    done.get_by_role("button", name="Opslaan als gedaan").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("De stap is gedaan; de nacontrole staat gepland.")
    expect(page.locator(".why-case").first.locator("p.step")).to_contain_text("nacontrole: gaat het beter?")


def walk_reviewer(chromium: Any, site: dict[str, Any], axe_source: str, role: str, viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    kind = "phone" if viewport["width"] < 500 else "desktop"
    context = chromium.new_context(viewport=viewport, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    base = site["base"]
    browser_sign_in(page, base, site["people"][role])
    expect(page.get_by_role("heading", level=1)).to_have_text("Werklijst")
    expect(page.locator("header")).to_contain_text(f"rol: {ROLE_WORDS[role]}")
    check_axe(page, axe_source, f"{role} worklist ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, f"{role} worklist")
    page.screenshot(path=str(ARTIFACTS / f"{role}-{kind}-worklist.png"), full_page=False)

    # the most urgent pupil, in the review core's order; the next step has a target date, never the legal one
    rows = page.locator("table.worklist tbody tr")
    assert rows.count() >= 1
    worklist_order_is_the_review_cores(page, role)
    first = rows.first
    step_text = first.locator("td.step").inner_text()
    assert "verlopen" in step_text or "nog " in step_text or "vandaag" in step_text, step_text
    if "wettelijke termijn" in step_text:
        # the next step is the open legal duty itself (the school's report to DUO): its date is that deadline,
        # and no target date is shown beside it
        assert role == "school" and "streefdatum" not in step_text, step_text
        assert first.get_attribute("data-due") == first.get_attribute("data-deadline"), step_text
    else:
        assert "streefdatum" in step_text, step_text
    step_is_duty = "wettelijke termijn" in step_text
    student_id = first.get_attribute("data-student")
    first.locator("th a").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Leerling {student_id}")

    # why: the rule and its detail (hours for absence), the source, the next step with its date
    why = page.locator("section.why-block")
    expect(why).to_be_visible()
    why_text = why.inner_text()
    assert "Volgende stap" in why_text
    if not step_is_duty:
        assert "streefdatum" in why_text
    if why.locator("dd.source").count():  # a legal/protocol signal: its detail and its source
        assert why.locator("dd.trigger-detail").first.inner_text().strip()
        assert why.locator("dd.source").first.inner_text().strip()
        if role == "leerplicht":
            assert " uur ongeoorloofd verzuim" in why_text
        if role == "jeugdarts":
            assert "ziek" in why_text.lower()
    assert "log-odds" not in page.locator("main").inner_text()
    timeline_is_shown(page, role)
    check_axe(page, axe_source, f"{role} pupil page ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, f"{role} pupil page")
    page.screenshot(path=str(ARTIFACTS / f"{role}-{kind}-pupil.png"), full_page=True)

    # the work after the signal: take the case, a step in the plan, done
    plan_a_step(page, role, {"school": "talk_parents", "leerplicht": "conversation", "jeugdarts": "invite",
                             "rmc": "contact"}[role])
    check_axe(page, axe_source, f"{role} pupil page with a plan ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, f"{role} pupil page with a plan")
    page.screenshot(path=str(ARTIFACTS / f"{role}-{kind}-plan.png"), full_page=True)

    # contact and outcome in one save
    form = page.locator("form.review").first
    # the note's help says who reads it: the jeugdarts' own notes stay with the youth doctors
    note_help = form.locator("p.help[id$='-note-help']").inner_text()
    assert ("Alleen jeugdartsen" in note_help) is (role == "jeugdarts"), note_help
    assert ("geen medische details" in note_help) is (role != "jeugdarts"), note_help
    options = form.get_by_label("Nieuwe status").locator("option").all_inner_texts()
    outcomes = form.get_by_label("Uitkomst", exact=True).locator("option").all_inner_texts()
    # each role's own outcomes (review.plans.OUTCOMES_BY_ROLE): only the school reports to leerplicht
    assert ("gemeld bij leerplicht" in outcomes) is (role == "school"), outcomes
    code, words = OUTCOME_OF[role]
    assert words in outcomes, outcomes
    note = f"{'Jongere' if role == 'rmc' else 'Ouders'} gebeld ({secrets.token_hex(3)})"  # RMC: 18-23, no parents
    if "contact gelegd" in options:
        form.get_by_label("Nieuwe status").select_option(label="contact gelegd")
    form.get_by_label("Uitkomst", exact=True).select_option(code)
    form.get_by_label("ja", exact=True).check()
    form.get_by_label("Notitie").fill(note)
    form.get_by_role("button", name="Opslaan").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("Opgeslagen.")
    main = page.locator("main")
    expect(main).to_contain_text(note)
    expect(main).to_contain_text(f"uitkomst: {words}")
    expect(main).to_contain_text("stap gedaan: ")
    if "contact gelegd" in options:
        expect(main).to_contain_text("status: contact gelegd")
    assert code not in main.inner_text() and "rule:" not in main.inner_text()
    assert "user:" not in main.inner_text()  # people by name

    # back to the list: the pupil is still there (contacted is still work to do), owned by this person
    page.get_by_role("link", name="Terug naar de werklijst").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Werklijst")
    page.get_by_label("Zoek op leerlingnummer").fill(student_id or "")
    page.get_by_role("button", name="Filter toepassen").first.click()
    page.wait_for_load_state()
    found = page.locator("table.worklist tbody tr").first
    assert found.get_attribute("data-student") == student_id
    assert "nacontrole" in found.locator("td.step").inner_text()

    if kind == "desktop":  # a link from another site (an e-mail, the intranet) lands signed in
        cookie_before = next(c["value"] for c in context.cookies() if c["name"] == "riskscore_session")
        page.goto(f'data:text/html,<a id="l" href="{base}/students/{student_id}">leerling</a>')
        page.click("#l")
        page.wait_for_load_state()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Leerling {student_id}")
        assert next(c["value"] for c in context.cookies() if c["name"] == "riskscore_session") == cookie_before
    if role == "school":
        school_reports_and_writes(chromium, page, site, axe_source, kind)
    if role == "rmc":
        rmc_sees_its_region_only(page, site, axe_source, kind)
    context.close()


def school_reports_and_writes(chromium: Any, page: Any, site: dict[str, Any], axe_source: str, kind: str) -> None:
    """The school records its report of a 16-hour signal to DUO (leerplicht then sees that it came), and
    makes the letter to the parents: a printable page in Dutch and English, under 150 words, recorded."""
    from playwright.sync_api import expect

    base = site["base"]
    page.goto(f"{base}/worklist")
    rows = page.locator("table.worklist tbody tr").filter(has_text="Melden bij DUO vóór")
    due = [i for i in range(rows.count()) if "gemeld op" not in rows.nth(i).locator("td.duty").inner_text()]
    assert due, "no open report to DUO on the school's list"
    row = rows.nth(due[0])
    sid = row.get_attribute("data-student")
    row.locator("th a").click()
    page.wait_for_load_state()
    case = page.locator("article.case").first
    reference = f"VZL-{secrets.token_hex(3).upper()}"
    report = case.locator("form.duo-report")
    expect(report).to_be_visible()  # open while the duty is not done
    report.get_by_label("Kenmerk van DUO (optioneel)").fill(reference)
    report.get_by_role("button", name="Melding vastleggen").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("De melding bij DUO is vastgelegd.")
    expect(page.locator(".why-case").first.locator("p.duty")).to_contain_text("gemeld op")
    expect(page.locator("article.case").first.locator("ul.reports")).to_contain_text(reference)
    check_axe(page, axe_source, f"school pupil page after the report ({kind})")
    page.screenshot(path=str(ARTIFACTS / f"school-{kind}-reported.png"), full_page=True)

    # the attendance officer's case of that pupil: the report came
    other = chromium.new_context(viewport=page.viewport_size, bypass_csp=True)
    lp = other.new_page()
    browser_sign_in(lp, base, site["people"]["leerplicht_all"])
    lp.goto(f"{base}/students/{sid}")
    duty = lp.locator(".why-case").first.locator("p.duty")
    expect(duty).to_contain_text("Melding van school verwacht vóór")
    expect(duty).to_contain_text("ontvangen op")
    expect(lp.locator("article.case").first.locator("ul.reports")).to_contain_text(reference)
    check_axe(lp, axe_source, f"leerplicht sees the school's report ({kind})")
    lp.screenshot(path=str(ARTIFACTS / f"leerplicht-{kind}-report-came.png"), full_page=True)
    other.close()

    # the letter to the parents
    case = page.locator("article.case").first
    case.locator("summary", has_text="Brief aan de ouders").click()
    form = case.locator("form.letter-form")
    form.get_by_label("Tijd (uu:mm)").fill("15:45")
    form.get_by_label("Hoe bereiken de ouders de mentor? (telefoon of e-mail, optioneel)").fill("mentor@school.example")
    form.get_by_role("button", name="Brief maken").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Brief aan de ouders")
    expect(page.get_by_role("status")).to_contain_text("Er is niets verstuurd.")
    for lang in ("nl", "en"):
        body = page.locator(f'article.letter[lang="{lang}"] .letter-body').inner_text()
        assert len(body.split()) < 150 and "____" in body and "15:45" in body, (lang, body)
    assert "uur" in page.locator('article.letter[lang="nl"]').inner_text()
    check_axe(page, axe_source, f"letter to the parents ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, "letter to the parents")
    page.screenshot(path=str(ARTIFACTS / f"school-{kind}-letter.png"), full_page=True)
    page.get_by_role("link", name="Terug naar de leerling").click()
    page.wait_for_load_state()
    expect(page.locator("article.case").first.locator("ol.history")).to_contain_text("brief aan de ouders gemaakt")


def worklist_search(page: Any, base: str, student_id: str) -> list[str]:
    """The pupils the worklist shows when searched for this pupil number."""
    page.goto(f"{base}/worklist")
    page.get_by_label("Zoek op leerlingnummer").fill(student_id)
    page.get_by_role("button", name="Filter toepassen").first.click()
    page.wait_for_load_state()
    return list(page.locator("table.worklist tbody tr").evaluate_all("rs => rs.map(r => r.dataset.student)"))


def rmc_sees_its_region_only(page: Any, site: dict[str, Any], axe_source: str, kind: str) -> None:
    """RMC's list holds its own region's young people only; their own signal reads in plain words,
    with the hours, the source and RMC's next step with a target date, in Dutch and in English."""
    from playwright.sync_api import expect

    base, rmc = site["base"], site["rmc"]
    page.goto(f"{base}/worklist")
    listed = page.locator("table.worklist tbody tr").evaluate_all("rs => rs.map(r => r.dataset.student)")
    assert listed and set(listed) <= rmc["in_region"], f"RMC {rmc['region']} sees {set(listed) - rmc['in_region']}"
    found = worklist_search(page, base, rmc["inside"])  # one row per case: RMC may have two on one pupil
    assert found and set(found) == {rmc["inside"]}, found
    assert worklist_search(page, base, rmc["outside"]) == []
    expect(page.get_by_role("status")).to_contain_text("Geen casussen met deze filters.")
    response = page.goto(f"{base}/students/{rmc['outside']}")
    assert response is not None and response.status == 404
    assert rmc["outside"] not in page.locator("main").inner_text()

    page.goto(f"{base}/students/{rmc['inside']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Leerling {rmc['inside']}")
    case = page.locator(".why-case").filter(has=page.get_by_role(
        "heading", name="16 uur of meer ongeoorloofd verzuim binnen 4 lesweken van een jongere van 18 tot 23 jaar"))
    expect(case).to_have_count(1)
    assert case.locator("dt").all_inner_texts()[:1] == ["Verzuim"]
    assert case.locator("dd.trigger-detail").inner_text().endswith(" uur ongeoorloofd verzuim binnen 4 lesweken")
    assert case.locator("dd.source").inner_text().strip()
    step = case.locator("p.step").inner_text()
    assert "Contact opnemen met de jongere" in step and "streefdatum" in step, step
    assert ("verlopen" in step or "nog " in step or "vandaag" in step), step
    check_axe(page, axe_source, f"rmc pupil page with its own signal ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, "rmc pupil page with its own signal")
    page.screenshot(path=str(ARTIFACTS / f"rmc-{kind}-own-signal.png"), full_page=True)

    # a young person who left school without sk: not scored, yet the legal ground and RMC's step show
    assert set(worklist_search(page, base, rmc["left"])) == {rmc["left"]}
    row = page.locator("table.worklist tbody tr").filter(has_text="Uitgeschreven zonder startkwalificatie")
    expect(row).to_have_count(1)
    expect(row.locator("td.num .no-score")).to_have_text("geen score")
    expect(page.locator("#expected .unscored")).to_have_text(
        "1 leerling in deze lijst heeft geen score (bijvoorbeeld omdat die van school is) en telt hier niet mee.")
    page.goto(f"{base}/students/{rmc['left']}")
    expect(page.locator("main")).to_contain_text("Er is nog geen score voor deze leerling.")
    left = page.locator(".why-case").filter(has=page.get_by_role(
        "heading", name="Uitschrijving van een jongere van 18 tot 23 jaar zonder startkwalificatie."))
    expect(left).to_have_count(1)
    # the deregistration is one of the case's signals (its main one may be the absence after leaving)
    expect(left.locator("dd.source").filter(has_text="RMC-meldplicht")).to_have_count(1)
    step = left.locator("p.step").inner_text()
    first_step = i18n.translate(duties.FIRST_ACTIONS[("rmc", rmc["left_reason"])], "nl")  # for its main signal
    assert first_step in step and "streefdatum" in step, step
    check_axe(page, axe_source, f"rmc page of a young person who left school ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, "rmc page of a young person who left school")
    page.screenshot(path=str(ARTIFACTS / f"rmc-{kind}-left-school.png"), full_page=True)

    page.goto(f"{base}/students/{rmc['inside']}")
    page.get_by_role("link", name="Switch to English").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Student {rmc['inside']}")
    case = page.locator(".why-case").filter(has=page.get_by_role(
        "heading", name="16 or more hours of unauthorised absence within 4 lesson weeks of a young person aged 18 to 23"))
    expect(case).to_have_count(1)
    assert case.locator("dt").all_inner_texts()[:1] == ["Absence"]
    assert case.locator("dd.trigger-detail").inner_text().endswith(" hours of unauthorised absence within 4 lesson weeks")
    step = case.locator("p.step").inner_text()
    assert "Contact the young person" in step and "target date" in step, step
    expect(page.locator("header")).to_contain_text("(role: regional office for early school leavers (RMC))")
    assert "startkwalificatie." not in case.inner_text() and "uur" not in case.inner_text().split()
    expect(page.locator("main")).not_to_contain_text("automatisch")
    check_axe(page, axe_source, f"rmc pupil page in English ({kind})")
    page.screenshot(path=str(ARTIFACTS / f"rmc-{kind}-own-signal-en.png"), full_page=True)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("role", ["school", "leerplicht", "jeugdarts", "rmc"])
def test_reviewer_working_hour(chromium: Any, site: dict[str, Any], axe_source: str, role: str,
                               viewport: dict[str, int]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    walk_reviewer(chromium, site, axe_source, role, viewport)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_data_team_looks_at_monitoring(chromium: Any, site: dict[str, Any], axe_source: str,
                                       viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    kind = "phone" if viewport["width"] < 500 else "desktop"
    context = chromium.new_context(viewport=viewport, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    browser_sign_in(page, site["base"], site["people"]["data_team"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Monitoring")
    expect(page.locator("main")).to_contain_text("Oordeel:")
    charts = page.locator("svg.chart")
    assert charts.count() >= 4  # distribution, PSI over time, flag rate over time, per group
    for title in ("Verdeling van de scores", "Verschuiving van de scores (PSI) per rapport"):
        expect(page.get_by_role("heading", name=title)).to_be_visible()
    assert page.locator("svg.chart circle").count() >= 3  # estimates per group (with intervals)
    check_axe(page, axe_source, f"monitoring ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, "monitoring")
    page.screenshot(path=str(ARTIFACTS / f"data_team-{kind}-monitoring.png"), full_page=True)
    # the pupil pages stay closed to the data team
    assert page.goto(f"{site['base']}/worklist").status == 403
    page.go_back()
    page.wait_for_load_state()
    page.get_by_role("link", name="Open het driftrapport (evidently)").click()
    page.wait_for_load_state()
    assert "/monitoring/reports/" in page.url and page.url.endswith("evidently_drift.html")
    context.close()



@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_admin_pages_work_and_are_accessible(chromium: Any, site: dict[str, Any], axe_source: str,
                                            viewport: dict[str, int]) -> None:
    """The admin's pages (people, API keys, sessions, audit log, reload) in a real browser: each has 0 axe
    violations; a person is added and edited, a key is created (shown once) and revoked, the audit log
    finds the admin's own actions by person and action."""
    from playwright.sync_api import expect

    kind = "phone" if viewport["width"] < 500 else "desktop"
    context = chromium.new_context(viewport=viewport, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    base = site["base"]
    browser_sign_in(page, base, site["people"]["admin"])
    page.get_by_role("link", name="Beheer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Beheer")
    check_axe(page, axe_source, f"admin index ({kind})")

    page.get_by_role("link", name="Personen").click()
    check_axe(page, axe_source, f"admin people ({kind})")
    name = f"Mentor {kind} {secrets.token_hex(2)}"
    page.get_by_label("Naam").fill(name)
    page.get_by_label("E-mailadres").fill(f"{secrets.token_hex(4)}@school.example")
    page.get_by_label("Rol").select_option("school")
    page.get_by_label("Bereik").fill("school:01AB")
    page.get_by_label("Mentorgroepen (optioneel)").fill("3A, 3B")
    page.get_by_role("button", name="Persoon toevoegen").click()
    expect(page.get_by_role("status")).to_contain_text("Opgeslagen.")
    page.get_by_role("link", name=name).click()
    check_axe(page, axe_source, f"admin person ({kind})")
    page.get_by_label("Bereik").fill("nonsense")
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("alert")).to_contain_text("Schrijf het bereik als")
    check_axe(page, axe_source, f"admin person with an error ({kind})")

    page.goto(f"{base}/admin/keys")
    check_axe(page, axe_source, f"admin keys ({kind})")
    page.get_by_label("Omschrijving (welk systeem)").fill(f"Magister-koppeling {kind}")
    page.get_by_label("Bereik").fill("school:01AB")
    page.get_by_role("button", name="Sleutel maken").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("rsk_")
    check_axe(page, axe_source, f"admin key shown once ({kind})")
    page.goto(f"{base}/admin/keys")
    assert key not in page.content()  # shown once, never again
    page.get_by_role("button", name=f"Intrekken: Magister-koppeling {kind}").click()
    expect(page.get_by_role("status")).to_contain_text("Ingetrokken.")

    page.goto(f"{base}/admin/sessions")
    check_axe(page, axe_source, f"admin sessions ({kind})")
    expect(page.locator("main")).to_contain_text("Functioneel beheerder Eva Smit")

    page.goto(f"{base}/admin/audit")
    page.get_by_label("Persoon of sleutel").fill("Eva Smit")
    page.get_by_label("Handeling (begin)").fill("admin.key")
    page.get_by_role("button", name="Zoeken").click()
    expect(page.locator("main table")).to_contain_text("admin.key.revoke")
    check_axe(page, axe_source, f"admin audit log ({kind})")

    page.goto(f"{base}/admin/model")
    check_axe(page, axe_source, f"admin model ({kind})")
    page.get_by_role("button", name="Model herladen").click()
    expect(page.get_by_role("status")).to_contain_text("versie")
    if kind == "phone":
        no_horizontal_scroll(page, "admin model")
    context.close()

    # the sign-in page as a stranger sees it
    stranger = chromium.new_context(viewport=viewport, bypass_csp=True)
    page = stranger.new_page()
    page.goto(f"{base}/login")
    check_axe(page, axe_source, f"sign-in page ({kind})")
    stranger.close()


def test_the_accessibility_check_can_fail(chromium: Any, axe_source: str) -> None:
    """axe-core is live: a page with an unlabelled field and an image without text has violations."""
    context = chromium.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_content('<!doctype html><html lang="nl"><title>x</title><body><main><img src="data:,">'
                     '<input type="text"></main></body></html>')
    with pytest.raises(AssertionError, match="image-alt"):
        check_axe(page, axe_source, "a broken page")
    context.close()
