"""Resource-group slots: how many task runs each group is running, and who waits for a slot next.

Pure bookkeeping, no I/O. The engine changes these counters in the same batch (transaction) as the
state change they mirror, so they cannot drift from the database. Within a group, waiting task runs
are started by RunPriorityType (4 before 5 before 6), then first come first served.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator


class GroupQueues:
    def __init__(self) -> None:
        self._used: dict[str, int] = {}
        self._heaps: dict[str, list[tuple[int, int, int, str]]] = {}  # (priority, ready_ms, seq, exec_id)
        self._queued: set[str] = set()  # task runs currently waiting; heap entries of others are stale
        self._seq = itertools.count()

    def clear(self) -> None:
        self._used.clear()
        self._heaps.clear()
        self._queued.clear()

    # --- waiting ------------------------------------------------------------------------------

    def push(self, exec_id: str, group: str, priority: int, ready_ms: int) -> bool:
        """Queue a ready task run; False if it already waits."""
        if exec_id in self._queued:
            return False
        self._queued.add(exec_id)
        heapq.heappush(self._heaps.setdefault(group, []), (priority, ready_ms, next(self._seq), exec_id))
        return True

    def discard(self, exec_id: str) -> None:
        """Stop waiting (skipped, killed, ...); its heap entry is dropped lazily when reached."""
        self._queued.discard(exec_id)

    def is_waiting(self, exec_id: str) -> bool:
        return exec_id in self._queued

    def waiting(self) -> set[str]:
        return set(self._queued)

    def startable(self, limit_of: Callable[[str], int | None]) -> Iterator[str]:
        """Waiting task runs, best first per group, for as long as their group has a free slot.

        The limit is re-checked before each one, so a caller that `take`s a slot for what it starts
        (and not for what it turns out it cannot start) gets exactly the group's capacity. A `None`
        limit means unlimited.
        """
        for group, heap in self._heaps.items():
            limit = limit_of(group)
            while heap and (limit is None or self._used.get(group, 0) < limit):
                exec_id = heapq.heappop(heap)[3]
                if exec_id in self._queued:
                    self._queued.discard(exec_id)
                    yield exec_id

    # --- slots held ---------------------------------------------------------------------------

    def take(self, group: str) -> None:
        self._used[group] = self._used.get(group, 0) + 1

    def release(self, group: str) -> None:
        self._used[group] = max(0, self._used.get(group, 0) - 1)

    def in_use(self) -> dict[str, int]:
        return {g: n for g, n in self._used.items() if n}

    def snapshot(self) -> tuple[dict[str, int], set[str]]:
        """Slots held per group and the waiting task runs, for a reader on another thread (the metrics
        sampler): `dict.copy` and `set.copy` of str keys run under the GIL without calling Python code,
        so each copy is consistent without a lock on the engine's hot path."""
        return self._used.copy(), self._queued.copy()
