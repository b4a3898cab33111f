"""Scores may carry no probability: pupils of a school whose latest absence import was flagged
incomplete are stored with band 'unknown' (data incomplete) instead of a low-risk score.

Revision ID: 0002_data_incomplete
Revises: 0001_initial
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_data_incomplete"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.alter_column("probability", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM scores WHERE probability IS NULL")
    with op.batch_alter_table("scores") as batch:
        batch.alter_column("probability", existing_type=sa.Float(), nullable=False)
