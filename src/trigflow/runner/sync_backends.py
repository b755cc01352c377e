"""The drivers behind offline sync (trigflow.runner.offline_sync): a streaming reader and a transactional writer
per SQL dialect, on the sessions of trigflow.runner.sql_backends (same connection options, same cancel).

Reader: the source's rows come through a server-side cursor, so a copy holds one batch in memory whatever
the table's size: psycopg's named cursor (DECLARE/FETCH, in a read transaction), PyMySQL's SSCursor (the
result streamed, not buffered), sqlite3's and DuckDB's cursors (which fetch lazily).

Writer: one transaction for the whole copy (committed by the caller at the end), a savepoint around each
batch so a batch that fails on its data can be retried row by row, and the dialect's bulk path: COPY for
PostgreSQL append/overwrite, PyMySQL's executemany (multi-row INSERT) for MariaDB, executemany elsewhere.
Drivers are imported inside the methods, so an attempt loads only its own two.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from trigflow.domain.offline_sync import UPSERT, copy_statement, insert_statement
from trigflow.runner.sql_backends import Backend, _DuckDB, _MySQL, _Postgres, _SQLite

__all__ = ["Reader", "Writer", "reader_for", "writer_for"]

Row = Sequence[Any]

# MySQL/MariaDB error numbers that are about one row's values (strict mode turns bad values into these), on top
# of PyMySQL's IntegrityError and DataError classes: incorrect value, out of range, check constraint, ...
_MYSQL_ROW_ERRORS = frozenset({1048, 1062, 1264, 1265, 1292, 1364, 1366, 1406, 1451, 1452, 1690, 3819, 4025})
_SAVEPOINT = "trigflow_batch"
_ROW_SAVEPOINT = "trigflow_row"


def _json_or_text(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, memoryview):
        return bytes(value)
    return str(value)


_COMMON: frozenset[type] = frozenset({int, float, str, bytes, bool, type(None), decimal.Decimal, dt.datetime, dt.date})


class Reader(Backend):
    """Streams the source's rows: `open(text, params)`, then `fetch(n)` until it returns nothing."""

    columns: list[str]

    def open(self, text: str, params: list[str] | None) -> None:
        raise NotImplementedError

    def fetch(self, n: int) -> list[Row]:
        raise NotImplementedError


class _PgReader(_Postgres, Reader):
    def connect(self) -> None:
        super().connect()
        self.conn.autocommit = False  # a named cursor lives in a transaction (read only, rolled back at close)
        self.conn.read_only = True

    def open(self, text: str, params: list[str] | None) -> None:
        self.cur: Any = self.conn.cursor(name="trigflow_sync")
        self.cur.execute(text, params)
        self.columns = [c.name for c in self.cur.description or ()]

    def fetch(self, n: int) -> list[Row]:
        return list(self.cur.fetchmany(n))


class _MyReader(_MySQL, Reader):
    def connect(self) -> None:
        super().connect()
        with self.conn.cursor() as cur:  # the writer's batch may take a while between two reads of the stream
            cur.execute("SET SESSION net_write_timeout = 3600")

    def open(self, text: str, params: list[str] | None) -> None:
        import pymysql.cursors

        self.cur: Any = self.conn.cursor(pymysql.cursors.SSCursor)
        self.cur.execute(text, params)
        self.columns = [c[0] for c in self.cur.description or ()]

    def fetch(self, n: int) -> list[Row]:
        return list(self.cur.fetchmany(n))

    def close(self) -> None:
        # Not the cursor's close, which reads the rest of an unfinished stream; the connection's drops it.
        self.conn.close()


class _LiteReader(_SQLite, Reader):
    def open(self, text: str, params: list[str] | None) -> None:
        self.cur: Any = self.conn.execute(text, params or ())
        self.columns = [c[0] for c in self.cur.description or ()]

    def fetch(self, n: int) -> list[Row]:
        return list(self.cur.fetchmany(n))


