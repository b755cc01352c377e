"""Reruns of finished workflow runs, in place (decisions.md Q-R2, Q-R4, Q-R6, Q-R7).

The run keeps its WorkflowExecutionId and goes back to QUEUED with RerunTimes + 1; every task that is
rerun gets a new task-run record (new ExecutionId, RerunTimes = the new count, RetryTimes 0, same
ScheduleTime) and its older records stop being the latest. Tasks outside the rerun, or refused by
their AllowRedoType, keep their latest record, which counts as done for their dependants.

The API is asynchronous (it returns an AsyncId for GetOpsAsyncJob). The rerun itself is one short
transaction, so the job is recorded already finished: SUCCESS, PART_SUCCESS when AllowRedoType refused
some requested tasks, FAIL when it refused all of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trigflow.domain import ids
from trigflow.domain.errors import InvalidParameterValue, ResourceNotFound, UnsupportedOperation
from trigflow.domain.params import DEFAULT_MAX_PARAM_CHARS, legacy_data_names
from trigflow.domain.states import RUN_TERMINAL, RunState, TaskState
from trigflow.service.checks import enabled_project
from trigflow.service.common import Caller, Clock
from trigflow.service.resources import ResourceGroups
from trigflow.service.runs import run_time_params
from trigflow.service.task_run_rows import data_provenance
from trigflow.store import catalog as cq
from trigflow.store import runs as rq
from trigflow.store.engine import Database

RERUN_JOB = "WORKFLOW_RERUN"  # api-notes Q2: only INSTANCE_KILL is attested; this names ours
RERUNNABLE_AFTER_FAILURE = {TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value, TaskState.KILLED.value}


def redo_allowed(allow_redo: str, state: str) -> bool:
    """AllowRedoType: ALL reruns anything finished, FAILURE only what failed, NONE nothing."""
    if allow_redo == "NONE":
        return False
    if allow_redo == "FAILURE":
        return state in RERUNNABLE_AFTER_FAILURE
    return True


class Reruns:
    def __init__(
        self, db: Database, clock: Clock, resources: ResourceGroups, *, max_param_chars: int = DEFAULT_MAX_PARAM_CHARS
    ) -> None:
        self.db = db
        self.clock = clock
        self.resources = resources
        self.max_param_chars = max_param_chars

    def rerun(self, caller: Caller, p: Mapping[str, Any]) -> tuple[str, str | None]:
        """Start a rerun; returns the async job id and the run id to hand to the scheduler (None if nothing)."""
        execute_type = p["ExecuteType"]
        if execute_type not in ("1", "2"):
            raise InvalidParameterValue(f"ExecuteType must be '1' (normal) or '2' (advanced), got {execute_type!r}")
        group = p.get("SchedulingResourceGroup") or None
        if group and not self.resources.exists(group):
            raise InvalidParameterValue(f"SchedulingResourceGroup {group!r} does not exist")
        now = self.clock()
        with self.db.write() as conn:
            run = rq.get_run(conn, p["WorkflowExecutionId"], p["ProjectId"])
            if run is None or run["workflow_id"] != p["WorkflowId"]:
                raise ResourceNotFound(
                    f"workflow run {p['WorkflowExecutionId']} does not exist in workflow {p['WorkflowId']}"
                )
            if run["state"] not in RUN_TERMINAL:
                raise UnsupportedOperation(
                    f"workflow run {run['execution_id']} is {run['state']}; only a finished run can be rerun"
                )
            if run["parent_run_id"] is not None:
                raise UnsupportedOperation("a nested run is rerun through its parent run")
            enabled_project(conn, run["project_id"])
            if cq.get_workflow(conn, run["project_id"], run["workflow_id"]) is None:
                raise UnsupportedOperation("the workflow of this run no longer exists")
            latest = {r["task_id"]: r for r in rq.task_runs_of(conn, run["execution_id"])}
            wanted = list(latest) if execute_type == "1" else list(p.get("TaskIds") or latest)
            outside = [t for t in wanted if t not in latest]
            if outside:
                raise InvalidParameterValue(
                    f"TaskIds: tasks {outside} are not part of workflow run {run['execution_id']}"
                )
            chosen = [
                latest[t]
                for t in wanted
                if redo_allowed(latest[t]["spec"].get("allow_redo", "ALL"), latest[t]["state"])
            ]
            refused = len(wanted) - len(chosen)
            job = self._job(p["ProjectId"], caller, len(wanted), len(chosen), now)
            if not chosen:
                job["status"], job["error_desc"] = "FAIL", "AllowRedoType refuses a rerun of every requested task"
                rq.insert_job(conn, job)
                return job["async_id"], None
            if refused:
                job["status"] = "PART_SUCCESS"
                job["error_desc"] = f"AllowRedoType refused {refused} of {len(wanted)} tasks"
            params = json.loads(run["params"])
            # Data names (docs/parameters.md): the run's own, plus this rerun's AdvancedParams.
            data = set(next(iter(latest.values()))["spec"].get("run_data_params") or legacy_data_names(params))
            if execute_type == "2":
                data |= run_time_params(p.get("AdvancedParams"), params, self.max_param_chars)
            rerun_times = int(run["rerun_times"]) + 1
            versions = cq.get_versions(conn, [r["task_version_id"] for r in chosen])
            rows = [
                self._record(r, versions.get(r["task_version_id"]), params, rerun_times, group, now, data)
                for r in chosen
            ]
            rq.supersede(conn, [r["execution_id"] for r in chosen])
            rq.insert_run_tasks(conn, rows)
            rq.update_run(
                conn,
                run["execution_id"],
                {
                    "state": RunState.QUEUED.value,
                    "rerun_times": rerun_times,
                    "params": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
                    "queue_start_ms": now,
                    "pending_start_ms": None,
                    "start_ms": None,
                    "end_ms": None,
                    "error_code_str": None,
                    "resource_group_id": group or run["resource_group_id"],
                    "update_ms": now,
                },
            )
            rq.insert_job(conn, job)
        return job["async_id"], run["execution_id"]

    def job(self, project_id: str, async_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = rq.get_job(conn, project_id, async_id)
        if row is None:
            raise ResourceNotFound(f"async job {async_id} does not exist in project {project_id}")
        return row

    def _record(
        self,
        old: Mapping[str, Any],
        version: Mapping[str, Any] | None,
        params: Mapping[str, Any],
        rerun_times: int,
        group: str | None,
        now: int,
        data: set[str],
    ) -> dict[str, Any]:
        config = (version or {}).get("snapshot", {}).get("config", {})
        task_params = {q["ParamKey"]: q.get("ParamValue") for q in config.get("TaskSchedulingParameterList") or []}
        provenance = data_provenance(data, config.get("TaskSchedulingParameterList") or [])
        fresh = {
            "execution_id": ids.new_uuid(),
            "spec": {**old["spec"], **provenance},
            "state": TaskState.PENDING.value,
            "error_code_str": None,
            "run_params": json.dumps({**params, **task_params}, ensure_ascii=False, separators=(",", ":")),
            "resource_group_id": group or old["resource_group_id"],
            "job_id": None,
            "retry_times": 0,
            "rerun_times": rerun_times,
            "is_latest": True,
            "pid": None,
            "proc_start": None,
            "log_path": None,
            "exit_code": None,
            "deps_ms": None,
            "issue_ms": None,
            "start_ms": None,
            "end_ms": None,
            "create_ms": now,
            "update_ms": now,
        }
        return {**old, **fresh}

    def _job(self, project_id: str, caller: Caller, total: int, success: int, now: int) -> dict[str, Any]:
        return {
            "async_id": ids.new_uuid(),
            "project_id": project_id,
            "async_type": RERUN_JOB,
            "status": "SUCCESS",
            "error_desc": None,
            "total": total,
            "finished": total,
            "success": success,
            "create_user_uin": caller.uin,
            "create_ms": now,
            "update_ms": now,
        }
