"""Named queries for kill requests handed from a standby to the active scheduler (callers own the transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from trigflow.store.tables import kill_requests

Row = dict[str, Any]


def insert(conn: sa.Connection, request_id: str, run_ids: Sequence[str], now_ms: int) -> None:
    conn.execute(kill_requests.insert().values(request_id=request_id, run_ids=list(run_ids), create_ms=now_ms))


def get(conn: sa.Connection, request_id: str) -> Row | None:
    r = conn.execute(sa.select(kill_requests).where(kill_requests.c.request_id == request_id)).mappings().first()
    return dict(r) if r else None


def any_to_handle(conn: sa.Connection, stale_before_ms: int) -> bool:
    """Whether a request waits to be claimed or is stale (the idle scheduler's every-tick check: a read)."""
    c = kill_requests.c
    stmt = sa.select(c.request_id).where(sa.or_(c.claimed_ms.is_(None), c.create_ms < stale_before_ms)).limit(1)
    return conn.execute(stmt).first() is not None


def claim_pending(conn: sa.Connection, now_ms: int) -> list[Row]:
    """Unclaimed requests, oldest first, marked claimed so that no later tick takes them again."""
    stmt = sa.select(kill_requests).where(kill_requests.c.claimed_ms.is_(None)).order_by(kill_requests.c.create_ms)
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    if rows:
        ids = [r["request_id"] for r in rows]
        conn.execute(kill_requests.update().where(kill_requests.c.request_id.in_(ids)).values(claimed_ms=now_ms))
    return rows


def finish(conn: sa.Connection, request_id: str, answer: dict[str, Any], now_ms: int) -> None:
    stmt = kill_requests.update().where(kill_requests.c.request_id == request_id)
    conn.execute(stmt.values(answer=answer, done_ms=now_ms))


def delete(conn: sa.Connection, request_id: str) -> None:
    conn.execute(kill_requests.delete().where(kill_requests.c.request_id == request_id))


def delete_stale(conn: sa.Connection, before_ms: int) -> None:
    """Requests whose standby went away before reading the answer."""
    conn.execute(kill_requests.delete().where(kill_requests.c.create_ms < before_ms))
