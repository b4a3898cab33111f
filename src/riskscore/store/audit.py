"""The audit log: append-only, tamper-evident, and able to forget a person.

Each entry has content (actor, role, action, resource, purpose, outcome, request_id, detail) and a
random salt; `content_digest` = sha256(salt + canonical content). The hash chain covers only
(id, at, content_digest) and the previous entry's hash, so editing, deleting, inserting or reordering
rows breaks it. Erasure (AVG art. 17) nulls an entry's content and salt and nothing else: the entry
keeps its place in the chain, and without the salt its digest no longer tells whether it concerned a
given pupil. Every erasure is itself an entry whose detail lists the ids it erased, so verify accepts
missing content only where an intact erasure entry accounts for it — nulling content by hand is found.

Appends lock the single audit_head row first, which serialises them on SQLite (the write lock) and
PostgreSQL (the row lock) alike, so the chain never forks. Triggers refuse DELETE and any UPDATE but
nulling content; verify_chain does not rely on them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from riskscore.errors import DataError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import GENESIS_HASH, AuditEntry, AuditHead, utcnow

OUTCOMES = ("allowed", "denied", "not_found")
CONTENT_FIELDS = ("actor", "role", "action", "resource", "purpose", "outcome", "request_id", "detail")
HASHED_FIELDS = ("id", "at", "content_digest")
#: actions whose detail lists erased entry ids (as [first, last] ranges)
ERASING_ACTIONS = frozenset({"privacy.erase", "privacy.retain"})
MSG_BAD_AUDIT = "invalid audit entry: {details}"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verify_chain: ok, how many entries were checked, the first bad id and why.
    erased: entries whose content was lawfully erased (they still count as checked)."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None
    erased: int = 0


def _canonical_time(value: datetime) -> str:
    # SQLite returns naive UTC, PostgreSQL aware datetimes: hash the same UTC text for both.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_detail(detail: Mapping[str, Any] | None) -> str | None:
    """Detail is stored as canonical JSON text so both backends hash the same bytes."""
    return None if detail is None else _canonical(detail)


def content_digest(salt: str, fields: Mapping[str, Any]) -> str:
    """sha256 over the salt and the canonical JSON of the content fields."""
    return hashlib.sha256((salt + _canonical({k: fields.get(k) for k in CONTENT_FIELDS})).encode("utf-8")).hexdigest()


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256 over the previous hash and the canonical JSON of (id, at as UTC text, content_digest)."""
    data: dict[str, Any] = {name: fields.get(name) for name in HASHED_FIELDS}
    data["at"] = _canonical_time(data["at"])
    return hashlib.sha256((prev_hash + _canonical(data)).encode("utf-8")).hexdigest()


def to_ranges(ids: Iterable[int]) -> list[list[int]]:
    """[1,2,3,7] -> [[1,3],[7,7]]: an erasure of thousands of entries stays a short record."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


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
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry and commit. actor is a key id or label — never a key.

    Commits the session: pending work of the caller is committed with it."""
    last_id = append_audit_many(session, [{"actor": actor, "action": action, "resource": resource, "outcome": outcome,
                                           "role": role, "purpose": purpose, "request_id": request_id,
                                           "detail": detail}])
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
        row = {k: e.get(k) for k in CONTENT_FIELDS}
        if isinstance(row["detail"], Mapping):
            row["detail"] = canonical_detail(row["detail"])
        checked.append(row)
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
        salt = secrets.token_hex(16)
        fields: dict[str, Any] = {"id": last_id, "at": now, **e, "salt": salt}
        fields["content_digest"] = content_digest(salt, fields)
        digest = entry_hash(last_hash, fields)
        rows.append({**fields, "prev_hash": last_hash, "entry_hash": digest})
        last_hash = digest
    s.execute(sa.insert(AuditEntry), rows)
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=last_id, last_hash=last_hash)
              .execution_options(synchronize_session=False))
    return int(last_id)


def _erased_ids(detail: str | None) -> set[int]:
    try:
        ranges = json.loads(detail or "{}").get("erased_entries", [])
        return {i for first, last in ranges for i in range(int(first), int(last) + 1)}
    except (ValueError, TypeError, AttributeError):
        return set()


