"""Splitting a SQL script into statements, the way each database's own client would.

A SQL task (TaskTypeId 32) runs its script statement by statement in one session, so the runner must know
where each statement ends. A `;` ends a statement only in code: never inside a literal, a quoted name or a
comment. What counts as a literal depends on the database (`DIALECTS`):

* every dialect: `'...'` strings (a doubled `''` is a quote), `--` line comments, `/* ... */` comments;
* **postgresql / duckdb**: `"..."` names; `E'...'` strings with backslash escapes; dollar quoting
  (`$$ ... $$`, `$tag$ ... $tag$`, the usual body of functions and `DO` blocks); block comments nest, as
  in PostgreSQL's own lexer;
* **mysql** (MariaDB too): `'...'` and `"..."` are strings with backslash escapes (the server default,
  no NO_BACKSLASH_ESCAPES); backticks quote names; `#` starts a line comment; `--` starts one only when a
  blank, a control character or the end follows (`1--1` is arithmetic); `/*! ... */` (version comments,
  mysqldump's) and `/*+ ... */` (optimizer hints) are code, kept whole; the client's `DELIMITER xx` line
  changes the statement terminator (it is not a statement and is not sent);
* **sqlite**: `"..."`, backticks and `[...]` quote names.

Bodies that hold `;` without quoting are kept whole, as the clients do: SQLite's and MySQL's `CREATE TRIGGER
/ PROCEDURE / FUNCTION / EVENT ... BEGIN ... END` and PostgreSQL's `BEGIN ATOMIC ... END`. Inside such a body
`BEGIN` and `CASE` open a block and `END` closes one (`END IF`, `END LOOP`, `END WHILE`, `END REPEAT` close
none), so the terminator after the last `END` ends the statement. A plain `BEGIN;` is a transaction.

Each statement is the exact slice of the script from its first token of code to its last: comments inside
it are kept (a MySQL hint is code), comments before and after it and empty statements (`;;`) are dropped.
It keeps its 1-based line number for the log. An unterminated literal or comment runs to the end of the
script, so the database, not the splitter, reports it.

Pure: no I/O (the runner uses it, and so does `trigflow.domain.sql_binding` to find where data sits).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DIALECTS", "Dialect", "Span", "Statement", "dialect", "lex", "split_statements"]

# Span kinds: what a slice of SQL text is, as its database reads it.
CODE = "code"  # one character of punctuation or an operator
WORD = "word"  # a keyword, a name or a number
SPACE = "space"
STRING = "string"  # '...' (and MySQL "...")
ESTRING = "estring"  # PostgreSQL E'...' (backslash escapes)
QUOTED_NAME = "name"  # "..." (PostgreSQL, SQLite, DuckDB), `...`, [...]
DOLLAR = "dollar"  # PostgreSQL $tag$...$tag$
COMMENT = "comment"
HINT = "hint"  # MySQL /*! ... */ and /*+ ... */: code in comment clothing


@dataclass(frozen=True)
class Dialect:
    """The lexical rules of one database family (see the module docstring)."""

    name: str
    backslash_strings: bool  # '...' and "..." take backslash escapes (MySQL)
    double_quote_is_string: bool  # "..." is a string (MySQL), not a name
    backtick_names: bool
    bracket_names: bool  # [name] (SQLite)
    e_strings: bool  # E'...' (PostgreSQL, DuckDB)
    dollar_quotes: bool
    nested_comments: bool
    hash_comments: bool  # `# ...` (MySQL)
    dash_needs_space: bool  # `--` starts a comment only before a blank (MySQL)
    hints: bool  # /*! */ and /*+ */ are code (MySQL)
    delimiter_command: bool  # the client's DELIMITER line (MySQL)
    atomic_bodies: bool  # BEGIN ATOMIC ... END (PostgreSQL) rather than CREATE TRIGGER ... BEGIN ... END


DIALECTS: dict[str, Dialect] = {
    "postgresql": Dialect("postgresql", False, False, False, False, True, True, True, False, False, False, False,
                          True),
    "duckdb": Dialect("duckdb", False, False, False, False, True, True, True, False, False, False, False, True),
    "mysql": Dialect("mysql", True, True, True, False, False, False, False, True, True, True, True, False),
    "sqlite": Dialect("sqlite", False, False, True, True, False, False, False, False, False, False, False, False),
}  # fmt: skip
DIALECTS["mariadb"] = DIALECTS["mysql"]  # the connection's `driver` says mariadb for a jdbc:mariadb:// URL


def dialect(name: str) -> Dialect:
    """The dialect called `name` (`postgresql`, `mysql`, `mariadb`, `sqlite`, `duckdb`: a connection's `driver`);
    ValueError for any other."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r} (known: {', '.join(DIALECTS)})") from None


