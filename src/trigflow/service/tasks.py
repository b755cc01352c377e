"""Task definitions and their versions: create, edit, submit (freeze a version for scheduling), read, delete.

Every save of a task (create, UpdateTriggerTask, UpdateTriggerTaskPartially) writes a SAVE version and
every submit a SUBMIT version (`task_versions`); runs execute the snapshot of the submitted version they
started with, so editing a task never rewrites a run's history, and deleting a task keeps its versions.

Create and both updates go through one validation path (`_prepare` for what the request alone decides,
`_check_in_workflow` for what depends on the other tasks), so every entry point refuses the same
definitions with the same codes; messages name the wire field with the action's own prefix (`Task.`,
`NewSetting.`).

Choices where WeData is silent (also in docs/api.md):

* `Submit` is true while the saved state is the submitted one: any save after a submit makes it false
  until the next submit. `Status` is `N` until the first submit, then `Y` (the submitted version keeps
  being scheduled while the saved one is edited).
* SubmitTriggerTask with nothing new to submit (the saved definition equals the latest SUBMIT
  snapshot, compared by content: `unchanged_since_submit`) returns that version's VersionId instead of
  minting an identical one, and `Submit` reads true again.
* The owner is an ops attribute: UpdateOpsTriggerTasksOwner changes it in place without a version, and
  runs report a task's current owner. Several owners are stored `;`-joined, as WeData shows them.
* A task's explicit upstreams are kept in its scheduler configuration; a merge node's DAG edges add the
  upstreams its `mergeCondition` names. Reads show all DAG edges.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.dag import find_cycle
from trigflow.domain.errors import (
    FailedOperation,
    InvalidParameter,
    InvalidParameterValue,
    MissingParameter,
    ResourceInUse,
    ResourceNotFound,
)
from trigflow.domain.keyed_patch import patch_list
from trigflow.domain.policies import POLICIES
from trigflow.domain.task_edit import (
    CONFIG,
    LIST_KEYS,
    SCHEDULER,
    check_unique_keys,
    join_owners,
    parse_task_removals,
)
from trigflow.service.checks import normalise_path, project_row, required_text, workflow_row
from trigflow.service.common import Caller, Clock
from trigflow.service.datasources import check_uses
from trigflow.service.resources import ResourceGroups
from trigflow.service.task_reads import MAX_FOLDER_CHARS, MAX_OWNER_CHARS, TaskReads
from trigflow.store import catalog as q
from trigflow.store import runs as rq
from trigflow.store import tasks as tq
from trigflow.store.engine import Database
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes.base import ChildRunTask, Paths, Runtime, TaskType

MAX_NESTING_DEPTH = 5  # decisions.md Q-N3
# Widths of tasks.owner_uin and tasks.folder_path: PostgreSQL refuses longer values, so refuse them by name.
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
# Ranges of the scheduler numbers a run reads later (docs/limits.md "Definitions"): a huge retry wait or
# timeout would overflow the millisecond columns and timers it becomes, so it is refused at save.
MAX_TTL_MINUTES = 525_600  # one year
SCHEDULER_RANGES: dict[str, tuple[int, int]] = {
    "MaxRetryNumber": (0, 100),
    "RetryWaitMinute": (0, 10_080),  # one week
    "ExecutionTTLMinute": (-1, MAX_TTL_MINUTES),  # -1 (or 0): no timeout
    "WaitExecutionTotalTTLMinute": (-1, MAX_TTL_MINUTES),
}
DEFAULT_MAX_CODE_BYTES = 1024 * 1024  # CodeContent, decoded
PYTHON_KEYS = ("python_sub_version", "python_type")  # TaskExtConfigurationList keys naming the interpreter
EXT_PATH = "TriggerTaskConfiguration.TaskExtConfigurationList"
UPSTREAMS = "UpstreamDependencyConfigList"
DERIVED_CONFIG = ("ResourceGroupName",)  # output-only: computed from ResourceGroup when read
OWNER_JOB = "TASK_OWNER_UPDATE"  # AsyncType of the job UpdateOpsTriggerTasksOwner records
SNAPSHOT_KEYS = ("name", "description", "task_type_id", "owner_uin", "config", "scheduler", "upstream", "folder_path")


@dataclass
class Definition:
    """A task's editable definition in wire terms (the three request sections), before validation."""

    name: Any
    owner: str
    description: str | None
    folder_path: str | None
    config: dict[str, Any]
    sched: dict[str, Any]


