"""Named queries for definitions: API keys, projects, folders, workflows, tasks and their versions.

Functions receive an open connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.store.criteria import Criterion, Order, contains, escape_like
from trigflow.store.criteria import where as compile_where
from trigflow.store.tables import (
    api_keys,
    folders,
    projects,
    resource_groups,
    task_folders,
    task_versions,
    tasks,
    workflows,
)

Row = dict[str, Any]


def _one(conn: sa.Connection, stmt: sa.Select[Any]) -> Row | None:
    r = conn.execute(stmt).mappings().first()
    return dict(r) if r is not None else None


def _all(conn: sa.Connection, stmt: sa.Select[Any]) -> list[Row]:
    return [dict(r) for r in conn.execute(stmt).mappings()]


# --- API keys ---------------------------------------------------------------------------------


def insert_key(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(api_keys.insert().values(**row))


def get_key(conn: sa.Connection, secret_id: str) -> Row | None:
    return _one(conn, sa.select(api_keys).where(api_keys.c.secret_id == secret_id))


def list_keys(conn: sa.Connection) -> list[Row]:
    return _all(conn, sa.select(api_keys).order_by(api_keys.c.created_ms))


def revoke_key(conn: sa.Connection, secret_id: str, now_ms: int) -> bool:
    res = conn.execute(
        api_keys.update()
        .where(api_keys.c.secret_id == secret_id, api_keys.c.revoked_ms.is_(None))
        .values(revoked_ms=now_ms)
    )
    return res.rowcount > 0


def set_key_secret(conn: sa.Connection, secret_id: str, secret_key: str) -> None:
    conn.execute(
        api_keys.update()
        .where(api_keys.c.secret_id == secret_id)
        .values(secret_key=secret_key, revoked_ms=None, is_admin=True)
    )


# --- projects and folders ---------------------------------------------------------------------


def insert_project(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(projects.insert().values(**row))


def get_project(conn: sa.Connection, project_id: str) -> Row | None:
    return _one(conn, sa.select(projects).where(projects.c.project_id == project_id))


def get_project_by_name(conn: sa.Connection, name: str) -> Row | None:
    return _one(conn, sa.select(projects).where(projects.c.project_name == name))


def list_projects(
    conn: sa.Connection,
    *,
    ids: Sequence[str] | None,
    name: str | None,
    status: int | None,
    model: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Row], int]:
    conds: list[Any] = []
    if ids:
        conds.append(projects.c.project_id.in_(list(ids)))
    if name:
        conds.append(sa.or_(contains(projects.c.project_name, name), contains(projects.c.display_name, name)))
    if status is not None:
        conds.append(projects.c.status == status)
    if model:
        conds.append(projects.c.project_model == model)
    total = conn.execute(sa.select(sa.func.count()).select_from(projects).where(*conds)).scalar_one()
    rows = _all(
        conn,
        sa.select(projects)
        .where(*conds)
        .order_by(projects.c.create_ms, projects.c.project_id)
        .offset(offset)
        .limit(limit),
    )
    return rows, total


def first_project(conn: sa.Connection) -> Row | None:
    return _one(conn, sa.select(projects).order_by(projects.c.create_ms).limit(1))


def get_folder(conn: sa.Connection, project_id: str, path: str) -> Row | None:
    return _one(conn, sa.select(folders).where(folders.c.project_id == project_id, folders.c.path == path))


def insert_folder(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(folders.insert().values(**row))


# --- workflows --------------------------------------------------------------------------------


def insert_workflow(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(workflows.insert().values(**row))


def get_workflow(conn: sa.Connection, project_id: str, workflow_id: str) -> Row | None:
    return _one(
        conn,
        sa.select(workflows).where(workflows.c.project_id == project_id, workflows.c.workflow_id == workflow_id),
    )


def find_workflow_by_name(conn: sa.Connection, project_id: str, folder_id: str, name: str) -> Row | None:
    return _one(
        conn,
        sa.select(workflows).where(
            workflows.c.project_id == project_id, workflows.c.folder_id == folder_id, workflows.c.name == name
        ),
    )


def list_workflows(
    conn: sa.Connection, project_id: str, criteria: Sequence[Criterion], offset: int, limit: int
) -> tuple[list[Row], int]:
    where = [workflows.c.project_id == project_id, *compile_where(workflows, criteria)]
    total = conn.execute(sa.select(sa.func.count()).select_from(workflows).where(*where)).scalar_one()
    rows = _all(
        conn,
        sa.select(workflows)
        .where(*where)
        .order_by(sa.func.lower(workflows.c.name), workflows.c.workflow_id)
        .offset(offset)
        .limit(limit),
    )
    return rows, total


# --- tasks and versions -----------------------------------------------------------------------


def insert_task(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(tasks.insert().values(**row))


def get_task(conn: sa.Connection, project_id: str, task_id: str) -> Row | None:
    return _one(conn, sa.select(tasks).where(tasks.c.project_id == project_id, tasks.c.task_id == task_id))


def find_task_by_name(conn: sa.Connection, workflow_id: str, name: str) -> Row | None:
    return _one(conn, sa.select(tasks).where(tasks.c.workflow_id == workflow_id, tasks.c.name == name))


def tasks_of_workflow(conn: sa.Connection, workflow_id: str) -> list[Row]:
    return _all(conn, sa.select(tasks).where(tasks.c.workflow_id == workflow_id).order_by(tasks.c.task_id))


def update_task(conn: sa.Connection, task_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(tasks.update().where(tasks.c.task_id == task_id).values(**values))


def insert_version(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(task_versions.insert().values(**row))


def get_version(conn: sa.Connection, version_id: str) -> Row | None:
    return _one(conn, sa.select(task_versions).where(task_versions.c.version_id == version_id))


def set_version_snapshot(conn: sa.Connection, version_id: str, snapshot: Mapping[str, Any]) -> None:
    """Rewrite a version's snapshot: only its bookkeeping keys (a SUBMIT's `save_version_no`) ever change."""
    conn.execute(task_versions.update().where(task_versions.c.version_id == version_id).values(snapshot=snapshot))


def get_versions(conn: sa.Connection, version_ids: Sequence[str]) -> dict[str, Row]:
    if not version_ids:
        return {}
    rows = _all(conn, sa.select(task_versions).where(task_versions.c.version_id.in_(list(version_ids))))
    return {r["version_id"]: r for r in rows}


# --- resource groups --------------------------------------------------------------------------


def insert_resource_group(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(resource_groups.insert().values(**row))


def get_resource_group(conn: sa.Connection, group_id: str) -> Row | None:
    return _one(conn, sa.select(resource_groups).where(resource_groups.c.group_id == group_id))


def find_resource_group_by_name(conn: sa.Connection, name: str) -> Row | None:
    return _one(conn, sa.select(resource_groups).where(resource_groups.c.name == name))


def default_resource_group(conn: sa.Connection) -> Row | None:
    return _one(conn, sa.select(resource_groups).where(resource_groups.c.is_default.is_(True)))


def all_resource_groups(conn: sa.Connection) -> list[Row]:
    return _all(conn, sa.select(resource_groups).order_by(resource_groups.c.create_ms, resource_groups.c.group_id))


def update_resource_group(conn: sa.Connection, group_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(resource_groups.update().where(resource_groups.c.group_id == group_id).values(**values))


def delete_resource_group(conn: sa.Connection, group_id: str) -> None:
    conn.execute(resource_groups.delete().where(resource_groups.c.group_id == group_id))


def tasks_of_type(conn: sa.Connection, project_id: str, task_type_id: int) -> list[Row]:
    return _all(
        conn,
        sa.select(tasks).where(tasks.c.project_id == project_id, tasks.c.task_type_id == task_type_id),
    )


def task_id_taken(conn: sa.Connection, task_id: str) -> bool:
    return conn.execute(sa.select(tasks.c.task_id).where(tasks.c.task_id == task_id)).first() is not None


def existing_workflow_ids(conn: sa.Connection, workflow_ids: set[str]) -> set[str]:
    """Which of these workflows still exist (runs outlive a deleted workflow)."""
    if not workflow_ids:
        return set()
    stmt = sa.select(workflows.c.workflow_id).where(workflows.c.workflow_id.in_(sorted(workflow_ids)))
    return set(conn.execute(stmt).scalars())


def get_workflow_by_id(conn: sa.Connection, workflow_id: str) -> Row | None:
    return _one(conn, sa.select(workflows).where(workflows.c.workflow_id == workflow_id))


def update_workflow(conn: sa.Connection, workflow_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(workflows.update().where(workflows.c.workflow_id == workflow_id).values(**values))


# --- project lifecycle (UpdateProject, DeleteProject, Enable/DisableProject) ------------------------------


def update_project(conn: sa.Connection, project_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(projects.update().where(projects.c.project_id == project_id).values(**values))


def count_projects(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(projects)).scalar_one())


def workflow_names(conn: sa.Connection, project_id: str, limit: int) -> tuple[list[str], int]:
    """Up to `limit` workflow names of a project (by name) and how many it has: what blocks deleting it."""
    where = workflows.c.project_id == project_id
    total = conn.execute(sa.select(sa.func.count()).select_from(workflows).where(where)).scalar_one()
    names = conn.execute(sa.select(workflows.c.name).where(where).order_by(workflows.c.name).limit(limit)).scalars()
    return list(names), int(total)


def delete_project(conn: sa.Connection, project_id: str) -> None:
    """The project and its (then empty) workflow folders; callers check it has no workflows left."""
    conn.execute(folders.delete().where(folders.c.project_id == project_id))
    conn.execute(projects.delete().where(projects.c.project_id == project_id))


# --- folder trees (workflow folders per project, task folders per workflow) -------------------------------


def _children_of(col: Any, parent: str) -> Any:
    """`col` is a direct child of the folder `parent` (`/` is the root)."""
    prefix = escape_like("/" if parent == "/" else parent + "/")
    return sa.and_(col.like(prefix + "%", escape="\\"), ~col.like(prefix + "%/%", escape="\\"), col != parent)


def _page(conn: sa.Connection, table: sa.Table, where: Sequence[Any], offset: int, limit: int) -> tuple[list[Row], int]:
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    stmt = sa.select(table).where(*where).order_by(table.c.path).offset(offset).limit(limit)
    return _all(conn, stmt), int(total)


def child_folders(
    conn: sa.Connection, project_id: str, parent: str, offset: int, limit: int
) -> tuple[list[Row], int]:
    """Workflow folders directly below `parent`, by path."""
    return _page(conn, folders, [folders.c.project_id == project_id, _children_of(folders.c.path, parent)],
                 offset, limit)  # fmt: skip


def insert_task_folder(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(task_folders.insert().values(**row))


def get_task_folder(conn: sa.Connection, workflow_id: str, path: str) -> Row | None:
    return _one(
        conn, sa.select(task_folders).where(task_folders.c.workflow_id == workflow_id, task_folders.c.path == path)
    )


def child_task_folders(
    conn: sa.Connection, workflow_id: str, parent: str, folder_type: str, offset: int, limit: int
) -> tuple[list[Row], int]:
    """Task folders of one type directly below `parent` in a workflow, by path."""
    where = [
        task_folders.c.workflow_id == workflow_id,
        task_folders.c.folder_type == folder_type,
        _children_of(task_folders.c.path, parent),
    ]
    return _page(conn, task_folders, where, offset, limit)


# --- deleting a workflow, and the ops view of workflows ---------------------------------------------------


def delete_workflow(conn: sa.Connection, workflow_id: str) -> None:
    """The workflow, its tasks and task folders. Task versions and runs stay: runs keep reading the versions
    they executed (history, reruns of records), and both are keyed by ids that are never reused."""
    conn.execute(tasks.delete().where(tasks.c.workflow_id == workflow_id))
    conn.execute(task_folders.delete().where(task_folders.c.workflow_id == workflow_id))
    conn.execute(workflows.delete().where(workflows.c.workflow_id == workflow_id))


SUBMITTED_TASK_COUNT = (
    sa.select(sa.func.count())
    .select_from(tasks)
    .where(tasks.c.workflow_id == workflows.c.workflow_id, tasks.c.submitted_version_id.is_not(None))
    .correlate(workflows)
    .scalar_subquery()
    .label("task_count")
)


def list_ops_workflows(
    conn: sa.Connection,
    project_id: str,
    criteria: Sequence[Criterion],
    orders: Sequence[Order],
    offset: int,
    limit: int,
) -> tuple[list[Row], int]:
    """Workflows with `task_count` (their submitted tasks); `Order("task_count")` sorts on it, then by name."""
    where = [workflows.c.project_id == project_id, *compile_where(workflows, criteria)]
    total = conn.execute(sa.select(sa.func.count()).select_from(workflows).where(*where)).scalar_one()
    order = [SUBMITTED_TASK_COUNT.desc() if o.descending else SUBMITTED_TASK_COUNT.asc() for o in orders]
    stmt = (
        sa.select(workflows, SUBMITTED_TASK_COUNT)
        .where(*where)
        .order_by(*order, sa.func.lower(workflows.c.name), workflows.c.workflow_id)
        .offset(offset)
        .limit(limit)
    )
    return _all(conn, stmt), int(total)
