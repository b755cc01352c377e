"""The transition table: every (state, event) pair of both machines, and the run roll-up (decisions.md Q-R1)."""

from __future__ import annotations

import itertools

import pytest

from trigflow.domain.states import (
    RUN_TERMINAL,
    RUN_TRANSITIONS,
    TASK_FAILED_LIKE,
    TASK_TERMINAL,
    TASK_TRANSITIONS,
    RunEvent,
    RunState,
    TaskEvent,
    TaskState,
    rollup,
    run_transition,
    task_transition,
)

T, R, TE, RE = TaskState, RunState, TaskEvent, RunEvent

# The expected tables, written out independently so that an accidental edit of the source table shows up here.
EXPECTED_TASK = {
    (T.PENDING, TE.DISPATCH): T.RUNNING,
    (T.PENDING, TE.LAUNCH_FAIL): T.FAILED,
    (T.PENDING, TE.SKIP): T.SKIP,
    (T.PENDING, TE.UPSTREAM_FAIL): T.UPSTREAM_FAILED,
    (T.PENDING, TE.KILL): T.KILLED,
    (T.PENDING, TE.WAIT_TIMEOUT): T.FAILED,
    (T.PENDING, TE.MERGE_OK): T.SUCCESS,
    (T.PENDING, TE.MERGE_FAIL): T.FAILED,
    (T.PENDING, TE.BRANCH_OK): T.SUCCESS,
    (T.RUNNING, TE.EXIT_OK): T.SUCCESS,
    (T.RUNNING, TE.EXIT_FAIL): T.FAILED,
    (T.RUNNING, TE.LAUNCH_FAIL): T.FAILED,
    (T.RUNNING, TE.LOST): T.FAILED,
    (T.RUNNING, TE.KILL): T.KILLED,
    (T.RUNNING, TE.RETRY): T.PENDING,
    (T.RUNNING, TE.TIMEOUT): T.FAILED,
}
EXPECTED_RUN = {
    (R.QUEUED, RE.START): R.RUNNING,
    (R.QUEUED, RE.FINISH_OK): R.SUCCESS,
    (R.QUEUED, RE.FINISH_FAIL): R.FAILED,
    (R.QUEUED, RE.KILL): R.KILLED,
    (R.QUEUED, RE.SKIP): R.SKIPED,
    (R.RUNNING, RE.FINISH_OK): R.SUCCESS,
    (R.RUNNING, RE.FINISH_FAIL): R.FAILED,
    (R.RUNNING, RE.KILL): R.KILLED,
}

TASK_PAIRS = list(itertools.product(TaskState, TaskEvent))
RUN_PAIRS = list(itertools.product(RunState, RunEvent))


def test_tables_are_the_documented_ones() -> None:
    assert TASK_TRANSITIONS == EXPECTED_TASK
    assert RUN_TRANSITIONS == EXPECTED_RUN


def test_wire_values() -> None:
    assert [s.value for s in TaskState] == [
        "PENDING", "RUNNING", "SUCCESS", "FAILED", "SKIP", "UPSTREAM_FAILED", "KILLED",
    ]  # fmt: skip
    assert [s.value for s in RunState] == ["QUEUED", "RUNNING", "SUCCESS", "FAILED", "SKIPED", "KILLED"]
    assert "PENDING" not in {s.value for s in RunState}  # Q-S1: never emitted


def test_terminal_sets() -> None:
    assert {T.SUCCESS, T.FAILED, T.SKIP, T.UPSTREAM_FAILED, T.KILLED} == TASK_TERMINAL
    assert {T.FAILED, T.UPSTREAM_FAILED} == TASK_FAILED_LIKE
    assert {R.SUCCESS, R.FAILED, R.SKIPED, R.KILLED} == RUN_TERMINAL


@pytest.mark.parametrize(("state", "event"), TASK_PAIRS, ids=[f"{s}-{e}" for s, e in TASK_PAIRS])
def test_task_transition(state: TaskState, event: TaskEvent) -> None:
    t = task_transition(state, event)
    assert t.before is state
    if (state, event) in EXPECTED_TASK:
        assert t.accepted is True
        assert t.after is EXPECTED_TASK[(state, event)]
        assert t.reason is None
    else:
        assert t.accepted is False
        assert t.after is state
        assert t.reason is not None
        assert str(state) in t.reason
        assert str(event) in t.reason


@pytest.mark.parametrize(("state", "event"), RUN_PAIRS, ids=[f"{s}-{e}" for s, e in RUN_PAIRS])
def test_run_transition(state: RunState, event: RunEvent) -> None:
    t = run_transition(state, event)
    assert t.before is state
    if (state, event) in EXPECTED_RUN:
        assert t.accepted is True
        assert t.after is EXPECTED_RUN[(state, event)]
        assert t.reason is None
    else:
        assert t.accepted is False
        assert t.after is state
        assert t.reason is not None
        assert str(state) in t.reason
        assert str(event) in t.reason


def test_refusal_reason_names_the_machine() -> None:
    assert "task run" in (task_transition(T.SUCCESS, TE.KILL).reason or "")
    assert "workflow run" in (run_transition(R.SUCCESS, RE.KILL).reason or "")


