"""Table and value rendering of the client (trigflow.client.tables) and the exit-code list of docs/cli.md."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.cli.clientbase import EXIT_CODES
from trigflow.client.tables import (
    cell,
    display_width,
    format_duration,
    format_time,
    render_pairs,
    render_table,
)

ROOT = Path(__file__).resolve().parents[2]


def test_columns_line_up_with_wide_characters() -> None:
    out = render_table(["NAME", "STATE"], [["默认文件夹", "SUCCESS"], ["a", None]])
    assert out.splitlines() == [
        "NAME        STATE",
        "默认文件夹  SUCCESS",
        "a           -",
    ]


def test_cells() -> None:
    assert [cell(None), cell(""), cell(True), cell(False), cell(3), cell("a\nb\tc"), cell(" \n")] == [
        "-", "-", "yes", "no", "3", "a b c", "-"]  # fmt: skip
    assert display_width("é") == 1 and display_width("e\u0301") == 1 and display_width("表") == 2


def test_a_row_of_the_wrong_length_is_a_bug() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        render_table(["A", "B", "C"], [["1", "2"]])


_text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Mn", "Me")), max_size=12)
_header = _text.filter(lambda h: bool(h) and h == h.strip())  # headers are fixed words in the code


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(st.lists(_header, min_size=n, max_size=n),
                                                     st.lists(st.lists(_text, min_size=n, max_size=n), max_size=5))))
def test_every_column_starts_at_the_same_display_offset(case: tuple[list[str], list[list[str]]]) -> None:
    headers, rows = case
    lines = render_table(headers, rows).split("\n")
    assert len(lines) == len(rows) + 1
    cells = [headers, *[[cell(v) for v in r] for r in rows]]
    widths = [max(display_width(c[i]) for c in cells) for i in range(len(headers))]
    for line, row in zip(lines, cells, strict=True):
        offset = 0
        for i, value in enumerate(row):
            # the text before column i has exactly the width of the previous columns plus separators
            assert display_width(_prefix_until(line, offset)) == offset
            assert _prefix_until(line[len(_prefix_until(line, offset)):], display_width(value)) == value
            offset += widths[i] + 2
        assert line == line.rstrip()


def _prefix_until(text: str, width: int) -> str:
    out, w = "", 0
    for ch in text:
        if w >= width:
            break
        out += ch
        w += display_width(ch)
    return out


def test_pairs_align_values() -> None:
    assert render_pairs([("Run", "r1"), ("Workflow", "w (1)"), ("Error", None)]).splitlines() == [
        "Run:       r1", "Workflow:  w (1)", "Error:     -"]  # fmt: skip


def test_times_and_durations() -> None:
    assert format_time("1796314116877", UTC) == "2026-12-03 16:08:36"
    assert format_time("1796314116877", ZoneInfo("Asia/Shanghai")) == "2026-12-04 00:08:36"
    assert format_time(None) == "-" and format_time("not a time") == "not a time"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", format_time(0))
    assert format_duration("1000", "1046") == "0.05s"
    assert format_duration("1000", "4400") == "3.4s"
    assert format_duration("0", str(123_000)) == "2m03s"
    assert format_duration("0", str(3_723_000)) == "1h02m03s"
    assert format_duration("5", "1") == "-" and format_duration(None, "1") == "-"


def test_docs_list_every_exit_code() -> None:
    """docs/cli.md's exit-code table is the interface scripts read; it must equal the code."""
    text = (ROOT / "docs" / "cli.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m.group(1)) for m in re.finditer(r"^\| `(\d+)` \|", section, re.M)}
    assert documented == set(EXIT_CODES)
