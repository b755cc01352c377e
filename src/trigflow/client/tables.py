"""Plain-text tables and values for people; scripts use `--json` instead.

Widths count East Asian wide characters as two columns (workflow and folder names are often Chinese,
e.g. `/默认文件夹`), so columns stay aligned in a terminal. Nothing here does I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime, tzinfo

EMPTY = "-"


def display_width(text: str) -> int:
    """Terminal columns of `text`: wide and full-width characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def cell(value: object) -> str:
    """A value as one table cell: None and blank text show as `-`, runs of whitespace as one space."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = "" if value is None else " ".join(str(value).split())
    return text or EMPTY


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns two spaces apart under a header line, no trailing spaces (callers print a
    sentence instead of a table without rows)."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells for {len(headers)} columns")
        widths = [max(w, display_width(c)) for w, c in zip(widths, row, strict=True)]
    lines = []
    for row in [list(headers), *cells]:
        padded = [c + " " * (w - display_width(c)) for c, w in zip(row, widths, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def render_pairs(pairs: Sequence[tuple[str, object]]) -> str:
    """`Key:  value` lines with the values aligned (one record, e.g. a run's header)."""
    width = max((display_width(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k}:{' ' * (width - display_width(k) + 2)}{cell(v)}" for k, v in pairs)


def epoch_ms(value: object) -> int | None:
    """The epoch-ms string of a wire time field as an int; None for absent or non-numeric values."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def format_time(value: object, tz: tzinfo | None = None) -> str:
    """An epoch-ms wire time as `YYYY-MM-DD HH:MM:SS` in `tz` (default: this machine's zone); other
    text is shown as it came, absent as `-`."""
    ms = epoch_ms(value)
    if ms is None:
        return cell(value)
    moment = datetime.fromtimestamp(ms / 1000, tz=tz) if tz else datetime.fromtimestamp(ms / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start: object, end: object) -> str:
    """Elapsed time between two epoch-ms wire times as `1h02m03s` / `2m03s` / `3.4s`; `-` if unknown."""
    a, b = epoch_ms(start), epoch_ms(end)
    if a is None or b is None or b < a:
        return EMPTY
    seconds = (b - a) / 1000
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