def verify_chain(session: Session, *, batch: int = 1000) -> VerifyResult:
    """Walk the chain from the start; report the first entry that was edited, removed or moved, a
    truncated tail (the head row no longer matches the last entry), and content that is missing
    without an erasure entry accounting for it."""
    expected_id, expected_prev, checked = 1, GENESIS_HASH, 0
    erased: list[int] = []
    accounted: set[int] = set()
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
            if not hmac.compare_digest(entry_hash(row.prev_hash, {n: getattr(row, n) for n in HASHED_FIELDS}),
                                       row.entry_hash):
                return VerifyResult(False, checked, row.id, "hash mismatch: entry was edited")
            content = {n: getattr(row, n) for n in CONTENT_FIELDS}
            if row.salt is None:
                if any(v is not None for v in content.values()):
                    return VerifyResult(False, checked, row.id, "content without its salt: entry was edited")
                erased.append(row.id)
            elif not hmac.compare_digest(content_digest(row.salt, content), row.content_digest):
                return VerifyResult(False, checked, row.id, "content digest mismatch: entry was edited")
            elif row.action in ERASING_ACTIONS:
                accounted |= _erased_ids(row.detail)
            checked += 1
            expected_id, expected_prev = row.id + 1, row.entry_hash
        head = session.execute(select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)).first()
    unaccounted = [i for i in erased if i not in accounted]
    if unaccounted:
        return VerifyResult(False, checked, unaccounted[0],
                            f"content of {len(unaccounted)} entries removed without an erasure entry (edited)")
    if head is None:
        return VerifyResult(False, checked, None, "the audit head row is missing")
    if head.last_id != expected_id - 1 or head.last_hash != expected_prev:
        return VerifyResult(False, checked, expected_id if head.last_id >= expected_id else head.last_id,
                            f"head mismatch: head says entry {head.last_id}, chain ends at {expected_id - 1} "
                            "(entries removed from the end, or the head was altered)", len(erased))
    return VerifyResult(True, checked, erased=len(erased))


def erase_content(s: Session, ids: Sequence[int]) -> int:
    """Inside the caller's transaction: null the content and salt of these entries (the chain fields
    stay). The caller must append the erasing entry (ERASING_ACTIONS, detail.erased_entries) in the
    same transaction, or verify will report the entries as edited. Returns how many were erased."""
    if not ids:
        return 0
    total = 0
    nulls = dict.fromkeys((*CONTENT_FIELDS, "salt"))
    for i in range(0, len(ids), 500):
        chunk = list(ids[i:i + 500])
        result = s.execute(update(AuditEntry).where(AuditEntry.id.in_(chunk), AuditEntry.salt.is_not(None))
                           .values(**nulls).execution_options(synchronize_session=False))
        total += int(getattr(result, "rowcount", 0) or 0)
    return total


def erase_in(
    s: Session,
    *,
    actor: str,
    action: str,
    purpose: str,
    resources: Sequence[str] = (),
    resource_prefixes: Sequence[str] = (),
    before: datetime | None = None,
    detail: Mapping[str, Any] | None = None,
    role: str | None = None,
    request_id: str | None = None,
) -> int:
    """Inside the caller's transaction: erase the content of the entries about these resources (exact
    names, or names starting with a prefix; optionally only entries older than `before`), then append
    the erasing entry that accounts for them. Erasing entries themselves are never erased.
    Returns how many entries were erased; the erasing entry is appended even when none were."""
    import sqlalchemy as sa

    if action not in ERASING_ACTIONS:
        raise DataError(MSG_BAD_AUDIT.format(details=f"erasing action must be one of {sorted(ERASING_ACTIONS)}"))
    conds: list[Any] = []
    for i in range(0, len(resources), 500):
        conds.append(AuditEntry.resource.in_(list(resources[i:i + 500])))
    conds += [AuditEntry.resource.startswith(p, autoescape=True) for p in resource_prefixes]
    ids: list[int] = []
    if conds:
        stmt = select(AuditEntry.id).where(sa.or_(*conds), AuditEntry.salt.is_not(None),
                                           AuditEntry.action.not_in(sorted(ERASING_ACTIONS)))
        if before is not None:
            stmt = stmt.where(AuditEntry.at < before)
        ids = [int(i) for i in s.scalars(stmt.order_by(AuditEntry.id))]
    # lock the head before touching rows, like every append
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id)
              .execution_options(synchronize_session=False))
    erase_content(s, ids)
    entry = check_entries([{"actor": actor, "role": role, "action": action, "resource": "audit_log",
                            "purpose": purpose, "outcome": "allowed", "request_id": request_id,
                            "detail": {**(detail or {}), "erased_entries": to_ranges(ids), "n_erased": len(ids)}}])
    append_rows(s, entry)
    return len(ids)


def erase_entries(session: Session, **kwargs: Any) -> int:
    """erase_in as its own transaction (commits)."""
    return run_write(session, lambda s: erase_in(s, **kwargs), attempts=8)


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
