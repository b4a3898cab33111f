"""A score's base: what is usual for the pupil's context (school level, age) in words and as a
probability, and how the score adds up (base + reasons + other = logit(p)); null for older scores
and for pupils without a model score.

Revision ID: 0007_score_base
Revises: 0006_people_and_sessions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_score_base"
down_revision = "0006_people_and_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("base", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("base")
