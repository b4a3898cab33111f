"""A demo that stays coherent (issue 22): every case page of a demo-like world shows the reasons of the
score that opened it, and stays so after the retrain loop.

`scripts/cycle.sh` used to score another synthetic cohort — the same pupil ids, other schools — into the
live store: pupil pages said "Geen redenen opgeslagen", "Inzage en bezwaar" was a 404 for listed pupils,
and `GET /v1/students/{id}/score` a 404 for a pupil on the school's own list. Now the loop runs in its own
scratch home (scripts/cycle.sh), and only the champion it promotes reaches the live store, by rescoring the
live data. `coherence_problems` signs every team in and opens every case of its worklist; the last test
shows it does find the old mixing, so the clean result of the first one means something."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import TEST_SESSION_SECRET, SmallWorld, make_small_world, sign_in_person
from riskscore import batch
from riskscore.access.view import view_reasons
from riskscore.api import create_app
from riskscore.model.bundle import ModelBundle
from riskscore.settings import Settings
from riskscore.store.cases import ACTIVE_STATUSES, case_signals
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import ReviewCase, Score
from riskscore.store.runs import case_scores
from riskscore.web import i18n
from riskscore.web.auth import SESSION_COOKIE

ROOT = Path(__file__).resolve().parents[1]
#: how a team's person and key are scoped: the unit review.teams names the team by
SCOPE_OF = {"school": "school", "leerplicht": "municipality", "jeugdarts": "rmc_region", "rmc": "rmc_region"}
NO_REASONS = ("Geen redenen opgeslagen", "No reasons stored")


def main_text(html: str) -> str:
    body = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


@dataclasses.dataclass
class Live:
    home: Path
    url: str
    session: Any
    client: TestClient


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    """The demo's cohort (small: ~1,500 pupils a year) and its champion."""
    return make_small_world(tmp_path_factory.mktemp("demo-world"), n_students=1500, seed=11)


@pytest.fixture(scope="module")
def loop_world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    """The retrain loop's delivery: another synthetic cohort with the same pupil ids (S000001, …) and other
    schools, and the model retrained on it."""
    return make_small_world(tmp_path_factory.mktemp("loop-world"), n_students=1500, seed=8)


@pytest.fixture
def live(world: SmallWorld, tmp_path: Path) -> Iterator[Live]:
    """The live home after the demo's batch run: today's scores and cases of the world's cohort."""
    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite:///{home / 'riskscore.db'}"
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    batch.run(session, world.tables, as_of(world), ModelBundle.load(world.bundle_dir), home=home)
    settings = Settings(home=home, database_url=url, bundle_path=world.bundle_dir, log_level="ERROR",
                        session_secret=SecretStr(TEST_SESSION_SECRET))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Live(home, url, session, client)
    session.close()
    engine.dispose()


def as_of(world: SmallWorld) -> dt.date:
    return dt.date.fromisoformat(world.score_as_of)


