"""group_metric_minutes queries on both backends (store/group_metrics.py): a minute written twice (a restart
within it) holds the later write, ranges are inclusive and oldest first, the prune keeps what is recent."""

from __future__ import annotations

import uuid

from trigflow.domain import group_metrics as gm
from trigflow.store import group_metrics as mq
from trigflow.store.engine import Database

M = 60_000


def test_minutes_round_trip_replace_and_prune(db: Database) -> None:
    g, other = uuid.uuid4().hex[:20], uuid.uuid4().hex[:20]
    with db.write() as conn:
        mq.write_minute(conn, 10 * M, {g: gm.sample(1, 0, 4, None), other: gm.sample(3, 2, 4, 2)})
        mq.write_minute(conn, 11 * M, {g: gm.sample(2, 1, 4, None)})
        mq.write_minute(conn, 11 * M, {g: gm.sample(4, 5, 4, None)})  # the same minute again: replaced
        mq.write_minute(conn, 12 * M, {})
    with db.read() as conn:
        assert mq.minutes(conn, g, 10 * M, 11 * M) == [(10 * M, gm.sample(1, 0, 4, None)),
                                                       (11 * M, gm.sample(4, 5, 4, None))]  # fmt: skip
        assert mq.minutes(conn, g, 11 * M + 1, 20 * M) == []
        assert mq.minutes(conn, other, 0, 20 * M) == [(10 * M, gm.sample(3, 2, 4, 2))]
        assert mq.latest(conn, g) == (11 * M, gm.sample(4, 5, 4, None))
        assert mq.latest(conn, uuid.uuid4().hex[:20]) is None
    with db.write() as conn:
        assert mq.prune(conn, 11 * M) >= 2
    with db.read() as conn:
        assert [at for at, _ in mq.minutes(conn, g, 0, 20 * M)] == [11 * M]
        assert mq.latest(conn, other) is None
