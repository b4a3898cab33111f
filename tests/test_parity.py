"""Parity: the same pupils scored by `riskscore score` (the batch job, a real subprocess), shown on the web
student page, and scored again through POST /v1/scores from their raw events give identical reasons,
triggers and legal due dates — there is one scoring core (riskscore.scoring) behind all three doors."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import TEST_SESSION_SECRET, SmallWorld, sign_in_person
from riskscore.api import create_app
from riskscore.settings import Settings
from riskscore.store.db import make_engine, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import Score
from riskscore.store.scores import stored_to_result
from riskscore.testing import body_from_tables
from riskscore.web.auth import SESSION_COOKIE

pytestmark = pytest.mark.slow
COMPARED = ("student_id", "school_id", "municipality", "rmc_region", "age", "band", "reasons", "triggers", "roles",
            "model_version")


@pytest.fixture(scope="module")
def world(small_world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("parity")
    url = f"sqlite:///{home / 'rs.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
    env.update(RISKSCORE_HOME=str(home), RISKSCORE_DATABASE_URL=url)
    out = subprocess.run([sys.executable, "-m", "riskscore.cli", "score", "--as-of", small_world.score_as_of,
                          "--data", str(small_world.data_dir), "--bundle", str(small_world.bundle_dir), "--json"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        batch = {r.student_id: stored_to_result(r) for r in s.query(Score)}
        key = create_key(s, "jeugdarts", "all", [], "parity")[1]  # sees everything, health detail included
        person = sign_in_person(s, TEST_SESSION_SECRET, role="jeugdarts", scope_kind="all", label="parity")[1]
    app = create_app(Settings(home=home, database_url=url, bundle_path=small_world.bundle_dir, log_level="WARNING",
                              session_secret=SecretStr(TEST_SESSION_SECRET)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "key": key, "person": person, "batch": batch, "sessions": sessions}
    engine.dispose()


def pick(batch: dict[str, dict[str, Any]], per_rule: int = 2, quiet: int = 3) -> list[str]:
    """Pupils covering every rule that fired in the batch (a few each), plus some without any trigger."""
    chosen: list[str] = []
    for sid, r in sorted(batch.items()):
        ids = {t["id"] for t in r["triggers"]}
        if any(sum(t["id"] == rule for c in chosen for t in batch[c]["triggers"]) < per_rule for rule in ids):
            chosen.append(sid)
    chosen += [sid for sid, r in sorted(batch.items()) if not r["triggers"] and r["reasons"]][:quiet]
    return chosen


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: result[k] for k in COMPARED}
    out["probability"] = round(float(result["probability"]), 12)
    out["reasons"] = [{**r, "contribution": round(float(r["contribution"]), 12)} for r in result["reasons"]]
    return out


def page_of(world: dict[str, Any], sid: str) -> tuple[list[str], str]:
    """Reason texts as the web student page lists them, and the page's text (tags stripped)."""
    page = world["client"].get(f"/students/{sid}", headers={"Accept-Language": "nl"})
    assert page.status_code == 200, page.text[:300]
    text = page.text
    reasons_html = text.split('<ul class="reasons"', 1)[1].split("</ul>", 1)[0] if '<ul class="reasons"' in text else ""
    reasons = [html.unescape(re.sub(r"<[^>]+>", "", m.split(" <em>")[0])).strip()
               for m in re.findall(r'<span class="reason-text">(.*?)</span>', reasons_html, flags=re.S)]
    plain = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))
    return reasons, plain


def sign_in(world: dict[str, Any]) -> None:
    """The same jeugdarts (scope all), as a person signed in on the web."""
    world["client"].cookies.set(SESSION_COOKIE, world["person"])


def test_batch_web_and_api_agree(world: dict[str, Any], small_world: SmallWorld) -> None:
    from riskscore.web.data import rule_text
    from riskscore.web.i18n import when

    batch = world["batch"]
    chosen = pick(batch)
    rules_seen = {t["id"] for sid in chosen for t in batch[sid]["triggers"]}
    assert len(chosen) >= 5 and len(rules_seen) >= 4 and "leerplicht_16h_4w" in rules_seen, (chosen, rules_seen)
    assert any(t["due_date"] for sid in chosen for t in batch[sid]["triggers"])  # a legal deadline is compared

    # 1. the web student page shows the batch's reasons, triggers and due dates
    sign_in(world)
    for sid in chosen:
        reasons, plain = page_of(world, sid)
        expected = batch[sid]
        assert reasons == [r["text_nl"] for r in expected["reasons"]], sid
        for trig in expected["triggers"]:  # each trigger with its rule, detail and legal deadline, in Dutch
            # (a trigger that opened a case is shown in the case's "why" block, the others as signals)
            assert rule_text(trig["id"], "nl", viewer="jeugdarts") in plain, (sid, trig["id"])
            if trig["detail"]:
                assert trig["detail"] in plain, (sid, trig)
            if trig["due_date"]:
                assert when(trig["due_date"], "nl") in plain, (sid, trig)

    # 2. the same pupils' raw events through POST /v1/scores: the service computes the same
    bodies = [body_from_tables(small_world.tables, sid, small_world.score_as_of) for sid in chosen]
    got: dict[str, dict[str, Any]] = {}
    for i in range(0, len(bodies), 10):
        r = world["client"].post("/v1/scores", json={"students": bodies[i:i + 10]},
                                 headers={"Authorization": f"Bearer {world['key']}"})
        assert r.status_code == 200, r.text[:1000]
        got.update({x["student_id"]: x for x in r.json()["results"]})
    for sid in chosen:
        api, expected = got[sid], batch[sid]
        assert api["reasons"] == [{**x, "withheld": False} for x in expected["reasons"]], sid
        assert [{k: v for k, v in t.items() if k != "withheld"} for t in api["triggers"]] == expected["triggers"], sid
        assert api["reviewer_roles"] == expected["roles"] and api["band"] == expected["band"], sid
        assert api["probability"] == pytest.approx(expected["probability"], abs=1e-12), sid

    # 3. what the API stored equals what the batch stored (scope, age and roles included)
    with world["sessions"]() as s:
        after = {r.student_id: stored_to_result(r) for r in s.query(Score).filter(Score.student_id.in_(chosen))}
    assert {sid: comparable(after[sid]) for sid in chosen} == {sid: comparable(batch[sid]) for sid in chosen}


def test_body_from_tables_passes_the_request_model(small_world: SmallWorld) -> None:
    from riskscore.api.schemas import StudentEvents

    students = small_world.tables["students"]
    sid = str(students.loc[students["school_year"] == students["school_year"].max(), "student_id"].iloc[0])
    body = body_from_tables(small_world.tables, sid, small_world.score_as_of)
    parsed = StudentEvents.model_validate(body)
    assert parsed.student_id == sid and str(parsed.as_of) == small_world.score_as_of
