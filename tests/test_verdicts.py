"""Pages that state their verdict with its cause at the top, in the page's language, and never contradict
their own numbers (issue 22): the monitoring page leads with the findings that made the verdict, in Dutch
or English, with the numbers that crossed a threshold; the impact page claims an effect only when the
estimate's own diagnostics allow it and shows the follow-up steps apart, as an association; the dossier's
sections agree with each other and use the pages' one vocabulary of status words."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import TEST_SESSION_SECRET, sign_in_person
from riskscore.access import Principal
from riskscore.access.view import view_dossier
from riskscore.api import create_app
from riskscore.monitoring import report as monitoring_report
from riskscore.monitoring import verdicts
from riskscore.monitoring.checks import run_monitoring
from riskscore.monitoring.config import load_config
from riskscore.rules import RULES
from riskscore.settings import Settings
from riskscore.store import cases as store_cases
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.privacy import dossier
from riskscore.store.runs import write_scoring_run
from riskscore.testing import register_places
from riskscore.web import dossier as web_dossier
from riskscore.web import i18n
from riskscore.web.auth import SESSION_COOKIE

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2025, 3, 3)


def main_text(html: str) -> str:
    body = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def section(html: str, heading_id: str) -> str:
    """The text of the <section> that holds the heading with this id."""
    start = html.index(f'id="{heading_id}"')
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[start:html.index("</section>", start)]))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, small_world: Any) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("verdicts")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    settings = Settings(home=home, database_url=url, bundle_path=small_world.bundle_dir, log_level="ERROR",
                        session_secret=SecretStr(TEST_SESSION_SECRET))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield {"client": client, "session": session, "home": home, "settings": settings}
    session.close()
    engine.dispose()


def signed_in(site: dict[str, Any], role: str, **scope: Any) -> TestClient:
    client: TestClient = site["client"]
    client.cookies.clear()  # a fresh browser: Dutch, until it asks for English
    client.cookies.set(SESSION_COOKIE, sign_in_person(site["session"], TEST_SESSION_SECRET, role=role, **scope)[1])
    return client


# --- monitoring: the verdict and its cause at the top ----------------------------------------------------
def _fairness_only(seed: int = 3, n: int = 20_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current with the very same scores (PSI 0, no band moves), but in the current frame
    group gender=v holds twice its share of the flagged scores: a fairness alert and nothing else."""
    rng = np.random.default_rng(seed)
    p = np.sort(rng.beta(1.0, 40, n))
    band = np.where(p >= 0.15, "high", np.where(p >= 0.05, "medium", "low"))
    gender = np.where(rng.random(n) < 0.2, "v", "m")
    ref = pd.DataFrame({"probability": p, "band": band, "gender": gender})
    flagged = np.flatnonzero(band != "low")
    calm = np.flatnonzero(band == "low")
    n_v = int((gender == "v").sum())
    want = min(len(flagged), int(2 * len(flagged) / n * n_v))
    v_rows = np.concatenate([rng.choice(flagged, want, replace=False),
                             rng.choice(calm, n_v - want, replace=False)])
    cur_gender = np.full(n, "m", dtype=object)
    cur_gender[v_rows] = "v"
    cur = pd.DataFrame({"probability": p, "band": band, "gender": cur_gender})
    return ref, cur