def coherence_problems(live: Live, *, lang: str = "nl", stop_after: int | None = None) -> tuple[int, list[str]]:
    """Sign every team in (a person for the pages, a key for the API) and open every case on its worklist:
    the pupil page answers 200 and shows the reasons of the case's own score (store.runs.case_scores, cut
    by the role view), GET /v1/students/{id}/score answers 200 with that same score, and the dossier
    page answers 200. Returns (cases opened, what was wrong)."""
    s, client = live.session, live.client
    teams = s.execute(sa.select(ReviewCase.role, ReviewCase.team).where(ReviewCase.status.in_(ACTIVE_STATUSES))
                      .distinct().order_by(ReviewCase.role, ReviewCase.team)).all()
    assert len({role for role, _ in teams}) == 4, teams  # every reviewing role has a list in the world
    opened, problems = 0, []
    for role, unit in teams:
        kind = SCOPE_OF[role]
        cookie = sign_in_person(s, TEST_SESSION_SECRET, role=role, scope_kind=kind, scope_values=[unit])[1]
        key = {"X-API-Key": create_key(s, role, kind, [unit], f"{role} {unit}")[1]}
        listed: list[dict[str, Any]] = []
        while True:
            page = client.get("/v1/worklists", params={"limit": 500, "offset": len(listed)}, headers=key)
            assert page.status_code == 200, page.text
            body = page.json()
            listed += body["rows"]
            if not body["rows"] or len(listed) >= body["total"]:
                break
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, cookie)
        assert client.get(f"/worklist?lang={lang}").status_code == 200
        for row in listed:
            if stop_after is not None and len(problems) >= stop_after:
                return opened, problems
            opened += 1
            sid, case = row["student_id"], s.get(ReviewCase, row["case_id"])
            where = f"{role} {unit} case {case.id} pupil {sid}"
            own = case_scores(s, [case]).get(case.id)
            signals = case_signals(s, [case.id]).get(case.id, [])
            pupil = client.get(f"/students/{sid}")
            text = main_text(pupil.text) if pupil.status_code == 200 else ""
            if pupil.status_code != 200:
                problems.append(f"{where}: pupil page {pupil.status_code}")
            api = client.get(f"/v1/students/{sid}/score", headers=key)
            if own is None:
                # no score in the case's own scope: only a legal rule may have opened it, for a pupil the run did
                # not score (no longer enrolled on the date, e.g. the vva_no_enrolment or a dropout's 16 hours);
                # the page then names the rule, and the API truthfully has no score
                if any(g.kind == "model" for g in signals) or not signals:
                    problems.append(f"{where}: opened by the model, but no score of its own scope")
                elif text and not any(i18n.label("rule_short", g.rule_id, lang) in text for g in signals):
                    problems.append(f"{where}: the page does not name the rule that opened the case")
                if any(sc.student_id == sid for sc in s.scalars(sa.select(Score).where(Score.student_id == sid))):
                    problems.append(f"{where}: a score of another scope is stored under the pupil's id")
                if api.status_code != 404:
                    problems.append(f"{where}: GET /v1/students/{{id}}/score {api.status_code} without a score")
            else:
                score = own[0]
                if text:
                    wanted = [r[f"text_{lang}"] for r in view_reasons(score.reasons, role) if not r.get("withheld")]
                    missing = [t for t in wanted if t not in text]
                    if missing or (wanted and any(n in text for n in NO_REASONS)):
                        problems.append(f"{where}: the page lacks its score's reasons {missing}")
                if api.status_code != 200:
                    problems.append(f"{where}: GET /v1/students/{{id}}/score {api.status_code}")
                elif abs((api.json()["probability"] or -1) - (score.probability or -1)) > 1e-9:
                    problems.append(f"{where}: the API's score {api.json()['probability']} is not the page's "
                                    f"{score.probability}")
            dossier = client.get(f"/students/{sid}/dossier")  # "Inzage en bezwaar" (the API's is the same store read)
            if dossier.status_code != 200:
                problems.append(f"{where}: dossier {dossier.status_code}")
    return opened, problems


def stored_places_match(live: Live, world: SmallWorld) -> list[str]:
    """Every score and case in the live store belongs to the live cohort: its place is where the world's
    students table last puts the pupil (the scored school year, or the last one of a pupil who left)."""
    students = world.tables["students"].sort_values("school_year").drop_duplicates("student_id", keep="last")
    place = students.set_index("student_id")[["school_id", "municipality", "rmc_region"]]
    wrong = []
    for table in (Score, ReviewCase):
        for sid, school, gm, rmc in live.session.execute(
                sa.select(table.student_id, table.school_id, table.municipality, table.rmc_region)):
            if sid not in place.index or tuple(place.loc[sid]) != (school, gm, rmc):
                wrong.append(f"{table.__tablename__}: {sid} at {school}/{gm}/{rmc}")
    return wrong


def another_cohort(world: SmallWorld, loop_world: SmallWorld) -> dict[str, pd.DataFrame]:
    tables = loop_world.tables
    shared = set(tables["students"]["student_id"]) & set(world.tables["students"]["student_id"])
    assert len(shared) > 1000  # the same pupil ids, as the demo's two cohorts have
    return tables


def new_champion(loop_world: SmallWorld) -> ModelBundle:
    """The loop's retrained model (trained on the other cohort), with a version of its own."""
    bundle = ModelBundle.load(loop_world.bundle_dir)
    bundle.version = "small-2"
    return bundle


def test_every_case_page_shows_the_reasons_of_its_own_score_before_and_after_the_loop(
        live: Live, world: SmallWorld, loop_world: SmallWorld) -> None:
    opened, problems = coherence_problems(live)
    assert opened > 100 and problems == [], problems[:10]
    assert stored_places_match(live, world) == []

    # the loop, as scripts/cycle.sh runs it: the other cohort in its own scratch home (own store, own runs)
    scratch = live.home / "data-cycle"
    scratch.mkdir()
    url = f"sqlite:///{scratch / 'riskscore.db'}"
    migrate(url)
    engine = make_engine(url)
    other = another_cohort(world, loop_world)
    old = ModelBundle.load(world.bundle_dir)
    champion = new_champion(loop_world)
    with session_factory(engine)() as s:
        batch.run(s, other, as_of(world), old, home=scratch)       # 2/7 with the champion
        batch.run(s, other, as_of(world), champion, home=scratch)  # 5/7 with the new one
    engine.dispose()
    # 7/7: the live data rescored with the champion that now serves
    result = batch.run(live.session, world.tables, as_of(world), champion, home=live.home)
    assert result.model_version == "small-2"
    shutil.rmtree(scratch)

    live.session.expire_all()
    opened_after, problems = coherence_problems(live)
    assert opened_after >= opened and problems == [], problems[:10]
    assert stored_places_match(live, world) == []
    # every case shows the new champion's score: pages, API and /model speak of one model
    cases = live.session.scalars(sa.select(ReviewCase).where(ReviewCase.status.in_(ACTIVE_STATUSES))).all()
    versions = {score.model_version for score, _ in case_scores(live.session, cases).values()}
    assert versions == {"small-2"}


