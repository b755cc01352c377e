"""Merge node (131, 归并; runs show it as `Dependent` with TaskTypeId 0): a decision from its upstreams' end
states, never a process (domain/merge.py, decisions.md Q-M1..Q-M3, docs/merge-conditions.md).

Its upstreams are the tasks its `mergeCondition` names: saving it adds those edges to the DAG, and an
explicit upstream no condition names is refused (it would be accepted and never waited for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.merge import Condition, MergeOutcome, evaluate, parse_conditions, relation_of
from trigflow.domain.states import TaskEvent, TaskState
from trigflow.tasktypes.base import ControlNode, Decision, Labels, Paths

KIND = "MERGE"
_EVENTS = {MergeOutcome.SUCCESS: TaskEvent.MERGE_OK, MergeOutcome.FAILED: TaskEvent.MERGE_FAIL}


@dataclass(frozen=True, slots=True)
class MergeDecision:
    """A merge node's conditions and relation, parsed once when the engine loads the task run."""

    conditions: tuple[Condition, ...]
    relation: str

    def __call__(self, states: Mapping[str, TaskState]) -> TaskEvent | None:
        return _EVENTS.get(evaluate(self.conditions, self.relation, states))


class MergeNode(ControlNode):
    def validate(
        self, config: Mapping[str, Any], ext: Mapping[str, Any], paths: Paths, explicit: Sequence[str]
    ) -> list[str]:
        conditions, _ = parse_conditions(ext.get("mergeCondition") or "", f"{paths.ext}.mergeCondition")
        relation_of(ext.get("mergeRelation"), f"{paths.ext}.mergeRelation")
        merged = [c.upstream_task_id for c in conditions]
        extra = [u for u in explicit if u not in merged]
        if extra:  # it would be accepted and never waited for (found writing docs/merge-conditions.md)
            raise InvalidParameterValue(
                f"{paths.upstreams}: task {extra[0]} is not named in the merge node's "
                f"{paths.ext}.mergeCondition; a merge node waits only for the tasks its conditions name "
                "(add a condition for it, or drop the dependency)"
            )
        return merged

    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": code,
            "merge_condition": ext.get("mergeCondition"),
            "merge_relation": ext.get("mergeRelation") or "OR",
        }

    def extensions(self, common: dict[str, str], ext: Mapping[str, Any]) -> dict[str, str]:
        # The seed's merge node shows only its own keys plus mergeCondition: no broker.
        return {k: v for k, v in common.items() if k != "brokerIp"}

    def decision(self, spec: Mapping[str, Any]) -> Decision:
        text = spec.get("merge_condition")
        conditions = parse_conditions(text, "mergeCondition")[0] if text else []
        return MergeDecision(tuple(conditions), str(spec.get("merge_relation") or "OR").upper())


MERGE = MergeNode(
    Labels(131, design=KIND, desc="归并", category="GENERAL", run_type="Dependent", run_type_id=0), KIND
)
