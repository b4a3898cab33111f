"""The pages that state a verdict, in real chromium against a real uvicorn process, on a desktop and a
390×844 phone: the monitoring page's verdict and its cause come before any chart (on screen, not just in
the HTML), and /monitoring, /impact and the printable dossier have no horizontal scroll and no axe-core
violation. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import SiteHome, browser_sign_in, served_site, sign_in_person
from riskscore.clock import today as school_today
from riskscore.monitoring import report as monitoring_report
from riskscore.monitoring.checks import run_monitoring
from riskscore.monitoring.config import load_config
from riskscore.store import cases as store_cases
from riskscore.store.cases import list_worklist
from test_roles_browser import ARTIFACTS, DESKTOP, PHONE, ROOT, axe_source, check_axe, no_horizontal_scroll  # noqa: F401
from test_verdicts import _estimate, _fairness_only

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(small_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The small world scored by the batch command; a monitoring report whose alarm is one group's flag
    rate (PSI 0), an impact report, and a school case with a plan step and its report to DUO."""

    def prepare(site: SiteHome) -> dict[str, Any]:
        scored = site.score(small_world)
        assert scored.returncode == 0, scored.stderr[-2000:]
        cfg = load_config(ROOT / "monitoring" / "config.yaml")
        cfg.feature_drift.columns = []
        ref, cur = _fairness_only()
        monitoring_report.write_reports(run_monitoring(ref, cur, config=cfg), site.home / "reports" / "monitoring")
        folder = site.home / "reports" / "impact" / "20990101T000000Z"
        folder.mkdir(parents=True)
        (folder / "impact.json").write_text(json.dumps({
            "created_at": "2099-01-01T00:00:00Z", "runs": [{}], "n_rows": 9, "notes": [],
            "estimates": [_estimate(first_stage={"reviewed_left": 0.0, "reviewed_right": 0.0}),
                          _estimate(role="rmc")]}))
        session = site.session
        case = next(c for c in list_worklist(session, role="school") if c.reason == "rule:leerplicht_16h_4w")
        step = store_cases.add_action(session, case.id, kind="talk_parents", owner="user:1", due_on=case.as_of,
                                      actor="user:1")
        store_cases.complete_action(session, case.id, step.id, done_on=case.as_of, actor="user:1",
                                    result="afspraak gemaakt")
        store_cases.record_report(session, case.id, reported_on=case.as_of, reference="DUO-1", actor="user:1",
                                  today=school_today())
        secret = site.env["RISKSCORE_SESSION_SECRET"]
        people = {"data_team": sign_in_person(session, secret, role="data_team", label="Datateam")[1],
                  "school": sign_in_person(session, secret, role="school", scope_kind="school",
                                           scope_values=[case.school_id], label="Mentor Anne de Vries")[1]}
        return {"keys": {}, "people": people, "pupil": case.student_id}

    with served_site(small_world, tmp_path_factory.mktemp("verdicts-home"), prepare) as served:
        yield served


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_verdict_pages_in_a_browser(chromium: Any, site: dict[str, Any], axe_source: str,  # noqa: F811
                                    viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    kind = "phone" if viewport["width"] < 500 else "desktop"
    context = chromium.new_context(viewport=viewport, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    browser_sign_in(page, site["base"], site["people"]["data_team"])
    page.goto(f"{site['base']}/monitoring")
    verdict = page.locator("section.verdict")
    expect(verdict).to_contain_text("Oordeel: alarm")
    expect(verdict).to_contain_text("Het aandeel gesignaleerde leerlingen in groep gender=v steeg van")
    first_chart = page.locator("svg.chart").first
    assert verdict.bounding_box()["y"] + verdict.bounding_box()["height"] <= first_chart.bounding_box()["y"]
    if kind == "desktop":  # the cause is on the first screen, not 2,800 px down
        assert verdict.bounding_box()["y"] + verdict.bounding_box()["height"] <= viewport["height"]
    check_axe(page, axe_source, f"monitoring ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, "monitoring")
    page.screenshot(path=str(ARTIFACTS / f"verdicts-{kind}-monitoring.png"), full_page=True)

    page.goto(f"{site['base']}/impact")
    top = page.locator("section.verdict")
    expect(top).to_contain_text("RMC: ongeoorloofd verzuim – Na een signaal minder ongeoorloofd verzuim")
    expect(top).to_contain_text("Geen conclusie mogelijk: de casussen boven de grens zijn niet vaker opgepakt")
    check_axe(page, axe_source, f"impact ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, "impact")
    page.screenshot(path=str(ARTIFACTS / f"verdicts-{kind}-impact.png"), full_page=True)
    context.close()

    context = chromium.new_context(viewport=viewport, bypass_csp=True)
    page = context.new_page()
    browser_sign_in(page, site["base"], site["people"]["school"])
    page.goto(f"{site['base']}/students/{site['pupil']}/dossier")
    expect(page.locator("main")).to_contain_text("gesprek met de ouders")
    expect(page.locator("main")).to_contain_text("De school moet dit melden bij DUO")
    check_axe(page, axe_source, f"dossier ({kind})")
    if kind == "phone":
        no_horizontal_scroll(page, "dossier")
    page.screenshot(path=str(ARTIFACTS / f"verdicts-{kind}-dossier.png"), full_page=True)
    context.close()
