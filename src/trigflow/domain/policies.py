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
    """Decide for one pending task. A task with no upstream runs at once, whatever its policy."""
    if not upstream:
        return Decision.RUN
    done = [s for s in upstream if s in TASK_TERMINAL]
    all_done = len(done) == len(upstream)
    ok = sum(s == _S.SUCCESS for s in done)
    failed = sum(s in TASK_FAILED_LIKE for s in done)
    skipped = sum(s == _S.SKIP for s in done)
    # Early decisions: the ONE_* policies fire as soon as one upstream qualifies.
    if policy == "ONE_FAILED" and failed:
        return Decision.RUN
    if policy == "ONE_SUCCESS" and ok:
        return Decision.RUN
    if policy == "ONE_DONE" and done:
        return Decision.RUN
    if not all_done:
        return Decision.WAIT
    n = len(upstream)
    if policy == "ALL_SUCCESS":
        if ok == n:
            return Decision.RUN
        return Decision.SKIP if skipped else Decision.UPSTREAM_FAILED
    if policy == "NONE_FAILED":
        return Decision.UPSTREAM_FAILED if failed else Decision.RUN
    passes = {
        "ALL_FAILED": failed == n,
        "ALL_DONE": True,
        "ALL_DONE_AT_LEAST_ONE_SUCCESS": ok >= 1,
        "ALL_SKIPPED": skipped == n,
        "ONE_FAILED": False,
        "ONE_SUCCESS": False,
        "ONE_DONE": True,
        "ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS": failed == 0 and ok >= 1,
        "NONE_SKIPPED": skipped == 0,
        "ALL_DONE_AT_LEAST_ONE_FAILED": failed >= 1,
    }.get(policy)
    if passes is None:
        raise ValueError(f"unknown DependencyTriggerPolicy {policy!r}")
    return Decision.RUN if passes else Decision.SKIP