@dataclass
class _Prepared:
    """What the request alone decides: checked values, plus the upstream edges to check in the workflow."""

    name: str
    owner: str
    description: str | None
    folder_path: str | None
    config: dict[str, Any]
    sched: dict[str, Any]
    explicit: list[str]  # UpstreamDependencyConfigList
    merged: list[str]  # upstreams a merge node's conditions add
    ext: dict[str, Any]

    @property
    def upstream(self) -> list[str]:
        return self.explicit + [u for u in self.merged if u not in self.explicit]


class TaskCatalog(TaskReads):
    """Task definitions: the read side (TaskReads) plus create, edit, submit, delete and owner changes."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        stamps: ids.StampAllocator,
        resources: ResourceGroups | None = None,
        *,
        max_code_bytes: int = DEFAULT_MAX_CODE_BYTES,
    ) -> None:
        self.max_code_bytes = max_code_bytes
        self.db = db
        self.clock = clock
        self.stamps = stamps
        self.resources = resources

    # --- create and edit ----------------------------------------------------------------------

    def create_task(self, caller: Caller, p: Mapping[str, Any]) -> str:
        base = p["TriggerTaskBaseAttribute"]
        definition = Definition(
            name=base.get("TaskName"),
            owner=base.get("OwnerUin") or caller.uin,
            description=base.get("TaskDescription"),
            folder_path=base.get("TaskFolderPath"),
            config=dict(p["TriggerTaskConfiguration"]),
            sched=dict(p["TriggerTaskSchedulerConfiguration"]),
        )
        task_type = _task_type(base["TaskTypeId"])
        type_id = task_type.type_id
        prepared = self._prepare(task_type, definition, "")
        now = self.clock()
        with self.db.write(serial=True) as conn:
            project_row(conn, p["ProjectId"])
            wf = workflow_row(conn, p["ProjectId"], base["WorkflowId"])
            task_id = self.stamps.task_id(now)
            while q.task_id_taken(conn, task_id):  # another process took this millisecond's id
                task_id = self.stamps.task_id(now)
            values = self._check_in_workflow(conn, wf, task_id, task_type, prepared, "")
            row = {
                "task_id": task_id,
                "project_id": p["ProjectId"],
                "workflow_id": wf["workflow_id"],
                "task_type_id": type_id,
                "create_user_uin": caller.uin,
                "update_user_uin": caller.uin,
                "status": "N",
                "version_no": 1,
                "submit_version_no": 0,
                "submitted_version_id": None,
                "create_ms": now,
                "update_ms": now,
                **values,
            }
            q.insert_task(conn, row)
            q.insert_version(conn, self._version_row(row, "SAVE", 1, None, caller.uin, now))
        return task_id

    def update_task(self, caller: Caller, p: Mapping[str, Any]) -> None:
        """UpdateTriggerTask: the three sections replace the stored ones (omitted scheduler fields take their
        defaults again); an omitted TaskFolderPath keeps the task where it is."""
        sent = p["Task"]
        base = sent["TriggerTaskBaseAttribute"]
        owner = required_text(base, "OwnerUin", "Task.TriggerTaskBaseAttribute.OwnerUin")
        with self.db.write(serial=True) as conn:
            task = self._locked(conn, p["ProjectId"], p["TaskId"])
            definition = Definition(
                name=base.get("TaskName"),
                owner=owner,
                description=base.get("TaskDescription"),
                folder_path=base.get("TaskFolderPath", task["folder_path"]),
                config=dict(sent["TriggerTaskConfiguration"]),
                sched=dict(sent["TriggerTaskSchedulerConfiguration"]),
            )
            self._save(conn, caller, task, definition, "Task.")

    def update_task_partially(self, caller: Caller, p: Mapping[str, Any]) -> None:
        """UpdateTriggerTaskPartially: FieldToRemoveList and NewSetting against the stored task; scalars are
        set, keyed lists patched by their natural key as workflows' are (domain/keyed_patch.py)."""
        new = p.get("NewSetting") or {}
        raw_removals = p.get("FieldToRemoveList") or []
        if not any(new.values()) and not raw_removals:
            raise MissingParameter("The request changes nothing: give NewSetting and/or FieldToRemoveList")
        removals = parse_task_removals(raw_removals)
        with self.db.write(serial=True) as conn:
            task = self._locked(conn, p["ProjectId"], p["TaskId"])
            current = _definition_of(task)
            sections = {CONFIG: current.config, SCHEDULER: current.sched}
            removed_upstreams = removals.of((SCHEDULER, UPSTREAMS))
            explicit = {u.get("TaskId") for u in current.sched.get(UPSTREAMS) or []}
            for key, index in removed_upstreams.items():
                if key not in explicit and key in task["upstream"]:
                    raise InvalidParameterValue(_merge_edge(removals.entry(index), key))
            attrs = new.get("TriggerTaskBaseAttribute") or {}
            if "TaskName" in attrs:
                current.name = attrs["TaskName"]
            if "OwnerUin" in attrs:
                current.owner = required_text(attrs, "OwnerUin", "NewSetting.TriggerTaskBaseAttribute.OwnerUin")
            if "TaskDescription" in attrs:
                current.description = attrs["TaskDescription"]
            for section in (CONFIG, SCHEDULER):
                for field, value in (new.get(section) or {}).items():
                    if (section, field) not in LIST_KEYS:
                        sections[section][field] = value
            for (section, field), key_field in LIST_KEYS.items():
                sent = (new.get(section) or {}).get(field)
                if sent is None and not removals.of((section, field)):
                    continue
                sections[section][field] = patch_list(
                    sections[section].get(field) or [],
                    sent,
                    key_field,
                    removals.of((section, field)),
                    removals,
                    sent_path=f"NewSetting.{section}.{field}",
                    what=f"{field} of task {task['task_id']}",
                ).items
            removed = {key: removals.entry(index) for key, index in removed_upstreams.items()}
            self._save(conn, caller, task, current, "NewSetting.", removed)

    def _save(
        self,
        conn: sa.Connection,
        caller: Caller,
        task: Mapping[str, Any],
        definition: Definition,
        prefix: str,
        removed_upstreams: Mapping[str, str] | None = None,
    ) -> None:
        """Validate an edited definition like a new one, store it and write its SAVE version.

        `removed_upstreams` (task id -> FieldToRemoveList entry) are edges a partial update removed: one
        that a merge condition still implies cannot be removed that way.
        """
        task_type = TASK_TYPES[int(task["task_type_id"])]
        prepared = self._prepare(task_type, definition, prefix)
        for key, entry in (removed_upstreams or {}).items():
            if key in prepared.merged and key not in prepared.explicit:
                raise InvalidParameterValue(_merge_edge(entry, key))
        wf = workflow_row(conn, task["project_id"], task["workflow_id"])
        values = self._check_in_workflow(conn, wf, task["task_id"], task_type, prepared, prefix)
        now = self.clock()
        no = int(task["version_no"]) + 1
        changes = {**values, "version_no": no, "update_user_uin": caller.uin, "update_ms": now}
        q.update_task(conn, task["task_id"], changes)
        q.insert_version(conn, self._version_row({**task, **changes}, "SAVE", no, None, caller.uin, now))

    def _prepare(self, task_type: TaskType, d: Definition, prefix: str) -> _Prepared:
        """Checks that need only the request: name, code, enums, keyed lists, then the type's own
        (`TaskType.validate`, e.g. a merge node's conditions)."""
        base_path = f"{prefix}TriggerTaskBaseAttribute"
        conf_path = f"{prefix}{CONFIG}"
        sched_path = f"{prefix}{SCHEDULER}"
        name = required_text({"TaskName": d.name}, "TaskName", f"{base_path}.TaskName")
        config = {k: v for k, v in d.config.items() if k not in DERIVED_CONFIG}
        sched = {**SCHEDULER_DEFAULTS, **d.sched}
        group = config.get("ResourceGroup")
        if group and self.resources is not None and not self.resources.exists(group):
            raise InvalidParameterValue(
                f"{conf_path}.ResourceGroup {group!r} does not exist (ListResourceGroups shows the ids)"
            )
        _decode_code(config.get("CodeContent"), f"{conf_path}.CodeContent", self.max_code_bytes)
        for key, allowed in ENUMS.items():
            if sched.get(key) not in allowed:
                raise InvalidParameterValue(
                    f"{sched_path}.{key} must be one of {list(allowed)}, got {str(sched.get(key))[:40]!r}"
                )
        for key, (lo, hi) in SCHEDULER_RANGES.items():
            value = sched.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InvalidParameterValue(f"{sched_path}.{key} must be an integer {lo}-{hi}, got {str(value)[:40]}")
        for (section, field), key_field in LIST_KEYS.items():
            items = (config if section == CONFIG else sched).get(field) or []
            check_unique_keys(items, key_field, f"{prefix}{section}.{field}")
        for i, entry in enumerate(sched.get("ParamTaskInList") or []):
            if (entry.get("Type") or "TASK") not in ("TASK", "CONSTANT"):
                raise InvalidParameterValue(
                    f"{sched_path}.ParamTaskInList.{i}.Type must be TASK or CONSTANT, got {entry.get('Type')!r}"
                )
        explicit = [str(dep["TaskId"]) for dep in sched.get(UPSTREAMS) or [] if dep.get("TaskId")]
        sched[UPSTREAMS] = [{"TaskId": u} for u in explicit]
        ext = {e.get("ParamKey"): e.get("ParamValue") for e in config.get("TaskExtConfigurationList") or []}
        for key in PYTHON_KEYS:  # read as an interpreter command line (shlex) when a run starts
            value = ext.get(key)
            if value is not None and not _splittable(str(value)):
                shown = str(value)[:80]
                raise InvalidParameterValue(f"{prefix}{EXT_PATH}.{key} is not a valid command line: {shown!r}")
        # The upstreams the configuration implies (a merge node's are its conditions', semantics.md §4.7).
        merged = task_type.validate(config, ext, Paths(prefix), explicit)
        folder = (d.folder_path or "").strip()
        if len(folder) > MAX_FOLDER_CHARS:
            raise InvalidParameterValue(f"{base_path}.TaskFolderPath is longer than {MAX_FOLDER_CHARS} characters")
        return _Prepared(
            name=name,
            owner=_owner(d.owner.strip(), f"{base_path}.OwnerUin"),
            description=d.description,
            folder_path=normalise_path(folder) if folder else None,
            config=config,
            sched=sched,
            explicit=explicit,
            merged=merged,
            ext=ext,
        )

    def _check_in_workflow(
        self,
        conn: sa.Connection,
        wf: Mapping[str, Any],
        task_id: str,
        task_type: TaskType,
        d: _Prepared,
        prefix: str,
    ) -> dict[str, Any]:
        """Checks against the other tasks of the workflow; returns the column values to store.

        Upstreams must be tasks of the same workflow that allow dependants, the DAG must stay acyclic,
        ParamTaskInList sources must be sibling tasks, names are unique per workflow, a RunWorkflow node
        must not nest workflows in a cycle or too deep, and a task that stops allowing dependants must
        have none.
        """
        sched_path = f"{prefix}{SCHEDULER}"
        siblings = {t["task_id"]: t for t in q.tasks_of_workflow(conn, wf["workflow_id"]) if t["task_id"] != task_id}
        if any(t["name"] == d.name for t in siblings.values()):
            raise InvalidParameter(
                f"{prefix}TriggerTaskBaseAttribute.TaskName: a task named {d.name!r} already exists in workflow "
                f"{wf['workflow_id']}",
                code="InvalidParameter.DuplicateName",
            )
        edges = [(u, f"{sched_path}.{UPSTREAMS}") for u in d.explicit]
        edges += [(u, f"{prefix}{EXT_PATH}.mergeCondition") for u in d.merged if u not in d.explicit]
        for up, path in edges:
            if up == task_id:
                continue  # a self-dependency is reported as the cycle it is, below
            sibling = siblings.get(up)
            if sibling is None:
                elsewhere = q.get_task(conn, wf["project_id"], up)
                where = f"belongs to workflow {elsewhere['workflow_id']}" if elsewhere else "does not exist"
                raise InvalidParameterValue(
                    f"{path}: upstream task {up} {where}, not workflow {wf['workflow_id']}"
                    " (cross-workflow dependencies are not available in workflow scheduling)"
                )
            if int(sibling["scheduler"].get("AllowDownstreamDependency", 1)) == 0:
                raise InvalidParameterValue(
                    f"{path}: upstream task {up} ({sibling['name']}) does not allow downstream dependencies"
                    " (AllowDownstreamDependency 0)"
                )
        if int(d.sched["AllowDownstreamDependency"]) == 0:
            dependants = [t for t in siblings.values() if task_id in t["upstream"]]
            if dependants:
                raise InvalidParameterValue(
                    f"{sched_path}.AllowDownstreamDependency cannot be 0: {_names(dependants)} depend on task {task_id}"
                )
        if isinstance(task_type, ChildRunTask):
            self._check_nesting(conn, wf, task_type.child_workflow(d.ext), task_id, prefix)
        if task_type.sources:  # in this transaction: a concurrent DeleteDataSource cannot slip between
            check_uses(conn, wf["project_id"], d.config, task_type.sources, f"{prefix}{CONFIG}")
        for i, entry in enumerate(d.sched.get("ParamTaskInList") or []):
            source = entry.get("FromTaskId")
            if (entry.get("Type") or "TASK") == "TASK" and source not in siblings:
                why = "is the task itself" if source == task_id else f"is not a task of workflow {wf['workflow_id']}"
                raise InvalidParameterValue(f"{sched_path}.ParamTaskInList.{i}.FromTaskId {source!r} {why}")
        upstream = d.upstream
        graph = {t: list(r["upstream"]) for t, r in siblings.items()} | {task_id: upstream}
        cycle = find_cycle(graph)
        if cycle:
            names = {t: r["name"] for t, r in siblings.items()} | {task_id: d.name}
            shown = " -> ".join(f"{t} ({names.get(t, '?')})" for t in cycle)
            raise InvalidParameterValue(f"{sched_path}.{UPSTREAMS}: dependency cycle {shown}")
        return {
            "name": d.name,
            "description": d.description,
            "owner_uin": d.owner,
            "folder_path": d.folder_path,
            "config": d.config,
            "scheduler": d.sched,
            "upstream": upstream,
        }

    def _check_nesting(self, conn: sa.Connection, wf: Mapping[str, Any], child: Any, task_id: str, prefix: str) -> None:
        """A RunWorkflow node needs an existing workflow of the project that does not nest back (Q-N3)."""
        path = f"{prefix}{EXT_PATH}.workflowId"
        if not isinstance(child, str) or not child:
            raise InvalidParameterValue(f"{path} must name the workflow to run (RunWorkflow node, TaskTypeId 140)")
        if q.get_workflow(conn, wf["project_id"], child) is None:
            raise InvalidParameterValue(f"{path}: workflow {child} does not exist in project {wf['project_id']}")
        nests: dict[str, set[str]] = {}
        for t, target in child_run_nodes(conn, wf["project_id"]):
            if t["task_id"] == task_id:
                continue  # the node being edited: its old target no longer counts
            nests.setdefault(t["workflow_id"], set()).add(str(target))
        nests.setdefault(wf["workflow_id"], set()).add(child)
        depth = _nesting_depth(nests, wf["workflow_id"], [])
        if depth is None:
            raise InvalidParameterValue(f"{path}: running workflow {child} here would nest workflows in a cycle")
        if depth > MAX_NESTING_DEPTH:
            raise InvalidParameterValue(f"{path}: workflows would nest {depth} deep; at most {MAX_NESTING_DEPTH}")

    def _locked(self, conn: sa.Connection, project_id: str, task_id: str) -> dict[str, Any]:
        project_row(conn, project_id)
        task = tq.lock_task(conn, project_id, task_id)
        if task is None:
            raise ResourceNotFound(f"task {task_id} does not exist in project {project_id}")
        return task

    # --- submit and versions ------------------------------------------------------------------

    def submit_task(self, caller: Caller, project_id: str, task_id: str, remark: str) -> str:
        """Freeze the saved state as a new SUBMIT version, unless it is already the latest one's
        (`unchanged_since_submit`): then that version's id is returned and nothing new is written (its
        remark stays; the saves it matches now include the current one, so `Submit` reads true)."""
        now = self.clock()
        with self.db.write(serial=True) as conn:
            task = self._locked(conn, project_id, task_id)
            current = q.get_version(conn, task["submitted_version_id"]) if task["submitted_version_id"] else None
            if current is not None and unchanged_since_submit(task, current["snapshot"]):
                if current["snapshot"].get("save_version_no") != int(task["version_no"]):
                    snapshot = {**current["snapshot"], "save_version_no": int(task["version_no"])}
                    q.set_version_snapshot(conn, current["version_id"], snapshot)
                return str(current["version_id"])
            self._check_submitted_graph(conn, task)
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

    @staticmethod
    def _check_submitted_graph(conn: sa.Connection, task: Mapping[str, Any]) -> None:
        """Refuse a submit that would close a dependency cycle among the workflow's SUBMIT versions, or whose
        type's configuration does not fit that DAG (`TaskType.check_submit`: a branch node's targets must be
        its direct downstream tasks there, docs/branch.md).

        Saves are checked against saved definitions only, so submitted versions can still form a cycle
        (A submitted needing B; A saved without that edge but not submitted; B saved and submitted needing
        A). A run freezes SUBMIT versions, and such a run would wait forever.
        """
        others = [t for t in q.tasks_of_workflow(conn, task["workflow_id"]) if t["task_id"] != task["task_id"]]
        versions = q.get_versions(conn, [t["submitted_version_id"] for t in others if t["submitted_version_id"]])
        graph = {str(v["task_id"]): [str(u) for u in v["snapshot"]["upstream"]] for v in versions.values()}
        graph[str(task["task_id"])] = [str(u) for u in task["upstream"]]
        this = str(task["task_id"])
        task_type = TASK_TYPES.get(int(task["task_type_id"]))
        if task_type is not None:
            downstream = {t for t, ups in graph.items() if this in ups and t != this}
            ext = {e.get("ParamKey"): e.get("ParamValue") for e in task["config"].get("TaskExtConfigurationList") or []}
            task_type.check_submit(ext, downstream, EXT_PATH)
        cycle = find_cycle(graph)
        if cycle:
            names = {str(t["task_id"]): t["name"] for t in others} | {str(task["task_id"]): task["name"]}
            shown = " -> ".join(f"{t} ({names.get(t, '?')})" for t in cycle)
            raise FailedOperation(
                f"submitting task {task['task_id']} would close a dependency cycle among submitted versions: "
                f"{shown}; submit the saved state of the other tasks of the cycle first"
            )

    def _version_row(
        self, task: Mapping[str, Any], kind: str, no: int, remark: str | None, uin: str, now: int
    ) -> dict[str, Any]:
        snapshot = {k: task[k] for k in SNAPSHOT_KEYS}
        if kind == "SUBMIT":  # which save it froze: the saved state is "submitted" while this still matches
            snapshot["save_version_no"] = int(task["version_no"])
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

    # --- delete and ops ---------------------------------------------------------------------------

    def delete_task(self, project_id: str, task_id: str) -> None:
        """Refused while other tasks depend on it; its versions stay for the runs that executed them."""
        with self.db.write(serial=True) as conn:
            task = self._locked(conn, project_id, task_id)
            reasons = []
            for other in q.tasks_of_workflow(conn, task["workflow_id"]):
                why = _depends_on(other, task_id)
                if why:
                    reasons.append(f"{other['task_id']} ({other['name']}: {', '.join(why)})")
            if reasons:
                raise ResourceInUse(
                    f"task {task_id} ({task['name']}) cannot be deleted: tasks depend on it: {'; '.join(reasons)}"
                )
            tq.delete_task(conn, task_id)

    def update_owners(self, caller: Caller, p: Mapping[str, Any]) -> dict[str, Any]:
        """UpdateOpsTriggerTasksOwner: synchronous; unknown tasks are counted as failures and named in the
        ops async job's ErrorDesc (GetOpsAsyncJob with the returned AsyncActionId)."""
        task_ids = list(dict.fromkeys(p.get("TaskIds") or []))
        if not task_ids:
            raise MissingParameter("The request is missing a required parameter TaskIds (at least one task id)")
        if not p.get("OwnerIds"):
            raise MissingParameter("The request is missing a required parameter OwnerIds (at least one owner UIN)")
        owner = _owner(join_owners(p["OwnerIds"], "OwnerIds"), "OwnerIds")
        now = self.clock()
        with self.db.write(serial=True) as conn:
            project_row(conn, p["ProjectId"])
            found = {t["task_id"] for t in tq.task_views(conn, p["ProjectId"], task_ids)}
            known = [t for t in task_ids if t in found]
            missing = [t for t in task_ids if t not in found]
            tq.set_owner(conn, known, owner)
            job_id = ids.new_uuid()
            rq.insert_job(
                conn,
                {
                    "async_id": job_id,
                    "project_id": p["ProjectId"],
                    "async_type": OWNER_JOB,
                    "status": "SUCCESS" if not missing else ("PART_SUCCESS" if known else "FAIL"),
                    "error_desc": _not_found(p["ProjectId"], missing),
                    "total": len(task_ids),
                    "finished": len(task_ids),
                    "success": len(known),
                    "create_user_uin": caller.uin,
                    "create_ms": now,
                    "update_ms": now,
                },
            )
        return {
            "SuccessCount": len(known),
            "FailedCount": len(missing),
            "TotalCount": len(task_ids),
            "AsyncActionId": job_id,
        }


