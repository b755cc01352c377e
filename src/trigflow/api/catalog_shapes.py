"""Wire shapes of folders, project members and the ops view of workflows (see shapes.py for the rest).

As in shapes.py, these state only what we know; `wire.render` fills every other SDK field with null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from trigflow.domain.timefmt import CST, ms_str
from trigflow.service.projects import Member
from trigflow.service.workflow_ops import Dag

Row = Mapping[str, Any]

# One account per installation: every key holder manages every project (docs/api.md, "Identity").
MANAGER_ROLE = {
    "RoleId": "ProjectManager",
    "RoleName": "ProjectManager",
    "RoleDisplayName": ("项目管理员", "Project manager"),
    "Description": "every API key of this trigflow server manages every project",
}


def workflow_folder(row: Row) -> dict[str, Any]:
    return {
        "ProjectId": row["project_id"],
        "FolderId": row["folder_id"],
        "FolderPath": row["path"],
        "CreateUserUin": row["create_user_uin"],
    }


def task_folder(row: Row) -> dict[str, Any]:
    return {
        "ProjectId": row["project_id"],
        "TaskFolderId": row["task_folder_id"],
        "TaskFolderPath": row["path"],
        "CreateUserUin": row["create_user_uin"],
    }


def project_member(m: Member, project: Row, *, app_id: str, root: str | None, language: str) -> dict[str, Any]:
    labels = MANAGER_ROLE["RoleDisplayName"]
    role = {**MANAGER_ROLE, "RoleDisplayName": labels[1] if language.lower().startswith("en") else labels[0]}
    return {
        "AppId": app_id,
        "RootAccountId": root,
        "UserUin": m.uin,
        "UserName": m.name,
        "DisplayName": m.name,
        "Roles": [role],
        "IsCreator": m.uin == project["creator_uin"],
        "CreateTime": datetime.fromtimestamp(m.created_ms / 1000, tz=CST).isoformat(timespec="seconds"),
        "IsProjectOwner": m.uin == project["owner_uin"],
    }


def dag(d: Dag) -> dict[str, Any]:
    """TriggerTaskDAGBrief; with a run, nodes carry that run's latest task-run state and start time (Q13)."""
    wf, run = d.workflow, d.run
    folder_name = wf["folder_path"].rsplit("/", 1)[-1] or "/"
    triggers = wf["trigger_configs"]
    nodes = []
    for n in d.nodes:
        tr = d.task_runs.get(n["task_id"])
        nodes.append(
            {
                "ProjectId": wf["project_id"],
                "ProjectName": d.project["project_name"],
                "WorkflowId": wf["workflow_id"],
                "WorkflowName": wf["name"],
                "TaskId": n["task_id"],
                "TaskName": n["name"],
                "TaskType": n["task_type"],
                "UserUinInCharge": n["owner_uin"],
                "FolderId": wf["folder_id"],
                "FolderName": folder_name,
                "TaskTypeId": n["task_type_id"],
                "ExecutionState": tr["state"] if tr else None,
                "ExecutionStartTime": ms_str(tr["start_ms"]) if tr else None,
                "DependencyTriggerPolicy": n["policy"],
                "ExecuteUserUin": run["execute_user_uin"] if run else wf["execute_user_uin"],
                "CycleType": run["cycle_type"] if run else (triggers[0].get("CycleType") if triggers else None),
            }
        )
    links = [
        {
            "LinkId": link["link_id"],
            "WorkflowId": wf["workflow_id"],
            "WorkflowVersionId": run["workflow_version_id"] if run else None,
            "UpstreamTaskId": link["upstream"],
            "DownstreamTaskId": link["downstream"],
        }
        for link in d.links
    ]
    return {"TriggerTasks": nodes, "TriggerTaskLinks": links}


def ops_workflow(row: Row) -> dict[str, Any]:
    """TriggerWorkflowBrief of ListOpsTriggerWorkflows."""
    return {
        "ProjectId": row["project_id"],
        "WorkflowId": row["workflow_id"],
        "WorkflowName": row["name"],
        "TaskCount": int(row["task_count"]),
        "FolderId": row["folder_id"],
        "FolderName": row["folder_path"].rsplit("/", 1)[-1] or "/",
        "WorkflowTriggerConfig": row["ops_trigger"],
        "UserUinInCharge": row["owner_uin"],
        "WorkflowParams": row["params_json"],
        "ExecuteUserUin": row["execute_user_uin"],
    }
