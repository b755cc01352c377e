"""Branch node (分支节点, TaskTypeId 130): conditions that choose which of its direct downstream tasks run.

The node's `TaskExtConfigurationList` key `branchConditions` holds a JSON array (docs/branch.md):

    [{"condition": "${flag} == 'a'", "taskId": "<direct downstream>", "description": "..."}, ...]

Each entry names one direct downstream task (its *target*) and a condition in the sandboxed Python-syntax
language of `trigflow.domain.branch_expr` (parameter references are data, never code). A local extension,
`{"taskId": "...", "default": true}` with no condition, names the task to run when no other condition holds.

What this module offers the task-type layer (it is pure: no I/O, no DAG access):

* `parse_branch_conditions(text, path)` — save time: the JSON shape, at most `MAX_BRANCHES` entries, each
  `taskId` once, at most one default, every condition compiled (InvalidParameterValue naming
  `<path>[i].condition` and why);
* `check_targets(conditions, downstream_ids, path)` — save/submit time, with the node's direct downstream task
  ids from the DAG: every target must be one (InvalidParameterValue naming `<path>[i].taskId`);
* `targets(conditions)` — the task ids a run's `RunGraph` gives the node (`Node.branch`);
* `resolve_values(conditions, substitution)` — run time: the values of the names the conditions use, from the
  attempt's `Substitution` (run parameters, upstream outputs as data, time expressions);
* `decide(conditions, values)` — run time: the set of targets to run. Every true condition's target runs
  (several may be true, as in WeData); when none holds, the default's target runs if there is one, else none.
  A condition that cannot be evaluated raises `BranchEvaluationError`: the node fails (as DataWorks fails a
  branch node on an expression error) instead of guessing a path.

`RunGraph.decide_branch(exec_id, chosen)` then ends the node SUCCESS and skips every target not chosen (what
only those lead to follows by the dependency rules; docs/branch.md "How skips spread").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from trigflow.domain.branch_expr import (
    ConditionEvaluationError,
    ConditionSyntaxError,
    Expression,
    compile_condition,
)
from trigflow.domain.condition_lists import json_condition_list
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.params import Substitution, join_segments

__all__ = [
    "BRANCH_CONDITIONS_KEY",
    "MAX_BRANCHES",
    "BranchCondition",
    "BranchEvaluationError",
    "check_targets",
    "decide",
    "parse_branch_conditions",
    "referenced_names",
    "resolve_values",
    "targets",
]

BRANCH_CONDITIONS_KEY = "branchConditions"  # the TaskExtConfigurationList ParamKey
MAX_BRANCHES = 50  # WeData's and DataWorks' limit


class BranchEvaluationError(ValueError):
    """A condition could not be evaluated at run time; the message names it (`branchConditions[i].condition`)."""


@dataclass(frozen=True)
class BranchCondition:
    """One entry of `branchConditions`: a target task and when it runs."""

    index: int  # position in the array, for messages
    task_id: str
    condition: str  # as written; "" for the default branch
    description: str
    default: bool = False
    expression: Expression | None = None  # None exactly for the default branch

    @property
    def names(self) -> tuple[str, ...]:
        """The `${...}` names the condition uses."""
        return self.expression.names if self.expression is not None else ()


def parse_branch_conditions(text: str, path: str) -> list[BranchCondition]:
    """The conditions of `branchConditions` JSON; refuses anything that could not be evaluated safely.

    `path` is the field as the client sent it, e.g.
    `TriggerTaskConfiguration.TaskExtConfigurationList.branchConditions`. Unknown keys of an entry are ignored
    (the task keeps its TaskExtConfigurationList verbatim).
    """
    raw = json_condition_list(text, path, "branch conditions", MAX_BRANCHES)
    out: list[BranchCondition] = []
    seen: dict[str, int] = {}
    default_at: int | None = None
    for i, item in enumerate(raw):
        at = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise InvalidParameterValue(f"{at} must be a JSON object with condition and taskId")
        task_id = item.get("taskId")
        if not isinstance(task_id, str) or not task_id:
            raise InvalidParameterValue(f"{at}.taskId must be a task id")
        if task_id in seen:
            raise InvalidParameterValue(
                f"{at}.taskId: task {task_id} already has a condition ({path}[{seen[task_id]}]); "
                "combine the two with `or`"
            )
        seen[task_id] = i
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidParameterValue(f"{at}.description must be text")
        is_default = item.get("default", False)
        if not isinstance(is_default, bool):
            raise InvalidParameterValue(f"{at}.default must be true or false")
        condition = item.get("condition")
        if is_default:
            if condition not in (None, ""):
                raise InvalidParameterValue(f"{at}.condition must be empty on the default branch (default: true)")
            if default_at is not None:
                raise InvalidParameterValue(f"{at}.default: {path}[{default_at}] is already the default branch")
            default_at = i
            out.append(BranchCondition(i, task_id, "", description or "", default=True))
            continue
        if not isinstance(condition, str):
            raise InvalidParameterValue(f"{at}.condition must be text: a test such as ${{flag}} == 'a'")
        try:
            expression = compile_condition(condition)
        except ConditionSyntaxError as e:
            raise InvalidParameterValue(f"{at}.condition {e}") from None
        out.append(BranchCondition(i, task_id, condition, description or "", expression=expression))
    return out


def check_targets(conditions: Sequence[BranchCondition], downstream_ids: Collection[str], path: str) -> None:
    """Refuse a target that is not a direct downstream of the branch node (`downstream_ids`, from the DAG).

    A direct downstream can never also be an upstream in a DAG, which covers WeData's "the associated task may
    not be an (in)direct upstream". Call it once the DAG is complete (the targets usually do not exist yet
    when the branch node is first created).
    """
    for c in conditions:
        if c.task_id not in downstream_ids:
            known = ", ".join(sorted(downstream_ids)[:20]) or "none"
            raise InvalidParameterValue(
                f"{path}[{c.index}].taskId: task {c.task_id} is not a direct downstream of this branch node "
                f"(its direct downstream tasks: {known})"
            )


def targets(conditions: Iterable[BranchCondition]) -> frozenset[str]:
    """Every task id a condition names: what `RunGraph` gives the node (`Node.branch`)."""
    return frozenset(c.task_id for c in conditions)


def referenced_names(conditions: Iterable[BranchCondition]) -> tuple[str, ...]:
    """Every `${...}` name the conditions use, each once, in order."""
    return tuple(dict.fromkeys(name for c in conditions for name in c.names))


def resolve_values(conditions: Iterable[BranchCondition], substitution: Substitution) -> dict[str, str]:
    """The value of every name the conditions use, as an attempt's `Substitution` resolves `${name}`.

    A name it leaves as written (unknown, a cycle, out of range) is absent, so `decide` names it in its error.
    May raise ExpansionTooLarge like any substitution.
    """
    values: dict[str, str] = {}
    for name in referenced_names(conditions):
        token = "${" + name + "}"
        segments = substitution.segments(token)
        if segments != [token]:  # a data value equal to its own token is a Data segment, so it still counts
            values[name] = join_segments(segments)
    return values


def decide(conditions: Sequence[BranchCondition], values: Mapping[str, str]) -> frozenset[str]:
    """The targets to run: every true condition's, else the default's, else none.

    Every condition is evaluated (a later error is not hidden by an earlier true condition). Raises
    BranchEvaluationError for the first one that cannot be evaluated.
    """
    chosen: set[str] = set()
    default: BranchCondition | None = None
    for c in conditions:
        if c.expression is None:
            default = c
            continue
        try:
            holds = c.expression.evaluate(values)
        except ConditionEvaluationError as e:
            raise BranchEvaluationError(f"branchConditions[{c.index}].condition {c.condition!r}: {e}") from None
        if holds:
            chosen.add(c.task_id)
    if not chosen and default is not None:
        chosen.add(default.task_id)
    return frozenset(chosen)
