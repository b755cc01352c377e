"""What the scheduler thread hands to `Execution` (messages) and what it gets back to perform (effects).

Kept apart from the execution logic so the scheduler, the executor callbacks and the property tests
share these small value types without reaching into the engine's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

from trigflow.executors.base import LaunchSpec


@dataclass(frozen=True)
class Recovered:
    """What start-up recovery found of a RUNNING attempt of a previous server process (ADR 0005): still
    running (`running`: the executor adopted it and reports its exit later), or ended with the status the
    keeper recorded (`exit_code`, `at_ms`; `outputs` when its exit fact carried them: a worker's finish
    report made durable). An attempt recovery found neither way is lost."""

    running: bool
    exit_code: int | None = None
    at_ms: int | None = None
    outputs: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Adopt:
    """Load a non-terminal run into memory and start what is ready (new run, restart, missed wake-up)."""

    run_id: str
    # On start-up: RUNNING task runs are lost unless `attempts` (by execution id) says otherwise.
    recovering: bool = False
    attempts: Mapping[str, Recovered] | None = None


@dataclass(frozen=True)
class Started:
    """An attempt started: from `executor.start` (pid and token when local), or, for a remote attempt, again
    when a worker took it (`remote`: only its start time is news, and only while the attempt still runs)."""

    exec_id: str
    pid: int | None
    proc_start: str | None
    at_ms: int
    remote: bool = False


@dataclass(frozen=True)
class Exited:
    exec_id: str
    exit_code: int | None
    at_ms: int
    message: str | None = None
    outputs: Mapping[str, str] | None = None  # the exit fact's output parameters (ExecutorEvent.outputs)


@dataclass(frozen=True)
class LaunchFailed:
    exec_id: str
    message: str
    at_ms: int


@dataclass(frozen=True)
class KillResult:
    run_id: str
    ok: bool
    message: str | None


@dataclass(frozen=True)
class Kill:
    run_ids: tuple[str, ...]
    reply: Future[list[KillResult]]


@dataclass(frozen=True)
class Wake:
    """Something outside the runs changed (e.g. a resource group got more slots): dispatch again."""


Message = Adopt | Started | Exited | LaunchFailed | Kill | Wake


@dataclass
class Effects:
    launches: list[LaunchSpec] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    replies: list[tuple[Future[list[KillResult]], list[KillResult]]] = field(default_factory=list)
    finished_runs: list[str] = field(default_factory=list)
