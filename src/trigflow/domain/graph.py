"""The live DAG of one workflow run: which task runs may start now, and what cascades from an event.

Kept in memory by the scheduler (it is the only writer of task-run states), so a finished task costs
O(its downstream) work instead of re-reading the whole run. Pure: no clock, no I/O.

A branch node (`Node.branch`, docs/branch.md) is offered by `ready()` like a task, but the caller evaluates
its conditions (they need parameter values) and reports the outcome with `decide_branch` (or `LAUNCH_FAIL`
when a condition cannot be evaluated). Its *targets* (the downstream tasks its conditions name) are gated:
neither started nor decided while the branch node has not ended, so the decision always comes first whatever
a target's policy (`ONE_SUCCESS` with another finished parent, or a merge node, would otherwise race it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from trigflow.domain.policies import Decision, decide
from trigflow.domain.states import (
    TASK_TERMINAL,
    RunEvent,
    TaskEvent,
    TaskState,
    rollup,
    task_transition,
)

# A control node's decision (a merge node's conditions, trigflow.tasktypes): its upstreams' states by task id
# -> its own event (e.g. MERGE_OK), or None while it must wait.
Control = Callable[[Mapping[str, TaskState]], TaskEvent | None]


@dataclass(slots=True)
class Node:
    exec_id: str  # task-run ExecutionId
    task_id: str
    state: TaskState
    upstream: tuple[str, ...]  # task ids inside this run
    policy: str = "ALL_SUCCESS"
    deps_met: bool = False  # DependenceFinishedTime recorded
    downstream: list[str] = field(default_factory=list)
    not_before: int = 0  # epoch ms before which a retry must not start (RetryWaitMinute)
    control: Control | None = None  # a control node (runs nothing): how it decides from its upstreams
    branch: frozenset[str] | None = None  # a branch node: the task ids its conditions name (domain.branch)
    gates: tuple[str, ...] = ()  # branch nodes naming this task: it waits for their decision (rebuilt)


@dataclass(frozen=True, slots=True)
class Change:
    """One state change the caller must persist (and act on, for DISPATCH)."""

    exec_id: str
    task_id: str
    event: TaskEvent
    before: TaskState
    after: TaskState


class RunGraph:
    """Task runs of one workflow run, indexed by task id."""

    def __init__(self, run_id: str, nodes: Iterable[Node]) -> None:
        self.run_id = run_id
        self.nodes: dict[str, Node] = {n.task_id: n for n in nodes}
        self.by_exec: dict[str, Node] = {n.exec_id: n for n in self.nodes.values()}
        for n in self.nodes.values():
            n.downstream = []  # rebuilt here, so Nodes can be reused to build another graph
        for n in self.nodes.values():
            # Edges to tasks outside the run (partial runs) are dropped: decisions.md Q-R3.
            n.upstream = tuple(u for u in n.upstream if u in self.nodes)
            for u in n.upstream:
                self.nodes[u].downstream.append(n.task_id)
            # A target is a direct downstream its branch node names; other names (not in this run, or no
            # longer downstream) are ignored.
            n.gates = tuple(u for u in n.upstream if (b := self.nodes[u].branch) is not None and n.task_id in b)

    def apply(self, exec_id: str, event: TaskEvent) -> list[Change]:
        """Apply one event to a task run and cascade the dependency decisions it causes.

        Returns every change in order (the event's own change first); an empty list means the
        event was refused (e.g. a late exit of an already killed task) and nothing changed.
        """
        node = self.by_exec.get(exec_id)
        if node is None or event is TaskEvent.BRANCH_OK:  # only decide_branch, which also skips the unchosen
            return []
        t = task_transition(node.state, event)
        if not t.accepted:
            return []
        node.state = t.after
        changes = [Change(exec_id, node.task_id, event, t.before, t.after)]
        if t.after in TASK_TERMINAL:
            changes.extend(self._cascade(node.downstream))
        return changes

    def decide_branch(self, exec_id: str, chosen: AbstractSet[str]) -> list[Change]:
        """A branch node's decision: it ends SUCCESS, each target not in `chosen` is skipped, the cascade follows.

        `chosen` is `domain.branch.decide`'s answer; ids that are not targets are ignored, and downstream
        tasks no condition names run as after any success. Returns [] (nothing changed) for a node that is not
        a pending branch node. What the skipped targets lead to is decided by the usual rules: an
        `ALL_SUCCESS` task with a skipped upstream is skipped, a merge node accepting 21 re-joins.
        """
        node = self.by_exec.get(exec_id)
        if node is None or node.branch is None:
            return []
        t = task_transition(node.state, TaskEvent.BRANCH_OK)
        if not t.accepted:
            return []
        node.state = t.after
        changes = [Change(exec_id, node.task_id, TaskEvent.BRANCH_OK, t.before, t.after)]
        follow: list[str] = []
        for d in node.downstream:
            if d in chosen or d not in node.branch:
                continue
            target = self.nodes[d]
            s = task_transition(target.state, TaskEvent.SKIP)
            if s.accepted:  # a target is gated, so it is still PENDING unless it was killed
                target.state = s.after
                changes.append(Change(target.exec_id, d, TaskEvent.SKIP, s.before, s.after))
                follow.extend(target.downstream)
        changes.extend(self._cascade(follow + node.downstream))
        return changes

    def kill_all(self) -> list[Change]:
        """Stop every non-terminal task run at once; no dependency decisions cascade from a whole-run kill."""
        return self.end_all(TaskEvent.KILL)

    def end_all(self, event: TaskEvent) -> list[Change]:
        """Offer `event` to every task run without cascading (whole-run kill, or a skipped run's SKIP)."""
        changes = []
        for n in self.nodes.values():
            t = task_transition(n.state, event)
            if t.accepted:
                n.state = t.after
                changes.append(Change(n.exec_id, n.task_id, event, t.before, t.after))
        return changes

    def ready(self, now: int | None = None) -> list[Node]:
        """Pending task runs whose dependencies pass (and whose retry wait is over at `now`)."""
        out = []
        for n in self.nodes.values():
            if n.state != TaskState.PENDING or n.control is not None or (now is not None and n.not_before > now):
                continue
            if n.gates and self._gated(n):
                continue
            if self._decision(n) == Decision.RUN:
                out.append(n)
        return out

    def initial_changes(self) -> list[Change]:
        """Decisions that hold before anything runs (e.g. a run resumed after a restart)."""
        return self._cascade([n.task_id for n in self.nodes.values() if n.state == TaskState.PENDING])

    def rollup(self) -> RunEvent | None:
        return rollup([n.state for n in self.nodes.values()])

    def _decision(self, n: Node) -> Decision:
        return decide(n.policy, [self.nodes[u].state for u in n.upstream])

    def _gated(self, n: Node) -> bool:
        """Whether a branch node naming `n` has not ended yet (its decision comes before anything else)."""
        return any(self.nodes[b].state not in TASK_TERMINAL for b in n.gates)

    def _cascade(self, start: list[str]) -> list[Change]:
        changes: list[Change] = []
        todo = list(start)
        while todo:
            n = self.nodes[todo.pop()]
            if n.state != TaskState.PENDING or (n.gates and self._gated(n)):
                continue
            if n.control is not None:
                event = n.control({u: self.nodes[u].state for u in n.upstream})
            else:
                d = self._decision(n)
                event = {Decision.SKIP: TaskEvent.SKIP, Decision.UPSTREAM_FAILED: TaskEvent.UPSTREAM_FAIL}.get(d)
            if event is None:
                continue
            t = task_transition(n.state, event)
            n.state = t.after
            changes.append(Change(n.exec_id, n.task_id, event, t.before, t.after))
            todo.extend(n.downstream)
        return changes