def unchanged_since_submit(task: Mapping[str, Any], snapshot: Mapping[str, Any]) -> bool:
    """Whether a submit now would freeze exactly `snapshot` (the latest SUBMIT version's): every
    SNAPSHOT_KEYS value equal (name, description, type, owner, the configuration and scheduler sections,
    upstream edges, folder). Contents, not save numbers or times: a save that changed nothing (each writes a
    SAVE version) leaves nothing new to submit; any changed value, list order included, does."""
    return all(task[k] == snapshot.get(k) for k in SNAPSHOT_KEYS)


def _definition_of(task: Mapping[str, Any]) -> Definition:
    """The stored definition as request sections (copies: the partial update edits them)."""
    sched = dict(task["scheduler"])
    if UPSTREAMS not in sched:  # saved before explicit upstreams were kept apart from merge edges
        sched[UPSTREAMS] = [{"TaskId": u} for u in task["upstream"]]
    return Definition(
        name=task["name"],
        owner=task["owner_uin"] or "",
        description=task["description"],
        folder_path=task["folder_path"],
        config=dict(task["config"]),
        sched=sched,
    )


def _not_found(project_id: str, missing: Sequence[str], shown: int = 20) -> str | None:
    """ErrorDesc of an owner change: the unknown task ids, the first `shown` of them by name."""
    if not missing:
        return None
    more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
    return f"tasks not found in project {project_id}: {', '.join(missing[:shown])}{more}"


