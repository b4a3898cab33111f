"""Issue 17's integrity findings, each as a test that fails on the old behaviour: a score stored from
outside a case's scope never reaches that team's worklist or pupil page; NaN/Infinity are a 422 on
every JSON route; strict outcome and case-id input; sick-report titles only for the jeugdarts;
unknown web paths get a page; /docs is served locally; /readyz refuses a read-only database; one save
takes a case from open to contacted with its outcome; the throttle never blocks a valid key and
believes X-Forwarded-For only from configured proxies (real uvicorn)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from conftest import TEST_SESSION_SECRET, make_people, running_server, sign_in_person
from riskscore.api import create_app
from riskscore.settings import Settings
from riskscore.store.cases import OUTCOMES, open_or_update_case
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.runs import write_scoring_run
from riskscore.store.scores import store_scores
from riskscore.testing import register_places
from riskscore.web.auth import SESSION_COOKIE
from test_api import build_bundle

AS_OF = dt.date(2025, 3, 3)
FOREIGN_TEXT = "FOREIGN-REASON from another tenant"
MAZL_TITLE = "Langer dan 6 aaneengesloten schooldagen ziek"


def _reason(text: str, contribution: float) -> dict[str, Any]:
    return {"code": "ABS_UNAUTH_4W", "feature": "unauthorised_hours_4w", "category": "absence", "value": 18.0,
            "contribution": contribution, "text_nl": text, "text_en": text}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("integrity")
    bundle = build_bundle(home / "bundle")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    specs = [
        ("school_a", "school", "school", ["01AB"]),
        ("school_b", "school", "school", ["02CD"]),
        ("leerplicht", "leerplicht", "municipality", ["GM0363"]),
        ("jeugdarts", "jeugdarts", "municipality", ["GM0363"]),
        ("admin", "admin", "all", []),
    ]
    keys = {name: create_key(session, role, kind, values, f"{name} label")[1] for name, role, kind, values in specs}
    people = make_people(session, specs)
    triggers = [{"id": "leerplicht_16h_4w", "source": "Leerplichtwet 1969", "role": "leerplicht",
                 "fired_on": "2025-02-28", "due_date": "2025-03-07", "detail": "18.00 h ongeoorloofd verzuim"},
                {"id": "mazl_long", "source": "MAZL (NCJ)", "role": "jeugdarts", "fired_on": "2025-02-20",
                 "due_date": None, "detail": "12 schooldagen ziek"}]
    seed = [{"student_id": "P-1", "school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27", "age": 15.0,
             "probability": 0.31, "band": "high", "reasons": [_reason("18 uur verzuim (eigen score)", 0.8)],
             "triggers": triggers, "roles": ["school", "leerplicht", "jeugdarts"]}]
    register_places(session, [("P-1", "01AB", "GM0363", "RMC27")], school_year="2024-25")
    run = write_scoring_run(session, as_of=AS_OF, model_version="test-1", scores=seed)
    cases = {}
    for role, reason, due in (("school", "capacity", None), ("leerplicht", "rule:leerplicht_16h_4w", dt.date(2025, 3, 7)),
                              ("jeugdarts", "rule:mazl_long", None)):
        case, _ = open_or_update_case(session, student_id="P-1", role=role, reason=reason, as_of=AS_OF,
                                      school_id="01AB", municipality="GM0363", rmc_region="RMC27", probability=0.31,
                                      band="high", due_date=due, opened_by_run=run.id)
        cases[role] = case.id
    app = create_app(Settings(home=home, database_url=url, bundle_path=bundle, log_level="ERROR",
                              session_secret=SecretStr(TEST_SESSION_SECRET)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"app": app, "client": client, "keys": keys, "people": people, "session": session, "cases": cases,
               "url": url,
               "home": home, "bundle": bundle, "engine": engine, "seed": seed}
    session.close()
    engine.dispose()


def api(site: dict[str, Any], who: str) -> dict[str, str]:
    return {"X-API-Key": site["keys"][who]}


def signed_in(site: dict[str, Any], who: str) -> TestClient:
    c = TestClient(site["app"], raise_server_exceptions=False)
    c.cookies.set(SESSION_COOKIE, sign_in_person(site["session"], TEST_SESSION_SECRET, role="",
                                                 user_id=site["people"][who])[1])
    return c


def main_text(html: str) -> str:
    body = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# --- the cross-tenant overwrite --------------------------------------------------------------------
def test_a_score_stored_from_another_tenant_never_reaches_the_case_team(site: dict[str, Any]) -> None:
    """School B's caller stores a score under school A's pupil id (as the old POST /v1/scores allowed),
    in the same run (as_of, model) as the batch: school A, leerplicht and the jeugdarts keep seeing the
    case's own score, on the API worklist, the web worklist and the pupil page."""
    foreign = {"student_id": "P-1", "school_id": "02CD", "municipality": "GM0599", "rmc_region": "RMC10",
               "age": 19.0, "as_of": AS_OF, "model_version": "api-2", "probability": 0.99, "band": "high",
               "reasons": [_reason(FOREIGN_TEXT, 3.0)], "triggers": [], "roles": ["school"]}
    store_scores(site["session"], [foreign])
    store_scores(site["session"], [{**foreign, "as_of": AS_OF + dt.timedelta(days=1)}])  # and a newer one

    def check(with_own_score: bool) -> None:
        for who in ("school_a", "leerplicht", "jeugdarts"):
            body = site["client"].get("/v1/worklists", headers=api(site, who)).json()
            row = next(r for r in body["rows"] if r["student_id"] == "P-1")
            assert row["probability"] == pytest.approx(0.31), who
            assert FOREIGN_TEXT not in json.dumps(body) and row["age"] != 19.0, who
            if with_own_score:
                assert row["age"] == 15.0 and row["score_as_of"] == AS_OF.isoformat(), who
                assert row["score_source"] == "batch", who
            c = signed_in(site, who)
            for page in (c.get("/worklist").text, c.get("/students/P-1").text):
                text = main_text(page)
                assert FOREIGN_TEXT not in text and "99,0%" not in text and "31,0%" in text, who

    check(with_own_score=True)
    # in the batch's own run (same as_of and model): the case's score is replaced in the store, but
    # the foreign one is still never shown; the case's own probability is
    store_scores(site["session"], [{**foreign, "model_version": "test-1"}])
    check(with_own_score=False)
    # the foreign caller's own school does not get school A's case either
    assert "31,0%" not in signed_in(site, "school_b").get("/worklist").text
    # a batch rerun restores the case's own score (same run id) for the tests below
    write_scoring_run(site["session"], as_of=AS_OF, model_version="test-1", scores=site["seed"])
    check(with_own_score=True)


