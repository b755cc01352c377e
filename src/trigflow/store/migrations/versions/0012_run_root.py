"""run root: nested runs remember the top-level run they descend from, so fan-out can be bounded

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for top-level runs (and for nested runs made before this migration: they count from zero).
    op.add_column("workflow_runs", sa.Column("root_run_id", sa.String(length=64), nullable=True))
    op.create_index("ix_workflow_runs_root", "workflow_runs", ["root_run_id"])


def downgrade() -> None:
    op.drop_index("ix_workflow_runs_root", table_name="workflow_runs")
    op.drop_column("workflow_runs", "root_run_id")