def _owner(owner: str, path: str) -> str:
    if len(owner) > MAX_OWNER_CHARS:
        raise InvalidParameterValue(
            f"{path}: the owner {owner!r} is longer than {MAX_OWNER_CHARS} characters"
        )
    return owner


def _merge_edge(entry: str, key: str) -> str:
    return (
        f"{entry}: upstream task {key} comes from the merge node's condition ({EXT_PATH}.mergeCondition);"
        " change the condition instead"
    )


def _names(tasks: Sequence[Mapping[str, Any]]) -> str:
    return "tasks " + ", ".join(f"{t['task_id']} ({t['name']})" for t in tasks)


def _depends_on(task: Mapping[str, Any], task_id: str) -> list[str]:
    """How `task` depends on `task_id`: upstream edge, merge condition, input parameter."""
    if task["task_id"] == task_id:
        return []
    why = []
    explicit = task["scheduler"].get(UPSTREAMS)
    explicit_ids = [u.get("TaskId") for u in explicit] if explicit is not None else list(task["upstream"])
    if task_id in explicit_ids:
        why.append("upstream dependency")
    if task_id in task["upstream"] and task_id not in explicit_ids:
        why.append("merge condition")
    if any(e.get("FromTaskId") == task_id for e in task["scheduler"].get("ParamTaskInList") or []):
        why.append("ParamTaskInList")
    return why


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


