"""Workflow concurrency (TriggerWorkflowRunConfiguration): which queued runs of a workflow may start.

Pure bookkeeping, no I/O (decisions.md Q-C1..Q-C4). At most `MaxConcurrentNum` runs of a workflow are
admitted at a time; the others wait in FIFO order (`QueuingMode` 1) or are skipped at once (0). Nested
runs (started by a RunWorkflow node) bypass the limit (Q-N2): their parent already holds a place, and
making them wait for it could deadlock.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


class Verdict(enum.Enum):
    ADMIT = "admit"
    SKIP = "skip"  # over the limit with queueing off: the run ends SKIPED


@dataclass
class WorkflowQueue:
    max_concurrent: int
    queuing: bool
    admitted: set[str] = field(default_factory=set)  # admitted runs that count against the limit
    queue: deque[str] = field(default_factory=deque)

    def wait(self, run_id: str) -> None:
        self.queue.append(run_id)

    def holds(self, run_id: str, *, nested: bool) -> None:
        """A run already admitted (restart recovery): it counts unless nested."""
        if not nested:
            self.admitted.add(run_id)

    def forget(self, run_id: str) -> None:
        """A run ended: it frees its place, or leaves the queue."""
        self.admitted.discard(run_id)
        if run_id in self.queue:
            self.queue.remove(run_id)

    def drain(self, waiting_nested: Callable[[str], bool | None]) -> list[tuple[str, Verdict]]:
        """Decide for queued runs, first come first served, while places are free (or skip, without queueing).

        `waiting_nested(run_id)` tells whether a queued run is nested, or None when it no longer waits
        (ended, or admitted meanwhile): such entries are dropped. Admitted runs are counted at once.
        """
        out: list[tuple[str, Verdict]] = []
        while self.queue:
            run_id = self.queue[0]
            nested = waiting_nested(run_id)
            if nested is None:
                self.queue.popleft()
                continue
            if not nested and len(self.admitted) >= self.max_concurrent:
                if self.queuing:
                    break
                self.queue.popleft()
                out.append((run_id, Verdict.SKIP))
                continue
            self.queue.popleft()
            self.holds(run_id, nested=nested)
            out.append((run_id, Verdict.ADMIT))
        return out
