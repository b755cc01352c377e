"""`trigflow run-attempt`: run one attempt of a work type from its sealed workload document.

The process the executor starts for every work type other than Shell and Python (docs/adr/0004-task-types.md):
it reads the workload from a descriptor or a path (`/dev/fd/<n>` of the sealed memfd the executor hands over),
writes the log to stdout, the outputs to `$WEDATA_OUTPUT_FILE`, and exits 0 or non-zero. SIGTERM (a kill,
an execution timeout) sets the runner's `cancel` event: the type's runner stops its work (cancels the query
on the database server, ...) and returns, and the process then dies of that SIGTERM like any killed
attempt, so the engine sees the same exit as for a killed shell task.

The type's runner runs on a worker thread so the main thread is always free to take the signal, even
while the runner waits in a driver call; it waits on the signal wakeup fd, so a SIGTERM the kernel hands
to another thread wakes it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any, TextIO

from trigflow.runner.base import KEY_OUTPUTS_PATH, KEY_TYPE_ID, redact, secrets_of
from trigflow.runner.registry import runner_for

OUTPUT_FILE_ENV = "WEDATA_OUTPUT_FILE"
USAGE_EXIT = 2  # the workload could not be read: nothing ran
MAX_WORKLOAD_BYTES = 256 << 20


class WorkloadError(Exception):
    """The workload document is missing or malformed (nothing of the task ran)."""


def read_workload(source: str | int) -> dict[str, Any]:
    """The workload document from a descriptor number or a path (e.g. `/dev/fd/5`)."""
    try:
        if isinstance(source, int):
            with contextlib.suppress(OSError):  # a pipe reads from where it is; a sealed memfd from its start
                os.lseek(source, 0, os.SEEK_SET)
            with os.fdopen(source, "rb") as f:
                raw = f.read(MAX_WORKLOAD_BYTES + 1)
        else:
            with open(source, "rb") as f:
                raw = f.read(MAX_WORKLOAD_BYTES + 1)
    except OSError as e:
        raise WorkloadError(f"cannot read the workload: {e.strerror}") from None
    if len(raw) > MAX_WORKLOAD_BYTES:
        raise WorkloadError(f"the workload is larger than {MAX_WORKLOAD_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise WorkloadError("the workload is not a JSON document") from None
    if not isinstance(doc, dict):
        raise WorkloadError("the workload must be a JSON object")
    type_id = doc.get(KEY_TYPE_ID)
    if isinstance(type_id, bool) or not isinstance(type_id, int):
        raise WorkloadError(f"the workload's {KEY_TYPE_ID} must be an integer")
    return doc


@dataclass
class _Outcome:
    code: int = 1
    error: BaseException | None = None


def run_attempt(source: str | int, log: TextIO | None = None) -> int:
    """Run the workload at `source`; the process's exit code (or death by the SIGTERM it was sent)."""
    out = log if log is not None else sys.stdout
    if out is sys.stdout and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # the log is read while the attempt runs
    try:
        workload = read_workload(source)
    except WorkloadError as e:
        print(f"[trigflow] run-attempt: {e}", file=sys.stderr, flush=True)
        return USAGE_EXIT
    type_id = int(workload[KEY_TYPE_ID])
    runner = runner_for(type_id)
    if runner is None:
        print(f"[trigflow] run-attempt: no runner for TaskTypeId {type_id}", file=sys.stderr, flush=True)
        return USAGE_EXIT
    outputs_path = os.environ.get(OUTPUT_FILE_ENV) or workload.get(KEY_OUTPUTS_PATH) or None
    cancel = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        cancel.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    outcome = _Outcome()
    done = threading.Event()

    # The main thread waits on a pipe, not on `done` alone. The kernel may hand a process-directed SIGTERM to
    # any thread that does not block it, the runner's own included, and Python runs the handler on the main
    # thread only once that thread wakes up, which a wait on a lock never does then: the attempt would stay
    # deaf to its kill until the executor's SIGKILL. The C-level handler writes to the wakeup fd from
    # whichever thread took the signal, and the runner's thread writes to the same pipe when it is done.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)

    def work() -> None:
        try:
            outcome.code = int(runner(workload, out, outputs_path, cancel))
        except BaseException as e:  # reported below, on the main thread
            outcome.error = e
        finally:
            done.set()
            with contextlib.suppress(OSError):  # a full pipe has a byte to wake on already
                os.write(wake_w, b"\0")

    thread = threading.Thread(target=work, name=f"runner-{type_id}", daemon=True)
    try:
        thread.start()
        while not done.is_set():
            select.select([wake_r], [], [])  # the handler runs on this thread as soon as this returns
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        thread.join()  # it has written to the pipe: the descriptors can go
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        os.close(wake_r)
        os.close(wake_w)
    for s, handler in previous.items():
        signal.signal(s, handler)
    if outcome.error is not None:
        message = redact(f"{type(outcome.error).__name__}: {outcome.error}", secrets_of(workload))
        print(f"[trigflow] the attempt failed: {message}", file=out, flush=True)
        outcome.code = 1
    out.flush()
    if received:
        _die_of(received[0])
    return outcome.code


def _die_of(signum: int) -> None:
    """End the process by the signal it was sent (exit status -N), as an attempt killed without a runner."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})

