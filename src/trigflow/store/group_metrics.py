"""Queries of group_metric_minutes (GetResourceGroupMetrics history, domain/group_metrics.py)."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from trigflow.store.tables import group_metric_minutes as t

#: metric name (domain/group_metrics.py TASK_METRICS) -> column
COLUMNS: dict[str, str] = {
    "MaximumConcurrency": "max_concurrency",
    "DevelopRunningTask": "running",
    "DevelopQueueTask": "waiting",
    "ConcurrencyUsage": "usage_pct",
    "FreeConcurrency": "free_slots",
    "WorkerCount": "workers",
}

Sample = dict[str, int | None]


def write_minute(conn: sa.Connection, minute_ms: int, samples: Mapping[str, Sample]) -> None:
    """The finished minute's row of each group; a row a previous server process wrote for the same minute
    (a restart within it) is replaced."""
    if not samples:
        return
    conn.execute(t.delete().where(t.c.minute_ms == minute_ms, t.c.group_id.in_(list(samples))))
    conn.execute(t.insert(), [
        {"group_id": g, "minute_ms": minute_ms, **{col: s.get(name) for name, col in COLUMNS.items()}}
        for g, s in samples.items()
    ])  # fmt: skip


def prune(conn: sa.Connection, before_ms: int) -> int:
    return int(conn.execute(t.delete().where(t.c.minute_ms < before_ms)).rowcount or 0)


def minutes(conn: sa.Connection, group_id: str, start_ms: int, end_ms: int) -> list[tuple[int, Sample]]:
    """The group's rows whose minute starts in [start, end], oldest first."""
    rows = conn.execute(
        sa.select(t).where(t.c.group_id == group_id, t.c.minute_ms >= start_ms, t.c.minute_ms <= end_ms)
        .order_by(t.c.minute_ms)
    ).mappings()  # fmt: skip
    return [(int(r["minute_ms"]), {name: r[col] for name, col in COLUMNS.items()}) for r in rows]


def latest(conn: sa.Connection, group_id: str) -> tuple[int, Sample] | None:
    r = conn.execute(
        sa.select(t).where(t.c.group_id == group_id).order_by(t.c.minute_ms.desc()).limit(1)
    ).mappings().first()  # fmt: skip
    if r is None:
        return None
    return int(r["minute_ms"]), {name: r[col] for name, col in COLUMNS.items()}