def test_monitoring_page_leads_with_the_verdict_and_the_finding_that_caused_it(site: dict[str, Any]) -> None:
    """The old page said "Oordeel: alarm" beside "PSI 0,005" with the cause far below, in English. Now the
    verdict's section names the finding (in Dutch on the Dutch page, English on the English one) with the
    numbers that crossed the threshold, and the PSI stands beside the threshold it did not cross."""
    cfg = load_config(ROOT / "monitoring" / "config.yaml")
    cfg.feature_drift.columns = []
    ref, cur = _fairness_only()
    verdict = run_monitoring(ref, cur, config=cfg)
    assert verdict.status == "alert" and {b.check for b in verdict.breaches} == {"fairness"}
    assert verdict.summary["score_drift"]["psi"] < 0.01
    monitoring_report.write_reports(verdict, site["settings"].resolved_reports_dir() / "monitoring")
    breach = next(b for b in verdict.breaches if b.subject == "gender=v")
    row = verdict.tables["selection"].set_index(["column", "group"]).loc[("gender", "v")]

    page = signed_in(site, "data_team").get("/monitoring")
    assert page.status_code == 200
    top = section(page.text, "verdict-heading")
    assert "Oordeel: alarm" in top
    assert "Het aandeel gesignaleerde leerlingen in groep gender=v steeg van" in top
    assert "sterker gestegen dan bij de andere leerlingen" in top  # v rose; m (fell more) is the other side
    assert "Het aandeel gesignaleerde leerlingen in groep gender=m daalde van" in top
    # the numbers beside the verdict are the ones that caused it, in Dutch notation
    assert verdicts.pct(float(row["rate_ref"]), "nl") in top and verdicts.pct(float(row["rate_cur"]), "nl") in top
    assert verdicts.points(float(row["change"]), "nl") in top
    text = main_text(page.text)
    assert text.index("Oordeel: alarm") < text.index("Verdeling van de scores")  # before any chart
    assert "Onderzoek groep" in text  # what to do, in Dutch
    assert "flag rate" not in text and "share of flagged" not in text.lower()  # no English on the Dutch page
    psi_text = i18n.number(verdict.summary["score_drift"]["psi"], "nl", 3)
    assert f"Verschuiving van de scores (PSI): {psi_text} (onder de waarschuwingsgrens 0,10)" in text

    english = signed_in(site, "data_team").get("/monitoring?lang=en")
    top_en = section(english.text, "verdict-heading")
    assert "Verdict: alert" in top_en and "The share of flagged pupils in group gender=v rose from" in top_en
    assert verdicts.pct(float(row["rate_cur"]), "en") in top_en and "steeg" not in top_en
    assert breach.message_nl and breach.action_nl and breach.message != breach.message_nl
    # machines read the same findings in both languages
    key = create_key(site["session"], "data_team", "all", [], "monitoring reader")[1]
    api = site["client"].get("/v1/monitoring/status", headers={"X-API-Key": key}).json()
    alert = next(a for a in api["alerts"] if a["subject"] == "gender=v")
    assert alert["message_nl"] == breach.message_nl and alert["action_nl"] == breach.action_nl


def test_every_finding_speaks_both_languages() -> None:
    """Each kind of finding the checks make has its sentence and action in Dutch and English, the Dutch
    with decimal commas."""
    made = {
        "feature_missing": verdicts.finding("feature_missing", feature="sick_days_year"),
        "feature_drifted": verdicts.finding("feature_drifted", feature="x", method="wasserstein", score=0.322,
                                            threshold=verdicts.dec(0.1)),
        "dataset_drift": verdicts.finding("dataset_drift", share=verdicts.share(0.667), limit=verdicts.share(0.3)),
        "psi_alert": verdicts.finding("psi_alert", psi=0.484, limit=verdicts.dec(0.2)),
        "band_shift": verdicts.finding("band_shift", band=("laag", "low"), ref=verdicts.share(0.854),
                                       cur=verdicts.share(0.573), change=verdicts.change(-0.281),
                                       p=verdicts.p_value(2.3e-90)),
    }
    assert set(verdicts.FINDINGS) == set(verdicts.ACTIONS)
    for kind, f in made.items():
        assert f.message_nl and f.message_en and f.action_nl and f.action_en, kind
        assert "{" not in f.message_nl + f.message_en + f.action_nl + f.action_en, kind
    assert made["feature_drifted"].message_nl == "Kenmerk x is verschoven: wasserstein 0,322 (grens 0,1)."
    assert made["psi_alert"].message_en == "The scores shifted strongly: PSI 0.484 (alert from 0.2)."
    assert "-28,1 procentpunt" in made["band_shift"].message_nl and "risico laag" in made["band_shift"].message_nl
    assert "2,3e-90" in made["band_shift"].message_nl


def test_a_report_from_before_dutch_findings_says_so(site: dict[str, Any]) -> None:
    """An older summary has English findings only: the Dutch page shows them marked as English, never
    nothing, and the verdict still names its cause."""
    run = site["settings"].resolved_reports_dir() / "monitoring" / "20990101T000000000000Z"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({
        "status": "warn", "created_at": "2099-01-01T00:00:00Z", "model_version": "old-1",
        "breaches": [{"check": "score_drift", "subject": "probability", "severity": "warn",
                      "message": "PSI of the calibrated probability is 0.150 (warn at 0.1)",
                      "action": "watch the next runs"}],
        "score_drift": {"psi": 0.15}, "flag_rate_current": 0.12}))
    try:
        page = signed_in(site, "admin").get("/monitoring").text
        top = section(page, "verdict-heading")
        assert "Oordeel: waarschuwing" in top and "PSI of the calibrated probability is 0.150" in top
        assert '<li lang="en">PSI of the calibrated probability' in page
    finally:
        (run / "summary.json").unlink()
        run.rmdir()


