"""The scoring endpoint's group writer: concurrent requests share transactions, every acknowledged
score and audit entry is in the database, the chain stays intact, and a bad request fails alone."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import Db
from riskscore.errors import DataError
from riskscore.service.writer import GroupWriter
from riskscore.store.audit import verify_chain
from riskscore.store.models import AuditEntry, Score

AS_OF = dt.date(2025, 3, 1)


def result(sid: str, probability: float | None = 0.3, band: str | None = "medium") -> dict:
    return {"student_id": sid, "school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27", "as_of": AS_OF,
            "age": 15.0, "probability": probability, "band": band, "reasons": [], "triggers": [], "roles": ["school"],
            "model_version": "m-1"}


def entry(sid: str) -> dict:
    return {"actor": "key:k1", "role": "school", "action": "score.write", "resource": f"student:{sid}",
            "outcome": "allowed", "purpose": "signalering", "request_id": sid}


def test_concurrent_submits_are_all_committed_and_chained(db: Db) -> None:
    writer = GroupWriter(db.sessions)
    errors: list[BaseException] = []
    barrier = threading.Barrier(24)

    def one(i: int) -> None:
        barrier.wait()
        try:
            for j in range(5):
                sid = f"p{i}-{j}"
                writer.submit([result(sid)], [entry(sid)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert writer.jobs == 120
    assert writer.batches < writer.jobs  # concurrent requests were merged into shared transactions
    with db.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Score)) == 120
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 120
        assert verify_chain(s).ok


def test_a_bad_request_fails_alone(db: Db) -> None:
    writer = GroupWriter(db.sessions)
    outcome: dict[str, object] = {}
    barrier = threading.Barrier(9)

    def one(sid: str, band: str | None) -> None:
        barrier.wait()
        try:
            writer.submit([result(sid, 0.2, band)], [entry(sid)])
            outcome[sid] = "ok"
        except BaseException as exc:
            outcome[sid] = exc

    threads = [threading.Thread(target=one, args=(f"g{i}", "low")) for i in range(8)]
    threads.append(threading.Thread(target=one, args=("bad", None)))  # no band: store.scores.score_row refuses it
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(outcome[f"g{i}"] == "ok" for i in range(8))
    assert isinstance(outcome["bad"], DataError) and "missing band" in str(outcome["bad"])
    with db.sessions() as s:
        stored = set(s.scalars(sa.select(Score.student_id)))
        audited = set(s.scalars(sa.select(AuditEntry.resource)))
        assert stored == {f"g{i}" for i in range(8)}  # nothing of the bad request, all of the others
        assert audited == {f"student:g{i}" for i in range(8)}
        assert verify_chain(s).ok


def test_invalid_audit_entry_is_refused_before_queueing(db: Db) -> None:
    writer = GroupWriter(db.sessions)
    with pytest.raises(Exception, match="outcome"):
        writer.submit([result("x")], [{**entry("x"), "outcome": "maybe"}])
    assert writer.jobs == 0


def test_the_service_checkpoints_the_wal_in_the_background(tmp_path: Path) -> None:
    """SQLite: no commit copies the write-ahead log into the database file (a stall for one request); a
    background thread does, so the data reaches the file all the same."""
    import os
    import time

    from riskscore.store.db import background_checkpoints, make_engine

    def fill(path: Path, *, checkpoints: bool) -> int:
        engine = make_engine(f"sqlite:///{path}")
        stop = background_checkpoints(engine, every=0.05)
        assert stop is not None
        if not checkpoints:
            stop()
        with engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(2000)])
        deadline = time.monotonic() + 10
        while checkpoints and os.path.getsize(path) < 2_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        size = os.path.getsize(path)
        stop()
        engine.dispose()
        return size

    assert fill(tmp_path / "without.db", checkpoints=False) < 100_000  # all of it still in the log
    assert fill(tmp_path / "with.db", checkpoints=True) >= 2_000_000  # copied by the background thread
