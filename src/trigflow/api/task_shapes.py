"""Task definition rows -> wire dicts (TriggerTask, TriggerTaskBaseAttribute, versions, dependency items).

Kept apart from api/shapes.py so task and workflow shapes can change independently. As there,
`wire.render` fills every field not stated here with null and type-checks the rest, so these functions
state only what the server knows: TaskTypeId is an integer on every output (api-notes §1.18), design
times are `yyyy-MM-dd HH:mm:ss` in UTC+8, and stored configuration is copied field by field (never
wholesale) so nothing the SDK model lacks can leak into a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trigflow.api.shapes import page
from trigflow.domain.timefmt import wall_time
from trigflow.tasktypes import TASK_TYPES

Row = Mapping[str, Any]

CONFIG_FIELDS = (
    "CodeContent",
    "TaskExtConfigurationList",
    "DataCluster",
    "BrokerIp",
    "YarnQueue",
    "SourceServiceId",
    "SourceServiceType",
    "SourceServiceName",
    "TargetServiceId",
    "TargetServiceType",
    "TargetServiceName",
    "ResourceGroup",
    "TaskSchedulingParameterList",
    "BundleId",
    "BundleInfo",
)
SCHEDULER_FIELDS = (
    "RunPriorityType",
    "RetryWaitMinute",
    "MaxRetryNumber",
    "ExecutionTTLMinute",
    "WaitExecutionTotalTTLMinute",
    "AllowRedoType",
    "ParamTaskOutList",
    "ParamTaskInList",
    "TaskOutputRegistryList",
    "DependencyTriggerPolicy",
    "AllowDownstreamDependency",
    "ScheduleType",
)


def version_num(no: int | None) -> str:
    """`V<n>`; the empty string before the first version of a kind exists (as WeData shows it)."""
    return f"V{no}" if no else ""


def base_attribute(task: Row) -> dict[str, Any]:
    """TriggerTaskBaseAttribute of a task view (store/tasks.py: with workflow name and submit flag)."""
    return {
        "TaskId": task["task_id"],
        "TaskTypeId": int(task["task_type_id"]),
        "WorkflowId": task["workflow_id"],
        "TaskName": task["name"],
        "TaskLatestVersionNo": version_num(task["version_no"]),
        "TaskLatestSubmitVersionNo": version_num(task["submit_version_no"]),
        "WorkflowName": task["workflow_name"],
        "Status": task["status"],
        "Submit": bool(task["submit"]),
        "CreateTime": wall_time(task["create_ms"]),
        "LastUpdateTime": wall_time(task["update_ms"]),
        "OwnerUin": task["owner_uin"],
        "TaskDescription": task["description"],
        "UpdateUserUin": task["update_user_uin"],
        "CreateUserUin": task["create_user_uin"],
        "TaskFolderPath": task["folder_path"] or "/",
    }


def configuration(config: Row, group_name: str | None) -> dict[str, Any]:
    out = {k: config[k] for k in CONFIG_FIELDS if config.get(k) is not None}
    out["ResourceGroupName"] = group_name
    return out


def scheduler(sched: Row, upstream: list[str]) -> dict[str, Any]:
    """The scheduling configuration; UpstreamDependencyConfigList shows every DAG edge (merge conditions too)."""
    out = {k: sched[k] for k in SCHEDULER_FIELDS if sched.get(k) is not None}
    out["UpstreamDependencyConfigList"] = [{"TaskId": u} for u in upstream]
    return out


def trigger_task(task: Row, group_name: str | None) -> dict[str, Any]:
    """TriggerTask: the saved (development) state."""
    return {
        "TriggerTaskBaseAttribute": base_attribute(task),
        "TriggerTaskConfiguration": configuration(task["config"], group_name),
        "TriggerTaskSchedulerConfiguration": scheduler(task["scheduler"], list(task["upstream"])),
    }


def task_code(task: Row) -> dict[str, Any]:
    """TaskCodeResult; CodeFileSize is the length of the base64 text (api-notes §1.21)."""
    code = task["config"].get("CodeContent") or ""
    return {"CodeInfo": code, "CodeFileSize": str(len(code))}


def _version_header(version: Row) -> dict[str, Any]:
    """The fields TriggerTaskVersion and TriggerTaskVersionDetail share."""
    return {
        "CreateTime": wall_time(version["create_ms"]),
        "VersionNum": version_num(version["version_no"]),
        "CreateUserUin": version["creator_uin"],
        "VersionId": version["version_id"],
        "VersionRemark": version["remark"],
    }


def version_item(version: Row, used_version_id: str | None) -> dict[str, Any]:
    """TriggerTaskVersion; UsedVersion only for submitted versions (the one runs use now)."""
    submitted = version["kind"] == "SUBMIT"
    return {**_version_header(version), "UsedVersion": version["version_id"] == used_version_id if submitted else None}


def versions_page(items: list[dict[str, Any]], total: int, number: int, size: int) -> dict[str, Any]:
    """ListTriggerTaskVersions: the usual page plus PageCount, the items on this page (api-notes §1.29)."""
    return {**page(items, total, number, size), "PageCount": len(items)}


def version_detail(task: Row, version: Row, group_name: str | None) -> dict[str, Any]:
    """TriggerTaskVersionDetail: the task as frozen in `version` (identity fields from the task itself)."""
    snap = version["snapshot"]
    base = {
        "TaskId": task["task_id"],
        "TaskTypeId": int(snap["task_type_id"]),
        "WorkflowId": task["workflow_id"],
        "TaskName": snap["name"],
        "WorkflowName": task["workflow_name"],
        "CreateTime": wall_time(task["create_ms"]),
        "OwnerUin": snap["owner_uin"],
        "TaskDescription": snap["description"],
        "CreateUserUin": task["create_user_uin"],
        "TaskFolderPath": snap["folder_path"] or "/",
    }
    return {
        **_version_header(version),
        "Task": {
            "TriggerTaskBaseAttribute": base,
            "TriggerTaskConfiguration": configuration(snap["config"], group_name),
            "TriggerTaskSchedulerConfiguration": scheduler(snap["scheduler"], list(snap["upstream"])),
        },
    }


def depend_item(task: Row) -> dict[str, Any]:
    """TriggerTaskDependDto (ListUpstreamTriggerTasks / ListDownstreamTriggerTasks)."""
    type_id = int(task["task_type_id"])
    return {
        "TaskId": task["task_id"],
        "TaskName": task["name"],
        "WorkflowId": task["workflow_id"],
        "WorkflowName": task["workflow_name"],
        "ProjectId": task["project_id"],
        "Status": task["status"],
        "TaskTypeId": type_id,
        "TaskTypeDesc": TASK_TYPES.desc_of(type_id),
        "OwnerUin": task["owner_uin"],
    }
