"""Query criteria as plain data: the service says *what* to match, only the store turns it into SQL.

Text matching is case-insensitive substring with LIKE metacharacters escaped (decisions.md Q-F4), so a
user's `_` or `%` is literal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class AnyOf:
    """`column` equals one of `values`."""

    column: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Between:
    """`low <= column <= high`; either bound may be None."""

    column: str
    low: int | None = None
    high: int | None = None


@dataclass(frozen=True)
class Keyword:
    """Any word is a case-insensitive substring of `name_column` or equals `id_column`."""

    name_column: str
    id_column: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class UnderPath:
    """`column` is the folder `path` or any folder below it."""

    column: str
    path: str


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool = True


Criterion = AnyOf | Between | Keyword | UnderPath


def escape_like(text: str) -> str:
    """Escape LIKE metacharacters (escape char `\\`) so user text matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _longest(col: Any) -> int | None:
    """The most characters a value of `col` can hold (VARCHAR length), None if unbounded."""
    return getattr(getattr(col, "type", None), "length", None)


def contains(col: Any, text: str) -> Any:
    """Case-insensitive substring match of user text.

    Text longer than the column can hold matches nothing, and is answered so without a LIKE: SQLite
    refuses LIKE patterns over 50,000 bytes ("pattern too complex"), which a 100,000-character
    Keyword would otherwise turn into an InternalError.
    """
    longest = _longest(col)
    if longest is not None and len(text) > longest:
        return sa.false()
    return sa.func.lower(col).like("%" + escape_like(text.lower()) + "%", escape="\\")


def where(table: sa.Table, criteria: Sequence[Criterion]) -> list[Any]:
    out: list[Any] = []
    for c in criteria:
        if isinstance(c, AnyOf):
            out.append(table.c[c.column].in_(list(c.values)))
        elif isinstance(c, Between):
            col = table.c[c.column]
            if c.low is not None:
                out.append(col >= c.low)
            if c.high is not None:
                out.append(col <= c.high)
        elif isinstance(c, Keyword):
            name, ident = table.c[c.name_column], table.c[c.id_column]
            out.append(sa.or_(*[sa.or_(contains(name, w), ident == w) for w in c.words]))
        else:
            col = table.c[c.column]
            prefix = c.path.rstrip("/") + "/"
            longest = _longest(col)
            if longest is not None and len(prefix) >= longest:  # nothing fits below it (see `contains`)
                out.append(col == c.path)
            else:
                out.append(sa.or_(col == c.path, col.like(escape_like(prefix) + "%", escape="\\")))
    return out


def order_by(table: sa.Table, orders: Sequence[Order]) -> list[Any]:
    return [table.c[o.column].desc() if o.descending else table.c[o.column].asc() for o in orders]
