"""group_metric_minutes: per-minute resource-group metrics for GetResourceGroupMetrics

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_metric_minutes",
        sa.Column("group_id", sa.String(length=32), primary_key=True),
        sa.Column("minute_ms", sa.BigInteger, primary_key=True),
        sa.Column("max_concurrency", sa.Integer),
        sa.Column("running", sa.Integer),
        sa.Column("waiting", sa.Integer),
        sa.Column("usage_pct", sa.Integer),
        sa.Column("free_slots", sa.Integer),
        sa.Column("workers", sa.Integer),
    )
    op.create_index("ix_group_metric_minutes_minute", "group_metric_minutes", ["minute_ms"])


def downgrade() -> None:
    op.drop_index("ix_group_metric_minutes_minute", table_name="group_metric_minutes")
    op.drop_table("group_metric_minutes")
