"""Which process each local attempt is, written the moment it is spawned (ADR 0005, "Later" 2).

The engine commits an attempt's pid a batch after the spawn. A server killed in between left a RUNNING row
without a pid; once the attempt had ended (its environment gone with it) nothing tied it to the exit record
the keeper wrote, so it was declared lost and ran again. The executor therefore appends
`<task-run id> <pid> <start token>` to one journal per data dir right after each spawn, and restart recovery
reads it for rows without a pid.

One append to a file kept open (no fsync: the server's crash, not the machine's, is the case; a machine
crash loses the processes too). It was an extended attribute on each attempt's log first: a metadata write
on a new inode per attempt cost the 200-task fan-out ~5 % of the server's CPU (bench/engine_compare.py).
The journal rotates at MAX_BYTES into `<journal>.old`, so it holds at least the last MAX_BYTES of spawns:
an entry matters only until the next batch commits its pid (milliseconds), or until the next restart.
"""

from __future__ import annotations

import contextlib
import os
import threading

MAX_BYTES = 1 << 20


class SpawnJournal:
    """Append-only, thread-safe (the executor starts attempts from several threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)

    def record(self, attempt_id: str, pid: int, proc_start: str) -> None:
        """Best effort: a full disk loses the entry (that attempt is then only found while it runs)."""
        line = f"{attempt_id} {pid} {proc_start}\n".encode("ascii", "replace")
        with self._lock:
            try:
                if self._size + len(line) > MAX_BYTES:
                    os.replace(self.path, self.path + ".old")
                    os.close(self._fd)
                    self._fd, self._size = self._open(), 0
                self._size += os.write(self._fd, line)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            os.close(self._fd)


def read(path: str) -> dict[str, tuple[int, str]]:
    """The journal's entries by task-run id (the older file first, so the newest entry wins)."""
    found: dict[str, tuple[int, str]] = {}
    for name in (path + ".old", path):
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for raw in data.decode("ascii", "replace").splitlines():
            parts = raw.split(" ")
            if len(parts) == 3 and parts[1].isdigit():
                found[parts[0]] = (int(parts[1]), parts[2])
    return found


def append(path: str, attempt_id: str, pid: int, proc_start: str) -> None:
    """One entry from outside the executor (restart recovery naming an attempt it adopted by environment)."""
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, f"{attempt_id} {pid} {proc_start}\n".encode("ascii", "replace"))
        finally:
            os.close(fd)
