"""Merge node (归并节点, run-level TaskType `Dependent`): succeed when chosen upstream end states hold.

Conditions come from `TaskTypeExtensions.mergeCondition` (a JSON array, as in the seed); each names an
upstream task and its acceptable final states as the scheduler's numeric instance codes. Choices of
decisions.md Q-M1..Q-M3: 2 = success, 21 = skipped ("branch not executed"), any of 4/5/8/13 = failed
(failed, upstream failed or killed); unknown codes are ignored. OR (default): succeed as soon as one
condition holds, fail once every listed upstream ended without one holding. AND: fail as soon as a
listed upstream ends in a state not accepted, succeed when all hold. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from trigflow.domain.condition_lists import json_condition_list
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.states import TASK_TERMINAL, TaskState

SUCCESS_CODE, SKIP_CODE = 2, 21
FAILURE_CODES = frozenset({4, 5, 8, 13})
DEFAULT_EXPECTATION = (SUCCESS_CODE, SKIP_CODE)  # the console's default: success or branch not executed
MAX_CONDITIONS = 50


class MergeOutcome(StrEnum):
    WAIT = "wait"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class Condition:
    upstream_task_id: str
    accepted: frozenset[TaskState]


def accepted_states(codes: Sequence[int]) -> frozenset[TaskState]:
    states: set[TaskState] = set()
    for code in codes:
        if code == SUCCESS_CODE:
            states.add(TaskState.SUCCESS)
        elif code == SKIP_CODE:
            states.add(TaskState.SKIP)
        elif code in FAILURE_CODES:
            states |= {TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.KILLED}
    return frozenset(states)


def parse_conditions(text: str, path: str) -> tuple[list[Condition], str]:
    """Conditions and relation from `mergeCondition` JSON; refuses what could never be evaluated."""
    raw = json_condition_list(text, path, "merge conditions", MAX_CONDITIONS)
    conditions: list[Condition] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        upstream = item.get("upstreamTaskId") if isinstance(item, dict) else None
        if not isinstance(upstream, str) or not upstream:
            raise InvalidParameterValue(f"{path}[{i}].upstreamTaskId must be a task id")
        if upstream in seen:
            raise InvalidParameterValue(f"{path}[{i}]: upstream task {upstream} appears twice")
        seen.add(upstream)
        codes = item.get("expectationState", list(DEFAULT_EXPECTATION))
        if not isinstance(codes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
            raise InvalidParameterValue(f"{path}[{i}].expectationState must be a list of state codes")
        conditions.append(Condition(upstream, accepted_states(codes)))
    return conditions, "OR"


def relation_of(text: str | None, path: str) -> str:
    relation = (text or "OR").upper()
    if relation not in ("AND", "OR"):
        raise InvalidParameterValue(f"{path} must be AND or OR, got {text!r}")
    return relation


def evaluate(conditions: Sequence[Condition], relation: str, states: Mapping[str, TaskState]) -> MergeOutcome:
    """Outcome given the current states of upstream task runs (absent upstreams were not selected)."""
    live = [c for c in conditions if c.upstream_task_id in states]  # partial runs drop absent upstreams (Q-R3)
    if not live:
        return MergeOutcome.SUCCESS
    ended = [(c, states[c.upstream_task_id]) for c in live if states[c.upstream_task_id] in TASK_TERMINAL]
    held = [c for c, s in ended if s in c.accepted]
    if relation == "AND":
        if len(held) < len(ended):
            return MergeOutcome.FAILED
        return MergeOutcome.SUCCESS if len(held) == len(live) else MergeOutcome.WAIT
    if held:
        return MergeOutcome.SUCCESS
    return MergeOutcome.FAILED if len(ended) == len(live) else MergeOutcome.WAIT
