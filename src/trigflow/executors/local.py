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

Nothing here touches the database; results leave through the `on_event` callback (see
`trigflow.executors.base.EventCallback` for its threading contract).
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from trigflow.executors.base import EventCallback, ExecutorEvent, LaunchError, LaunchSpec

__all__ = [
    "LocalExecutor",
    "find_process_groups_by_env",
    "is_same_process_alive",
    "kill_process_group",
    "read_proc_start",
]

log = logging.getLogger(__name__)

_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
_SCRIPT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_ETXTBSY_RETRIES = 4
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
    if not values:
        return found
    prefix = name.encode() + b"="
    own_group = os.getpgrp()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                value = item[len(prefix) :].decode(errors="replace")
                if value in values:
                    try:
                        pgid = os.getpgid(int(entry))
                    except OSError:
                        break
                    if pgid > 1 and pgid != own_group:
                        found.setdefault(value, set()).add(pgid)
                break
    return found


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
    """Open, creating missing parent directories only on failure (the common case costs one syscall)."""
    try:
        return os.open(path, flags, mode)
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if not parent:
            raise
        os.makedirs(parent, exist_ok=True)
        return os.open(path, flags, mode)


def _write_script(path: str, text: str) -> None:
    """Write the attempt's script owner-only executable (it may embed parameters the owner set)."""
    data = memoryview(text.encode("utf-8"))
    fd = _open_creating_parent(path, _SCRIPT_FLAGS, 0o700)
    try:
        os.fchmod(fd, 0o700)  # O_CREAT's mode does not apply to a pre-existing file
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def _describe_spawn_error(exc: OSError, spec: LaunchSpec) -> str:
    if isinstance(exc, FileNotFoundError):
        if exc.filename == spec.cwd and exc.filename != spec.argv[0]:
            return f"working directory does not exist: {spec.cwd!r}"
        if "/" in spec.argv[0] and os.path.isfile(os.path.join(spec.cwd, spec.argv[0])):
            # execve says ENOENT for a script whose #! interpreter is missing: name the real culprit.
            return f"interpreter of {spec.argv[0]!r} (its #! line) not found"
        return f"command not found: {spec.argv[0]!r}"
    if isinstance(exc, PermissionError):
        where = exc.filename if exc.filename is not None else spec.argv[0]
        return f"permission denied: {where!r}"
    if isinstance(exc, NotADirectoryError):
        return f"not a directory: {exc.filename!r}"
    return f"cannot start {spec.argv[0]!r}: {exc.strerror or exc}"


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


