"""The capacity rule (service/capacity.py): a local group has its slot count; a worker group the slots of
its live workers, capped by its slot count. A real CeleryExecutor whose broker boundary (the sender) is a
fake: no message is sent in these tests, only heartbeats are recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import wait_for
from trigflow.executors.celery_dispatch import CeleryExecutor
from trigflow.service.capacity import GroupCapacity

SLOTS = {"local": 8, "workers": 3}


@pytest.fixture
def remote() -> Iterator[CeleryExecutor]:
    ex = CeleryExecutor(lambda ev: None, broker="memory://", token="t" * 32, servers=("http://x",),
                        lease_seconds=0.3, remote_groups=("configured",), sender=lambda *a: None)  # fmt: skip
    yield ex
    ex.shutdown(False, 0)


def test_a_local_group_keeps_its_slot_count_and_a_worker_group_counts_its_live_workers(
    remote: CeleryExecutor,
) -> None:
    cap = GroupCapacity(SLOTS.get, remote)
    assert cap.limit("local") == 8 and cap.limit("workers") == 3  # no worker yet: not served by workers
    assert cap.limit("configured") == 0  # `up --remote-group` without a worker: nothing may start
    changed: list[float] = []
    remote.on_workers_changed = lambda: changed.append(time.monotonic())
    remote.heartbeat("w1", "w1", "workers", 1, [])
    assert cap.limit("workers") == 1 and len(changed) == 1
    remote.heartbeat("w1", "w1", "workers", 1, [])  # the same worker again: no new capacity, no wake
    assert len(changed) == 1
    remote.heartbeat("w2", "w2", "workers", 4, [])
    assert cap.limit("workers") == 3 and len(changed) == 2  # 1 + 4 workers' slots, capped by the group's 3
    assert cap.limit("local") == 8
    remote.heartbeat("w2", "w2", "workers", 1, [])  # a worker restarted with another concurrency
    assert cap.limit("workers") == 2 and len(changed) == 3
    # both workers fall silent: their slots leave with them after the lease
    wait_for(lambda: cap.limit("workers") == 0, timeout=5, what="the lease to expire")
    assert cap.live_workers("workers") == []
    remote.heartbeat("w1", "w1", "workers", 1, [])  # back within the reaper's memory: counted and woken
    assert cap.limit("workers") == 1 and len(changed) == 4


def test_hosts_are_counted_once_per_machine(remote: CeleryExecutor) -> None:
    cap = GroupCapacity(SLOTS.get, remote)
    host = {"host_id": "m1", "cpus": 4, "mem_bytes": 8 << 30, "disk_bytes": 100 << 30}
    remote.heartbeat("a", "a", "workers", 1, [], host)
    remote.heartbeat("b", "b", "workers", 1, [], host)
    remote.heartbeat("c", "c", "workers", 1, [], {**host, "host_id": "m2", "cpus": 2})
    remote.heartbeat("d", "d", "workers", 1, [])  # an older worker that does not report its host
    hosts = cap.live_hosts("workers")
    assert sorted((h or {}).get("cpus", 0) for h in hosts) == [0, 2, 4]


def test_without_a_broker_every_group_has_its_slot_count() -> None:
    cap = GroupCapacity(SLOTS.get, None)
    assert (cap.limit("local"), cap.limit("workers"), cap.limit("unknown")) == (8, 3, None)
    assert not cap.served_by_workers("workers") and cap.live_hosts("workers") == []
