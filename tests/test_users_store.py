"""People and sessions in the store, on SQLite and PostgreSQL: matching a signed-in identity (subject,
then e-mail once, claims when opted in), the session lifecycle (digest only, idle, lifetime, ended by
logout, revocation, deactivation and changes of access), and actor ids resolved to names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import Db
from riskscore.access.signin import Identity, SignInRefused
from riskscore.errors import ConfigError, DataError, NotFoundError
from riskscore.store.actors import actor_labels
from riskscore.store.audit import append_audit
from riskscore.store.audit_read import search_audit
from riskscore.store.keys import create_key
from riskscore.store.models import UserSession, utcnow
from riskscore.store.users import create_user, match_person, set_active, update_user
from riskscore.store.web_sessions import (
    end_session,
    find_session,
    list_live_sessions,
    revoke_session,
    start_session,
    token_digest,
)

KEY = b"k" * 32
IDLE = timedelta(minutes=30)
ISS = "https://idp.example"


def ident(sub: str, email: str | None, **kw: object) -> Identity:
    return Identity(issuer=ISS, subject=sub, name=f"Name {sub}", email=email, email_verified=kw.pop("verified", True),  # type: ignore[arg-type]
                    **kw)  # type: ignore[arg-type]


def test_matching_binds_on_email_once_then_uses_the_subject(db: Db) -> None:
    with db.sessions() as s:
        anne = create_user(s, display_name="Anne", email="Anne@School.example", role="school", scope_kind="school",
                           scope_values=["01AB"])
        m = match_person(s, ident("sub-anne", "anne@school.example"), roles_from_claims=False)
        assert (m.user.id, m.how, m.user.subject, m.user.issuer) == (anne.id, "email", "sub-anne", ISS)
        # now the subject decides; another account with Anne's address gets nothing
        assert match_person(s, ident("sub-anne", "changed@x.example"), roles_from_claims=False).how == "subject"
        with pytest.raises(SignInRefused) as refused:
            match_person(s, ident("sub-other", "anne@school.example"), roles_from_claims=False)
        assert refused.value.reason == "unknown_person"
        # an unverified address never matches; a deactivated person is refused with that reason
        create_user(s, display_name="Uri", email="uri@school.example", role="school", scope_kind="all")
        with pytest.raises(SignInRefused):
            match_person(s, ident("sub-uri", "uri@school.example", verified=False), roles_from_claims=False)
        set_active(s, anne.id, False)
        with pytest.raises(SignInRefused) as refused:
            match_person(s, ident("sub-anne", None), roles_from_claims=False)
        assert refused.value.reason == "deactivated"


def test_roles_from_claims_only_when_opted_in_and_valid(db: Db) -> None:
    with db.sessions() as s:
        claimed = ident("sub-bram", "bram@gm.example", role="leerplicht", scope_kind="municipality",
                        scope_values=("GM0363",), groups=())
        with pytest.raises(SignInRefused):
            match_person(s, claimed, roles_from_claims=False)
        m = match_person(s, claimed, roles_from_claims=True)
        assert (m.how, m.user.source, m.user.role, m.user.scope_values) == ("claims", "claims", "leerplicht", ["GM0363"])
        tok, _ = start_session(s, user_id=m.user.id, secret=KEY, lifetime=timedelta(hours=8))
        # the provider now says another municipality: the row follows and the old session ends
        moved = ident("sub-bram", "bram@gm.example", role="leerplicht", scope_kind="municipality",
                      scope_values=("GM0599",), groups=())
        assert match_person(s, moved, roles_from_claims=True).user.scope_values == ["GM0599"]
        assert find_session(s, token=tok, secret=KEY, idle=IDLE) == (None, "ended")
        with pytest.raises(SignInRefused) as refused:
            match_person(s, ident("sub-bad", None, claims_valid=False), roles_from_claims=True)
        assert refused.value.reason == "invalid_claims"


def test_session_lifecycle(db: Db) -> None:
    with db.sessions() as s:
        user = create_user(s, display_name="Sam", email="sam@school.example", role="school", scope_kind="school",
                           scope_values=["01AB"], groups=["3A"])
        t0 = utcnow()
        token, active = start_session(s, user_id=user.id, secret=KEY, lifetime=timedelta(hours=8), client="10.0.0.1",
                                      now=t0)
        row = s.scalar(select(UserSession).where(UserSession.id == active.id))
        assert row is not None and row.token_digest == token_digest(KEY, token) and token not in (row.id, row.csrf)
        found, why = find_session(s, token=token, secret=KEY, idle=IDLE, now=t0 + timedelta(minutes=5))
        assert why is None and found is not None
        assert found.principal.actor_id == f"user:{user.id}" and found.principal.groups == ("3A",)
        assert find_session(s, token=token, secret=b"x" * 32, idle=IDLE) == (None, "unknown")
        assert [r.id for r in list_live_sessions(s, idle=IDLE, now=t0 + timedelta(minutes=6))] == [active.id]
        # idle: 30 minutes after the last request (it was touched at +5 min)
        assert find_session(s, token=token, secret=KEY, idle=IDLE, now=t0 + timedelta(minutes=36))[1] == "idle"
        assert find_session(s, token=token, secret=KEY, idle=IDLE, now=t0 + timedelta(minutes=37))[1] == "ended"
        # lifetime
        token, _ = start_session(s, user_id=user.id, secret=KEY, lifetime=timedelta(hours=1), now=t0)
        assert find_session(s, token=token, secret=KEY, idle=timedelta(days=1), now=t0 + timedelta(hours=1))[1] == \
            "expired"
        # logout, revocation, change of access, deactivation
        token, active = start_session(s, user_id=user.id, secret=KEY, lifetime=timedelta(hours=8))
        assert end_session(s, active.id, reason="logout") and not end_session(s, active.id, reason="logout")
        assert find_session(s, token=token, secret=KEY, idle=IDLE)[1] == "ended"
        token, active = start_session(s, user_id=user.id, secret=KEY, lifetime=timedelta(hours=8))
        assert revoke_session(s, active.id).ended_reason == "revoked"
        with pytest.raises(NotFoundError):
            revoke_session(s, "nope")
        token, _ = start_session(s, user_id=user.id, secret=KEY, lifetime=timedelta(hours=8))
        _, ended = update_user(s, user.id, display_name="Sam B.")
        assert not ended and find_session(s, token=token, secret=KEY, idle=IDLE)[0] is not None
        _, ended = update_user(s, user.id, role="leerplicht", scope_kind="municipality", scope_values=["GM0363"])
        assert ended and find_session(s, token=token, secret=KEY, idle=IDLE)[1] == "ended"
        token, _ = start_session(s, user_id=user.id, secret=KEY, lifetime=timedelta(hours=8))
        set_active(s, user.id, False)
        assert find_session(s, token=token, secret=KEY, idle=IDLE)[1] == "ended"
        with pytest.raises(NotFoundError):  # no new session for a deactivated person
            start_session(s, user_id=user.id, secret=KEY, lifetime=timedelta(hours=8))


def test_bad_people_are_refused_with_nothing_written(db: Db) -> None:
    with db.sessions() as s:
        create_user(s, display_name="One", email="one@x.example", role="school", scope_kind="all")
        for kwargs, error in (({"display_name": " "}, DataError), ({"email": "nope"}, DataError),
                              ({"email": "ONE@x.example"}, DataError), ({"role": "boss"}, ConfigError),
                              ({"scope_kind": "school"}, ConfigError), ({"email": None}, DataError)):
            base = {"display_name": "Two", "email": "two@x.example", "role": "school", "scope_kind": "all"}
            with pytest.raises(error):
                create_user(s, **{**base, **kwargs})  # type: ignore[arg-type]
        assert [u.display_name for u in __import__("riskscore.store.users", fromlist=["x"]).list_users(s)] == ["One"]


def test_actor_labels_and_audit_search_name_people_and_keys(db: Db) -> None:
    with db.sessions() as s:
        user = create_user(s, display_name="Lotte Visser", email="lotte@school.example", role="school",
                           scope_kind="all")
        key_id, _ = create_key(s, "school", "all", [], "SOMtoday koppeling")
        assert actor_labels(s, [f"user:{user.id}", key_id, "batch:1", "", "user:nobody"]) == {
            f"user:{user.id}": "Lotte Visser", key_id: "SOMtoday koppeling"}
        for actor in (f"user:{user.id}", key_id, f"user:{user.id}"):
            append_audit(s, actor=actor, action="student.view", resource="student:P-1", outcome="allowed")
        page = search_audit(s, actor="lotte", student_id="P-1")
        assert [e.actor for e in page.entries] == [f"user:{user.id}"] * 2
        assert len(search_audit(s, actor="somtoday").entries) == 1
        assert len(search_audit(s, action="student.", page_size=2).entries) == 2
