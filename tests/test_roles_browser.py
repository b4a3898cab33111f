"""A working hour per role in real chromium against a real uvicorn process (issue 17's done-when).

School mentor, leerplicht officer, youth doctor and RMC: sign in → the most urgent pupil by the due
date of their own next step → why (hours or detail, rule, source) → record contact and outcome in one
save → back to the list. RMC's list holds only its own region's young people: one of RMC age without
a startkwalificatie with RMC's own absence signal is found, one of another region is not. The data
team: sign in → the monitoring page's charts → the evidently report one click away. Each on a desktop
and on a 390×844 phone (no horizontal scroll), with axe-core (npm package in tests/browser, installed
on first use) at 0 violations on every page.
Screenshots go to test-artifacts/ (not in git)."""

from __future__ import annotations

import json
import os
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
from riskscore.store.cases import list_worklist
from riskscore.store.models import Score

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
        rmc_cases = list_worklist(session, role="rmc")
        own = Counter(c.rmc_region for c in rmc_cases if c.reason in RMC_OWN_REASONS and c.rmc_region)
        both = [r for r, _ in own.most_common()
                if all(any(c.rmc_region == r and c.reason == reason for c in rmc_cases) for reason in RMC_OWN_REASONS)]
        assert both, f"no region with both RMC signals ({', '.join(RMC_OWN_REASONS)}) in the scored world: {own}"
        region = str(both[0])
        in_region = {c.student_id for c in rmc_cases if c.rmc_region == region}
        rmc_inside = sorted(c.student_id for c in rmc_cases if c.rmc_region == region and c.reason == "rule:rmc_verzuim"
                            and rmc_population(small_world, c.student_id))
        assert rmc_inside, f"no pupil of 18-23 without sk with rmc_verzuim in {region}"
        rmc_outside = sorted({c.student_id for c in rmc_cases if c.rmc_region not in (region, None)} - in_region)
        assert rmc_outside, "every RMC case lies in one region: nothing to keep out of the list"
        left = sorted(c.student_id for c in rmc_cases if c.rmc_region == region and c.reason == "rule:deregistered_no_sk"
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
            "data_team": person("data_team", "all", [], "Datateam"),
            "admin": person("admin", "all", [], "Functioneel beheerder Eva Smit"),
        }
        return {"keys": {}, "people": people, "rmc": {"region": region, "in_region": in_region,
                                                      "inside": rmc_inside[0], "outside": rmc_outside[0],
                                                      "left": left[0]}}

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

    # the most urgent pupil: the list is sorted by the due date of this role's own next step
    rows = page.locator("table.worklist tbody tr")
    assert rows.count() >= 1
    dues = [d for d in rows.evaluate_all("rs => rs.map(r => r.dataset.due)")]
    assert dues == sorted(dues), f"{role}: worklist not sorted by due date"
    first = rows.first
    step_text = first.locator("td.step").inner_text()
    assert ("streefdatum" in step_text or "wettelijke termijn" in step_text) and (
        "verlopen" in step_text or "nog " in step_text or "vandaag" in step_text), step_text
    student_id = first.get_attribute("data-student")
    first.locator("th a").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Leerling {student_id}")

    # why: the rule and its detail (hours for absence), the source, the next step with its date
    why = page.locator("section.why-block")
    expect(why).to_be_visible()
    why_text = why.inner_text()
    assert "Volgende stap" in why_text and ("streefdatum" in why_text or "wettelijke termijn" in why_text)
    if why.locator("dd.source").count():  # a legal/protocol signal: its detail and its source
        assert why.locator("dd.trigger-detail").first.inner_text().strip()
        assert why.locator("dd.source").first.inner_text().strip()
        if role == "leerplicht":
            assert " uur ongeoorloofd verzuim" in why_text
        if role == "jeugdarts":
            assert "ziek" in why_text.lower()
    assert "log-odds" not in page.locator("main").inner_text()
    check_axe(page, axe_source, f"{role} pupil page ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, f"{role} pupil page")
    page.screenshot(path=str(ARTIFACTS / f"{role}-{kind}-pupil.png"), full_page=True)

    # contact and outcome in one save
    form = page.locator("form.review").first
    options = form.get_by_label("Nieuwe status").locator("option").all_inner_texts()
    outcomes = form.get_by_label("Uitkomst", exact=True).locator("option").all_inner_texts()
    # the attendance officer does not report to itself, and RMC works past leerplicht age
    assert ("gemeld bij leerplicht" in outcomes) is (role not in ("leerplicht", "rmc")), outcomes
    note = f"{'Jongere' if role == 'rmc' else 'Ouders'} gebeld ({secrets.token_hex(3)})"  # RMC: 18-23, no parents
    if "contact gelegd" in options:
        form.get_by_label("Nieuwe status").select_option(label="contact gelegd")
    form.get_by_label("Uitkomst", exact=True).select_option("conversation_held")
    form.get_by_label("ja", exact=True).check()
    form.get_by_label("Notitie").fill(note)
    form.get_by_role("button", name="Opslaan").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("Opgeslagen.")
    main = page.locator("main")
    expect(main).to_contain_text(note)
    expect(main).to_contain_text("uitkomst: gesprek gevoerd")
    if "contact gelegd" in options:
        expect(main).to_contain_text("status: contact gelegd")
    assert "conversation_held" not in main.inner_text() and "rule:" not in main.inner_text()

    # back to the list: the pupil is still there (contacted is still work to do)
    page.get_by_role("link", name="Terug naar de werklijst").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text("Werklijst")
    page.get_by_label("Zoek op leerlingnummer").fill(student_id or "")
    page.get_by_role("button", name="Filter toepassen").first.click()
    page.wait_for_load_state()
    assert page.locator("table.worklist tbody tr").first.get_attribute("data-student") == student_id

    if kind == "desktop":  # a link from another site (an e-mail, the intranet) lands signed in
        cookie_before = next(c["value"] for c in context.cookies() if c["name"] == "riskscore_session")
        page.goto(f'data:text/html,<a id="l" href="{base}/students/{student_id}">leerling</a>')
        page.click("#l")
        page.wait_for_load_state()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Leerling {student_id}")
        assert next(c["value"] for c in context.cookies() if c["name"] == "riskscore_session") == cookie_before
    if role == "rmc":
        rmc_sees_its_region_only(page, site, axe_source, kind)
    context.close()


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
    expect(left.locator("dd.source")).to_contain_text("RMC-meldplicht")
    step = left.locator("p.step").inner_text()
    assert "Jongere benaderen over een opleiding of werk met scholing" in step and "streefdatum" in step, step
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
