"""Task definitions and their versions: create, submit (freeze a version for scheduling), read, edit.

Every save of a task writes a SAVE version and every submit a SUBMIT version (`task_versions`); runs
execute the snapshot of the submitted version they started with, so editing a task never rewrites a
run's history.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.dag import find_cycle
from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceNotFound
from trigflow.domain.merge import parse_conditions, relation_of
from trigflow.domain.policies import POLICIES
from trigflow.service.checks import project_row, required_text, workflow_row
from trigflow.service.common import Caller, Clock
from trigflow.service.resources import ResourceGroups
from trigflow.store import catalog as q
from trigflow.store.engine import Database

MERGE_TYPE, NESTED_TYPE = 131, 140
TASK_TYPES: dict[int, str] = {35: "SHELL", 30: "PYTHON", MERGE_TYPE: "MERGE", NESTED_TYPE: "RUN_WORKFLOW"}
MAX_NESTING_DEPTH = 5  # decisions.md Q-N3
SCHEDULER_DEFAULTS: dict[str, Any] = {
    "RunPriorityType": 6,
    "RetryWaitMinute": 5,
    "MaxRetryNumber": 4,
    "ExecutionTTLMinute": -1,
    "WaitExecutionTotalTTLMinute": -1,
    "AllowRedoType": "ALL",
    "DependencyTriggerPolicy": "ALL_SUCCESS",
    "AllowDownstreamDependency": 1,
    "ScheduleType": 0,
}
ENUMS: dict[str, tuple[Any, ...]] = {
    "RunPriorityType": (4, 5, 6),
    "AllowRedoType": ("ALL", "FAILURE", "NONE"),
    "DependencyTriggerPolicy": POLICIES,
    "AllowDownstreamDependency": (0, 1),
    "ScheduleType": (0, 1),
}
EXT_PATH = "TriggerTaskConfiguration.TaskExtConfigurationList"


class TaskCatalog:
    def __init__(
        self, db: Database, clock: Clock, stamps: ids.StampAllocator, resources: ResourceGroups | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.stamps = stamps
        self.resources = resources

    def create_task(self, caller: Caller, p: Mapping[str, Any]) -> str:
        base = p["TriggerTaskBaseAttribute"]
        config = dict(p["TriggerTaskConfiguration"])
        sched = {**SCHEDULER_DEFAULTS, **{k: v for k, v in p["TriggerTaskSchedulerConfiguration"].items()}}
        name = required_text(base, "TaskName", "TriggerTaskBaseAttribute.TaskName")
        type_id = _task_type(base["TaskTypeId"])
        group = config.get("ResourceGroup")
        if group and self.resources is not None and not self.resources.exists(group):
            raise InvalidParameterValue(
                f"TriggerTaskConfiguration.ResourceGroup {group!r} does not exist (ListResourceGroups shows the ids)"
            )
        _decode_code(config.get("CodeContent"))
        for key, allowed in ENUMS.items():
            if sched.get(key) not in allowed:
                got = sched.get(key)
                raise InvalidParameterValue(
                    f"TriggerTaskSchedulerConfiguration.{key} must be one of {list(allowed)}, got {got!r}"
                )
        upstream = [d["TaskId"] for d in sched.pop("UpstreamDependencyConfigList", None) or [] if d.get("TaskId")]
        if len(set(upstream)) != len(upstream):
            raise InvalidParameterValue("TriggerTaskSchedulerConfiguration.UpstreamDependencyConfigList has duplicates")
        ext = {e.get("ParamKey"): e.get("ParamValue") for e in config.get("TaskExtConfigurationList") or []}
        if type_id == MERGE_TYPE:  # a merge node's upstreams are its conditions' (semantics.md §4.7)
            conditions, _ = parse_conditions(ext.get("mergeCondition") or "", f"{EXT_PATH}.mergeCondition")
            relation_of(ext.get("mergeRelation"), f"{EXT_PATH}.mergeRelation")
            upstream += [c.upstream_task_id for c in conditions if c.upstream_task_id not in upstream]
        now = self.clock()
        with self.db.write() as conn:
            project_row(conn, p["ProjectId"])
            wf = workflow_row(conn, p["ProjectId"], base["WorkflowId"])
            if q.find_task_by_name(conn, wf["workflow_id"], name) is not None:
                raise InvalidParameter(
                    f"a task named {name!r} already exists in workflow {wf['workflow_id']}",
                    code="InvalidParameter.DuplicateName",
                )
            siblings = {t["task_id"]: t for t in q.tasks_of_workflow(conn, wf["workflow_id"])}
            for up in upstream:
                if up not in siblings:
                    raise InvalidParameterValue(
                        f"upstream task {up} does not exist in workflow {wf['workflow_id']}"
                        " (cross-workflow dependencies are not available in workflow scheduling)"
                    )
                if int(siblings[up]["scheduler"].get("AllowDownstreamDependency", 1)) == 0:
                    raise InvalidParameterValue(f"upstream task {up} does not allow downstream dependencies")
            if type_id == NESTED_TYPE:
                self._check_nesting(conn, wf, ext.get("workflowId"))
            for i, entry in enumerate(sched.get("ParamTaskInList") or []):
                source = entry.get("FromTaskId")
                if (entry.get("Type") or "TASK").upper() == "TASK" and source not in siblings:
                    raise InvalidParameterValue(
                        f"TriggerTaskSchedulerConfiguration.ParamTaskInList.{i}.FromTaskId {source!r} is not a task"
                        f" of workflow {wf['workflow_id']}"
                    )
            task_id = self.stamps.task_id(now)
            while q.task_id_taken(conn, task_id):  # another process took this millisecond's id
                task_id = self.stamps.task_id(now)
            row = {
                "task_id": task_id,
                "project_id": p["ProjectId"],
                "workflow_id": wf["workflow_id"],
                "name": name,
                "description": base.get("TaskDescription"),
                "task_type_id": type_id,
                "owner_uin": base.get("OwnerUin") or caller.uin,
                "create_user_uin": caller.uin,
                "update_user_uin": caller.uin,
                "folder_path": base.get("TaskFolderPath"),
                "config": config,
                "scheduler": sched,
                "upstream": upstream,
                "status": "N",
                "version_no": 1,
                "submit_version_no": 0,
                "submitted_version_id": None,
                "create_ms": now,
                "update_ms": now,
            }
            graph = {t: list(r["upstream"]) for t, r in siblings.items()} | {task_id: upstream}
            cycle = find_cycle(graph)
            if cycle:  # unreachable for a brand-new task, kept for updates that reuse this path
                raise InvalidParameterValue("dependency cycle: " + " -> ".join(cycle))
            q.insert_task(conn, row)
            q.insert_version(conn, self._version_row(row, "SAVE", 1, None, caller.uin, now))
        return task_id

    def _check_nesting(self, conn: sa.Connection, wf: Mapping[str, Any], child: Any) -> None:
        """A RunWorkflow node needs an existing workflow of the project that does not nest back (Q-N3)."""
        path = f"{EXT_PATH}.workflowId"
        if not isinstance(child, str) or not child:
            raise InvalidParameterValue(f"{path} must name the workflow to run (RunWorkflow node, TaskTypeId 140)")
        if q.get_workflow(conn, wf["project_id"], child) is None:
            raise InvalidParameterValue(f"{path}: workflow {child} does not exist in project {wf['project_id']}")
        nests: dict[str, set[str]] = {}
        for t in q.tasks_of_type(conn, wf["project_id"], NESTED_TYPE):
            target = {e.get("ParamKey"): e.get("ParamValue") for e in t["config"].get("TaskExtConfigurationList") or []}
            nests.setdefault(t["workflow_id"], set()).add(str(target.get("workflowId")))
        nests.setdefault(wf["workflow_id"], set()).add(child)
        depth = _nesting_depth(nests, wf["workflow_id"], [])
        if depth is None:
            raise InvalidParameterValue(f"{path}: running workflow {child} here would nest workflows in a cycle")
        if depth > MAX_NESTING_DEPTH:
            raise InvalidParameterValue(f"{path}: workflows would nest {depth} deep; at most {MAX_NESTING_DEPTH}")

    def submit_task(self, caller: Caller, project_id: str, task_id: str, remark: str) -> str:
        now = self.clock()
        with self.db.write() as conn:
            project_row(conn, project_id)
            task = q.get_task(conn, project_id, task_id)
            if task is None:
                raise ResourceNotFound(f"task {task_id} does not exist in project {project_id}")
            no = task["submit_version_no"] + 1
            vrow = self._version_row(task, "SUBMIT", no, remark, caller.uin, now)
            q.insert_version(conn, vrow)
            q.update_task(
                conn,
                task_id,
                {
                    "submit_version_no": no,
                    "submitted_version_id": vrow["version_id"],
                    "status": "Y",
                    "update_ms": now,
                },
            )
        return str(vrow["version_id"])

    def _version_row(
        self, task: Mapping[str, Any], kind: str, no: int, remark: str | None, uin: str, now: int
    ) -> dict[str, Any]:
        snapshot = {
            k: task[k]
            for k in (
                "name",
                "description",
                "task_type_id",
                "owner_uin",
                "config",
                "scheduler",
                "upstream",
                "folder_path",
            )
        }
        return {
            "version_id": self.stamps.version_id(task["task_id"], now),
            "task_id": task["task_id"],
            "kind": kind,
            "version_no": no,
            "snapshot": snapshot,
            "remark": remark,
            "creator_uin": uin,
            "create_ms": now,
        }


def _nesting_depth(nests: Mapping[str, set[str]], workflow: str, path: list[str]) -> int | None:
    """Levels of nesting below `workflow`, or None if nesting loops back onto the path."""
    if workflow in path:
        return None
    deepest = 0
    for child in nests.get(workflow, ()):
        below = _nesting_depth(nests, child, [*path, workflow])
        if below is None:
            return None
        deepest = max(deepest, below + 1)
    return deepest


def _task_type(raw: str) -> int:
    try:
        type_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidParameterValue(
            f"TriggerTaskBaseAttribute.TaskTypeId must be a numeric string, got {raw!r}"
        ) from None
    if type_id not in TASK_TYPES:
        supported = ", ".join(f"{k} ({v})" for k, v in TASK_TYPES.items())
        raise InvalidParameterValue(f"TriggerTaskBaseAttribute.TaskTypeId {type_id} is not supported; use {supported}")
    return type_id


def _decode_code(code: str | None) -> str:
    if not code:
        return ""
    try:
        # Line-wrapped base64 (`base64` CLI, encodebytes) is common in scripts: ignore whitespace only.
        return base64.b64decode("".join(code.split()), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidParameterValue("TriggerTaskConfiguration.CodeContent must be base64-encoded UTF-8 text") from None
