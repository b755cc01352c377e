"""The one place that defines run and task-run states and every legal transition between them.

State values are the wire strings, so nothing has to translate them. Transitions are a table of
(state, event) -> new state; an event that the table does not allow is *refused as data*
(`Transition.accepted is False`) rather than raised, because refusals are normal in a concurrent
engine: a process can exit just after the user killed its run, and that late exit must change
nothing. Callers decide whether a refusal is an error (an API request) or noise (a late executor event).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.params import baseline_for


class TaskState(StrEnum):
    """Task-run states. `UPSTREAM_FAILED` and `KILLED` are ours (decisions.md Q-T1, Q-K1)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIP = "SKIP"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    KILLED = "KILLED"


class RunState(StrEnum):
    """Workflow-run states: `SKIPED` is WeData's spelling; `PENDING` is documented, never emitted (Q-S1)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIPED = "SKIPED"
    KILLED = "KILLED"


class TaskEvent(StrEnum):
    DISPATCH = "dispatch"  # handed to an executor; the process is starting
    EXIT_OK = "exit_ok"  # process exited 0
    EXIT_FAIL = "exit_fail"  # process exited non-zero or was killed by a signal it did not ask for
    LAUNCH_FAIL = "launch_fail"  # the process could not even be started (bad interpreter, cwd, ...)
    LOST = "lost"  # the process vanished without us seeing its exit (server crash/restart)
    SKIP = "skip"  # the dependency policy decided not to run it
    UPSTREAM_FAIL = "upstream_fail"  # the dependency policy decided it cannot run because upstream failed
    KILL = "kill"  # the user (or a parent run) stopped it
    RETRY = "retry"  # the attempt failed and a retry is due: back to waiting, RetryTimes + 1 (Q-T3, Q-T4)
    TIMEOUT = "timeout"  # ExecutionTTLMinute exceeded: the process is killed, the task fails (Q-T5)
    WAIT_TIMEOUT = "wait_timeout"  # WaitExecutionTotalTTLMinute exceeded before it ever started (Q-T5)
    MERGE_OK = "merge_ok"  # a merge node's conditions hold (it runs no process)
    MERGE_FAIL = "merge_fail"  # a merge node's conditions can no longer hold (Q-M3)
    BRANCH_OK = "branch_ok"  # a branch node chose its paths (RunGraph.decide_branch, docs/branch.md)


class RunEvent(StrEnum):
    START = "start"  # first task run dispatched
    FINISH_OK = "finish_ok"  # every task run terminal, none failed
    FINISH_FAIL = "finish_fail"  # every task run terminal, at least one failed-like
    KILL = "kill"
    SKIP = "skip"  # concurrency limit reached with queueing off, or queued too long (issue: run semantics)


TASK_TERMINAL: frozenset[TaskState] = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIP, TaskState.UPSTREAM_FAILED, TaskState.KILLED}
)
TASK_FAILED_LIKE: frozenset[TaskState] = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})
RUN_TERMINAL: frozenset[RunState] = frozenset({RunState.SUCCESS, RunState.FAILED, RunState.SKIPED, RunState.KILLED})

_T, _R = TaskState, RunState
TASK_TRANSITIONS: dict[tuple[TaskState, TaskEvent], TaskState] = {
    (_T.PENDING, TaskEvent.DISPATCH): _T.RUNNING,
    (_T.PENDING, TaskEvent.LAUNCH_FAIL): _T.FAILED,
    (_T.PENDING, TaskEvent.SKIP): _T.SKIP,
    (_T.PENDING, TaskEvent.UPSTREAM_FAIL): _T.UPSTREAM_FAILED,
    (_T.PENDING, TaskEvent.KILL): _T.KILLED,
    (_T.PENDING, TaskEvent.WAIT_TIMEOUT): _T.FAILED,
    (_T.PENDING, TaskEvent.MERGE_OK): _T.SUCCESS,
    (_T.PENDING, TaskEvent.MERGE_FAIL): _T.FAILED,
    (_T.PENDING, TaskEvent.BRANCH_OK): _T.SUCCESS,  # a condition that cannot be evaluated is a launch_fail
    (_T.RUNNING, TaskEvent.EXIT_OK): _T.SUCCESS,
    (_T.RUNNING, TaskEvent.EXIT_FAIL): _T.FAILED,
    (_T.RUNNING, TaskEvent.LAUNCH_FAIL): _T.FAILED,
    (_T.RUNNING, TaskEvent.LOST): _T.FAILED,
    (_T.RUNNING, TaskEvent.KILL): _T.KILLED,
    (_T.RUNNING, TaskEvent.RETRY): _T.PENDING,
    (_T.RUNNING, TaskEvent.TIMEOUT): _T.FAILED,
}

# Failures that may be retried. Timeouts are final (Q-T5: a stuck job must not burn 5x its limit), a
# launch failure would fail the same way again, and a kill is the user's decision.
RETRYABLE: frozenset[TaskEvent] = frozenset({TaskEvent.EXIT_FAIL, TaskEvent.LOST})


def retry_due(event: TaskEvent, retry_times: int, max_retry: int) -> bool:
    """Whether a failing attempt is retried: MaxRetryNumber counts retries after the first attempt (Q-T3)."""
    return event in RETRYABLE and retry_times < max_retry


# --- what a task run waiting for its retry says (ErrorCodeStr, decisions.md Q-T4) ---------------------------

RETRY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # strptime reads the `+08:00` written below (Python 3.7+)
_RETRY_NOTICE_RE = re.compile(
    r"(?P<error>.*); retry (?P<retry>[0-9]+) of (?P<max>[0-9]+) at "
    r"(?P<at>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{2}:[0-9]{2})\Z",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """A parsed waiting message: the failure that caused the retry, which retry is next, and when."""

    last_error: str
    retry: int  # the retry that is due: equals the task run's RetryTimes during the wait
    max_retry: int  # MaxRetryNumber frozen with the run
    at: datetime  # aware, in the zone it was written in; whole seconds


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def retry_notice(last_error: str | None, retry: int, max_retry: int, due_ms: int, tz_name: str) -> str:
    """ErrorCodeStr of a task run that failed and waits for retry `retry` of `max_retry`, due at `due_ms`.

    `exit code 3; retry 1 of 4 at 2026-12-03 17:05:00 +08:00`: the last failure as it would read if final,
    then the retry and its due time, in the run's time zone (the zone its `${yyyyMMdd}` expressions and its
    trigger use, i.e. the clock the user thinks in) with the offset written out, so the text is exact
    wherever it is read. The time is rounded down to the second (the retry never starts before it); it is the
    earliest start: a full resource group can start it later. `parse_retry_notice` reads it back.
    """
    try:
        moment = baseline_for(due_ms // 1000 * 1000, tz_name)
    except InvalidParameterValue:  # a zone that no longer resolves: still an exact time
        moment = datetime.fromtimestamp(due_ms // 1000, tz=UTC)
    reason = last_error or "failed"
    return f"{reason}; retry {retry} of {max_retry} at {moment:%Y-%m-%d %H:%M:%S} {_offset(moment)}"


def parse_retry_notice(text: str | None) -> RetryNotice | None:
    """The parts of a `retry_notice` message, or None when `text` is not one (no retry is scheduled)."""
    if not text:
        return None
    m = _RETRY_NOTICE_RE.fullmatch(text)
    if m is None:
        return None
    at = datetime.strptime(m["at"], RETRY_TIME_FORMAT)
    return RetryNotice(m["error"], int(m["retry"]), int(m["max"]), at)


RUN_TRANSITIONS: dict[tuple[RunState, RunEvent], RunState] = {
    (_R.QUEUED, RunEvent.START): _R.RUNNING,
    (_R.QUEUED, RunEvent.FINISH_OK): _R.SUCCESS,  # e.g. every selected task was skipped
    (_R.QUEUED, RunEvent.FINISH_FAIL): _R.FAILED,  # e.g. every task failed to launch
    (_R.QUEUED, RunEvent.KILL): _R.KILLED,
    (_R.QUEUED, RunEvent.SKIP): _R.SKIPED,
    (_R.RUNNING, RunEvent.FINISH_OK): _R.SUCCESS,
    (_R.RUNNING, RunEvent.FINISH_FAIL): _R.FAILED,
    (_R.RUNNING, RunEvent.KILL): _R.KILLED,
}


S = TypeVar("S", TaskState, RunState)


@dataclass(frozen=True, slots=True)
class Transition(Generic[S]):
    """Outcome of offering an event to a state: the new state, or a refusal with a reason."""

    before: S
    after: S
    accepted: bool
    reason: str | None = None


def task_transition(state: TaskState, event: TaskEvent) -> Transition[TaskState]:
    after = TASK_TRANSITIONS.get((state, event))
    if after is None:
        return Transition(state, state, False, f"task run in state {state} cannot take event {event}")
    return Transition(state, after, True)


def run_transition(state: RunState, event: RunEvent) -> Transition[RunState]:
    after = RUN_TRANSITIONS.get((state, event))
    if after is None:
        return Transition(state, state, False, f"workflow run in state {state} cannot take event {event}")
    return Transition(state, after, True)


def rollup(task_states: list[TaskState]) -> RunEvent | None:
    """The run's final event once every task run is terminal (decisions.md Q-R1), else None.

    Any failed-like task fails the run; skipped tasks do not; no task at all is a success.
    """
    if any(s not in TASK_TERMINAL for s in task_states):
        return None
    if any(s in TASK_FAILED_LIKE for s in task_states):
        return RunEvent.FINISH_FAIL
    if any(s == TaskState.KILLED for s in task_states):
        return RunEvent.KILL
    return RunEvent.FINISH_OK
