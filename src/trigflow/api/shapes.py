"""Store rows -> wire dicts, with the SDK's field names and the real service's formats.

`wire.render` later fills every undeclared field with null and type-checks the rest, so these
functions only state what we know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from trigflow.api import wire
from trigflow.domain.states import RUN_TERMINAL, TASK_TERMINAL, TaskState
from trigflow.domain.timefmt import CST, cost_seconds, ms_str, wall_time

Row = Mapping[str, Any]

# decisions.md Q-B1: label per task-run state, in display order.
BIZ_LABELS: dict[str, tuple[str, str]] = {
    "PENDING": ("等待资源", "Waiting for resources"),
    "RUNNING": ("运行中", "Running"),
    "SUCCESS": ("运行成功", "Succeeded"),
    "FAILED": ("运行失败", "Failed"),
    "UPSTREAM_FAILED": ("上游失败", "Upstream failed"),
    "SKIP": ("跳过运行", "Skipped"),
    "KILLED": ("已终止", "Killed"),
}


def page(items: list[Any], total: int, number: int, size: int) -> dict[str, Any]:
    return {
        "Items": items,
        "TotalCount": total,
        "PageNumber": number,
        "PageSize": size,
        "TotalPageNumber": (total + size - 1) // size if total else 0,
    }


def project(row: Row) -> dict[str, Any]:
    status = int(row["status"])
    return {
        "ProjectId": row["project_id"],
        "ProjectName": row["project_name"],
        "DisplayName": row["display_name"],
        "Description": row["description"],
        "CreateTime": datetime.fromtimestamp(row["create_ms"] / 1000, tz=CST).isoformat(timespec="seconds"),
        "CreatorUin": row["creator_uin"],
        "ProjectOwnerUin": row["owner_uin"],
        "Status": status,
        "DisplayStatus": "ENABLED" if status == 1 else "UNABLED",
        "ProjectModel": row["project_model"],
        "WorkspaceExt": [{"Key": "scheduleMode", "Value": row["schedule_mode"]}],
    }


def workflow_detail(row: Row) -> dict[str, Any]:
    return {
        "WorkflowName": row["name"],
        "OwnerUin": row["owner_uin"],
        "CreateUserUin": row["create_user_uin"],
        "WorkflowParams": [dict(p) for p in row["params"]],
        "TriggerWorkflowSchedulerConfigurations": [dict(t) for t in row["trigger_configs"]],
        "WorkflowDesc": row["description"],
        "Path": (row["folder_path"].rstrip("/") + "/" + row["name"]),
        "BundleId": row["bundle_id"],
        "BundleInfo": row["bundle_info"],
        "GeneralTaskParams": [dict(p) for p in row["general_task_params"]],
        "SchedulerStatus": row["scheduler_status"],
        "TriggerWorkflowRunConfiguration": dict(row["run_config"]),
        "TriggerMode": row["trigger_mode"],
        "ExecuteUserUin": row["execute_user_uin"],
    }


def workflow_info(row: Row) -> dict[str, Any]:
    return {
        "WorkflowId": row["workflow_id"],
        "WorkflowName": row["name"],
        "OwnerUin": row["owner_uin"],
        "CreateTime": wall_time(row["create_ms"]),
        "ModifyTime": wall_time(row["update_ms"]),
        "UpdateUserUin": row["create_user_uin"],
        "WorkflowDesc": row["description"],
        "CreateUserUin": row["create_user_uin"],
        "ExecuteUserUin": row["execute_user_uin"],
    }


def run_brief(run: Row, now_ms: int, app_id: str) -> dict[str, Any]:
    """TriggerWorkflowRunBrief; cost times are whole seconds, computed live while a phase lasts (Q-X4)."""
    state = run["state"]
    terminal = state in RUN_TERMINAL
    queue_end = run["pending_start_ms"]
    pending_end = run["start_ms"] or (run["end_ms"] if terminal else None)
    return {
        "AppId": app_id,
        "ProjectId": run["project_id"],
        "WorkflowName": run["workflow_name"],
        "WorkflowId": run["workflow_id"],
        "ExecutionId": run["execution_id"],
        "TriggerId": run["trigger_id"],
        "TriggerType": run["trigger_type"],
        "CreateTime": ms_str(run["create_ms"]),
        "ScheduleTime": ms_str(run["schedule_ms"]),
        "ExecutionStartTime": ms_str(run["start_ms"]),
        "ExecutionEndTime": ms_str(run["end_ms"]),
        "ExecutionCostTime": cost_seconds(run["start_ms"], run["end_ms"], now_ms),
        "QueueCostTime": cost_seconds(run["queue_start_ms"], queue_end, now_ms),
        "PendingCostTime": cost_seconds(run["pending_start_ms"], pending_end, now_ms),
        "ExecutionState": state,
        "ExecuteUserUin": run["execute_user_uin"],
        "ExecuteUserName": None,
        "ErrorCodeStr": run["error_code_str"],
        "WorkflowParams": run["params"],
        "WorkflowVersionId": run["workflow_version_id"],
        "SupportRerun": terminal and run["parent_run_id"] is None and run.get("workflow_exists", True),
        "RerunTimes": run["rerun_times"],
        "SelectedTaskIds": list(run["selected_task_ids"]),
        "PendingStartTime": ms_str(run["pending_start_ms"]),
        "QueueStartTime": ms_str(run["queue_start_ms"]),
        "EndTime": ms_str(run["end_ms"]),
        "FolderId": run["folder_id"],
        "FolderName": run["folder_name"],
        "PlannedSchedulingTime": None,
        "CycleType": run["cycle_type"],
        "UserNameInCharge": None,
        "UserUinInCharge": run["owner_uin"],
        "AssociatedEntityExist": run.get("workflow_exists", True),  # false once the workflow is deleted (Q10)
        "ParentWorkflowExecutionId": run["parent_run_id"],
        "ParentTaskExecutionId": run["parent_task_exec_id"],
        "ParentTaskExecutionName": run["parent_task_name"],
        "Privilege": "CAN_MANAGE",
    }


def _wait_ms(tr: Row) -> str | None:
    return str(tr["start_ms"] - tr["create_ms"]) if tr["start_ms"] is not None else None


def _execution_ms(tr: Row) -> str | None:
    start, end = tr["start_ms"], tr["end_ms"]
    return str(end - start) if start is not None and end is not None else None


# TriggerTaskRunBrief from a task_runs row. Inside GetTriggerWorkflowRun the run-level fields stay null, as
# the seed shows; GetTriggerTaskRun fills them (`task_run_detail`). Compiled once (wire.row_renderer):
# a 1,000-task run renders its task runs without building and re-checking an intermediate dict per row.
_TASK_RUN_BRIEF = wire.row_renderer(
    "TriggerTaskRunBrief",
    {
        "ExecutionId": "execution_id",
        "ExecutionState": "state",
        "TaskExecutionState": "state",
        "ProjectId": "project_id",
        "WorkflowId": "workflow_id",
        "WorkflowExecutionId": "run_id",
        "TaskId": "task_id",
        "TaskName": "task_name",
        "TaskType": "task_type",
        "TaskTypeId": "task_type_id",
        "TaskVersionId": "task_version_id",
        "TriggerType": "trigger_type",
        "WaitTime": _wait_ms,  # milliseconds, as observed on the real service (Q-X4)
        "ExecutionTime": _execution_ms,
        "ResourceGroupId": "resource_group_id",
        "ExecuteUserUin": "execute_user_uin",
        "JobId": "job_id",
        "CreateTime": wire.AsString("create_ms"),
        "UpdateTime": wire.AsString("update_ms"),
        "DependenceFinishedTime": wire.AsString("deps_ms"),
        "IssueTime": wire.AsString("issue_ms"),
        "ExecutionStartTime": wire.AsString("start_ms"),
        "ExecutionEndTime": wire.AsString("end_ms"),
        "Timezone": "timezone",
        "DependOnList": lambda tr: list(tr["depend_on"]) or None,
        "RunParams": "run_params",
        "TaskTypeExtensions": "extensions",
        "RetryTimes": "retry_times",
        "RerunTimes": "rerun_times",
        "IsLatestExecution": lambda tr: bool(tr["is_latest"]),
        "ErrorCodeStr": "error_code_str",
        "CycleType": "cycle_type",
        "UserUinInCharge": "owner_uin",
        "FolderId": "folder_id",
        "FolderName": "folder_name",
    },
)


def task_run_briefs(rows: Iterable[Row]) -> wire.Rendered:
    """The TriggerTaskRuns of GetTriggerWorkflowRun, rendered."""
    return wire.Rendered("TriggerTaskRunBrief", map(_TASK_RUN_BRIEF, rows))


def task_run_detail(tr: Row, run: Row | None) -> dict[str, Any]:
    """TriggerTaskRunBrief as GetTriggerTaskRun answers it: with the run-level fields filled."""
    state = tr["state"]
    out = _TASK_RUN_BRIEF(tr)
    out.update(
        {
            "TimeZone": tr["timezone"],
            "ScheduleTime": ms_str(tr["schedule_ms"]),
            "QueueStartTime": ms_str(tr["issue_ms"]),
            "PendingStartTime": ms_str(tr["deps_ms"]),
            "WorkflowName": tr["workflow_name"],
            "ResourceGroup": tr["resource_group_id"],
            "WorkflowParams": run["params"] if run else None,
            "WorkflowExecutionState": run["state"] if run else None,
            "SupportRerun": state in TASK_TERMINAL and bool(tr["is_latest"]),
            "DependencyTriggerPolicy": tr["policy"],
            "AssociatedEntityExist": run.get("workflow_exists", True) if run else True,
            "ScheduleRunType": "0",
            "Privilege": "CAN_MANAGE",
            "ExecutionResult": _result(state),
        }
    )
    return out


def _result(state: str) -> str | None:
    return {TaskState.SUCCESS.value: "success", TaskState.FAILED.value: "failed"}.get(state)


def list_task_run_brief(tr: Row) -> dict[str, Any]:
    wait, exec_time = _wait_ms(tr), _execution_ms(tr)
    return {
        "ExecutionId": tr["execution_id"],
        "WorkflowId": tr["workflow_id"],
        "WorkflowExecutionId": tr["run_id"],
        "TaskId": tr["task_id"],
        "TriggerType": tr["trigger_type"],
        "WaitTime": wait,
        "ExecuteUserUin": tr["execute_user_uin"],
        "ScheduleTime": ms_str(tr["schedule_ms"]),
        "ExecutionStartTime": ms_str(tr["start_ms"]),
        "ExecutionEndTime": ms_str(tr["end_ms"]),
        "ExecutionTime": exec_time,
        "RetryTimes": tr["retry_times"],
        "ErrorCodeStr": tr["error_code_str"],
        "TaskName": tr["task_name"],
        "WorkflowName": tr["workflow_name"],
        "RerunTimes": tr["rerun_times"],
        "TaskExecutionState": tr["state"],
        "IsLatestExecution": bool(tr["is_latest"]),
    }


def biz_states(task_runs: Sequence[Row], language: str) -> list[dict[str, Any]]:
    english = language.lower().startswith("en")
    counts: dict[str, int] = {}
    for tr in task_runs:
        counts[tr["state"]] = counts.get(tr["state"], 0) + 1
    return [
        {"LabelKey": state, "LabelValue": labels[1] if english else labels[0], "Count": counts[state]}
        for state, labels in BIZ_LABELS.items()
        if counts.get(state)
    ]




def resource_group(row: Row) -> dict[str, Any]:
    return {
        "Id": row["group_id"],
        "Name": row["name"],
        "Description": row["description"],
        "ResourceGroupType": row["group_type"],
        "AssociateProjects": [{"ProjectId": p} for p in row["project_ids"]],
        "Region": row["region"],
        "VpcId": None,
        "SubNet": None,
        "AutoRenewEnabled": False,
    }


def async_job(row: Row) -> dict[str, Any]:
    return {
        "ProjectId": row["project_id"],
        "AsyncId": row["async_id"],
        "AsyncType": row["async_type"],
        "Status": row["status"],
        "ErrorDesc": row["error_desc"],
        "TotalSubProcessCount": row["total"],
        "FinishedSubProcessCount": row["finished"],
        "SuccessSubProcessCount": row["success"],
        "CreateUserUin": row["create_user_uin"],
        "CreateTime": wall_time(row["create_ms"]),
        "UpdateTime": wall_time(row["update_ms"]),
    }
