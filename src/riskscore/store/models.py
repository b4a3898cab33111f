"""ORM tables. The Alembic migrations in store/migrations are the schema's source of truth; these
classes mirror them (tests check that migrate() yields every table and column declared here)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUN_STATUSES = ("running", "complete")
GENESIS_HASH = "0" * 64


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp the store writes is UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class ScoringRun(Base):
    __tablename__ = "scoring_runs"
    __table_args__ = (UniqueConstraint("as_of", "model_version", name="uq_scoring_runs_as_of_model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    model_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    n_scored: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(64), default="batch")


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (
        Index("ix_scores_student_created", "student_id", "created_at"),
        Index("ix_scores_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id", ondelete="CASCADE"))
    student_id: Mapped[str] = mapped_column(String(64))
    school_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    municipality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rmc_region: Mapped[str | None] = mapped_column(String(16), nullable=True)
    as_of: Mapped[date] = mapped_column(Date)
    age: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: None: no model score (objected, or the school's data is incomplete); band is then 'unknown'
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    band: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    triggers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    objected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    data_incomplete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: scoring.Base.to_dict(): the context's usual probability in words and the rest of the sum; None
    #: without a model score (and for scores stored before it existed)
    base: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class ReviewCase(Base):
    """One case per pupil per team (a role and its unit: school, municipality or RMC region), holding
    every signal that brought the pupil to that team (case_signals). At most one active case per pupil
    per team (a partial unique index); a finished one stays as history. ``legal_deadline`` is the team's
    legal duty (the school's report to DUO; leerplicht awaits it), ``legal_done_on`` when it was met;
    the next step's date comes from the plan (case_actions), kept apart (review.duties)."""

    __tablename__ = "review_cases"
    __table_args__ = (
        Index("ix_review_cases_worklist", "role", "team", "status", "legal_deadline"),
        Index("ix_review_cases_student", "student_id"),
        Index("uq_review_cases_active", "student_id", "role", "team", unique=True,
              sqlite_where=text("status IN ('open', 'in_review', 'contacted', 'referred')"),
              postgresql_where=text("status IN ('open', 'in_review', 'contacted', 'referred')")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64))
    school_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    municipality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rmc_region: Mapped[str | None] = mapped_column(String(16), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    #: the value of the role's team unit (review.teams.TEAM_UNITS): a BRIN, a GM code, an RMC region
    team: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[date] = mapped_column(Date)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by_run: Mapped[int | None] = mapped_column(
        ForeignKey("scoring_runs.id", ondelete="SET NULL"), nullable=True
    )
    #: the case's main signal: 'rule:<id>' (the most urgent rule) or 'capacity' (the model, within capacity)
    reason: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    band: Mapped[str | None] = mapped_column(String(16), nullable=True)
    legal_deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    legal_done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(24), default="open")
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseSignal(Base):
    """A signal a case holds: a legal or protocol rule that fired (with its date, deadline and detail)
    or the model's flag within the team's capacity. A rule that fires again in a new period is a new row."""

    __tablename__ = "case_signals"
    __table_args__ = (Index("ix_case_signals_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # 'rule' | 'model'
    rule_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    fired_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_seen: Mapped[date] = mapped_column(Date)
    last_seen: Mapped[date] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("scoring_runs.id", ondelete="SET NULL"), nullable=True)


class CaseAction(Base):
    """A step of the case's plan: who (a person) does what (review.plans.ACTION_KINDS) by when; when it
    was done and what came of it; the follow-up check (default six weeks later) and its result."""

    __tablename__ = "case_actions"
    __table_args__ = (Index("ix_case_actions_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    follow_up_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    follow_up_result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DuoReport(Base):
    """The school's report of a 16-hour signal to DUO's verzuimloket: when, DUO's reference, who
    recorded it. The attendance officer's case shows whether it came (review.duties)."""

    __tablename__ = "duo_reports"
    __table_args__ = (Index("ix_duo_reports_student", "student_id", "rule_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("review_cases.id", ondelete="SET NULL"), nullable=True)
    rule_id: Mapped[str] = mapped_column(String(32))
    fired_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    reported_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseEvent(Base):
    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReviewOutcome(Base):
    __tablename__ = "review_outcomes"
    __table_args__ = (Index("ix_review_outcomes_case", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("review_cases.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(64))
    worth_conversation: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_prefix: Mapped[str] = mapped_column(String(40))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_values: Mapped[list[Any]] = mapped_column(JSON, default=list)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuthFailure(Base):
    """Failed authentication attempts, so the API can rate-limit guessing across workers."""

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_client_at", "client", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client: Mapped[str] = mapped_column(String(128))
    key_prefix: Mapped[str | None] = mapped_column(String(40), nullable=True)


class AuditEntry(Base):
    """One audit record. id is assigned by the appender (previous id + 1) under the chain lock, so
    ids are gap-free and part of the hash: a deleted or renumbered row breaks verification.

    The chain covers (id, at, content_digest); content_digest is sha256 over a random salt and the
    content (actor .. detail). Erasure nulls the content and the salt and nothing else, so the entry
    keeps its place in the chain while its digest no longer reveals anything (the salt is gone);
    an erasure is itself an audit entry listing the ids it erased."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    action: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resource: Mapped[str | None] = mapped_column(String(200), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # canonical JSON text
    salt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    content_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row (id 1): the chain's last id and hash. Appenders lock it first, which serialises
    appends on both backends, and verify compares it with the last row to catch truncation."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class Registration(Base):
    """Where a pupil belongs, and when: one row per students row (a school year at a school, with the
    municipality and RMC region the pupil lived in) or per enrolment (a school between two dates), as
    imported from DUO's files and the schools' exports. Scope comes from here and nowhere else: never
    from a request body, never from whoever wrote a score first."""

    __tablename__ = "registrations"
    __table_args__ = (Index("ix_registrations_student", "student_id", "starts_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64))
    school_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    municipality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rmc_region: Mapped[str | None] = mapped_column(String(16), nullable=True)
    starts_on: Mapped[date] = mapped_column(Date)
    #: None: still registered
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: optional class or mentor group from the school's export ("mijn leerlingen" for a mentor)
    mentor_group: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: 'students' (a school year's row) or 'enrolments'
    source: Mapped[str] = mapped_column(String(16))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Objection(Base):
    """A pupil's objection to being scored by the model (AVG art. 21): who recorded it, why, when.
    While it exists the model part is skipped; the legal rules still run (statutory duties)."""

    __tablename__ = "objections"

    student_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: where the pupil was when the mark was set (from stored data): the scope that may see the mark once
    #: the model's scores are gone
    school_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    municipality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rmc_region: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunSignal(Base):
    """What one scoring run put on each team's list: (pupil, role, reason) with reason 'capacity' or
    'rule:<id>'. Cases are refreshed across runs and keep their first as-of date, so this is the only
    record of which run flagged whom — the impact evaluation's treatment indicator."""

    __tablename__ = "run_signals"
    __table_args__ = (Index("ix_run_signals_run", "run_id", "role"), Index("ix_run_signals_student", "student_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("scoring_runs.id", ondelete="CASCADE"))
    student_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))


class User(Base):
    """A person who may sign in on the web: matched on (issuer, subject) from their institution's identity
    provider, or on e-mail at the first sign-in (which then binds the subject). Role and scope are kept
    here by an admin (`source` 'table'), or copied from the provider's claims at each sign-in when the
    deployment opts in (`source` 'claims'). Demo people (`demo`) sign in without a provider, in demo mode only."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),
        Index("ix_users_email", "email"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(500), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_values: Mapped[list[Any]] = mapped_column(JSON, default=list)
    groups: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(16), default="table")
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UserSession(Base):
    """A signed-in web session. The browser holds an opaque random token; only its keyed digest
    (HMAC-SHA256 under the session secret) is stored, so a copy of the database opens no session.
    Ended (logout, revocation, idle, lifetime) by setting ended_at; the row stays a while for the admin page."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("ix_web_sessions_user", "user_id", "ended_at"),
        Index("ix_web_sessions_expires", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_reason: Mapped[str | None] = mapped_column(String(24), nullable=True)
