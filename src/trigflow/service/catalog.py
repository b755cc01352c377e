"""Definitions: projects, folders and workflows (tasks and their versions: service/tasks.py; folder
actions: service/folders.py; project lifecycle and members: service/projects.py; the ops view of
workflows: service/workflow_ops.py).

Methods take the validated request parameters (wire names) and return store rows; the API layer
renders rows into wire shapes. Semantic validation (enums, existence, cycles) lives here so every
entry point (API, CLI, tests) gets the same refusals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceInUse
from trigflow.domain.schedule import compile_trigger
from trigflow.domain.states import RUN_TERMINAL, RunState
from trigflow.domain.workflow_patch import (
    COLLECTION_KEYS,
    GENERAL,
    PARAMS,
    TRIGGERS,
    parse_workflow_removals,
    patch_collection,
)
from trigflow.service.checks import (
    WORKFLOW_WIDTHS,
    check_widths,
    folder_path,
    normalise_path,
    param_list,
    project_row,
    required_text,
    time_range,
    workflow_row,
)
from trigflow.service.common import Caller, Clock, Page
from trigflow.service.file_arrival import check_watched_path
from trigflow.service.resources import ResourceGroups
from trigflow.service.tasks import child_run_nodes
from trigflow.store import catalog as q
from trigflow.store import runs as rq
from trigflow.store.criteria import AnyOf, Between, Criterion, Keyword, UnderPath
from trigflow.store.engine import Database

DEFAULT_FOLDER = "/默认文件夹"


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
        file_arrival_roots: tuple[str, ...] | None = None,
    ) -> None:
        self.on_triggers_changed = on_triggers_changed
        self.file_arrival_roots = file_arrival_roots  # None: no allow-list (unit tests)
        self.default_tz = default_tz
        self.db = db
        self.clock = clock
        self.stamps = stamps
        self.resources = resources

    # --- projects ---------------------------------------------------------------------------

    def create_project(self, caller: Caller, project: Mapping[str, Any]) -> dict[str, Any]:
        name = required_text(project, "ProjectName", "Project.ProjectName")
        check_widths(project, {"DisplayName": 200}, "Project.")
        model = project.get("ProjectModel") or "SIMPLE"
        if model not in ("SIMPLE", "STANDARD"):
            raise InvalidParameterValue(f"Project.ProjectModel must be SIMPLE or STANDARD, got {model!r}")
        mode = project.get("ScheduleMode") or "workflow"
        if mode not in ("workflow", "task"):
            raise InvalidParameterValue(f"Project.ScheduleMode must be workflow or task, got {mode!r}")
        with self.db.write(serial=True) as conn:
            if q.get_project_by_name(conn, name) is not None:
                raise InvalidParameter(f"project name {name!r} already exists", code="InvalidParameter.DuplicateName")
            return self._insert_project(conn, caller.uin, name, project.get("DisplayName") or name, model, mode)

    def ensure_default_project(self, uin: str) -> dict[str, Any]:
        with self.db.write(serial=True) as conn:
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
        return project_row(conn, project_id)

    def _ensure_folder(
        self, conn: sa.Connection, project_id: str, path: str, creator: str | None = None
    ) -> dict[str, Any]:
        """The folder at `path`, created with every missing ancestor (ListWorkflowFolders walks the tree)."""
        path = normalise_path(path)
        row = q.get_folder(conn, project_id, path)
        if row is not None:
            return row
        parts = [s for s in path.split("/") if s]
        for at in ["/" + "/".join(parts[:depth]) for depth in range(1, len(parts) + 1)] or ["/"]:
            row = q.get_folder(conn, project_id, at)
            if row is None:
                row = folder_row(project_id, at, creator, self.clock())
                q.insert_folder(conn, row)
        assert row is not None
        return row

    # --- workflows --------------------------------------------------------------------------

    def create_workflow(self, caller: Caller, p: Mapping[str, Any]) -> str:
        name = required_text(p, "WorkflowName")
        check_widths(p, WORKFLOW_WIDTHS)
        triggers = self._triggers(p, [])
        run_config = _run_config(p.get("TriggerWorkflowRunConfiguration"), {"MaxConcurrentNum": 1, "QueuingMode": 1})
        params = param_list(p.get("WorkflowParams"), "WorkflowParams")
        now = self.clock()
        with self.db.write(serial=True) as conn:
            self._project(conn, p["ProjectId"])
            folder = self._ensure_folder(conn, p["ProjectId"], folder_path(p, "ParentFolderPath"), caller.uin)
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
        with self.db.write(serial=True) as conn:
            self._project(conn, p["ProjectId"])
            wf = self._workflow(conn, p["ProjectId"], p["WorkflowId"])
            rearm = self._apply_update(conn, wf, p)
        if rearm:
            self.on_triggers_changed()

    def update_workflow_partially(self, caller: Caller, p: Mapping[str, Any]) -> None:
        """UpdateTriggerWorkflowPartially: NewSetting's scalars are set, its lists upserted by key, and
        FieldToRemoveList's items deleted (domain/workflow_patch.py, api-notes Q12); the result then goes
        through exactly the checks and trigger handling of UpdateTriggerWorkflow."""
        setting: Mapping[str, Any] = p.get("NewSetting") or {}
        removals = parse_workflow_removals(p.get("FieldToRemoveList") or [])
        with self.db.write(serial=True) as conn:
            self._project(conn, p["ProjectId"])
            wf = self._workflow(conn, p["ProjectId"], p["WorkflowId"])
            update = {k: v for k, v in setting.items() if k not in COLLECTION_KEYS}
            trigger_paths: list[str] | None = None
            for collection, column in PATCHED_COLUMNS.items():
                if collection not in setting and not removals.of(collection):
                    continue
                sent_path = f"NewSetting.{collection}"
                sent = setting.get(collection)
                patched = patch_collection(collection, wf[column], sent, removals, sent_path=sent_path)
                update[collection] = patched.items
                if collection == TRIGGERS:
                    trigger_paths = [
                        f"{sent_path}.{origin}" if origin is not None else f"{collection}.{n}"
                        for n, origin in enumerate(patched.origins)
                    ]
            rearm = self._apply_update(conn, wf, update, prefix="NewSetting.", trigger_paths=trigger_paths)
        if rearm:
            self.on_triggers_changed()

    def _apply_update(
        self,
        conn: sa.Connection,
        wf: Mapping[str, Any],
        p: Mapping[str, Any],
        *,
        prefix: str = "",
        trigger_paths: Sequence[str] | None = None,
    ) -> bool:
        """Validate and store an update of `wf` (wire-named fields, lists whole); True if triggers must re-arm.

        `prefix` names the fields in refusals (`NewSetting.` for the partial update); `trigger_paths` names
        each trigger config of the list when its position differs from the request's.
        """
        values: dict[str, Any] = {"update_ms": self.clock(), "version_id": ids.new_uuid()}
        if "WorkflowName" in p:
            name = required_text(p, "WorkflowName", prefix + "WorkflowName")
            other = q.find_workflow_by_name(conn, wf["project_id"], wf["folder_id"], name)
            if other is not None and other["workflow_id"] != wf["workflow_id"]:
                raise InvalidParameter(
                    f"a workflow named {name!r} already exists in folder {wf['folder_path']}",
                    code="InvalidParameter.DuplicateName",
                )
            values["name"] = name
        check_widths(p, WORKFLOW_WIDTHS, prefix)
        simple = {"WorkflowDesc": "description", "OwnerUin": "owner_uin", "ExecuteUserUin": "execute_user_uin",
                  "BundleId": "bundle_id", "BundleInfo": "bundle_info"}  # fmt: skip
        values.update({column: p[key] for key, column in simple.items() if key in p})
        if "WorkflowParams" in p:
            values["params"] = param_list(p["WorkflowParams"], prefix + "WorkflowParams")
        if "GeneralTaskParams" in p:
            values["general_task_params"] = list(p["GeneralTaskParams"])
        if "TriggerWorkflowRunConfiguration" in p:
            values["run_config"] = _run_config(
                p["TriggerWorkflowRunConfiguration"], wf["run_config"], prefix + "TriggerWorkflowRunConfiguration"
            )
        triggers_touched = any(k in p for k in TRIGGER_FIELDS)
        if triggers_touched:
            sent = p.get("TriggerWorkflowSchedulerConfigurations")
            configs = self._triggers(
                {**p, "TriggerWorkflowSchedulerConfigurations": sent if sent is not None else wf["trigger_configs"]},
                wf["trigger_configs"],
                prefix=prefix,
                paths=trigger_paths,
            )
            values["trigger_configs"] = configs
            values["scheduler_status"] = p.get("SchedulerStatus") or (
                configs[0].get("SchedulerStatus") if configs else wf["scheduler_status"]
            )
            values["trigger_mode"] = p.get("TriggerMode") or (configs[0].get("TriggerMode") if configs else None)
        q.update_workflow(conn, wf["workflow_id"], values)
        return triggers_touched or "TriggerWorkflowRunConfiguration" in p

    def delete_workflow(self, project_id: str, workflow_id: str) -> None:
        """DeleteTriggerWorkflow (api-notes Q10): the workflow, its tasks and task folders go in one
        transaction; its run history and task versions stay (runs keep showing what they executed).

        Refused with ResourceInUse, naming the blocker, while a run of it is unfinished (it would lose its
        definition mid-way) or while a RunWorkflow node of another workflow targets it (that node would
        fail at its next run). Its triggers stop at once.
        """
        with self.db.write(serial=True) as conn:
            self._project(conn, project_id)
            wf = self._workflow(conn, project_id, workflow_id)
            live = rq.runs_in_states(conn, LIVE_RUN_STATES, workflow_id)
            if live:
                shown = ", ".join(f"{r['execution_id']} ({r['state']})" for r in live[:3])
                raise ResourceInUse(
                    f"workflow {workflow_id} has {len(live)} unfinished run(s): {shown}; wait for them to finish"
                    " or stop them with KillTriggerWorkflowRuns"
                )
            nodes = self._nodes_running(conn, wf)
            if nodes:
                node = nodes[0]
                parent = q.get_workflow_by_id(conn, node["workflow_id"]) or {}
                raise ResourceInUse(
                    f"workflow {workflow_id} is run by RunWorkflow task {node['name']!r} ({node['task_id']}) of"
                    f" workflow {parent.get('name')!r} ({node['workflow_id']}); delete or change that task first"
                )
            q.delete_workflow(conn, workflow_id)
        self.on_triggers_changed()

    def _nodes_running(self, conn: sa.Connection, wf: Mapping[str, Any]) -> list[dict[str, Any]]:
        """RunWorkflow tasks of other workflows whose saved or submitted configuration targets `wf`."""
        nodes = [t for t, _ in child_run_nodes(conn, wf["project_id"])]
        nodes = [t for t in nodes if t["workflow_id"] != wf["workflow_id"]]
        versions = q.get_versions(conn, [t["submitted_version_id"] for t in nodes if t["submitted_version_id"]])

        def target(config: Mapping[str, Any]) -> Any:
            ext = {e.get("ParamKey"): e.get("ParamValue") for e in config.get("TaskExtConfigurationList") or []}
            return ext.get("workflowId")

        def submitted(task: Mapping[str, Any]) -> Mapping[str, Any]:
            version = versions.get(task["submitted_version_id"] or "") or {}
            return dict(version.get("snapshot", {}).get("config") or {})

        return [t for t in nodes if wf["workflow_id"] in (target(t["config"]), target(submitted(t)))]

    def _triggers(
        self,
        p: Mapping[str, Any],
        existing: Sequence[Mapping[str, Any]],
        *,
        prefix: str = "",
        paths: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Validated trigger configs with top-level SchedulerStatus/TriggerMode applied and TriggerIds set."""
        if p.get("SchedulerStatus") not in (None, "ACTIVE", "PAUSED"):
            raise InvalidParameterValue(
                f"{prefix}SchedulerStatus must be ACTIVE or PAUSED, got {p['SchedulerStatus']!r}"
            )
        known = {t.get("TriggerId"): _without_id(t) for t in existing}
        triggers = [dict(t) for t in p.get("TriggerWorkflowSchedulerConfigurations") or []]
        for i, t in enumerate(triggers):
            for key in ("SchedulerStatus", "TriggerMode"):
                if p.get(key):
                    t[key] = p[key]
            if not t.get("TriggerId") or known.get(t["TriggerId"]) != _without_id(t):
                t["TriggerId"] = ids.new_uuid()
            path = paths[i] if paths is not None else f"{prefix}TriggerWorkflowSchedulerConfigurations.{i}"
            spec = compile_trigger(t, self.default_tz, path=path)
            if spec.file_arrival is not None and self.file_arrival_roots is not None:
                check_watched_path(spec.file_arrival.path, self.file_arrival_roots, f"{path}.FileArrivalPath")
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
        return workflow_row(conn, project_id, workflow_id)

    def list_workflows(self, p: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        criteria: list[Criterion] = []
        if p.get("Keyword"):
            criteria.append(Keyword("name", "workflow_id", (str(p["Keyword"]),)))
        if p.get("ParentFolderPath"):
            criteria.append(UnderPath("folder_path", normalise_path(p["ParentFolderPath"])))
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
                lo, hi = time_range(p[key], key)
                criteria.append(Between(column, lo, hi))
        with self.db.read() as conn:
            self._project(conn, p["ProjectId"])
            return q.list_workflows(conn, p["ProjectId"], criteria, page.offset, page.size)


TRIGGER_FIELDS = ("TriggerWorkflowSchedulerConfigurations", "SchedulerStatus", "TriggerMode")
LIVE_RUN_STATES = [s.value for s in RunState if s not in RUN_TERMINAL]
PATCHED_COLUMNS = {PARAMS: "params", TRIGGERS: "trigger_configs", GENERAL: "general_task_params"}


def _without_id(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "TriggerId"}


def _run_config(
    given: Mapping[str, Any] | None, base: Mapping[str, Any], path: str = "TriggerWorkflowRunConfiguration"
) -> dict[str, Any]:
    """WorkflowRunConfig over `base` (decisions.md Q-C3 defaults: serial, queueing on)."""
    config = {**base, **(given or {})}
    if not 1 <= int(config.get("MaxConcurrentNum", 1)) <= 1000:
        raise InvalidParameterValue(f"{path}.MaxConcurrentNum must be in 1..1000")
    if config.get("QueuingMode", 1) not in (0, 1):
        raise InvalidParameterValue(f"{path}.QueuingMode must be 0 or 1")
    return config


def folder_row(project_id: str, path: str, creator: str | None, now: int) -> dict[str, Any]:
    return {
        "folder_id": ids.new_uuid(),
        "project_id": project_id,
        "path": path,
        "name": path.rsplit("/", 1)[-1] or "/",
        "create_ms": now,
        "create_user_uin": creator,
    }
