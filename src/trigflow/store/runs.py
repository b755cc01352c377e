"""Named queries for workflow runs and task runs. Callers own the transaction; nothing here commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa

from trigflow.store.criteria import Criterion, Order, order_by
from trigflow.store.criteria import where as compile_where
from trigflow.store.tables import ops_async_jobs, task_run_outputs, task_runs, workflow_runs

Row = dict[str, Any]


def _dicts(result: sa.CursorResult[Any]) -> list[Row]:
    """All rows as plain dicts. `dict(zip(keys, row))` over `all()`: `dict(r)` for each `.mappings()` row
    builds a key view per row, which was a third of the cost of reading a 1,000-task run."""
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


def insert_run(conn: sa.Connection, run: Mapping[str, Any], task_rows: Sequence[Mapping[str, Any]]) -> None:
    conn.execute(workflow_runs.insert().values(**run))
    insert_run_tasks(conn, task_rows)


def get_run(conn: sa.Connection, run_id: str, project_id: str | None = None) -> Row | None:
    stmt = sa.select(workflow_runs).where(workflow_runs.c.execution_id == run_id)
    if project_id is not None:
        stmt = stmt.where(workflow_runs.c.project_id == project_id)
    r = conn.execute(stmt).mappings().first()
    return dict(r) if r else None


def get_runs(conn: sa.Connection, run_ids: Sequence[str]) -> list[Row]:
    if not run_ids:
        return []
    stmt = sa.select(workflow_runs).where(workflow_runs.c.execution_id.in_(list(run_ids)))
    return _dicts(conn.execute(stmt))


def runs_in_states(conn: sa.Connection, states: Sequence[str], workflow_id: str | None = None) -> list[Row]:
    stmt = sa.select(workflow_runs).where(workflow_runs.c.state.in_(list(states)))
    if workflow_id is not None:
        stmt = stmt.where(workflow_runs.c.workflow_id == workflow_id)
    stmt = stmt.order_by(workflow_runs.c.create_ms, workflow_runs.c.execution_id)
    return _dicts(conn.execute(stmt))


def update_run(conn: sa.Connection, run_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(workflow_runs.update().where(workflow_runs.c.execution_id == run_id).values(**values))


def task_runs_of(conn: sa.Connection, run_id: str, latest_only: bool = True) -> list[Row]:
    stmt = sa.select(task_runs).where(task_runs.c.run_id == run_id)
    if latest_only:
        stmt = stmt.where(task_runs.c.is_latest.is_(True))
    stmt = stmt.order_by(task_runs.c.task_id)
    return _dicts(conn.execute(stmt))


# What reading a run needs of its task runs; the frozen `spec` (code included) and process bookkeeping are
# engine-only and the largest columns, so GetTriggerWorkflowRun does not pay for decoding them.
_ENGINE_ONLY = ("spec", "pid", "proc_start", "log_path", "exit_code", "exit_outputs", "executor", "worker_id")
_VIEW_COLUMNS = [c for c in task_runs.c if c.name not in _ENGINE_ONLY]


def task_runs_view(conn: sa.Connection, run_id: str) -> Sequence[Mapping[str, Any]]:
    """The latest task runs of a run, without engine-only columns, as read-only row mappings.

    For reading only: skipping the copy into dicts is a tenth of a 1,000-task GetTriggerWorkflowRun."""
    stmt = (
        sa.select(*_VIEW_COLUMNS)
        .where(task_runs.c.run_id == run_id, task_runs.c.is_latest.is_(True))
        .order_by(task_runs.c.task_id)
    )
    return cast(Sequence[Mapping[str, Any]], conn.execute(stmt).mappings().all())


def get_task_run(conn: sa.Connection, exec_id: str, project_id: str | None = None) -> Row | None:
    stmt = sa.select(task_runs).where(task_runs.c.execution_id == exec_id)
    if project_id is not None:
        stmt = stmt.where(task_runs.c.project_id == project_id)
    r = conn.execute(stmt).mappings().first()
    return dict(r) if r else None


def update_task_run(conn: sa.Connection, exec_id: str, values: Mapping[str, Any]) -> None:
    conn.execute(task_runs.update().where(task_runs.c.execution_id == exec_id).values(**values))


def update_task_runs(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk update keyed by `b_exec_id`; every row must carry the same set of keys."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != "b_exec_id"]
    stmt = (
        task_runs.update()
        .where(task_runs.c.execution_id == sa.bindparam("b_exec_id"))
        .values({k: sa.bindparam("b_" + k) for k in keys})
    )
    conn.execute(stmt, [{"b_exec_id": r["b_exec_id"], **{"b_" + k: r[k] for k in keys}} for r in rows])


def running_task_runs(conn: sa.Connection) -> list[Row]:
    stmt = sa.select(task_runs).where(task_runs.c.state == "RUNNING")
    return _dicts(conn.execute(stmt))


def record_late_exit(conn: sa.Connection, exec_id: str, exit_code: int, at_ms: int) -> None:
    """How a process of an already-terminal (killed) task run ended; changes no state."""
    conn.execute(
        task_runs.update()
        .where(task_runs.c.execution_id == exec_id, task_runs.c.exit_code.is_(None))
        .values(exit_code=exit_code, end_ms=sa.func.coalesce(task_runs.c.end_ms, at_ms))
    )


def list_runs(
    conn: sa.Connection,
    project_id: str,
    criteria: Sequence[Criterion],
    orders: Sequence[Order],
    offset: int,
    limit: int,
) -> tuple[list[Row], int]:
    """Workflow runs of a project, newest first unless ordered; the id breaks ties so pages are stable."""
    return _page(conn, workflow_runs, project_id, criteria, orders, offset, limit)


def list_task_runs(
    conn: sa.Connection,
    project_id: str,
    criteria: Sequence[Criterion],
    orders: Sequence[Order],
    offset: int,
    limit: int,
) -> tuple[list[Row], int]:
    """Task runs of a project, newest first unless ordered, without the engine-only columns."""
    return _page(conn, task_runs, project_id, criteria, orders, offset, limit, _VIEW_COLUMNS)


def _page(
    conn: sa.Connection,
    table: sa.Table,
    project_id: str,
    criteria: Sequence[Criterion],
    orders: Sequence[Order],
    offset: int,
    limit: int,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
) -> tuple[list[Row], int]:
    where = [table.c.project_id == project_id, *compile_where(table, criteria)]
    order = [*order_by(table, orders or [Order("create_ms")]), table.c.execution_id.desc()]
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    stmt = sa.select(*columns) if columns is not None else sa.select(table)
    rows = _dicts(conn.execute(stmt.where(*where).order_by(*order).offset(offset).limit(limit)))
    return rows, total


def count_active_in_group(conn: sa.Connection, group_id: str) -> int:
    """Non-terminal task runs assigned to a resource group (a group in use cannot be deleted)."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(task_runs)
        .where(task_runs.c.resource_group_id == group_id, task_runs.c.state.in_(["PENDING", "RUNNING"]))
    )
    return int(conn.execute(stmt).scalar_one())