def child_run_nodes(conn: sa.Connection, project_id: str) -> list[tuple[dict[str, Any], Any]]:
    """The project's tasks of a child-run type (RunWorkflow, ...), each with the workflow it runs."""
    found = []
    for task_type in TASK_TYPES.of_runtime(Runtime.CHILD_RUN):
        assert isinstance(task_type, ChildRunTask)
        for t in q.tasks_of_type(conn, project_id, task_type.type_id):
            ext = {e.get("ParamKey"): e.get("ParamValue") for e in t["config"].get("TaskExtConfigurationList") or []}
            found.append((t, task_type.child_workflow(ext)))
    return found


def _task_type(raw: str) -> TaskType:
    try:
        type_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidParameterValue(
            f"TriggerTaskBaseAttribute.TaskTypeId must be a numeric string, got {raw!r}"
        ) from None
    task_type = TASK_TYPES.get(type_id)
    if task_type is None or not task_type.runnable:  # a type that does not run yet is refused at save
        supported = ", ".join(f"{t.type_id} ({t.labels.design})" for t in TASK_TYPES.runnable())
        raise InvalidParameterValue(f"TriggerTaskBaseAttribute.TaskTypeId {type_id} is not supported; use {supported}")
    return task_type


def _splittable(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:  # an unclosed quote: the run would fail to start with an exception, not a message
        return False
    return True


def _decode_code(code: str | None, path: str, max_bytes: int = DEFAULT_MAX_CODE_BYTES) -> str:
    """The script, refused by field name when it is not base64 UTF-8 or decodes to more than `max_bytes`."""
    if not code:
        return ""
    too_big = InvalidParameterValue(
        f"{path} decodes to more than {max_bytes} bytes (the limit; the operator may raise --max-code-bytes)"
    )
    if len(code) > (max_bytes + 2) // 3 * 4 + len(code) // 10 + 16:  # even line-wrapped, it cannot fit
        raise too_big
    try:
        # Line-wrapped base64 (`base64` CLI, encodebytes) is common in scripts: ignore whitespace only.
        raw = base64.b64decode("".join(code.split()), validate=True)
        if len(raw) > max_bytes:
            raise too_big
        return raw.decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII text (found by the fuzz suite)
        raise InvalidParameterValue(f"{path} must be base64-encoded UTF-8 text") from None
