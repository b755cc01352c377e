"""Offline sync (TaskTypeId 26), pure: its TaskExtConfigurationList keys, their save-time checks, and the SQL
statements the runner sends, per dialect (docs/task-types.md "Offline sync").

Why here: the save path (tasktypes/offline_sync.py) and the worker-side runner (runner/offline_sync.py) must
read the same keys by the same rules, and the statement building is where the dialects differ (identifier
quoting, upsert syntax, driver markers), so it is plain functions tested without a database.

Names (tables, columns, primary key) are refused at save unless each dot-separated part is a plain SQL
identifier (letters, digits, `_`, not starting with a digit): they are then quoted for the dialect, so a
reserved word (`order`) works and nothing a user typed can end the identifier. Names that come from the
source's result (no `columns` given) are quoted with their quote character doubled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.sql_script import split_statements

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "KEYS",
    "MAX_BATCH_SIZE",
    "WRITE_MODES",
    "SyncPlan",
    "count_statement",
    "delete_statement",
    "insert_statement",
    "parse_plan",
    "quote_name",
    "quote_table",
    "select_statement",
    "source_text",
]

KEY_SOURCE_TABLE = "sourceTable"
KEY_SOURCE_QUERY = "sourceQuery"
KEY_WHERE = "where"
KEY_TARGET_TABLE = "targetTable"
KEY_WRITE_MODE = "writeMode"
KEY_PRIMARY_KEY = "primaryKey"
KEY_COLUMNS = "columns"
KEY_BATCH_SIZE = "batchSize"
KEY_MAX_REJECTED = "maxRejected"
KEYS = (KEY_SOURCE_TABLE, KEY_SOURCE_QUERY, KEY_WHERE, KEY_TARGET_TABLE, KEY_WRITE_MODE, KEY_PRIMARY_KEY,
        KEY_COLUMNS, KEY_BATCH_SIZE, KEY_MAX_REJECTED)  # fmt: skip

APPEND, OVERWRITE, UPSERT = "append", "overwrite", "upsert"
WRITE_MODES = (APPEND, OVERWRITE, UPSERT)
DEFAULT_BATCH_SIZE = 5000
MAX_BATCH_SIZE = 100_000  # rows held in memory at once; a larger batch gains nothing measurable
MAX_REJECTED_LIMIT = 2**31 - 1
MAX_COLUMNS = 1000
MAX_QUERY_CHARS = 256 * 1024
QUERY_WORDS = ("SELECT", "WITH", "VALUES", "TABLE")  # what a server-side cursor can read
# The alias of a query wrapped to apply `where` (MySQL requires one for a derived table).
SOURCE_ALIAS = "trigflow_src"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_QUOTES = {"postgresql": '"', "duckdb": '"', "sqlite": '"', "mysql": "`", "mariadb": "`"}


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What one offline-sync task copies, as parsed from its configuration.

    `columns` pairs (source column, target column); empty means every column of the source's result under
    its own name. `source_table` / `target_table` are name parts (`("public", "orders")`).
    """

    target_table: tuple[str, ...]
    source_table: tuple[str, ...] | None = None
    source_query: str | None = None
    where: str | None = None
    write_mode: str = APPEND
    primary_key: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    batch_size: int = DEFAULT_BATCH_SIZE
    max_rejected: int = 0


def _text(ext: Mapping[str, Any], key: str) -> str | None:
    value = ext.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _name(text: str, path: str, parts_max: int) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split("."))
    if len(parts) > parts_max or not all(_IDENT.fullmatch(p) for p in parts):
        shape = "a name or schema.name" if parts_max > 1 else "a name"
        raise InvalidParameterValue(
            f"{path} must be {shape} of letters, digits and _ (not starting with a digit, at most 63 each), "
            f"got {text[:80]!r}"
        )
    return parts


def _names(text: str, path: str) -> tuple[str, ...]:
    names = tuple(_name(part.strip(), path, 1)[0] for part in text.split(","))
    if len(names) > MAX_COLUMNS:
        raise InvalidParameterValue(f"{path} names more than {MAX_COLUMNS} columns")
    if len({n.lower() for n in names}) != len(names):
        raise InvalidParameterValue(f"{path} names a column twice")
    return names