class _DuckReader(_DuckDB, Reader):
    def open(self, text: str, params: list[str] | None) -> None:
        self.cur: Any = self.conn.execute(text, params) if params is not None else self.conn.execute(text)
        self.columns = [c[0] for c in self.cur.description or ()]

    def fetch(self, n: int) -> list[Row]:
        return list(self.cur.fetchmany(n))


class Writer(Backend):
    """Writes batches into the target table inside one transaction.

    `prepare(table, columns, mode, primary_key)` fixes the statements; `begin`, then per batch
    `savepoint`/`bulk`/`release` (or `rollback_to` and `one` per row), then `commit` or `rollback`.
    `savepoints` is False where the database has none (DuckDB): a failing batch then fails the copy.
    """

    savepoints = True
    # Values the driver takes as they are; others go through `convert` (a JSON document from PostgreSQL, a UUID).
    plain: ClassVar[frozenset[type]] = _COMMON | {dt.time, dt.timedelta}

    def convert(self, value: Any) -> Any:
        return _json_or_text(value)

    def adapt(self, row: Row) -> Row:
        """The row as the driver can write it; a row of plain values (the common case) costs one type check
        per value and is returned as it is."""
        plain = self.plain
        for v in row:
            if type(v) not in plain:
                return tuple(v if type(v) in plain else self.convert(v) for v in row)
        return row

    def prepare(self, table: Sequence[str], columns: Sequence[str], mode: str, primary_key: Sequence[str]) -> None:
        raise NotImplementedError

    def begin(self) -> None:
        raise NotImplementedError

    def statement(self, text: str) -> None:
        raise NotImplementedError

    def scalar(self, text: str) -> int:
        raise NotImplementedError

    def bulk(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def one(self, row: Row) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def is_row_error(self, exc: BaseException) -> bool:
        """Whether `exc` is about the values of a row (a constraint, a value the column cannot hold), so the
        row is rejected, rather than about the copy (no table, a lost connection), which fails it."""
        raise NotImplementedError

    def savepoint(self, row: bool = False) -> None:
        self.statement(f"SAVEPOINT {_ROW_SAVEPOINT if row else _SAVEPOINT}")

    def release(self, row: bool = False) -> None:
        self.statement(f"RELEASE SAVEPOINT {_ROW_SAVEPOINT if row else _SAVEPOINT}")

    def rollback_to(self, row: bool = False) -> None:
        self.statement(f"ROLLBACK TO SAVEPOINT {_ROW_SAVEPOINT if row else _SAVEPOINT}")


class _PgWriter(_Postgres, Writer):
    def connect(self) -> None:
        super().connect()
        self.conn.autocommit = False

    def prepare(self, table: Sequence[str], columns: Sequence[str], mode: str, primary_key: Sequence[str]) -> None:
        self.mode = mode
        self.insert = insert_statement("postgresql", table, columns, mode, primary_key)
        self.copy = copy_statement(table, columns)

    def begin(self) -> None:
        self.cur: Any = self.conn.cursor()

    def statement(self, text: str) -> None:
        self.cur.execute(text)

    def scalar(self, text: str) -> int:
        row = self.cur.execute(text).fetchone()
        return int(row[0]) if row else 0

    def bulk(self, rows: Sequence[Row]) -> None:
        if self.mode == UPSERT:  # COPY cannot resolve conflicts; executemany pipelines the statements
            self.cur.executemany(self.insert, rows)
            return
        with self.cur.copy(self.copy) as copy:
            for row in rows:
                copy.write_row(row)

    def one(self, row: Row) -> None:
        self.cur.execute(self.insert, row)

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def is_row_error(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, (psycopg.IntegrityError, psycopg.DataError))


class _MyWriter(_MySQL, Writer):
    def connect(self) -> None:
        super().connect()
        self.conn.autocommit(False)

    def prepare(self, table: Sequence[str], columns: Sequence[str], mode: str, primary_key: Sequence[str]) -> None:
        self.insert = insert_statement("mysql", table, columns, mode, primary_key)

    def begin(self) -> None:
        self.conn.begin()
        self.cur: Any = self.conn.cursor()

    def statement(self, text: str) -> None:
        self.cur.execute(text)

    def scalar(self, text: str) -> int:
        self.cur.execute(text)
        row = self.cur.fetchone()
        return int(row[0]) if row else 0

    def bulk(self, rows: Sequence[Row]) -> None:
        self.cur.executemany(self.insert, rows)  # multi-row INSERTs of up to 1 MB each

    def one(self, row: Row) -> None:
        self.cur.execute(self.insert, row)

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def is_row_error(self, exc: BaseException) -> bool:
        import pymysql

        if isinstance(exc, (pymysql.err.IntegrityError, pymysql.err.DataError)):
            return True
        return bool(exc.args) and exc.args[0] in _MYSQL_ROW_ERRORS


def _lite_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat(" ") if isinstance(value, dt.datetime) else value.isoformat()
    return _json_or_text(value)


class _FileWriter(Writer):
    """What the two embedded engines (SQLite, DuckDB) write with alike: a DB-API connection, one SQL dialect name,
    the statement that opens a transaction; rows go as lists where the driver wants lists."""

    conn: Any
    dialect = ""
    begin_sql = "BEGIN"
    rows_as_lists = False

    def prepare(self, table: Sequence[str], columns: Sequence[str], mode: str, primary_key: Sequence[str]) -> None:
        self.insert = insert_statement(self.dialect, table, columns, mode, primary_key)

    def begin(self) -> None:
        self.conn.execute(self.begin_sql)

    def statement(self, text: str) -> None:
        self.conn.execute(text)

    def scalar(self, text: str) -> int:
        row = self.conn.execute(text).fetchone()
        return int(row[0]) if row else 0

    def bulk(self, rows: Sequence[Row]) -> None:
        self.conn.executemany(self.insert, [list(r) for r in rows] if self.rows_as_lists else rows)

    def one(self, row: Row) -> None:
        self.conn.execute(self.insert, list(row) if self.rows_as_lists else row)

    def commit(self) -> None:
        self.conn.execute("COMMIT")


class _LiteWriter(_SQLite, _FileWriter):
    plain = frozenset({int, float, str, bytes, type(None)})
    dialect = "sqlite"

    def convert(self, value: Any) -> Any:
        return _lite_value(value)

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def is_row_error(self, exc: BaseException) -> bool:
        import sqlite3

        return isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError))


