"""The For-each window and policy (domain/loops.py), its settings (tasktypes/foreach.py) and the persisted progress
a restart rebuilds from (service/loops.py): pure, no server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.loops import Iteration, Loop, Outcome, Policy, element_text, iteration_states, parse_array
from trigflow.domain.states import RunState
from trigflow.service.attempt_params import DEFAULT_LIMITS, ParamLimits
from trigflow.service.loops import LoopRefused, LoopRun, base_extensions, prepare
from trigflow.tasktypes.base import Paths
from trigflow.tasktypes.foreach import FOR_EACH, LoopSettings, iteration_params, parse_settings


def drive(loop: Loop, results: list[bool], order: list[int]) -> tuple[list[int], int, Outcome]:
    """Run `loop` to its end: iteration i ends ok iff results[i]; `order` picks which running one ends next.
    Returns the offsets in start order, the most running at once, and the outcome."""
    started: list[int] = []
    most = 0
    picks = iter(order)
    while True:
        for offset in loop.to_start():
            # STOP: nothing starts once a failure was reported
            assert loop.policy is Policy.CONTINUE or Iteration.FAILED not in loop.states
            loop.begin(offset)
            started.append(offset)
        most = max(most, loop.running)
        outcome = loop.outcome()
        if outcome is not None:
            return started, most, outcome
        running = [i for i, s in enumerate(loop.states) if s is Iteration.RUNNING]
        assert running, "no iteration runs, yet the loop is not done"
        chosen = running[next(picks, 0) % len(running)]
        assert loop.end(chosen, results[chosen])


loops = st.tuples(
    st.lists(st.booleans(), max_size=30),
    st.integers(1, 8),
    st.sampled_from(list(Policy)),
    st.lists(st.integers(0, 50), max_size=60),
)


@settings(max_examples=400)
@given(loops)
def test_the_window_and_the_policies(case: tuple[list[bool], int, Policy, list[int]]) -> None:
    results, concurrency, policy, order = case
    loop = Loop.fresh(len(results), concurrency, policy)
    started, most, outcome = drive(loop, results, order)
    assert started == list(range(len(started)))  # in offset order, each once: a prefix
    assert most <= concurrency
    assert most == min(concurrency, len(results)) or policy is Policy.STOP  # the window is used
    assert (outcome is Outcome.SUCCESS) == all(results)
    if policy is Policy.CONTINUE:
        assert len(started) == len(results)  # every element ran
    elif not all(results):
        assert any(not results[i] for i in started)  # it stopped because one of them failed
    assert loop.running == 0 and Iteration.PENDING not in loop.states[: len(started)]


def test_serial_stop_runs_up_to_the_first_failure() -> None:
    loop = Loop.fresh(4, 1, Policy.STOP)
    started, most, outcome = drive(loop, [True, False, True, True], [])
    assert (started, most, outcome) == ([0, 1], 1, Outcome.FAILED)
    assert loop.failed_offsets() == [1] and loop.stopping


def test_stop_lets_running_iterations_end_before_failing() -> None:
    loop = Loop.fresh(5, 3, Policy.STOP)
    assert loop.to_start() == [0, 1, 2]
    for i in (0, 1, 2):
        loop.begin(i)
    assert loop.end(1, False)
    assert loop.to_start() == [] and loop.outcome() is None  # 0 and 2 still run
    assert loop.end(0, True) and loop.outcome() is None
    assert loop.end(2, True) and loop.outcome() is Outcome.FAILED
    assert loop.started == 3


def test_an_empty_loop_succeeds_at_once_and_a_halt_fails_it() -> None:
    assert Loop.fresh(0, 1, Policy.STOP).outcome() is Outcome.SUCCESS
    loop = Loop.fresh(3, 2, Policy.CONTINUE)
    loop.begin(0)
    loop.halt("LaunchFailed: iteration 1: gone")
    assert loop.to_start() == [] and loop.outcome() is None
    assert loop.end(0, True) and loop.outcome() is Outcome.FAILED


def test_reports_that_do_not_fit_are_ignored_and_bad_starts_refused() -> None:
    loop = Loop.fresh(2, 1, Policy.CONTINUE)
    assert not loop.end(0, True)  # not running
    loop.begin(0)
    with pytest.raises(ValueError):
        loop.begin(1)  # the window is full
    assert loop.end(0, True) and not loop.end(0, False)  # a repeated report changes nothing
    with pytest.raises(ValueError):
        loop.begin(0)  # started already
    with pytest.raises(ValueError):
        Loop(1, Policy.STOP, [Iteration.PENDING, Iteration.SUCCESS])  # started ones must be a prefix
    with pytest.raises(ValueError):
        Loop.fresh(1, 0, Policy.STOP)


@given(st.lists(st.sampled_from([True, False, None]), max_size=10), st.integers(0, 5), st.integers(1, 4))
def test_a_rebuilt_loop_goes_on_where_it_was(seen: list[bool | None], pending: int, concurrency: int) -> None:
    states = iteration_states(seen, len(seen) + pending)
    loop = Loop(max(concurrency, seen.count(None)), Policy.CONTINUE, states)
    assert loop.started == len(seen) and loop.running == seen.count(None)
    assert loop.to_start() == list(range(len(seen), min(len(states), len(seen) + loop.concurrency - loop.running)))


# --- elements ---------------------------------------------------------------------------------------------------


def test_elements_are_strings_as_they_are_and_other_values_as_compact_json() -> None:
    assert [element_text(e) for e in ["a b", 2, 2.5, True, None, {"k": [1, "ü"]}, [1]]] == [
        "a b", "2", "2.5", "true", "null", '{"k":[1,"ü"]}', "[1]",
    ]  # fmt: skip
    assert parse_array('[1, "a"]') == [1, "a"]
    for text, why in (("[1,", "is not JSON"), ('{"a": 1}', "a JSON object, not an array"), ("3", "int")):
        with pytest.raises(ValueError, match=why):
            parse_array(text)


def test_iteration_parameters_and_their_identifier_twins() -> None:
    assert iteration_params("x", 2, 5) == {
        "dag.foreach.current": "x", "dag.offset": "2", "dag.loopTimes": "5",
        "dag_foreach_current": "x", "dag_offset": "2", "dag_loopTimes": "5",
    }  # fmt: skip


# --- settings ---------------------------------------------------------------------------------------------------

EXT = "TriggerTaskConfiguration.TaskExtConfigurationList"


def test_settings_defaults_and_bounds() -> None:
    got = parse_settings({"loopDataArray": "${rows}"}, Paths())
    assert got == LoopSettings("${rows}", 128, 1, Policy.STOP)
    got = parse_settings({"loopDataArray": "[]", "maxLoopTimes": "1000", "loopConcurrency": " 100 ",
                          "loopFailurePolicy": "CONTINUE"}, Paths())  # fmt: skip
    assert got == LoopSettings("[]", 1000, 100, Policy.CONTINUE)


@pytest.mark.parametrize(
    ("ext", "field", "why"),
    [
        ({"maxLoopTimes": "0"}, "maxLoopTimes", "from 1 to 1000"),
        ({"maxLoopTimes": "１"}, "maxLoopTimes", "from 1 to 1000"),  # a full-width digit is not a number here
        ({"loopConcurrency": "101"}, "loopConcurrency", "from 1 to 100"),
        ({"loopFailurePolicy": "stop"}, "loopFailurePolicy", "STOP or CONTINUE"),
        ({"loopDataArray": ""}, "loopDataArray", "is required"),
        ({"loopDataArray": "[1, ${x}]"}, "loopDataArray", "exactly one parameter reference"),
        ({"loopDataArray": "${a}${b}"}, "loopDataArray", "exactly one parameter reference"),
        ({"loopDataArray": "[1, 2]", "maxLoopTimes": "1"}, "loopDataArray", "2 elements, more than"),
    ],
)
def test_bad_settings_name_the_key_under_the_action_s_prefix(ext: dict[str, str], field: str, why: str) -> None:
    with pytest.raises(InvalidParameterValue) as e:
        FOR_EACH.validate({}, {"workflowId": "w", "loopDataArray": "[1]", **ext}, Paths("Task."), [])
    assert e.value.message.startswith(f"Task.{EXT}.{field}") and why in e.value.message


def test_the_spec_freezes_the_settings() -> None:
    spec = FOR_EACH.freeze("", {"workflowId": "w", "loopDataArray": "[1]", "loopConcurrency": "2"})
    assert spec == {"kind": "FOR_EACH", "code": "", "workflow_id": "w",
                    "loop": {"data_array": "[1]", "max_times": 128, "concurrency": 2, "policy": "STOP"}}  # fmt: skip


# --- resolution at node start and the persisted progress --------------------------------------------------------


def row(data_array: str, params: dict[str, str], *, inputs: list[dict[str, str]] | None = None, **more: Any) -> Any:
    spec = FOR_EACH.freeze("", {"workflowId": "w", "loopDataArray": data_array, **more})
    spec |= {"inputs": inputs or [], "data_params": sorted(params), "run_data_params": sorted(params)}
    return {"spec": spec, "run_params": json.dumps(params), "schedule_ms": 0, "timezone": "UTC"}


def test_prepare_resolves_a_reference_to_data_or_an_upstream_output() -> None:
    r = row("${items}", {"items": '["a", 1]'})
    assert prepare(r, {}, DEFAULT_LIMITS)[1] == ["a", "1"]
    up = [{"ParamKey": "rows", "FromTaskId": "t1", "FromParamKey": "ids"}]
    assert prepare(row(" ${rows} ", {}, inputs=up), {"t1": {"ids": "[[1, 2], null]"}}, DEFAULT_LIMITS)[1] == [
        "[1,2]", "null",
    ]  # fmt: skip
    assert prepare(row('["$x", "$(id)"]', {}), {}, DEFAULT_LIMITS)[1] == ["$x", "$(id)"]  # a literal as written


@pytest.mark.parametrize(
    ("r", "message"),
    [
        (row("${nope}", {}), "ForEachBadArray: loopDataArray ${nope} names no parameter"),
        (row("${items}", {"items": "x; rm -rf /"}), "ForEachBadArray: loopDataArray ${items} is not JSON"),
        (
            row("${items}", {"items": "[1, 2]"}, maxLoopTimes="1"),
            "ForEachTooManyElements: loopDataArray ${items} has 2",
        ),
        (row("${items}", {"items": '["' + "x" * 11 + '"]'}), "ParameterTooLarge: element 0 of loopDataArray ${items}"),
    ],
)
def test_prepare_refuses_what_cannot_loop_without_quoting_the_value(r: Any, message: str) -> None:
    with pytest.raises(LoopRefused) as e:
        prepare(r, {}, ParamLimits(max_param_chars=10))
    assert e.value.message.startswith(message) and "rm -rf" not in e.value.message


def test_progress_round_trips_through_the_extensions_a_restart_reads() -> None:
    s = LoopSettings("[]", 128, 2, Policy.STOP)
    run = LoopRun.fresh(s, ["a", "b", "c"], '{"workflowId":"w","loopTimes":"9"}')
    assert run.base == {"workflowId": "w"}
    run.begin(0, "r0")
    run.begin(1, "r1")
    assert run.end("r0", RunState.SUCCESS) and not run.end("other", RunState.SUCCESS)
    text = run.extensions()
    assert json.loads(text) == {
        "workflowId": "w", "loopTimes": "3", "loopStartedTimes": "2", "loopSuccessTimes": "1",
        "loopFailedTimes": "0", "loopChildRunIds": '["r0","r1"]',
    }  # fmt: skip
    assert base_extensions(text) == {"workflowId": "w"}
    again = LoopRun.rebuild(s, ["a", "b", "c"], text, {"r0": "SUCCESS", "r1": "RUNNING"})
    assert again.loop.states == [Iteration.SUCCESS, Iteration.RUNNING, Iteration.PENDING]
    assert again.running_children() == ["r1"] and again.loop.to_start() == [2]
    lost = LoopRun.rebuild(s, ["a", "b", "c"], text, {"r1": "KILLED"})  # a missing child counts as failed
    assert lost.loop.states[:2] == [Iteration.FAILED, Iteration.FAILED] and lost.loop.outcome() is Outcome.FAILED
    assert "2 of 3 iterations failed, offsets 0 (run r0), 1 (run r1); 1 not started (STOP)" in lost.failure()
    with pytest.raises(LoopRefused, match="ForEachStateLost"):
        LoopRun.rebuild(s, ["a", "b"], text, {})
