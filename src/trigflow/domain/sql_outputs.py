"""A SQL task's result rows: shown in the log as a table, and addressed by WeData's output parameters.

WeData lets a task declare output parameters whose value is an address into the rows of its result
(ANCHORS §2.1 "Parameter passing", https://www.tencentcloud.com/document/product/1174/65222). In trigflow the
address is the `ParamValue` of a `ParamTaskOutList` entry, written exactly as WeData does:

| `ParamValue` | Value (0-based indexes) | Text written |
|---|---|---|
| `$[n][m]` | the cell at row n, column m | the cell's text (below) |
| `$[n][*]`, `$[n]` | row n | a JSON array of its cells |
| `$[*][m]` | column m, every row | a JSON array |
| `$[*][*]` | every row | a JSON array of JSON arrays |

Blanks inside the brackets are allowed (`$[ 0 ][ 1 ]`); anything else is not an address and stays the
output's declared default (docs/parameters.md). "The result" is the last statement of the script that
returned rows (a `SELECT`, `SHOW`, `... RETURNING`); statements that return none (DDL, `INSERT`, `COMMIT`)
do not replace it.

Text of one cell (`$[n][m]`): NULL is the empty string; `true`/`false` for booleans; numbers, dates and times
as `str()` gives them (`42`, `3.14`, `12.50`, `2026-12-03 10:00:00`); bytes as UTF-8 when they decode, else
`0x` and hex. Line breaks in a cell become spaces, because the output file is one `name=value` per line and
the rest of a broken value could set another output. A missing row or column gives the empty string.

JSON arrays (the list addresses) are what a downstream `${param}` receives as text and what a For-each
node's `loopDataArray` parses: `[1, "a", null]`. Integers, finite floats and decimals are JSON numbers (a
decimal keeps its exact digits: `12.50`, `1E+3`), booleans and NULL are JSON's, everything else is its cell
text as a JSON string. Non-ASCII stays as is. A missing row gives `[]`; a missing column in a row gives `null` for it.

Pure: no I/O. The runner (`trigflow.runner.sql`) feeds it rows and writes what it returns.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Address",
    "address_value",
    "cell_text",
    "format_output_file",
    "json_cell",
    "output_values",
    "parse_address",
    "render_table",
]

_ADDRESS_RE = re.compile(r"\s*\$\[\s*(\*|[0-9]+)\s*\](?:\[\s*(\*|[0-9]+)\s*\])?\s*\Z")


@dataclass(frozen=True)
class Address:
    """An address into result rows; None is `*` (every row / every column)."""

    row: int | None
    col: int | None

    @property
    def is_cell(self) -> bool:
        return self.row is not None and self.col is not None


def parse_address(text: str) -> Address | None:
    """The address `text` spells (`$[0][1]`, `$[0][*]`, `$[*][1]`, `$[*][*]`, `$[0]`), or None."""
    m = _ADDRESS_RE.match(text)
    if m is None:
        return None
    row_s, col_s = m.group(1), m.group(2)
    if col_s is None:  # `$[n]` is row n; `$[*]` alone is every row
        col_s = "*"
    return Address(None if row_s == "*" else int(row_s), None if col_s == "*" else int(col_s))


def _bytes_text(value: bytes | bytearray | memoryview) -> str:
    raw = bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()


def cell_text(value: object) -> str:
    """One cell as text (module docstring): NULL is empty, booleans lower-case, bytes as UTF-8 or hex."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_text(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat(sep=" ") if isinstance(value, _dt.datetime) else value.isoformat()
    return str(value)


def json_cell(value: object) -> str:
    """One cell as JSON text: numbers as numbers (a decimal with its exact digits), NULL as null, the rest as
    its cell text in a JSON string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return str(value)  # `12.50`, `1E+3`: both JSON numbers, exact
    return json.dumps(cell_text(value), ensure_ascii=False)


def _array(items: Sequence[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _one_line(text: str) -> str:
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def address_value(rows: Sequence[Sequence[object]], address: Address) -> str:
    """The text the address gives over `rows` (module docstring: a cell's text, or a JSON array)."""
    if address.is_cell:
        assert address.row is not None and address.col is not None
        if address.row >= len(rows) or address.col >= len(rows[address.row]):
            return ""
        return _one_line(cell_text(rows[address.row][address.col]))
    if address.row is not None:
        if address.row >= len(rows):
            return "[]"
        return _array([json_cell(v) for v in rows[address.row]])
    if address.col is not None:
        col = address.col
        return _array([json_cell(r[col]) if col < len(r) else "null" for r in rows])
    return _array([_array([json_cell(v) for v in r]) for r in rows])


def output_values(declared: Sequence[Mapping[str, object]], rows: Sequence[Sequence[object]]) -> dict[str, str]:
    """Each declared output (`{ParamKey, ParamValue}`) whose ParamValue is an address, with its value."""
    values: dict[str, str] = {}
    for entry in declared:
        key, spec = entry.get("ParamKey"), entry.get("ParamValue")
        if not isinstance(key, str) or not key or not isinstance(spec, str):
            continue
        address = parse_address(spec)
        if address is not None:
            values[key] = address_value(rows, address)
    return values


def format_output_file(values: Mapping[str, str]) -> str:
    """The `name=value` lines of `$WEDATA_OUTPUT_FILE` (docs/parameters.md), one per output."""
    return "".join(f"{name}={_one_line(value)}\n" for name, value in values.items())


def _cut(text: str, width: int) -> tuple[str, bool]:
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", "\\n")
    if len(text) <= width:
        return text, False
    return text[: max(width - 1, 0)] + "…", True


def render_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    max_rows: int,
    max_cell: int,
    total_rows: int | None = None,
) -> list[str]:
    """The first `max_rows` rows as an aligned text table, each cell cut to `max_cell` characters.

    NULL shows as `NULL` (in the log only, where it must differ from an empty string). The last line says
    what was left out: rows beyond `max_rows` (of `total_rows` when known) and whether cells were cut.
    """
    shown = rows[:max_rows]
    cut_any = False
    header: list[str] = []
    for c in columns:
        text, cut = _cut(str(c), max_cell)
        header.append(text)
        cut_any |= cut
    body: list[list[str]] = []
    for row in shown:
        cells = []
        for v in row:
            text, cut = _cut("NULL" if v is None else cell_text(v), max_cell)
            cells.append(text)
            cut_any |= cut
        body.append(cells)
    widths = [len(h) for h in header]
    for cells in body:
        for i, text in enumerate(cells):
            if i < len(widths):
                widths[i] = max(widths[i], len(text))
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(t.ljust(widths[i]) for i, t in enumerate(cells)) + " |"

    lines = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines.extend(line(cells) for cells in body)
    notes = []
    known = len(rows) if total_rows is None else total_rows
    if known > len(shown):
        notes.append(f"first {len(shown)} of {known} rows shown")
    elif total_rows is None and len(rows) > len(shown):
        notes.append(f"first {len(shown)} rows shown")
    if cut_any:
        notes.append(f"cells cut at {max_cell} characters")
    if notes:
        lines.append("(" + "; ".join(notes) + ")")
    return lines
