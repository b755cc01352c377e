"""Run attempts as local processes, one process group per attempt, with one watcher thread for all.

Design choices, and why:

* Spawning uses `subprocess.Popen` (vfork + exec in C, exec errors reported synchronously through its
  error pipe). Measured against `os.posix_spawnp` and plain `subprocess.run` it is within noise, and
  unlike `posix_spawn` it supports `cwd` and reports "command not found" / "cwd missing" precisely.
  Popen is only the spawner: right after the spawn we take over the child (Popen is told it has
  nothing to reap), because Popen's finalizer would otherwise reap our children behind our back.
* Every attempt gets its own session (`start_new_session=True`), so its pid is also its process group
  id and a kill reaches every descendant that did not deliberately leave the group.
* Exit detection is a single daemon thread blocked in epoll over one `pidfd` per attempt plus a
  self-pipe. No thread per process (hundreds of concurrent attempts would mean hundreds of threads),
  no polling loop (latency and idle CPU), no SIGCHLD handler (only the main thread can own signals,
  and it would race with every other `waitpid` in the server). pidfds are also immune to pid reuse.
* Kill escalation (SIGTERM, then SIGKILL after a grace period) is a timer heap inside that same thread:
  the selector timeout is the next deadline. No sleeping threads, no `threading.Timer`.
* While a kill is in progress the leader's zombie is kept unreaped until the SIGKILL deadline (its exit
  status is read with `WNOWAIT` and reported at once). A zombie leader pins its pid, so the process
  group id cannot be recycled and the escalation SIGKILL can only hit the attempt's own stragglers.
  The same thread checks /proc with a backing-off interval and releases the zombie early once no live
  process is left in the group, so a well-behaved attempt does not hold anything for the whole grace.
* Isolation and limits (docs/adr/0003-attempt-isolation.md): the attempt's script runs from a sealed
  memfd (`bash /dev/fd/N`), never from a file another task could rewrite; each attempt gets its own pids
  cgroup (`executors/cgroups.py`: a process limit, and a kill that reaches `setsid` descendants), with an
  environment sweep (TRIGFLOW_TASK_EXECUTION_ID) as the fallback and backstop; and the watcher thread
  keeps each running attempt's log within its limit (`executors/logcap.py`). A cgroup move can wait for
  an RCU grace period in the kernel (6-15 ms after ~20 ms without one), so moves happen on a mover
  thread of their own, right after the spawn: never on the caller's thread (it would stall the
  scheduler per start) nor on the watcher (it would hold up every exit). A leader whose move is in
  flight is not reaped until the move is done (its exit is read with `WNOWAIT` and reported at once).

Nothing here touches the database; results leave through the `on_event` callback (see
`trigflow.executors.base.EventCallback` for its threading contract).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import heapq
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from trigflow.executors import logcap
from trigflow.executors.adopted import AdoptedAttempts, ExitReader
from trigflow.executors.base import (
    AttemptLimits,
    EventCallback,
    ExecutorEvent,
    ExecutorHealth,
    LaunchError,
    LaunchSpec,
)
from trigflow.executors.cgroups import CgroupTree
from trigflow.executors.cgroups import detect as detect_cgroups
from trigflow.executors.files import open_regular
from trigflow.executors.outputs import collect_outputs
from trigflow.executors.spawns import SpawnJournal

__all__ = [
    "LocalExecutor",
    "find_pids_by_env",
    "find_pids_by_env_values",
    "find_process_groups_by_env",
    "is_same_process_alive",
    "kill_process_group",
    "read_proc_start",
]

log = logging.getLogger(__name__)

_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
_COPY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
_MFD_FLAGS = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
# The environment variable every attempt carries (set by the service layer); a kill also signals every
# process still carrying the attempt's value, which reaches `setsid` children where no cgroup exists.
SWEEP_ENV = "TRIGFLOW_TASK_EXECUTION_ID"
# How often running attempts' logs are measured (an fstat each); a log that grew fast is re-checked sooner.
_LOG_CHECK_SECONDS = 0.25
_LOG_CHECK_HOT_SECONDS = 0.02
# Upper bound on how long `shutdown(kill=True)` waits past the grace period for SIGKILLed processes to
# be reaped; only a process stuck in uninterruptible sleep (e.g. a dead NFS mount) can exceed it.
_SHUTDOWN_SLACK_SECONDS = 5.0
# While killed leaders linger, /proc is scanned for surviving group members at these backing-off
# intervals: the first check catches the usual case (everyone honoured SIGTERM) within milliseconds,
# and the cap bounds the cost (~7 us per process on the host) when stragglers take their time.
_PROBE_FIRST_SECONDS = 0.005
_PROBE_MAX_SECONDS = 0.25
_DEAD_STATES = (b"Z", b"X", b"x")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------------------------------
# Process identity helpers (also used on restart recovery, without an executor instance)
# --------------------------------------------------------------------------------------------------

_boot_id_cache: list[str] = []


def _boot_id() -> str:
    """The kernel's per-boot UUID, so identity tokens never match across a reboot.

    Start times are counted from boot, and a server restarted at boot tends to spawn its first tasks at
    similar pids and uptimes; without the boot id a recycled pid could carry an identical start time.
    """
    if not _boot_id_cache:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
                _boot_id_cache.append(f.read().strip())
        except OSError:
            _boot_id_cache.append("")
    return _boot_id_cache[0]


def _read_stat(pid: int) -> tuple[bytes, bytes] | None:
    """Return (state, starttime) from /proc/<pid>/stat, or None if the process does not exist.

    Raw `os` calls instead of `open()` because this runs once per spawn on the hot path. The command
    name (field 2) may contain spaces and parentheses, hence parsing from the *last* ')'.
    """
    if pid <= 0:
        return None
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    rparen = data.rfind(b")")
    if rparen < 0:
        return None
    fields = data[rparen + 2 :].split()
    # fields[0] is field 3 (state); field 22 (starttime, clock ticks since boot) is fields[19].
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def _token(starttime: bytes) -> str:
    return f"{_boot_id()}:{starttime.decode('ascii')}"


def read_proc_start(pid: int) -> str | None:
    """An identity token for a live pid: boot id plus the kernel start time of the process.

    Store it next to the pid; `is_same_process_alive` compares it later so that a pid recycled by an
    unrelated process (after our process died) is never adopted or killed. None if the pid is gone.
    """
    stat = _read_stat(pid)
    return None if stat is None else _token(stat[1])


def is_same_process_alive(pid: int, proc_start: str | None) -> bool:
    """True if `pid` exists, is not a zombie, and is the very process whose token was recorded.

    A zombie counts as dead: it has already exited and only waits to be reaped by its parent.
    """
    if proc_start is None:
        return False
    stat = _read_stat(pid)
    if stat is None or stat[0] in _DEAD_STATES:
        return False
    return _token(stat[1]) == proc_start


def _live_process_groups() -> set[int]:
    """Process group ids that have at least one non-zombie member, from one pass over /proc.

    `killpg(pgid, 0)` alone cannot tell: zombies still belong to their group (an unreaped leader, or an
    orphan whose new parent, possibly a non-reaping container init, neglects it).
    """
    live: set[int] = set()
    with os.scandir("/proc") as it:
        for entry in it:
            name = entry.name
            if not name.isdigit():
                continue
            try:
                fd = os.open(f"/proc/{name}/stat", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                continue
            finally:
                os.close(fd)
            # fields[0] = state (field 3), fields[2] = pgrp (field 5)
            fields = data[data.rfind(b")") + 2 :].split(None, 3)
            if len(fields) > 2 and fields[0] not in _DEAD_STATES:
                live.add(int(fields[2]))
    return live


def _group_has_live_members(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, just not ours to signal
    return pgid in _live_process_groups()


def find_process_groups_by_env(name: str, values: set[str]) -> dict[str, set[int]]:
    """Process groups of live processes whose environment has `name` set to one of `values`.

    Restart recovery uses it with TRIGFLOW_TASK_EXECUTION_ID to find orphans whose pid was never
    recorded (the server died between starting the process and committing its pid). Reads
    /proc/<pid>/environ, which only our own user's processes expose; others are skipped.
    """
    found: dict[str, set[int]] = {}
    own_group = os.getpgrp()
    for pid, value in _environ_matches(name, values):
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        if pgid > 1 and pgid != own_group:
            found.setdefault(value, set()).add(pgid)
    return found


def find_pids_by_env(name: str, value: str) -> list[int]:
    """Live processes (other than this one) whose environment has `name` set to exactly `value`.

    The kill fallback and backstop: a descendant that left the attempt's process group (`setsid`) still
    carries the attempt's id in its environment unless it deliberately scrubbed it.
    """
    return find_pids_by_env_values(name, {value}).get(value, [])


def find_pids_by_env_values(name: str, values: set[str]) -> dict[str, list[int]]:
    """`find_pids_by_env` for several values in one pass over /proc (a pass reads every environ)."""
    found: dict[str, list[int]] = {}
    me = os.getpid()
    for pid, value in _environ_matches(name, values):
        if pid == me:
            continue
        stat = _read_stat(pid)
        if stat is not None and stat[0] not in _DEAD_STATES:
            found.setdefault(value, []).append(pid)
    return found


def _environ_matches(name: str, values: set[str]) -> Iterator[tuple[int, str]]:
    """(pid, value) for every process whose environment sets `name` to one of `values`: one pass over /proc."""
    if not values:
        return
    prefix = name.encode() + b"="
    wanted = {prefix + v.encode(): v for v in values}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        if prefix not in environ:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                value = wanted.get(item)
                if value is not None:
                    yield int(entry), value
                break


def kill_process_group(pgid: int, grace_seconds: float) -> None:
    """Blocking SIGTERM, wait up to `grace_seconds`, then SIGKILL, for a process group we do not own.

    Meant for restart recovery: orphans of a previous server process, whose group id is the recorded
    pid of the attempt. The caller must first confirm identity with `is_same_process_alive` (or know the
    group still has members), because a group id is only pinned while the group is non-empty. Polls with
    short, growing waits: these processes are not our children, so there is nothing to block on.
    """
    if pgid <= 1 or pgid == os.getpgrp():
        raise ValueError(f"refusing to kill process group {pgid}")
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + max(grace_seconds, 0.0)
    delay = 0.001
    while True:
        if not _group_has_live_members(pgid):
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------------
# Spawning helpers
# --------------------------------------------------------------------------------------------------


def _open_creating_parent(path: str, flags: int, mode: int) -> int:
    """Open a regular file in the run directory (files.py: the task's own directory, so no symlink and no
    FIFO), creating missing parent directories only on failure (the common case costs one open)."""
    try:
        return open_regular(path, flags, mode)
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if not parent:
            raise
        os.makedirs(parent, exist_ok=True)
        return open_regular(path, flags, mode)


def _sealed_memfd(name: str, data: bytes) -> int:
    """An anonymous file holding `data`, sealed: nobody (not even via /proc/<pid>/fd) can change it again.

    F_SEAL_WRITE/SHRINK/GROW make the content immutable, F_SEAL_SEAL stops anyone lifting the seals; a
    reopen through /proc then yields a read-only view (measured on this kernel: write, truncate and
    writable mmap all fail with EPERM). Close-on-exec here; `pass_fds` hands it to the one child.
    """
    fd = os.memfd_create(name, _MFD_FLAGS)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_copy(path: str, text: str) -> None:
    """A human-readable copy of what an attempt runs, owner-only and not executable: it is never run."""
    data = memoryview(text.encode("utf-8", "surrogatepass"))
    fd = _open_creating_parent(path, _COPY_FLAGS, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a pre-existing file
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def _describe_spawn_error(exc: OSError, spec: LaunchSpec) -> str:
    """What the client is told (ErrorCodeStr): the cause, never a server path (that goes to the log)."""
    command = os.path.basename(spec.argv[0])
    if isinstance(exc, FileNotFoundError):
        if exc.filename == spec.cwd and exc.filename != spec.argv[0]:
            return "the attempt's working directory does not exist"
        return f"command not found: {command!r}"
    if isinstance(exc, PermissionError):
        return f"permission denied starting {command!r}"
    if isinstance(exc, NotADirectoryError):
        return "not a directory: a path of the attempt's launch"
    return f"cannot start {command!r}: {exc.strerror or type(exc).__name__}"


# --------------------------------------------------------------------------------------------------
# The executor
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Attempt:
    """Book-keeping for one spawned attempt; guarded by `LocalExecutor._lock`."""

    attempt_id: str
    pid: int
    pidfd: int
    proc_start: str | None
    kill_deadline: float | None = None  # monotonic time of the pending SIGKILL escalation
    reaped: bool = False
    sweep_value: str | None = None  # the attempt's SWEEP_ENV value, for the environment sweep
    log_fd: int = -1  # read-write (not O_APPEND) descriptor of the log, for trimming; -1: unbounded
    log_state: logcap.LogState | None = None
    cgroup: str | None = None  # path of the attempt's cgroup once the leader is in it
    move: str | None = None  # cgroup move: "queued", "moving" (write in flight: do not reap), or None
    reap_after_move: bool = False  # exit collected (WNOWAIT) during the move: reap once it is done
    held: bool = False  # exit reported, zombie kept until the engine recorded the exit (`recorded`)
    fail_message: str | None = None  # why the executor itself killed it (reported with the exit)
    pending: list[int] = field(default_factory=list)  # signals for the watcher thread to sweep with
    # (declared output keys, log path, outputs file) when the task declares outputs: read at the exit and
    # sent in the "exited" event (executors/outputs.py); None otherwise, so the exit path reads nothing.
    outputs: tuple[tuple[str, ...], str, str | None] | None = None


class LocalExecutor:
    """Runs attempts as child processes of this server; see the module docstring for the design.

    Thread safety: `start`, `kill`, `running` and `shutdown` may be called from any thread. `on_event`
    is called from the executor's own thread only (see `EventCallback`); it receives "exited" and, if
    some other code in the process reaped our child first, "lost". Never call `os.wait()` or
    `os.waitpid(-1, ...)` elsewhere in the server, or set SIGCHLD to SIG_IGN: both steal exit statuses.
    """

    def __init__(
        self,
        on_event: EventCallback,
        limits: AttemptLimits | None = None,
        read_exit: ExitReader | None = None,
        *,
        hold_exits: bool = False,
        spawn_journal: str | None = None,
    ) -> None:
        self._on_event = on_event
        # Which process each attempt is, durable from its spawn (executors/spawns.py), under a keeper.
        self._spawns = SpawnJournal(spawn_journal) if spawn_journal is not None else None
        # Under a keeper (ADR 0005): an exited leader stays an unreaped zombie until the engine has made its
        # exit durable (`recorded`). Reaping it first left a window in which a server killed before its
        # commit had thrown the finished attempt away: no record (the keeper never saw the child) and no
        # process, so the restarted server declared it lost and ran it again. Unreaped, a dead server's
        # zombie goes to the keeper, which records its status like any orphan's.
        self._hold_exits = hold_exits
        self._held: dict[str, _Attempt] = {}
        # Attempts of a previous server process that outlived it (executors/adopted.py, ADR 0005).
        self._adopted = AdoptedAttempts(on_event, read_exit or (lambda _pid, _start: None))
        self._limits = AttemptLimits(max_log_bytes=None, max_processes=None)
        self._cgroups: CgroupTree | None = None
        self._to_sweep: list[_Attempt] = []  # attempts with signals for the watcher thread to deliver
        self._to_move: collections.deque[_Attempt] = collections.deque()  # leaders for the mover thread
        self._to_reap: list[_Attempt] = []  # exited during their move, reapable now (watcher thread)
        self._mover: threading.Thread | None = None
        self._stale: dict[str, tuple[int, logcap.LogState | None]] = {}  # exited, group still busy
        self._log_check_at: float | None = None
        self._log_check_delay = _LOG_CHECK_SECONDS
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # signalled when an in-flight start() finishes
        self._move_ready = threading.Condition(self._lock)  # signalled when a leader is queued for a move
        self._running: dict[str, _Attempt] = {}
        self._starting: set[str] = set()
        self._lingering: set[_Attempt] = set()  # exited leaders kept as zombies until SIGKILL deadline
        self._timers: list[tuple[float, int, _Attempt]] = []
        self._timer_seq = 0
        self._probe_at: float | None = None  # next /proc check for lingering groups (monotonic)
        self._probe_delay = _PROBE_FIRST_SECONDS
        self._stopping = False
        self._stop_kill = False
        self._closed = False
        # Shared read-only /dev/null for every child's stdin: saves an open+close per spawn.
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # epoll explicitly: pidfds are Linux-only anyway, and epoll_ctl from the caller's thread while the
        # watcher sits in epoll_wait is well defined (a newly added, already-ready fd wakes the waiter),
        # which lets start() register without a wake-up round trip through the self-pipe.
        self._selector = selectors.EpollSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="trigflow-local-executor", daemon=True)
        if limits is not None:
            self.configure(limits)
        self._thread.start()

    def configure(self, limits: AttemptLimits) -> None:
        """Apply the per-attempt limits to attempts started from now on; detects cgroups once.

        Meant to be called at start-up, before the first attempt (the composition root does it).
        """
        cgroups = self._cgroups
        if limits.cgroup_instance is not None and (cgroups is None or cgroups.max_processes != limits.max_processes):
            cgroups = detect_cgroups(limits.cgroup_instance, limits.max_processes)
            if cgroups is None:
                log.warning(
                    "no writable pids cgroup: the per-task process limit is not enforced and kills reach "
                    "setsid descendants only through their environment (docs/limits.md)"
                )
            else:
                log.info("attempts run in cgroup v%d groups under %s", cgroups.version, cgroups.root)
        with self._lock:
            self._limits = limits
            self._cgroups = cgroups
            if cgroups is not None and self._mover is None:
                self._mover = threading.Thread(target=self._move_loop, name="trigflow-cgroup-mover", daemon=True)
                self._mover.start()

    @property
    def cgroups(self) -> CgroupTree | None:
        """Where attempts' cgroups live, or None where the fallback applies (for /healthz and tests)."""
        return self._cgroups

    # ---- public API ------------------------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> ExecutorEvent:
        """Spawn the attempt in a new session and return its "started" event.

        The exit may be reported through `on_event` before this method returns (see `EventCallback`).
        """
        attempt_id = spec.attempt_id
        if not spec.argv:
            raise LaunchError("empty argv")
        with self._lock:
            if self._stopping:
                raise LaunchError("executor is shut down")
            if attempt_id in self._running or attempt_id in self._starting:
                raise LaunchError(f"attempt {attempt_id!r} is already running")
            self._starting.add(attempt_id)
        try:
            pid, log_fd, log_state = self._spawn(spec)
            try:
                pidfd = os.pidfd_open(pid)
            except OSError as exc:  # e.g. EMFILE: we could never see it exit, so do not leave it running
                _close(log_fd)
                self._abort_child(pid)
                log.warning("cannot watch process %s of attempt %s: %s", pid, attempt_id, exc)
                raise LaunchError(f"cannot watch the attempt's process: {exc.strerror or exc}") from exc
            # The child is at worst an unreaped zombie here, so /proc/<pid> is still there.
            proc_start = read_proc_start(pid)
            if proc_start is not None and self._spawns is not None:
                self._spawns.record(attempt_id, pid, proc_start)  # before the pid is committed (spawns.py)
            attempt = _Attempt(attempt_id, pid, pidfd, proc_start, sweep_value=spec.env.get(SWEEP_ENV),
                               log_fd=log_fd, log_state=log_state,
                               outputs=(spec.output_keys, spec.log_path, spec.outputs_path)
                               if spec.output_keys else None)  # fmt: skip
            wake = False
            with self._lock:
                if self._stopping:  # shutdown() raced with us: nobody would ever report this exit
                    os.close(pidfd)
                    _close(log_fd)
                    self._abort_child(pid)
                    raise LaunchError("executor is shut down")
                self._running[attempt_id] = attempt
                self._selector.register(pidfd, selectors.EVENT_READ, attempt)
                if self._cgroups is not None:
                    # The move runs on the mover thread (see _move_loop for why neither here nor on the
                    # watcher); until it is done the leader is never reaped, so its pid stays its own.
                    attempt.move = "queued"
                    self._to_move.append(attempt)
                    self._move_ready.notify()
                if attempt.log_state is not None and self._log_check_at is None:
                    # Only arming the timer needs the watcher to recompute its select() timeout.
                    self._log_check_at = time.monotonic() + self._log_check_delay
                    wake = True
            if wake:
                self._wake()
        finally:
            with self._lock:
                self._starting.discard(attempt_id)
                if not self._starting:
                    self._idle.notify_all()
        return ExecutorEvent(attempt_id, "started", _now_ms(), pid=pid, proc_start=proc_start)

    def adopt(self, attempt_id: str, pid: int, proc_start: str) -> bool:
        """Watch an attempt a previous server process started and that still runs (same pid and start
        time: the caller checked): its exit, with the status the keeper recorded, arrives as for any
        attempt, and `kill` reaches it. False if it is gone already."""
        return self._adopted.adopt(attempt_id, pid, proc_start)

    def kill(self, attempt_id: str, grace_seconds: float) -> bool:
        """SIGTERM the attempt's process group now, SIGKILL it when the grace period ends.

        Calling it again can only bring the SIGKILL deadline forward. Returns False if the attempt is
        unknown or its exit has already been reported.
        """
        with self._lock:
            attempt = self._running.get(attempt_id)
            if attempt is None:
                return self._adopted.kill(attempt_id, grace_seconds)
            # Safe against pid reuse: the leader is not reaped while it is in _running, and reaping
            # happens under this same lock.
            if grace_seconds <= 0:
                _signal_group(attempt.pid, signal.SIGKILL)
                self._sweep_later(attempt, signal.SIGKILL)
            else:
                _signal_group(attempt.pid, signal.SIGTERM)
                self._sweep_later(attempt, signal.SIGTERM)
                self._schedule_kill(attempt, time.monotonic() + grace_seconds)
        self._wake()
        return True

    def _sweep_later(self, attempt: _Attempt, sig: int) -> None:
        """Caller holds the lock. Signal the attempt's cgroup and environment matches on the watcher
        thread: reading a cgroup or every /proc/<pid>/environ must not hold up the caller."""
        if not attempt.pending:
            self._to_sweep.append(attempt)
        attempt.pending.append(sig)

    def running(self) -> set[str]:
        """Snapshot of attempts started and not yet reported as exited or lost."""
        with self._lock:
            return set(self._running) | self._adopted.running()

    def recorded(self, attempt_ids: Iterable[str]) -> None:
        """The engine made these attempts' exits durable: their zombies may go (reaped on the watcher thread,
        which then releases their cgroups). Ids not held are ignored. Any thread.

        The watcher is woken only when no attempt runs: otherwise its next pass (an exit, or the log check
        every 0.25 s) reaps them, and the 50-task chain does not pay a wake-up, and the GIL hand-over it
        costs, on its critical path between one task's commit and the next one's launch."""
        if not self._hold_exits:
            return
        wake = False
        with self._lock:
            for attempt_id in attempt_ids:
                attempt = self._held.pop(attempt_id, None)
                if attempt is None:
                    continue
                attempt.held = False
                if attempt in self._lingering or attempt.move == "moving":
                    if attempt.move == "moving":
                        attempt.reap_after_move = True
                    continue  # the kill's probe, or the mover, reaps it when it is done
                self._to_reap.append(attempt)
                wake = True
            wake = wake and not self._running
        if wake:
            self._wake()

    def health(self) -> ExecutorHealth:
        """Not ok when the watcher thread is gone: no exit would be reported any more."""
        with self._lock:
            watched = len(self._running)
            stopping = self._stopping
        if not stopping and not self._thread.is_alive():
            return ExecutorHealth(False, "the local executor's watcher thread is not running", {"running": watched})
        return ExecutorHealth(True, None, {"running": watched})

    def shutdown(self, kill: bool, grace_seconds: float) -> None:
        """Stop the watcher thread and release every descriptor; idempotent.

        `kill=True`: kill every running attempt with the given grace and report all exits before
        returning. `kill=False`: leave running attempts alive and report nothing more about them (the
        next server adopts them via pid + proc_start); attempts already being killed get their SIGKILL
        now, because nobody would be left to escalate. Further `start()` calls raise `LaunchError`.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("shutdown() cannot be called from on_event (it waits for that thread)")
        self._adopted.shutdown(kill, grace_seconds)
        with self._lock:
            first = not self._stopping
            self._stopping = True
            if first:
                self._stop_kill = kill
                if kill:
                    deadline = time.monotonic() + max(grace_seconds, 0.0)
                    for attempt in self._running.values():
                        sig = signal.SIGTERM if grace_seconds > 0 else signal.SIGKILL
                        _signal_group(attempt.pid, sig)
                        self._sweep_later(attempt, sig)
                        self._schedule_kill(attempt, deadline)
                    for attempt in self._lingering:  # stragglers of earlier kills: no longer than this
                        self._schedule_kill(attempt, deadline)
        self._wake()
        self._thread.join(timeout=max(grace_seconds, 0.0) + _SHUTDOWN_SLACK_SECONDS if kill else None)
        if self._thread.is_alive():
            log.error("processes did not die after SIGKILL; abandoning: %s", sorted(self.running()))
            with self._lock:
                self._stop_kill = False
            self._wake()
            self._thread.join()
        with self._lock:
            self._move_ready.notify_all()
        if self._mover is not None:
            self._mover.join()  # it drains its queue (each move takes microseconds to one RCU grace period)
        with self._lock:
            while self._starting:
                self._idle.wait()
            if self._closed:
                return
            self._closed = True
            for attempt in self._to_reap:
                _reap_quietly(attempt.pid)
                attempt.reaped = True
                self._release(attempt)
            self._to_reap.clear()
            for attempt in self._lingering:
                _signal_group(attempt.pid, signal.SIGKILL)
                self._kill_descendants(attempt)
                _reap_quietly(attempt.pid)
                self._release(attempt)
            self._lingering.clear()
            for attempt in self._running.values():
                if attempt.kill_deadline is not None:
                    _signal_group(attempt.pid, signal.SIGKILL)
                    self._kill_descendants(attempt)
                os.close(attempt.pidfd)
                _close(attempt.log_fd)  # left running (kill=False): its group stays for the next server
            self._running.clear()
            for fd, _state in self._stale.values():
                _close(fd)
            self._stale.clear()
            if self._cgroups is not None and self._stop_kill:
                self._cgroups.close()  # the instance dir stays only while a daemonised task lives on
            self._timers.clear()
            self._probe_at = None
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            os.close(self._devnull)

    # ---- spawning ----------------------------------------------------------------------------------

    def _spawn(self, spec: LaunchSpec) -> tuple[int, int, logcap.LogState | None]:
        """Seal the script, open the log, fork/exec; every failure becomes a LaunchError.

        Returns the pid, the log descriptor kept for trimming (-1 when the log is unbounded) and its state.
        """
        sealed: list[int] = []
        log_fd = watch_fd = -1
        try:
            argv, env = spec.argv, spec.env
            if spec.script is not None:
                sealed.append(_sealed_memfd("trigflow-script", spec.script.encode("utf-8", "surrogatepass")))
                argv = (*argv, f"/dev/fd/{sealed[-1]}")
                if spec.script_copy_path is not None:
                    _write_copy(spec.script_copy_path, spec.script)
            if spec.sealed_env:
                env = dict(env)
                for name, data in spec.sealed_env.items():
                    sealed.append(_sealed_memfd(f"trigflow-{name}", data))
                    env[name] = f"/dev/fd/{sealed[-1]}"
            log_fd = _open_creating_parent(spec.log_path, _LOG_FLAGS, 0o600)
            limit = self._limits.max_log_bytes
            if limit is not None:
                watch_fd = open_regular(spec.log_path, os.O_RDWR)
        except OSError as exc:
            for fd in (*sealed, log_fd, watch_fd):
                _close(fd)
            log.warning("cannot prepare the files of attempt %s: %s", spec.attempt_id, exc)
            raise LaunchError(f"cannot prepare the attempt's files: {exc.strerror or type(exc).__name__}") from exc
        try:
            proc = self._popen(spec, argv, env, log_fd, tuple(sealed))
        except LaunchError:
            _close(watch_fd)
            raise
        finally:
            os.close(log_fd)
            for fd in sealed:
                os.close(fd)
        # From here on this executor reaps the child (via its pidfd). Popen must not: its finalizer would
        # otherwise waitpid() the child and swallow the exit status. `_child_created` is the flag Popen
        # itself uses to mean "there is a child I am responsible for".
        proc._child_created = False  # type: ignore[attr-defined]
        state = None if watch_fd < 0 or limit is None else logcap.LogState(max(limit, logcap.MIN_LOG_BYTES))
        return proc.pid, watch_fd, state

    def _popen(
        self, spec: LaunchSpec, argv: tuple[str, ...], env: Mapping[str, str], log_fd: int, pass_fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                argv,
                stdin=self._devnull,
                stdout=log_fd,
                stderr=log_fd,
                cwd=spec.cwd,
                env=env,
                close_fds=True,
                pass_fds=pass_fds,
                start_new_session=True,
            )
        except OSError as exc:
            log.warning("cannot start attempt %s (%s in %s): %s", spec.attempt_id, argv[0], spec.cwd, exc)
            raise LaunchError(_describe_spawn_error(exc, spec)) from exc
        except (ValueError, TypeError) as exc:  # e.g. a NUL byte in argv or env
            log.warning("invalid launch spec for attempt %s: %s", spec.attempt_id, exc)
            raise LaunchError(f"invalid launch spec: {type(exc).__name__} (a NUL byte in a value?)") from exc

    @staticmethod
    def _abort_child(pid: int) -> None:
        _signal_group(pid, signal.SIGKILL)
        _reap_quietly(pid, block=True)

    # ---- watcher thread ------------------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")  # a full pipe already guarantees a pending wake-up

    def _schedule_kill(self, attempt: _Attempt, deadline: float) -> None:
        """Caller holds the lock. Only ever moves the escalation earlier."""
        if attempt.kill_deadline is None or deadline < attempt.kill_deadline:
            attempt.kill_deadline = deadline
            self._timer_seq += 1
            heapq.heappush(self._timers, (deadline, self._timer_seq, attempt))

    def _run(self) -> None:
        selector = self._selector
        wake_r = self._wake_r
        while True:
            with self._lock:
                if self._stopping and (not self._stop_kill or not (self._running or self._lingering)):
                    return
                due = [t for t in (self._probe_at, self._log_check_at) if t is not None]
                if self._timers:
                    due.append(self._timers[0][0])
                next_at = min(due) if due else None
            timeout = None if next_at is None else max(next_at - time.monotonic(), 0.0)
            events: list[ExecutorEvent] = []
            exited: list[_Attempt] = []
            ready = selector.select(timeout)
            self._deliver_sweeps()
            if self._to_reap:
                exited.extend(self._reap_moved())
            for key, _mask in ready:
                if key.fd == wake_r:
                    _drain(wake_r)
                    continue
                try:
                    event = self._collect_exit(key.data)
                    if event is not None:
                        self._trim_final(key.data)
                        if key.data.reaped:
                            exited.append(key.data)
                        if event.kind == "exited" and key.data.outputs is not None:
                            keys, log_path, outputs_path = key.data.outputs  # read from the bounded log
                            event = replace(event, outputs=collect_outputs(log_path, outputs_path, keys))
                except Exception:  # a bug here must not stop exit detection for everyone else
                    log.exception("failed to process exit of attempt %s", key.data.attempt_id)
                    event = self._give_up(key.data)
                if event is not None:
                    events.append(event)
            if self._timers:
                self._fire_timers()
            if self._probe_at is not None and self._probe_at <= time.monotonic():
                self._probe_lingering()
            if self._log_check_at is not None and self._log_check_at <= time.monotonic():
                self._check_logs()
            for event in events:
                try:
                    self._on_event(event)
                except Exception:
                    log.exception("on_event callback failed for %s", event)
            # After the events: the caller reacts to an exit (e.g. starts a dependant) while the cgroup
            # release (a read of cgroup.procs) runs here, off that critical path. The log was trimmed above,
            # before the event, so outputs are always read from the bounded log.
            for attempt in exited:
                try:
                    self._release(attempt, trimmed=True)
                except Exception:
                    log.exception("failed to release attempt %s", attempt.attempt_id)

    def _move_loop(self) -> None:
        """Move freshly started leaders into their cgroups, on a thread of its own.

        A cgroup v1/v2 migration takes the kernel's global threadgroup rwsem for writing; when no
        migration happened for ~20 ms that first waits for an RCU grace period (measured here: 6-15 ms,
        against ~20 us when migrations are frequent; bench/isolation_probe.py). On the thread that starts
        attempts it stalled the scheduler for that long on every start of a sparse workload; on the
        watcher thread it held up exit detection for everyone (and its wake-up per start cost 8-13% of the
        50-task chain). Here it delays nothing but the move itself. The price is a window of at most one
        grace period in which a task's first children are born outside its group (the kill's process-group
        signal and environment sweep still reach them; docs/adr/0003-attempt-isolation.md).
        """
        while True:
            with self._lock:
                while not self._to_move and not self._stopping:
                    self._move_ready.wait()
                if not self._to_move:
                    return
                attempt = self._to_move.popleft()
                if attempt.move != "queued":
                    continue  # it exited first: nothing to contain
                attempt.move = "moving"
                cgroups = self._cgroups
            path = cgroups.enter(attempt.pid) if cgroups is not None else None
            with self._lock:
                attempt.cgroup, attempt.move = path, None
                reap = attempt.reap_after_move and not attempt.held  # held: `recorded` queues it
                if reap:
                    self._to_reap.append(attempt)
            if reap:
                self._wake()

    def _reap_moved(self) -> list[_Attempt]:
        """Reap leaders whose exit was reported while their move was in flight (watcher thread)."""
        with self._lock:
            todo, self._to_reap = self._to_reap, []
            for attempt in todo:
                _reap_quietly(attempt.pid)
                attempt.reaped = True
        return todo

    def _deliver_sweeps(self) -> None:
        """Signals kill() asked for beyond the process group: the attempt's cgroup and its environment."""
        with self._lock:
            todo, self._to_sweep = self._to_sweep, []
            work = [(a, a.pending[:]) for a in todo]
            for a in todo:
                a.pending.clear()
        if not work:
            return
        values = {a.sweep_value for a, _sigs in work if a.sweep_value is not None}
        by_env = find_pids_by_env_values(SWEEP_ENV, values) if values else {}
        for attempt, sigs in work:
            for sig in sigs:
                self._signal_descendants(attempt, sig, by_env.get(attempt.sweep_value or "", ()))

    def _signal_descendants(self, attempt: _Attempt, sig: int, env_pids: Iterable[int] = ()) -> None:
        if attempt.cgroup is not None and self._cgroups is not None:
            self._cgroups.signal(attempt.cgroup, sig)
        for pid in env_pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _kill_descendants(self, attempt: _Attempt) -> None:
        """SIGKILL everything of the attempt outside its process group: cgroup members, env matches."""
        env_pids = find_pids_by_env(SWEEP_ENV, attempt.sweep_value) if attempt.sweep_value else []
        self._signal_descendants(attempt, signal.SIGKILL, env_pids)

    def _trim_final(self, attempt: _Attempt) -> None:
        """Bound what the exited attempt wrote since the last timer check, before anyone reads its outputs."""
        if attempt.log_fd >= 0 and attempt.log_state is not None:
            try:
                logcap.trim(attempt.log_fd, attempt.log_state)
            except OSError as exc:
                log.warning("cannot trim the log of attempt %s after its exit: %s", attempt.attempt_id, exc)

    def _release(self, attempt: _Attempt, *, trimmed: bool = False) -> None:
        """The leader is reaped: drop its cgroup when empty, else keep watching it (and its log) for later."""
        if not trimmed:
            self._trim_final(attempt)
        path, attempt.cgroup = attempt.cgroup, None
        fd, attempt.log_fd = attempt.log_fd, -1
        if path is not None and self._cgroups is not None and not self._cgroups.release(path):
            self._stale[path] = (fd, attempt.log_state)  # a daemonised descendant outlived the attempt
            if self._log_check_at is None:  # the same timer retries the group (and bounds its log)
                self._log_check_at = time.monotonic() + _LOG_CHECK_SECONDS
            return
        _close(fd)

    def _check_logs(self) -> None:
        """Keep every running attempt's log (and that of a busy stale group) within its limit."""
        with self._lock:
            attempts = [a for a in self._running.values() if a.log_state is not None and a.log_fd >= 0]
        hot = False
        for attempt in attempts:
            assert attempt.log_state is not None
            try:
                dropped = logcap.trim(attempt.log_fd, attempt.log_state)
            except OSError as exc:
                self._log_too_big(attempt, exc)
                continue
            hot = hot or dropped > attempt.log_state.limit // 8
        for path, (fd, state) in list(self._stale.items()):
            if self._cgroups is not None and self._cgroups.release(path):
                _close(fd)
                del self._stale[path]
            elif state is not None and fd >= 0:
                try:
                    logcap.trim(fd, state)
                except OSError:
                    _close(fd)
                    self._stale[path] = (-1, None)
        with self._lock:
            self._log_check_delay = _LOG_CHECK_HOT_SECONDS if hot else _LOG_CHECK_SECONDS
            busy = self._stale or any(a.log_state is not None for a in self._running.values())
            self._log_check_at = time.monotonic() + self._log_check_delay if busy else None

    def _log_too_big(self, attempt: _Attempt, exc: OSError) -> None:
        """The log is over its limit and cannot be trimmed in place: stop the attempt, say why."""
        limit = attempt.log_state.limit if attempt.log_state is not None else 0
        log.warning("log of attempt %s cannot be trimmed (%s); killing the attempt", attempt.attempt_id, exc)
        _close(attempt.log_fd)
        attempt.log_fd, attempt.log_state = -1, None
        with self._lock:
            if attempt.reaped or self._running.get(attempt.attempt_id) is not attempt:
                return
            attempt.fail_message = (
                f"log exceeded {limit} bytes (--max-log-bytes) and its filesystem cannot drop the middle "
                f"of a file ({exc.strerror or exc}); the attempt was killed"
            )
            _signal_group(attempt.pid, signal.SIGKILL)
            self._sweep_later(attempt, signal.SIGKILL)
        self._wake()

    def _collect_exit(self, attempt: _Attempt) -> ExecutorEvent | None:
        with self._lock:
            pid = attempt.pid
            if attempt.move == "queued":
                attempt.move = None  # not moved yet and nothing left to contain: the mover skips it
            defer = attempt.move == "moving"  # the mover is writing this pid: reap only once it is done
            keep_zombie = attempt.kill_deadline is not None or defer or self._hold_exits
            try:
                if keep_zombie:
                    # A kill is in progress: read the status but leave the zombie, which pins the pgid
                    # until the escalation SIGKILL has swept up any stragglers in the group; or the
                    # mover is writing this pid into its cgroup, which a reap now could hand to a stranger.
                    result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                    if result is None:
                        return None
                    code = result.si_status if result.si_code == os.CLD_EXITED else -result.si_status
                else:
                    reaped_pid, status = os.waitpid(pid, os.WNOHANG)
                    if reaped_pid == 0:
                        return None  # spurious readiness; level-triggered epoll will report it again
                    code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self._forget(attempt)
                attempt.reaped = True
                return ExecutorEvent(
                    attempt.attempt_id,
                    "lost",
                    _now_ms(),
                    pid=pid,
                    proc_start=attempt.proc_start,
                    message="exit status was collected by someone else (waitpid elsewhere or SIGCHLD ignored)",
                )
            self._forget(attempt)
            if self._hold_exits:
                attempt.held = True
                self._held[attempt.attempt_id] = attempt
            if attempt.kill_deadline is not None:
                self._lingering.add(attempt)
                if self._probe_at is None:
                    self._probe_delay = _PROBE_FIRST_SECONDS
                    self._probe_at = time.monotonic() + self._probe_delay
            elif defer:
                attempt.reap_after_move = True
            elif not attempt.held:
                attempt.reaped = True
            return ExecutorEvent(
                attempt.attempt_id,
                "exited",
                _now_ms(),
                pid=pid,
                proc_start=attempt.proc_start,
                exit_code=code,
                message=attempt.fail_message,
            )

    def _give_up(self, attempt: _Attempt) -> ExecutorEvent:
        """Stop watching an attempt whose exit could not be processed, so its fd cannot spin the loop."""
        with self._lock:
            with contextlib.suppress(Exception):
                self._forget(attempt)
            self._lingering.discard(attempt)
            attempt.reaped = True
            with contextlib.suppress(Exception):
                self._release(attempt)
        return ExecutorEvent(
            attempt.attempt_id,
            "lost",
            _now_ms(),
            pid=attempt.pid,
            proc_start=attempt.proc_start,
            message="internal error while collecting the exit status (see server log)",
        )

    def _forget(self, attempt: _Attempt) -> None:
        """Caller holds the lock. Unregister before close so a recycled fd number is never confused."""
        self._selector.unregister(attempt.pidfd)
        os.close(attempt.pidfd)
        if self._running.get(attempt.attempt_id) is attempt:
            del self._running[attempt.attempt_id]

    def _fire_timers(self) -> None:
        now = time.monotonic()
        expired: list[_Attempt] = []
        with self._lock:
            timers = self._timers
            while timers and timers[0][0] <= now:
                deadline, _seq, attempt = heapq.heappop(timers)
                if attempt.reaped or attempt.kill_deadline != deadline:
                    continue  # already gone, or superseded by an earlier deadline
                attempt.kill_deadline = None
                # The leader is unreaped (running, or a lingering zombie), so the pgid is still ours.
                _signal_group(attempt.pid, signal.SIGKILL)
                expired.append(attempt)
        # Outside the lock (an environment sweep reads all of /proc); only this thread reaps lingering
        # leaders, so their pids stay pinned until the sweep is done.
        if not expired:
            return
        values = {a.sweep_value for a in expired if a.sweep_value is not None}
        by_env = find_pids_by_env_values(SWEEP_ENV, values) if values else {}
        for attempt in expired:
            self._signal_descendants(attempt, signal.SIGKILL, by_env.get(attempt.sweep_value or "", ()))
        with self._lock:
            for attempt in expired:
                if attempt in self._lingering and attempt.move != "moving":  # else: the probe, later
                    self._lingering.discard(attempt)
                    _reap_quietly(attempt.pid)
                    attempt.reaped = True
                    self._release(attempt)

    def _probe_lingering(self) -> None:
        """Release lingering zombies whose attempt has no live process left (nothing to sweep).

        "Left" means: nobody in the leader's process group, nobody alive in its cgroup and nobody carrying
        its SWEEP_ENV value. The /proc scans run without the lock (they take milliseconds on a busy host
        and start() must not wait for them); only this thread ever removes lingering attempts, so the
        snapshot stays valid. A straggler that forks and exits *during* the scan could hide its child;
        that child then merely escapes the early release (the SIGKILL deadline still sweeps it).
        """
        live = _live_process_groups()
        with self._lock:
            candidates = [a for a in self._lingering if a.pid not in live]
        values = {a.sweep_value for a in candidates if a.sweep_value is not None}
        by_env = find_pids_by_env_values(SWEEP_ENV, values) if values else {}
        cgroups = self._cgroups
        done = [
            a
            for a in candidates
            if a.move != "moving"
            and not a.held
            and not by_env.get(a.sweep_value or "")
            and not (a.cgroup is not None and cgroups is not None and _any_alive(cgroups.pids(a.cgroup), a.pid))
        ]
        with self._lock:
            for attempt in done:
                self._lingering.discard(attempt)
                _reap_quietly(attempt.pid)
                attempt.reaped = True
                attempt.kill_deadline = None
                self._release(attempt)
            if self._lingering:
                self._probe_delay = min(self._probe_delay * 2, _PROBE_MAX_SECONDS)
                self._probe_at = time.monotonic() + self._probe_delay
            else:
                self._probe_at = None


def _any_alive(pids: Iterable[int], leader: int) -> bool:
    """True if a process other than the (zombie) leader is alive among `pids`."""
    for pid in pids:
        if pid != leader:
            stat = _read_stat(pid)
            if stat is not None and stat[0] not in _DEAD_STATES:
                return True
    return False


def _close(fd: int) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def _signal_group(pgid: int, sig: int) -> None:
    # ESRCH cannot normally happen (the leader is unreaped), EPERM only if a child changed its uid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap_quietly(pid: int, block: bool = False) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0 if block else os.WNOHANG)


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass
