"""indexes for listing task runs (and workflow runs by end time)

ListTriggerTaskRuns pages through a project's task runs newest first, filtered by workflow, task or run,
or ordered by ScheduleTime or EndTime. With 300,000 task runs, `(project_id, create_ms)` alone made each
of those walk or sort the whole project: 110-530 ms a page (bench/run_semantics_bench.py). With one index
per filter/order, each page and its COUNT(*) read just the matching index range.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TASK_RUN_INDEXES = {
    "ix_task_runs_project_workflow_create": ["project_id", "workflow_id", "create_ms"],
    "ix_task_runs_project_task_create": ["project_id", "task_id", "create_ms"],
    "ix_task_runs_project_run_create": ["project_id", "run_id", "create_ms"],
    "ix_task_runs_project_schedule": ["project_id", "schedule_ms"],
    "ix_task_runs_project_end": ["project_id", "end_ms"],
}


def upgrade() -> None:
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        for name, columns in TASK_RUN_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_runs_project_end", ["project_id", "end_ms"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_runs_project_end")
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        for name in TASK_RUN_INDEXES:
            batch_op.drop_index(name)
