"""Privacy and impact: an audit chain that survives erasure, objection marks, and run_signals (which
scoring run flagged whom, for the impact evaluation).

The chain now covers (id, at, content_digest) where content_digest = sha256(salt + content); erasure
nulls an entry's content and salt (nothing else), so the entry keeps its place and verification
still holds. Existing entries are re-sealed under the new scheme in order; the old chain is verified
first and the result (with the old head hash) is written into a closing `audit.resealed` entry, so
the change of scheme is itself on the record. Triggers: no DELETE, no TRUNCATE, and UPDATE only to
null content (erasure).

Revision ID: 0003_privacy
Revises: 0002_scores_without_model
Create Date: 2026-11-30
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003_privacy"
down_revision = "0002_scores_without_model"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
GENESIS = "0" * 64
OLD_FIELDS = ("id", "at", "actor", "role", "action", "resource", "purpose", "outcome", "request_id")
CONTENT = ("actor", "role", "action", "resource", "purpose", "outcome", "request_id", "detail")
NULLABLE = ("actor", "role", "action", "resource", "purpose", "outcome", "request_id", "detail", "salt")
CHAIN = ("id", "at", "content_digest", "prev_hash", "entry_hash")

_CHANGED_SQLITE = " OR ".join([f"NEW.{c} IS NOT OLD.{c}" for c in CHAIN]
                              + [f"(NEW.{c} IS NOT NULL AND NEW.{c} IS NOT OLD.{c})" for c in NULLABLE])
_CHANGED_PG = " OR ".join([f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in CHAIN]
                          + [f"(NEW.{c} IS NOT NULL AND NEW.{c} IS DISTINCT FROM OLD.{c})" for c in NULLABLE])
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log WHEN {_CHANGED_SQLITE} "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (only erasing content is allowed)'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)
PG_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'audit_log is append-only'; END IF; "
    f"IF {_CHANGED_PG} THEN RAISE EXCEPTION 'audit_log is append-only (only erasing content is allowed)'; END IF; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_guard()",
)


def _time(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def _canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _old_hash(prev: str, row: dict[str, Any]) -> str:
    data = {k: row[k] for k in OLD_FIELDS}
    data["at"] = _time(data["at"])
    return hashlib.sha256((prev + _canonical(data)).encode("utf-8")).hexdigest()


def _digest(salt: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((salt + _canonical({k: row.get(k) for k in CONTENT})).encode("utf-8")).hexdigest()


def _link(prev: str, entry_id: int, at: datetime, digest: str) -> str:
    data = {"id": entry_id, "at": _time(at), "content_digest": digest}
    return hashlib.sha256((prev + _canonical(data)).encode("utf-8")).hexdigest()


def _old_chain_ok(rows: list[dict[str, Any]], head: Any) -> bool:
    prev, expected = GENESIS, 1
    for row in rows:
        if row["id"] != expected or row["prev_hash"] != prev or _old_hash(prev, row) != row["entry_hash"]:
            return False
        prev, expected = row["entry_hash"], expected + 1
    return head is not None and head.last_id == expected - 1 and head.last_hash == prev


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    if pg:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    with op.batch_alter_table("audit_log") as batch:
        for name in ("actor", "action", "resource", "outcome"):
            batch.alter_column(name, existing_type=sa.String(200 if name in ("actor", "resource") else 64
                                                              if name == "action" else 16), nullable=True)
        batch.add_column(sa.Column("detail", sa.Text, nullable=True))
        batch.add_column(sa.Column("salt", sa.String(32), nullable=True))
        batch.add_column(sa.Column("content_digest", sa.String(64), nullable=True))

    log = sa.table("audit_log", *[sa.column(c, TS) if c == "at" else sa.column(c)
                                  for c in (*OLD_FIELDS, *CHAIN[2:], "detail", "salt")])
    head_t = sa.table("audit_head", sa.column("id"), sa.column("last_id"), sa.column("last_hash"))
    rows = [dict(r._mapping) for r in bind.execute(sa.select(log).order_by(log.c.id))]
    head = bind.execute(sa.select(head_t.c.last_id, head_t.c.last_hash).where(head_t.c.id == 1)).first()
    old_ok = _old_chain_ok(rows, head)
    closing: dict[str, Any] = {"id": (rows[-1]["id"] if rows else 0) + 1, "at": datetime.now(UTC), "actor": "migration:0003_privacy",
               "role": None, "action": "audit.resealed", "resource": "audit_log", "purpose": "schema",
               "outcome": "allowed", "request_id": None,
               "detail": _canonical({"old_head_hash": head.last_hash if head is not None else None,
                                     "old_chain_verified": old_ok, "entries_resealed": len(rows)})}
    prev = GENESIS
    for row in rows:
        salt = secrets.token_hex(16)
        row["detail"] = None
        digest = _digest(salt, row)
        link = _link(prev, row["id"], row["at"], digest)
        bind.execute(sa.update(log).where(log.c.id == row["id"]).values(
            salt=salt, content_digest=digest, prev_hash=prev, entry_hash=link))
        prev = link
    if rows:  # a fresh database starts with an empty chain; an existing one records the reseal
        salt = secrets.token_hex(16)
        digest = _digest(salt, closing)
        link = _link(prev, closing["id"], closing["at"], digest)
        bind.execute(sa.insert(log).values(**closing, salt=salt, content_digest=digest, prev_hash=prev,
                                           entry_hash=link))
        bind.execute(sa.update(head_t).where(head_t.c.id == 1).values(last_id=closing["id"], last_hash=link))
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("content_digest", existing_type=sa.String(64), nullable=False)
    for statement in PG_TRIGGERS if pg else SQLITE_TRIGGERS:
        op.execute(statement)

    op.create_table(
        "objections",
        sa.Column("student_id", sa.String(64), primary_key=True),
        sa.Column("school_id", sa.String(32)),
        sa.Column("municipality", sa.String(16)),
        sa.Column("rmc_region", sa.String(16)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )


    op.create_table(
        "run_signals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("scoring_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
    )
    op.create_index("ix_run_signals_run", "run_signals", ["run_id", "role"])
    op.create_index("ix_run_signals_student", "run_signals", ["student_id"])


def downgrade() -> None:
    op.drop_table("run_signals")
    op.drop_table("objections")
    raise NotImplementedError("the audit chain was re-sealed over content digests; it cannot be un-sealed. "
                              "Restore a backup taken before 0003_privacy to go back.")
