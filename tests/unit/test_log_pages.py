"""Paging an attempt's log (service/log_pages.py): pages reassemble the log exactly, never split a UTF-8
character, skip the holes the log cap punches, and a growing log loses and repeats nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.executors.logcap import LogState, punch_hole, trim
from trigflow.service.log_pages import Cursor, cut_point, read_page, utf8_boundary


def pages(fd: int, limit: int, *, complete: bool = True) -> Iterator[str]:
    """Every page from the start until the end is reached (what a client does with NextCursor)."""
    offset = 0
    for _ in range(100_000):
        page = read_page(fd, offset, limit, complete=complete)
        yield page.text
        if page.at_end:
            return
        assert page.next_offset > offset or page.text == "", "a page that is not the end must advance"
        offset = page.next_offset
    raise AssertionError("paging did not reach the end")


def write(tmp_path: Path, data: bytes) -> int:
    path = tmp_path / "a.log"
    path.write_bytes(data)
    return os.open(path, os.O_RDWR)


@pytest.mark.parametrize(
    ("text", "cursor"),
    [("0:0", Cursor(0, 0)), ("3:65536", Cursor(3, 65536)), ("12:9223372036854775807", Cursor(12, 2**63 - 1))],
)
def test_cursor_round_trip(text: str, cursor: Cursor) -> None:
    assert Cursor.decode(text) == cursor
    assert cursor.encode() == text


@pytest.mark.parametrize("text", ["", "0", ":0", "0:", "a:1", "-1:0", "0:-1", "0:1:2", " 0:1", "0:9223372036854775808"])
def test_cursor_refuses_what_it_never_returns(text: str) -> None:
    assert Cursor.decode(text) is None


def test_utf8_boundary_holds_back_only_an_unfinished_character() -> None:
    euro = "€".encode()  # 3 bytes
    assert utf8_boundary(b"ab" + euro) == 5
    assert utf8_boundary(b"ab" + euro[:2]) == 2
    assert utf8_boundary(b"ab" + euro[:1]) == 2
    assert utf8_boundary("😀".encode()[:3]) == 0
    assert utf8_boundary(b"\x80\x80\x80\x80\x80") == 5  # garbage is left in place, decoded as U+FFFD later
    assert utf8_boundary(b"") == 0


def test_cut_point_prefers_line_ends_on_full_pages() -> None:
    assert cut_point(b"one\ntwo\nthr", full=True, final=False) == 8
    assert cut_point(b"one\ntwo\nthr", full=False, final=False) == 11  # the end so far, partial line included
    assert cut_point(b"one\ntwo\nthr", full=True, final=True) == 11
    assert cut_point(b"x" * 10, full=True, final=False) == 10  # one line longer than a page: cut inside it


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(max_size=40), max_size=60),
    limit=st.integers(min_value=4, max_value=200),
)
def test_pages_reassemble_the_log_exactly(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], limit: int
) -> None:
    text = "\n".join(lines).replace("\x00", "")
    fd = write(tmp_path_factory.mktemp("log"), text.encode())
    try:
        got = list(pages(fd, limit))
    finally:
        os.close(fd)
    assert "".join(got) == text
    assert all(len(p.encode()) <= limit for p in got)


def test_full_pages_end_on_line_boundaries(tmp_path: Path) -> None:
    log = "".join(f"line {i:04d}\n" for i in range(1000))
    fd = write(tmp_path, log.encode())
    try:
        got = list(pages(fd, 4096))
    finally:
        os.close(fd)
    assert "".join(got) == log
    assert all(p.endswith("\n") for p in got if p)
    assert len(got) > 2


def test_a_growing_log_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    euro = "€".encode()
    steps = ["héllo wo".encode(), b"rld\nsecond li", b"ne\n", b"", euro[:2], euro[2:] + b"end", b"\n"]
    fd_w = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    fd = os.open(path, os.O_RDONLY)
    try:
        seen, offset = [], 0
        for data in steps:
            os.write(fd_w, data)
            page = read_page(fd, offset, 1 << 16, complete=False)
            assert "\ufffd" not in page.text  # a character being written is held back, not mangled
            seen.append(page.text)
            offset = page.next_offset
        final = read_page(fd, offset, 1 << 16, complete=True)
        assert (final.text, final.at_end) == ("", True)
        assert "".join(seen) == b"".join(steps).decode()
        assert seen[4] == ""  # only the first two bytes of the euro sign were there
    finally:
        os.close(fd)
        os.close(fd_w)


def test_an_unfinished_character_of_a_complete_log_is_replaced(tmp_path: Path) -> None:
    fd = write(tmp_path, b"ok\n" + "€".encode()[:2])
    try:
        page = read_page(fd, 0, 1 << 16, complete=True)
    finally:
        os.close(fd)
    assert (page.text, page.at_end) == ("ok\n\ufffd", True)


def test_offset_past_the_end_is_refused(tmp_path: Path) -> None:
    fd = write(tmp_path, b"abc")
    try:
        assert read_page(fd, 3, 10, complete=True).text == ""
        with pytest.raises(ValueError):
            read_page(fd, 4, 10, complete=True)
    finally:
        os.close(fd)


def hole_punching(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.write_bytes(b"x" * 16384)
    fd = os.open(probe, os.O_RDWR)
    try:
        punch_hole(fd, 0, 8192)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def test_pages_skip_holes_punched_by_the_log_cap(tmp_path: Path) -> None:
    if not hole_punching(tmp_path):
        pytest.skip("this filesystem cannot punch holes")
    log = "".join(f"{i:07d} some output of the task\n" for i in range(20_000)).encode()
    fd = write(tmp_path, log)
    try:
        state = LogState(limit=1 << 16)
        assert trim(fd, state) > 0  # drops the middle, marks it, keeps head and tail
        text = "".join(pages(fd, 1 << 14))
    finally:
        os.close(fd)
    assert "\x00" not in text
    assert "[trigflow] log truncated:" in text
    head, tail = text.split("[trigflow] log truncated:", 1)
    assert log.decode().startswith(head.rstrip("\n")[: len(head) - 200])
    assert log.decode().endswith(tail.split("\n", 1)[1][-1000:])
    assert len(text) < 1 << 17  # only what is kept, not the 600 kB apparent size


def test_nul_bytes_are_not_text(tmp_path: Path) -> None:
    fd = write(tmp_path, b"a\x00\x00b\n")
    try:
        assert read_page(fd, 0, 100, complete=True).text == "ab\n"
    finally:
        os.close(fd)


def test_a_fifo_or_symlink_in_place_of_a_log_is_not_read(tmp_path: Path) -> None:
    """A task can replace files in its run directory: the server never blocks on a FIFO nor follows a link."""
    from trigflow.service.task_logs import _open_regular

    os.mkfifo(tmp_path / "fifo.log")
    (tmp_path / "secret").write_text("not a log")
    (tmp_path / "link.log").symlink_to(tmp_path / "secret")
    assert _open_regular(tmp_path / "fifo.log") is None  # would block forever without O_NONBLOCK
    assert _open_regular(tmp_path / "link.log") is None
    assert _open_regular(tmp_path / "missing.log") is None
    fd = _open_regular(tmp_path / "secret")
    assert fd is not None
    os.close(fd)
