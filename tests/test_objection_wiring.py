"""An objection stored with store.privacy is honoured by the API's scoring route without any
monkeypatching: ServiceState.objecting must be wired to store.privacy.objecting_ids. Runs once the
scoring core (riskscore.scoring, api/events.py, testing.student_events) is merged; skipped before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("riskscore.scoring")
pytest.importorskip("riskscore.api.events")

from fastapi.testclient import TestClient

from riskscore.api import create_app
from riskscore.settings import Settings
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import Score
from riskscore.store.privacy import set_objection
from riskscore.testing import register_pupils


@pytest.fixture()
def env(tmp_path: Any) -> Iterator[dict[str, Any]]:
    from riskscore.testing import tiny_bundle

    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        key = create_key(s, "school", "school", ["01AB"], "mentor")[1]
    app = create_app(Settings(home=tmp_path, database_url=url, bundle_path=tiny_bundle(tmp_path / "bundle"),
                              log_level="WARNING"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "key": key, "sessions": sessions}
    engine.dispose()


def test_api_scoring_honours_a_stored_objection(env: dict[str, Any]) -> None:
    from riskscore.testing import student_events

    bodies = [student_events("OBJ-W1", absence_hours=35), student_events("FREE-W1", absence_hours=35)]
    with env["sessions"]() as s:
        register_pupils(s, bodies)
        set_objection(s, "OBJ-W1", reason="ouders", actor="key:fg")
    r = env["client"].post("/v1/scores", headers={"X-API-Key": env["key"]}, json={"students": bodies})
    assert r.status_code == 200, r.text
    obj, free = r.json()["results"]
    assert obj["objected"] and obj["probability"] is None and obj["reasons"] == []
    assert free["probability"] is not None and not free["objected"]
    with env["sessions"]() as s:
        assert [row.probability for row in s.query(Score).filter(Score.student_id == "OBJ-W1")] == [None]
