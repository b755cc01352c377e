"""LocalExecutor and the restart-recovery helpers, against real processes.

Nothing sleeps to "let things happen": every wait is on a queue, a pidfd or a FIFO with a deadline, so
the tests are as fast as the processes and fail with a clear message instead of hanging or flaking.
"""

from __future__ import annotations

import errno
import os
import queue
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trigflow.executors import logcap
from trigflow.executors.base import AttemptLimits, Executor, ExecutorEvent, LaunchError, LaunchSpec
from trigflow.executors.local import (
    LocalExecutor,
    is_same_process_alive,
    kill_process_group,
    read_proc_start,
)

WAIT = 10.0  # generous upper bound for anything that should take milliseconds


class Recorder:
    """The on_event callback: hands events from the executor thread to the test thread via a queue."""

    def __init__(self) -> None:
        self.events: queue.Queue[ExecutorEvent] = queue.Queue()

    def __call__(self, event: ExecutorEvent) -> None:
        self.events.put(event)

    def next(self, timeout: float = WAIT) -> ExecutorEvent:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no executor event within {timeout}s") from None

    def drain(self) -> list[ExecutorEvent]:
        out: list[ExecutorEvent] = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(recorder: Recorder) -> Iterator[LocalExecutor]:
    ex = LocalExecutor(recorder)
    yield ex
    ex.shutdown(kill=True, grace_seconds=0.2)


def make_spec(tmp_path: Path, attempt_id: str, *argv: str, **kw: object) -> LaunchSpec:
    fields: dict[str, object] = {
        "env": dict(os.environ),
        "cwd": str(tmp_path),
        "log_path": str(tmp_path / "logs" / f"{attempt_id}.log"),
    }
    fields.update(kw)
    return LaunchSpec(attempt_id=attempt_id, argv=tuple(argv), **fields)  # type: ignore[arg-type]


def run_to_exit(executor: LocalExecutor, recorder: Recorder, spec: LaunchSpec) -> ExecutorEvent:
    started = executor.start(spec)
    exited = recorder.next()
    assert (exited.attempt_id, exited.kind, exited.pid) == (spec.attempt_id, "exited", started.pid)
    return exited


