"""Folders: workflow folders of a project (CreateWorkflowFolder, ListWorkflowFolders) and task folders of a
workflow (CreateTaskFolder, ListTaskFolders).

Both are trees addressed by absolute path, `/` being the root. Creating a folder needs its parent to
exist (ResourceNotFound otherwise): an explicit folder action that silently made `/a/b` for a mistyped
`/a` would hide the typo, whereas CreateTriggerWorkflow keeps creating its missing folders, as before.
A list shows the direct children of the parent, by path (the SDK example: "direct sub-folders").

A task folder belongs to one TaskFolderType (the category tab it was made in, enums.md §2.2) and so
does its whole subtree; its path is unique within the workflow, because tasks name folders by path alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trigflow.domain import ids
from trigflow.domain.errors import InvalidParameter, InvalidParameterValue, ResourceNotFound
from trigflow.service.catalog import folder_row
from trigflow.service.checks import MAX_FOLDER_PATH, normalise_path, project_row, required_text, workflow_row
from trigflow.service.common import Caller, Clock, Page
from trigflow.store import catalog as q
from trigflow.store.engine import Database

TASK_FOLDER_TYPES = ("ETL", "EMR", "DLC", "SETATS", "TDSQL", "TCHOUSE", "GENERAL", "TI_ONE", "ACROSS_WORKFLOWS")


class Folders:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # --- workflow folders -------------------------------------------------------------------

    def create_workflow_folder(self, caller: Caller, p: Mapping[str, Any]) -> str:
        parent = normalise_path(required_text(p, "ParentFolderPath"))
        path = _child_path(parent, p, "FolderName")
        with self.db.write(serial=True) as conn:
            project_row(conn, p["ProjectId"])
            if parent != "/" and q.get_folder(conn, p["ProjectId"], parent) is None:
                raise ResourceNotFound(f"ParentFolderPath: folder {parent} does not exist in project {p['ProjectId']}")
            if q.get_folder(conn, p["ProjectId"], path) is not None:
                raise InvalidParameter(
                    f"FolderName: folder {path} already exists in project {p['ProjectId']}",
                    code="InvalidParameter.DuplicateName",
                )
            row = folder_row(p["ProjectId"], path, caller.uin, self.clock())
            q.insert_folder(conn, row)
        return str(row["folder_id"])

    def list_workflow_folders(self, p: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        parent = normalise_path(required_text(p, "ParentFolderPath"))
        with self.db.read() as conn:
            project_row(conn, p["ProjectId"])
            if parent != "/" and q.get_folder(conn, p["ProjectId"], parent) is None:
                raise ResourceNotFound(f"ParentFolderPath: folder {parent} does not exist in project {p['ProjectId']}")
            return q.child_folders(conn, p["ProjectId"], parent, page.offset, page.size)

    # --- task folders -----------------------------------------------------------------------

    def create_task_folder(self, caller: Caller, p: Mapping[str, Any]) -> str:
        folder_type = _task_folder_type(p)
        parent = normalise_path(required_text(p, "ParentTaskFolderPath"))
        path = _child_path(parent, p, "TaskFolderName")
        with self.db.write(serial=True) as conn:
            project_row(conn, p["ProjectId"])
            wf = workflow_row(conn, p["ProjectId"], p["WorkflowId"])
            if parent != "/":
                above = self._task_folder(conn, wf, parent)
                if above["folder_type"] != folder_type:
                    raise InvalidParameterValue(
                        f"TaskFolderType {folder_type} differs from the type of parent folder {parent}"
                        f" ({above['folder_type']}); a folder tree holds one type"
                    )
            if q.get_task_folder(conn, wf["workflow_id"], path) is not None:
                raise InvalidParameter(
                    f"TaskFolderName: task folder {path} already exists in workflow {wf['workflow_id']}",
                    code="InvalidParameter.DuplicateName",
                )
            row = {
                "task_folder_id": ids.new_uuid(),
                "project_id": wf["project_id"],
                "workflow_id": wf["workflow_id"],
                "folder_type": folder_type,
                "path": path,
                "name": path.rsplit("/", 1)[-1],
                "create_user_uin": caller.uin,
                "create_ms": self.clock(),
            }
            q.insert_task_folder(conn, row)
        return str(row["task_folder_id"])

    def list_task_folders(self, p: Mapping[str, Any], page: Page) -> tuple[list[dict[str, Any]], int]:
        folder_type = _task_folder_type(p)
        parent = normalise_path(required_text(p, "ParentTaskFolderPath"))
        with self.db.read() as conn:
            project_row(conn, p["ProjectId"])
            wf = workflow_row(conn, p["ProjectId"], p["WorkflowId"])
            if parent != "/":
                self._task_folder(conn, wf, parent)
            return q.child_task_folders(conn, wf["workflow_id"], parent, folder_type, page.offset, page.size)

    def _task_folder(self, conn: Any, wf: Mapping[str, Any], path: str) -> dict[str, Any]:
        row = q.get_task_folder(conn, wf["workflow_id"], path)
        if row is None:
            raise ResourceNotFound(
                f"ParentTaskFolderPath: task folder {path} does not exist in workflow {wf['workflow_id']}"
            )
        return row


def _child_path(parent: str, p: Mapping[str, Any], key: str) -> str:
    """`parent/<name>` for the one folder level named by `p[key]`, checked and named in refusals."""
    name = required_text(p, key)
    if "/" in name:
        raise InvalidParameterValue(f"{key} {name!r} must not contain '/'; create one folder level at a time")
    path = parent.rstrip("/") + "/" + name
    if len(path) > MAX_FOLDER_PATH:
        raise InvalidParameterValue(f"{key}: the folder path would be longer than {MAX_FOLDER_PATH} characters")
    return path


def _task_folder_type(p: Mapping[str, Any]) -> str:
    value = p["TaskFolderType"]
    if value not in TASK_FOLDER_TYPES:
        raise InvalidParameterValue(f"TaskFolderType must be one of {', '.join(TASK_FOLDER_TYPES)}, got {value!r}")
    return str(value)