def save_outputs(conn: sa.Connection, exec_id: str, run_id: str, task_id: str, outputs: str, now_ms: int) -> None:
    """Record (or replace, for a retried attempt) the output parameters of a task run."""
    conn.execute(task_run_outputs.delete().where(task_run_outputs.c.execution_id == exec_id))
    conn.execute(
        task_run_outputs.insert().values(
            execution_id=exec_id, run_id=run_id, task_id=task_id, outputs=outputs, create_ms=now_ms
        )
    )


def outputs_of_run(conn: sa.Connection, run_id: str) -> dict[str, str]:
    """Output parameters of a run's task runs, by task-run id (JSON object text)."""
    stmt = sa.select(task_run_outputs.c.execution_id, task_run_outputs.c.outputs).where(
        task_run_outputs.c.run_id == run_id
    )
    return {r.execution_id: r.outputs for r in conn.execute(stmt)}


def latest_child_run(conn: sa.Connection, parent_task_exec_id: str) -> Row | None:
    """The newest nested run started by a RunWorkflow task run (a retried node starts a new one)."""
    stmt = (
        sa.select(workflow_runs)
        .where(workflow_runs.c.parent_task_exec_id == parent_task_exec_id)
        .order_by(workflow_runs.c.create_ms.desc(), workflow_runs.c.execution_id.desc())
        .limit(1)
    )
    r = conn.execute(stmt).mappings().first()
    return dict(r) if r else None


