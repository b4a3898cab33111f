"""People who may sign in on the web, kept by an admin (`riskscore users`, the /admin/users page) or
copied from their identity provider's claims when the deployment opts in. The only writer of `users`.

A person is found by (issuer, subject); at the first sign-in an active row without a subject is matched
on e-mail (not when the provider says the address is unverified) and the subject is bound to it, so
later sign-ins no longer depend on the address. Deactivating a person, or changing their role, scope or
groups, ends their web sessions in the same transaction."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskscore.access.principal import validate_role, validate_scope
from riskscore.access.scope import Place, in_scope
from riskscore.access.signin import (
    REFUSED_AMBIGUOUS,
    REFUSED_CLAIMS,
    REFUSED_INACTIVE,
    REFUSED_UNKNOWN,
    Identity,
    SignInRefused,
    normalise_email,
    parse_groups,
)
from riskscore.errors import DataError, NotFoundError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import User, utcnow
from riskscore.store.web_sessions import end_user_sessions_in, principal_of

ACTOR_PREFIX = "user:"
MSG_USER_NOT_FOUND = "user '{user_id}' not found"
MSG_BAD_NAME = "a user needs a display name of 1 to 200 characters"
MSG_BAD_EMAIL = "'{email}' is not an e-mail address"
MSG_EMAIL_TAKEN = "another active user already has the e-mail address '{email}'"
MSG_NEEDS_IDENTITY = "a user needs an e-mail address or an issuer and subject to be matched at sign-in"
_ID = re.compile(r"^[0-9a-f]{12}$")


class UserError(DataError):
    """A user's data is not acceptable; ``code`` names which rule (pages translate it)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def actor_id(user_id: str) -> str:
    """What the audit log and case history record for this person."""
    return f"{ACTOR_PREFIX}{user_id}"


def _name(display_name: str) -> str:
    name = " ".join(display_name.split())
    if not name or len(name) > 200:
        raise UserError(MSG_BAD_NAME, "name")
    return name


def _email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    value = normalise_email(email)
    if value is None:
        raise UserError(MSG_BAD_EMAIL.format(email=email.strip()[:80]), "email")
    return value


def _email_free(s: Session, email: str | None, *, except_id: str | None = None) -> None:
    if email is None:
        return
    stmt = select(User.id).where(User.email == email, User.deactivated_at.is_(None))
    if except_id is not None:
        stmt = stmt.where(User.id != except_id)
    if s.scalar(stmt.limit(1)) is not None:
        raise UserError(MSG_EMAIL_TAKEN.format(email=email), "email_taken")


def create_user(session: Session, *, display_name: str, role: str, scope_kind: str,
                scope_values: Sequence[str] = (), email: str | None = None, groups: Sequence[str] = (),
                issuer: str | None = None, subject: str | None = None, demo: bool = False,
                source: str = "table") -> User:
    """Add a person; DataError/ConfigError on a bad name, e-mail, role or scope (nothing written)."""
    name, mail = _name(display_name), _email(email)
    validate_role(role)
    kind, values = validate_scope(scope_kind, tuple(scope_values))
    if mail is None and not (issuer and subject) and not demo:
        raise UserError(MSG_NEEDS_IDENTITY, "needs_identity")

    def work(s: Session) -> User:
        _email_free(s, mail)
        now = utcnow()
        user = User(id=secrets.token_hex(6), display_name=name, email=mail, issuer=issuer or None,
                    subject=subject or None, role=role, scope_kind=kind, scope_values=list(values),
                    groups=list(parse_groups(list(groups))), source=source, demo=demo, created_at=now, updated_at=now)
        s.add(user)
        s.flush()
        return user

    return run_write(session, work)


def get_user(session: Session, user_id: str) -> User:
    user = None
    if _ID.match(user_id or ""):
        with translate_errors():
            user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(MSG_USER_NOT_FOUND.format(user_id=str(user_id)[:40]))
    return user


def list_users(session: Session, *, include_inactive: bool = True, demo_only: bool = False) -> list[User]:
    """People, by name."""
    stmt = select(User).order_by(User.display_name, User.id)
    if not include_inactive:
        stmt = stmt.where(User.deactivated_at.is_(None))
    if demo_only:
        stmt = stmt.where(User.demo.is_(True))
    with translate_errors():
        return list(session.scalars(stmt))


def colleagues(session: Session, *, role: str, place: Place) -> list[tuple[str, str]]:
    """The people a case can be handed to: active people of the same role whose scope (mentor groups
    included) covers the pupil's place, by name — as (actor id, name)."""
    stmt = (select(User).where(User.role == role, User.deactivated_at.is_(None))
            .order_by(User.display_name, User.id))
    with translate_errors():
        people = list(session.scalars(stmt))
    return [(actor_id(u.id), u.display_name) for u in people if in_scope(principal_of(u), place)]


