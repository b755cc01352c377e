"""Reruns of finished workflow runs, in place (decisions.md Q-R2, Q-R4, Q-R6, Q-R7).

The run keeps its WorkflowExecutionId and goes back to QUEUED with RerunTimes + 1; every task that is
rerun gets a new task-run record (new ExecutionId, RerunTimes = the new count, RetryTimes 0, same
ScheduleTime) and its older records stop being the latest. Tasks outside the rerun, or refused, keep
their latest record, which counts as done for their dependants.

Which version a rerun executes (docs/api.md "Reruns"; Airflow 3 offers both):

* `latest` (the default): each re-executed task starts from its latest SUBMIT version, so
  UpdateTriggerTask + SubmitTriggerTask + rerun runs the fix. The new record is built from that version
  exactly as a new run builds it (service/task_run_rows.py): code, interpreter, retries, timeouts,
  parameters, AllowRedoType, and the task's upstream edges and DependencyTriggerPolicy. A task deleted
  since the run has no latest version: it is not re-executed, its record stays latest, and the async
  job counts it as refused (PART_SUCCESS, or FAIL when nothing is left) with ErrorDesc naming it.
* `original`: each re-executed task starts again from the version its record ran (deleted tasks too).

The SDK's request has no field for this, so it is the reserved AdvancedParams entry
`{"ParamKey": "trigflow.rerun.versions", "ParamValue": "latest" | "original"}`, read with ExecuteType
1 and 2 alike, never stored as a run parameter; another value is InvalidParameterValue naming it.

The run's task set is its instance graph, frozen when the run was created: a rerun adds no task added
to the workflow since. The edges among those tasks come from the version each re-executed task runs
(a merge node's condition and its edges must come from one version); edges to tasks outside the run
are dropped as in partial runs (Q-R3). So with `latest` the re-executed tasks wait on each other exactly
as in a new run of the workflow now; kept records are finished, so their own edges never hold anything.
AllowRedoType is read from the version that would run: a fix may also make a task rerunnable.

The API is asynchronous (it returns an AsyncId for GetOpsAsyncJob). The rerun itself is one short
transaction, so the job is recorded already finished: SUCCESS, PART_SUCCESS when some requested tasks
were refused, FAIL when all of them were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.errors import InvalidParameterValue, ResourceNotFound, UnsupportedOperation
from trigflow.domain.params import DEFAULT_MAX_PARAM_CHARS, legacy_data_names
from trigflow.domain.states import RUN_TERMINAL, RunState, TaskState
from trigflow.service.checks import enabled_project
from trigflow.service.common import Caller, Clock
from trigflow.service.resources import ResourceGroups
from trigflow.service.runs import run_time_params
from trigflow.service.task_run_rows import task_run_row
from trigflow.store import catalog as cq
from trigflow.store import runs as rq
from trigflow.store.engine import Database
from trigflow.tasktypes import spec as run_spec

Row = Mapping[str, Any]  # a store row, read-only

RERUN_JOB = "WORKFLOW_RERUN"  # api-notes Q2: only INSTANCE_KILL is attested; this names ours
RERUNNABLE_AFTER_FAILURE = {TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value, TaskState.KILLED.value}
VERSIONS_KEY = "trigflow.rerun.versions"  # the reserved AdvancedParams entry choosing the versions to run
LATEST, ORIGINAL = "latest", "original"
VERSION_CHOICES = (LATEST, ORIGINAL)


def redo_allowed(allow_redo: str, state: str) -> bool:
    """AllowRedoType: ALL reruns anything finished, FAILURE only what failed, NONE nothing."""
    if allow_redo == "NONE":
        return False
    if allow_redo == "FAILURE":
        return state in RERUNNABLE_AFTER_FAILURE
    return True


def versions_choice(advanced: Sequence[Mapping[str, Any]] | None) -> str:
    """The rerun's `trigflow.rerun.versions` entry of AdvancedParams (default `latest`), validated.

    Read with either ExecuteType (ExecuteType 1 otherwise ignores AdvancedParams); the entry is
    trigflow's own switch, so it is removed before AdvancedParams become run parameters.
    """
    chosen: tuple[int, str] | None = None
    for i, adv in enumerate(advanced or []):
        if adv.get("ParamKey") != VERSIONS_KEY:
            continue
        if chosen is not None:
            raise InvalidParameterValue(
                f"AdvancedParams.{i}.ParamKey: {VERSIONS_KEY} is given twice (also AdvancedParams.{chosen[0]})"
            )
        value = adv.get("ParamValue")
        if value not in VERSION_CHOICES:
            raise InvalidParameterValue(
                f"AdvancedParams.{i}.ParamValue of {VERSIONS_KEY} must be {LATEST!r} (run each task's latest"
                f" SUBMIT version) or {ORIGINAL!r} (run the versions the run ran), got {str(value)[:40]!r}"
            )
        chosen = (i, str(value))
    return chosen[1] if chosen else LATEST


def apply_run_params(
    advanced: Sequence[Mapping[str, Any]] | None, params: dict[str, Any], max_chars: int
) -> set[str]:
    """`run_time_params` for a rerun: the reserved entry never becomes (or overwrites) a run parameter.

    The whole list is checked in place, so messages keep the request's indexes (`AdvancedParams.<i>`).
    """
    had, kept = VERSIONS_KEY in params, params.get(VERSIONS_KEY)
    names = run_time_params(advanced, params, max_chars)
    names.discard(VERSIONS_KEY)
    if had:
        params[VERSIONS_KEY] = kept
    else:
        params.pop(VERSIONS_KEY, None)
    return names


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
        which = versions_choice(p.get("AdvancedParams"))
        group = p.get("SchedulingResourceGroup") or None
        if group and not self.resources.exists(group):
            raise InvalidParameterValue(f"SchedulingResourceGroup {group!r} does not exist")
        now = self.clock()
        # serial: ordered with definition edits (as run creation is), so a task's latest version is settled
        with self.db.write(serial=True) as conn:
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
            tasks = {t["task_id"]: t for t in cq.tasks_of_workflow(conn, run["workflow_id"])}
            sources = self._sources(conn, [latest[t] for t in wanted], tasks, which)
            chosen = [
                (latest[t], v)
                for t in wanted
                if (v := sources.get(t)) is not None
                and redo_allowed(str(v["snapshot"]["scheduler"].get("AllowRedoType") or "ALL"), latest[t]["state"])
            ]
            job = self._job(p["ProjectId"], caller, len(wanted), len(chosen), now)
            job["error_desc"] = _refusals(wanted, latest, sources, {r["task_id"] for r, _ in chosen})
            if not chosen:
                job["status"] = "FAIL"
                rq.insert_job(conn, job)
                return job["async_id"], None
            if len(chosen) < len(wanted):
                job["status"] = "PART_SUCCESS"
            params = json.loads(run["params"])
            # Data names (docs/parameters.md): the run's own, plus this rerun's AdvancedParams.
            # The union over every latest task run: an earlier partial rerun's AdvancedParams are data in the
            # records it made, and must stay data in the records this rerun makes (not trusted text).
            data = set().union(*(run_spec.run_data_params(r["spec"]) for r in latest.values()))
            data |= legacy_data_names(params)
            if execute_type == "2":
                data |= apply_run_params(p.get("AdvancedParams"), params, self.max_param_chars)
            rerun_times = int(run["rerun_times"]) + 1
            scope = {**run, "resource_group_id": group or run["resource_group_id"]}
            rows = [
                self._record(scope, r, v, tasks.get(r["task_id"]), params, rerun_times, now, data) for r, v in chosen
            ]
            rq.supersede(conn, [r["execution_id"] for r, _ in chosen])
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
                    "resource_group_id": scope["resource_group_id"],
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

    def _sources(
        self, conn: sa.Connection, records: Sequence[Row], tasks: Mapping[str, Row], which: str
    ) -> dict[str, Row]:
        """The version each requested task would start from; a task without one (deleted since, with
        `latest`; or, never expected, a missing version row) is absent."""
        if which == ORIGINAL:
            wanted = {r["task_id"]: r["task_version_id"] for r in records}
        else:
            wanted = {
                r["task_id"]: tasks[r["task_id"]]["submitted_version_id"]
                for r in records
                if r["task_id"] in tasks and tasks[r["task_id"]]["submitted_version_id"] is not None
            }
        versions = cq.get_versions(conn, [v for v in wanted.values() if v])
        return {t: versions[v] for t, v in wanted.items() if v in versions}

    def _record(
        self,
        run: Row,
        old: Row,
        version: Row,
        task: Row | None,
        params: Mapping[str, Any],
        rerun_times: int,
        now: int,
        data: set[str],
    ) -> dict[str, Any]:
        """The new record of `old`'s task, frozen from `version` as a new run freezes it (task_run_rows.py)."""
        # A deleted task (rerun with `original`) has no row: its id, and the owner its record showed.
        task = task or {"task_id": old["task_id"], "owner_uin": old["owner_uin"]}
        row = task_run_row(run, task, version, params, now, old["timezone"], data, resources=self.resources)
        return {**row, "rerun_times": rerun_times}

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


def _refusals(
    wanted: Sequence[str], latest: Mapping[str, Row], sources: Mapping[str, Row], chosen: set[str]
) -> str | None:
    """ErrorDesc of a rerun job: which requested tasks were not re-executed, and why."""
    gone = [t for t in wanted if t not in sources]
    redo = [t for t in wanted if t in sources and t not in chosen]
    parts = []
    if redo:
        parts.append(f"AllowRedoType refused {len(redo)} of {len(wanted)} tasks: {_named(redo, latest)}")
    if gone:
        parts.append(
            f"{len(gone)} of {len(wanted)} tasks have no submitted version any more (deleted since the run), their"
            f" records are kept: {_named(gone, latest)}; AdvancedParams {VERSIONS_KEY}={ORIGINAL} reruns them"
            " from the versions the run ran"
        )
    return "; ".join(parts) or None


def _named(task_ids: Sequence[str], latest: Mapping[str, Row], shown: int = 20) -> str:
    more = f" and {len(task_ids) - shown} more" if len(task_ids) > shown else ""
    return ", ".join(f"{t} ({latest[t]['task_name']})" for t in task_ids[:shown]) + more
