"""task_runs.executor and task_runs.worker_id: where an attempt runs (Celery workers, ADR 0006)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.add_column(sa.Column("executor", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("worker_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_column("worker_id")
        batch.drop_column("executor")
