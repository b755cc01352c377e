"""owner lists: tasks and task runs hold several owner UINs (UpdateOpsTriggerTasksOwner OwnerIds, `;`-joined)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("tasks", "task_runs")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("owner_uin", type_=sa.String(length=255), existing_type=sa.String(length=32))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("owner_uin", type_=sa.String(length=32), existing_type=sa.String(length=255))