# --- impact: a conclusion respects its own diagnostics -------------------------------------------------------
def _estimate(**changes: Any) -> dict[str, Any]:
    base = {"role": "school", "outcome": "absence_8w", "status": "ok", "estimate": -1.5, "ci_low": -2.5,
            "ci_high": -0.5, "n_left_h": 140, "n_right_h": 141, "n_cutoffs": 17, "density_p": 0.4,
            "first_stage": {"flagged_left": 0.0, "flagged_right": 1.0, "reviewed_left": 0.02, "reviewed_right": 0.7}}
    return {**base, **changes}


@pytest.mark.parametrize("changes, code", [
    ({}, "lower"),
    ({"ci_low": 0.5, "ci_high": 2.5}, "higher"),
    ({"ci_low": -1.0, "ci_high": 1.0}, "none"),
    ({"first_stage": {"reviewed_left": 0.0, "reviewed_right": 0.0}}, "not_worked_on"),
    ({"first_stage": {"reviewed_left": 0.6, "reviewed_right": 0.62}}, "not_worked_on"),
    ({"first_stage": {}}, "not_worked_on"),
    ({"density_p": 0.01}, "density"),
    ({"density_p": None}, "no_density"),
    ({"status": "too_small", "estimate": None, "ci_low": None, "ci_high": None, "n_left_h": 0, "n_right_h": 0,
      "n_left": 11, "n_right": 12}, "too_small"),
    ({"status": "too_small", "n_left_h": 0, "n_right_h": 0, "n_left": 0, "n_right": 0, "n_without_follow_up": 90},
     "no_follow_up"),
    ({"status": "failed", "ci_low": None}, "failed"),
])
def test_impact_conclusion_follows_the_diagnostics(changes: dict[str, Any], code: str) -> None:
    c = verdicts.impact_conclusion(_estimate(**changes))
    assert c.code == code
    assert c.claims == (code in ("lower", "higher", "none"))
    if not c.claims:
        assert c.nl.startswith("Geen conclusie mogelijk") and c.en.startswith("No conclusion possible")
    if code == "lower":
        assert "rond de grens" in c.nl and "near the cut-off" in c.en


def test_impact_page_claims_no_effect_when_cases_were_not_worked_on(site: dict[str, Any]) -> None:
    """The demo's page concluded "Na een signaal minder ongeoorloofd verzuim" beside "Casus beoordeeld
    0,0%" and a failed density test. Now: no effect claim, and the reason at the top."""
    folder = site["settings"].resolved_reports_dir() / "impact" / "20990101T000000Z"
    folder.mkdir(parents=True)
    estimates = [_estimate(first_stage={"reviewed_left": 0.0, "reviewed_right": 0.0}),
                 _estimate(role="leerplicht", density_p=0.003),
                 _estimate(role="school", outcome="vsv_12m", status="too_small", n_left_h=22, n_right_h=22),
                 _estimate(role="leerplicht", outcome="vsv_12m", status="too_small", n_left_h=9, n_right_h=12)]
    (folder / "impact.json").write_text(json.dumps({"created_at": "2099-01-01T00:00:00Z", "runs": [{}], "n_rows": 9,
                                                    "notes": [], "estimates": estimates}))
    try:
        client = signed_in(site, "data_team")
        page = client.get("/impact")
        assert page.status_code == 200
        text = main_text(page.text)
        assert "Na een signaal minder" not in text and "Less unauthorised absence" not in text
        top = section(page.text, "impact-verdict")
        assert "Geen enkele schatting laat een conclusie toe" in top
        assert "niet vaker opgepakt" in top and "0,0% links, 0,0% rechts" in top
        assert "dichtheidstest p = 0,003" in top
        # each "too few" sentence carries its own estimate's numbers, never another's
        assert "(22 links, 22 rechts). (school: voortijdig schoolverlaten)" in top
        assert "(9 links, 12 rechts). (leerplicht: voortijdig schoolverlaten)" in top
        assert "rond de capaciteitsgrens" in text  # what the estimate is
        # a report whose diagnostics hold: the claim is at the top, as an estimate at the cut-off
        estimates.append(_estimate(role="rmc"))
        (folder / "impact.json").write_text(json.dumps({"created_at": "2099-01-01T00:00:00Z", "runs": [{}],
                                                        "n_rows": 9, "notes": [], "estimates": estimates}))
        top = section(client.get("/impact").text, "impact-verdict")
        assert "RMC: ongeoorloofd verzuim – Na een signaal minder ongeoorloofd verzuim bij leerlingen rond de grens" in top
        assert "Bij de andere schattingen is geen conclusie mogelijk" in top
        english = section(client.get("/impact?lang=en").text, "impact-verdict")
        assert "Less unauthorised absence after a flag for pupils near the cut-off" in english
    finally:
        (folder / "impact.json").unlink()
        folder.rmdir()


