"""What a branch node (tasktypes/branch.py) chooses when its run reaches it: its conditions evaluated over the
values a task attempt of the node would see (docs/branch.md, docs/parameters.md).

The values come from the same `Substitution` as any attempt's (service/attempt_params.py): the run's
parameters, the task's own, time expressions, and the node's `ParamTaskInList` inputs from upstream outputs,
which are data (never expanded, never pasted into the condition: domain/branch_expr.py). Kept apart from the
execution machine so the engine only asks "which targets?" and gets an answer or an error to fail the node with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trigflow.domain.branch import BranchCondition, BranchEvaluationError, decide, resolve_values
from trigflow.domain.errors import ApiError
from trigflow.domain.params import ExpansionTooLarge, Substitution, baseline_for, merge_params, resolve_inputs
from trigflow.service.attempt_params import DEFAULT_TZ, ParamLimits, data_names
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.branch import BranchNode

BRANCH_FAILED = "BranchConditionError"  # ErrorCodeStr prefix of a branch node that could not decide


@dataclass(frozen=True, slots=True)
class BranchChoice:
    conditions: tuple[BranchCondition, ...]
    chosen: frozenset[str]


class BranchUndecided(Exception):
    """The node cannot decide; `message` is its ErrorCodeStr (it names the condition, never a value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def choose(
    node: BranchNode,
    row: Mapping[str, Any],
    outputs_by_task: Mapping[str, Mapping[str, str]],
    limits: ParamLimits,
) -> BranchChoice:
    """The targets the branch node's task run `row` runs; raises BranchUndecided."""
    spec = row["spec"]
    try:
        conditions = node.conditions(spec)
        inputs, _ = resolve_inputs(run_spec.inputs(spec), outputs_by_task)
        stored = json.loads(row["run_params"])
        merged = merge_params(stored, inputs)
        baseline = baseline_for(row["schedule_ms"], row["timezone"] or DEFAULT_TZ)
        sub = Substitution(merged, baseline, data=data_names(spec, stored, inputs), limit=limits.max_expanded_chars)
        chosen = decide(conditions, resolve_values(conditions, sub))
    except BranchEvaluationError as e:
        raise BranchUndecided(f"{BRANCH_FAILED}: {e}") from None
    except ApiError as e:  # e.g. a time zone the server no longer knows
        raise BranchUndecided(f"{BRANCH_FAILED}: {e.message}") from None
    except ExpansionTooLarge as e:
        raise BranchUndecided(
            f"{BRANCH_FAILED}: substituting the parameters the conditions use would produce more than {e.limit} "
            "characters (trigflow up --max-expanded-size)"
        ) from None
    return BranchChoice(tuple(conditions), chosen)
