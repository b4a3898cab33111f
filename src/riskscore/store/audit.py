"""The audit log: append-only and tamper-evident. Each entry's hash covers the previous entry's hash
and the entry's own fields (its id included), so editing, deleting, inserting or reordering rows
breaks the chain. Appends lock the single audit_head row first, which serialises them on SQLite
(the write lock) and PostgreSQL (the row lock) alike, so the chain never forks. Triggers also
refuse UPDATE/DELETE on audit_log; verify_chain does not rely on them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from riskscore.errors import DataError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import GENESIS_HASH, AuditEntry, AuditHead, utcnow

OUTCOMES = ("allowed", "denied", "not_found")
HASHED_FIELDS = ("id", "at", "actor", "role", "action", "resource", "purpose", "outcome", "request_id")
MSG_BAD_AUDIT = "invalid audit entry: {details}"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verify_chain: ok, how many entries were checked, the first bad id and why."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def _canonical_time(value: datetime) -> str:
    # SQLite returns naive UTC, PostgreSQL aware datetimes: hash the same UTC text for both.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """sha256 over the previous hash and the canonical JSON (sorted keys, UTC time) of the fields."""
    data: dict[str, Any] = {name: fields.get(name) for name in HASHED_FIELDS}
    data["at"] = _canonical_time(data["at"])
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    resource: str,
    outcome: str,
    role: str | None = None,
    purpose: str | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Append one entry and commit. actor is a key id or label — never a key.

    Commits the session: pending work of the caller is committed with it."""
    last_id = append_audit_many(session, [{"actor": actor, "action": action, "resource": resource, "outcome": outcome,
                                           "role": role, "purpose": purpose, "request_id": request_id}])
    entry = session.get(AuditEntry, last_id)
    assert entry is not None  # just committed
    return entry


def append_audit_many(session: Session, entries: Sequence[Mapping[str, Any]]) -> int:
    """Append several entries (each: actor, action, resource, outcome, optional role, purpose,
    request_id) in ONE transaction, chained in order, and commit. A worklist of 50 pupils is one
    write, not 51 — the difference between a lock held once and a lock queue under load."""
    if not entries:
        return 0
    checked = check_entries(entries)
    return run_write(session, lambda s: append_rows(s, checked), attempts=8)


def check_entries(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate audit entries; return them as plain dicts of the stored fields."""
    checked = []
    for e in entries:
        if e.get("outcome") not in OUTCOMES:
            raise DataError(MSG_BAD_AUDIT.format(details=f"outcome {e.get('outcome')!r} not in {OUTCOMES}"))
        if not e.get("actor") or not e.get("action") or not e.get("resource"):
            raise DataError(MSG_BAD_AUDIT.format(details="actor, action and resource are required"))
        checked.append({k: e.get(k) for k in ("actor", "role", "action", "resource", "purpose", "outcome", "request_id")})
    return checked


def append_rows(s: Session, checked: Sequence[Mapping[str, Any]]) -> int:
    """Inside the caller's transaction: chain and insert checked entries; returns the new head id.
    Takes the chain head's lock first (SQLite's write lock / PostgreSQL's row lock)."""
    import sqlalchemy as sa

    if not checked:
        return 0
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id)
              .execution_options(synchronize_session=False))
    last_id, last_hash = s.execute(select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)).one()
    rows = []
    now = utcnow()
    for e in checked:
        last_id += 1
        fields: dict[str, Any] = {"id": last_id, "at": now, **e}
        digest = entry_hash(last_hash, fields)
        rows.append({**fields, "prev_hash": last_hash, "entry_hash": digest})
        last_hash = digest
    s.execute(sa.insert(AuditEntry), rows)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=last_id, last_hash=last_hash)
              .execution_options(synchronize_session=False))
    return int(last_id)


def verify_chain(session: Session, *, batch: int = 1000) -> VerifyResult:
    """Walk the chain from the start; report the first entry that was edited, removed or moved, and a
    truncated tail (the head row no longer matches the last entry)."""
    expected_id, expected_prev, checked = 1, GENESIS_HASH, 0
    with translate_errors():
        rows = session.execute(
            select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch, populate_existing=True)
        ).scalars()
        for row in rows:
            if row.id != expected_id:
                return VerifyResult(False, checked, row.id,
                                    f"gap: expected entry {expected_id}, found {row.id} (entry removed or renumbered)")
            if not hmac.compare_digest(row.prev_hash, expected_prev):
                return VerifyResult(False, checked, row.id,
                                    "broken link: prev_hash does not match the previous entry (removed or reordered)")
            fields = {name: getattr(row, name) for name in HASHED_FIELDS}
            if not hmac.compare_digest(entry_hash(row.prev_hash, fields), row.entry_hash):
                return VerifyResult(False, checked, row.id, "hash mismatch: entry was edited")
            checked += 1
            expected_id, expected_prev = row.id + 1, row.entry_hash
        head = session.execute(select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)).first()
    if head is None:
        return VerifyResult(False, checked, None, "the audit head row is missing")
    if head.last_id != expected_id - 1 or head.last_hash != expected_prev:
        return VerifyResult(False, checked, expected_id if head.last_id >= expected_id else head.last_id,
                            f"head mismatch: head says entry {head.last_id}, chain ends at {expected_id - 1} "
                            "(entries removed from the end, or the head was altered)")
    return VerifyResult(True, checked)


def list_audit(
    session: Session, *, resource: str | None = None, actor: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Newest entries first, optionally for one resource or actor (for 'who looked at this pupil')."""
    stmt = select(AuditEntry)
    if resource is not None:
        stmt = stmt.where(AuditEntry.resource == resource)
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor == actor)
    with translate_errors():
        return list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))
