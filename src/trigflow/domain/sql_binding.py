"""Data values in a SQL task's script become bound statement parameters, never SQL text.

docs/parameters.md splits parameter values into trusted text and data (upstream outputs, run-time
parameters, file-arrival paths). For a SQL task (TaskTypeId 32) the server substitutes the trusted text and
hands each data value to the runner as a *binding*, so the database receives it as a parameter value that
it never parses. Two halves, both pure:

**Server side — `render_sql(segments, dialect)`** (for the task type's workload). Each `${x}` whose value is
data is replaced by a placeholder word unique to the script (`__trigflow_bind_0__`, ...), according to
where it sits, found by the splitter's lexer (`trigflow.domain.sql_script.lex`):

| Where `${x}` is | Becomes |
|---|---|
| code (`WHERE id = ${x}`, `LIMIT ${n}`) | a placeholder: the value is bound as a string parameter |
| a whole string literal (`'${x}'`, `E'${x}'`, MySQL `"${x}"`) | a placeholder in place of the literal |
| part of a string literal (`'day_${x}_end'`) | `('day_' \\|\\| ? \\|\\| '_end')`; MySQL `CONCAT('day_', ?, '_end')` |
| a comment | the reference itself, `${x}`, inert |

Refused with `UnsafePlacement` naming the parameter: a value that is part of a name (`tbl_${x}`), inside a
quoted name (`"${x}"`, backticks), inside a dollar-quoted body (`$$ ... $$`, a function or `DO` block: no
parameter can be bound there) or a MySQL `/*! */` comment, or after a backslash in a MySQL string. A value
can never name a table or a column; where the database does not accept a parameter at that place
(`DATE ${x}`, `INTERVAL '${n} days'`), the statement fails with the database's error, it never runs the value.

The workload then carries the script with placeholders and `bindings`: `[{"placeholder": ..., "value": ...}]`.

**Runner side — `bind_statement(text, dialect, bindings, style)`**: for one statement, every placeholder in
code becomes the driver's marker (`%s` for psycopg and PyMySQL, `?` for sqlite3 and DuckDB) and the values
come back in order. With `%s` markers every other `%` is doubled, because those drivers format the whole
text. A statement without placeholders is left exactly as written (and sent without parameters, so its `%`
stay single).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trigflow.domain.sql_script import (
    COMMENT,
    DOLLAR,
    ESTRING,
    HINT,
    QUOTED_NAME,
    STRING,
    WORD,
    dialect,
    lex,
)
from trigflow.domain.stand_ins import with_stand_ins

if TYPE_CHECKING:  # the runner imports this module: it need not load the parameter machinery (~10 ms)
    from trigflow.domain.params import Data, Segment

__all__ = ["BoundStatement", "RenderedSql", "UnsafeSqlPlacement", "bind_statement", "render_sql"]

PLACEHOLDER_BASE = "__trigflow_bind_"


class UnsafeSqlPlacement(ValueError):
    """A data value sits where it cannot be bound; the attempt is refused (the message names it)."""


@dataclass(frozen=True)
class RenderedSql:
    """The script with placeholders, and the bindings (in placeholder order) the runner binds."""

    text: str
    bindings: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class BoundStatement:
    """One statement ready for the driver: text with its markers, and the values in marker order."""

    text: str
    params: list[str] | None  # None: no placeholder, send the text as is


def render_sql(segments: Sequence[Segment], dialect_name: str) -> RenderedSql:
    """The script of `segments` with each data value placed as the module docstring says."""
    d = dialect(dialect_name)
    if all(isinstance(s, str) for s in segments):
        return RenderedSql("".join(segments))  # type: ignore[arg-type]
    source, base, values = with_stand_ins(segments, PLACEHOLDER_BASE, "__")
    names = {f"{base}{i}__": v for i, v in enumerate(values)}
    used: dict[str, Data] = {}
    out: list[str] = []
    for span in lex(source, d.name):
        text = source[span.start : span.end]
        if base not in text:
            out.append(text)
            continue
        if span.kind == WORD:
            if text not in names:
                raise UnsafeSqlPlacement(f"a data value is part of a SQL name or word ({_refs(text, names)})")
            used[text] = names[text]
            out.append(text)
        elif span.kind == COMMENT:
            out.append(_in_comment(text, names))
        elif span.kind in (STRING, ESTRING):
            out.append(_in_string(text, span.kind, d.name, names, used))
        elif span.kind == QUOTED_NAME:
            raise UnsafeSqlPlacement(f"a data value cannot be a quoted SQL name ({_refs(text, names)})")
        elif span.kind == DOLLAR:
            raise UnsafeSqlPlacement(
                f"a data value sits in a dollar-quoted body, where no parameter can be bound ({_refs(text, names)})"
            )
        elif span.kind == HINT:
            raise UnsafeSqlPlacement(f"a data value sits in a MySQL /*! */ comment ({_refs(text, names)})")
        else:  # pragma: no cover - placeholders are words, so they land in one of the kinds above
            raise UnsafeSqlPlacement(f"a data value sits where SQL cannot hold it ({_refs(text, names)})")
    bindings = [{"placeholder": p, "value": v.value} for p, v in used.items()]
    return RenderedSql("".join(out), bindings)


def _refs(text: str, names: Mapping[str, Data]) -> str:
    return ", ".join("${" + v.name + "}" for p, v in names.items() if p in text)


def _in_comment(text: str, names: Mapping[str, Data]) -> str:
    for p, v in names.items():
        text = text.replace(p, "${" + v.name + "}")
    return text


def _in_string(text: str, kind: str, dialect_name: str, names: Mapping[str, Data], used: dict[str, Data]) -> str:
    """A literal holding placeholders as a concatenation of literal pieces and placeholders."""
    prefix = text[0] if kind == ESTRING else ""
    quote = text[len(prefix)]
    body = text[len(prefix) + 1 : -1] if len(text) > len(prefix) + 1 and text.endswith(quote) else None
    if body is None:
        raise UnsafeSqlPlacement(f"a data value sits in an unterminated SQL string ({_refs(text, names)})")
    backslash = kind == ESTRING or dialect_name == "mysql"
    pieces: list[str] = []
    rest = body
    while rest:
        hit = min(((rest.find(p), p) for p in names if p in rest), default=None)
        if hit is None:
            pieces.append(prefix + quote + rest + quote)
            break
        at, placeholder = hit
        before = rest[:at]
        if backslash and (len(before) - len(before.rstrip("\\"))) % 2 == 1:
            raise UnsafeSqlPlacement(f"a data value follows a backslash in a SQL string ({_refs(text, names)})")
        if before:
            pieces.append(prefix + quote + before + quote)
        pieces.append(placeholder)
        used[placeholder] = names[placeholder]
        rest = rest[at + len(placeholder) :]
    if len(pieces) == 1:
        return pieces[0]
    if dialect_name == "mysql":
        return "CONCAT(" + ", ".join(pieces) + ")"
    return "(" + " || ".join(pieces) + ")"


def bind_statement(
    text: str, dialect_name: str, bindings: Sequence[Mapping[str, str]], style: str
) -> BoundStatement:
    """`text` with each placeholder word in code replaced by the driver's marker (`format` %s / `qmark` ?)."""
    values = {b["placeholder"]: b["value"] for b in bindings}
    if not values or not any(p in text for p in values):
        return BoundStatement(text, None)
    marker = "%s" if style == "format" else "?"
    out: list[str] = []
    params: list[str] = []
    for span in lex(text, dialect_name):
        piece = text[span.start : span.end]
        if span.kind == WORD and piece in values:
            out.append(marker)
            params.append(values[piece])
        else:
            out.append(piece.replace("%", "%%") if style == "format" else piece)
    if not params:
        return BoundStatement(text, None)
    return BoundStatement("".join(out), params)