class LocalExecutor:
    """Runs attempts as child processes of this server; see the module docstring for the design.

    Thread safety: `start`, `kill`, `running` and `shutdown` may be called from any thread. `on_event`
    is called from the executor's own thread only (see `EventCallback`); it receives "exited" and, if
    some other code in the process reaped our child first, "lost". Never call `os.wait()` or
    `os.waitpid(-1, ...)` elsewhere in the server, or set SIGCHLD to SIG_IGN: both steal exit statuses.
    """

    def __init__(self, on_event: EventCallback) -> None:
        self._on_event = on_event
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # signalled when an in-flight start() finishes
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
        self._thread.start()

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
            pid = self._spawn(spec)
            try:
                pidfd = os.pidfd_open(pid)
            except OSError as exc:  # e.g. EMFILE: we could never see it exit, so do not leave it running
                self._abort_child(pid)
                raise LaunchError(f"cannot watch process {pid}: {exc.strerror or exc}") from exc
            # The child is at worst an unreaped zombie here, so /proc/<pid> is still there.
            proc_start = read_proc_start(pid)
            attempt = _Attempt(attempt_id, pid, pidfd, proc_start)
            with self._lock:
                if self._stopping:  # shutdown() raced with us: nobody would ever report this exit
                    os.close(pidfd)
                    self._abort_child(pid)
                    raise LaunchError("executor is shut down")
                self._running[attempt_id] = attempt
                self._selector.register(pidfd, selectors.EVENT_READ, attempt)
        finally:
            with self._lock:
                self._starting.discard(attempt_id)
                if not self._starting:
                    self._idle.notify_all()
        return ExecutorEvent(attempt_id, "started", _now_ms(), pid=pid, proc_start=proc_start)

    def kill(self, attempt_id: str, grace_seconds: float) -> bool:
        """SIGTERM the attempt's process group now, SIGKILL it when the grace period ends.

        Calling it again can only bring the SIGKILL deadline forward. Returns False if the attempt is
        unknown or its exit has already been reported.
        """
        with self._lock:
            attempt = self._running.get(attempt_id)
            if attempt is None:
                return False
            # Safe against pid reuse: the leader is not reaped while it is in _running, and reaping
            # happens under this same lock.
            if grace_seconds <= 0:
                _signal_group(attempt.pid, signal.SIGKILL)
                return True
            _signal_group(attempt.pid, signal.SIGTERM)
            self._schedule_kill(attempt, time.monotonic() + grace_seconds)
        self._wake()
        return True

    def running(self) -> set[str]:
        """Snapshot of attempts started and not yet reported as exited or lost."""
        with self._lock:
            return set(self._running)

    def shutdown(self, kill: bool, grace_seconds: float) -> None:
        """Stop the watcher thread and release every descriptor; idempotent.

        `kill=True`: kill every running attempt with the given grace and report all exits before
        returning. `kill=False`: leave running attempts alive and report nothing more about them (the
        next server adopts them via pid + proc_start); attempts already being killed get their SIGKILL
        now, because nobody would be left to escalate. Further `start()` calls raise `LaunchError`.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("shutdown() cannot be called from on_event (it waits for that thread)")
        with self._lock:
            first = not self._stopping
            self._stopping = True
            if first:
                self._stop_kill = kill
                if kill:
                    deadline = time.monotonic() + max(grace_seconds, 0.0)
                    for attempt in self._running.values():
                        _signal_group(attempt.pid, signal.SIGTERM if grace_seconds > 0 else signal.SIGKILL)
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
            while self._starting:
                self._idle.wait()
            if self._closed:
                return
            self._closed = True
            for attempt in self._lingering:
                _signal_group(attempt.pid, signal.SIGKILL)
                _reap_quietly(attempt.pid)
            self._lingering.clear()
            for attempt in self._running.values():
                if attempt.kill_deadline is not None:
                    _signal_group(attempt.pid, signal.SIGKILL)
                os.close(attempt.pidfd)
            self._running.clear()
            self._timers.clear()
            self._probe_at = None
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            os.close(self._devnull)

    # ---- spawning ----------------------------------------------------------------------------------

    def _spawn(self, spec: LaunchSpec) -> int:
        """Write the script, open the log, fork/exec; every failure becomes a LaunchError."""
        try:
            if spec.script_path is not None and spec.script_text is not None:
                _write_script(spec.script_path, spec.script_text)
            log_fd = _open_creating_parent(spec.log_path, _LOG_FLAGS, 0o644)
        except OSError as exc:
            raise LaunchError(f"cannot prepare attempt files: {exc}") from exc
        try:
            proc = self._popen(spec, log_fd)
        finally:
            os.close(log_fd)
        # From here on this executor reaps the child (via its pidfd). Popen must not: its finalizer would
        # otherwise waitpid() the child and swallow the exit status. `_child_created` is the flag Popen
        # itself uses to mean "there is a child I am responsible for".
        proc._child_created = False  # type: ignore[attr-defined]
        return proc.pid

    def _popen(self, spec: LaunchSpec, log_fd: int) -> subprocess.Popen[bytes]:
        retry = 0
        while True:
            try:
                return subprocess.Popen(
                    spec.argv,
                    stdin=self._devnull,
                    stdout=log_fd,
                    stderr=log_fd,
                    cwd=spec.cwd,
                    env=spec.env,
                    close_fds=True,
                    start_new_session=True,
                )
            except OSError as exc:
                # ETXTBSY: a script we just wrote is executed directly while another thread's fork
                # still holds our (close-on-exec) write descriptor; that clears within moments.
                if exc.errno != errno.ETXTBSY or retry >= _ETXTBSY_RETRIES:
                    raise LaunchError(_describe_spawn_error(exc, spec)) from exc
                time.sleep(0.001 * 2**retry)
                retry += 1
            except (ValueError, TypeError) as exc:  # e.g. a NUL byte in argv or env
                raise LaunchError(f"invalid launch spec: {exc}") from exc

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
                next_at = self._timers[0][0] if self._timers else None
                if self._probe_at is not None and (next_at is None or self._probe_at < next_at):
                    next_at = self._probe_at
            timeout = None if next_at is None else max(next_at - time.monotonic(), 0.0)
            events: list[ExecutorEvent] = []
            for key, _mask in selector.select(timeout):
                if key.fd == wake_r:
                    _drain(wake_r)
                    continue
                try:
                    event = self._on_exit(key.data)
                except Exception:  # a bug here must not stop exit detection for everyone else
                    log.exception("failed to process exit of attempt %s", key.data.attempt_id)
                    event = self._give_up(key.data)
                if event is not None:
                    events.append(event)
            if self._timers:
                self._fire_timers()
            if self._probe_at is not None and self._probe_at <= time.monotonic():
                self._probe_lingering()
            for event in events:
                try:
                    self._on_event(event)
                except Exception:
                    log.exception("on_event callback failed for %s", event)

    def _on_exit(self, attempt: _Attempt) -> ExecutorEvent | None:
        """The attempt's pidfd is readable: collect the exit status and stop watching it."""
        with self._lock:
            pid = attempt.pid
            keep_zombie = attempt.kill_deadline is not None
            try:
                if keep_zombie:
                    # A kill is in progress: read the status but leave the zombie, which pins the pgid
                    # until the escalation SIGKILL has swept up any stragglers in the group.
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
            if keep_zombie:
                self._lingering.add(attempt)
                if self._probe_at is None:
                    self._probe_delay = _PROBE_FIRST_SECONDS
                    self._probe_at = time.monotonic() + self._probe_delay
            else:
                attempt.reaped = True
            return ExecutorEvent(
                attempt.attempt_id, "exited", _now_ms(), pid=pid, proc_start=attempt.proc_start, exit_code=code
            )

    def _give_up(self, attempt: _Attempt) -> ExecutorEvent:
        """Stop watching an attempt whose exit could not be processed, so its fd cannot spin the loop."""
        with self._lock:
            with contextlib.suppress(Exception):
                self._forget(attempt)
            self._lingering.discard(attempt)
            attempt.reaped = True
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
        with self._lock:
            timers = self._timers
            while timers and timers[0][0] <= now:
                deadline, _seq, attempt = heapq.heappop(timers)
                if attempt.reaped or attempt.kill_deadline != deadline:
                    continue  # already gone, or superseded by an earlier deadline
                attempt.kill_deadline = None
                # The leader is unreaped (running, or a lingering zombie), so the pgid is still ours.
                _signal_group(attempt.pid, signal.SIGKILL)
                if attempt in self._lingering:
                    self._lingering.discard(attempt)
                    _reap_quietly(attempt.pid)
                    attempt.reaped = True

    def _probe_lingering(self) -> None:
        """Release lingering zombies whose group has no live member left (nothing to sweep).

        The /proc scan runs without the lock (it takes milliseconds on a busy host and start() must not
        wait for it); only this thread ever removes lingering attempts, so the snapshot stays valid. A
        straggler that forks and exits *during* the scan could hide its child; that child then merely
        escapes the sweep (it still pins the group id, so nothing else can be hit).
        """
        live = _live_process_groups()
        with self._lock:
            for attempt in [a for a in self._lingering if a.pid not in live]:
                self._lingering.discard(attempt)
                _reap_quietly(attempt.pid)
                attempt.reaped = True
                attempt.kill_deadline = None
            if self._lingering:
                self._probe_delay = min(self._probe_delay * 2, _PROBE_MAX_SECONDS)
                self._probe_at = time.monotonic() + self._probe_delay
            else:
                self._probe_at = None


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