def test_impact_page_shows_follow_up_steps_as_an_association(site: dict[str, Any]) -> None:
    s = site["session"]
    register_places(s, [("S9100001", "09XY", "GM0999", "RMC09")], school_year="2024-25")
    case, _ = store_cases.open_or_update_case(s, student_id="S9100001", role="leerplicht",
                                              reason="rule:leerplicht_16h_4w", as_of=AS_OF, school_id="09XY",
                                              municipality="GM0999", rmc_region="RMC09", due_date=AS_OF)
    results = ["improved"] * 8 + ["worse"] * 3 + ["unchanged"]
    for result in results:
        step = store_cases.add_action(s, case.id, kind="warning", owner="user:1", due_on=AS_OF, actor="user:1")
        store_cases.complete_action(s, case.id, step.id, done_on=AS_OF, actor="user:1")
        store_cases.record_follow_up(s, case.id, step.id, result=result, actor="user:1")
    store_cases.add_action(s, case.id, kind="halt", owner="user:1", due_on=AS_OF, actor="user:1")
    page = signed_in(site, "data_team").get("/impact")
    text = main_text(page.text)
    assert "Vervolgstappen en nacontrole: samenhang, geen effect" in text
    assert "hoeft dat niet te veroorzaken" in text
    table = page.text[page.text.index('id="followup-heading"'):]
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<th scope="row">leerplicht</th><td>([^<]+)</td>(.*?)</tr>',
                                                           table)}
    # planned, done, checked, better, the same, worse, share better
    assert re.findall(r'<td class="num">([^<]+)</td>', rows["waarschuwing"]) == ["12", "12", "12", "8", "1", "3", "67%"]
    halt = re.findall(r'<td class="num">([^<]+)</td>', rows["HALT-verwijzing"])
    assert halt == ["1", "0", "0", "0", "0", "0", "te weinig"]  # no share of a handful


# --- the dossier: sections that agree, one vocabulary ------------------------------------------------------
def _seed_case(s: Any, sid: str, role: str, reason: str, *, detail: str | None = None) -> Any:
    register_places(s, [(sid, "01AB", "GM0363", "RMC27")], school_year="2024-25")
    case, _ = store_cases.open_or_update_case(s, student_id=sid, role=role, reason=reason, as_of=AS_OF,
                                              school_id="01AB", municipality="GM0363", rmc_region="RMC27",
                                              due_date=dt.date(2025, 3, 10), fired_on=dt.date(2025, 3, 3),
                                              detail=detail)
    return case


def _page(s: Any, sid: str, principal: Principal | None, lang: str = "nl") -> str:
    data = dossier(s, sid, rule_sources={k: r.source for k, r in RULES.items()})
    assert data is not None
    html = web_dossier.render(view_dossier(data, principal), lang=lang, today=dt.date(2025, 3, 20))
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_dossier_rules_section_agrees_with_the_case_it_opened(site: dict[str, Any]) -> None:
    """A case opened by the 16-hour rule, with no stored score that carries the trigger: the old page said
    "Er was geen regel uit de wet van toepassing" beside the case's leerplicht_16h_4w."""
    s = site["session"]
    case = _seed_case(s, "S9200001", "school", "rule:leerplicht_16h_4w",
                      detail="18 uur ongeoorloofd verzuim binnen 4 lesweken")
    write_scoring_run(s, as_of=AS_OF, model_version="m-1", scores=[{
        "student_id": "S9200001", "school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27",
        "probability": 0.2, "band": "medium", "reasons": [], "triggers": [], "roles": ["school"]}])
    mentor = Principal("k", "mentor", "school", "school", ("01AB",))
    for principal in (None, mentor):
        text = _page(s, "S9200001", principal)
        assert "geen regel uit de wet" not in text
        rules = text[text.index("Regels uit de wet of vaste afspraken"):text.index("Gesprekken en opvolging")]
        assert "16 uur verzuim in 4 lesweken" in rules and "Leerplichtwet 1969" in rules and "10 maart 2025" in rules
        cases = text[text.index("Gesprekken en opvolging"):text.index("Wie heeft je gegevens bekeken")]
        assert "16 uur verzuim in 4 lesweken – afgegaan op 3 maart 2025" in cases
        # the legal duty in words: the school must report to DUO by the deadline, which has passed
        assert "De school moet dit melden bij DUO (het verzuimloket), uiterlijk 10 maart 2025." in cases
        assert "de termijn is voorbij" in cases
        assert "rule:" not in text and "leerplicht_16h_4w:" not in text
    # a plan step and a report: in plain words
    step = store_cases.add_action(s, case.id, kind="talk_parents", owner="user:1", due_on=dt.date(2025, 3, 14),
                                  actor="user:1")
    store_cases.complete_action(s, case.id, step.id, done_on=dt.date(2025, 3, 12), actor="user:1",
                                result="afspraak gemaakt")
    store_cases.record_report(s, case.id, reported_on=dt.date(2025, 3, 7), reference="DUO-7", actor="user:1",
                              today=dt.date(2025, 3, 20))
    text = _page(s, "S9200001", None)
    assert ("gesprek met de ouders – gepland uiterlijk 14 maart 2025 – gedaan op 12 maart 2025 (afspraak gemaakt) – "
            "nacontrole 23 april 2025") in text
    assert "De melding bij DUO is gedaan op 7 maart 2025." in text and "termijn is voorbij" not in text
    english = _page(s, "S9200001", None, "en")
    assert "talk with the parents – planned by 14 March 2025" in english and "16 hours absent in 4 lesson weeks" in english