@pytest.mark.parametrize("state", sorted(TASK_TERMINAL))
def test_terminal_task_states_accept_nothing(state: TaskState) -> None:
    assert not any(task_transition(state, e).accepted for e in TaskEvent)


@pytest.mark.parametrize("state", sorted(RUN_TERMINAL))
def test_terminal_run_states_accept_nothing(state: RunState) -> None:
    assert not any(run_transition(state, e).accepted for e in RunEvent)


def test_every_non_terminal_state_can_end() -> None:
    """No state is a trap: each non-terminal state can reach a terminal one, and kill is always possible."""
    for s in set(TaskState) - TASK_TERMINAL:
        assert task_transition(s, TE.KILL).after in TASK_TERMINAL
    for r in set(RunState) - RUN_TERMINAL:
        assert run_transition(r, RE.KILL).after is R.KILLED


def test_only_a_retry_goes_back_to_pending() -> None:
    """A retry is the one way back to waiting (Q-T4); runs never go back to QUEUED here."""
    assert [k for k, v in TASK_TRANSITIONS.items() if v is T.PENDING] == [(T.RUNNING, TE.RETRY)]
    assert R.QUEUED not in RUN_TRANSITIONS.values()


@pytest.mark.parametrize("event", list(TE))
def test_retry_due_only_for_retryable_failures_under_the_limit(event: TaskEvent) -> None:
    from trigflow.domain.states import retry_due

    retryable = event in (TE.EXIT_FAIL, TE.LOST)
    assert retry_due(event, 0, 4) is retryable
    assert retry_due(event, 3, 4) is retryable
    assert retry_due(event, 4, 4) is False  # RetryTimes can reach MaxRetryNumber, no further (Q-T3)
    assert retry_due(event, 0, 0) is False  # 0 disables retry


def test_transition_is_frozen() -> None:
    t = task_transition(T.PENDING, TE.DISPATCH)
    with pytest.raises(AttributeError):
        t.after = T.FAILED  # type: ignore[misc]


# --- rollup ------------------------------------------------------------------------------------------------


def _expected_rollup(states: tuple[TaskState, ...]) -> RunEvent | None:
    """Q-R1 (plus the implementation's documented KILLED handling, see test_rollup_killed)."""
    if any(s not in TASK_TERMINAL for s in states):
        return None
    if T.FAILED in states or T.UPSTREAM_FAILED in states:
        return RE.FINISH_FAIL
    if T.KILLED in states:
        return RE.KILL
    return RE.FINISH_OK


ALL_COMBOS = [c for n in range(4) for c in itertools.combinations_with_replacement(TaskState, n)]


@pytest.mark.parametrize("states", ALL_COMBOS, ids=["+".join(c) or "empty" for c in ALL_COMBOS])
def test_rollup_exhaustive(states: tuple[TaskState, ...]) -> None:
    assert rollup(list(states)) == _expected_rollup(states)
    # order does not matter
    for perm in itertools.permutations(states):
        assert rollup(list(perm)) == rollup(list(states))


def test_rollup_q_r1_cases() -> None:
    assert rollup([]) is RE.FINISH_OK
    assert rollup([T.SKIP]) is RE.FINISH_OK
    assert rollup([T.SKIP, T.SKIP, T.SKIP]) is RE.FINISH_OK
    assert rollup([T.SUCCESS, T.SKIP]) is RE.FINISH_OK
    assert rollup([T.SUCCESS, T.FAILED]) is RE.FINISH_FAIL
    assert rollup([T.SUCCESS, T.UPSTREAM_FAILED]) is RE.FINISH_FAIL
    assert rollup([T.SKIP, T.UPSTREAM_FAILED]) is RE.FINISH_FAIL
    assert rollup([T.SUCCESS, T.RUNNING]) is None
    assert rollup([T.FAILED, T.PENDING]) is None  # no fail-fast: waits for every task run


def test_rollup_killed() -> None:
    """Our reading: failed-like beats killed; killed (without failures) ends the run KILLED, not SUCCESS.

    decisions.md Q-R1 literally says "FAILED if any FAILED/upstream-failed, else SUCCESS" with killed among the
    terminal states; the implementation instead rolls a killed task up to RunEvent.KILL (Q-K1 spirit).
    """
    assert rollup([T.KILLED]) is RE.KILL
    assert rollup([T.SUCCESS, T.KILLED]) is RE.KILL
    assert rollup([T.SKIP, T.KILLED]) is RE.KILL
    assert rollup([T.KILLED, T.FAILED]) is RE.FINISH_FAIL
    assert rollup([T.KILLED, T.UPSTREAM_FAILED]) is RE.FINISH_FAIL
    assert rollup([T.KILLED, T.PENDING]) is None


@pytest.mark.parametrize("run_state", [R.QUEUED, R.RUNNING])
def test_rollup_events_are_accepted_by_live_runs(run_state: RunState) -> None:
    for event in {_expected_rollup(c) for c in ALL_COMBOS} - {None}:
        assert event is not None
        assert run_transition(run_state, event).accepted
