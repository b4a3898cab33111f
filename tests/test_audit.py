"""Audit log: hash chain verification finds edited, deleted, reordered and truncated entries; appends
from many threads keep a single chain; triggers refuse UPDATE/DELETE. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conftest import Db
from riskscore.store.audit import HASHED_FIELDS, append_audit, entry_hash, list_audit, verify_chain
from riskscore.store.models import AuditEntry


def fill(db: Db, n: int = 5) -> None:
    with db.sessions() as s:
        for i in range(n):
            append_audit(s, actor=f"key:k{i % 2}", role="school", action="read_student",
                         resource=f"student:p{i}", purpose="zorgteam", outcome="allowed", request_id=f"r{i}")


def drop_triggers(db: Db) -> None:
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER audit_log_no_update ON audit_log"))
            conn.execute(sa.text("DROP TRIGGER audit_log_no_truncate ON audit_log"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))


def tamper(db: Db, sql: str) -> None:
    drop_triggers(db)
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql))


def verify(db: Db):
    with db.sessions() as s:
        return verify_chain(s)


def test_intact_chain_verifies(db: Db) -> None:
    assert verify(db).ok and verify(db).checked == 0
    fill(db, 5)
    result = verify(db)
    assert result.ok and result.checked == 5 and result.first_bad_id is None
    with db.sessions() as s:
        rows = list_audit(s, resource="student:p3")
        assert [r.actor for r in rows] == ["key:k1"]
        assert all(len(r.entry_hash) == 64 for r in list_audit(s))


def test_hash_covers_every_field() -> None:
    from datetime import UTC, datetime

    fields = {"id": 1, "at": datetime(2024, 1, 1, tzinfo=UTC), "actor": "a", "role": "school", "action": "x",
              "resource": "r", "purpose": None, "outcome": "allowed", "request_id": None}
    base = entry_hash("0" * 64, fields)
    assert entry_hash("0" * 64, {**fields, "at": datetime(2024, 1, 1)}) == base  # naive UTC == aware UTC
    for name, value in [("id", 2), ("actor", "b"), ("role", "rmc"), ("action", "y"), ("resource", "s"),
                        ("purpose", "p"), ("outcome", "denied"), ("request_id", "q")]:
        assert entry_hash("0" * 64, {**fields, name: value}) != base, name
    assert entry_hash("1" * 64, fields) != base


def test_triggers_refuse_update_and_delete(db: Db) -> None:
    fill(db, 2)
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert verify(db).ok


def test_edited_row_is_found(db: Db) -> None:
    fill(db, 5)
    tamper(db, "UPDATE audit_log SET outcome = 'denied' WHERE id = 3")
    result = verify(db)
    assert not result.ok and result.first_bad_id == 3 and "edited" in result.problem and result.checked == 2


def test_edit_with_recomputed_own_hash_breaks_the_next_link(db: Db) -> None:
    fill(db, 5)
    with db.sessions() as s:
        row = s.get(AuditEntry, 2)
        fields = {name: getattr(row, name) for name in HASHED_FIELDS}
    forged = entry_hash(row.prev_hash, {**fields, "actor": "someone-else"})
    tamper(db, f"UPDATE audit_log SET actor = 'someone-else', entry_hash = '{forged}' WHERE id = 2")
    result = verify(db)
    assert not result.ok and result.first_bad_id == 3 and "link" in result.problem


def test_deleted_row_is_found(db: Db) -> None:
    fill(db, 5)
    tamper(db, "DELETE FROM audit_log WHERE id = 2")
    result = verify(db)
    assert not result.ok and result.first_bad_id == 3 and "gap" in result.problem


def test_deleted_last_row_is_found(db: Db) -> None:
    fill(db, 5)
    tamper(db, "DELETE FROM audit_log WHERE id = 5")
    result = verify(db)
    assert not result.ok and result.checked == 4 and "head" in result.problem


def test_reordered_rows_are_found(db: Db) -> None:
    fill(db, 5)
    tamper(db, "UPDATE audit_log SET id = -1 WHERE id = 2")
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET id = 2 WHERE id = 4"))
        conn.execute(sa.text("UPDATE audit_log SET id = 4 WHERE id = -1"))
    result = verify(db)
    assert not result.ok and result.first_bad_id == 2


def test_invalid_entries_are_refused(db: Db) -> None:
    from riskscore.errors import DataError

    with db.sessions() as s:
        with pytest.raises(DataError):
            append_audit(s, actor="k", action="read", resource="worklist", outcome="maybe")
        with pytest.raises(DataError):
            append_audit(s, actor="", action="read", resource="worklist", outcome="allowed")
    assert verify(db).checked == 0


def test_concurrent_appends_keep_one_chain(db: Db) -> None:
    n_threads, per_thread = 4, 15
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            with db.sessions() as s:
                for i in range(per_thread):
                    append_audit(s, actor=f"key:t{t}", action="read_student", resource=f"student:{t}-{i}",
                                 outcome="allowed")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    result = verify(db)
    assert result.ok and result.checked == n_threads * per_thread
    with db.engine.connect() as conn:
        prevs = conn.execute(sa.text("SELECT prev_hash FROM audit_log")).scalars().all()
    assert len(set(prevs)) == len(prevs)  # no two entries share a predecessor: no fork


def test_cli_verify_exit_codes(db: Db) -> None:
    import typer

    from riskscore.commands import audit as audit_cmd

    app = typer.Typer()
    audit_cmd.register(app)
    fill(db, 3)
    ok = CliRunner().invoke(app, ["audit", "verify", "--database-url", db.url])
    assert ok.exit_code == 0 and "3 entries" in ok.output
    tamper(db, "UPDATE audit_log SET resource = 'student:other' WHERE id = 2")
    bad = CliRunner().invoke(app, ["audit", "verify", "--database-url", db.url])
    assert bad.exit_code != 0 and "entry 2" in bad.output
