"""GET /v1/monitoring/status and the report files: data_team and admin only, 404 before the first report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from riskscore.api import create_app
from riskscore.settings import Settings
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def env(small_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("mon-home")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        keys = {role: create_key(session, role, kind, values, f"k-{role}")[1] for role, kind, values in [
            ("school", "school", ["01AB"]), ("data_team", "all", []), ("admin", "all", []), ("rmc", "rmc_region", ["RMC27"]),
        ]}
    settings = Settings(home=home, database_url=url, bundle_path=small_world.bundle_dir)
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        yield {"client": client, "keys": keys, "home": home, "bundle": small_world.bundle_dir}
    engine.dispose()


def _get(env: dict[str, Any], path: str, role: str | None) -> Any:
    headers = {"Authorization": f"Bearer {env['keys'][role]}"} if role else {}
    return env["client"].get(path, headers=headers)


def _write_report(env: dict[str, Any], *, shift: bool) -> dict[str, Path]:
    from riskscore.monitoring import report as monitoring_report
    from riskscore.monitoring import status as monitoring_status
    from riskscore.monitoring.checks import load_config, run_monitoring

    ref = pd.read_parquet(env["bundle"] / "reference.parquet")
    cur = ref.copy()
    if shift:
        cur["unauthorised_hours_4w"] = cur["unauthorised_hours_4w"] * 3 + 4
    cfg = load_config(ROOT / "monitoring" / "config.yaml").model_copy(update={"model_version": "small-1"})
    verdict = run_monitoring(ref, cur, config=cfg)
    verdict.drift = None  # keep it quick: evidently's HTML is tested elsewhere
    out = monitoring_status.default_reports_dir(Settings(home=env["home"]).resolved_reports_dir())
    return monitoring_report.write_reports(verdict, out)


def test_roles_and_no_report_yet(env: dict[str, Any]) -> None:
    assert _get(env, "/v1/monitoring/status", None).status_code == 401
    for role in ("school", "rmc"):
        r = _get(env, "/v1/monitoring/status", role)
        assert r.status_code == 403, r.text
    r = _get(env, "/v1/monitoring/status", "data_team")
    assert r.status_code == 404 and "riskscore monitor" in r.text and "geen monitoringrapport" in r.text


def test_latest_verdict_with_actions_and_report(env: dict[str, Any]) -> None:
    _write_report(env, shift=False)
    paths = _write_report(env, shift=True)  # the newer one wins
    for role in ("data_team", "admin"):
        r = _get(env, "/v1/monitoring/status", role)
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "alert" and body["model_version"] == "small-1" and body["run"] == paths["dir"].name
    assert body["report_path"] == str(paths["report"])
    fd = next(a for a in body["alerts"] if a["subject"] == "unauthorised_hours_4w")
    assert fd["check"] == "feature_drift" and "data feed" in fd["action"]
    assert body["actions"][0]["kind"] == "check_data_feed" and body["actions"][0]["text_nl"].startswith("Controleer")
    html = _get(env, body["report_url"], "admin")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html") and "Wat te doen" in html.text
    summary = _get(env, body["summary_url"], "data_team")
    assert summary.status_code == 200 and summary.json()["status"] == "alert"
    assert _get(env, body["report_url"], "school").status_code == 403


def test_report_files_cannot_escape_the_reports_folder(env: dict[str, Any]) -> None:
    paths = _write_report(env, shift=False)
    run = paths["dir"].name
    for path in (f"/v1/monitoring/reports/{run}/secret.txt", "/v1/monitoring/reports/..%2F..%2Frs.db/report.html",
                 f"/v1/monitoring/reports/{run}/..%2F..%2Frs.db", "/v1/monitoring/reports/20990101T000000000000Z/report.html"):
        assert _get(env, path, "admin").status_code == 404, path