def run_states(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, str]:
    """The states of the given runs by id (a For-each node's iterations, when the engine adopts it)."""
    if not run_ids:
        return {}
    stmt = sa.select(workflow_runs.c.execution_id, workflow_runs.c.state).where(
        workflow_runs.c.execution_id.in_(list(run_ids))
    )
    return {r.execution_id: r.state for r in conn.execute(stmt)}


def insert_job(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(ops_async_jobs.insert().values(**row))


def get_job(conn: sa.Connection, project_id: str, async_id: str) -> Row | None:
    stmt = sa.select(ops_async_jobs).where(
        ops_async_jobs.c.async_id == async_id, ops_async_jobs.c.project_id == project_id
    )
    r = conn.execute(stmt).mappings().first()
    return dict(r) if r else None


def supersede(conn: sa.Connection, exec_ids: Sequence[str]) -> None:
    """Older records of rerun tasks stop being the latest execution (decisions.md Q-R2)."""
    if exec_ids:
        conn.execute(task_runs.update().where(task_runs.c.execution_id.in_(list(exec_ids))).values(is_latest=False))


def insert_run_tasks(conn: sa.Connection, task_rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert task runs; executemany takes its column list from the first row, so group rows by key set
    (a value given only on later rows would otherwise be dropped silently)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in task_rows:
        groups.setdefault(tuple(sorted(r)), []).append(dict(r))
    for rows in groups.values():
        conn.execute(task_runs.insert(), rows)


def _current_attempt(exec_id: str, retry_times: int, rerun_times: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The task run's row while this attempt (its RetryTimes and RerunTimes) is the RUNNING one."""
    return (
        task_runs.c.execution_id == exec_id,
        task_runs.c.retry_times == retry_times,
        task_runs.c.rerun_times == rerun_times,
        task_runs.c.state == "RUNNING",
    )


def claim_remote_start(conn: sa.Connection, exec_id: str, retry_times: int, rerun_times: int, worker_id: str) -> bool:
    """The start fence of a remote attempt (docs/adr/0006-celery-workers.md): the worker's start is accepted
    only if this attempt is its task run's current one (same RetryTimes and RerunTimes), still RUNNING on
    the Celery executor and not started by anyone yet. One conditional UPDATE, so two deliveries of the
    same message (Celery is at-least-once) cannot both win, across server restarts too."""
    result = conn.execute(
        task_runs.update()
        .where(
            *_current_attempt(exec_id, retry_times, rerun_times),
            task_runs.c.executor == "celery",
            task_runs.c.worker_id.is_(None),
        )
        .values(worker_id=worker_id)
    )
    return bool(result.rowcount == 1)


def record_remote_exit(
    conn: sa.Connection,
    exec_id: str,
    retry_times: int,
    rerun_times: int,
    worker_id: str,
    exit_code: int,
    outputs: str | None = None,
) -> bool:
    """A worker's finish report, made durable before the server acknowledges it (ADR 0006): the exit code of
    the still-RUNNING remote attempt and the output parameters it set (JSON text, or None). The worker drops
    its buffered report once acknowledged, so a server killed before the engine's batch committed the exit
    would otherwise lose it and retry a finished task; restart recovery reads it back from here."""
    result = conn.execute(
        task_runs.update()
        .where(*_current_attempt(exec_id, retry_times, rerun_times), task_runs.c.worker_id == worker_id)
        .values(exit_code=exit_code, exit_outputs=outputs)
    )
    return bool(result.rowcount == 1)
