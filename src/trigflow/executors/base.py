"""The contract between the engine and whatever actually runs a task attempt.

Executors are deliberately dumb: they start processes and report what happened to them, and they never
touch the database. Keeping persistence out of here means the engine owns every state transition (one
writer, one place to reason about retries and recovery), and an executor can be swapped (local, remote,
container) without the store noticing.

Events flow one way: `start()` returns the "started" event synchronously, because the caller must record
the pid and its identity token before anything else can refer to the attempt; everything after that
("exited", "lost") arrives asynchronously through the `on_event` callback passed to the executor's
constructor. An executor whose attempts start elsewhere (Celery: the message may wait in the broker) returns
"started" when it accepted the attempt and sends a second "started" through the callback, at most once and
before the exit, when the attempt really began: that moment is its ExecutionStartTime.

The whole contract, stated rule by rule against every executor: tests/integration/test_executor_contract.py.
Log access is a rule, not a method: an attempt's log is at `LaunchSpec.log_path` on the server's host while
it runs (a remote one within 0.1 s) and whole by the time its terminal event is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

EventKind = Literal["started", "exited", "lost"]

DEFAULT_MAX_LOG_BYTES = 64 << 20  # `trigflow up --max-log-bytes`
DEFAULT_MAX_TASK_PROCESSES = 512  # `trigflow up --max-task-processes`


class LaunchError(Exception):
    """An attempt could not be started at all (command not found, cwd missing, log not writable...).

    Raised synchronously by `Executor.start` so the engine can fail the attempt immediately with a
    readable message instead of waiting for an exit event that will never come.

    `message` reaches the client (ErrorCodeStr), so it never names a server path; the executor logs the
    detail (paths, errno) itself where it raises.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """Everything needed to start one attempt; the executor adds nothing implicit.

    `env` is the *full* child environment (not a delta), so what ran is exactly what the engine decided
    and recorded, independent of the server's own environment. `log_path` receives stdout and stderr,
    appended, so a retried attempt reusing a path never destroys earlier evidence.

    `script`, when given, is the code the attempt executes: the executor seals it into an anonymous
    memory file (memfd) and appends `/dev/fd/<n>` to `argv` (e.g. `bash /dev/fd/5`), so nothing on disk
    can be swapped between the decision and the execution (docs/adr/0003-attempt-isolation.md).
    `sealed_env` does the same for files the child's interpreter reads as code through an environment
    variable (e.g. `BASH_ENV`): each value becomes a sealed memfd and the variable names `/dev/fd/<n>`.
    `script_copy_path`, when given, receives a human-readable copy of `script` that is never executed.

    `resource_group` and `remote_task_id` are set by the engine only for an attempt routed to the Celery
    workers of its resource group (docs/adr/0006-celery-workers.md): `remote_task_id` is the attempt's id
    `<task-run id>.<RetryTimes>.<RerunTimes>`, used as the Celery task id and fenced by the server. A local
    attempt leaves both None, so the local path builds nothing more than before.

    `output_keys` are the output parameters the task declares and `outputs_path` its `$WEDATA_OUTPUT_FILE`:
    the executor that sees the exit reads them where the attempt ran and sends the values in the "exited"
    event (executors/outputs.py), so no one reads another host's disk. `inherited_env` is the part of the
    server's environment `env` started from (the allow-list of domain/task_env.py): an attempt sent to
    another host takes those names from that host's own environment instead and carries only the rest, the
    delta the engine decided (attempt identity, parameters). The local executor ignores it.
    """

    attempt_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    log_path: str
    script: str | None = None
    script_copy_path: str | None = None
    sealed_env: Mapping[str, bytes] = field(default_factory=dict)
    resource_group: str | None = None
    remote_task_id: str | None = None
    output_keys: tuple[str, ...] = ()
    outputs_path: str | None = None
    inherited_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """Per-attempt resource bounds an executor enforces (docs/limits.md "Task attempts").

    `max_log_bytes`: the most of an attempt's log kept on disk; past it the middle is dropped (head and
    newest tail kept, with a marker), or the attempt is killed where the filesystem cannot do that.
    `max_processes`: processes and threads one attempt may have at once (cgroup `pids.max`), where a
    writable pids cgroup exists. `cgroup_instance` names this server's cgroup subtree (one per data dir,
    so attempts of several servers on a host never share a group). None disables a bound.
    """

    max_log_bytes: int | None = DEFAULT_MAX_LOG_BYTES
    max_processes: int | None = DEFAULT_MAX_TASK_PROCESSES
    cgroup_instance: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutorEvent:
    """Something that happened to an attempt's process, as observed by the executor.

    `proc_start` is an opaque identity token for `pid` (derived from the kernel's process start time),
    stored next to the pid so that after a server restart a recycled pid is never mistaken for the
    original process. `exit_code` follows the `subprocess` convention: >= 0 is a normal exit status,
    negative means "killed by signal -N". `at_ms` is wall-clock epoch milliseconds, because it is
    persisted and shown to users. `outputs`, on "exited", holds the declared output parameters the attempt
    set (LaunchSpec.output_keys), read on the host that ran it; None when it declares none or when the
    observer could not read them (an attempt adopted after a restart: the engine then reads them itself,
    on the same host).
    """

    attempt_id: str
    kind: EventKind
    at_ms: int
    pid: int | None = None
    proc_start: str | None = None
    exit_code: int | None = None
    message: str | None = None
    outputs: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ExecutorHealth:
    """Whether the executor can still start, watch and report attempts (`/healthz`).

    Not ok means an exit could go unreported or an attempt unsent (a thread of the executor died): the
    process must be restarted, as for a failed scheduler. `details` is what an operator wants beside it
    (attempts watched; for workers: live workers, how long the broker has refused publishes, attempts not
    sent yet), JSON-serialisable."""

    ok: bool
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


