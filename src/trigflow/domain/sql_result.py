"""One statement's result rows, streamed and reduced on the fly to what the SQL task needs of them.

A result may hold millions of rows; the runner never holds them. It feeds them here chunk by chunk, and only
this is kept (`ResultDigest`):

* the exact row count;
* the first `preview_rows` rows, for the log table;
* for each declared output whose `ParamValue` is an address (trigflow.domain.sql_outputs): a cell or a row
  address keeps only the row it names; a column (`$[*][m]`) or whole-result (`$[*][*]`) address builds its
  JSON text as the rows pass, piece by piece, and stops once the text is longer than `max_chars` (the
  server's one-value limit, `trigflow up --max-param-size`: a downstream task would refuse a longer value).
  Such an output is then *over*: the runner fails the task naming it, instead of exhausting its memory or
  writing a value no task may read.

Memory is bounded by the preview, the rows that cell and row addresses name, and `max_chars` characters per
list output, whatever the result's size. The values equal `output_values` over all rows (a property test
checks it for any chunking). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trigflow.domain.sql_outputs import Address, address_value, json_cell, parse_address

__all__ = ["OutputOver", "ResultDigest", "addressed_outputs"]


@dataclass(frozen=True)
class OutputOver:
    """A declared output whose value would be longer than the limit."""

    key: str
    spec: str
    rows: int  # the rows it had taken in when it went over


def addressed_outputs(declared: Sequence[Mapping[str, object]]) -> list[tuple[str, str, Address]]:
    """(ParamKey, ParamValue, address) of each declared output whose ParamValue is an address."""
    found = []
    for entry in declared:
        key, spec = entry.get("ParamKey"), entry.get("ParamValue")
        if isinstance(key, str) and key and isinstance(spec, str):
            address = parse_address(spec)
            if address is not None:
                found.append((key, spec, address))
    return found


class _ListOutput:
    """The JSON array text of a column or whole-result address, built while the rows pass, up to a bound."""

    __slots__ = ("col", "length", "over_at", "pieces")

    def __init__(self, col: int | None) -> None:
        self.col = col
        self.pieces: list[str] = []
        self.length = 2  # the brackets
        self.over_at: int | None = None

    def add(self, rows: Sequence[Sequence[object]], seen: int, max_chars: int) -> None:
        col = self.col
        for i, row in enumerate(rows):
            if col is None:
                piece = "[" + ", ".join(json_cell(v) for v in row) + "]"
            else:
                piece = json_cell(row[col]) if col < len(row) else "null"
            self.length += len(piece) + (2 if self.pieces else 0)
            if self.length > max_chars:
                self.over_at = seen + i + 1
                self.pieces = []  # never needed again: the output is refused
                return
            self.pieces.append(piece)

    def text(self) -> str:
        return "[" + ", ".join(self.pieces) + "]"


class ResultDigest:
    """What is kept of one result while its rows stream through `add` (module docstring)."""

    def __init__(self, declared: Sequence[Mapping[str, object]], *, preview_rows: int, max_chars: int) -> None:
        self.count = 0
        self.preview: list[tuple[object, ...]] = []
        self._preview_rows = preview_rows
        self._max_chars = max_chars
        self._outputs = addressed_outputs(declared)
        self._lists = {i: _ListOutput(a.col) for i, (_, _, a) in enumerate(self._outputs) if a.row is None}
        self._wanted = sorted({a.row for _, _, a in self._outputs if a.row is not None})
        self._rows: dict[int, tuple[object, ...]] = {}

    def add(self, rows: Sequence[Sequence[object]]) -> None:
        """Take in the next rows of the result, in order."""
        if not rows:
            return
        start, n = self.count, len(rows)
        room = self._preview_rows - len(self.preview)
        if room > 0:
            self.preview.extend(tuple(r) for r in rows[:room])
        for want in self._wanted:
            if start <= want < start + n:
                self._rows[want] = tuple(rows[want - start])
        for out in self._lists.values():
            if out.over_at is None:
                out.add(rows, start, self._max_chars)
        self.count = start + n

    def values(self) -> tuple[dict[str, str], list[OutputOver]]:
        """The value of each addressed output that fits the limit, and the outputs that do not."""
        values: dict[str, str] = {}
        over: list[OutputOver] = []
        for i, (key, spec, address) in enumerate(self._outputs):
            out = self._lists.get(i)
            if out is not None and out.over_at is not None:
                over.append(OutputOver(key, spec, out.over_at))
                continue
            if out is not None:
                value = out.text()
            else:
                assert address.row is not None
                row = self._rows.get(address.row)
                value = address_value([row] if row is not None else [], Address(0, address.col))
            if len(value) > self._max_chars:  # one huge cell or row
                over.append(OutputOver(key, spec, self.count))
            else:
                values[key] = value
        return values, over
