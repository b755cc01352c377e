"""Workflow runs: creating them from submitted task versions (reading them: service/run_reads.py).

Creating a run writes the run and *all* its task runs in one transaction (as WeData does: every task
run exists, PENDING, from the start), so a crash right after the API answered loses nothing: the
scheduler adopts any non-terminal run it finds.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.dag import find_cycle
from trigflow.domain.errors import FailedOperation, InvalidParameterValue, ResourceNotFound
from trigflow.domain.params import DEFAULT_MAX_PARAM_CHARS
from trigflow.domain.schedule import TriggerSpec, iana_name
from trigflow.domain.states import RunState
from trigflow.service.checks import enabled_project
from trigflow.service.common import Caller, Clock
from trigflow.service.resources import ResourceGroups
from trigflow.service.run_reads import MANUAL, RunReads
from trigflow.service.task_run_rows import task_run_row
from trigflow.store import catalog as cq
from trigflow.store import runs as rq
from trigflow.store.engine import Database
from trigflow.store.tables import workflow_runs
from trigflow.tasktypes import spec as run_spec

DEFAULT_MAX_NESTED_RUNS = 1000  # nested runs per top-level run (create_child_run)

Row = Mapping[str, Any]  # a store row, read-only
SCHEDULER = "Scheduler"
EVENT = "Event"


class Runs(RunReads):
    """Workflow runs: creating them (manual, scheduled, event, nested), plus the read side (RunReads)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        stamps: ids.StampAllocator,
        resources: ResourceGroups,
        *,
        app_id: str,
        timezone: str,
        max_param_chars: int = DEFAULT_MAX_PARAM_CHARS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.stamps = stamps
        self.resources = resources
        self.app_id = app_id
        self.timezone = timezone
        self.max_param_chars = max_param_chars

    # --- create -----------------------------------------------------------------------------

    def create_manual_run(self, caller: Caller, p: Mapping[str, Any]) -> str:
        now = self.clock()
        override = p.get("SchedulingResourceGroupId") or None
        if override and not self.resources.exists(override):
            raise InvalidParameterValue(f"SchedulingResourceGroupId {override!r} does not exist")
        # serial: ordered with definition edits, so a run never starts from a workflow being deleted
        with self.db.write(serial=True) as conn:
            enabled_project(conn, p["ProjectId"])
            wf = cq.get_workflow(conn, p["ProjectId"], p["WorkflowId"])
            if wf is None:
                raise ResourceNotFound(f"workflow {p['WorkflowId']} does not exist in project {p['ProjectId']}")
            tasks = self._selected_tasks(conn, wf, p.get("TaskIds"))
            params = {i["ParamKey"]: i.get("ParamValue") for i in wf["params"]}
            data = run_time_params(p.get("AdvancedParams"), params, self.max_param_chars)
            run_id = self._insert_run(
                conn, wf, tasks, params, trigger_type=MANUAL, execute_uin=wf["execute_user_uin"] or caller.uin,
                group=override, schedule_ms=now, now=now, data=data,
            )  # fmt: skip
        return run_id

    def create_scheduled_run(
        self, conn: sa.Connection, wf: Mapping[str, Any], spec: TriggerSpec, fire_ms: int, now: int
    ) -> str:
        """A run fired by a time trigger: TriggerType Scheduler, ScheduleTime = the nominal fire time,
        parameters evaluated against that time in the trigger's zone (Q-P1), like any run otherwise."""
        enabled_project(conn, wf["project_id"])  # a fire racing DisableProject creates no run
        tasks = self._selected_tasks(conn, wf, None)
        params = {i["ParamKey"]: i.get("ParamValue") for i in wf["params"]}
        return self._insert_run(
            conn,
            wf,
            tasks,
            params,
            trigger_type=SCHEDULER,
            execute_uin=wf["execute_user_uin"],
            group=None,
            schedule_ms=fire_ms,
            now=now,
            timezone=iana_name(spec.time_zone),
            extra={"trigger_id": spec.trigger_id, "cycle_type": spec.cycle_type},
            data=(),
        )

    def create_event_run(
        self, conn: sa.Connection, wf: Mapping[str, Any], trigger_id: str, paths: Sequence[str], now: int
    ) -> str:
        """A run fired by a FILE_ARRIVAL trigger: TriggerType Event (Q-TR2), the batch's paths in the
        parameter `file_arrival_paths` (a JSON list), baseline = the fire time (Q-P1)."""
        enabled_project(conn, wf["project_id"])
        tasks = self._selected_tasks(conn, wf, None)
        params = {i["ParamKey"]: i.get("ParamValue") for i in wf["params"]}
        params["file_arrival_paths"] = json.dumps(list(paths), ensure_ascii=False)
        return self._insert_run(
            conn,
            wf,
            tasks,
            params,
            trigger_type=EVENT,
            execute_uin=wf["execute_user_uin"],
            group=None,
            schedule_ms=now,
            now=now,
            extra={"trigger_id": trigger_id},
            data={"file_arrival_paths"},  # file names are chosen by whoever can write into the folder
        )

    def create_child_run(
        self,
        conn: sa.Connection,
        parent: Mapping[str, Any],
        node: Mapping[str, Any],
        now: int,
        iteration: Mapping[str, str] | None = None,
    ) -> str:
        """A nested run started by a RunWorkflow node, inside the scheduler's transaction (Q-N1..Q-N3).

        It inherits the parent's trigger, baseline time (Q-P1) and run parameters (over the child
        workflow's own), and the parent's resource-group override. A For-each iteration adds `iteration`
        (`dag.foreach.current`, ...) over them: values from outside the definition, so data.
        """
        child_id = run_spec.child_workflow_id(node["spec"])
        root = parent.get("root_run_id") or parent["execution_id"]
        self._check_nested_quota(conn, root)
        wf = cq.get_workflow(conn, parent["project_id"], child_id) if child_id is not None else None
        if wf is None:
            raise ResourceNotFound(f"nested workflow {child_id} no longer exists")
        tasks = self._selected_tasks(conn, wf, None)
        params = {i["ParamKey"]: i.get("ParamValue") for i in wf["params"]} | json.loads(parent["params"])
        extra = {
            "trigger_id": parent["trigger_id"],
            "cycle_type": parent["cycle_type"],
            "parent_run_id": parent["execution_id"],
            "parent_task_exec_id": node["execution_id"],
            "parent_task_name": node["task_name"],
            "root_run_id": root,
        }
        data: list[str] | None = None  # inherited from the parent
        if iteration:
            params |= iteration
            data = sorted({*self._inherited_data(conn, extra), *iteration})
        return self._insert_run(
            conn,
            wf,
            tasks,
            params,
            trigger_type=parent["trigger_type"],
            execute_uin=parent["execute_user_uin"],
            group=parent["resource_group_id"],
            schedule_ms=parent["schedule_ms"],
            now=now,
            timezone=node.get("timezone"),  # the parent's zone: its baseline is read in the same clock (Q-P1)
            extra=extra,
            data=data,
        )

    # Runs one top-level run may create through nested RunWorkflow nodes, itself excluded (docs/limits.md).
    max_nested_runs: int = DEFAULT_MAX_NESTED_RUNS

    def _check_nested_quota(self, conn: sa.Connection, root_run_id: str) -> None:
        """Nested fan-out is multiplicative (80 definitions made 37,449 runs from one run): refuse the next
        nested run once the top-level run's tree holds `max_nested_runs`. One indexed count per RunWorkflow
        node start; the node's task run fails with this message (the scheduler goes on)."""
        stmt = sa.select(sa.func.count()).select_from(workflow_runs).where(workflow_runs.c.root_run_id == root_run_id)
        made = int(conn.execute(stmt).scalar() or 0)
        if made >= self.max_nested_runs:
            raise FailedOperation(
                f"NestedRunsLimitExceeded: run {root_run_id} already created {made} nested runs, the limit"
                " (trigflow up --max-nested-runs)"
            )

    def _insert_run(
        self,
        conn: sa.Connection,
        wf: Mapping[str, Any],
        tasks: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        *,
        trigger_type: str,
        execute_uin: str | None,
        group: str | None,
        schedule_ms: int,
        now: int,
        extra: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        data: Collection[str] | None = None,
    ) -> str:
        """`data` names the parameters whose values came from outside the definition (run-time parameters,
        file-arrival paths); None inherits them from the parent run of a nested run."""
        if data is None:
            data = self._inherited_data(conn, extra or {})
        versions = cq.get_versions(conn, [t["submitted_version_id"] for t in tasks])
        _refuse_cycles(tasks, versions)
        run_id = ids.new_uuid()
        run = {
            "execution_id": run_id,
            "project_id": wf["project_id"],
            "workflow_id": wf["workflow_id"],
            "workflow_name": wf["name"],
            "folder_id": wf["folder_id"],
            "folder_name": wf["folder_path"].rsplit("/", 1)[-1] or "/",
            "state": RunState.QUEUED.value,
            "error_code_str": None,
            "trigger_type": trigger_type,
            "trigger_id": None,
            "cycle_type": None,
            "params": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
            "selected_task_ids": [t["task_id"] for t in tasks],
            "rerun_times": 0,
            "owner_uin": wf["owner_uin"],
            "execute_user_uin": execute_uin,
            "workflow_version_id": wf["version_id"],
            "resource_group_id": group,
            "create_ms": now,
            "schedule_ms": schedule_ms,
            "queue_start_ms": now,
            "pending_start_ms": None,  # set when the scheduler admits it (concurrency slot, Q-C1)
            "update_ms": now,
            **(extra or {}),
        }
        zone = timezone or self.timezone
        rows = [
            task_run_row(run, t, versions[t["submitted_version_id"]], params, now, zone, data, resources=self.resources)
            for t in tasks
        ]
        rq.insert_run(conn, run, rows)
        return run_id

    def _inherited_data(self, conn: sa.Connection, extra: Mapping[str, Any]) -> list[str]:
        """A nested run inherits its parent's parameters, and with them which of them are data."""
        node_id = extra.get("parent_task_exec_id")
        node = rq.get_task_run(conn, node_id) if node_id else None
        return run_spec.run_data_params(node["spec"]) if node else []

    def _selected_tasks(
        self, conn: sa.Connection, wf: Mapping[str, Any], task_ids: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        all_tasks = {t["task_id"]: t for t in cq.tasks_of_workflow(conn, wf["workflow_id"])}
        if task_ids:
            if len(set(task_ids)) != len(task_ids):
                raise InvalidParameterValue("TaskIds contains duplicates")
            missing = [t for t in task_ids if t not in all_tasks]
            if missing:
                raise InvalidParameterValue(f"TaskIds: tasks {missing} do not belong to workflow {wf['workflow_id']}")
            unsubmitted = [t for t in task_ids if all_tasks[t]["submitted_version_id"] is None]
            if unsubmitted:
                raise InvalidParameterValue(
                    f"TaskIds: tasks {unsubmitted} have never been submitted (SubmitTriggerTask)"
                )
            chosen = [all_tasks[t] for t in task_ids]
        else:
            chosen = [t for t in all_tasks.values() if t["submitted_version_id"] is not None]
            if not chosen:
                raise FailedOperation(
                    f"workflow {wf['workflow_id']} has no submitted task; submit tasks with SubmitTriggerTask first"
                )
        return chosen


def _refuse_cycles(tasks: Sequence[Mapping[str, Any]], versions: Mapping[str, Mapping[str, Any]]) -> None:
    """A run of SUBMIT versions that depend on each other in a cycle would wait forever: refuse it.
    SubmitTriggerTask refuses to close such a cycle; this backstop covers versions submitted before."""
    chosen = {str(t["task_id"]) for t in tasks}
    graph = {
        str(t["task_id"]): [str(u) for u in versions[t["submitted_version_id"]]["snapshot"]["upstream"]
                            if str(u) in chosen]
        for t in tasks
    }  # fmt: skip
    cycle = find_cycle(graph)
    if cycle:
        raise FailedOperation(
            f"the submitted versions of tasks {' -> '.join(cycle)} depend on each other in a cycle; submit "
            "versions that break it"
        )


def run_time_params(advanced: Sequence[Mapping[str, Any]] | None, params: dict[str, Any], max_chars: int) -> set[str]:
    """Apply `AdvancedParams` over `params`; returns their names, which are data (docs/parameters.md).

    A value longer than `max_chars` (`trigflow up --max-param-size`) is refused here, naming the field,
    rather than failing every task of the run later.
    """
    names: set[str] = set()
    for i, adv in enumerate(advanced or []):
        if not adv.get("ParamKey"):
            raise InvalidParameterValue(f"AdvancedParams.{i}.ParamKey must be a non-empty string")
        value = adv.get("ParamValue")
        if isinstance(value, str) and len(value) > max_chars:
            raise InvalidParameterValue(
                f"AdvancedParams.{i}.ParamValue is {len(value)} characters long; the limit is {max_chars}"
            )
        params[adv["ParamKey"]] = value
        names.add(adv["ParamKey"])
    return names


__all__ = ["MANUAL", "Runs"]
