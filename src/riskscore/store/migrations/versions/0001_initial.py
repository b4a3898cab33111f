"""Initial schema: scoring runs, scores, review cases and their history, outcomes, API keys,
authentication failures and the hash-chained audit log (append-only by trigger on both backends).

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)
PG_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "scoring_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("n_scored", sa.Integer, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.UniqueConstraint("as_of", "model_version", name="uq_scoring_runs_as_of_model"),
        sa.CheckConstraint("status IN ('running', 'complete')", name="ck_scoring_runs_status"),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("scoring_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(32)),
        sa.Column("municipality", sa.String(16)),
        sa.Column("rmc_region", sa.String(16)),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("age", sa.Float),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("triggers", sa.JSON, nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_scores_student_created", "scores", ["student_id", "created_at"])
    op.create_index("ix_scores_run", "scores", ["run_id"])
    op.create_table(
        "review_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(32)),
        sa.Column("municipality", sa.String(16)),
        sa.Column("rmc_region", sa.String(16)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column(
            "opened_by_run", sa.Integer, sa.ForeignKey("scoring_runs.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("probability", sa.Float),
        sa.Column("band", sa.String(16)),
        sa.Column("due_date", sa.Date),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("owner", sa.String(128)),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("student_id", "role", "reason", "as_of", name="uq_review_cases_key"),
        sa.CheckConstraint(
            "status IN ('open', 'in_review', 'contacted', 'referred', 'no_action_needed', 'false_alarm', 'closed')",
            name="ck_review_cases_status",
        ),
    )
    op.create_index("ix_review_cases_worklist", "review_cases", ["role", "status", "due_date"])
    op.create_index("ix_review_cases_student", "review_cases", ["student_id"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("review_cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id", "id"])
    op.create_table(
        "review_outcomes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("review_cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("worth_conversation", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_review_outcomes_case", "review_outcomes", ["case_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_prefix", sa.String(40), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope_values", sa.JSON, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.Column("last_used_at", TS),
    )
    op.create_table(
        "auth_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("key_prefix", sa.String(40)),
    )
    op.create_index("ix_auth_failures_client_at", "auth_failures", ["client", "at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(200)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": "0" * 64}])
    triggers = PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for table in (
        "audit_head", "audit_log", "auth_failures", "api_keys", "review_outcomes", "case_events",
        "review_cases", "scores", "scoring_runs",
    ):
        op.drop_table(table)
