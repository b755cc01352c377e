"""Bound an attempt's log on disk without touching the task: drop the middle, keep the head and the tail.

Task output never flows through the server (a pipe reader in the server would SIGPIPE tasks that outlive
it): the child writes its log file directly, with O_APPEND. To bound it, the executor's thread looks at
each running attempt's log size on a timer (an fstat) and, past the limit, punches a hole over the middle
(`fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`): the blocks are freed, the writer keeps
appending at the end, the first quarter and the newest half of the limit stay readable, and a marker line
`[trigflow] log truncated: N bytes dropped` replaces the last bytes of the head. The file's apparent size
keeps growing (it is sparse); readers skip holes with SEEK_DATA/SEEK_HOLE (`iter_lines`).

Where the filesystem cannot punch holes, `trim` raises OSError and the executor kills the attempt with a
clear message instead (docs/limits.md "Task attempts").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

from trigflow.executors.files import open_regular

__all__ = ["LogState", "iter_lines", "punch_hole", "trim"]

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_MARKER_LEN = 64
_CHUNK = 1 << 20
MIN_LOG_BYTES = 1 << 16  # a smaller limit would leave no room for head, marker and tail

_libc: list[ctypes.CDLL | None] = []


def _fallocate() -> ctypes.CDLL | None:
    if not _libc:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            lib.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            lib.fallocate.restype = ctypes.c_int
            _libc.append(lib)
        except (OSError, AttributeError):
            _libc.append(None)
    return _libc[0]


def punch_hole(fd: int, offset: int, length: int) -> None:
    """Free [offset, offset+length) of the file, keeping its size; OSError(EOPNOTSUPP...) if unsupported."""
    lib = _fallocate()
    if lib is None:
        raise OSError(errno.ENOSYS, "fallocate is not available")
    if lib.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@dataclass(slots=True)
class LogState:
    """What has been dropped from one attempt's log so far (the hole is always [head, hole_end))."""

    limit: int
    block: int = 4096
    hole_end: int = 0  # 0: nothing dropped yet

    @property
    def head(self) -> int:
        return _align_down(self.limit // 4, self.block)

    def kept(self, size: int) -> int:
        return size - (self.hole_end - self.head if self.hole_end else 0)


def _align_down(n: int, block: int) -> int:
    return n - n % block


def marker(dropped: int) -> bytes:
    """Fixed-length marker line, so each later trim overwrites the previous one exactly."""
    text = f"\n[trigflow] log truncated: {dropped} bytes dropped"
    return (text.ljust(_MARKER_LEN - 1) + "\n").encode("ascii")


def trim(fd: int, state: LogState) -> int:
    """Drop the middle of the log open (read-write, *not* O_APPEND) as `fd` if it holds more than the limit.

    Returns the bytes dropped by this call (0: within the limit). Only whole blocks below the newest half
    of the limit are freed, so the writer's end of the file is never touched.
    """
    st = os.fstat(fd)
    if state.kept(st.st_size) <= state.limit:
        return 0
    if st.st_blksize > 0 and st.st_blksize != state.block and not state.hole_end:
        state.block = st.st_blksize
    head = state.head
    end = _align_down(st.st_size - state.limit // 2, state.block)
    start = state.hole_end or head
    if end <= start:
        return 0
    punch_hole(fd, start, end - start)
    before = state.hole_end - head + _MARKER_LEN if state.hole_end else 0
    state.hole_end = end
    total = end - head + _MARKER_LEN
    os.pwrite(fd, marker(total), head - _MARKER_LEN)
    return total - before


def _data_chunks(fd: int) -> Iterator[bytes]:
    """The file's bytes, skipping holes (punched regions read as zeros and are not data)."""
    pos = 0
    while True:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
            stop = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data past pos
                return
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            start, stop = pos, 1 << 62  # no SEEK_DATA here: read it all
        os.lseek(fd, start, os.SEEK_SET)
        while start < stop:
            chunk = os.read(fd, min(_CHUNK, stop - start))
            if not chunk:
                return
            start += len(chunk)
            yield chunk
        pos = stop


def iter_lines(path: str, max_line: int, max_bytes: int | None = None, needle: bytes | None = None) -> Iterator[bytes]:
    """Lines of a file with bounded memory: holes skipped, each line cut to `max_line` bytes.

    With `needle`, only lines containing it are produced (a chunk without it costs one `in` test, so a
    64 MiB log is scanned at memory speed). `max_bytes` stops after that many bytes of data (for files no
    limit keeps small). A missing or unreadable file has no lines; a symlink is not followed.
    """
    try:
        fd = open_regular(path, os.O_RDONLY)  # the task's directory: no symlink, no FIFO (files.py)
    except OSError:
        return
    try:
        yield from _lines(_data_chunks(fd), max_line, max_bytes, needle)
    finally:
        os.close(fd)


def _lines(chunks: Iterator[bytes], max_line: int, max_bytes: int | None, needle: bytes | None) -> Iterator[bytes]:
    carry = b""
    skipping = False  # inside a line already cut (and produced): drop until its newline
    seen = 0
    for chunk in chunks:
        if max_bytes is not None:
            if seen >= max_bytes:
                break
            chunk = chunk[: max_bytes - seen]
        seen += len(chunk)
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk, skipping = chunk[nl + 1 :], False
        buf = carry + chunk if carry else chunk
        last = buf.rfind(b"\n")
        rest = buf[last + 1 :] if last >= 0 else buf
        if last >= 0:
            complete = buf[:last]
            if needle is None or needle in complete:
                for line in complete.split(b"\n"):
                    if needle is None or needle in line:
                        yield line[:max_line]
        if len(rest) > max_line:
            if needle is None or needle in rest[:max_line]:
                yield rest[:max_line]
            carry, skipping = b"", True
        else:
            carry = rest
    if carry and (needle is None or needle in carry):
        yield carry
