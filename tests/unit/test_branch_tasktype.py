"""The Branch task type (tasktypes/branch.py) and its run-time choice (service/branch_decisions.py), without a
server: what it freezes, its submit check, and how the engine's inputs become a decision or a refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trigflow.domain.errors import InvalidParameterValue
from trigflow.service.attempt_params import ParamLimits
from trigflow.service.branch_decisions import BranchUndecided, choose
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes.base import Paths
from trigflow.tasktypes.branch import BRANCH, CHOSEN_KEY

EXT = "TriggerTaskConfiguration.TaskExtConfigurationList"
CONDITIONS = json.dumps([
    {"condition": "${flag} == 'a'", "taskId": "A"},
    {"condition": "${flag} == 'b' and ${n} > 10", "taskId": "B"},
    {"taskId": "D", "default": True},
])  # fmt: skip


def row(ext_text: str | None = CONDITIONS, params: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    frozen = {**BRANCH.freeze("", {"branchConditions": ext_text} if ext_text is not None else {}), **spec}
    return {"spec": frozen, "run_params": json.dumps(params or {}), "schedule_ms": 0, "timezone": "UTC"}


def test_registered_without_a_slot_and_frozen_specs_resolve_to_it() -> None:
    assert TASK_TYPES[130] is BRANCH and not BRANCH.holds_slot
    assert TASK_TYPES.of_spec(row()["spec"]) is BRANCH
    assert BRANCH.targets(row()["spec"]) == frozenset({"A", "B", "D"})
    assert BRANCH.targets(row(None)["spec"]) == frozenset()  # deciding will fail it, naming why


def test_saved_without_conditions_but_compiled_when_given() -> None:
    assert BRANCH.validate({}, {}, Paths(), []) == []
    with pytest.raises(InvalidParameterValue, match=r"Task\.TriggerTaskConfiguration.*branchConditions\[0\]"):
        BRANCH.validate({}, {"branchConditions": '[{"condition": "x == 1", "taskId": "A"}]'}, Paths("Task."), [])


def test_submit_requires_conditions_whose_targets_are_direct_downstreams() -> None:
    with pytest.raises(InvalidParameterValue, match="branchConditions is required to submit a branch node"):
        BRANCH.check_submit({}, {"A"}, EXT)
    with pytest.raises(InvalidParameterValue, match=r"branchConditions\[1\]\.taskId: task B is not a direct"):
        BRANCH.check_submit({"branchConditions": CONDITIONS}, {"A", "D"}, EXT)
    BRANCH.check_submit({"branchConditions": CONDITIONS}, {"A", "B", "D", "other"}, EXT)


@pytest.mark.parametrize(
    ("params", "outputs", "want"),
    [
        ({"flag": "a", "n": "0"}, {}, {"A"}),  # every condition is evaluated: n needs a value too
        ({"flag": "b", "n": "12"}, {}, {"B"}),
        ({"flag": "b", "n": "3"}, {}, {"D"}),  # none held: the default
        ({"flag": "' or 1 == 1 or '", "n": "1"}, {}, {"D"}),  # a value is data
        ({"flag": "x", "n": "1"}, {"up": {"f": "a"}}, {"A"}),  # the input from upstream overrides the run's
    ],
)
def test_the_choice_reads_run_parameters_and_upstream_outputs(
    params: dict[str, str], outputs: dict[str, dict[str, str]], want: set[str]
) -> None:
    inputs = [{"ParamKey": "flag", "FromTaskId": "up", "FromParamKey": "f"}] if outputs else []
    choice = choose(BRANCH, row(params=params, inputs=inputs), outputs, ParamLimits())
    assert choice.chosen == want


def test_trusted_values_expand_and_time_expressions_resolve() -> None:
    r = row(json.dumps([{"condition": "${flag} == 'v-19700101'", "taskId": "A"}]), {"flag": "v-${yyyyMMdd}"})
    assert choose(BRANCH, r, {}, ParamLimits()).chosen == {"A"}


def test_a_condition_that_cannot_be_evaluated_is_refused_without_its_values() -> None:
    r = row(json.dumps([{"condition": "${flag} < 3", "taskId": "A"}]), {"flag": "hunter2"})
    with pytest.raises(BranchUndecided) as e:
        choose(BRANCH, r, {}, ParamLimits())
    assert e.value.message.startswith("BranchConditionError: branchConditions[0].condition '${flag} < 3': cannot")
    assert "hunter2" not in e.value.message
    with pytest.raises(BranchUndecided, match="no value for"):
        choose(BRANCH, row(), {}, ParamLimits())
    with pytest.raises(BranchUndecided, match="has none"):
        choose(BRANCH, row(None), {}, ParamLimits())


def test_the_chosen_targets_join_the_extensions_in_condition_order() -> None:
    conditions = BRANCH.conditions(row()["spec"])
    text = BRANCH.chosen_extensions('{"branchConditions": "x"}', conditions, {"D", "A"})
    assert json.loads(text) == {"branchConditions": "x", CHOSEN_KEY: '["A","D"]'}
