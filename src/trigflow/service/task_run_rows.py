"""One task-run record built from one task version: the code, interpreter, retries, timeouts, parameters
and edges a task run freezes (decisions.md Q-R2).

Both a new run (service/runs.py) and a rerun in place (service/reruns.py) build their records here, so a
rerun that starts a task from a newer version freezes exactly what a new run of that version would.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from trigflow.domain import ids
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.states import TaskState
from trigflow.service.resources import ResourceGroups
from trigflow.service.tasks import MERGE_TYPE, NESTED_TYPE, TASK_TYPES

RUN_TASK_TYPES = {
    MERGE_TYPE: "Dependent",
    NESTED_TYPE: "RunWorkflow",
}  # decisions.md Q-TR2: the spelling seen in real data


def task_run_row(
    run: Mapping[str, Any],
    task: Mapping[str, Any],
    version: Mapping[str, Any],
    params: Mapping[str, Any],
    now: int,
    timezone: str,
    data: Collection[str] = (),
    *,
    resources: ResourceGroups,
) -> dict[str, Any]:
    """The PENDING task-run record of `task` in `run`, frozen from `version` (a task_versions row).

    `run` supplies the run's columns (its `resource_group_id` is the override that wins over the task's
    group), `task` the task id and current owner, `params` the run's parameters, `data` which of them are
    data (docs/parameters.md).
    """
    snap = version["snapshot"]
    sched = snap["scheduler"]
    config = snap["config"]
    type_id = int(snap["task_type_id"])
    code = base64.b64decode("".join((config.get("CodeContent") or "").split())).decode("utf-8")
    run_params = {
        **params,
        **{p["ParamKey"]: p.get("ParamValue") for p in config.get("TaskSchedulingParameterList") or []},
    }
    ext = {p["ParamKey"]: p.get("ParamValue") for p in config.get("TaskExtConfigurationList") or []}
    extensions = {
        "calendar_id": "",
        "startupTime": "0",
        "calendar_open": "",
        "waitExecutionTotalTTL": str(sched.get("WaitExecutionTotalTTLMinute", -1)),
        "calendar_name": "",
        "executionTTLStrategy": "fail",
        "waitExecutionTotalTTLStrategy": "fail",
        "brokerIp": config.get("BrokerIp") or "any",
        "pre_dependence_config": json.dumps(
            {
                "configList": [
                    {
                        "taskId": u,
                        "value": "CT",
                        "pollingNullStrategy": "WAITING",
                        "mainCyclicConfig": "CRONTAB",
                    }
                    for u in snap["upstream"]
                ]
            }
            if snap["upstream"]
            else {},
            separators=(",", ":"),
        ),
        "runPriority": str(sched.get("RunPriorityType", 6)),
        "extraInfo": json.dumps({"fromMapping": False}, separators=(",", ":")),
        **{k: str(v) for k, v in ext.items()},
    }
    if type_id == 30:
        extensions.setdefault("python_type", "python3")
    if type_id == MERGE_TYPE:  # the seed's merge node shows only its own keys plus mergeCondition
        extensions = {k: v for k, v in extensions.items() if k not in ("brokerIp",)}
    if type_id == NESTED_TYPE:  # the seed's RunWorkflow node shows exactly {"workflowId": ...}
        extensions = {"workflowId": str(ext.get("workflowId", ""))}
    spec = {
        "kind": TASK_TYPES[type_id],
        "workflow_id": ext.get("workflowId"),
        "merge_condition": ext.get("mergeCondition"),
        "merge_relation": ext.get("mergeRelation") or "OR",
        "code": code,
        "interpreter": _interpreter(type_id, ext),
        # Frozen with the run, so a later edit of the task never changes how this run retries or times out.
        "priority": int(sched.get("RunPriorityType", 6)),
        "max_retry": max(0, int(sched.get("MaxRetryNumber", 0))),
        "retry_wait_minutes": max(0, int(sched.get("RetryWaitMinute", 0))),
        "exec_ttl_minutes": int(sched.get("ExecutionTTLMinute", -1)),
        "wait_ttl_minutes": int(sched.get("WaitExecutionTotalTTLMinute", -1)),
        "dry_run": int(sched.get("ScheduleType", 0)) == 1,
        "allow_redo": str(sched.get("AllowRedoType") or "ALL"),
        # Parameters (decisions.md Q-P1..Q-P3): substituted when the task starts, against the run's
        # baseline time, with upstream outputs resolved then.
        "outputs": [
            {"ParamKey": o["ParamKey"], "ParamValue": o.get("ParamValue") or ""}
            for o in sched.get("ParamTaskOutList") or []
            if o.get("ParamKey")
        ],
        "inputs": [dict(i) for i in sched.get("ParamTaskInList") or []],
        # Provenance (docs/parameters.md): which run parameters are data, never expanded or pasted as code.
        # A task's own scheduling parameter of the same name is trusted text and wins.
        **data_provenance(data, config.get("TaskSchedulingParameterList") or []),
    }
    return {
        "execution_id": ids.new_uuid(),
        "run_id": run["execution_id"],
        "project_id": run["project_id"],
        "workflow_id": run["workflow_id"],
        "task_id": task["task_id"],
        "task_name": snap["name"],
        # Runs show control nodes as TaskType Dependent / RunWorkflow with TaskTypeId 0 (seed, api-notes §15).
        "task_type": RUN_TASK_TYPES.get(type_id, TASK_TYPES[type_id]),
        "task_type_id": 0 if type_id in RUN_TASK_TYPES else type_id,
        "task_version_id": version["version_id"],
        "state": TaskState.PENDING.value,
        "error_code_str": None,
        "depend_on": list(snap["upstream"]),
        "policy": sched.get("DependencyTriggerPolicy", "ALL_SUCCESS"),
        "spec": spec,
        "extensions": json.dumps(extensions, ensure_ascii=False, separators=(",", ":")),
        "run_params": json.dumps(run_params, ensure_ascii=False, separators=(",", ":")),
        "resource_group_id": group_of(resources, run, snap["name"], config),
        # The owner is an ops attribute (UpdateOpsTriggerTasksOwner changes it without a version): current.
        "owner_uin": task.get("owner_uin") or snap.get("owner_uin") or run["owner_uin"],
        "execute_user_uin": run["execute_user_uin"],
        "trigger_type": run["trigger_type"],
        "cycle_type": run["cycle_type"],
        "timezone": timezone,
        "folder_id": run["folder_id"],
        "folder_name": run["folder_name"],
        "workflow_name": run["workflow_name"],
        "job_id": None,
        "retry_times": 0,
        "rerun_times": 0,
        "is_latest": True,
        "create_ms": now,
        "schedule_ms": run["schedule_ms"],
        "update_ms": now,
    }


def group_of(resources: ResourceGroups, run: Mapping[str, Any], task_name: str, config: Mapping[str, Any]) -> str:
    """The run's override, else the task's group, else the default group (semantics.md §1.5)."""
    group = run["resource_group_id"] or config.get("ResourceGroup") or resources.default_id
    if not resources.exists(group):
        raise InvalidParameterValue(f"resource group {group!r} of task {task_name!r} no longer exists")
    return str(group)


def data_provenance(run_data: Collection[str], task_params: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The spec keys that carry provenance to the attempt: `data_params` (this task run's data names) and
    `run_data_params` (the run's, inherited by nested runs and kept by reruns)."""
    own = {p["ParamKey"] for p in task_params if p.get("ParamValue") is not None}
    return {"data_params": sorted(set(run_data) - own), "run_data_params": sorted(run_data)}


def _interpreter(type_id: int, ext: Mapping[str, Any]) -> list[str]:
    if type_id == 30:
        wanted = str(ext.get("python_sub_version") or ext.get("python_type") or "python3")
        return shlex.split(wanted) if wanted.startswith(("python", "/")) else ["python3"]
    return ["bash"]
