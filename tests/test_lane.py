"""The scoring lane (service/lane.py): POST /v1/scores requests that arrive together are scored in one pass
of the scoring core and written in one transaction. Held: each request gets exactly what it gets alone
(the same pupil in two requests included), a refusal or an error stays with its own request, every
answer is stored and audited before it is sent, and the audit chain holds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import SecretStr

import riskscore.api.routes.scores as scores_route
from riskscore.api import create_app
from riskscore.errors import DataError
from riskscore.service.lane import Lane
from riskscore.settings import Settings
from riskscore.store.audit import verify_chain
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.store.models import AuditEntry, Score
from riskscore.testing import register_pupils, student_events, tiny_bundle, year_of_events


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        keys = {name: create_key(s, "school", "school", [school], name)[1]
                for name, school in (("a", "01AB"), ("b", "02CD"))}
        register_pupils(s, [year_of_events(f"P-{i}", school="01AB") for i in range(6)])
    app = create_app(Settings(home=tmp_path, database_url=url, bundle_path=tiny_bundle(tmp_path / "bundle"),
                              max_body_bytes=5_000_000, log_level="WARNING",
                              session_secret=SecretStr("lane-test-session-secret-0123456789abcdef")))
    return {"app": app, "keys": keys, "sessions": sessions}


def run(app: FastAPI, calls: list[tuple[str, list[dict[str, Any]]]], *, together: bool) -> list[httpx.Response]:
    """POST each (key, bodies) through the app in one event loop: all at once, or one after another."""

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lane") as client:
                def post(key: str, bodies: list[dict[str, Any]]) -> Any:
                    return client.post("/v1/scores", json={"students": bodies},
                                       headers={"Authorization": f"Bearer {key}"})

                if together:
                    return list(await asyncio.gather(*[post(k, b) for k, b in calls]))
                return [await post(k, b) for k, b in calls]

    return asyncio.run(main())


def lane_of(app: FastAPI) -> Lane[Any]:
    return app.state.riskscore._score_lane  # type: ignore[no-any-return]


def test_requests_scored_together_get_what_they_get_alone(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    a = env["keys"]["a"]
    passes: list[int] = []  # pupils per pass of the scoring core
    real = scores_route.score_students

    def counted(state: Any, loaded: Any, students: Any, places: Any, **kw: Any) -> Any:
        passes.append(len(students))
        return real(state, loaded, students, places, **kw)

    monkeypatch.setattr(scores_route, "score_students", counted)
    # P-1 twice with different events (a pupil pushed by two systems at once) and a request of three
    calls = [(a, [year_of_events(f"P-{i}", school="01AB")]) for i in range(6)]
    calls.append((a, [student_events("P-1", school="01AB", as_of=year_of_events("P-1")["as_of"],  # type: ignore[arg-type]
                                     absence_hours=0, sick_days=0)]))
    calls.append((a, [year_of_events(f"P-{i}", school="01AB") for i in (3, 4, 5)]))
    alone = run(env["app"], calls, together=False)
    lane = lane_of(env["app"])
    assert lane.batches == lane.jobs == len(calls)  # one after another: each request its own batch
    passes.clear()
    together = run(env["app"], calls, together=True)
    assert lane.jobs == 2 * len(calls) and lane.batches < lane.jobs  # this time they shared batches
    # one pass per batch, none redone: P-1's second copy went into the shared pass under an alias
    assert len(passes) == lane.batches - len(calls) and sum(passes) == sum(len(b) for _, b in calls)
    assert [r.status_code for r in together] == [200] * len(calls), [r.text[:300] for r in together]
    for one, other in zip(alone, together, strict=True):
        assert one.json() == other.json()  # bit for bit: probability, reasons, triggers, roles
    assert together[1].json()["results"][0]["probability"] != together[6].json()["results"][0]["probability"]
    with env["sessions"]() as s:
        entries = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "score.write")).all()
        assert len(entries) == 2 * sum(len(b) for _, b in calls) and {e.outcome for e in entries} == {"allowed"}
        assert verify_chain(s).ok
        assert s.scalar(sa.select(sa.func.count()).select_from(Score)) >= 6


def test_a_refusal_and_an_error_stay_with_their_own_request(env: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = env["keys"]["a"], env["keys"]["b"]
    real = scores_route.score_students

    def failing(state: Any, loaded: Any, students: Any, places: Any, **kw: Any) -> Any:
        if any(s.student_id == "P-5" for s in students):  # one pupil whose scoring fails
            raise DataError("P-5 cannot be scored")
        return real(state, loaded, students, places, **kw)

    monkeypatch.setattr(scores_route, "score_students", failing)
    calls = [(a, [year_of_events("P-0", school="01AB")]),
             (b, [year_of_events("P-1", school="01AB")]),  # school B: P-1 is registered at school A
             (a, [year_of_events("P-5", school="01AB")]),
             (a, [year_of_events("P-2", school="01AB")])]
    got = run(env["app"], calls, together=True)
    assert lane_of(env["app"]).batches < len(calls)  # they were scored together
    assert [r.status_code for r in got] == [200, 403, DataError.http_status, 200], [r.text[:200] for r in got]
    assert "P-5" in got[2].json()["error"]
    with env["sessions"]() as s:
        rows = {(e.resource, e.outcome) for e in s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "score.write"))}
        assert rows == {("student:P-0", "allowed"), ("student:P-1", "denied"), ("student:P-2", "allowed")}
        assert set(s.scalars(sa.select(Score.student_id))) == {"P-0", "P-2"}
        assert verify_chain(s).ok


def test_a_lane_settles_every_job_when_its_batch_fails() -> None:
    def boom(jobs: list[Any]) -> None:
        jobs[0].settle("first")  # settled before the failure: keeps its result
        raise RuntimeError("the batch failed")

    lane: Lane[int] = Lane(boom)

    async def main() -> list[Any]:
        return list(await asyncio.gather(*[lane.submit(i) for i in range(3)], return_exceptions=True))

    out = asyncio.run(main())
    assert out[0] == "first" and all(isinstance(x, RuntimeError) for x in out[1:])
    assert lane.batches == 1 and lane.jobs == 3