@dataclass(frozen=True)
class Span:
    """A slice `text[start:end]` of one kind (CODE, WORD, STRING, COMMENT, ...)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    """One statement: its exact text (no terminator), where it starts in the script, and its 1-based line."""

    text: str
    start: int
    line: int

    @property
    def first_line(self) -> str:
        """The statement's first line, for a log line that names it."""
        return self.text.split("\n", 1)[0].rstrip()


# `\w` (Unicode letters, digits, `_`) rather than a range up to U+10FFFF, which takes 10 ms to compile
_WORD_RE = re.compile(r"\w[\w$]*")
_DOLLAR_TAG_RE = re.compile(r"\$([^\W\d]\w*)?\$")
_NEXT_WORD_RE = re.compile(r"\s*([A-Za-z_]+)")
_DELIMITER_RE = re.compile(r"[ \t]*DELIMITER[ \t]+(\S+)[^\n]*(\n|\Z)", re.IGNORECASE)
_BODY_OWNERS = frozenset({"TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"})
_END_NOT_BLOCK = frozenset({"IF", "LOOP", "WHILE", "REPEAT"})


def _quoted_end(text: str, i: int, quote: str, backslash: bool) -> int:
    """End of a literal opened by `quote` at `i`: the doubled quote is a quote; optionally `\\` escapes."""
    n = len(text)
    j = i + 1
    while j < n:
        c = text[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def _block_comment_end(text: str, i: int, nested: bool) -> int:
    depth = 0
    n = len(text)
    j = i
    while j < n:
        if text.startswith("/*", j):
            depth = depth + 1 if nested or depth == 0 else depth
            j += 2
        elif text.startswith("*/", j):
            depth -= 1
            j += 2
            if depth <= 0:
                return j
        else:
            j += 1
    return n


def _line_end(text: str, i: int) -> int:
    j = text.find("\n", i)
    return len(text) if j < 0 else j


def _next_span(text: str, i: int, d: Dialect) -> Span:
    """The span that starts at `i` (which is < len(text))."""
    c = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if c.isspace():
        j = i + 1
        while j < len(text) and text[j].isspace():
            j += 1
        return Span(SPACE, i, j)
    if c == "-" and nxt == "-":
        after = text[i + 2] if i + 2 < len(text) else ""
        if not d.dash_needs_space or after == "" or after.isspace() or ord(after) < 32:
            return Span(COMMENT, i, _line_end(text, i))
    if c == "#" and d.hash_comments:
        return Span(COMMENT, i, _line_end(text, i))
    if c == "/" and nxt == "*":
        is_hint = d.hints and i + 2 < len(text) and text[i + 2] in "!+"
        return Span(HINT if is_hint else COMMENT, i, _block_comment_end(text, i, d.nested_comments))
    if c == "'":
        return Span(STRING, i, _quoted_end(text, i, "'", d.backslash_strings))
    if c == '"':
        if d.double_quote_is_string:
            return Span(STRING, i, _quoted_end(text, i, '"', d.backslash_strings))
        return Span(QUOTED_NAME, i, _quoted_end(text, i, '"', False))
    if c == "`" and d.backtick_names:
        return Span(QUOTED_NAME, i, _quoted_end(text, i, "`", False))
    if c == "[" and d.bracket_names:
        j = text.find("]", i + 1)
        return Span(QUOTED_NAME, i, len(text) if j < 0 else j + 1)
    if c in "eE" and nxt == "'" and d.e_strings:
        return Span(ESTRING, i, _quoted_end(text, i + 1, "'", True))
    if c == "$" and d.dollar_quotes:
        m = _DOLLAR_TAG_RE.match(text, i)
        if m is not None:
            close = text.find(m.group(0), m.end())
            return Span(DOLLAR, i, len(text) if close < 0 else close + len(m.group(0)))
    m = _WORD_RE.match(text, i)
    if m is not None:
        return Span(WORD, i, m.end())
    return Span(CODE, i, i + 1)


def lex(text: str, dialect_name: str) -> Iterator[Span]:
    """Every span of `text` in order; their slices put together give `text` back."""
    d = dialect(dialect_name)
    i = 0
    while i < len(text):
        span = _next_span(text, i, d)
        yield span
        i = span.end


class _Body:
    """Tracks `CREATE TRIGGER ... BEGIN ... END` (or BEGIN ATOMIC) so the `;` inside stay inside."""

    def __init__(self, d: Dialect) -> None:
        self.d = d
        self.words: list[str] = []
        self.depth = 0

    def word(self, text: str, span: Span) -> None:
        w = text[span.start : span.end].upper()
        first = not self.words
        if len(self.words) < 16:
            self.words.append(w)
        if first or self.words[0] != "CREATE":
            return
        if self.depth == 0:
            if w != "BEGIN":
                return
            nxt = _NEXT_WORD_RE.match(text, span.end)
            following = nxt.group(1).upper() if nxt else ""
            if self.d.atomic_bodies:
                if following == "ATOMIC":
                    self.depth = 1
            elif _BODY_OWNERS.intersection(self.words):
                self.depth = 1
            return
        if w in ("BEGIN", "CASE"):
            self.depth += 1
        elif w == "END":
            nxt = _NEXT_WORD_RE.match(text, span.end)
            if nxt is None or nxt.group(1).upper() not in _END_NOT_BLOCK:
                self.depth -= 1

    @property
    def open(self) -> bool:
        return self.depth > 0


def _line_of(text: str, index: int, cache: list[int]) -> int:
    """1-based line of `index`, counting newlines incrementally from the last position asked."""
    pos, line = cache
    line += text.count("\n", pos, index)
    cache[0], cache[1] = index, line
    return line


def split_statements(script: str, dialect_name: str) -> list[Statement]:
    """The statements of `script`, in order, per the rules of the module docstring."""
    d = dialect(dialect_name)
    out: list[Statement] = []
    lines = [0, 1]
    delimiter = ";"
    start = -1  # first code of the current statement, -1 before it
    last = -1  # end of its last code
    body = _Body(d)
    i = 0
    n = len(script)

    def emit() -> None:
        if start >= 0:
            out.append(Statement(script[start:last], start, _line_of(script, start, lines)))

    while i < n:
        if start < 0 and d.delimiter_command and (i == 0 or script[i - 1] == "\n"):
            m = _DELIMITER_RE.match(script, i)
            if m is not None:
                delimiter = m.group(1)
                i = m.end()
                continue
        if delimiter != ";" and script.startswith(delimiter, i) and not body.open:
            emit()
            start, last, body = -1, -1, _Body(d)
            i += len(delimiter)
            continue
        span = _next_span(script, i, d)
        i = span.end
        if span.kind in (SPACE, COMMENT):
            continue
        if delimiter == ";" and span.kind == CODE and script[span.start] == ";" and not body.open:
            emit()
            start, last, body = -1, -1, _Body(d)
            continue
        if start < 0:
            start = span.start
        last = span.end
        if span.kind == WORD:
            body.word(script, span)
    emit()
    return out
