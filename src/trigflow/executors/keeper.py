"""The keeper: an ancestor of every local attempt that outlives the server, so no exit status is lost.

Only a process's parent (or its nearest `PR_SET_CHILD_SUBREAPER` ancestor) learns how it ended. Attempts
are children of the server; when the server dies they are re-parented, and whoever reaps them gets the
status. `trigflow up` therefore splits itself in three at start (docs/adr/0005-durable-local-attempts.md):

- the launcher (the pid the operator holds) waits, forwards SIGTERM/SIGINT/SIGHUP to the server and exits
  with the server's status;
- the keeper, in a session of its own, marked subreaper, forks the server and reaps what ends up as its
  child: the server, and the attempts the server left behind when it died. For each attempt it records
  the exit status under `<data-dir>/keeper/exits/`, keyed by pid and start-time token (the identity the
  server stored with the attempt), read from `/proc/<pid>/stat` while the zombie is still there. It runs
  no task code, opens no database and leaves once it has no child left;
- the server, which spawns attempts itself exactly as before (no cost per attempt), and ends at once,
  without touching its attempts, when the launcher dies: a SIGKILLed `trigflow up` then looks like a
  crash of the whole server, and its attempts keep running under the keeper.

A restarted server adopts the attempts that still run and reads the records of those that ended
(`read_exit`); an attempt with neither is truly lost. Where the kernel has no subreaper (not Linux) the
split is skipped and attempts behave as before: killed and lost on restart.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ExitRecord",
    "prune_exits",
    "prune_identities",
    "read_exit",
    "read_identity",
    "spawn_journal_path",
    "split",
    "watch_launcher",
]

_PR_SET_CHILD_SUBREAPER = 36
_EXEC_ENV = b"TRIGFLOW_TASK_EXECUTION_ID="
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
ORPHAN_EXEC_WAIT_S = 2.0  # how long the keeper waits for a dead server's forked child to exec
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Status the server ends with when its launcher died (a SIGKILL of `trigflow up`): like a crash.
LAUNCHER_GONE_STATUS = 137


@dataclass(frozen=True, slots=True)
class ExitRecord:
    """How an attempt the server left behind ended: `exit_code` as subprocess reports it (negative: the
    signal), `at_ms` when the keeper reaped it (epoch ms)."""

    pid: int
    proc_start: str
    exit_code: int
    at_ms: int


def exits_dir(data_dir: Path) -> Path:
    return data_dir / "keeper" / "exits"


def _record_path(data_dir: Path, pid: int, proc_start: str) -> Path:
    # The token is `<boot id>:<start ticks>`: both parts are hex/digits/dashes, safe in a file name.
    return exits_dir(data_dir) / f"{pid}-{proc_start.replace(':', '_')}.json"


def read_exit(data_dir: Path, pid: int, proc_start: str) -> ExitRecord | None:
    """The keeper's record of that process's end, or None (still running, or reaped by nobody we know)."""
    try:
        data = json.loads(_record_path(data_dir, pid, proc_start).read_text(encoding="ascii"))
        return ExitRecord(pid, proc_start, int(data["exitCode"]), int(data["atMs"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prune_exits(data_dir: Path, keep: set[tuple[int, str]]) -> None:
    """Drop the records of attempts that are no longer RUNNING in the database (their end was committed
    by an earlier server, or they were never ours): at start-up, so records never pile up."""
    wanted = {_record_path(data_dir, pid, start).name for pid, start in keep}
    with contextlib.suppress(OSError):
        for entry in os.scandir(exits_dir(data_dir)):
            if entry.name not in wanted:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def spawn_journal_path(data_dir: Path) -> str:
    """Where the server's executor journals each attempt's process at its spawn (executors/spawns.py)."""
    return str(data_dir / "keeper" / "spawned")


def ids_dir(data_dir: Path) -> Path:
    return data_dir / "keeper" / "ids"


def read_identity(data_dir: Path, execution_id: str) -> tuple[int, str] | None:
    """(pid, proc_start) of the attempt of task run `execution_id` that the keeper found among the orphans of
    a server that died while starting it (`_note_orphans`), or None."""
    if not _SAFE_ID.fullmatch(execution_id):
        return None
    try:
        data = json.loads((ids_dir(data_dir) / f"{execution_id}.json").read_text(encoding="ascii"))
        return int(data["pid"]), str(data["procStart"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prune_identities(data_dir: Path, keep: set[str]) -> None:
    """Drop the identities of task runs no longer RUNNING (at start-up, like `prune_exits`)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(ids_dir(data_dir)):
            if entry.name.removesuffix(".json") not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _note_orphans(data_dir: Path, server: int) -> None:
    """The server just died: record which task run each attempt it left to us belongs to.

    The server commits an attempt's pid a batch after the spawn (and names it on the attempt's log right
    after the spawn, executors/spawns.py); a server killed during the spawn itself left neither,
    and an attempt that then ends before the next server looks for it by its environment could no longer be
    tied to its exit record. Its environment is readable now, while it runs: its leader has just become our
    child. A child the server forked but that has not exec'd yet still runs the server's interpreter with
    the server's environment: it is looked at again every few ms, for up to ORPHAN_EXEC_WAIT_S, until it
    has. One /proc pass per server death, nothing per attempt; best effort (an attempt that execs and ends
    within one pass is not seen)."""
    me = os.getpid()
    try:
        own_exe = os.readlink("/proc/self/exe")
    except OSError:
        own_exe = ""
    noted: set[int] = set()
    deadline = time.monotonic() + ORPHAN_EXEC_WAIT_S
    while True:
        pending = 0
        try:
            entries = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
        except OSError:
            return
        for pid in entries:
            if pid == server or pid in noted:
                continue
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
                if ppid != me:
                    continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read()
                exe = os.readlink(f"/proc/{pid}/exe")
            except (OSError, ValueError, IndexError):
                continue
            execution_id = next((item[len(_EXEC_ENV):].decode("ascii", "replace") for item in env.split(b"\0")
                                 if item.startswith(_EXEC_ENV)), None)  # fmt: skip
            if execution_id is None:
                pending += exe == own_exe  # forked by the server, not exec'd yet
                continue
            start = _start_token(pid)
            if start is None or not _SAFE_ID.fullmatch(execution_id):
                continue
            noted.add(pid)
            path = ids_dir(data_dir) / f"{execution_id}.json"
            with contextlib.suppress(OSError):
                ids_dir(data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"pid": pid, "procStart": start}), encoding="ascii")
                os.replace(tmp, path)
        if not pending or time.monotonic() >= deadline:
            return
        time.sleep(0.005)