def test_dossier_uses_the_pages_status_words(site: dict[str, Any]) -> None:
    """The dossier had its own words ("wordt bekeken", "onterecht signaal") for statuses the pages call
    "in behandeling", "vals alarm": now one vocabulary (web/i18n.py) for every page and the dossier."""
    assert not hasattr(web_dossier, "STATUS_WORDS") and not hasattr(web_dossier, "BAND_WORDS")
    s = site["session"]
    case = _seed_case(s, "S9300001", "school", "capacity")
    for to in ("in_review", "false_alarm"):
        store_cases.transition_case(s, case.id, to, actor="user:1")
        for lang in ("nl", "en"):
            text = _page(s, "S9300001", None, lang)
            cases = text[text.index("Gesprekken en opvolging" if lang == "nl" else "Conversations and follow-up"):]
            word = i18n.label("status", to, lang)
            assert f"{'Stand' if lang == 'nl' else 'Status'}: {word}" in cases
    text = _page(s, "S9300001", None)
    assert "status gewijzigd: open → in behandeling" in text and "in behandeling → vals alarm" in text
    assert "wordt bekeken" not in text and "onterecht signaal" not in text
    assert "signaal van het rekenmodel" in text


def test_dossier_cuts_a_case_signal_as_the_role_view_cuts_a_trigger(site: dict[str, Any]) -> None:
    """The pupil's own export sees a case's sick-report signal in full; the school sees only that there is
    a health signal; the jeugdarts' own case reaches nobody but the jeugdarts."""
    s = site["session"]
    _seed_case(s, "S9400001", "school", "rule:mazl_long", detail="12 schooldagen ziek")
    _seed_case(s, "S9400001", "jeugdarts", "rule:mazl_frequent", detail="4 ziekmeldingen in 12 schoolweken")
    own = _page(s, "S9400001", None)
    assert "12 schooldagen ziek" in own and "4 ziekmeldingen" in own and "Lang ziek gemeld (MAZL)" in own
    school = _page(s, "S9400001", Principal("k", "mentor", "school", "school", ("01AB",)))
    assert "12 schooldagen ziek" not in school and "4 ziekmeldingen" not in school
    assert "gezondheidssignaal – alleen de jeugdarts ziet details" in school
    doctor = _page(s, "S9400001", Principal("k", "arts", "jeugdarts", "rmc_region", ("RMC27",)))
    assert "4 ziekmeldingen in 12 schoolweken" in doctor and "12 schooldagen ziek" not in doctor  # its own case only


def test_every_status_outcome_and_step_has_words_in_both_languages() -> None:
    """One vocabulary (web/i18n.py) that every page and the dossier read: no code shows through."""
    from riskscore.review import plans

    for prefix, codes in (("status", store_cases.CASE_STATUSES), ("outcome", plans.OUTCOMES),
                          ("step", tuple(k for kinds in plans.ACTION_KINDS.values() for k in kinds)),
                          ("follow_up", plans.FOLLOW_UP_RESULTS), ("rule_short", tuple(RULES)),
                          ("role_long", ("school", "jeugdarts", "leerplicht", "rmc"))):
        for code in codes:
            key = f"{prefix}_{code}"
            assert key in i18n.TEXTS and all(i18n.TEXTS[key]), key
