"""One task-run record built from one task version: the code, interpreter, retries, timeouts, parameters
and edges a task run freezes (decisions.md Q-R2).

Both a new run (service/runs.py) and a rerun in place (service/reruns.py) build their records here, so a
rerun that starts a task from a newer version freezes exactly what a new run of that version would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from typing import Any

from trigflow.domain import ids
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.states import TaskState
from trigflow.service.resources import ResourceGroups
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes import spec as run_spec


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
    tt = TASK_TYPES[int(snap["task_type_id"])]
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
    extensions = tt.extensions(extensions, ext)
    spec = {
        **tt.freeze(code, ext, config),  # kind, code and what the type's runtime needs (tasktypes/)
        **run_spec.common(sched, config.get("TaskSchedulingParameterList") or [], data),
    }
    return {
        "execution_id": ids.new_uuid(),
        "run_id": run["execution_id"],
        "project_id": run["project_id"],
        "workflow_id": run["workflow_id"],
        "task_id": task["task_id"],
        "task_name": snap["name"],
        # Runs show control nodes as TaskType Dependent / RunWorkflow with TaskTypeId 0 (seed, api-notes §15).
        "task_type": tt.labels.run_code,
        "task_type_id": tt.labels.run_id,
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