def test_the_check_finds_cohorts_mixed_under_one_id(live: Live, world: SmallWorld, loop_world: SmallWorld) -> None:
    """The old loop: the other cohort scored into the live store. The same check then finds the issue's
    symptoms (the pupil pages without their case's reasons, 404s for listed pupils), so its clean result
    above is a result."""
    batch.run(live.session, another_cohort(world, loop_world), as_of(world),
              ModelBundle.load(world.bundle_dir), home=live.home)
    live.session.expire_all()
    _, problems = coherence_problems(live, stop_after=20)
    assert problems
    assert any("404" in p or "reasons" in p or "score of its own" in p for p in problems), problems[:10]
    assert stored_places_match(live, world)


# --- the script itself ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cycle_script_keeps_the_live_store_to_one_cohort(tmp_path: Path) -> None:
    """scripts/cycle.sh on a small demo home: the loop's cohort never enters the live store, its scratch home
    is gone afterwards, and the live data is rescored with the champion the loop promoted."""
    home = tmp_path / "home"
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "RISKSCORE_HOME": str(home), "RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS": "1",
           "BIN": bin_dir, "CYCLE_STUDENTS": "1200", "CYCLE_YEARS": "6", "CYCLE_FIRST_YEAR": "2021-22",
           "CYCLE_AS_OF": "2026-11-20"}
    for name in ("RISKSCORE_DATABASE_URL", "RISKSCORE_BUNDLE_PATH", "RISKSCORE_DATA_DIR", "RISKSCORE_REPORTS_DIR",
                 "RISKSCORE_MLFLOW_TRACKING_URI", "RISKSCORE_MLFLOW_ARTIFACT_ROOT"):
        env.pop(name, None)

    def cli(*args: str) -> None:
        run = subprocess.run([f"{bin_dir}/riskscore", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]

    # the demo's first steps, small: a cohort, a champion, today's run
    cli("synth", "--students", "1200", "--years", "6", "--first-year", "2021-22", "--seed", "7",
        "--out", str(home / "data"))
    cli("train", "--config", "training/config.yaml", "--data", str(home / "data"))
    promoted = subprocess.run(["bash", "scripts/promote-challenger.sh", "test"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    cli("score", "--data", str(home / "data"), "--as-of", "2026-11-20")
    run = subprocess.run(["bash", "scripts/cycle.sh"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert not (home / "data-cycle").exists()  # the loop's home is gone
    students = pd.read_parquet(home / "data" / "students.parquet").sort_values("school_year")
    place = {r.student_id: (r.school_id, r.municipality, r.rmc_region)  # where the live cohort last has the pupil
             for r in students.drop_duplicates("student_id", keep="last").itertuples()}
    with sqlite3.connect(home / "riskscore.db") as db:
        runs = db.execute("select model_version from scoring_runs where status = 'complete' order by id").fetchall()
        scores = db.execute("select student_id, school_id, municipality, rmc_region, run_id from scores").fetchall()
        cases = db.execute("select student_id, school_id, municipality, rmc_region from review_cases").fetchall()
        promotions = db.execute("select count(*) from audit_log where action = 'model.promote'").fetchone()[0]
    if "is now champion (was" in run.stdout:  # today's run, and the same day rescored with the new champion
        assert len(runs) == 2 and runs[0] != runs[1]
        assert promotions >= ("reviewed:" in run.stdout or "forced" in run.stdout)  # in the live audit log
    else:  # a fairness gate refused it: the same champion rescored the same day (that run replaced)
        assert len(runs) == 1
    assert all(place.get(sid) == (school, gm, rmc) for sid, school, gm, rmc, _ in scores)  # one cohort only
    assert all(place.get(sid) == (school, gm, rmc) for sid, school, gm, rmc in cases)
    assert "the live run after it exit" in run.stdout
