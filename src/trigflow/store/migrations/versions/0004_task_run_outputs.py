"""task run outputs: output parameters produced by task runs (decisions.md Q-P2)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_run_outputs",
        sa.Column("execution_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("execution_id"),
    )
    op.create_index("ix_task_run_outputs_run_id", "task_run_outputs", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_task_run_outputs_run_id", table_name="task_run_outputs")
    op.drop_table("task_run_outputs")