# --- sick-report titles ----------------------------------------------------------------------------
def test_mazl_titles_and_dates_are_for_the_jeugdarts_only(site: dict[str, Any]) -> None:
    for who in ("leerplicht", "school_a"):
        body = site["client"].get("/v1/worklists", headers=api(site, who)).json()
        mazl = [t for r in body["rows"] for t in r["triggers"] if t["id"].startswith("mazl_")]
        if who == "leerplicht":
            assert mazl == []  # not even that one exists
        else:
            assert mazl and all(t["fired_on"] is None and t["detail"] != "12 schooldagen ziek" for t in mazl)
        page = signed_in(site, who).get("/students/P-1").text
        assert MAZL_TITLE not in page and "12 schooldagen ziek" not in page and "20 februari 2025" not in page
    doctor = main_text(signed_in(site, "jeugdarts").get("/students/P-1").text)
    assert MAZL_TITLE in doctor and "12 schooldagen ziek" in doctor


def test_pupil_page_shows_hours_rule_source_and_own_deadline(site: dict[str, Any]) -> None:
    text = main_text(signed_in(site, "leerplicht").get("/students/P-1").text)
    assert "18 uur ongeoorloofd verzuim" in text  # the trigger's detail, in words ('18.00 h' → '18 uur')
    assert "Leerplichtwet 1969" in text and "Afgegaan op 28 februari 2025" in text  # source and date
    # leerplicht awaits the school's report to DUO by the legal deadline: long past and not recorded
    assert "Melding van school verwacht vóór 7 maart 2025 — Verlopen: niet ontvangen (te laat, " in text
    assert "Leerling en ouders uitnodigen voor een verzuimgesprek" in text and "streefdatum" in text
    assert text.count("16 uur of meer ongeoorloofd verzuim") == 1  # the rule's text once, not twice
    assert "log-odds" not in text and "Niveau" not in text and "rule:" not in text


