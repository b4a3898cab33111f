"""API keys. The plaintext ("rsk_<id>_<secret>") is shown once; only its sha256 is stored, so a copy
of the database never yields a usable key. Lookup is by hash (an indexed equality on a digest, so
timing reveals nothing about the secret) and the digests are compared again with compare_digest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskscore.access import Principal, validate_role, validate_scope
from riskscore.errors import NotFoundError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import ApiKey, AuthFailure, utcnow

KEY_PREFIX = "rsk"
MSG_KEY_NOT_FOUND = "API key '{key_id}' not found"


def hash_key(plaintext: str) -> str:
    """sha256 hex of the full key; the only form in which a key is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def key_id_of(plaintext: str) -> str | None:
    """The public id part of a key ('rsk_<id>_<secret>'), for logs and rate limits; None if malformed."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def create_key(
    session: Session, role: str, scope_kind: str, scope_values: list[str] | tuple[str, ...], label: str
) -> tuple[str, str]:
    """Create a key and return (key_id, plaintext). The plaintext is not recoverable afterwards."""
    validate_role(role)
    kind, values = validate_scope(scope_kind, scope_values)

    def work(s: Session) -> tuple[str, str]:
        key_id = secrets.token_hex(6)
        plaintext = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        s.add(ApiKey(id=key_id, key_prefix=f"{KEY_PREFIX}_{key_id}", key_hash=hash_key(plaintext), role=role,
                     scope_kind=kind, scope_values=list(values), label=label.strip() or key_id,
                     created_at=utcnow()))
        return key_id, plaintext

    return run_write(session, work)


def _principal(row: ApiKey) -> Principal:
    return Principal(actor_id=row.id, label=row.label, role=row.role, scope_kind=row.scope_kind,
                     scope_values=tuple(row.scope_values or ()))


def authenticate(session: Session, plaintext: str) -> Principal | None:
    """The principal for a valid, unrevoked key; None otherwise (the caller raises AuthError).

    Read-only: it does not commit, so it works on a read-only replica too."""
    if not plaintext or key_id_of(plaintext) is None or len(plaintext) > 200:
        return None
    digest = hash_key(plaintext)
    with translate_errors():
        row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    return _principal(row)


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key at once (idempotent); NotFoundError if there is no such key."""

    def work(s: Session) -> ApiKey:
        row = s.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(MSG_KEY_NOT_FOUND.format(key_id=key_id))
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return row

    return run_write(session, work)


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    """All keys (hashes included in the rows, never plaintexts), oldest first."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    with translate_errors():
        return list(session.scalars(stmt))


def record_auth_failure(session: Session, *, client: str, key_id: str | None = None) -> None:
    """Remember a failed attempt so guessing can be throttled across all workers."""

    def work(s: Session) -> None:
        s.add(AuthFailure(at=utcnow(), client=client[:128], key_prefix=key_id))

    run_write(session, work)


def recent_auth_failures(session: Session, *, client: str | None = None, key_prefix: str | None = None,
                         window: timedelta = timedelta(minutes=15), now: datetime | None = None) -> int:
    """How many failed attempts this client address (or, with key_prefix, this key id) made within the window."""
    since = (now or utcnow()) - window
    where = (AuthFailure.key_prefix == key_prefix[:40]) if key_prefix is not None else (
        AuthFailure.client == (client or "")[:128])
    with translate_errors():
        return int(session.scalar(
            select(func.count()).select_from(AuthFailure).where(where, AuthFailure.at >= since)
        ) or 0)
