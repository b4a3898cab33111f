"""Data incomplete on the worklist: a school whose latest absence import was flagged has its pupils
stored with band 'unknown' and no probability, named in the API's worklist and on the web page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import sign_in_person
from riskscore import batch, datasets
from riskscore.api import create_app
from riskscore.ingest.ledger import incomplete_schools
from riskscore.ingest.run import run_import
from riskscore.model.bundle import ModelBundle
from riskscore.settings import Settings
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import Score
from riskscore.testing import tiny_bundle
from riskscore.web.auth import SESSION_COOKIE

KEY = b"test-key-0123456789"
WEB_SECRET = "incomplete-test-session-secret-0123456789"
FIX = Path(__file__).parent / "fixtures"
AS_OF = dt.date(2023, 9, 15)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("incomplete")
    data = home / "data"
    run_import(FIX / "duo", kind="duo", out=data, key=KEY)
    schools = FIX / "schools"
    run_import(schools / "magister_absences.csv", kind="absences", out=data, key=KEY, profile="magister",
               school=schools / "27GZ-magister.yaml")
    run_import(schools / "somtoday_absences.csv", kind="absences", out=data, key=KEY, profile="somtoday-csv",
               school=schools / "24ZZ-somtoday.yaml")
    week = home / "week.csv"  # next week's Magister export: one record left
    lines = (schools / "magister_absences.csv").read_bytes().decode("cp1252").splitlines()
    week.write_bytes(("\r\n".join(lines[:2]) + "\r\n").encode("cp1252"))
    run_import(week, kind="absences", out=data, key=KEY, profile="magister", school=schools / "27GZ-magister.yaml")
    flagged = incomplete_schools(data)
    bundle = tiny_bundle(home / "bundle")
    url = f"sqlite:///{home / 'rs.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_factory(engine)() as s:
        result = batch.run(s, datasets.read_tables(data), AS_OF, ModelBundle.load(bundle), home=home,
                           incomplete_schools=flagged)
        keys = {name: create_key(s, "school", "school", [school], name)[1]
                for name, school in (("gz", "27GZ"), ("zz", "24ZZ"))}
        people = {"gz": sign_in_person(s, WEB_SECRET, role="school", scope_kind="school", scope_values=["27GZ"])[1]}
        scores = list(s.scalars(sa.select(Score)))
    app = create_app(Settings(home=home, database_url=url, bundle_path=bundle, session_secret=SecretStr(WEB_SECRET)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "keys": keys, "people": people, "flagged": flagged, "result": result,
               "scores": scores}
    engine.dispose()


def test_flagged_school_is_stored_unknown_without_probability(world: dict[str, Any]) -> None:
    assert world["flagged"] == frozenset({"27GZ"})
    assert world["result"].bands["unknown"] == 40
    gz = [s for s in world["scores"] if s.school_id == "27GZ"]
    zz = [s for s in world["scores"] if s.school_id == "24ZZ"]
    assert gz and all(s.band == "unknown" and s.probability is None and s.reasons == [] for s in gz)
    assert zz and all(s.band in ("low", "medium", "high") and s.probability is not None for s in zz)
    import pandas as pd

    frame = pd.read_parquet(world["result"].frame_path)  # the monitoring frame holds only scored pupils
    assert not set(frame["student_id"]) & {s.student_id for s in gz} and set(frame["student_id"]) >= {s.student_id for s in zz}


def test_worklist_api_names_the_incomplete_school_in_scope_only(world: dict[str, Any]) -> None:
    c = world["client"]
    r = c.get("/v1/worklists", headers={"Authorization": f"Bearer {world['keys']['gz']}"})
    assert r.status_code == 200, r.text
    (entry,) = r.json()["data_incomplete"]
    assert entry["school_id"] == "27GZ" and entry["pupils"] == 40 and entry["as_of"] == AS_OF.isoformat()
    assert "onvolledig" in entry["text_nl"] and "incomplete" in entry["text_en"]
    assert entry["reasons"] == ["volume"] and "veel minder meldingen dan gewoonlijk" in entry["text_nl"]
    r = c.get("/v1/worklists", headers={"Authorization": f"Bearer {world['keys']['zz']}"})
    assert r.status_code == 200 and r.json()["data_incomplete"] == []


def test_worklist_page_shows_the_label(world: dict[str, Any]) -> None:
    c = world["client"]
    c.cookies.set(SESSION_COOKIE, world["people"]["gz"])  # a mentor of 27GZ, signed in
    page = c.get("/worklist").text
    assert 'id="data-incomplete"' in page and "School 27GZ: 40 leerlingen niet gescoord" in page


def test_a_flagged_pupils_score_reads_as_data_incomplete_in_api_and_page(world: dict[str, Any]) -> None:
    c = world["client"]
    sid = next(s.student_id for s in world["scores"] if s.school_id == "27GZ")
    r = c.get(f"/v1/students/{sid}/score", headers={"Authorization": f"Bearer {world['keys']['gz']}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["band"] == "unknown" and body["probability"] is None and body["data_incomplete"] is True
    c.cookies.set(SESSION_COOKIE, world["people"]["gz"])
    page = c.get(f"/students/{sid}").text
    assert "Dit is geen laag risico" in page