def _prctl(option: int, arg: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, arg, 0, 0, 0))


def _can_split() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(os, "waitid")


def split(data_dir: Path) -> int | None:
    """Become launcher, keeper and server; returns in the server only, with the launcher's pid to watch.

    Returns None (and splits nothing) where the kernel offers no subreaper: this process is then the
    server, as before. Call it first thing, before any thread or database connection exists (fork)."""
    if not _can_split():
        return None
    launcher = os.getpid()
    exits_dir(data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    read_end, write_end = os.pipe()
    keeper = os.fork()
    if keeper == 0:
        os.close(read_end)
        os.setsid()  # a terminal's Ctrl-C reaches the launcher, which forwards it; never the keeper directly
        if _prctl(_PR_SET_CHILD_SUBREAPER, 1) != 0:
            os.write(write_end, b"nosubreaper\n")
            os._exit(0)
        server = os.fork()
        if server == 0:
            os.close(write_end)
            return launcher
        os.write(write_end, f"server {server}\n".encode())
        _detach_stdio()  # the server keeps the launcher's output; the keeper must not hold a pipe open
        _keep(data_dir, server, write_end)
        os._exit(0)
    os.close(write_end)
    _launch(keeper, read_end)  # never returns, except when the keeper could not be a subreaper
    return None


def _launch(keeper: int, read_end: int) -> None:
    """The launcher: forward stop signals to the server, then exit as the server did."""
    with os.fdopen(read_end, "rb") as pipe:
        first = pipe.readline().split()
        if not first or first[0] != b"server":  # no subreaper here: be the server ourselves
            with contextlib.suppress(ChildProcessError):
                os.waitpid(keeper, 0)
            return
        server = int(first[1])
        for sig in _FORWARDED:
            signal.signal(sig, lambda signum, _frame: _forward(server, signum))
        line = pipe.readline().split()  # "exit <status>" once the keeper reaped the server; EOF if it died
    status = int(line[1]) if len(line) == 2 and line[0] == b"exit" else 1
    if status < 0:  # the server died of a signal: die of the same one, as a shell expects
        if -status not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught: no handler to reset
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status if status >= 0 else 128 - status)


def _forward(server: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(server, signum)


def _detach_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)


def _keep(data_dir: Path, server: int, to_launcher: int) -> None:
    """Reap until no child is left; record every child but the server, tell the launcher how it ended."""
    for sig in _FORWARDED:
        signal.signal(sig, signal.SIG_IGN)  # the launcher owns stopping; the keeper outlives the server
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if info is None:
            continue
        pid = info.si_pid
        start = _start_token(pid)  # while the zombie exists its /proc entry still holds its start time
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if pid == server:
            _note_orphans(data_dir, server)
            with contextlib.suppress(OSError):
                os.write(to_launcher, f"exit {code}\n".encode())
                os.close(to_launcher)
        elif start is not None:
            _write_record(data_dir, ExitRecord(pid, start, code, time.time_ns() // 1_000_000))


def _start_token(pid: int) -> str | None:
    from trigflow.executors.local import read_proc_start  # the same identity the server recorded

    return read_proc_start(pid)


def _write_record(data_dir: Path, record: ExitRecord) -> None:
    """Atomically (temp file, fsync, rename): a restarted server reads a whole record or none."""
    path = _record_path(data_dir, record.pid, record.proc_start)
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, json.dumps({"exitCode": record.exit_code, "atMs": record.at_ms}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        pass  # a full disk loses this record: its attempt is then reported lost, never guessed


def watch_launcher(launcher: int) -> None:
    """In the server: end this process at once when the launcher dies (a SIGKILL of `trigflow up`),
    leaving every attempt running under the keeper. A daemon thread blocked on the launcher's pidfd."""
    try:
        fd = os.pidfd_open(launcher)
    except OSError:  # already gone
        os._exit(LAUNCHER_GONE_STATUS)

    def wait() -> None:
        import select

        select.select([fd], [], [])
        os._exit(LAUNCHER_GONE_STATUS)

    threading.Thread(target=wait, name="trigflow-launcher-watch", daemon=True).start()
