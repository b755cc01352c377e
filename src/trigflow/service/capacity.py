"""The slot limit the engine enforces per resource group (issue 10 point 6, docs/workers.md).

A local group's capacity is its slot count (`Type.Schedule.Number`, UpdateResourceGroup's
`Number.Quantity`). A group served by Celery workers runs only as many task runs as its live workers have
slots: the limit is the sum of the `--concurrency` of the workers whose heartbeat is within the lease,
capped by the group's slot count (the operator's bound). A worker lost takes its slots with it: no new
attempt of the group is sent until a worker is back, so nothing waits in a queue nobody consumes; the
attempts it ran are declared lost by the lease and retried on the others (ADR 0006). A worker the server holds
not to consume its queue (C6, executors/celery_dispatch.py) counts as no worker: its slots would take attempts
nobody runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from trigflow.executors.celery_dispatch import CeleryExecutor


class GroupCapacity:
    def __init__(self, group_slots: Callable[[str], int | None], remote: CeleryExecutor | None) -> None:
        self.group_slots = group_slots
        self.remote = remote

    def served_by_workers(self, group: str) -> bool:
        return self.remote is not None and self.remote.serves(group)

    def live_workers(self, group: str) -> list[int]:
        """The concurrency of each live worker of `group`."""
        return [int(w["concurrency"]) for w in self._live(group)]

    def live_hosts(self, group: str) -> list[Mapping[str, Any] | None]:
        """The hosts of the live workers of `group` (executors/host_facts.py), each host once; None for a
        worker that did not report its host."""
        hosts: dict[str, Mapping[str, Any] | None] = {}
        for w in self._live(group):
            host = w.get("host")
            key = str(host.get("host_id")) if isinstance(host, Mapping) and host.get("host_id") else w["worker_id"]
            hosts[key] = host if isinstance(host, Mapping) else None
        return list(hosts.values())

    def _live(self, group: str) -> list[dict[str, Any]]:
        if self.remote is None:
            return []
        return [w for w in self.remote.workers() if w["group"] == group and w.get("consuming", True)]

    def limit(self, group: str) -> int | None:
        """What the engine asks before each dispatch; None: an unknown group, no limit to enforce."""
        slots = self.group_slots(group)
        if not self.served_by_workers(group):
            return slots
        assert self.remote is not None
        live = self.remote.live_slots(group)
        return live if slots is None else min(slots, live)