def _columns(text: str, path: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        src, sep, dst = part.partition(":")
        source = _name(src.strip(), path, 1)[0]
        target = _name(dst.strip(), path, 1)[0] if sep else source
        pairs.append((source, target))
    if len(pairs) > MAX_COLUMNS:
        raise InvalidParameterValue(f"{path} names more than {MAX_COLUMNS} columns")
    if len({t.lower() for _, t in pairs}) != len(pairs):
        raise InvalidParameterValue(f"{path} writes a target column twice")
    return tuple(pairs)


def _integer(ext: Mapping[str, Any], key: str, path: str, default: int, lo: int, hi: int) -> int:
    text = _text(ext, key)
    if text is None:
        return default
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise InvalidParameterValue(f"{path} must be an integer {lo}-{hi}, got {text[:40]!r}")
    return int(text)


def _single_statement(text: str, path: str, what: str) -> None:
    """One statement in every dialect (the source's is not known at save): a `;` outside literals and
    comments would send a second statement through the cursor."""
    for name in ("postgresql", "mysql"):
        if len(split_statements(text, name)) > 1:
            raise InvalidParameterValue(f"{path} must be {what} (one statement, no `;` between statements)")


def parse_plan(ext: Mapping[str, Any], path: str) -> SyncPlan:
    """The plan of an offline-sync configuration; refusals are InvalidParameterValue naming `path.<key>`
    (`path` is TaskExtConfigurationList's wire path). `ext` is key -> value (string or not)."""
    p = {key: f"{path}.{key}" for key in KEYS}
    table = _text(ext, KEY_SOURCE_TABLE)
    query = _text(ext, KEY_SOURCE_QUERY)
    if (table is None) == (query is None):
        raise InvalidParameterValue(
            f"{p[KEY_SOURCE_TABLE]} or {p[KEY_SOURCE_QUERY]}: exactly one is required "
            "(the table to copy, or a SELECT that reads it)"
        )
    source_table = _name(table, p[KEY_SOURCE_TABLE], 2) if table is not None else None
    if query is not None:
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidParameterValue(f"{p[KEY_SOURCE_QUERY]} is longer than {MAX_QUERY_CHARS} characters")
        _single_statement(query, p[KEY_SOURCE_QUERY], "one SELECT")
        words = split_statements(query, "postgresql")
        first = words[0].text.lstrip("( \t\r\n").split(None, 1)[0].upper() if words else ""
        if first not in QUERY_WORDS:
            raise InvalidParameterValue(
                f"{p[KEY_SOURCE_QUERY]} must be a query starting with {', '.join(QUERY_WORDS)}, got {first[:20]!r}"
            )
    where = _text(ext, KEY_WHERE)
    if where is not None:
        if len(where) > MAX_QUERY_CHARS:
            raise InvalidParameterValue(f"{p[KEY_WHERE]} is longer than {MAX_QUERY_CHARS} characters")
        _single_statement(f"SELECT 1 WHERE {where}", p[KEY_WHERE], "a condition")
    target = _text(ext, KEY_TARGET_TABLE)
    if target is None:
        raise InvalidParameterValue(f"{p[KEY_TARGET_TABLE]} is required: the table of TargetServiceId to write")
    mode = (_text(ext, KEY_WRITE_MODE) or APPEND).lower()
    if mode not in WRITE_MODES:
        raise InvalidParameterValue(
            f"{p[KEY_WRITE_MODE]} must be one of {', '.join(WRITE_MODES)}, got {str(ext.get(KEY_WRITE_MODE))[:40]!r}"
        )
    pk_text = _text(ext, KEY_PRIMARY_KEY)
    primary_key = _names(pk_text, p[KEY_PRIMARY_KEY]) if pk_text is not None else ()
    if mode == UPSERT and not primary_key:
        raise InvalidParameterValue(
            f"{p[KEY_PRIMARY_KEY]} is required when {KEY_WRITE_MODE} is upsert: the target's key columns, "
            "comma-separated (a primary key or unique constraint on exactly those columns)"
        )
    cols_text = _text(ext, KEY_COLUMNS)
    columns = _columns(cols_text, p[KEY_COLUMNS]) if cols_text is not None else ()
    if columns and primary_key:
        written = {t.lower() for _, t in columns}
        missing = [k for k in primary_key if k.lower() not in written]
        if missing:
            raise InvalidParameterValue(
                f"{p[KEY_PRIMARY_KEY]} column {missing[0]!r} is not written by {p[KEY_COLUMNS]}"
            )
    return SyncPlan(
        target_table=_name(target, p[KEY_TARGET_TABLE], 2),
        source_table=source_table,
        source_query=query,
        where=where,
        write_mode=mode,
        primary_key=primary_key,
        columns=columns,
        batch_size=_integer(ext, KEY_BATCH_SIZE, p[KEY_BATCH_SIZE], DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE),
        max_rejected=_integer(ext, KEY_MAX_REJECTED, p[KEY_MAX_REJECTED], 0, 0, MAX_REJECTED_LIMIT),
    )


def source_text(plan: SyncPlan) -> str:
    """The part of the read that parameters are substituted into, frozen as the run's code: the `where`
    condition for a table, the query for `sourceQuery` (wrapped as a derived table when `where` is given
    too). Dialect-free, so the engine's parameter layer can bind its data values (domain/sql_binding.py)."""
    if plan.source_query is None:
        return plan.where or ""
    if plan.where is None:
        return plan.source_query
    return f"SELECT * FROM (\n{plan.source_query}\n) {SOURCE_ALIAS} WHERE {plan.where}"


# --- statements ------------------------------------------------------------------------------------------


def _quote_char(dialect: str) -> str:
    try:
        return _QUOTES[dialect]
    except KeyError:
        raise ValueError(f"no SQL dialect {dialect!r}") from None


def quote_name(name: str, dialect: str) -> str:
    """One identifier quoted for `dialect`, its quote character doubled (safe for any name a driver reports)."""
    q = _quote_char(dialect)
    return q + name.replace(q, q + q) + q


def quote_table(parts: Sequence[str], dialect: str) -> str:
    return ".".join(quote_name(p, dialect) for p in parts)


def _marker(dialect: str) -> str:
    return "%s" if dialect in ("postgresql", "mysql", "mariadb") else "?"


def select_statement(plan: SyncPlan, code: str, dialect: str) -> str:
    """The read: `code` (the source text, with the driver's placeholders already rendered) around the table,
    or the query itself."""
    if plan.source_table is None:
        return code
    cols = ", ".join(quote_name(s, dialect) for s, _ in plan.columns) if plan.columns else "*"
    text = f"SELECT {cols} FROM {quote_table(plan.source_table, dialect)}"
    return f"{text} WHERE {code}" if code.strip() else text


def insert_statement(dialect: str, table: Sequence[str], columns: Sequence[str], mode: str,
                     primary_key: Sequence[str] = ()) -> str:  # fmt: skip
    """One row's INSERT with the driver's markers; for upsert the dialect's conflict clause.

    PyMySQL's executemany turns the MySQL form into multi-row INSERTs (it recognises `VALUES (...)` followed by
    `ON DUPLICATE KEY UPDATE`). Upsert updates every written column that is not in the key; when all of them
    are key columns a conflicting row is left as it is.
    """
    cols = ", ".join(quote_name(c, dialect) for c in columns)
    marks = ", ".join([_marker(dialect)] * len(columns))
    text = f"INSERT INTO {quote_table(table, dialect)} ({cols}) VALUES ({marks})"
    if mode != UPSERT:
        return text
    keys = {k.lower() for k in primary_key}
    rest = [c for c in columns if c.lower() not in keys]
    if dialect in ("mysql", "mariadb"):
        if not rest:  # a no-op assignment keeps the row and counts it as found, not as an error
            first = quote_name(columns[0], dialect)
            return f"{text} ON DUPLICATE KEY UPDATE {first} = {first}"
        sets = ", ".join(f"{quote_name(c, dialect)} = VALUES({quote_name(c, dialect)})" for c in rest)
        return f"{text} ON DUPLICATE KEY UPDATE {sets}"
    conflict = ", ".join(quote_name(k, dialect) for k in primary_key)
    if not rest:
        return f"{text} ON CONFLICT ({conflict}) DO NOTHING"
    sets = ", ".join(f"{quote_name(c, dialect)} = excluded.{quote_name(c, dialect)}" for c in rest)
    return f"{text} ON CONFLICT ({conflict}) DO UPDATE SET {sets}"


def copy_statement(table: Sequence[str], columns: Sequence[str]) -> str:
    """PostgreSQL's bulk path for append and overwrite."""
    cols = ", ".join(quote_name(c, "postgresql") for c in columns)
    return f"COPY {quote_table(table, 'postgresql')} ({cols}) FROM STDIN"


def delete_statement(dialect: str, table: Sequence[str]) -> str:
    """Overwrite empties the target with DELETE, not TRUNCATE: it stays inside the copy's transaction in every
    dialect (MySQL's TRUNCATE commits), and readers keep seeing the old rows until the copy commits."""
    return f"DELETE FROM {quote_table(table, dialect)}"


def count_statement(dialect: str, table: Sequence[str]) -> str:
    return f"SELECT count(*) FROM {quote_table(table, dialect)}"


def target_columns(plan: SyncPlan, source_columns: Sequence[str]) -> tuple[list[int], list[str]]:
    """Which result columns are written (their indexes) under which target names.

    Without `columns`, every result column under its own name. With it: for a table the SELECT lists exactly
    those columns; for a query each configured source column is found in the result by name (exactly, else
    case-insensitively). Raises ValueError naming a column the result lacks."""
    if not plan.columns:
        return list(range(len(source_columns))), list(source_columns)
    if plan.source_table is not None:
        return list(range(len(plan.columns))), [t for _, t in plan.columns]
    indexes: list[int] = []
    for src, _ in plan.columns:
        if src in source_columns:
            indexes.append(source_columns.index(src))
            continue
        folded = [i for i, c in enumerate(source_columns) if c.lower() == src.lower()]
        if len(folded) != 1:
            raise ValueError(f"the query's result has no column {src!r} (it has {', '.join(source_columns)})")
        indexes.append(folded[0])
    return indexes, [t for _, t in plan.columns]