# --- NaN / Infinity --------------------------------------------------------------------------------
def _json_operations(app: Any) -> list[tuple[str, str]]:
    ops = []
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            if "application/json" in (op.get("requestBody") or {}).get("content", {}):
                ops.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return ops


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_422_on_every_json_route(site: dict[str, Any], constant: str) -> None:
    ops = _json_operations(site["app"])
    assert len(ops) >= 5  # scores, transitions, assign, notes, outcome, …
    for method, path in ops:
        body = '{"probability": C, "student_id": "P-1", "nested": [1, {"x": C}]}'.replace("C", constant)
        r = site["client"].request(method, path, content=body,
                                   headers={**api(site, "admin"), "content-type": "application/json"})
        assert r.status_code == 422, (method, path, r.status_code, r.text[:200])
        assert "NaN or Infinity" in r.text and r.json()["request_id"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                          lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                          max_leaves=8),
       constant=st.sampled_from(["NaN", "Infinity", "-Infinity"]))
def test_a_non_finite_constant_anywhere_in_a_body_is_422(site: dict[str, Any], value: Any, constant: str) -> None:
    body = json.dumps({"wrapper": value, "bad": "__X__"}).replace('"__X__"', constant)
    r = site["client"].post("/v1/scores", content=body, headers={**api(site, "school_a"),
                                                                 "content-type": "application/json"})
    assert r.status_code == 422 and "NaN or Infinity" in r.text
    # the same text inside a string is no number: not refused for that reason
    ok = site["client"].post("/v1/scores", content=json.dumps({"wrapper": value, "bad": constant}),
                             headers={**api(site, "school_a"), "content-type": "application/json"})
    assert ok.status_code != 500 and "NaN or Infinity" not in ok.text


# --- strict input on the review routes ---------------------------------------------------------------
def test_outcome_is_an_enum_and_booleans_are_booleans(site: dict[str, Any]) -> None:
    case = site["cases"]["school"]
    url = f"/v1/cases/{case}/outcome"
    for bad in ({"outcome": "0", "worth_conversation": True}, {"outcome": "whatever", "worth_conversation": True},
                {"outcome": "conversation_held", "worth_conversation": "yes"},
                {"outcome": "conversation_held", "worth_conversation": 0},
                {"outcome": "conversation_held", "worth_conversation": "true"}):
        r = site["client"].post(url, json=bad, headers=api(site, "school_a"))
        assert r.status_code == 422, bad
    r = site["client"].post(f"/v1/cases/{site['cases']['leerplicht']}/outcome",
                            json={"outcome": "reported_leerplicht", "worth_conversation": True},
                            headers=api(site, "leerplicht"))
    assert r.status_code == 422 and "not available for a 'leerplicht' case" in r.json()["error"]
    r = site["client"].post(url, json={"outcome": "conversation_held", "worth_conversation": False},
                            headers=api(site, "school_a"))
    assert r.status_code == 200 and r.json()["outcomes"][-1]["outcome"] == "conversation_held"
    schema = site["app"].openapi()["components"]["schemas"]["OutcomeIn"]["properties"]
    assert set(schema["outcome"]["enum"]) == set(OUTCOMES)


def test_leerplicht_is_not_offered_reporting_to_itself(site: dict[str, Any]) -> None:
    leerplicht = signed_in(site, "leerplicht").get("/students/P-1").text
    school = signed_in(site, "school_a").get("/students/P-1").text
    assert 'value="reported_leerplicht"' not in leerplicht and 'value="conversation_held"' in leerplicht
    assert 'value="reported_leerplicht"' in school


