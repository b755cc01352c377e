"""Table definitions: the one description of the schema, shared by the store and Alembic migrations.

Times are epoch milliseconds (BIGINT) because the wire speaks epoch-ms strings; JSON columns hold
the request-shaped configuration we must echo back verbatim.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

S = sa.String
MS = sa.BigInteger

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("secret_id", S(64), primary_key=True),
    sa.Column("secret_key", S(128), nullable=False),
    sa.Column("uin", S(32), nullable=False),
    sa.Column("name", S(128), nullable=False, server_default=""),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_ms", MS, nullable=False),
    sa.Column("revoked_ms", MS),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("project_id", S(32), primary_key=True),
    sa.Column("project_name", S(200), nullable=False, unique=True),
    sa.Column("display_name", S(200)),
    sa.Column("description", sa.Text),
    sa.Column("creator_uin", S(32)),
    sa.Column("owner_uin", S(32)),
    sa.Column("status", sa.Integer, nullable=False, server_default="1"),
    sa.Column("project_model", S(32)),
    sa.Column("schedule_mode", S(32), nullable=False, server_default="workflow"),
    sa.Column("create_ms", MS, nullable=False),
)

folders = sa.Table(
    "folders",
    metadata,
    sa.Column("folder_id", S(64), primary_key=True),
    sa.Column("project_id", S(32), nullable=False),
    sa.Column("path", S(1000), nullable=False),
    sa.Column("name", S(200), nullable=False),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("create_user_uin", S(32)),  # migration 0008; null for folders made before it
    sa.UniqueConstraint("project_id", "path", name="uq_folders_project_path"),
)

# Task folders (CreateTaskFolder): a tree per workflow. The path is unique within the workflow, because a
# task names its folder by path alone (TaskFolderPath); the type (TaskFolderType, enums.md §2.2) is the
# category the folder was made in and is the same for a whole subtree.
task_folders = sa.Table(
    "task_folders",
    metadata,
    sa.Column("task_folder_id", S(64), primary_key=True),
    sa.Column("project_id", S(32), nullable=False),
    sa.Column("workflow_id", S(64), nullable=False),
    sa.Column("folder_type", S(32), nullable=False),
    sa.Column("path", S(1000), nullable=False),
    sa.Column("name", S(200), nullable=False),
    sa.Column("create_user_uin", S(32)),
    sa.Column("create_ms", MS, nullable=False),
    sa.UniqueConstraint("workflow_id", "path", name="uq_task_folders_workflow_path"),
)

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("workflow_id", S(64), primary_key=True),
    sa.Column("project_id", S(32), nullable=False, index=True),
    sa.Column("name", S(200), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("folder_id", S(64), nullable=False),
    sa.Column("folder_path", S(1000), nullable=False),
    sa.Column("owner_uin", S(32)),
    sa.Column("create_user_uin", S(32)),
    sa.Column("execute_user_uin", S(32)),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("general_task_params", sa.JSON, nullable=False),
    sa.Column("trigger_configs", sa.JSON, nullable=False),
    sa.Column("run_config", sa.JSON, nullable=False),
    sa.Column("scheduler_status", S(16)),
    sa.Column("trigger_mode", S(32)),
    sa.Column("bundle_id", S(200)),
    sa.Column("bundle_info", sa.Text),
    sa.Column("version_id", S(64), nullable=False),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("update_ms", MS, nullable=False),
    sa.UniqueConstraint("project_id", "folder_id", "name", name="uq_workflows_name"),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("task_id", S(32), primary_key=True),
    sa.Column("project_id", S(32), nullable=False, index=True),
    sa.Column("workflow_id", S(64), nullable=False, index=True),
    sa.Column("name", S(200), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("task_type_id", sa.Integer, nullable=False),
    sa.Column("owner_uin", S(255)),  # `;`-joined owner UINs (migration 0009)
    sa.Column("create_user_uin", S(32)),
    sa.Column("update_user_uin", S(32)),
    sa.Column("folder_path", S(1000)),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("scheduler", sa.JSON, nullable=False),
    sa.Column("upstream", sa.JSON, nullable=False),
    sa.Column("status", S(16), nullable=False, server_default="N"),
    sa.Column("version_no", sa.Integer, nullable=False, server_default="1"),
    sa.Column("submit_version_no", sa.Integer, nullable=False, server_default="0"),
    sa.Column("submitted_version_id", S(80)),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("update_ms", MS, nullable=False),
    sa.UniqueConstraint("workflow_id", "name", name="uq_tasks_name"),
)

task_versions = sa.Table(
    "task_versions",
    metadata,
    sa.Column("version_id", S(80), primary_key=True),
    sa.Column("task_id", S(32), nullable=False, index=True),
    sa.Column("kind", S(8), nullable=False),  # SAVE | SUBMIT
    sa.Column("version_no", sa.Integer, nullable=False),
    sa.Column("snapshot", sa.JSON, nullable=False),
    sa.Column("remark", sa.Text),
    sa.Column("creator_uin", S(32)),
    sa.Column("create_ms", MS, nullable=False),
)

workflow_runs = sa.Table(
    "workflow_runs",
    metadata,
    sa.Column("execution_id", S(64), primary_key=True),
    sa.Column("project_id", S(32), nullable=False),
    sa.Column("workflow_id", S(64), nullable=False, index=True),
    sa.Column("workflow_name", S(200), nullable=False),
    sa.Column("folder_id", S(64)),
    sa.Column("folder_name", S(200)),
    sa.Column("state", S(16), nullable=False, index=True),
    sa.Column("error_code_str", sa.Text),
    sa.Column("trigger_type", S(32), nullable=False),
    sa.Column("trigger_id", S(64)),
    sa.Column("cycle_type", S(32)),
    sa.Column("params", sa.Text, nullable=False),  # WorkflowParams: JSON object string as on the wire
    sa.Column("selected_task_ids", sa.JSON, nullable=False),
    sa.Column("rerun_times", sa.Integer, nullable=False, server_default="0"),
    sa.Column("owner_uin", S(32)),
    sa.Column("execute_user_uin", S(32)),
    sa.Column("workflow_version_id", S(64)),
    sa.Column("resource_group_id", S(64)),
    sa.Column("parent_run_id", S(64)),
    sa.Column("parent_task_exec_id", S(64)),
    sa.Column("parent_task_name", S(200)),
    # The top-level run a nested run descends from (NULL for top-level runs): bounds nested fan-out (0012).
    sa.Column("root_run_id", S(64)),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("schedule_ms", MS, nullable=False),
    sa.Column("queue_start_ms", MS),
    sa.Column("pending_start_ms", MS),
    sa.Column("start_ms", MS),
    sa.Column("end_ms", MS),
    sa.Column("update_ms", MS, nullable=False),
    sa.Index("ix_workflow_runs_project_create", "project_id", "create_ms"),
    # ListTriggerWorkflowRuns: the WorkflowId filter and ORDER BY ScheduleTime (migration 0002)
    sa.Index("ix_workflow_runs_project_workflow_create", "project_id", "workflow_id", "create_ms"),
    sa.Index("ix_workflow_runs_project_schedule", "project_id", "schedule_ms"),
    sa.Index("ix_workflow_runs_project_end", "project_id", "end_ms"),  # OrderFields EndTime (migration 0010)
    sa.Index("ix_workflow_runs_root", "root_run_id"),  # nested fan-out count (migration 0012)
)

task_runs = sa.Table(
    "task_runs",
    metadata,
    sa.Column("execution_id", S(64), primary_key=True),
    sa.Column("run_id", S(64), nullable=False, index=True),
    sa.Column("project_id", S(32), nullable=False),
    sa.Column("workflow_id", S(64), nullable=False),
    sa.Column("task_id", S(32), nullable=False),
    sa.Column("task_name", S(200), nullable=False),
    sa.Column("task_type", S(32), nullable=False),
    sa.Column("task_type_id", sa.Integer, nullable=False),
    sa.Column("task_version_id", S(80)),
    sa.Column("state", S(16), nullable=False),
    sa.Column("error_code_str", sa.Text),
    sa.Column("depend_on", sa.JSON, nullable=False),
    sa.Column("policy", S(64), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),  # what to execute, frozen from the submitted version
    sa.Column("extensions", sa.Text, nullable=False),  # TaskTypeExtensions JSON string
    sa.Column("run_params", sa.Text, nullable=False),
    sa.Column("resource_group_id", S(64)),
    sa.Column("owner_uin", S(255)),  # `;`-joined owner UINs (migration 0009)
    sa.Column("execute_user_uin", S(32)),
    sa.Column("trigger_type", S(32)),
    sa.Column("cycle_type", S(32)),
    sa.Column("timezone", S(64)),
    sa.Column("folder_id", S(64)),
    sa.Column("folder_name", S(200)),
    sa.Column("workflow_name", S(200)),
    sa.Column("job_id", S(32)),
    sa.Column("retry_times", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rerun_times", sa.Integer, nullable=False, server_default="0"),
    sa.Column("is_latest", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("pid", sa.Integer),
    sa.Column("proc_start", S(80)),  # "<boot id>:<starttime>"
    sa.Column("log_path", sa.Text),
    # Where the attempt runs (migration 0014, docs/adr/0006-celery-workers.md): NULL = this server's local
    # executor; "celery" = a worker of its resource group, `worker_id` = the worker whose start the fence
    # accepted (NULL while the message waits in the broker).
    sa.Column("executor", S(16)),
    sa.Column("worker_id", S(128)),
    sa.Column("exit_code", sa.Integer),
    # A worker's finish report's output parameters (JSON object), durable with its exit code until the engine
    # applies it (migration 0016, store/runs.py record_remote_exit); NULL for local attempts.
    sa.Column("exit_outputs", sa.Text),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("schedule_ms", MS, nullable=False),
    sa.Column("deps_ms", MS),
    sa.Column("issue_ms", MS),
    sa.Column("start_ms", MS),
    sa.Column("end_ms", MS),
    sa.Column("update_ms", MS, nullable=False),
    sa.Index("ix_task_runs_project_create", "project_id", "create_ms"),
    sa.Index("ix_task_runs_state", "state"),
    # ListTriggerTaskRuns: one per filter (WorkflowId, TaskId, WorkflowExecutionId) and order (migration 0010)
    sa.Index("ix_task_runs_project_workflow_create", "project_id", "workflow_id", "create_ms"),
    sa.Index("ix_task_runs_project_task_create", "project_id", "task_id", "create_ms"),
    sa.Index("ix_task_runs_project_run_create", "project_id", "run_id", "create_ms"),
    sa.Index("ix_task_runs_project_schedule", "project_id", "schedule_ms"),
    sa.Index("ix_task_runs_project_end", "project_id", "end_ms"),
)

resource_groups = sa.Table(
    "resource_groups",
    metadata,
    sa.Column("group_id", S(32), primary_key=True),
    sa.Column("name", S(200), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("group_type", S(32), nullable=False),  # Schedule | Integration | DataService
    sa.Column("specification", S(64)),
    sa.Column("slots", sa.Integer, nullable=False),  # concurrent task runs it executes
    sa.Column("project_ids", sa.JSON, nullable=False),
    sa.Column("region", S(64)),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("create_ms", MS, nullable=False),
)

# Output parameters a task run produced (Q-P2), JSON object text; read by downstream ParamTaskInList.
task_run_outputs = sa.Table(
    "task_run_outputs",
    metadata,
    sa.Column("execution_id", S(64), primary_key=True),
    sa.Column("run_id", S(64), nullable=False, index=True),
    sa.Column("task_id", S(32), nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("create_ms", MS, nullable=False),
)

# Ops async jobs (RerunTriggerWorkflowRunAsync -> GetOpsAsyncJob).
ops_async_jobs = sa.Table(
    "ops_async_jobs",
    metadata,
    sa.Column("async_id", S(64), primary_key=True),
    sa.Column("project_id", S(32), nullable=False),
    sa.Column("async_type", S(64), nullable=False),
    sa.Column("status", S(32), nullable=False),
    sa.Column("error_desc", sa.Text),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("finished", sa.Integer, nullable=False),
    sa.Column("success", sa.Integer, nullable=False),
    sa.Column("create_user_uin", S(32)),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("update_ms", MS, nullable=False),
)

# One row per trigger fire, keyed by (trigger, nominal fire time): the exactly-once guarantee. A second
# scheduler, a restart or a slow tick that tries the same fire again hits the primary key and creates nothing.
trigger_fires = sa.Table(
    "trigger_fires",
    metadata,
    sa.Column("trigger_id", S(64), primary_key=True),
    sa.Column("fire_ms", MS, primary_key=True),
    sa.Column("workflow_id", S(64), nullable=False),
    sa.Column("run_id", S(64)),
    sa.Column("note", sa.Text),
    sa.Column("create_ms", MS, nullable=False),
)

# Files that already triggered a FILE_ARRIVAL run: a file counts once per (path, size, mtime) (Q-TR1).
trigger_files = sa.Table(
    "trigger_files",
    metadata,
    sa.Column("trigger_id", S(64), primary_key=True),
    sa.Column("path", sa.String(2000), primary_key=True),
    sa.Column("size", MS, primary_key=True),
    sa.Column("mtime_ns", MS, primary_key=True),
    sa.Column("fire_ms", MS, nullable=False),
)

# KillTriggerWorkflowRuns sent to a standby: only the active scheduler can stop processes, so the standby
# leaves the request here, the active scheduler claims it on its next tick and writes the answer back.
kill_requests = sa.Table(
    "kill_requests",
    metadata,
    sa.Column("request_id", S(64), primary_key=True),
    sa.Column("run_ids", sa.JSON, nullable=False),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("claimed_ms", MS),
    sa.Column("done_ms", MS),
    sa.Column("answer", sa.JSON),  # {"results": [[run_id, ok, message], ...]} or {"error": message}
)

# Data sources (CreateDataSource...): WeData's connection JSON per environment, stored as validated JSON text,
# secrets included in clear: the database is the trust boundary, as for api_keys (docs/security.md). `id` is the
# wire's integer Id; sqlite_autoincrement keeps a deleted id from being handed out again (a task may still name it).
data_sources = sa.Table(
    "data_sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project_id", S(32), nullable=False),
    sa.Column("name", S(200), nullable=False),
    sa.Column("display_name", S(200)),
    sa.Column("description", sa.Text),
    sa.Column("type", S(32), nullable=False),
    sa.Column("category", S(16), nullable=False, server_default="DB"),
    sa.Column("prod_properties", sa.Text, nullable=False),
    sa.Column("dev_properties", sa.Text),
    sa.Column("create_user", S(32)),
    sa.Column("modify_user", S(32)),
    sa.Column("create_ms", MS, nullable=False),
    sa.Column("update_ms", MS, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_data_sources_project_name"),
    sqlite_autoincrement=True,
)

# GetResourceGroupMetrics history: one row per resource group per minute, written by the active scheduler's
# sampler when the minute is over (never per task), pruned after RETENTION_MINUTES (domain/group_metrics.py).
# A column per task metric, holding that metric's reduction over the minute's samples (NULL: not measured).
group_metric_minutes = sa.Table(
    "group_metric_minutes",
    metadata,
    sa.Column("group_id", S(32), primary_key=True),
    sa.Column("minute_ms", MS, primary_key=True),  # start of the minute (epoch-aligned)
    sa.Column("max_concurrency", sa.Integer),
    sa.Column("running", sa.Integer),
    sa.Column("waiting", sa.Integer),
    sa.Column("usage_pct", sa.Integer),
    sa.Column("free_slots", sa.Integer),
    sa.Column("workers", sa.Integer),
    sa.Index("ix_group_metric_minutes_minute", "minute_ms"),  # the prune
)
