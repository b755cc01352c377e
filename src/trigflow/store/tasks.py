"""Named queries for task definitions beyond create/submit (those stay in store/catalog.py).

Task rows are read together with what the design views show next to them: the workflow's name and
folder, and whether the saved state is the submitted one (`submit`). That flag is computed in SQL so
ListTriggerTasks can filter and page on it: a task is "submitted" when it has a submitted version and
no save happened after it, i.e. the SUBMIT version's snapshot records the current saved version number
(`save_version_no`; submits from before that key existed count as current, as nothing could be edited
then). Functions receive an open connection and never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.store.catalog import Row, _all, _one
from trigflow.store.criteria import contains, escape_like
from trigflow.store.tables import task_versions, tasks, workflows

_submitted = task_versions.alias("submitted_version")
_saved_at_submit = sa.func.coalesce(_submitted.c.snapshot["save_version_no"].as_integer(), tasks.c.version_no)
SUBMITTED = sa.and_(tasks.c.submitted_version_id.is_not(None), _saved_at_submit == tasks.c.version_no)
SUBMIT_FLAG = sa.case((SUBMITTED, sa.true()), else_=sa.false())


def _select() -> sa.Select[Any]:
    return sa.select(
        tasks,
        workflows.c.name.label("workflow_name"),
        workflows.c.folder_path.label("workflow_folder_path"),
        SUBMIT_FLAG.label("submit"),
    ).select_from(
        tasks.join(workflows, workflows.c.workflow_id == tasks.c.workflow_id).outerjoin(
            _submitted, _submitted.c.version_id == tasks.c.submitted_version_id
        )
    )


def _fix(row: Row) -> Row:
    row["submit"] = bool(row["submit"])  # SQLite answers 0/1
    return row


def get_task_view(conn: sa.Connection, project_id: str, task_id: str) -> Row | None:
    """A task with `workflow_name`, `workflow_folder_path` and `submit`."""
    row = _one(conn, _select().where(tasks.c.project_id == project_id, tasks.c.task_id == task_id))
    return _fix(row) if row is not None else None


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    """`IN` lists of at most 500: SQLite refuses statements with more than 32,766 parameters."""
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + 500] for i in range(0, len(unique), 500)]


def task_views(conn: sa.Connection, project_id: str, task_ids: Sequence[str]) -> list[Row]:
    """Tasks (with workflow name and submit flag) among `task_ids`, in TaskId order."""
    rows: list[Row] = []
    for chunk in _chunks(task_ids):
        stmt = _select().where(tasks.c.project_id == project_id, tasks.c.task_id.in_(chunk))
        rows += [_fix(r) for r in _all(conn, stmt)]
    return sorted(rows, key=lambda r: str(r["task_id"]))


def lock_task(conn: sa.Connection, project_id: str, task_id: str) -> Row | None:
    """The task row, locked for the rest of the transaction (PostgreSQL; SQLite writers are serialised)."""
    stmt = sa.select(tasks).where(tasks.c.project_id == project_id, tasks.c.task_id == task_id).with_for_update()
    return _one(conn, stmt)


def _under_any(col: Any, paths: Sequence[str]) -> Any:
    """`col` is one of the folders or below one of them; a NULL column is the root `/`."""
    value = sa.func.coalesce(col, "/")
    conds = []
    for path in paths:
        if path == "/":
            return sa.true()
        conds += [value == path, value.like(escape_like(path) + "/%", escape="\\")]
    return sa.or_(*conds)


def _has_owner(col: Any, uin: str) -> Any:
    """`uin` is one of the `;`-joined owners in `col`."""
    e = escape_like(uin)
    return sa.or_(
        col == uin,
        col.like(e + ";%", escape="\\"),
        col.like("%;" + e, escape="\\"),
        col.like("%;" + e + ";%", escape="\\"),
    )


def list_tasks(
    conn: sa.Connection,
    project_id: str,
    *,
    name: str | None = None,
    workflow_id: str | None = None,
    owner_uin: str | None = None,
    type_ids: Collection[int] | None = None,
    status: str | None = None,
    submit: bool | None = None,
    bundle_id: str | None = None,
    create_user_uin: str | None = None,
    create_range: tuple[int, int] | None = None,
    modify_range: tuple[int, int] | None = None,
    task_folders: Sequence[str] | None = None,
    workflow_folders: Sequence[str] | None = None,
    offset: int,
    limit: int,
) -> tuple[list[Row], int]:
    """ListTriggerTasks: every given filter must hold; `type_ids` empty means "no type matches".

    Newest task first (TaskIds are creation stamps), which keeps pages stable while tasks are edited.
    """
    conds: list[Any] = [tasks.c.project_id == project_id]
    if name:
        conds.append(contains(tasks.c.name, name))
    if workflow_id:
        conds.append(tasks.c.workflow_id == workflow_id)
    if owner_uin:
        conds.append(_has_owner(tasks.c.owner_uin, owner_uin))
    if type_ids is not None:
        conds.append(tasks.c.task_type_id.in_(sorted(type_ids)))
    if status:
        conds.append(tasks.c.status == status)
    if submit is not None:
        conds.append(SUBMITTED if submit else sa.not_(SUBMITTED))
    if bundle_id:
        conds.append(tasks.c.config["BundleId"].as_string() == bundle_id)
    if create_user_uin:
        conds.append(tasks.c.create_user_uin == create_user_uin)
    for rng, col in ((create_range, tasks.c.create_ms), (modify_range, tasks.c.update_ms)):
        if rng is not None:
            conds.append(col.between(rng[0], rng[1]))
    if task_folders:
        conds.append(_under_any(tasks.c.folder_path, task_folders))
    if workflow_folders:
        conds.append(_under_any(workflows.c.folder_path, workflow_folders))
    base = _select().where(*conds)
    total = conn.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
    rows = _all(conn, base.order_by(tasks.c.task_id.desc()).offset(offset).limit(limit))
    return [_fix(r) for r in rows], int(total)


def delete_task(conn: sa.Connection, task_id: str) -> None:
    """Delete the definition only: its task_versions rows stay, runs and reruns read those snapshots."""
    conn.execute(tasks.delete().where(tasks.c.task_id == task_id))


def set_owner(conn: sa.Connection, task_ids: Sequence[str], owner: str) -> None:
    for chunk in _chunks(task_ids):
        conn.execute(tasks.update().where(tasks.c.task_id.in_(chunk)).values(owner_uin=owner))


def versions_of(conn: sa.Connection, task_id: str, kind: str, offset: int, limit: int) -> tuple[list[Row], int]:
    """A task's versions of one kind (SAVE or SUBMIT), newest first."""
    where = [task_versions.c.task_id == task_id, task_versions.c.kind == kind]
    total = conn.execute(sa.select(sa.func.count()).select_from(task_versions).where(*where)).scalar_one()
    stmt = (
        sa.select(task_versions)
        .where(*where)
        .order_by(
            task_versions.c.version_no.desc(), task_versions.c.create_ms.desc(), task_versions.c.version_id.desc()
        )
        .offset(offset)
        .limit(limit)
    )
    return _all(conn, stmt), int(total)


def task_version(conn: sa.Connection, task_id: str, version_id: str) -> Row | None:
    return _one(
        conn,
        sa.select(task_versions).where(task_versions.c.task_id == task_id, task_versions.c.version_id == version_id),
    )
