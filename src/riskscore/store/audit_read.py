"""Reading the audit log for the admin page: filter by pupil, by person or key, by action; newest first,
a page at a time. (The writer is store/audit.py; this module only reads.)"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from riskscore.store.db import translate_errors
from riskscore.store.models import ApiKey, AuditEntry, ReviewCase, User

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    before: int | None  # the page holds entries older than this id (None: the newest page)
    has_next: bool  # older entries exist beyond this page
    actors: tuple[str, ...]  # the actor ids the person/key filter resolved to (empty: no such filter)

    @property
    def next_before(self) -> int | None:
        return self.entries[-1].id if self.entries and self.has_next else None


def _actor_ids(session: Session, text: str) -> tuple[str, ...]:
    """An actor id as written ('user:…', a key id), plus every person whose name and every key whose label
    contains the text (case-insensitive)."""
    like = f"%{text.lower()}%"
    ids = {text}
    ids |= {f"user:{i}" for i in session.scalars(select(User.id).where(
        or_(User.display_name.ilike(like), User.email.ilike(like))))}
    ids |= set(session.scalars(select(ApiKey.id).where(ApiKey.label.ilike(like))))
    return tuple(sorted(ids))


def search_audit(session: Session, *, student_id: str | None = None, actor: str | None = None,
                 action: str | None = None, before: int | None = None, page_size: int = PAGE_SIZE) -> AuditPage:
    """Entries about a pupil (the pupil and each of their cases), by a person or key, whose action starts
    with `action`; newest first, a page of entries older than `before` (keyset paging: entries appended
    meanwhile never shift a page). Erased entries (content nulled) match no filter."""
    stmt = select(AuditEntry)
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    actors: tuple[str, ...] = ()
    with translate_errors():
        if student_id:
            case_ids = list(session.scalars(select(ReviewCase.id).where(ReviewCase.student_id == student_id)))
            resources = [f"student:{student_id}", *(f"case:{i}" for i in case_ids)]
            stmt = stmt.where(AuditEntry.resource.in_(resources))
        if actor:
            actors = _actor_ids(session, actor)
            stmt = stmt.where(AuditEntry.actor.in_(actors))
        if action:
            stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
        rows = list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(page_size + 1)))
    return AuditPage(entries=rows[:page_size], before=before, has_next=len(rows) > page_size, actors=actors)
