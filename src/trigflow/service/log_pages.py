"""Pages of an attempt's log file: the cursor, where a page may end, and reading one page with bounded memory.

Why a module of its own: GetTaskInstanceLog's paging has to be exact (the pages of a log, concatenated,
are the log) while the file may still grow (the task is running) and may hold holes punched by the log cap
(executors/logcap.py). Those rules are small and pure enough to test on their own, apart from the database.

The rules:

* A cursor is `<attempt>:<byte offset>` (`LifeRoundNum` and the position in that attempt's log file). It is
  opaque to clients (docs/api.md), but binding the attempt into it lets a follower keep reading the attempt
  it started with even when a retry starts meanwhile.
* A page is at most `limit` bytes of the file's data. Holes are skipped with SEEK_DATA/SEEK_HOLE, never read;
  NUL bytes that still turn up (a hole punched between the seek and the read) are dropped, NUL is not text.
* A full page ends after its last newline when it has one (pages end on line boundaries where they can);
  a page never splits a UTF-8 character unless the log is complete (then the rest is decoded with
  replacement characters, as invalid UTF-8 anywhere else is).
* A page that reaches the end of a growing log keeps the unfinished last line: the next page continues at
  the byte after it, so nothing is lost or repeated.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass

__all__ = ["Cursor", "Page", "cut_point", "read_page", "utf8_boundary"]

PAGE_BYTES = 64 * 1024
_CURSOR = re.compile(r"([0-9]{1,9}):([0-9]{1,19})")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: an attempt (`LifeRoundNum`) and a byte offset in its log file."""

    attempt: int
    offset: int

    def encode(self) -> str:
        return f"{self.attempt}:{self.offset}"

    @staticmethod
    def decode(text: str) -> Cursor | None:
        """The cursor a previous page returned; None for any other text (the caller refuses it by name)."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            return None
        offset = int(match.group(2))
        return Cursor(int(match.group(1)), offset) if offset < 2**63 else None


@dataclass(frozen=True, slots=True)
class Page:
    """One page: its text, the offset after it, and whether it ends at the end of the file's data."""

    text: str
    next_offset: int
    at_end: bool


def utf8_boundary(buf: bytes) -> int:
    """The length of the longest prefix of `buf` that does not end inside a UTF-8 character.

    Only the last character is looked at (at most 3 continuation bytes back): bytes that are invalid
    anyway are left where they are, to be decoded as replacement characters.
    """
    end = len(buf)
    i = end - 1
    while i >= 0 and end - i <= 4 and buf[i] & 0xC0 == 0x80:
        i -= 1
    if i < 0 or end - i > 4 or buf[i] < 0xC0:
        return end  # ASCII last, or no lead byte within reach: nothing to hold back
    lead = buf[i]
    need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return i if end - i < need else end


def cut_point(buf: bytes, *, full: bool, final: bool) -> int:
    """How many bytes of `buf` (the data read for one page) the page returns.

    `full`: the page limit was reached (more data may follow). `final`: the log is complete and `buf`
    holds all that was left of it, so everything goes out.
    """
    if final:
        return len(buf)
    if full:
        newline = buf.rfind(b"\n")
        if newline >= 0:
            return newline + 1
    cut = utf8_boundary(buf)
    if cut == 0 and full:  # cannot happen for limit >= 4; never return an empty page that would not advance
        return len(buf)
    return cut


def _segments(fd: int, offset: int, limit: int) -> tuple[list[tuple[int, bytes]], int]:
    """Up to `limit` bytes of data from `offset`, as (file offset, bytes) runs between holes; and the file
    offset right after the last byte read (`offset` when there was none)."""
    runs: list[tuple[int, bytes]] = []
    pos, left = offset, limit
    while left > 0:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
            stop = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data at or after pos
                break
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            start, stop = pos, pos + left  # no SEEK_DATA on this filesystem: read straight on
        chunk = os.pread(fd, min(left, stop - start), start)
        if not chunk:
            break
        runs.append((start, chunk))
        pos, left = start + len(chunk), left - len(chunk)
    return runs, pos


def read_page(fd: int, offset: int, limit: int = PAGE_BYTES, *, complete: bool) -> Page:
    """Read the page of the log open as `fd` that starts at `offset` (at most `limit` bytes of data).

    `complete`: the attempt has ended, so the file no longer grows (its state was read *before* this call).
    Raises ValueError for an offset past the end of the file (a cursor this log never returned).
    """
    size = os.fstat(fd).st_size
    if offset > size:
        raise ValueError(f"offset {offset} is past the end of the log ({size} bytes)")
    runs, after = _segments(fd, offset, limit)
    buf = b"".join(chunk for _, chunk in runs)
    full = len(buf) >= limit
    at_end = after >= os.fstat(fd).st_size if not full else _no_data_after(fd, after)
    cut = cut_point(buf, full=full, final=complete and at_end)
    return Page(_text(buf[:cut]), _offset_of(runs, cut, after, offset), at_end and cut == len(buf))


def _no_data_after(fd: int, pos: int) -> bool:
    try:
        os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return True
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
        return pos >= os.fstat(fd).st_size
    return False


def _offset_of(runs: list[tuple[int, bytes]], cut: int, after: int, offset: int) -> int:
    """The file offset of byte `cut` of the concatenated runs (holes between runs are skipped)."""
    seen = 0
    for start, chunk in runs:
        if cut < seen + len(chunk):
            return start + (cut - seen)
        seen += len(chunk)
    return after if runs else offset


def _text(raw: bytes) -> str:
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"")
    return raw.decode("utf-8", "replace")
