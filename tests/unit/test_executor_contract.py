"""The executor contract (executors/base.py `Executor`), one suite for every executor (issue 10 point 1).

Each test states one rule of the Protocol and runs against every factory in `EXECUTORS`: today the local
executor; the Celery executor joins the list when it exists, and must pass the same rules unchanged.
Real processes; every wait is on the event queue with a deadline, never a sleep.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from trigflow.executors.base import Executor, ExecutorEvent, LaunchError, LaunchSpec
from trigflow.executors.keeper import ExitRecord
from trigflow.executors.local import LocalExecutor, read_proc_start

WAIT = 10.0
ExitReader = Callable[[int, str], ExitRecord | None]


class Events:
    def __init__(self) -> None:
        self.q: queue.Queue[ExecutorEvent] = queue.Queue()

    def __call__(self, event: ExecutorEvent) -> None:
        self.q.put(event)

    def next(self, timeout: float = WAIT) -> ExecutorEvent:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no executor event within {timeout}s") from None

    def none_within(self, timeout: float) -> bool:
        try:
            extra = self.q.get(timeout=timeout)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {extra}")


class Records:
    """A keeper's exit records, held in memory (the keeper itself is tested end to end elsewhere)."""

    def __init__(self) -> None:
        self.by_pid: dict[tuple[int, str], ExitRecord] = {}

    def __call__(self, pid: int, proc_start: str) -> ExitRecord | None:
        return self.by_pid.get((pid, proc_start))


EXECUTORS: dict[str, Callable[[Events, ExitReader], Executor]] = {
    "local": lambda events, read_exit: LocalExecutor(events, read_exit=read_exit),
}


@pytest.fixture(params=sorted(EXECUTORS))
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[Executor, Events, Records]]:
    events, records = Events(), Records()
    executor = EXECUTORS[request.param](events, records)
    yield executor, events, records
    executor.shutdown(kill=True, grace_seconds=0.2)


def spec(tmp_path: Path, attempt_id: str, script: str) -> LaunchSpec:
    return LaunchSpec(attempt_id=attempt_id, argv=("bash",), env={"PATH": os.environ["PATH"]}, cwd=str(tmp_path),
                      log_path=str(tmp_path / f"{attempt_id}.log"), script=script)  # fmt: skip


def test_start_returns_started_and_exactly_one_exit_follows(setup: tuple[Executor, Events, Records],
                                                            tmp_path: Path) -> None:  # fmt: skip
    executor, events, _ = setup
    started = executor.start(spec(tmp_path, "a1", "echo hello; exit 3"))
    assert started.kind == "started" and started.attempt_id == "a1" and started.pid
    exited = events.next()
    assert (exited.kind, exited.attempt_id, exited.exit_code) == ("exited", "a1", 3)
    assert events.none_within(0.2)
    assert (tmp_path / "a1.log").read_text() == "hello\n"
    assert "a1" not in executor.running()


def test_a_launch_that_cannot_start_raises_and_emits_nothing(setup: tuple[Executor, Events, Records],
                                                             tmp_path: Path) -> None:  # fmt: skip
    executor, events, _ = setup
    bad = LaunchSpec(attempt_id="a2", argv=("/nonexistent/interpreter",), env={}, cwd=str(tmp_path),
                     log_path=str(tmp_path / "a2.log"))  # fmt: skip
    with pytest.raises(LaunchError):
        executor.start(bad)
    assert events.none_within(0.2)


def test_kill_stops_the_whole_group_and_reports_the_signal(setup: tuple[Executor, Events, Records],
                                                           tmp_path: Path) -> None:  # fmt: skip
    executor, events, _ = setup
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    executor.start(spec(tmp_path, "a3", f"sleep 300 & echo $! > {fifo}; wait"))
    child = int(fifo.read_text())
    assert executor.running() == {"a3"}
    assert executor.kill("a3", grace_seconds=5)
    exited = events.next()
    assert exited.kind == "exited" and exited.exit_code is not None and exited.exit_code < 0
    wait_for(lambda: _gone(child), timeout=WAIT, what="the attempt's background child killed with its group")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_kill_of_an_unknown_or_ended_attempt_is_false(setup: tuple[Executor, Events, Records],
                                                      tmp_path: Path) -> None:  # fmt: skip
    executor, events, _ = setup
    assert executor.kill("nobody", grace_seconds=1) is False
    executor.start(spec(tmp_path, "a4", "true"))
    events.next()
    assert executor.kill("a4", grace_seconds=1) is False


def _foreign(tmp_path: Path, script: str) -> tuple[subprocess.Popen[bytes], str]:
    """A process this executor did not start (as a previous server's attempt is), in its own session."""
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True, cwd=tmp_path)
    token = read_proc_start(proc.pid)
    assert token is not None
    return proc, token


def test_adopt_reports_the_recorded_exit_of_a_process_it_did_not_start(setup: tuple[Executor, Events, Records],
                                                                       tmp_path: Path) -> None:  # fmt: skip
    executor, events, records = setup
    gate = tmp_path / "gate"
    proc, token = _foreign(tmp_path, f"while [ ! -e {gate} ]; do sleep 0.02; done; exit 5")
    assert executor.adopt("a5", proc.pid, token)
    assert "a5" in executor.running()
    gate.touch()
    proc.wait()  # here the test is the parent; in production the keeper reaps it and records the status
    records.by_pid[(proc.pid, token)] = ExitRecord(proc.pid, token, 5, 1234)
    exited = events.next()
    assert (exited.kind, exited.attempt_id, exited.exit_code, exited.at_ms) == ("exited", "a5", 5, 1234)


def test_adopt_without_a_record_reports_lost_never_a_guess(setup: tuple[Executor, Events, Records],
                                                           tmp_path: Path) -> None:  # fmt: skip
    executor, events, _ = setup
    gate = tmp_path / "gate"
    proc, token = _foreign(tmp_path, f"while [ ! -e {gate} ]; do sleep 0.02; done")
    assert executor.adopt("a6", proc.pid, token)
    gate.touch()
    proc.wait()
    lost = events.next(timeout=WAIT + 5)
    assert (lost.kind, lost.attempt_id, lost.exit_code) == ("lost", "a6", None)


def test_an_adopted_attempt_can_be_killed(setup: tuple[Executor, Events, Records], tmp_path: Path) -> None:
    executor, events, records = setup
    proc, token = _foreign(tmp_path, "sleep 300")
    assert executor.adopt("a7", proc.pid, token)
    assert executor.kill("a7", grace_seconds=5)
    assert proc.wait(timeout=WAIT) == -signal.SIGTERM
    records.by_pid[(proc.pid, token)] = ExitRecord(proc.pid, token, -signal.SIGTERM, 1)
    exited = events.next()
    assert (exited.kind, exited.exit_code) == ("exited", -signal.SIGTERM)


def test_adopt_of_a_process_already_gone_is_false_and_silent(setup: tuple[Executor, Events, Records]) -> None:
    executor, events, _ = setup
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = read_proc_start(proc.pid) or "x"
    proc.wait()
    assert executor.adopt("a8", proc.pid, token) is False
    assert events.none_within(0.2)


def test_shutdown_with_kill_reports_every_running_attempt(setup: tuple[Executor, Events, Records],
                                                          tmp_path: Path) -> None:  # fmt: skip
    executor, events, _ = setup
    for i in range(3):
        executor.start(spec(tmp_path, f"s{i}", "sleep 300"))
    executor.shutdown(kill=True, grace_seconds=0.5)
    ended = {events.next().attempt_id for _ in range(3)}
    assert ended == {"s0", "s1", "s2"}
    assert executor.running() == set()
