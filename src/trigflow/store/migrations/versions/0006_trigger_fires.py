"""trigger fires: each (trigger, nominal fire time) fires exactly once

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_fires",
        sa.Column("trigger_id", sa.String(length=64), nullable=False),
        sa.Column("fire_ms", sa.BigInteger(), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trigger_id", "fire_ms"),
    )


def downgrade() -> None:
    op.drop_table("trigger_fires")
