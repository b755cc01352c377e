"""Attempts a previous server process started and that still run: watched to their end, killable.

After a restart the attempts that outlived the server are not this process's children: their exit status
goes to the keeper (executors/keeper.py), which records it on disk. Here each adopted attempt gets a
daemon thread blocked on its pidfd (`pidfd_open` works for any process we may signal); when it ends the
thread waits, briefly, for the keeper's record and reports "exited" with the real status, or "lost" when
no record comes (no keeper was its ancestor). A kill signals its process group: SIGTERM, then SIGKILL
after the grace. Adoptions happen only at start-up, so a thread each costs nothing that matters and
keeps this apart from the spawn/reap machinery of `LocalExecutor`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from trigflow.executors.base import EventCallback, ExecutorEvent
from trigflow.executors.keeper import ExitRecord

log = logging.getLogger(__name__)

# How long an ended attempt waits for the keeper's record: the keeper writes it right after the zombie
# appears (one waitid, one small file); this only has to outlast a loaded machine's scheduling delay.
RECORD_WAIT_SECONDS = 5.0
LOST_MESSAGE = "the attempt ended while no trigflow keeper was its ancestor; its exit status is unknown"

ExitReader = Callable[[int, str], ExitRecord | None]


@dataclass(eq=False)
class _Adopted:
    attempt_id: str
    pid: int
    proc_start: str
    pidfd: int
    wake_r: int
    wake_w: int
    kill_at: float | None = None
    killing: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class AdoptedAttempts:
    """The adopted attempts of one executor. Thread-safe; events leave through `on_event` from the
    attempt's own watcher thread (the same contract as `LocalExecutor`'s)."""

    def __init__(self, on_event: EventCallback, read_exit: ExitReader) -> None:
        self._on_event = on_event
        self._read_exit = read_exit
        self._lock = threading.Lock()
        self._running: dict[str, _Adopted] = {}
        self._stopping = False

    def adopt(self, attempt_id: str, pid: int, proc_start: str) -> bool:
        """Watch a live attempt of a previous server process; False if it is already gone (the caller
        then looks for the keeper's record itself)."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return False
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        attempt = _Adopted(attempt_id, pid, proc_start, pidfd, wake_r, wake_w)
        with self._lock:
            self._running[attempt_id] = attempt
        threading.Thread(target=self._watch, args=(attempt,), name=f"trigflow-adopted-{pid}", daemon=True).start()
        return True

    def kill(self, attempt_id: str, grace_seconds: float) -> bool:
        with self._lock:
            attempt = self._running.get(attempt_id)
            if attempt is None:
                return False
            attempt.killing = True
            deadline = time.monotonic() + max(grace_seconds, 0.0)
            if attempt.kill_at is None or deadline < attempt.kill_at:
                attempt.kill_at = deadline
        _signal_group(attempt.pid, signal.SIGTERM if grace_seconds > 0 else signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.write(attempt.wake_w, b"\0")
        return True

    def running(self) -> set[str]:
        with self._lock:
            return set(self._running)

    def shutdown(self, kill: bool, grace_seconds: float) -> None:
        """`kill=True`: kill every adopted attempt and wait for its exit report; `kill=False`: stop
        reporting (the next server adopts them again)."""
        with self._lock:
            self._stopping = True
            attempts = list(self._running.values())
        if not kill:
            return
        for attempt in attempts:
            self.kill(attempt.attempt_id, grace_seconds)
        for attempt in attempts:
            attempt.done.wait(grace_seconds + RECORD_WAIT_SECONDS + 5.0)

    def _watch(self, attempt: _Adopted) -> None:
        try:
            self._wait_for_exit(attempt)
            event = self._exit_event(attempt)
        except Exception:  # a bug here must not leave the attempt RUNNING for ever
            log.exception("watching adopted attempt %s failed", attempt.attempt_id)
            event = ExecutorEvent(attempt.attempt_id, "lost", _now_ms(), pid=attempt.pid,
                                  proc_start=attempt.proc_start, message="internal error watching it")  # fmt: skip
        with self._lock:
            self._running.pop(attempt.attempt_id, None)
            stopping = self._stopping and not attempt.killing
        for fd in (attempt.pidfd, attempt.wake_r, attempt.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if not stopping:
            try:
                self._on_event(event)
            except Exception:
                log.exception("on_event callback failed for %s", event)
        attempt.done.set()

    def _wait_for_exit(self, attempt: _Adopted) -> None:
        while True:
            with self._lock:
                kill_at = attempt.kill_at
            timeout = None if kill_at is None else max(kill_at - time.monotonic(), 0.0)
            ready, _, _ = select.select([attempt.pidfd, attempt.wake_r], [], [], timeout)
            if attempt.pidfd in ready:
                return
            if attempt.wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(attempt.wake_r, 512)
                continue
            with self._lock:
                due = attempt.kill_at is not None and attempt.kill_at <= time.monotonic()
                if due:
                    attempt.kill_at = None
            if due:
                _signal_group(attempt.pid, signal.SIGKILL)

    def _exit_event(self, attempt: _Adopted) -> ExecutorEvent:
        deadline = time.monotonic() + RECORD_WAIT_SECONDS
        pause = 0.002
        while True:
            record = self._read_exit(attempt.pid, attempt.proc_start)
            if record is not None:
                return ExecutorEvent(attempt.attempt_id, "exited", record.at_ms, pid=attempt.pid,
                                     proc_start=attempt.proc_start, exit_code=record.exit_code)  # fmt: skip
            if time.monotonic() >= deadline:
                return ExecutorEvent(attempt.attempt_id, "lost", _now_ms(), pid=attempt.pid,
                                     proc_start=attempt.proc_start, message=LOST_MESSAGE)  # fmt: skip
            time.sleep(pause)  # the keeper writes the record right after the zombie appears
            pause = min(pause * 2, 0.1)
