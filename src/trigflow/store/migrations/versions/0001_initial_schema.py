"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 19:46:03.450694
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("secret_id", sa.String(length=64), nullable=False),
        sa.Column("secret_key", sa.String(length=128), nullable=False),
        sa.Column("uin", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("secret_id"),
    )
    op.create_table(
        "folders",
        sa.Column("folder_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("folder_id"),
        sa.UniqueConstraint("project_id", "path", name="uq_folders_project_path"),
    )
    op.create_table(
        "projects",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("project_name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("creator_uin", sa.String(length=32), nullable=True),
        sa.Column("owner_uin", sa.String(length=32), nullable=True),
        sa.Column("status", sa.Integer(), server_default="1", nullable=False),
        sa.Column("project_model", sa.String(length=32), nullable=True),
        sa.Column("schedule_mode", sa.String(length=32), server_default="workflow", nullable=False),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
        sa.UniqueConstraint("project_name"),
    )
    op.create_table(
        "task_runs",
        sa.Column("execution_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("task_type", sa.String(length=32), nullable=False),
        sa.Column("task_type_id", sa.Integer(), nullable=False),
        sa.Column("task_version_id", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error_code_str", sa.Text(), nullable=True),
        sa.Column("depend_on", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("extensions", sa.Text(), nullable=False),
        sa.Column("run_params", sa.Text(), nullable=False),
        sa.Column("resource_group_id", sa.String(length=64), nullable=True),
        sa.Column("owner_uin", sa.String(length=32), nullable=True),
        sa.Column("execute_user_uin", sa.String(length=32), nullable=True),
        sa.Column("trigger_type", sa.String(length=32), nullable=True),
        sa.Column("cycle_type", sa.String(length=32), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("folder_id", sa.String(length=64), nullable=True),
        sa.Column("folder_name", sa.String(length=200), nullable=True),
        sa.Column("workflow_name", sa.String(length=200), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("retry_times", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rerun_times", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_latest", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("proc_start", sa.String(length=80), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.Column("schedule_ms", sa.BigInteger(), nullable=False),
        sa.Column("deps_ms", sa.BigInteger(), nullable=True),
        sa.Column("issue_ms", sa.BigInteger(), nullable=True),
        sa.Column("start_ms", sa.BigInteger(), nullable=True),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("update_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("execution_id"),
    )
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.create_index("ix_task_runs_project_create", ["project_id", "create_ms"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_runs_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_task_runs_state", ["state"], unique=False)

    op.create_table(
        "task_versions",
        sa.Column("version_id", sa.String(length=80), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("remark", sa.Text(), nullable=True),
        sa.Column("creator_uin", sa.String(length=32), nullable=True),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("version_id"),
    )
    with op.batch_alter_table("task_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_versions_task_id"), ["task_id"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("task_type_id", sa.Integer(), nullable=False),
        sa.Column("owner_uin", sa.String(length=32), nullable=True),
        sa.Column("create_user_uin", sa.String(length=32), nullable=True),
        sa.Column("update_user_uin", sa.String(length=32), nullable=True),
        sa.Column("folder_path", sa.String(length=1000), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("scheduler", sa.JSON(), nullable=False),
        sa.Column("upstream", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="N", nullable=False),
        sa.Column("version_no", sa.Integer(), server_default="1", nullable=False),
        sa.Column("submit_version_no", sa.Integer(), server_default="0", nullable=False),
        sa.Column("submitted_version_id", sa.String(length=80), nullable=True),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.Column("update_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
        sa.UniqueConstraint("workflow_id", "name", name="uq_tasks_name"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "workflow_runs",
        sa.Column("execution_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_name", sa.String(length=200), nullable=False),
        sa.Column("folder_id", sa.String(length=64), nullable=True),
        sa.Column("folder_name", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error_code_str", sa.Text(), nullable=True),
        sa.Column("trigger_type", sa.String(length=32), nullable=False),
        sa.Column("trigger_id", sa.String(length=64), nullable=True),
        sa.Column("cycle_type", sa.String(length=32), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("selected_task_ids", sa.JSON(), nullable=False),
        sa.Column("rerun_times", sa.Integer(), server_default="0", nullable=False),
        sa.Column("owner_uin", sa.String(length=32), nullable=True),
        sa.Column("execute_user_uin", sa.String(length=32), nullable=True),
        sa.Column("workflow_version_id", sa.String(length=64), nullable=True),
        sa.Column("resource_group_id", sa.String(length=64), nullable=True),
        sa.Column("parent_run_id", sa.String(length=64), nullable=True),
        sa.Column("parent_task_exec_id", sa.String(length=64), nullable=True),
        sa.Column("parent_task_name", sa.String(length=200), nullable=True),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.Column("schedule_ms", sa.BigInteger(), nullable=False),
        sa.Column("queue_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("pending_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("start_ms", sa.BigInteger(), nullable=True),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("update_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("execution_id"),
    )
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_runs_project_create", ["project_id", "create_ms"], unique=False)
        batch_op.create_index(batch_op.f("ix_workflow_runs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_workflow_runs_workflow_id"), ["workflow_id"], unique=False)

    op.create_table(
        "workflows",
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("folder_id", sa.String(length=64), nullable=False),
        sa.Column("folder_path", sa.String(length=1000), nullable=False),
        sa.Column("owner_uin", sa.String(length=32), nullable=True),
        sa.Column("create_user_uin", sa.String(length=32), nullable=True),
        sa.Column("execute_user_uin", sa.String(length=32), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("general_task_params", sa.JSON(), nullable=False),
        sa.Column("trigger_configs", sa.JSON(), nullable=False),
        sa.Column("run_config", sa.JSON(), nullable=False),
        sa.Column("scheduler_status", sa.String(length=16), nullable=True),
        sa.Column("trigger_mode", sa.String(length=32), nullable=True),
        sa.Column("bundle_id", sa.String(length=200), nullable=True),
        sa.Column("bundle_info", sa.Text(), nullable=True),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("create_ms", sa.BigInteger(), nullable=False),
        sa.Column("update_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id"),
        sa.UniqueConstraint("project_id", "folder_id", "name", name="uq_workflows_name"),
    )
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflows_project_id"), ["project_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflows_project_id"))

    op.drop_table("workflows")
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_runs_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_runs_state"))
        batch_op.drop_index("ix_workflow_runs_project_create")

    op.drop_table("workflow_runs")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_project_id"))

    op.drop_table("tasks")
    with op.batch_alter_table("task_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_versions_task_id"))

    op.drop_table("task_versions")
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_task_runs_state")
        batch_op.drop_index(batch_op.f("ix_task_runs_run_id"))
        batch_op.drop_index("ix_task_runs_project_create")

    op.drop_table("task_runs")
    op.drop_table("projects")
    op.drop_table("folders")
    op.drop_table("api_keys")