def test_contact_and_outcome_in_one_save_from_open(site: dict[str, Any]) -> None:
    c = signed_in(site, "jeugdarts")
    case = site["cases"]["jeugdarts"]
    html = c.get("/students/P-1").text
    assert 'value="contacted"' in html  # offered straight from 'open'
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = c.post(f"/cases/{case}/review", data={"csrf_token": token, "to_status": "contacted",
                                              "outcome": "consultation_held", "worth_conversation": "yes",
                                              "note": "ouders gebeld"}, follow_redirects=False)
    assert r.status_code == 303
    text = main_text(c.get("/students/P-1").text)
    assert "status: contact gelegd" in text and "consult gehouden" in text
    assert "capacity" not in text and "consultation_held" not in text and "rule:" not in text  # words, not codes


# --- paths, docs, readiness ---------------------------------------------------------------------------
def test_unknown_paths_are_a_page_for_people_and_json_for_the_api(site: dict[str, Any]) -> None:
    c = signed_in(site, "school_a")
    r = c.get("/werklijst-oud")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Niet gevonden" in r.text and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    r = c.get("/v1/nope", headers=api(site, "school_a"))
    assert r.status_code == 404 and r.json()["error"]
    for not_an_id in ("1.0", "abc", "+1"):
        assert c.get(f"/v1/cases/{not_an_id}", headers=api(site, "school_a")).status_code == 404


