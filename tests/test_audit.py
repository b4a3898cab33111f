"""Audit log: hash chain verification finds edited, deleted, reordered and truncated entries; appends
from many threads keep a single chain; triggers refuse UPDATE/DELETE. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conftest import Db
from riskscore.store.audit import (
    CONTENT_FIELDS,
    append_audit,
    content_digest,
    entry_hash,
    list_audit,
    verify_chain,
)
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

    content = {"actor": "a", "role": "school", "action": "x", "resource": "r", "purpose": None, "outcome": "allowed",
               "request_id": None, "detail": None}
    salt = "s" * 32
    digest = content_digest(salt, content)
    for name, value in [("actor", "b"), ("role", "rmc"), ("action", "y"), ("resource", "s"), ("purpose", "p"),
                        ("outcome", "denied"), ("request_id", "q"), ("detail", "{}")]:
        assert content_digest(salt, {**content, name: value}) != digest, name
    assert content_digest("t" * 32, content) != digest  # without the salt the digest cannot be recomputed
    fields = {"id": 1, "at": datetime(2024, 1, 1, tzinfo=UTC), "content_digest": digest}
    base = entry_hash("0" * 64, fields)
    assert entry_hash("0" * 64, {**fields, "at": datetime(2024, 1, 1)}) == base  # naive UTC == aware UTC
    for name, value in [("id", 2), ("content_digest", "0" * 64), ("at", datetime(2024, 1, 2))]:
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
        content = {name: getattr(row, name) for name in CONTENT_FIELDS}
    digest = content_digest(row.salt, {**content, "actor": "someone-else"})
    forged = entry_hash(row.prev_hash, {"id": row.id, "at": row.at, "content_digest": digest})
    tamper(db, f"UPDATE audit_log SET actor = 'someone-else', content_digest = '{digest}', entry_hash = '{forged}' "
               "WHERE id = 2")
    result = verify(db)
    assert not result.ok and result.first_bad_id == 3 and "link" in result.problem


def test_edit_of_content_alone_is_found(db: Db) -> None:
    fill(db, 5)
    tamper(db, "UPDATE audit_log SET resource = 'student:other' WHERE id = 2")
    result = verify(db)
    assert not result.ok and result.first_bad_id == 2 and "edited" in result.problem


def test_erasure_keeps_the_chain_and_hand_nulling_is_found(db: Db) -> None:
    """Erasing content through erase_student_entries passes verify; nulling content by hand (even the
    salt too, exactly like an erasure) without an erasure entry is reported."""
    from riskscore.store.audit import erase_entries

    fill(db, 6)
    with db.sessions() as s:
        n = erase_entries(s, resources=["student:p3"], actor="admin:test", action="privacy.erase",
                          purpose="avg-17", detail={"reason": "test"})
        assert n == 1
        assert list_audit(s, resource="student:p3") == []
        result = verify_chain(s)
    assert result.ok and result.erased == 1 and result.checked == 7, result
    with db.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT actor, resource, salt, content_digest FROM audit_log WHERE id = 4")).one()
    assert row[:3] == (None, None, None) and len(row[3]) == 64
    # by hand, the way an erasure looks, but with no erasure entry accounting for entry 2
    with db.engine.begin() as conn:  # the trigger allows nulling content: verify must catch it
        conn.execute(sa.text("UPDATE audit_log SET actor = NULL, role = NULL, action = NULL, resource = NULL, "
                             "purpose = NULL, outcome = NULL, request_id = NULL, detail = NULL, salt = NULL "
                             "WHERE id = 2"))
    result = verify(db)
    assert not result.ok and result.first_bad_id == 2 and "without an erasure entry" in result.problem


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


def test_upgrade_from_0001_reseals_the_chain_and_records_it(db: Db) -> None:
    """A database with entries under the old scheme: 0002 re-seals them, appends an 'audit.resealed'
    entry with the old head hash and the old chain's verdict, and the new chain verifies."""
    from alembic import command
    from alembic.config import Config

    from riskscore.store.db import _ALEMBIC_INI, _MIGRATIONS_DIR, migrate

    def alembic(fn: str, rev: str) -> None:
        cfg = Config(str(_ALEMBIC_INI))
        cfg.set_main_option("script_location", str(_MIGRATIONS_DIR))
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, fn)(cfg, rev)

    with db.engine.begin() as conn:  # start again from 0001 (drop everything the fixture created)
        conn.execute(sa.text("DROP TABLE web_sessions"))  # oidc2_0001
        conn.execute(sa.text("DROP TABLE users"))
        conn.execute(sa.text("DROP TABLE objections"))
        conn.execute(sa.text("DROP TABLE run_signals"))
        conn.execute(sa.text("DELETE FROM alembic_version"))
    with db.engine.begin() as conn:
        for t in ("audit_head", "audit_log", "auth_failures", "api_keys", "review_outcomes", "case_events",
                  "review_cases", "scores", "scoring_runs", "alembic_version"):
            conn.execute(sa.text(f"DROP TABLE {t} CASCADE" if db.engine.dialect.name == "postgresql"
                                 else f"DROP TABLE {t}"))
    alembic("upgrade", "0001_initial")
    import hashlib
    import json
    from datetime import datetime

    prev = "0" * 64
    with db.engine.begin() as conn:  # three entries written the 0001 way
        for i in (1, 2, 3):
            at = datetime(2025, 1, i, 12, 0, 0)
            fields = {"id": i, "at": at.isoformat(timespec="microseconds"), "actor": "key:k", "role": "school",
                      "action": "score.read", "resource": f"student:old{i}", "purpose": "zorgteam",
                      "outcome": "allowed", "request_id": None}
            h = hashlib.sha256((prev + json.dumps(fields, sort_keys=True, separators=(",", ":"))).encode()).hexdigest()
            conn.execute(sa.text("INSERT INTO audit_log (id, at, actor, role, action, resource, purpose, outcome, "
                                 "request_id, prev_hash, entry_hash) VALUES (:id, :at, 'key:k', 'school', "
                                 "'score.read', :res, 'zorgteam', 'allowed', NULL, :prev, :h)"),
                         {"id": i, "at": at, "res": f"student:old{i}", "prev": prev, "h": h})
            prev = h
        conn.execute(sa.text("UPDATE audit_head SET last_id = 3, last_hash = :h WHERE id = 1"), {"h": prev})
    migrate(db.engine)
    with db.sessions() as s:
        result = verify_chain(s)
        assert result.ok and result.checked == 4, result
        closing = list_audit(s, limit=1)[0]
        assert closing.action == "audit.resealed"
        detail = json.loads(closing.detail or "{}")
    assert detail == {"old_head_hash": prev, "old_chain_verified": True, "entries_resealed": 3}
