"""The review core: one case per pupil per team holding all its signals, the legal deadline apart from
the next step, a plan per case and the school's report to DUO.

- review_cases gains ``team`` (the value of the role's unit), ``legal_deadline`` (was ``due_date``, kept
  only where the role holds a legal duty) and ``legal_done_on``; several active cases of one pupil for
  one team (the old key was per reason) are merged: the oldest keeps the signals of all, the others are
  closed with a history line that says into which case; then a partial unique index holds it.
- case_signals: the signals a case holds (each old case brings its own reason as one signal).
- case_actions: the plan. duo_reports: the school's report of a 16-hour signal.

Revision ID: 0005_review_core
Revises: 0004_registrations
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005_review_core"
down_revision = "0004_registrations"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ACTIVE = ("open", "in_review", "contacted", "referred")
ACTIVE_SQL = "status IN ('open', 'in_review', 'contacted', 'referred')"
UNITS = {"school": "school_id", "leerplicht": "municipality", "rmc": "rmc_region", "jeugdarts": "rmc_region"}
#: (role, rule) pairs whose stored due date was the role's legal deadline (review.duties.DUTIES)
DUTIES = {("school", "leerplicht_16h_4w"), ("leerplicht", "leerplicht_16h_4w")}


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("review_cases") as batch:
        batch.add_column(sa.Column("team", sa.String(32), nullable=True))
        batch.add_column(sa.Column("legal_deadline", sa.Date, nullable=True))
        batch.add_column(sa.Column("legal_done_on", sa.Date, nullable=True))
    cases = sa.table("review_cases", sa.column("id", sa.Integer), sa.column("student_id", sa.String),
                     sa.column("role", sa.String), sa.column("reason", sa.String), sa.column("as_of", sa.Date),
                     sa.column("school_id", sa.String), sa.column("municipality", sa.String),
                     sa.column("rmc_region", sa.String), sa.column("due_date", sa.Date),
                     sa.column("status", sa.String), sa.column("team", sa.String),
                     sa.column("legal_deadline", sa.Date), sa.column("updated_at", TS))
    rows = bind.execute(sa.select(cases.c.id, cases.c.student_id, cases.c.role, cases.c.reason, cases.c.as_of,
                                  cases.c.school_id, cases.c.municipality, cases.c.rmc_region, cases.c.due_date,
                                  cases.c.status).order_by(cases.c.id)).all()
    signals: list[dict[str, object]] = []
    keep: dict[tuple[str, str, str], int] = {}
    merged: list[tuple[int, int]] = []
    for r in rows:
        team = getattr(r, UNITS.get(r.role, "school_id")) or "?"
        rule = r.reason[5:] if r.reason.startswith("rule:") else None
        deadline = r.due_date if rule and (r.role, rule) in DUTIES else None
        bind.execute(sa.update(cases).where(cases.c.id == r.id).values(team=team, legal_deadline=deadline))
        target = r.id
        if r.status in ACTIVE:
            key = (r.student_id, r.role, team)
            if key in keep:
                target = keep[key]
                merged.append((r.id, target))
            else:
                keep[key] = r.id
        signals.append({"case_id": target, "kind": "rule" if rule else "model", "rule_id": rule,
                        "fired_on": r.as_of if rule else None, "deadline": deadline, "detail": None,
                        "first_seen": r.as_of, "last_seen": r.as_of})
    now = dt.datetime.now(dt.UTC)
    events = sa.table("case_events", sa.column("case_id", sa.Integer), sa.column("at", TS),
                      sa.column("actor", sa.String), sa.column("action", sa.String),
                      sa.column("from_status", sa.String), sa.column("to_status", sa.String),
                      sa.column("note", sa.Text))
    for old, target in merged:
        status = bind.execute(sa.select(cases.c.status).where(cases.c.id == old)).scalar_one()
        bind.execute(sa.update(cases).where(cases.c.id == old).values(status="closed", updated_at=now))
        bind.execute(sa.insert(events).values(case_id=old, at=now, actor="system", action="status",
                                              from_status=status, to_status="closed",
                                              note=f"merged into case {target} (one case per pupil per team)"))
    with op.batch_alter_table("review_cases") as batch:
        batch.alter_column("team", existing_type=sa.String(32), nullable=False)
        batch.drop_constraint("uq_review_cases_key", type_="unique")
        batch.drop_index("ix_review_cases_worklist")
        batch.drop_column("due_date")
    op.create_index("ix_review_cases_worklist", "review_cases", ["role", "team", "status", "legal_deadline"])
    op.create_index("uq_review_cases_active", "review_cases", ["student_id", "role", "team"], unique=True,
                    sqlite_where=sa.text(ACTIVE_SQL), postgresql_where=sa.text(ACTIVE_SQL))

    op.create_table(
        "case_signals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("review_cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("rule_id", sa.String(32)),
        sa.Column("fired_on", sa.Date),
        sa.Column("deadline", sa.Date),
        sa.Column("detail", sa.Text),
        sa.Column("first_seen", sa.Date, nullable=False),
        sa.Column("last_seen", sa.Date, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("scoring_runs.id", ondelete="SET NULL")),
    )
    op.create_index("ix_case_signals_case", "case_signals", ["case_id"])
    if signals:
        sig = sa.table("case_signals", *(sa.column(k) for k in signals[0]))
        seen: set[tuple[object, ...]] = set()
        unique = []
        for row in signals:  # a merged case brings each of its signals once
            ident = (row["case_id"], row["kind"], row["rule_id"], row["fired_on"])
            if ident not in seen:
                seen.add(ident)
                unique.append(row)
        bind.execute(sa.insert(sig), unique)

    op.create_table(
        "case_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("review_cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("due_on", sa.Date),
        sa.Column("done_on", sa.Date),
        sa.Column("result", sa.Text),
        sa.Column("follow_up_on", sa.Date),
        sa.Column("follow_up_result", sa.String(16)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_case_actions_case", "case_actions", ["case_id"])
    op.create_table(
        "duo_reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("review_cases.id", ondelete="SET NULL")),
        sa.Column("rule_id", sa.String(32), nullable=False),
        sa.Column("fired_on", sa.Date),
        sa.Column("reported_on", sa.Date, nullable=False),
        sa.Column("reference", sa.String(64)),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_duo_reports_student", "duo_reports", ["student_id", "rule_id"])


def downgrade() -> None:
    op.drop_table("duo_reports")
    op.drop_table("case_actions")
    op.drop_table("case_signals")
    op.drop_index("uq_review_cases_active", table_name="review_cases")
    op.drop_index("ix_review_cases_worklist", table_name="review_cases")
    with op.batch_alter_table("review_cases") as batch:
        batch.add_column(sa.Column("due_date", sa.Date))
        batch.drop_column("legal_done_on")
        batch.drop_column("legal_deadline")
        batch.drop_column("team")
    op.create_index("ix_review_cases_worklist", "review_cases", ["role", "status", "due_date"])
