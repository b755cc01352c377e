"""task_runs.exit_outputs: the output parameters of a worker's finish report, durable with its exit code

A remote attempt's outputs travel in its exit fact (issue 10 point 1), not in a file on the server; the
finish report is made durable before it is acknowledged (ADR 0006), so its outputs must be too, or a server
killed before applying the exit would record the task SUCCESS with its declared defaults.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.add_column(sa.Column("exit_outputs", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_column("exit_outputs")
