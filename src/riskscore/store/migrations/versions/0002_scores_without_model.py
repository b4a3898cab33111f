"""Scores without a model score: a pupil who objected (AVG art. 21) or whose school's data is
incomplete keeps the rule triggers but gets no probability (band 'unknown'); two flags say which.

Revision ID: 0002_scores_without_model
Revises: 0001_initial
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_scores_without_model"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.alter_column("probability", existing_type=sa.Float, nullable=True)
        batch.add_column(sa.Column("objected", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("data_incomplete", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("data_incomplete")
        batch.drop_column("objected")
        batch.alter_column("probability", existing_type=sa.Float, nullable=False)
