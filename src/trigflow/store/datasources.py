"""Named queries for data sources, and the scan for tasks that name one.

Functions receive an open connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.store.criteria import contains
from trigflow.store.tables import data_sources, projects, task_versions, tasks

Row = dict[str, Any]


def insert(conn: sa.Connection, row: Mapping[str, Any]) -> int:
    res = conn.execute(data_sources.insert().values(**row))
    key = res.inserted_primary_key
    assert key is not None
    return int(key[0])


def get(conn: sa.Connection, source_id: int) -> Row | None:
    """The data source with its project's name (`project_name`, None if the project is gone)."""
    stmt = (
        sa.select(data_sources, projects.c.project_name)
        .select_from(data_sources.outerjoin(projects, projects.c.project_id == data_sources.c.project_id))
        .where(data_sources.c.id == source_id)
    )
    r = conn.execute(stmt).mappings().first()
    return dict(r) if r is not None else None


def get_many(conn: sa.Connection, project_id: str, source_ids: Sequence[int]) -> dict[int, Row]:
    if not source_ids:
        return {}
    stmt = sa.select(data_sources).where(data_sources.c.project_id == project_id, data_sources.c.id.in_(source_ids))
    return {int(r["id"]): dict(r) for r in conn.execute(stmt).mappings()}


def name_taken(conn: sa.Connection, project_id: str, name: str) -> bool:
    stmt = sa.select(data_sources.c.id).where(data_sources.c.project_id == project_id, data_sources.c.name == name)
    return conn.execute(stmt).first() is not None


def update(conn: sa.Connection, source_id: int, values: Mapping[str, Any]) -> None:
    conn.execute(data_sources.update().where(data_sources.c.id == source_id).values(**values))


def delete(conn: sa.Connection, source_id: int) -> None:
    conn.execute(data_sources.delete().where(data_sources.c.id == source_id))


def names_in_project(conn: sa.Connection, project_id: str, limit: int) -> tuple[list[str], int]:
    """Up to `limit` data-source names of a project (by name) and how many it has: what blocks deleting it."""
    where = data_sources.c.project_id == project_id
    total = conn.execute(sa.select(sa.func.count()).select_from(data_sources).where(where)).scalar_one()
    stmt = sa.select(data_sources.c.name).where(where).order_by(data_sources.c.name).limit(limit)
    return list(conn.execute(stmt).scalars()), int(total)


def page(
    conn: sa.Connection,
    project_id: str,
    *,
    name: str | None,
    display_name: str | None,
    types: Sequence[str] | None,
    creator: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Row], int]:
    """ListDataSources: substring filters on names, exact Type list and creator; newest first."""
    where: list[Any] = [data_sources.c.project_id == project_id]
    if name:
        where.append(contains(data_sources.c.name, name))
    if display_name:
        where.append(contains(data_sources.c.display_name, display_name))
    if types:
        where.append(data_sources.c.type.in_(list(types)))
    if creator:
        where.append(data_sources.c.create_user == creator)
    total = conn.execute(sa.select(sa.func.count()).select_from(data_sources).where(*where)).scalar_one()
    stmt = (
        sa.select(data_sources, projects.c.project_name)
        .select_from(data_sources.outerjoin(projects, projects.c.project_id == data_sources.c.project_id))
        .where(*where)
        .order_by(data_sources.c.create_ms.desc(), data_sources.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()], int(total)


def tasks_naming_services(conn: sa.Connection, project_id: str) -> list[Row]:
    """Tasks of a project whose saved config, or submitted version, names some data source.

    One indexed scan of the project's tasks, narrowed in SQL by a LIKE on the JSON text (`ServiceId`
    appears only where a task sets SourceServiceId/TargetServiceId), so the rows read are the tasks that
    use data sources at all. Deleting a data source is rare; an index table kept on every task save would
    put work on the hot save path and could drift. Each row carries `config` and `submitted_config`.
    """
    hint = "%ServiceId%"
    submitted = task_versions.alias("submitted")
    stmt = (
        sa.select(
            tasks.c.task_id,
            tasks.c.name,
            tasks.c.task_type_id,
            tasks.c.owner_uin,
            tasks.c.create_ms,
            tasks.c.config,
            submitted.c.snapshot,
        )
        .select_from(tasks.outerjoin(submitted, submitted.c.version_id == tasks.c.submitted_version_id))
        .where(
            tasks.c.project_id == project_id,
            sa.or_(sa.cast(tasks.c.config, sa.Text).like(hint), sa.cast(submitted.c.snapshot, sa.Text).like(hint)),
        )
        .order_by(tasks.c.create_ms, tasks.c.task_id)
    )
    out: list[Row] = []
    for r in conn.execute(stmt).mappings():
        row = dict(r)
        snapshot = row.pop("snapshot") or {}
        row["submitted_config"] = snapshot.get("config") or {} if isinstance(snapshot, dict) else {}
        out.append(row)
    return out
