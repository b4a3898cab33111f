"""The pupil's rights through the API (TestClient on a real SQLite store): the dossier shows the scores,
triggers and who looked; an objection is stored, audited and withdrawn; erasure is admin-only, needs a
reason, leaves nothing of the pupil (database and files) and `riskscore audit verify` still passes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from riskscore.api import create_app
from riskscore.cli import app as cli_app
from riskscore.settings import Settings
from riskscore.store.audit import list_audit, verify_chain
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import Base
from riskscore.store.privacy import mentions
from test_api import build_bundle, student


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("rights-api")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        keys = {"school": create_key(s, "school", "school", ["01AB"], "mentor")[1],
                "other": create_key(s, "school", "school", ["02CD"], "other school")[1],
                "admin": create_key(s, "admin", "all", [], "fg")[1],
                "data_team": create_key(s, "data_team", "all", [], "dt")[1]}
    app = create_app(Settings(home=home, database_url=url, bundle_path=build_bundle(home / "bundle"),
                              log_level="WARNING"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {"client": client, "keys": keys, "sessions": sessions, "url": url, "home": home, "engine": engine}
    engine.dispose()


def call(env: dict[str, Any], who: str, method: str, url: str, **kw: Any) -> Any:
    return env["client"].request(method, url, headers={"X-API-Key": env["keys"][who]}, **kw)


def test_dossier_objection_and_erasure(env: dict[str, Any]) -> None:
    sid = "RIGHTS-1"
    r = call(env, "school", "POST", "/v1/scores", json={"students": [
        student(sid, triggers=[{"id": "leerplicht_16h_4w", "detail": "17 uur"}]), student("RIGHTS-2")]})
    assert r.status_code == 200, r.text
    call(env, "school", "GET", f"/v1/students/{sid}/score")
    d = call(env, "school", "GET", f"/v1/students/{sid}/dossier")
    assert d.status_code == 200, d.text
    body = d.json()
    assert body["scores"] and body["objection"] is None and "geen besluit" in body["notice_nl"]
    assert {e["action"] for e in body["access_log"]} >= {"score.read"}
    assert "RIGHTS-2" not in d.text
    # another school: exactly like a pupil nothing is stored about
    assert call(env, "other", "GET", f"/v1/students/{sid}/dossier").status_code == 404
    # objection: reason required; then stored, shown in the dossier, audited
    assert call(env, "school", "POST", f"/v1/students/{sid}/objection", json={"reason": ""}).status_code == 422
    o = call(env, "school", "POST", f"/v1/students/{sid}/objection", json={"reason": "ouders willen dit niet"})
    assert o.status_code == 200 and o.json()["objecting"] is True
    assert call(env, "school", "GET", f"/v1/students/{sid}/dossier").json()["objection"]["reason"] == \
        "ouders willen dit niet"
    with env["sessions"]() as s:
        actions = [e.action for e in list_audit(s, resource=f"student:{sid}")]
    assert "privacy.objection.set" in actions and "dossier.read" in actions
    w = call(env, "school", "DELETE", f"/v1/students/{sid}/objection")
    assert w.status_code == 200 and w.json()["objecting"] is False
    # erasure: admin only, with a reason
    for who in ("school", "data_team"):
        assert call(env, who, "POST", f"/v1/admin/students/{sid}/erasure", json={"reason": "x"}).status_code == 403
    assert call(env, "admin", "POST", f"/v1/admin/students/{sid}/erasure", json={}).status_code == 422
    e = call(env, "admin", "POST", f"/v1/admin/students/{sid}/erasure", json={"reason": "verzoek ouders"})
    assert e.status_code == 200, e.text
    assert e.json()["receipt"].startswith("ERA-") and e.json()["rows"]["scores"] == 1
    assert e.json()["audit_entries_erased"] >= 4
    with env["engine"].connect() as conn:
        for t in Base.metadata.sorted_tables:
            if "student_id" in t.c:
                assert conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.student_id == sid)).scalar_one() == 0
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM audit_log")) for v in row)
    assert sid not in dump and "RIGHTS-2" in dump
    assert mentions(env["home"], sid) == []  # scored frames, reports
    for path in env["home"].glob("rs.db*"):  # the database files themselves: secure_delete + WAL checkpoint
        assert sid.encode() not in path.read_bytes(), path
    assert call(env, "school", "GET", f"/v1/students/{sid}/dossier").status_code == 404
    with env["sessions"]() as s:
        assert verify_chain(s).ok
    assert CliRunner().invoke(cli_app, ["audit", "verify", "--database-url", env["url"]]).exit_code == 0


def test_bsn_like_ids_are_refused(env: dict[str, Any]) -> None:
    r = call(env, "school", "GET", "/v1/students/123456782/dossier")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "student_id"]