class _DuckWriter(_DuckDB, _FileWriter):
    savepoints = False
    dialect = "duckdb"
    begin_sql = "BEGIN TRANSACTION"
    rows_as_lists = True

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def is_row_error(self, exc: BaseException) -> bool:
        return False


_READERS: dict[str, type[Reader]] = {"POSTGRESQL": _PgReader, "POSTGRE": _PgReader, "MYSQL": _MyReader,
                                     "MARIADB": _MyReader, "SQLITE": _LiteReader, "DUCKDB": _DuckReader}  # fmt: skip
_WRITERS: dict[str, type[Writer]] = {"POSTGRESQL": _PgWriter, "POSTGRE": _PgWriter, "MYSQL": _MyWriter,
                                     "MARIADB": _MyWriter, "SQLITE": _LiteWriter, "DUCKDB": _DuckWriter}  # fmt: skip


def _kind(ds: Mapping[str, Any], table: Mapping[str, Any]) -> Any:
    return table.get(str(ds.get("driver") or "").upper()) or table.get(str(ds.get("type") or "").upper())


def reader_for(ds: Mapping[str, Any]) -> Reader | None:
    """The reader for a connection dict, by its `driver` (else its `type`); None for a non-SQL one."""
    cls = _kind(ds, _READERS)
    return cls(ds) if cls is not None else None


def writer_for(ds: Mapping[str, Any]) -> Writer | None:
    cls = _kind(ds, _WRITERS)
    return cls(ds) if cls is not None else None
