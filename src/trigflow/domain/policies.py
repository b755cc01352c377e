"""Dependency trigger policies: given the states of a task's upstream runs, may it run yet?

Pure rules from semantics.md §4.2 with the precedence choices of decisions.md (Q-T2, Q-T6):
WeData waits for *all* upstreams before judging ALL_SUCCESS (no fail-fast), and under ALL_SUCCESS
a skipped upstream wins over a failed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from trigflow.domain.states import TASK_FAILED_LIKE, TASK_TERMINAL, TaskState


class Decision(StrEnum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


POLICIES: tuple[str, ...] = (
    "ALL_SUCCESS",
    "ALL_FAILED",
    "ALL_DONE",
    "ALL_DONE_AT_LEAST_ONE_SUCCESS",
    "ALL_SKIPPED",
    "ONE_FAILED",
    "ONE_SUCCESS",
    "ONE_DONE",
    "NONE_FAILED",
    "ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS",
    "NONE_SKIPPED",
    "ALL_DONE_AT_LEAST_ONE_FAILED",
)

_S = TaskState


def decide(policy: str, upstream: Sequence[TaskState]) -> Decision:
    """Decide for one pending task. A task with no upstream runs at once, whatever its policy.

    The sets are taken literally from the policy table: "failed" means FAILED or UPSTREAM_FAILED
    (Q-T2), and a state outside a rule's positive set (e.g. KILLED) never satisfies it.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown DependencyTriggerPolicy {policy!r}")
    if not upstream:
        return Decision.RUN
    done = [s for s in upstream if s in TASK_TERMINAL]
    ok = sum(s == _S.SUCCESS for s in done)
    failed = sum(s in TASK_FAILED_LIKE for s in done)
    skipped = sum(s == _S.SKIP for s in done)
    # Early decisions: the ONE_* policies fire as soon as one upstream qualifies.
    if (policy == "ONE_FAILED" and failed) or (policy == "ONE_SUCCESS" and ok) or (policy == "ONE_DONE" and done):
        return Decision.RUN
    if len(done) < len(upstream):
        return Decision.WAIT
    n = len(upstream)
    if policy == "ALL_SUCCESS":
        if ok == n:
            return Decision.RUN
        return Decision.SKIP if skipped else Decision.UPSTREAM_FAILED
    if policy == "NONE_FAILED":
        return Decision.RUN if ok + skipped == n else Decision.UPSTREAM_FAILED
    passes = {
        "ALL_FAILED": failed == n,
        "ALL_DONE": True,
        "ALL_DONE_AT_LEAST_ONE_SUCCESS": ok >= 1,
        "ALL_SKIPPED": skipped == n,
        "ONE_FAILED": False,
        "ONE_SUCCESS": False,
        "ONE_DONE": True,
        "ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS": ok >= 1 and ok + skipped == n,
        "NONE_SKIPPED": ok + failed == n,
        "ALL_DONE_AT_LEAST_ONE_FAILED": failed >= 1,
    }[policy]
    return Decision.RUN if passes else Decision.SKIP
