"""Registrations: where a pupil belongs and when (the only source of scope).

Revision ID: 0004_registrations
Revises: 0003_privacy
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_registrations"
down_revision = "0003_privacy"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(32)),
        sa.Column("municipality", sa.String(16)),
        sa.Column("rmc_region", sa.String(16)),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date),
        sa.Column("mentor_group", sa.String(32)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
    )
    op.create_index("ix_registrations_student", "registrations", ["student_id", "starts_on"])


def downgrade() -> None:
    op.drop_table("registrations")
