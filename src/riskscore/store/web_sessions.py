"""Server-side web sessions: the only writer of `web_sessions`.

The browser's cookie holds an opaque random token (256 bits); the table holds only HMAC-SHA256(secret,
token), so neither a copy of the database nor a guessed digest opens a session, and a lookup is an
indexed equality on that digest. A session ends — at once, for every worker — when its row says so:
logout, an admin's revocation, the person's deactivation or change of access, `idle` without a
request, or `expires_at` (the absolute lifetime set at sign-in). Each sign-in makes a new row and
token; nothing from before sign-in carries over."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from riskscore.access.principal import PERSON, Principal
from riskscore.errors import NotFoundError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import User, UserSession, utcnow

#: last_seen_at is written at most this often per session (idle timeout precision)
TOUCH_EVERY = timedelta(seconds=60)
#: ended and expired rows stay this long for the admin page, then go
KEEP_ENDED = timedelta(days=7)
MSG_SESSION_NOT_FOUND = "session '{session_id}' not found"
MAX_TOKEN_CHARS = 128


def token_digest(secret: bytes, token: str) -> str:
    """The stored form of a session token: HMAC-SHA256 under the session secret, hex."""
    return hmac.new(secret, token.encode("utf-8"), hashlib.sha256).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC; PostgreSQL aware UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ActiveSession:
    """A live session and its person, as of this request."""

    id: str
    user_id: str
    csrf: str
    principal: Principal
    created_at: datetime
    expires_at: datetime


def start_session(session: Session, *, user_id: str, secret: bytes, lifetime: timedelta, client: str | None = None,
                  now: datetime | None = None) -> tuple[str, ActiveSession]:
    """A new session for this person: returns (token for the cookie, the session). Old rows that ended
    or expired more than KEEP_ENDED ago are removed in the same transaction."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)

    def work(s: Session) -> ActiveSession:
        user = s.get(User, user_id)
        if user is None or user.deactivated_at is not None:
            raise NotFoundError(MSG_SESSION_NOT_FOUND.format(session_id="(new)"))
        s.execute(delete(UserSession).where(UserSession.expires_at < now - KEEP_ENDED)
                  .execution_options(synchronize_session=False))
        s.execute(delete(UserSession).where(UserSession.ended_at < now - KEEP_ENDED)
                  .execution_options(synchronize_session=False))
        row = UserSession(id=secrets.token_hex(8), token_digest=token_digest(secret, token), user_id=user_id,
                          csrf=secrets.token_urlsafe(32), client=(client or "")[:128] or None, created_at=now,
                          last_seen_at=now, expires_at=now + lifetime)
        s.add(row)
        user.last_sign_in_at = now
        return _active(row, user)

    return token, run_write(session, work)


def principal_of(user: User) -> Principal:
    """The person as a caller: actor id ``user:<id>`` (what the audit log records), their name as label."""
    return Principal(actor_id=f"user:{user.id}", label=user.display_name, role=user.role, scope_kind=user.scope_kind,
                     scope_values=tuple(user.scope_values or ()), kind=PERSON, groups=tuple(user.groups or ()))


def _active(row: UserSession, user: User) -> ActiveSession:
    return ActiveSession(id=row.id, user_id=user.id, csrf=row.csrf, principal=principal_of(user),
                         created_at=_aware(row.created_at), expires_at=_aware(row.expires_at))


def find_session(session: Session, *, token: str, secret: bytes, idle: timedelta,
                 now: datetime | None = None) -> tuple[ActiveSession | None, str | None]:
    """(the live session for this token, None) or (None, why it is not: 'unknown', 'ended', 'idle',
    'expired', 'user_deactivated'). A session found idle or expired is ended here; a live one has its
    last_seen_at moved on (at most once per TOUCH_EVERY)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None, "unknown"
    now = now or utcnow()
    digest = token_digest(secret, token)
    with translate_errors():
        # populate_existing: the rows are read afresh even if this session loaded them before (an UPDATE
        # elsewhere, e.g. a logout, must never be hidden by the identity map)
        found = session.execute(select(UserSession, User).join(User, User.id == UserSession.user_id)
                                .where(UserSession.token_digest == digest)
                                .execution_options(populate_existing=True)).first()
    if found is None:
        return None, "unknown"
    row, user = found
    if not hmac.compare_digest(row.token_digest, digest):
        return None, "unknown"
    if row.ended_at is not None:
        return None, "ended"
    reason = None
    if user.deactivated_at is not None:
        reason = "user_deactivated"
    elif now >= _aware(row.expires_at):
        reason = "expired"
    elif now - _aware(row.last_seen_at) >= idle:
        reason = "idle"
    if reason is not None:
        end_session(session, row.id, reason=reason, now=now)
        return None, reason
    if now - _aware(row.last_seen_at) >= TOUCH_EVERY:
        session_id = row.id

        def touch(s: Session) -> None:
            s.execute(update(UserSession).where(UserSession.id == session_id, UserSession.ended_at.is_(None))
                      .values(last_seen_at=now).execution_options(synchronize_session=False))

        run_write(session, touch)
    return _active(row, user), None


def end_session(session: Session, session_id: str, *, reason: str, now: datetime | None = None) -> bool:
    """End one session (idempotent); True when it was live until now."""

    def work(s: Session) -> bool:
        result = s.execute(update(UserSession).where(UserSession.id == session_id, UserSession.ended_at.is_(None))
                           .values(ended_at=now or utcnow(), ended_reason=reason[:24])
                           .execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    return run_write(session, work)


def revoke_session(session: Session, session_id: str) -> UserSession:
    """An admin ends a session; NotFoundError for an unknown id."""
    with translate_errors():
        row = session.get(UserSession, session_id) if session_id and len(session_id) <= 32 else None
    if row is None:
        raise NotFoundError(MSG_SESSION_NOT_FOUND.format(session_id=str(session_id)[:40]))
    end_session(session, session_id, reason="revoked")
    session.refresh(row)
    return row


def end_user_sessions_in(s: Session, user_id: str, *, reason: str) -> int:
    """Inside the caller's transaction: end every live session of this person."""
    result = s.execute(update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
                       .values(ended_at=utcnow(), ended_reason=reason[:24]).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class SessionRow:
    """A session as the admin page lists it (never the token or its digest)."""

    id: str
    user_id: str
    display_name: str
    role: str
    client: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def list_live_sessions(session: Session, *, idle: timedelta, now: datetime | None = None,
                       user_id: str | None = None) -> list[SessionRow]:
    """Sessions that would still be accepted now (not ended, not expired, not idle), newest first."""
    now = now or utcnow()
    stmt = (select(UserSession, User).join(User, User.id == UserSession.user_id)
            .where(UserSession.ended_at.is_(None), User.deactivated_at.is_(None))
            .order_by(UserSession.created_at.desc(), UserSession.id))
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    with translate_errors():
        rows = session.execute(stmt.execution_options(populate_existing=True)).all()
    return [SessionRow(id=r.id, user_id=u.id, display_name=u.display_name, role=u.role, client=r.client,
                       created_at=_aware(r.created_at), last_seen_at=_aware(r.last_seen_at),
                       expires_at=_aware(r.expires_at))
            for r, u in rows if _aware(r.expires_at) > now and now - _aware(r.last_seen_at) < idle]