EventCallback = Callable[[ExecutorEvent], None]
"""Receives asynchronous events ("exited", "lost", and a remote attempt's second "started").

It is invoked on the executor's own background thread, never on the caller's, and possibly *before*
the `start()` call that launched the attempt has returned to its caller (a fast process can exit
first). The callee is therefore responsible for thread safety and ordering; the intended pattern is to
push the event onto the engine's queue and return immediately. It must not block for long: while it
runs, no other exit of that executor is reported and no kill escalation fires. Exceptions it raises
are logged and swallowed so that one bad event cannot stop exit detection for every other attempt.
"""


@runtime_checkable
class Executor(Protocol):
    """What the engine needs from anything that runs attempts."""

    def start(self, spec: LaunchSpec) -> ExecutorEvent:
        """Start the attempt and return its "started" event (with pid and proc_start).

        Raises `LaunchError` if nothing could be started; in that case no event is ever emitted for the
        attempt. Exactly one terminal event ("exited" or "lost") follows a successful start, unless the
        executor is shut down with `kill=False` first.
        """
        ...

    def kill(self, attempt_id: str, grace_seconds: float) -> bool:
        """Ask the attempt's whole process group to stop: SIGTERM now, SIGKILL after the grace period.

        Returns at once (escalation is asynchronous); False if the attempt is unknown or already
        reported as exited, so callers can tell "kill requested" from "nothing to kill".
        """
        ...

    def adopt(self, attempt_id: str, pid: int, proc_start: str) -> bool:
        """Watch an attempt that a previous server process started and that still runs (the caller checked
        pid and proc_start): its one terminal event ("exited" with the status its keeper recorded, or "lost"
        when nobody saw it end) follows like any attempt's, on the executor's threads, and `kill` reaches it.
        Returns False, emitting nothing, if it is already gone. Restart recovery only (ADR 0005)."""
        ...

    def running(self) -> set[str]:
        """Attempt ids started and not yet reported as exited or lost (a snapshot)."""
        ...

    def health(self) -> ExecutorHealth:
        """Liveness of the executor itself, cheap and callable from any thread (the /healthz handler)."""
        ...

    def recorded(self, attempt_ids: Iterable[str]) -> None:
        """The engine committed these attempts' exits: what the executor kept so that an exit reported but not
        yet durable survives a crash of the server (an unreaped zombie for the keeper, ADR 0005) may go now.
        Called after every batch that applied exits; ids it does not hold are ignored."""
        ...

    def shutdown(self, kill: bool, grace_seconds: float) -> None:
        """Stop the executor.

        With `kill=True` every running attempt is killed (with the given grace) and its exit reported
        before this returns. With `kill=False` running processes are left alive and simply forgotten, so
        a restarted server can adopt them through the pid/proc_start it recorded.
        """
        ...


@runtime_checkable
class RemoteAdopter(Protocol):
    """An executor that also runs attempts on other hosts (Celery workers, docs/adr/0006-celery-workers.md).

    Restart recovery hands it the RUNNING attempts recorded as remote instead of looking for local
    processes, then calls `recovered()`: from then on reports are accepted and silent attempts can be lost.
    """

    def adopt_remote(self, exec_id: str, task_id: str, group: str, log_path: str, worker_id: str | None) -> None:
        ...

    def recovered(self) -> None:
        ...
