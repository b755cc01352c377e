"""Opening files in an attempt's run directory, which is also the task's working directory.

Anything there may have been planted by a task: an earlier attempt (or a sibling task of the run) can
put a symlink or a FIFO where the server will next open a log, a parameter file or an outputs file.
A symlink would redirect the server's write (O_NOFOLLOW refuses it); a FIFO would block the opening
thread — the scheduler's — until some peer came (O_NONBLOCK opens it at once, or fails with ENXIO for
a writer, and the regular-file check then refuses it). Every open of such a path goes through here.
"""

from __future__ import annotations

import fcntl
import os
import stat

__all__ = ["NotRegularFile", "open_regular"]

_SAFE = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


class NotRegularFile(OSError):
    """The path holds something other than a regular file (a FIFO, a device, a directory, a socket)."""


def open_regular(path: str, flags: int, mode: int = 0o600) -> int:
    """`os.open` that never follows a symlink, never blocks, and only returns a regular file's descriptor.

    The returned descriptor is blocking again (O_NONBLOCK is only for the open itself), so it can be
    handed to a child as stdout like any other. Raises OSError (NotRegularFile for a FIFO and the like).
    """
    fd = os.open(path, flags | _SAFE, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"not a regular file: {os.path.basename(path)}")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd
