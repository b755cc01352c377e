"""Definitions: projects, folders, workflows, tasks and their versions.

Methods take the validated request parameters (wire names) and return store rows; the API layer
renders rows into wire shapes. Semantic validation (enums, existence, cycles) lives here so every
entry point (API, CLI, tests) gets the same refusals.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.dag import find_cycle
from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceNotFound
from trigflow.domain.merge import parse_conditions, relation_of
from trigflow.domain.policies import POLICIES
from trigflow.domain.schedule import compile_trigger
from trigflow.service.common import Caller, Clock, Page
from trigflow.service.resources import ResourceGroups
from trigflow.store import catalog as q
from trigflow.store.criteria import AnyOf, Between, Criterion, Keyword, UnderPath
from trigflow.store.engine import Database

DEFAULT_FOLDER = "/默认文件夹"
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


class Catalog:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        stamps: ids.StampAllocator,
        resources: ResourceGroups | None = None,
        *,
        on_triggers_changed: Callable[[], None] = lambda: None,
        default_tz: str = "Asia/Shanghai",
    ) -> None:
        self.on_triggers_changed = on_triggers_changed
        self.default_tz = default_tz
        self.db = db
        self.clock = clock
        self.stamps = stamps
        self.resources = resources

    # --- projects ---------------------------------------------------------------------------

    def create_project(self, caller: Caller, project: Mapping[str, Any]) -> dict[str, Any]:
        name = _required_text(project, "ProjectName", "Project.ProjectName")
        model = project.get("ProjectModel") or "SIMPLE"
        if model not in ("SIMPLE", "STANDARD"):
            raise InvalidParameterValue(f"Project.ProjectModel must be SIMPLE or STANDARD, got {model!r}")
        mode = project.get("ScheduleMode") or "workflow"
        if mode not in ("workflow", "task"):
            raise InvalidParameterValue(f"Project.ScheduleMode must be workflow or task, got {mode!r}")
        with self.db.write() as conn:
            if q.get_project_by_name(conn, name) is not None:
                raise InvalidParameter(f"project name {name!r} already exists", code="InvalidParameter.DuplicateName")
            return self._insert_project(conn, caller.uin, name, project.get("DisplayName") or name, model, mode)

    def ensure_default_project(self, uin: str) -> dict[str, Any]:
        with self.db.write() as conn:
            row = q.first_project(conn)
            if row is not None:
                return row
            return self._insert_project(conn, uin, "default", "Default project", "SIMPLE", "workflow")

    def _insert_project(
        self, conn: sa.Connection, uin: str, name: str, display: str, model: str, mode: str
    ) -> dict[str, Any]:
        project_id = ids.new_project_id()
        row: dict[str, Any] = {
            "project_id": project_id,
            "project_name": name,
            "display_name": display,
            "description": None,
            "creator_uin": uin,
            "owner_uin": uin,
            "status": 1,
            "project_model": model,
            "schedule_mode": mode,
            "create_ms": self.clock(),
        }
        q.insert_project(conn, row)
        self._ensure_folder(conn, project_id, DEFAULT_FOLDER)
        return row

    def get_project(self, project_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._project(conn, project_id)

    def list_projects(self, params: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        status = params.get("Status")
        with self.db.read() as conn:
            return q.list_projects(
                conn,
                ids=params.get("ProjectIds"),
                name=params.get("ProjectName"),
                status=status,
                model=params.get("ProjectModel"),
                offset=page.offset,
                limit=page.size,
            )

    def _project(self, conn: sa.Connection, project_id: str) -> dict[str, Any]:
        row = q.get_project(conn, project_id)
        if row is None:
            raise ResourceNotFound(f"project {project_id} does not exist")
        return row

    def _ensure_folder(self, conn: sa.Connection, project_id: str, path: str) -> dict[str, Any]:
        path = _normalise_path(path)
        row = q.get_folder(conn, project_id, path)
        if row is None:
            row = {
                "folder_id": ids.new_uuid(),
                "project_id": project_id,
                "path": path,
                "name": path.rsplit("/", 1)[-1] or "/",
                "create_ms": self.clock(),
            }
            q.insert_folder(conn, row)
        return row

    # --- workflows --------------------------------------------------------------------------

    def create_workflow(self, caller: Caller, p: Mapping[str, Any]) -> str:
        name = _required_text(p, "WorkflowName")
        triggers = self._triggers(p, [])
        run_config = _run_config(p.get("TriggerWorkflowRunConfiguration"), {"MaxConcurrentNum": 1, "QueuingMode": 1})
        params = _param_list(p.get("WorkflowParams"), "WorkflowParams")
        now = self.clock()
        with self.db.write() as conn:
            self._project(conn, p["ProjectId"])
            folder = self._ensure_folder(conn, p["ProjectId"], _required_text(p, "ParentFolderPath"))
            if q.find_workflow_by_name(conn, p["ProjectId"], folder["folder_id"], name) is not None:
                raise InvalidParameter(
                    f"a workflow named {name!r} already exists in folder {folder['path']}",
                    code="InvalidParameter.DuplicateName",
                )
            row = {
                "workflow_id": ids.new_uuid(),
                "project_id": p["ProjectId"],
                "name": name,
                "description": p.get("WorkflowDesc"),
                "folder_id": folder["folder_id"],
                "folder_path": folder["path"],
                "owner_uin": p.get("OwnerUin") or caller.uin,
                "create_user_uin": caller.uin,
                "execute_user_uin": p.get("ExecuteUserUin") or caller.uin,
                "params": params,
                "general_task_params": list(p.get("GeneralTaskParams") or []),
                "trigger_configs": triggers,
                "run_config": run_config,
                "scheduler_status": p.get("SchedulerStatus")
                or (triggers[0].get("SchedulerStatus") if triggers else None),
                "trigger_mode": p.get("TriggerMode") or (triggers[0].get("TriggerMode") if triggers else None),
                "bundle_id": p.get("BundleId"),
                "bundle_info": p.get("BundleInfo"),
                "version_id": ids.new_uuid(),
                "create_ms": now,
                "update_ms": now,
            }
            q.insert_workflow(conn, row)
        if triggers:
            self.on_triggers_changed()
        return str(row["workflow_id"])

    def update_workflow(self, caller: Caller, p: Mapping[str, Any]) -> None:
        """UpdateTriggerWorkflow: fields that are sent replace the stored ones, lists whole; the rest stays.

        A trigger sent back unchanged (same TriggerId and content) keeps its id; an edited or new one
        gets a new TriggerId, as the real service shows for re-saved trigger configurations.
        """
        with self.db.write() as conn:
            self._project(conn, p["ProjectId"])
            wf = self._workflow(conn, p["ProjectId"], p["WorkflowId"])
            values: dict[str, Any] = {"update_ms": self.clock(), "version_id": ids.new_uuid()}
            if "WorkflowName" in p:
                name = _required_text(p, "WorkflowName")
                other = q.find_workflow_by_name(conn, wf["project_id"], wf["folder_id"], name)
                if other is not None and other["workflow_id"] != wf["workflow_id"]:
                    raise InvalidParameter(
                        f"a workflow named {name!r} already exists in folder {wf['folder_path']}",
                        code="InvalidParameter.DuplicateName",
                    )
                values["name"] = name
            simple = {"WorkflowDesc": "description", "OwnerUin": "owner_uin", "ExecuteUserUin": "execute_user_uin",
                      "BundleId": "bundle_id", "BundleInfo": "bundle_info"}  # fmt: skip
            values.update({column: p[key] for key, column in simple.items() if key in p})
            if "WorkflowParams" in p:
                values["params"] = _param_list(p["WorkflowParams"], "WorkflowParams")
            if "GeneralTaskParams" in p:
                values["general_task_params"] = list(p["GeneralTaskParams"])
            if "TriggerWorkflowRunConfiguration" in p:
                values["run_config"] = _run_config(p["TriggerWorkflowRunConfiguration"], wf["run_config"])
            triggers_touched = any(
                k in p for k in ("TriggerWorkflowSchedulerConfigurations", "SchedulerStatus", "TriggerMode")
            )
            if triggers_touched:
                sent = p.get("TriggerWorkflowSchedulerConfigurations")
                configs = self._triggers(
                    {
                        **p,
                        "TriggerWorkflowSchedulerConfigurations": sent if sent is not None else wf["trigger_configs"],
                    },
                    wf["trigger_configs"],
                )
                values["trigger_configs"] = configs
                values["scheduler_status"] = p.get("SchedulerStatus") or (
                    configs[0].get("SchedulerStatus") if configs else wf["scheduler_status"]
                )
                values["trigger_mode"] = p.get("TriggerMode") or (configs[0].get("TriggerMode") if configs else None)
            q.update_workflow(conn, wf["workflow_id"], values)
        if triggers_touched or "TriggerWorkflowRunConfiguration" in p:
            self.on_triggers_changed()

    def _triggers(self, p: Mapping[str, Any], existing: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Validated trigger configs with top-level SchedulerStatus/TriggerMode applied and TriggerIds set."""
        if p.get("SchedulerStatus") not in (None, "ACTIVE", "PAUSED"):
            raise InvalidParameterValue(f"SchedulerStatus must be ACTIVE or PAUSED, got {p['SchedulerStatus']!r}")
        known = {t.get("TriggerId"): _without_id(t) for t in existing}
        triggers = [dict(t) for t in p.get("TriggerWorkflowSchedulerConfigurations") or []]
        for i, t in enumerate(triggers):
            for key in ("SchedulerStatus", "TriggerMode"):
                if p.get(key):
                    t[key] = p[key]
            if not t.get("TriggerId") or known.get(t["TriggerId"]) != _without_id(t):
                t["TriggerId"] = ids.new_uuid()
            compile_trigger(t, self.default_tz, path=f"TriggerWorkflowSchedulerConfigurations.{i}")
        return triggers

    def get_workflow(self, project_id: str, workflow_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            self._project(conn, project_id)
            return self._workflow(conn, project_id, workflow_id)

    def find_workflow(self, workflow_id: str) -> dict[str, Any] | None:
        """A workflow by id in any project (for the CLI, which has no project context)."""
        with self.db.read() as conn:
            return q.get_workflow_by_id(conn, workflow_id)

    def _workflow(self, conn: sa.Connection, project_id: str, workflow_id: str) -> dict[str, Any]:
        row = q.get_workflow(conn, project_id, workflow_id)
        if row is None:
            raise ResourceNotFound(f"workflow {workflow_id} does not exist in project {project_id}")
        return row

    def list_workflows(self, p: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        criteria: list[Criterion] = []
        if p.get("Keyword"):
            criteria.append(Keyword("name", "workflow_id", (str(p["Keyword"]),)))
        if p.get("ParentFolderPath"):
            criteria.append(UnderPath("folder_path", _normalise_path(p["ParentFolderPath"])))
        for key, column in (
            ("BundleId", "bundle_id"),
            ("OwnerUin", "owner_uin"),
            ("CreateUserUin", "create_user_uin"),
            ("ExecuteUserUin", "execute_user_uin"),
        ):
            if p.get(key):
                criteria.append(AnyOf(column, (p[key],)))
        for key, column in (("CreateTime", "create_ms"), ("ModifyTime", "update_ms")):
            if p.get(key):
                lo, hi = _time_range(p[key], key)
                criteria.append(Between(column, lo, hi))
        with self.db.read() as conn:
            self._project(conn, p["ProjectId"])
            return q.list_workflows(conn, p["ProjectId"], criteria, page.offset, page.size)

    # --- tasks ------------------------------------------------------------------------------

    def create_task(self, caller: Caller, p: Mapping[str, Any]) -> str:
        base = p["TriggerTaskBaseAttribute"]
        config = dict(p["TriggerTaskConfiguration"])
        sched = {**SCHEDULER_DEFAULTS, **{k: v for k, v in p["TriggerTaskSchedulerConfiguration"].items()}}
        name = _required_text(base, "TaskName", "TriggerTaskBaseAttribute.TaskName")
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
            self._project(conn, p["ProjectId"])
            wf = self._workflow(conn, p["ProjectId"], base["WorkflowId"])
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
            self._project(conn, project_id)
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


EXT_PATH = "TriggerTaskConfiguration.TaskExtConfigurationList"


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


TRIGGER_FIELDS = ("TriggerWorkflowSchedulerConfigurations", "SchedulerStatus", "TriggerMode")


def _without_id(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "TriggerId"}


def _run_config(given: Mapping[str, Any] | None, base: Mapping[str, Any]) -> dict[str, Any]:
    """WorkflowRunConfig over `base` (decisions.md Q-C3 defaults: serial, queueing on)."""
    config = {**base, **(given or {})}
    if not 1 <= int(config.get("MaxConcurrentNum", 1)) <= 1000:
        raise InvalidParameterValue("TriggerWorkflowRunConfiguration.MaxConcurrentNum must be in 1..1000")
    if config.get("QueuingMode", 1) not in (0, 1):
        raise InvalidParameterValue("TriggerWorkflowRunConfiguration.QueuingMode must be 0 or 1")
    return config


def _required_text(p: Mapping[str, Any], key: str, path: str | None = None) -> str:
    value = p.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterValue(f"{path or key} must be a non-empty string")
    if len(value) > 200 and key.endswith("Name"):
        raise InvalidParameterValue(f"{path or key} is longer than 200 characters")
    return value.strip()


def _normalise_path(path: str) -> str:
    parts = [s for s in path.strip().split("/") if s]
    return "/" + "/".join(parts)


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


def _param_list(items: Sequence[Mapping[str, Any]] | None, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items or []):
        key = item.get("ParamKey")
        if not key:
            raise InvalidParameterValue(f"{path}.{i}.ParamKey must be a non-empty string")
        if key in seen:
            raise InvalidParameterValue(f"{path}.{i}.ParamKey {key!r} is duplicated")
        seen.add(key)
        out.append({"ParamKey": key, "ParamValue": item.get("ParamValue")})
    return out


def _time_range(values: Sequence[str], key: str) -> tuple[int, int]:
    from trigflow.domain.timefmt import parse_wall_time

    if len(values) != 2:
        raise InvalidParameterValue(f"{key} must hold exactly two times [from, to] as yyyy-MM-dd HH:mm:ss")
    lo, hi = (parse_wall_time(v, key) for v in values)
    return lo, hi
