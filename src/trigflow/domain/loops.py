"""The iteration window of a For-each node (TaskTypeId 137): which iterations start, and when the node ends.

Pure state, no I/O: the engine (service/loops.py) feeds it "iteration i ended ok / not ok" and "starting
is no longer possible" and asks which iterations to start next and whether the node is done.

The rules (docs/task-types.md, For-each):

* iterations start in offset order, never more than `concurrency` at once; so the iterations ever started are
  always a prefix 0..k-1 of the elements (what the engine persists is just that prefix's child run ids);
* `STOP`: after the first failed iteration nothing more starts; iterations already running end on their own
  (they are not killed: their work is under way and killing it would leave it half done); the node fails once
  none runs;
* `CONTINUE`: every iteration runs; the node succeeds only if every iteration succeeded, else it fails once
  all have ended;
* `halt` (a child run could not be created: the body workflow was deleted, the nested-run quota was reached)
  stops starting under either policy; the node fails once none runs.

An empty loop succeeds at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["REFERENCE_RE", "Iteration", "Loop", "Outcome", "Policy", "element_text", "iteration_states", "parse_array"]


class Policy(StrEnum):
    STOP = "STOP"
    CONTINUE = "CONTINUE"


class Iteration(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


@dataclass
class Loop:
    """One attempt of a For-each node: one state per element, in offset order."""

    concurrency: int
    policy: Policy
    states: list[Iteration]
    halted: str | None = None  # why no more iterations may start (a launch failure), or None
    _next: int = field(default=0, repr=False)  # the lowest offset never started
    _running: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        started = [s is not Iteration.PENDING for s in self.states]
        self._next = started.index(False) if False in started else len(started)
        if any(started[self._next :]):
            raise ValueError("the started iterations must be a prefix of the elements")
        self._running = sum(s is Iteration.RUNNING for s in self.states)

    @classmethod
    def fresh(cls, total: int, concurrency: int, policy: Policy) -> Loop:
        return cls(concurrency, policy, [Iteration.PENDING] * total)

    @property
    def total(self) -> int:
        return len(self.states)

    @property
    def started(self) -> int:
        return self._next

    @property
    def running(self) -> int:
        return self._running

    def count(self, state: Iteration) -> int:
        return sum(s is state for s in self.states)

    @property
    def stopping(self) -> bool:
        """No further iteration may start."""
        if self.halted is not None:
            return True
        return self.policy is Policy.STOP and Iteration.FAILED in self.states

    def to_start(self) -> list[int]:
        """The offsets to start now, lowest first; the caller starts each and reports it (`begin`)."""
        if self.stopping:
            return []
        room = self.concurrency - self._running
        return list(range(self._next, min(self.total, self._next + max(0, room))))

    def begin(self, offset: int) -> None:
        if offset != self._next or self.stopping or self._running >= self.concurrency:
            raise ValueError(f"iteration {offset} cannot start now")
        self.states[offset] = Iteration.RUNNING
        self._next += 1
        self._running += 1

    def end(self, offset: int, ok: bool) -> bool:
        """Iteration `offset` ended; False (and no change) when it was not running (a late or repeated report)."""
        if not 0 <= offset < self.total or self.states[offset] is not Iteration.RUNNING:
            return False
        self.states[offset] = Iteration.SUCCESS if ok else Iteration.FAILED
        self._running -= 1
        return True

    def halt(self, why: str) -> None:
        if self.halted is None:
            self.halted = why

    def outcome(self) -> Outcome | None:
        """The node's end, or None while an iteration runs or one may still start."""
        if self._running:
            return None
        if self._next < self.total and not self.stopping:
            return None
        if self.halted is None and all(s is Iteration.SUCCESS for s in self.states):
            return Outcome.SUCCESS
        return Outcome.FAILED

    def failed_offsets(self) -> list[int]:
        return [i for i, s in enumerate(self.states) if s is Iteration.FAILED]


def iteration_states(started: Sequence[bool | None], total: int) -> list[Iteration]:
    """States of a loop rebuilt from what its started child runs show (True succeeded, False failed, None
    still running), in offset order; the rest have not started."""
    table = {True: Iteration.SUCCESS, False: Iteration.FAILED, None: Iteration.RUNNING}
    states = [table[s] for s in started]
    return states + [Iteration.PENDING] * (total - len(states))


# `loopDataArray` written as one parameter reference, `${name}` (blanks around it allowed).
REFERENCE_RE = re.compile(r"\s*\$\{([^{}$]+)\}\s*\Z")


def parse_array(text: str) -> list[Any]:
    """The elements of a JSON array text; ValueError (saying why, never quoting the text) otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"is not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(value, list):
        raise ValueError(f"is a JSON {type(value).__name__.replace('dict', 'object')}, not an array")
    return value


def element_text(element: Any) -> str:
    """`${dag.foreach.current}` of one element: a string as it is, anything else as compact JSON
    (`42`, `true`, `null`, `[1,"a"]`, `{"k":1}`), non-ASCII kept."""
    if isinstance(element, str):
        return element
    return json.dumps(element, ensure_ascii=False, separators=(",", ":"))
