"""Named queries for trigger fires. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from trigflow.store.tables import projects, trigger_files, trigger_fires, workflows

Row = dict[str, Any]


def claim_fire(conn: sa.Connection, trigger_id: str, fire_ms: int, workflow_id: str, now_ms: int) -> bool:
    """Record the fire if nobody has; True when this caller owns it (INSERT ... ON CONFLICT DO NOTHING)."""
    values = {"trigger_id": trigger_id, "fire_ms": fire_ms, "workflow_id": workflow_id, "create_ms": now_ms}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(trigger_fires)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["trigger_id", "fire_ms"])
        .returning(trigger_fires.c.trigger_id)
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT ... ON CONFLICT (psycopg gave -1).
    return conn.execute(stmt).first() is not None


def set_fire_result(conn: sa.Connection, trigger_id: str, fire_ms: int, run_id: str | None, note: str | None) -> None:
    conn.execute(
        trigger_fires.update()
        .where(trigger_fires.c.trigger_id == trigger_id, trigger_fires.c.fire_ms == fire_ms)
        .values(run_id=run_id, note=note)
    )


def last_fires(conn: sa.Connection) -> dict[str, int]:
    """The newest nominal fire time of every trigger that ever fired."""
    stmt = sa.select(trigger_fires.c.trigger_id, sa.func.max(trigger_fires.c.fire_ms)).group_by(
        trigger_fires.c.trigger_id
    )
    return {r[0]: int(r[1]) for r in conn.execute(stmt)}


def fires_of(conn: sa.Connection, trigger_id: str) -> list[Row]:
    stmt = sa.select(trigger_fires).where(trigger_fires.c.trigger_id == trigger_id).order_by(trigger_fires.c.fire_ms)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def workflows_with_triggers(conn: sa.Connection) -> list[Mapping[str, Any]]:
    """Workflows whose triggers may fire: those of enabled projects (a disabled project starts nothing)."""
    stmt = (
        sa.select(workflows.c.workflow_id, workflows.c.project_id, workflows.c.trigger_configs, workflows.c.update_ms)
        .select_from(workflows.join(projects, projects.c.project_id == workflows.c.project_id))
        .where(projects.c.status == 1)
    )
    return [dict(r) for r in conn.execute(stmt).mappings() if r["trigger_configs"]]


def seen_files(conn: sa.Connection, trigger_id: str) -> set[tuple[str, int, int]]:
    stmt = sa.select(trigger_files.c.path, trigger_files.c.size, trigger_files.c.mtime_ns).where(
        trigger_files.c.trigger_id == trigger_id
    )
    return {(r[0], int(r[1]), int(r[2])) for r in conn.execute(stmt)}


def record_files(conn: sa.Connection, trigger_id: str, files: list[tuple[str, int, int]], fire_ms: int) -> None:
    if files:
        conn.execute(
            trigger_files.insert(),
            [{"trigger_id": trigger_id, "path": p, "size": s, "mtime_ns": m, "fire_ms": fire_ms} for p, s, m in files],
        )


Fingerprint = tuple[int, int, tuple[str, ...]]


def workflows_fingerprint(conn: sa.Connection) -> Fingerprint:
    """(count, newest update) of workflows and the disabled projects: changes whenever any process saves,
    adds or deletes a workflow, or enables or disables a project."""
    row = conn.execute(sa.select(sa.func.count(), sa.func.max(workflows.c.update_ms)).select_from(workflows)).one()
    disabled = conn.execute(
        sa.select(projects.c.project_id).where(projects.c.status != 1).order_by(projects.c.project_id)
    ).scalars()
    return int(row[0]), int(row[1] or 0), tuple(disabled)
