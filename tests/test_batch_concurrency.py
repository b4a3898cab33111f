"""A 100,000-pupil scoring run on SQLite while reviewers keep saving through the API: every save
succeeds (no 'database is locked', no 503), the run stays invisible until it is complete, and then
all of it is there. The run writes its scores in short chunked transactions under an invisible
staging run (store.runs.write_scoring_run), so the write lock is free between chunks."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from riskscore.api import create_app
from riskscore.settings import Settings
from riskscore.store.cases import open_or_update_case
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.runs import latest_run, write_scoring_run
from test_api import build_bundle

AS_OF = dt.date(2025, 3, 3)
N = 100_000


def _rows(n: int) -> list[dict[str, Any]]:
    reason = {"code": "ABS_UNAUTH_4W", "feature": "unauthorised_hours_4w", "category": "absence", "value": 12.0,
              "contribution": 0.4, "text_nl": "12 uur ongeoorloofd verzuim", "text_en": "12 hours absent"}
    return [{"student_id": f"B{i:06d}", "school_id": f"{i % 90:02d}AB", "municipality": "GM0363",
             "rmc_region": "RMC27", "age": 15.0, "probability": (i % 997) / 1000, "band": "low",
             "reasons": [reason], "triggers": [], "roles": ["school"]} for i in range(n)]


@pytest.mark.slow
def test_api_writes_during_a_100k_batch_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        key = create_key(s, "school", "school", ["01AB"], "mentor")[1]
        case_id = open_or_update_case(s, student_id="P-1", role="school", reason="capacity", as_of=AS_OF,
                                      school_id="01AB", municipality="GM0363", rmc_region="RMC27",
                                      probability=0.3, band="high")[0].id
    rows = _rows(N)
    app = create_app(Settings(home=tmp_path, database_url=url, bundle_path=build_bundle(tmp_path / "bundle"),
                              log_level="ERROR"))
    done = threading.Event()
    result: dict[str, Any] = {}

    def batch() -> None:
        started = time.perf_counter()
        try:
            with sessions() as s:
                result["run"] = write_scoring_run(s, as_of=AS_OF, model_version="big-1", scores=rows).id
        except Exception as exc:  # reported below, never swallowed
            result["error"] = exc
        finally:
            result["seconds"] = time.perf_counter() - started
            done.set()

    statuses: list[int] = []
    latencies: list[float] = []
    seen_early = []
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"X-API-Key": key}
        worker = threading.Thread(target=batch)
        worker.start()
        i = 0
        while not done.is_set():
            started = time.perf_counter()
            r = client.post(f"/v1/cases/{case_id}/notes", json={"note": f"gebeld {i}"}, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses.append(r.status_code)
            if i % 10 == 0 and not done.is_set():
                with sessions() as s:
                    seen_early.append(latest_run(s) is not None)
            i += 1
        worker.join()
    assert "error" not in result, result.get("error")
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert len(statuses) >= 5, f"only {len(statuses)} saves during a {result['seconds']:.1f} s run"
    # invisible until complete (the last check may race the flip, the ones before it may not)
    assert not any(seen_early[:-1])
    with sessions() as s:
        run = latest_run(s)
        assert run is not None and run.id == result["run"] and run.n_scored == N
    print(f"\n100k batch: {result['seconds']:.1f} s; {len(statuses)} API saves meanwhile, 0 errors; "
          f"save latency median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")
    engine.dispose()