def wait_pid_gone(pid: int, timeout: float) -> bool:
    """True once `pid` has exited (zombie or reaped); waits on a pidfd, so no polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def read_fifo_line(path: Path, timeout: float = WAIT) -> str:
    """Read one line a child writes into a FIFO; the FIFO is the child's "I am ready" handshake."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([fd], [], [], max(remaining, 0))
            if not readable:
                raise AssertionError(f"nothing written to {path} within {timeout}s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"writer closed {path} without a full line: {buf!r}")
            buf += chunk
        return buf.decode().strip()
    finally:
        os.close(fd)


def make_fifo(tmp_path: Path) -> Path:
    path = tmp_path / "handshake.fifo"
    os.mkfifo(path)
    return path


# ---- lifecycle ------------------------------------------------------------------------------------


def test_local_executor_satisfies_the_protocol(executor: LocalExecutor) -> None:
    assert isinstance(executor, Executor)


def test_exit_zero_is_reported_with_pid_and_identity(
    executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    before = time.time_ns() // 1_000_000
    started = executor.start(make_spec(tmp_path, "a1", "true"))
    assert started.kind == "started"
    assert started.attempt_id == "a1"
    assert started.pid is not None and started.pid > 0
    assert started.proc_start  # read while the child was at worst an unreaped zombie
    assert started.exit_code is None
    exited = recorder.next()
    assert exited.kind == "exited"
    assert exited.exit_code == 0
    assert (exited.pid, exited.proc_start) == (started.pid, started.proc_start)
    assert before <= started.at_ms <= exited.at_ms <= time.time_ns() // 1_000_000
    assert executor.running() == set()


@pytest.mark.parametrize("code", [1, 3, 255])
def test_nonzero_exit_code_is_reported(executor: LocalExecutor, recorder: Recorder, tmp_path: Path, code: int) -> None:
    exited = run_to_exit(executor, recorder, make_spec(tmp_path, "a", "sh", "-c", f"exit {code}"))
    assert exited.exit_code == code


def test_death_by_signal_is_a_negative_exit_code(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    exited = run_to_exit(executor, recorder, make_spec(tmp_path, "a", "sh", "-c", "kill -KILL $$"))
    assert exited.exit_code == -9


def test_stdout_and_stderr_are_appended_to_the_log(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    log_path = tmp_path / "deep" / "er" / "attempt.log"
    for n in (1, 2):
        spec = make_spec(tmp_path, f"a{n}", "sh", "-c", f"echo out{n}; echo err{n} >&2", log_path=str(log_path))
        assert run_to_exit(executor, recorder, spec).exit_code == 0
    assert log_path.read_text() == "out1\nerr1\nout2\nerr2\n"


def test_stdin_is_dev_null(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "a", "cat")  # would block forever on an inherited terminal or pipe
    assert run_to_exit(executor, recorder, spec).exit_code == 0
    assert Path(spec.log_path).read_text() == ""


def test_env_and_cwd_are_exactly_as_given(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {"PATH": os.environ["PATH"], "TRIGFLOW_PROBE": "x y"}
    spec = make_spec(
        tmp_path, "a", "sh", "-c", 'echo "$TRIGFLOW_PROBE"; pwd; echo "${HOME-unset}"', env=env, cwd=str(workdir)
    )
    assert run_to_exit(executor, recorder, spec).exit_code == 0
    assert Path(spec.log_path).read_text().splitlines() == ["x y", str(workdir), "unset"]


def test_each_attempt_gets_its_own_session(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "a", sys.executable, "-c", "import os; print(os.getsid(0), os.getpgrp())")
    started = executor.start(spec)
    assert recorder.next().exit_code == 0
    assert Path(spec.log_path).read_text().split() == [str(started.pid)] * 2


# ---- scripts ----------------------------------------------------------------------------------------


def test_bash_script_runs_from_a_sealed_memfd(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    copy = tmp_path / "run" / "a.sh"
    text = 'echo "hello from $0"\nexit 7\n'
    spec = make_spec(tmp_path, "a", "bash", script=text, script_copy_path=str(copy))
    assert run_to_exit(executor, recorder, spec).exit_code == 7
    out = Path(spec.log_path).read_text()
    assert out.startswith("hello from /dev/fd/") and out.endswith("\n")
    assert copy.read_text() == text  # the human-readable copy, owner-only and not executable
    assert os.stat(copy).st_mode & 0o777 == 0o600


def test_python_script_runs_with_sys_executable(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    text = "import sys\nprint('py ok', sys.argv[0].startswith('/dev/fd/'))\nsys.exit(4)\n"
    spec = make_spec(tmp_path, "a", sys.executable, script=text)
    assert run_to_exit(executor, recorder, spec).exit_code == 4
    assert Path(spec.log_path).read_text() == "py ok True\n"


def test_the_running_script_cannot_be_rewritten_through_proc(
    executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    """The attack of finding 3: rewrite what another attempt is about to execute. Through /proc the
    sealed memfd reopens read-only: every write, truncation and writable mapping is refused."""
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    spec = make_spec(tmp_path, "a", "bash", script=f"read _ < {fifo}\necho original code ran\n")
    started = executor.start(spec)
    assert started.pid is not None
    fds = f"/proc/{started.pid}/fd"
    memfds = [n for n in os.listdir(fds) if "memfd:" in os.readlink(f"{fds}/{n}")]
    assert memfds
    for n in memfds:
        path = f"/proc/{started.pid}/fd/{n}"
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
            try:
                fd = os.open(path, flags)
            except PermissionError:
                continue
            try:
                with pytest.raises(PermissionError):
                    os.write(fd, b"echo swapped code ran\n")
                with pytest.raises(PermissionError):
                    os.ftruncate(fd, 0)
            finally:
                os.close(fd)
    with open(fifo, "w") as f:
        f.write("go\n")
    assert recorder.next().exit_code == 0
    assert Path(spec.log_path).read_text() == "original code ran\n"


def test_sealed_env_hands_code_to_bash_env(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "a", "bash", script='echo "$GREETING"\n', sealed_env={"BASH_ENV": b"GREETING=hi\n"})
    assert run_to_exit(executor, recorder, spec).exit_code == 0
    assert Path(spec.log_path).read_text() == "hi\n"


# ---- launch errors ----------------------------------------------------------------------------------


def test_missing_executable_is_a_launch_error(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="command not found: 'no-such-command-xyz'"):
        executor.start(make_spec(tmp_path, "a", "no-such-command-xyz", "arg"))
    assert executor.running() == set()
    # A failed start never produces an event; a later successful one is the first thing reported.
    assert run_to_exit(executor, recorder, make_spec(tmp_path, "b", "true")).attempt_id == "b"


def test_missing_cwd_is_a_launch_error(executor: LocalExecutor, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(LaunchError, match="working directory does not exist"):
        executor.start(make_spec(tmp_path, "a", "true", cwd=str(missing)))
    assert executor.running() == set()


def test_non_executable_file_is_a_launch_error(executor: LocalExecutor, tmp_path: Path) -> None:
    plain = tmp_path / "plain.sh"
    plain.write_text("echo hi\n")
    plain.chmod(0o644)
    with pytest.raises(LaunchError, match="permission denied") as info:
        executor.start(make_spec(tmp_path, "a", str(plain)))
    assert str(tmp_path) not in info.value.message  # the client never sees a server path


def test_launch_errors_never_name_server_paths(executor: LocalExecutor, tmp_path: Path) -> None:
    """Finding 7: ErrorCodeStr carried absolute server paths. The message names the cause only."""
    cases = [
        make_spec(tmp_path, "a", "true", cwd=str(tmp_path / "nope")),
        make_spec(tmp_path, "b", "true", log_path=str(tmp_path)),
        make_spec(tmp_path, "c", str(tmp_path / "bin" / "missing")),
    ]
    for spec in cases:
        with pytest.raises(LaunchError) as info:
            executor.start(spec)
        assert "/" not in info.value.message.replace("/dev/fd", ""), info.value.message
        assert str(tmp_path) not in info.value.message


def test_unwritable_log_is_a_launch_error(executor: LocalExecutor, tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="cannot prepare the attempt's files"):
        executor.start(make_spec(tmp_path, "a", "true", log_path=str(tmp_path)))  # a directory


def test_empty_argv_is_a_launch_error(executor: LocalExecutor, tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="empty argv"):
        executor.start(make_spec(tmp_path, "a"))


def test_duplicate_running_attempt_id_is_refused(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    executor.start(make_spec(tmp_path, "dup", "sleep", "30"))
    with pytest.raises(LaunchError, match="already running"):
        executor.start(make_spec(tmp_path, "dup", "true"))
    assert executor.kill("dup", 0)
    assert recorder.next().exit_code == -9


# ---- kill -------------------------------------------------------------------------------------------


def test_kill_escalates_to_sigkill_and_kills_grandchildren(
    executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    fifo = make_fifo(tmp_path)
    script = f"trap '' TERM; sleep 30 & echo $! > {fifo}; wait"
    started = executor.start(make_spec(tmp_path, "a", "bash", "-c", script))
    grandchild = int(read_fifo_line(fifo))  # TERM is ignored by both from here on
    assert os.getpgid(grandchild) == started.pid

    grace = 0.4
    t0 = time.monotonic()
    assert executor.kill("a", grace)
    exited = recorder.next()
    elapsed = time.monotonic() - t0
    assert exited.kind == "exited"
    assert exited.exit_code == -9
    assert grace - 0.02 <= elapsed <= grace + 2.0
    assert wait_pid_gone(grandchild, 2.0), "grandchild survived the group SIGKILL"
    assert executor.running() == set()


def test_kill_lets_a_cooperative_leader_exit_and_still_sweeps_stragglers_at_the_deadline(
    executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    fifo = make_fifo(tmp_path)
    # The grandchild ignores TERM; the leader restores the default and dies on it straight away.
    script = f"trap '' TERM; sleep 30 & trap - TERM; echo $! > {fifo}; wait"
    executor.start(make_spec(tmp_path, "a", "bash", "-c", script))
    grandchild = int(read_fifo_line(fifo))

    grace = 1.0
    t0 = time.monotonic()
    assert executor.kill("a", grace)
    exited = recorder.next()
    assert exited.exit_code == -15
    assert time.monotonic() - t0 < grace, "the exit must be reported when it happens, not at the deadline"
    assert not wait_pid_gone(grandchild, 0), "the straggler must get its grace period"
    assert not executor.kill("a", 1.0), "an attempt whose exit was reported is finished"
    assert wait_pid_gone(grandchild, grace + 2.0), "the straggler survived the deadline"
    assert time.monotonic() - t0 >= grace - 0.02


def test_killed_leader_is_released_early_when_its_group_is_empty(recorder: Recorder, tmp_path: Path) -> None:
    # After a cooperative exit the zombie leader is held only while group members live; if it were held
    # until the 30 s SIGKILL deadline, shutdown(kill=True) below would have to wait for it.
    ex = LocalExecutor(recorder)
    ex.start(make_spec(tmp_path, "a", "sleep", "30"))
    assert ex.kill("a", 30.0)
    assert recorder.next().exit_code == -15
    t0 = time.monotonic()
    ex.shutdown(kill=True, grace_seconds=30.0)
    assert time.monotonic() - t0 < 5.0


def test_kill_with_zero_grace_is_immediate_sigkill(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    executor.start(make_spec(tmp_path, "a", "sleep", "30"))
    assert executor.kill("a", 0)
    assert recorder.next().exit_code == -9


def test_kill_of_unknown_or_finished_attempt_returns_false(
    executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    assert not executor.kill("never-started", 1.0)
    run_to_exit(executor, recorder, make_spec(tmp_path, "a", "true"))
    assert not executor.kill("a", 1.0)


def test_running_lists_live_attempts(executor: LocalExecutor, recorder: Recorder, tmp_path: Path) -> None:
    executor.start(make_spec(tmp_path, "slow", "sleep", "30"))
    run_to_exit(executor, recorder, make_spec(tmp_path, "fast", "true"))
    assert executor.running() == {"slow"}
    executor.kill("slow", 5.0)
    assert recorder.next().exit_code == -15  # sleep honours TERM, long before the 5 s deadline
    assert executor.running() == set()


# ---- concurrency ------------------------------------------------------------------------------------


def test_200_concurrent_processes_are_each_reported_exactly_once(
    executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    ids = [f"c{i}" for i in range(200)]
    pids = {executor.start(make_spec(tmp_path, i, "true")).pid for i in ids}
    assert len(pids) == 200
    events = [recorder.next() for _ in ids]
    assert executor.running() == set()
    executor.shutdown(kill=False, grace_seconds=0)  # joins the watcher: no event can arrive after this
    events += recorder.drain()
    assert Counter(e.attempt_id for e in events) == Counter(ids)
    assert {(e.kind, e.exit_code) for e in events} == {("exited", 0)}
    assert {e.pid for e in events} == pids


def test_callback_exception_does_not_stop_exit_detection(tmp_path: Path) -> None:
    recorder = Recorder()

    def flaky(event: ExecutorEvent) -> None:
        recorder(event)
        if event.attempt_id == "boom":
            raise RuntimeError("callback bug")

    ex = LocalExecutor(flaky)
    try:
        ex.start(make_spec(tmp_path, "boom", "true"))
        assert recorder.next().attempt_id == "boom"
        ex.start(make_spec(tmp_path, "after", "true"))
        assert recorder.next().attempt_id == "after"
    finally:
        ex.shutdown(kill=True, grace_seconds=0.1)


# ---- shutdown ---------------------------------------------------------------------------------------


def test_shutdown_with_kill_reports_every_exit_before_returning(recorder: Recorder, tmp_path: Path) -> None:
    ex = LocalExecutor(recorder)
    for i in range(3):
        ex.start(make_spec(tmp_path, f"s{i}", "sleep", "30"))
    ex.shutdown(kill=True, grace_seconds=1.0)
    events = recorder.drain()
    assert sorted((e.attempt_id, e.exit_code) for e in events) == [("s0", -15), ("s1", -15), ("s2", -15)]
    with pytest.raises(LaunchError, match="shut down"):
        ex.start(make_spec(tmp_path, "late", "true"))
    ex.shutdown(kill=True, grace_seconds=1.0)  # idempotent


def test_shutdown_without_kill_leaves_processes_for_the_next_server(recorder: Recorder, tmp_path: Path) -> None:
    ex = LocalExecutor(recorder)
    started = ex.start(make_spec(tmp_path, "keep", "sleep", "30"))
    assert started.pid is not None
    ex.shutdown(kill=False, grace_seconds=0)
    try:
        assert recorder.drain() == []
        assert is_same_process_alive(started.pid, started.proc_start)
    finally:
        kill_process_group(started.pid, 1.0)
        os.waitpid(started.pid, 0)  # it is still our child; a real restart would not have to do this


# ---- restart-recovery helpers -----------------------------------------------------------------------


def test_read_proc_start_is_stable_for_a_live_process() -> None:
    token = read_proc_start(os.getpid())
    assert token is not None
    assert read_proc_start(os.getpid()) == token
    assert is_same_process_alive(os.getpid(), token)


def test_is_same_process_alive_is_false_for_a_mismatched_token() -> None:
    token = read_proc_start(os.getpid())
    assert token is not None
    assert not is_same_process_alive(os.getpid(), token + "0")
    assert not is_same_process_alive(os.getpid(), None)


def test_is_same_process_alive_is_false_for_a_dead_pid() -> None:
    proc = subprocess.Popen(["true"])
    token = read_proc_start(proc.pid)
    assert token is not None
    assert wait_pid_gone(proc.pid, WAIT)
    assert not is_same_process_alive(proc.pid, token), "a zombie has exited and must count as dead"
    proc.wait()
    assert not is_same_process_alive(proc.pid, token)
    assert read_proc_start(proc.pid) is None or read_proc_start(proc.pid) != token
    assert not is_same_process_alive(-1, token)
    assert read_proc_start(0) is None


def _spawn_orphan_group(tmp_path: Path, prefix: str = "") -> tuple[int, int]:
    """Start a session whose leader exits at once, leaving an orphaned `sleep` in the group."""
    fifo = make_fifo(tmp_path)
    leader = subprocess.Popen(
        ["bash", "-c", f"{prefix}sleep 30 & echo $! > {fifo}"],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    orphan = int(read_fifo_line(fifo))
    assert leader.wait(timeout=WAIT) == 0
    assert os.getpgid(orphan) == leader.pid
    return leader.pid, orphan


def test_kill_process_group_terminates_an_orphan_group(tmp_path: Path) -> None:
    pgid, orphan = _spawn_orphan_group(tmp_path)
    token = read_proc_start(orphan)
    assert is_same_process_alive(orphan, token)
    t0 = time.monotonic()
    kill_process_group(pgid, 5.0)
    assert time.monotonic() - t0 < 5.0, "SIGTERM was honoured; no need to wait for the grace period"
    assert wait_pid_gone(orphan, WAIT)
    assert not is_same_process_alive(orphan, token)


def test_kill_process_group_escalates_for_an_orphan_ignoring_sigterm(tmp_path: Path) -> None:
    pgid, orphan = _spawn_orphan_group(tmp_path, prefix="trap '' TERM; ")
    grace = 0.3
    t0 = time.monotonic()
    kill_process_group(pgid, grace)
    assert time.monotonic() - t0 >= grace - 0.02
    assert wait_pid_gone(orphan, WAIT)


def test_kill_process_group_of_a_vanished_group_is_a_no_op(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait()
    kill_process_group(proc.pid, 1.0)


def test_kill_process_group_refuses_our_own_or_init_group() -> None:
    for pgid in (0, 1, os.getpgrp()):
        with pytest.raises(ValueError, match="refusing"):
            kill_process_group(pgid, 0.1)


def test_find_process_groups_by_env_finds_an_orphan_whose_pid_was_never_recorded() -> None:
    from trigflow.executors.local import find_process_groups_by_env

    marker = f"exec-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "TRIGFLOW_TASK_EXECUTION_ID": marker}
    proc = subprocess.Popen(["bash", "-c", "sleep 30 & wait"], env=env, start_new_session=True)
    try:
        # Until the child has exec'd, /proc shows the parent's environment: poll with a deadline.
        deadline = time.monotonic() + 10
        found: dict[str, set[int]] = {}
        while time.monotonic() < deadline and not found:
            found = find_process_groups_by_env("TRIGFLOW_TASK_EXECUTION_ID", {marker, "unrelated"})
            time.sleep(0.005)
        assert found == {marker: {proc.pid}}
        assert find_process_groups_by_env("TRIGFLOW_TASK_EXECUTION_ID", set()) == {}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---- limits: kill without cgroups, log bound ------------------------------------------------------------


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        data = stat.read_bytes()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X", b"x")


def _wait_until(cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_kill_without_cgroups_reaches_setsid_children_through_their_environment(
    recorder: Recorder, tmp_path: Path
) -> None:
    """The fallback: no cgroup (limits without an instance), yet a `setsid` child dies with its attempt."""
    ex = LocalExecutor(recorder, AttemptLimits(max_log_bytes=None, max_processes=None, cgroup_instance=None))
    try:
        assert ex.cgroups is None
        pidfile = tmp_path / "child.pid"
        env = {**os.environ, "TRIGFLOW_TASK_EXECUTION_ID": f"fallback-{os.getpid()}"}
        spec = make_spec(tmp_path, "a", "bash", script=f"setsid sleep 300 & echo $! > {pidfile}\nsleep 300\n", env=env)
        ex.start(spec)
        _wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", "the setsid child's pid")
        child = int(pidfile.read_text())
        _wait_until(lambda: os.getpgid(child) == child, "the child in its own session and group")
        assert ex.kill("a", grace_seconds=0.5)
        assert recorder.next().kind == "exited"
        _wait_until(lambda: not _alive(child), "the setsid child killed")
    finally:
        ex.shutdown(kill=True, grace_seconds=0.2)


def test_log_over_the_limit_keeps_head_marker_and_tail(recorder: Recorder, tmp_path: Path) -> None:
    ex = LocalExecutor(recorder, AttemptLimits(max_log_bytes=1 << 20, max_processes=None))
    try:
        script = "echo FIRST\nhead -c 30000000 /dev/zero | tr '\\0' 'x'\necho\necho LAST\n"
        spec = make_spec(tmp_path, "a", "bash", script=script)
        assert run_to_exit(ex, recorder, spec).exit_code == 0
    finally:
        ex.shutdown(kill=True, grace_seconds=0.2)
    st = os.stat(spec.log_path)
    assert st.st_size > 30_000_000 and st.st_blocks * 512 <= (1 << 20) + 65536  # sparse: the middle is freed
    lines = list(logcap.iter_lines(spec.log_path, 100))
    assert lines[0] == b"FIRST" and lines[-1] == b"LAST"
    assert any(line.startswith(b"[trigflow] log truncated: ") for line in lines)
    dropped = next(int(line.split()[3]) for line in lines if line.startswith(b"[trigflow] log truncated"))
    assert 30_000_000 - (1 << 20) < dropped < 30_000_000  # all but (about) the limit was dropped


def test_log_that_cannot_be_trimmed_kills_the_attempt_with_a_reason(
    recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    monkeypatch.setattr(logcap, "punch_hole", unsupported)  # a filesystem without FALLOC_FL_PUNCH_HOLE
    ex = LocalExecutor(recorder, AttemptLimits(max_log_bytes=1 << 16, max_processes=None))
    try:
        spec = make_spec(tmp_path, "a", "bash", script="yes chatter\n")
        event = run_to_exit(ex, recorder, spec)
    finally:
        ex.shutdown(kill=True, grace_seconds=0.2)
    assert event.exit_code == -signal.SIGKILL
    assert event.message is not None and "--max-log-bytes" in event.message and "65536" in event.message


def test_iter_lines_skips_holes_and_bounds_lines(tmp_path: Path) -> None:
    """A 4 GiB (apparent) log with data only at both ends is read in no time and little memory."""
    path = tmp_path / "sparse.log"
    with open(path, "wb") as f:
        f.write(b"##wedata_output a=1\n" + b"y" * 200_000 + b"\nplain\n")
        f.seek(4 << 30)
        f.write(b"\n##wedata_output b=2\n")
    t0 = time.perf_counter()
    lines = list(logcap.iter_lines(str(path), 1000, needle=b"##wedata_output"))
    assert time.perf_counter() - t0 < 2
    assert lines == [b"##wedata_output a=1", b"##wedata_output b=2"]
    cut = list(logcap.iter_lines(str(path), 1000))
    assert cut[:3] == [b"##wedata_output a=1", b"y" * 1000, b"plain"]
    assert list(logcap.iter_lines(str(path), 1000, max_bytes=5)) == [b"##wed"]
    assert list(logcap.iter_lines(str(tmp_path / "missing"), 10)) == []


# ---- cgroup moves on the mover thread ----------------------------------------------------------------


def _proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except FileNotFoundError:
        return None


def _poll_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll a /proc fact with a deadline (there is no event to wait on for "reaped by another thread")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        select.select([], [], [], 0.005)
    return condition()


@pytest.fixture
def cgroup_executor(recorder: Recorder) -> Iterator[LocalExecutor]:
    limits = AttemptLimits(max_log_bytes=None, max_processes=64, cgroup_instance=f"unit{os.getpid()}")
    ex = LocalExecutor(recorder, limits)
    if ex.cgroups is None:
        ex.shutdown(kill=True, grace_seconds=0.2)
        pytest.skip("no writable pids cgroup on this host")
    yield ex
    ex.shutdown(kill=True, grace_seconds=0.2)


def test_a_started_attempt_is_moved_into_its_own_cgroup(
    cgroup_executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    tree = cgroup_executor.cgroups
    assert tree is not None
    started = cgroup_executor.start(make_spec(tmp_path, "cg-1", "sleep", "30"))
    assert _poll_until(lambda: _pids_cgroup(started.pid).startswith(tree.root))
    assert cgroup_executor.kill("cg-1", grace_seconds=0)
    assert recorder.next().kind == "exited"


def _pids_cgroup(pid: int) -> str:
    """The absolute path of `pid`'s group in the pids hierarchy (v1 `N:pids:/x`, else the v2 line)."""
    mount = "/sys/fs/cgroup/pids" if os.path.isdir("/sys/fs/cgroup/pids") else "/sys/fs/cgroup"
    with open(f"/proc/{pid}/cgroup", encoding="ascii") as f:
        for line in f:
            _id, controllers, path = line.rstrip("\n").split(":", 2)
            if "pids" in controllers.split(",") or controllers == "":
                return os.path.normpath(mount + path)
    return ""


def test_an_exit_during_the_move_is_reported_at_once_and_reaped_only_after_it(
    cgroup_executor: LocalExecutor, recorder: Recorder, tmp_path: Path
) -> None:
    """The mover may be inside a slow write (an RCU grace period) when the leader exits: the exit is
    reported without waiting, but the zombie keeps its pid until the write is done, so the write can never
    land on a stranger that reused the pid."""
    import threading

    tree = cgroup_executor.cgroups
    assert tree is not None
    real_enter, in_move, finish = tree.enter, threading.Event(), threading.Event()

    def slow_enter(pid: int) -> str | None:
        in_move.set()
        finish.wait(WAIT)
        return real_enter(pid)

    tree.enter = slow_enter  # type: ignore[method-assign]
    go = make_fifo(tmp_path)
    started = cgroup_executor.start(make_spec(tmp_path, "cg-2", "sh", "-c", f"read x < {go}; exit 7"))
    assert in_move.wait(WAIT)
    with open(go, "w") as f:  # the leader exits now, while its move is in flight
        f.write("go\n")
    exited = recorder.next()
    assert (exited.kind, exited.exit_code) == ("exited", 7)
    assert _proc_state(started.pid) == "Z"  # reported, but not reaped while the move is in flight
    finish.set()
    assert _poll_until(lambda: _proc_state(started.pid) is None)
