"""indexes for listing workflow runs

ListTriggerWorkflowRuns pages through a project's runs newest first, often for one workflow, or ordered
by ScheduleTime. With 100,000 runs, `(project_id, create_ms)` alone made the WorkflowId filter walk the
project's runs in time order until a page was full (all of them for a rare workflow) and
`ORDER BY schedule_ms` sort every run of the project for each page. These two let both the page and its
COUNT(*) read just the matching index range.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 04:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_runs_project_workflow_create", ["project_id", "workflow_id", "create_ms"], unique=False
        )
        batch_op.create_index("ix_workflow_runs_project_schedule", ["project_id", "schedule_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_runs_project_schedule")
        batch_op.drop_index("ix_workflow_runs_project_workflow_create")
