"""The read side of task definitions: a task, its code and versions, task lists and direct neighbours.

Reads never lock and never write; `TaskCatalog` (service/tasks.py) adds the edits on top of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.domain.errors import InvalidParameterValue, ResourceNotFound
from trigflow.domain.task_edit import category_type_ids
from trigflow.service.checks import normalise_path, project_row, time_range
from trigflow.service.common import Page
from trigflow.service.datasources import describe_services
from trigflow.store import catalog as q
from trigflow.store import tasks as tq
from trigflow.store.engine import Database

# Widths of tasks.owner_uin and tasks.folder_path: PostgreSQL refuses longer values, so refuse them by name.
MAX_OWNER_CHARS, MAX_FOLDER_CHARS = 255, 1000
MAX_FOLDER_FILTERS = 100  # ListTriggerTasks folder lists: SQLite allows 1,000-deep expressions
TASK_STATUSES = ("N", "Y", "O", "F")  # enums.md §7; only N and Y are ever produced here
VERSION_KINDS = ("SAVE", "SUBMIT")


class TaskReads:
    db: Database

    def get_version(
        self, project_id: str, task_id: str, version_id: str | None
    ) -> tuple[dict[str, Any], dict[str, Any], str | None]:
        """(task view, SUBMIT version, its resource group's name); the latest submitted one by default."""
        with self.db.read() as conn:
            task = self._view(conn, project_id, task_id)
            wanted = version_id or task["submitted_version_id"]
            if wanted is None:
                raise ResourceNotFound(f"task {task_id} has no submitted version (SubmitTriggerTask)")
            version = tq.task_version(conn, task_id, wanted)
            if version is None or version["kind"] != "SUBMIT":
                raise ResourceNotFound(f"VersionId {wanted} is not a submitted version of task {task_id}")
            snap = version["snapshot"]
            version["snapshot"] = {**snap, "config": describe_services(conn, project_id, snap["config"])}
            return task, version, _group_name(conn, version["snapshot"]["config"])

    def list_versions(
        self, project_id: str, task_id: str, kind: str | None, page: Page
    ) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
        kind = kind or "SAVE"
        if kind not in VERSION_KINDS:
            raise InvalidParameterValue(f"TaskVersionType must be SAVE or SUBMIT, got {kind!r}")
        with self.db.read() as conn:
            task = self._view(conn, project_id, task_id)
            rows, total = tq.versions_of(conn, task_id, kind, page.offset, page.size)
            return rows, total, task

    # --- reads ----------------------------------------------------------------------------------

    def get_task(self, project_id: str, task_id: str) -> tuple[dict[str, Any], str | None]:
        """(task view, its resource group's name)."""
        with self.db.read() as conn:
            task = self._view(conn, project_id, task_id)
            task["config"] = describe_services(conn, project_id, task["config"])  # SourceServiceType/Name
            return task, _group_name(conn, task["config"])

    def _view(self, conn: sa.Connection, project_id: str, task_id: str) -> dict[str, Any]:
        project_row(conn, project_id)
        task = tq.get_task_view(conn, project_id, task_id)
        if task is None:
            raise ResourceNotFound(f"task {task_id} does not exist in project {project_id}")
        return task

    def list_tasks(self, p: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        type_ids: set[int] | None = None
        if p.get("TaskTypeId") is not None:
            type_ids = {int(p["TaskTypeId"])}
        if p.get("TaskNodeTypeList"):
            categories = category_type_ids(p["TaskNodeTypeList"], "TaskNodeTypeList")
            type_ids = categories if type_ids is None else type_ids & categories
        status = p.get("Status")
        if status is not None and status not in TASK_STATUSES:
            raise InvalidParameterValue(f"Status must be one of {list(TASK_STATUSES)}, got {status!r}")
        create = time_range(p["CreateTime"], "CreateTime") if "CreateTime" in p else None
        modify = time_range(p["ModifyTime"], "ModifyTime") if "ModifyTime" in p else None
        _at_most(p.get("TaskName"), 200, "TaskName")
        _at_most(p.get("OwnerUin"), MAX_OWNER_CHARS, "OwnerUin")
        task_folders = _folder_filter(p.get("TaskFolderPathList") or [], "TaskFolderPathList")
        workflow_folders = _folder_filter(p.get("WorkflowFolderPathList") or [], "WorkflowFolderPathList")
        with self.db.read() as conn:
            project_row(conn, p["ProjectId"])
            return tq.list_tasks(
                conn,
                p["ProjectId"],
                name=p.get("TaskName"),
                workflow_id=p.get("WorkflowId"),
                owner_uin=p.get("OwnerUin"),
                type_ids=type_ids,
                status=status,
                submit=p.get("Submit"),
                bundle_id=p.get("BundleId"),
                create_user_uin=p.get("CreateUserUin"),
                create_range=create,
                modify_range=modify,
                task_folders=task_folders,
                workflow_folders=workflow_folders,
                offset=page.offset,
                limit=page.size,
            )

    def neighbours(
        self, project_id: str, task_id: str, *, upstream: bool, page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        """Direct upstream (DAG edges, merge conditions included) or downstream tasks, by TaskId."""
        with self.db.read() as conn:
            task = self._view(conn, project_id, task_id)
            if upstream:
                wanted = list(task["upstream"])
            else:
                wanted = [
                    t["task_id"] for t in q.tasks_of_workflow(conn, task["workflow_id"]) if task_id in t["upstream"]
                ]
            rows = tq.task_views(conn, project_id, wanted)
        return rows[page.offset : page.offset + page.size], len(rows)


def _at_most(value: str | None, limit: int, path: str) -> None:
    """Filter text longer than any stored value can only be a mistake (and SQLite caps LIKE patterns)."""
    if value is not None and len(value) > limit:
        raise InvalidParameterValue(f"{path} is longer than {limit} characters; no stored value is")


def _folder_filter(paths: Sequence[str], path: str) -> list[str]:
    """Normalised folder paths of a list filter; bounded, as each one becomes two SQL LIKE terms."""
    if len(paths) > MAX_FOLDER_FILTERS:
        raise InvalidParameterValue(f"{path} holds {len(paths)} folders; at most {MAX_FOLDER_FILTERS}")
    for i, folder in enumerate(paths):
        _at_most(folder, MAX_FOLDER_CHARS, f"{path}.{i}")
    return [normalise_path(f) for f in paths]


def _group_name(conn: sa.Connection, config: Mapping[str, Any]) -> str | None:
    group_id = config.get("ResourceGroup")
    group = q.get_resource_group(conn, group_id) if group_id else None
    return str(group["name"]) if group else None