def test_docs_are_served_from_this_service(site: dict[str, Any]) -> None:
    html = site["client"].get("/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in html and "/docs/assets/swagger-ui.css" in html
    assert "cdn" not in html.lower() and "https://" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = site["client"].get(f"/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000
    assert site["client"].get("/redoc").status_code == 404


def test_readyz_refuses_a_read_only_database(site: dict[str, Any]) -> None:
    assert site["client"].get("/readyz").status_code == 200
    engine = make_engine(site["url"])

    @sa.event.listens_for(engine, "connect")
    def read_only(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA query_only = ON")

    app = create_app(Settings(home=site["home"], database_url=site["url"], bundle_path=site["bundle"],
                              log_level="ERROR"), engine=engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "read-only" in r.json()["reason"] and r.headers["retry-after"]
    engine.dispose()


# --- throttling behind a NAT and forwarded headers (real uvicorn) -------------------------------------
@pytest.mark.e2e
@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_for_counts_only_from_configured_proxies(site: dict[str, Any], tmp_path: Path,
                                                           trusted: bool) -> None:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        good = create_key(s, "school", "school", ["01AB"], "good")[1]
    env = {**os.environ, "RISKSCORE_HOME": str(tmp_path), "RISKSCORE_DATABASE_URL": url,
           "RISKSCORE_SESSION_SECRET": secrets.token_urlsafe(32),
           "RISKSCORE_TRUSTED_PROXIES": "127.0.0.1" if trusted else ""}
    with running_server(["--bundle", str(site["bundle"]), "--database-url", url], env=env,
                        log_path=tmp_path / "server.log") as base:
        statuses = []
        for i in range(11):  # an attacker rotating X-Forwarded-For, each time another key id
            r = httpx.get(f"{base}/v1/models/current", timeout=10,
                          headers={"X-API-Key": f"rsk_guess{i}_notthesecret", "X-Forwarded-For": f"203.0.113.{i}"})
            statuses.append(r.status_code)
        if trusted:  # from a configured proxy each forwarded address is its own client: never blocked
            assert statuses == [401] * 11
        else:  # the header is ignored: one client, blocked after 10 failures
            assert statuses == [401] * 10 + [429]
        # the NAT case: a valid key behind the same address still works
        assert httpx.get(f"{base}/v1/models/current", headers={"X-API-Key": good}, timeout=10).status_code == 200
    with engine.connect() as conn:
        clients = {row[0] for row in conn.execute(sa.text("SELECT DISTINCT client FROM auth_failures"))}
    engine.dispose()
    assert clients == ({f"203.0.113.{i}" for i in range(11)} if trusted else {"127.0.0.1"})


# --- model and monitoring pages ----------------------------------------------------------------------
def test_model_page_speaks_in_words(site: dict[str, Any]) -> None:
    text = main_text(signed_in(site, "school_a").get("/model").text)
    assert "Ongeoorloofd verzuim, laatste 4 lesweken (uren)" in text
    assert "unauthorised_hours_4w" not in text and "level_code" not in text


def test_monitoring_page_draws_its_charts_from_the_reports(site: dict[str, Any]) -> None:
    folder = Settings(home=site["home"]).resolved_reports_dir() / "monitoring"
    for i, psi in enumerate((0.02, 0.12, 0.31)):
        run = folder / f"2025030{i + 1}T000000000000Z"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({
            "status": "alert" if psi > 0.25 else "ok", "created_at": f"2025-03-0{i + 1}T00:00:00+00:00",
            "model_version": "test-1", "breaches": [], "score_drift": {"psi": psi},
            "flag_rate_current": 0.1 + i / 100, "as_of_current": f"2025-03-0{i + 1}"}))
    (run / "charts.json").write_text(json.dumps({
        "probability_hist": [{"left": k / 10, "right": (k + 1) / 10, "share_ref": 0.1, "share_cur": 0.05 + k / 100}
                             for k in range(10)],
        "selection": [{"column": "gender", "group": "<script>x</script>", "n_ref": 400, "n_cur": 500,
                       "rate_ref": 0.1, "rate_cur": 0.2, "tested": True, "alert": True}],
        "outcomes_by_group": [{"column": "level", "group": "mbo-2", "n": 300, "tpr": 0.6, "tpr_lo": 0.5,
                               "tpr_hi": 0.7, "flagged": 40, "tested": True}]}))
    (run / "evidently_drift.html").write_text("<html><body><script>1</script>drift</body></html>")
    from riskscore.store.cases import record_outcome

    record_outcome(site["session"], site["cases"]["school"], outcome="no_concern", worth_conversation=False,
                   recorded_by="test")
    admin = signed_in(site, "admin")
    html = admin.get("/monitoring").text
    assert html.count('<svg class="chart"') == 6  # distribution, PSI, flag rate, groups, TPR, reviews
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "0,310" in html and "3 maart 2025" in html  # the PSI history, oldest to newest, dates in words
    report = admin.get(f"/monitoring/reports/{run.name}/evidently_drift.html")
    assert report.status_code == 200 and "sandbox" in report.headers["content-security-policy"]
    assert admin.get(f"/monitoring/reports/{run.name}/summary.json").status_code == 404
    assert admin.get("/monitoring/reports/..%2F..%2Fetc/passwd").status_code == 404
    assert signed_in(site, "school_a").get(f"/monitoring/reports/{run.name}/evidently_drift.html").status_code == 403


def test_one_save_is_all_or_nothing(site: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Status and outcome go in one transaction: when the outcome fails, the status change is not kept."""
    from riskscore.store import cases as store_cases

    session = site["session"]
    case, _ = open_or_update_case(session, student_id="P-9", role="school", reason="capacity", as_of=AS_OF,
                                  school_id="01AB", municipality="GM0363", rmc_region="RMC27")

    def broken(*_a: Any, **_k: Any) -> Any:
        raise sa.exc.IntegrityError("insert", {}, Exception("disk said no"))

    monkeypatch.setattr(store_cases, "_outcome", broken)
    with pytest.raises(sa.exc.IntegrityError):
        store_cases.save_review(session, case.id, actor="t", to_status="contacted", outcome="conversation_held",
                                worth_conversation=True)
    session.expire_all()
    assert store_cases.get_case(session, case.id).status == "open"
    assert [e.action for e in store_cases.case_history(session, case.id)] == ["open"]
    monkeypatch.undo()
    store_cases.save_review(session, case.id, actor="t", to_status="contacted", outcome="conversation_held",
                            worth_conversation=True)
    assert store_cases.get_case(session, case.id).status == "contacted"
    assert [e.action for e in store_cases.case_history(session, case.id)] == ["open", "status", "outcome"]


@pytest.mark.postgres
def test_a_read_only_postgresql_is_not_ready(postgres_url: str) -> None:
    from riskscore.store.db import database_writable

    writable = sa.create_engine(postgres_url)
    read_only = sa.create_engine(postgres_url, connect_args={"options": "-c default_transaction_read_only=on"})
    try:
        assert database_writable(writable) and not database_writable(read_only)
    finally:
        writable.dispose()
        read_only.dispose()
