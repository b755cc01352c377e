"""Keep the server's (and a runner's) memory and environment out of reach of the tasks it starts.

Tasks run as the server's user, and a process can read `/proc/<pid>/environ` (and `mem`, via ptrace) of
any process of its own user: `cat /proc/$PPID/environ` in a task would print TRIGFLOW_SECRET_KEY and a
database URL, whatever the task's own environment holds. `PR_SET_DUMPABLE 0` makes the kernel refuse that
to anyone without CAP_SYS_PTRACE (the /proc files become root-owned, ptrace attach fails) and turns off
core dumps of the server, which would hold the same secrets. Children get the flag back at `execve`, so
tasks are unaffected; `trigflow run-attempt`, whose sealed workload holds data-source secrets, sets it
again first thing (a window of its interpreter's start-up remains). `/proc/<pid>/cmdline` stays
world-readable on Linux: secrets never belong in argv (use TRIGFLOW_DB rather than `--db` for a URL with
a password).
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["forbid_inspection", "is_dumpable"]

_PR_GET_DUMPABLE, _PR_SET_DUMPABLE = 3, 4
log = logging.getLogger(__name__)


def _prctl(option: int, arg: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(option, arg, 0, 0, 0))


def forbid_inspection() -> bool:
    """Make this process non-dumpable; False (logged) where the kernel refuses (not Linux, seccomp)."""
    try:
        if _prctl(_PR_SET_DUMPABLE, 0) == 0:
            return True
    except (OSError, AttributeError):
        pass
    log.warning("cannot make the server non-dumpable: tasks of its user could read its environment")
    return False


def is_dumpable() -> bool:
    return _prctl(_PR_GET_DUMPABLE) == 1