def update_user(session: Session, user_id: str, *, display_name: str | None = None, email: str | None = None,
                role: str | None = None, scope_kind: str | None = None, scope_values: Sequence[str] | None = None,
                groups: Sequence[str] | None = None) -> tuple[User, bool]:
    """Change a person; returns (user, sessions_ended). A change of role, scope or groups ends their
    sessions: what they may see is decided again at the next sign-in."""
    name = _name(display_name) if display_name is not None else None
    mail = _email(email) if email is not None else None
    if role is not None:
        validate_role(role)
    scope = validate_scope(scope_kind, tuple(scope_values or ())) if scope_kind is not None else None
    new_groups = list(parse_groups(list(groups))) if groups is not None else None

    def work(s: Session) -> tuple[User, bool]:
        user = s.get(User, user_id)
        if user is None:
            raise NotFoundError(MSG_USER_NOT_FOUND.format(user_id=user_id))
        before = (user.role, user.scope_kind, list(user.scope_values or []), list(user.groups or []))
        if name is not None:
            user.display_name = name
        if email is not None:
            _email_free(s, mail, except_id=user.id)
            user.email = mail
        if role is not None:
            user.role = role
        if scope is not None:
            user.scope_kind, user.scope_values = scope[0], list(scope[1])
        if new_groups is not None:
            user.groups = new_groups
        user.source = "table"  # an admin's edit wins over claims from now on
        user.updated_at = utcnow()
        changed = before != (user.role, user.scope_kind, list(user.scope_values or []), list(user.groups or []))
        if changed:
            end_user_sessions_in(s, user.id, reason="access_changed")
        return user, changed

    return run_write(session, work)


def set_active(session: Session, user_id: str, active: bool) -> User:
    """Deactivate (ends every session at once) or reactivate a person; idempotent."""

    def work(s: Session) -> User:
        user = s.get(User, user_id)
        if user is None:
            raise NotFoundError(MSG_USER_NOT_FOUND.format(user_id=user_id))
        if active:
            if user.deactivated_at is not None:
                _email_free(s, user.email, except_id=user.id)
                user.deactivated_at = None
        elif user.deactivated_at is None:
            user.deactivated_at = utcnow()
        user.updated_at = utcnow()
        if not active:
            end_user_sessions_in(s, user.id, reason="user_deactivated")
        return user

    return run_write(session, work)


@dataclass(frozen=True)
class Match:
    """A signed-in person and how they were found: 'subject', 'email' (subject now bound) or 'claims'."""

    user: User
    how: str


def match_person(session: Session, identity: Identity, *, roles_from_claims: bool) -> Match:
    """The active user this identity belongs to, or SignInRefused (reason for the audit log).

    Order: (issuer, subject); else one active row without a subject whose e-mail matches (unless the
    provider says the address is unverified), which binds the subject; else, when the deployment takes
    roles from claims and the claims carry a valid role and scope, a row of source 'claims'. A row of
    source 'claims' is refreshed from the claims at every sign-in; an admin's edit makes it 'table'."""

    def work(s: Session) -> Match:
        now = utcnow()
        user = s.scalar(select(User).where(User.issuer == identity.issuer, User.subject == identity.subject))
        how = "subject"
        if user is None and identity.email and identity.email_verified is not False:
            candidates = list(s.scalars(select(User).where(User.email == identity.email, User.subject.is_(None),
                                                           User.demo.is_(False), User.deactivated_at.is_(None))))
            if len(candidates) > 1:
                raise SignInRefused(REFUSED_AMBIGUOUS)
            if candidates:
                user, how = candidates[0], "email"
                user.issuer, user.subject = identity.issuer, identity.subject
            elif s.scalar(select(User.id).where(User.email == identity.email, User.subject.is_(None),
                                                User.demo.is_(False), User.deactivated_at.is_not(None)).limit(1)):
                raise SignInRefused(REFUSED_INACTIVE)
        if user is not None and user.deactivated_at is not None:
            raise SignInRefused(REFUSED_INACTIVE)
        if user is not None and user.demo:
            raise SignInRefused(REFUSED_UNKNOWN)  # demo people never sign in through a provider
        if roles_from_claims and (user is None or user.source == "claims"):
            if not identity.claims_valid:
                raise SignInRefused(REFUSED_CLAIMS)
            if identity.role is not None and identity.scope_kind is not None:
                if user is None:
                    user = User(id=secrets.token_hex(6), display_name=identity.name, email=identity.email,
                                issuer=identity.issuer, subject=identity.subject, source="claims", demo=False,
                                created_at=now, role=identity.role, scope_kind=identity.scope_kind,
                                scope_values=[], groups=[], updated_at=now)
                    s.add(user)
                    how = "claims"
                access = (identity.role, identity.scope_kind, list(identity.scope_values), list(identity.groups))
                if access != (user.role, user.scope_kind, list(user.scope_values or []), list(user.groups or [])):
                    user.role, user.scope_kind = identity.role, identity.scope_kind
                    user.scope_values, user.groups = list(identity.scope_values), list(identity.groups)
                    user.updated_at = now
                    end_user_sessions_in(s, user.id, reason="access_changed")
            elif user is not None and user.source == "claims":
                raise SignInRefused(REFUSED_CLAIMS)  # the provider no longer vouches for a role
        if user is None:
            raise SignInRefused(REFUSED_UNKNOWN)
        if user.source == "claims":  # an admin-kept name stays as the admin wrote it
            user.display_name = identity.name
        user.last_sign_in_at = now
        s.flush()
        return Match(user=user, how=how)

    return run_write(session, work)


def demo_person(session: Session, user_id: str) -> User:
    """An active demo person (the demo sign-in; demo mode only, checked by the caller); NotFoundError otherwise."""
    user = get_user(session, user_id)
    if not user.demo or user.deactivated_at is not None:
        raise NotFoundError(MSG_USER_NOT_FOUND.format(user_id=user_id))
    return user


def mark_signed_in(session: Session, user_id: str) -> None:
    def work(s: Session) -> None:
        user = s.get(User, user_id)
        if user is not None:
            user.last_sign_in_at = utcnow()

    run_write(session, work)
