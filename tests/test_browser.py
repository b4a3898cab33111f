"""The web pages in a real browser (Debian's chromium through Playwright) against a real uvicorn process:
sign in with a key, filter the worklist, open a student, record a review outcome and see it kept
after a reload, find another school's pupil hidden (404), switch to English, sign out.

The store is filled by the batch job (`riskscore score --as-of`) on the small synthetic world; where
that command is missing the fixture writes the run and cases through the store directly. Screenshots
of the worklist and the student page go to test-artifacts/ (not in git)."""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SiteHome, browser_sign_in, served_site, sign_in_person
from riskscore.store.cases import list_worklist

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _seed_directly(session: Any, world: Any, bundle_dir: Path) -> None:
    """Fallback when the batch command is not available: score the world's last as-of date with the
    bundle and open cases for rule triggers and the highest probabilities, through the store."""
    import numpy as np
    import pandas as pd

    from riskscore.model import explain
    from riskscore.model.bundle import ModelBundle
    from riskscore.rules import RULES
    from riskscore.store.cases import open_or_update_case
    from riskscore.store.runs import write_scoring_run

    bundle = ModelBundle.load(bundle_dir)
    as_of = pd.Timestamp(world.score_as_of).date()
    table = world.features[pd.to_datetime(world.features["as_of"]).dt.date == as_of].reset_index(drop=True)
    X = table[list(bundle.features)].to_numpy(dtype=float)
    scored = bundle.score(X, top_k=3)
    rows, cases = [], []
    for i, rec in table.iterrows():
        triggers = [{"id": rid, "source": RULES[rid].source, "role": RULES[rid].role, "fired_on": as_of.isoformat(),
                     "due_date": None, "detail": None}
                    for rid in RULES if bool(rec.get(f"rule_{rid}", False))]
        row = {"student_id": rec["student_id"], "school_id": rec["school_id"], "municipality": rec["municipality"],
               "rmc_region": rec["rmc_region"], "age": float(rec["age"]), "probability": float(scored.probability[i]),
               "band": str(scored.band[i]), "triggers": triggers, "roles": ["school"],
               "reasons": [r.to_dict() for r in explain.reasons(bundle, X[i], scored.contributions[i], top_k=3)]}
        rows.append(row)
        cases += [(row, f"rule:{t['id']}", t["role"]) for t in triggers]
    top = np.argsort([-r["probability"] for r in rows])[: max(20, len(rows) // 20)]
    cases += [(rows[i], "capacity", "school") for i in top]
    run = write_scoring_run(session, as_of=as_of, model_version=bundle.version, scores=rows, source="test")
    for row, reason, role in cases:
        open_or_update_case(session, student_id=row["student_id"], role=role, reason=reason, as_of=as_of,
                            school_id=row["school_id"], municipality=row["municipality"],
                            rmc_region=row["rmc_region"], probability=row["probability"], band=row["band"],
                            opened_by_run=run.id)


@pytest.fixture(scope="module")
def site(small_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    def prepare(site: SiteHome) -> dict[str, Any]:
        session = site.session
        seeded_by = "store"
        if os.environ.get("RISKSCORE_BROWSER_SEED", "batch") == "batch":  # =store exercises the fallback
            batch = site.score(small_world, "--json", timeout=180)
            seeded_by = "batch" if batch.returncode == 0 else "store"
        if seeded_by == "store":
            _seed_directly(session, small_world, site.bundle)

        # two schools with high-band school cases, and the jeugdarts of school A's municipality
        school_cases = list_worklist(session, role="school")
        by_school = Counter(c.school_id for c in school_cases if c.band == "high" and c.school_id)
        assert len(by_school) >= 2, f"seeded by {seeded_by}: too few schools with high-band cases: {by_school}"
        (school_a, _), (school_b, _) = by_school.most_common(2)
        municipality = next(c.municipality for c in school_cases if c.school_id == school_a)
        secret = site.env["RISKSCORE_SESSION_SECRET"]
        people = {  # each a person with a live web session (the sign-in itself: test_signin_browser.py)
            "school_a": sign_in_person(session, secret, role="school", scope_kind="school", scope_values=[school_a],
                                       label="Mentor school A")[1],
            "school_b": sign_in_person(session, secret, role="school", scope_kind="school", scope_values=[school_b],
                                       label="Mentor school B")[1],
            "jeugdarts": sign_in_person(session, secret, role="jeugdarts", scope_kind="municipality",
                                        scope_values=[municipality], label="Jeugdarts")[1],
        }
        return {"keys": {}, "people": people, "school_a": school_a, "school_b": school_b, "session": session,
                "seeded_by": seeded_by}

    with served_site(small_world, tmp_path_factory.mktemp("browser-home"), prepare) as served:
        yield served


def test_care_team_flow_in_a_real_browser(site: dict[str, Any], chromium: Any) -> None:
    from playwright.sync_api import expect

    base = site["base"]
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()

    # keyboard first: the first Tab lands on the skip link
    page.goto(f"{base}/login")
    assert page.locator("html").get_attribute("lang") == "nl"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    # no identity provider on this site: the page says so plainly, and offers no key form
    expect(page.locator("main")).to_contain_text("Aanmelden is op deze installatie nog niet ingesteld")
    assert page.get_by_label("API-sleutel").count() == 0

    browser_sign_in(page, base, site["people"]["school_a"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Werklijst")
    expect(page.locator("main")).to_contain_text("Dit is een signaal voor een gesprek, geen besluit.")
    expect(page.locator("main")).to_contain_text("Verwachte echte gevallen in deze lijst")
    # one school in scope: no school column; every row's pupil belongs to it (checked again below)
    assert page.locator("table.worklist thead th", has_text="School").count() == 0

    # filter on the high band with the keyboard-accessible form
    page.get_by_text("Meer filters").click()  # the filters beyond search fold away (a <details>)
    page.get_by_label("Risico", exact=True).select_option("high")
    page.get_by_role("button", name="Filter toepassen").last.click()
    page.wait_for_load_state()
    assert "band=high" in page.url
    bands = page.locator("table.worklist tbody .band").all_inner_texts()
    assert bands and set(bands) == {"hoog"}
    page.screenshot(path=str(ARTIFACTS / "worklist.png"), full_page=True)

    # open the first pupil
    first = page.locator("table.worklist tbody tr th a").first
    student_id = first.inner_text().strip()
    first.click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Leerling {student_id}")
    assert page.locator("svg.bar").count() >= 1
    expect(page.locator("main")).to_contain_text("Redenen: bijdrage aan de score")
    page.screenshot(path=str(ARTIFACTS / "student.png"), full_page=True)

    # record a review outcome (post/redirect/get), then reload: it is kept
    form = page.locator("form.review").first
    form.get_by_label("Nieuwe status").select_option("in_review")
    form.get_by_label("Uitkomst", exact=True).select_option("conversation_held")
    form.get_by_label("ja", exact=True).check()
    note = f"Gesprek met mentor gepland ({secrets.token_hex(3)})"
    form.get_by_label("Notitie").fill(note)
    form.get_by_role("button", name="Opslaan").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("Opgeslagen.")
    page.reload()
    main = page.locator("main")
    expect(main).to_contain_text(note)
    expect(main).to_contain_text("gesprek gevoerd")
    expect(main).to_contain_text("status: in behandeling")
    expect(main).to_contain_text("Mentor school A")

    # English via the link on the page, remembered on the next page
    page.get_by_role("link", name="Switch to English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Student {student_id}")
    expect(page.locator("main")).to_contain_text("conversation held")
    page.goto(f"{base}/worklist")
    expect(page.get_by_role("heading", level=1)).to_have_text("Worklist")
    expect(page.locator("main")).to_contain_text("This is a signal for a conversation, not a decision.")

    # sign out through the header button: the session ends, the browser's old cookie opens nothing
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "/login" in page.url
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")
    context.add_cookies([{"name": "riskscore_session", "value": site["people"]["school_a"], "url": base}])
    page.goto(f"{base}/worklist")
    assert "/login" in page.url
    context.close()

    # another school's mentor: school A's pupil does not exist for them
    other = chromium.new_context()
    other.set_default_timeout(10_000)
    page = other.new_page()
    browser_sign_in(page, base, site["people"]["school_b"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Werklijst")
    response = page.goto(f"{base}/students/{student_id}")
    assert response is not None and response.status == 404
    expect(page.locator("main")).to_contain_text("valt buiten uw bevoegdheid")
    assert student_id not in page.locator("main").inner_text()
    other.close()

    # the jeugdarts of school A's municipality gets a worklist of its own role
    doctor = chromium.new_context()
    page = doctor.new_page()
    browser_sign_in(page, base, site["people"]["jeugdarts"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Werklijst")
    expect(page.locator("header")).to_contain_text("rol: jeugdarts")
    doctor.close()
