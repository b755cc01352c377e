"""The database drivers behind the SQL runner (trigflow.runner.sql): one session each, and its cancel.

Each `Backend` connects once (autocommit), executes one statement with optional parameters in the driver's
marker style (`style`: `format` %s or `qmark` ?), and cancels the running statement from another thread
on the server: psycopg's cancel request, `KILL QUERY` from a second MySQL connection, `interrupt()` for
SQLite and DuckDB. Drivers are imported inside the methods, so an attempt loads only its own.

Result rows are **streamed**, never buffered whole: `execute` hands them to the caller's `RowSink` in chunks
of `FETCH_CHUNK` as they arrive, so a SELECT of millions of rows costs the runner one chunk of memory (the
sink decides what it keeps). Each driver has to be told, since their defaults buffer everything:

* PostgreSQL: libpq keeps a whole result in memory unless asked for it in pieces, so statements go through
  psycopg's `Cursor.stream()` (libpq's chunked-rows mode, single-row mode before libpq 17). It works for every
  statement, not only the SELECTs a server-side cursor (`DECLARE`) would take: `INSERT ... RETURNING`,
  `SHOW`, data-modifying `WITH`. `stream()` itself ends a statement without rows (DDL, plain `INSERT`) with an
  error and drops its row count, and an empty result without its columns; `_StreamEnd` keeps the final result
  instead, so both stay exact. Streaming uses the extended protocol for every statement (one statement a
  call, which the script splitter guarantees).
* MySQL/MariaDB: PyMySQL's unbuffered `SSCursor` (the rows are read off the socket by `fetchmany`).
* SQLite and DuckDB: `fetchmany` already steps through the result.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["BACKENDS", "CONNECT_TIMEOUT_S", "FETCH_CHUNK", "Backend", "Result", "RowSink", "backend_class", "file_of"]

CONNECT_TIMEOUT_S = 10
FETCH_CHUNK = 1000  # rows per driver call: large enough to amortise the call, small enough to be nothing

# PostgreSQL accepts protocol-level parameters only in these (PREPARE's list plus CALL); the rest are bound
# on the client by psycopg's ClientCursor.
_PG_SERVER_BINDABLE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "WITH", "TABLE", "CALL"})
# DuckDB answers DML and DDL with a one-column `Count` result; these first words are real queries.
_DUCKDB_QUERY_WORDS = frozenset({"SELECT", "WITH", "VALUES", "FROM", "TABLE", "SHOW", "DESCRIBE", "SUMMARIZE",
                                 "PRAGMA", "EXPLAIN", "CALL"})  # fmt: skip


class Result:
    """What one statement gave: its columns and row count when it returned a result set (the rows went to the
    sink), else None and the count of affected rows."""

    def __init__(self, columns: list[str] | None, count: int):
        self.columns = columns
        self.count = count


class RowSink(Protocol):
    """Where a result's rows go, chunk by chunk, in order (trigflow.domain.sql_result.ResultDigest)."""

    def add(self, rows: Sequence[Sequence[Any]]) -> None: ...


# Called once a statement is known to return rows, with its column names: the sink for its rows.
OpenSink = Callable[[list[str]], RowSink]


# JDBC URL parameters (`options`) with a libpq / PyMySQL equivalent: JDBC name -> driver keyword.
_PG_OPTIONS = {
    "sslmode": "sslmode", "sslrootcert": "sslrootcert", "sslcert": "sslcert", "sslkey": "sslkey",
    "ApplicationName": "application_name", "application_name": "application_name",
    "connectTimeout": "connect_timeout", "connect_timeout": "connect_timeout",
    "targetServerType": "target_session_attrs", "target_session_attrs": "target_session_attrs", "options": "options",
}  # fmt: skip
_MYSQL_OPTIONS = {"characterEncoding": "charset", "charset": "charset", "connectTimeout": "connect_timeout"}


def _driver_options(options: Mapping[str, Any], known: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The options the driver understands (renamed), and the names of the others."""
    taken: dict[str, str] = {}
    ignored: list[str] = []
    for name, value in options.items():
        if name in known:
            taken[known[name]] = str(value)
        elif name == "currentSchema":  # pgJDBC's search path
            taken["options"] = f"-c search_path={value}"
        else:
            ignored.append(str(name))
    return taken, ignored


class Backend:
    """One driver's session: connect, execute one statement, cancel the running one from another thread."""

    dialect = ""
    style = "qmark"

    def __init__(self, ds: Mapping[str, Any]) -> None:
        self.ds = ds
        self.ignored_options: list[str] = []

    def connect(self) -> None:
        raise NotImplementedError

    def execute(self, text: str, params: list[str] | None, open_sink: OpenSink) -> Result:
        """Run one statement; its rows, if it returns any, go to `open_sink(columns)` as they arrive."""
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def describe_error(self, exc: BaseException) -> str:
        return str(exc).strip() or type(exc).__name__


def _drain(fetchmany: Callable[[int], Sequence[Any]], sink: RowSink) -> int:
    """Every row of a cursor into `sink`, a chunk at a time; the count of them."""
    total = 0
    while True:
        chunk = fetchmany(FETCH_CHUNK)
        if not chunk:
            return total
        total += len(chunk)
        sink.add(chunk)


def _stream_end_class(base: type[Any]) -> type[Any]:
    """`base` (psycopg's Cursor or ClientCursor) whose `stream()` keeps a statement's final result.

    psycopg's own `_stream_fetchone_gen` (the step `stream()` repeats) raises on a result without rows and
    never exposes the final one; this copy of it (psycopg 3.1-3.3) keeps it in `stream_end` instead, so a
    command's row count and an empty result's columns survive.
    """
    from psycopg import pq
    from psycopg.generators import fetch

    row_statuses = {pq.ExecStatus.SINGLE_TUPLE, getattr(pq.ExecStatus, "TUPLES_CHUNK", pq.ExecStatus.SINGLE_TUPLE)}
    end_statuses = {pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK}

    class _StreamEnd(base):  # type: ignore[misc]
        stream_end: Any = None

        def _stream_fetchone_gen(self, first: bool) -> Any:
            res = yield from fetch(self._pgconn)
            if res is None:
                return None
            if res.status in row_statuses:
                self.pgresult = res
                self._tx.set_pgresult(res, set_loaders=first)
                if first:
                    self._make_row = self._make_row_maker()
                return res
            if res.status in end_statuses:
                if self.stream_end is None:
                    self.stream_end = res
                while res:  # the rest of this statement's results (none for one statement)
                    res = yield from fetch(self._pgconn)
                return None
            return self._raise_for_result(res)

    return _StreamEnd


_PG_CURSORS: dict[bool, type[Any]] = {}


def _pg_cursor(conn: Any, client_side: bool) -> Any:
    if client_side not in _PG_CURSORS:
        import psycopg

        _PG_CURSORS[client_side] = _stream_end_class(psycopg.ClientCursor if client_side else psycopg.Cursor)
    return _PG_CURSORS[client_side](conn)


def _chunks(rows: Iterator[Any]) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(rows, FETCH_CHUNK)):
        yield chunk


class _Postgres(Backend):
    dialect = "postgresql"
    style = "format"

    def connect(self) -> None:
        import psycopg

        ds = self.ds
        options, self.ignored_options = _driver_options(ds.get("options") or {}, _PG_OPTIONS)
        if options.get("connect_timeout", "").isdigit() and int(options["connect_timeout"]) > 1000:
            options["connect_timeout"] = str(int(options["connect_timeout"]) // 1000)  # JDBC gives milliseconds
        options.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
        options.setdefault("application_name", "trigflow-sql")
        conninfo = psycopg.conninfo.make_conninfo(
            host=ds.get("host") or "127.0.0.1", port=int(ds.get("port") or 5432), dbname=ds.get("database") or "",
            user=ds.get("username") or "", password=ds.get("password") or "", **options,
        )  # fmt: skip
        self.conn = psycopg.connect(conninfo, autocommit=True)

    def execute(self, text: str, params: list[str] | None, open_sink: OpenSink) -> Result:
        from psycopg import pq

        first = text.lstrip("( \t\n").split(None, 1)[0].upper() if text.strip() else ""
        cur = _pg_cursor(self.conn, params is not None and first not in _PG_SERVER_BINDABLE)
        size = FETCH_CHUNK if self._chunked() else 1
        with cur:
            sink: RowSink | None = None
            total = 0
            for chunk in _chunks(cur.stream(text, params, size=size)):
                if sink is None:
                    sink = open_sink([c.name for c in cur.description])
                total += len(chunk)
                sink.add(chunk)
            end = cur.stream_end
            if sink is not None:
                return Result([c.name for c in cur.description], total)
            if end is not None and end.status == pq.ExecStatus.TUPLES_OK:  # a result set without rows
                cur.pgresult = end
                columns = [c.name for c in cur.description or ()]
                open_sink(columns)
                return Result(columns, 0)
            return Result(None, max(end.command_tuples or 0, 0) if end is not None else 0)

    @staticmethod
    def _chunked() -> bool:
        """libpq >= 17 sends rows in chunks; before, one at a time (slower, as bounded)."""
        import psycopg

        caps = getattr(psycopg, "capabilities", None)
        return bool(caps is not None and caps.has_stream_chunked())

    def cancel(self) -> None:
        cancel_safe = getattr(self.conn, "cancel_safe", None)  # psycopg >= 3.2: no blocking libpq call
        if cancel_safe is not None:
            cancel_safe(timeout=CONNECT_TIMEOUT_S)
        else:
            self.conn.cancel()

    def close(self) -> None:
        self.conn.close()

    def describe_error(self, exc: BaseException) -> str:
        state = getattr(exc, "sqlstate", None)
        message = str(exc).strip() or type(exc).__name__
        return f"{message} (SQLSTATE {state})" if state else message


class _MySQL(Backend):
    dialect = "mysql"
    style = "format"

    def _kwargs(self) -> dict[str, Any]:
        ds = self.ds
        options, self.ignored_options = _driver_options(ds.get("options") or {}, _MYSQL_OPTIONS)
        timeout = int(options["connect_timeout"]) if options.get("connect_timeout", "").isdigit() else 0
        charset = options.get("charset", "utf8mb4")
        return {
            "host": ds.get("host") or "127.0.0.1", "port": int(ds.get("port") or 3306),
            "user": ds.get("username") or "", "password": ds.get("password") or "",
            "database": ds.get("database") or None,
            "connect_timeout": max(timeout // 1000, 1) if timeout else CONNECT_TIMEOUT_S,
            "charset": "utf8mb4" if charset.upper().replace("-", "") == "UTF8" else charset, "autocommit": True,
        }  # fmt: skip

    def connect(self) -> None:
        import pymysql

        self.conn = pymysql.connect(**self._kwargs())
        self.thread_id = self.conn.thread_id()

    def execute(self, text: str, params: list[str] | None, open_sink: OpenSink) -> Result:
        import pymysql.cursors

        cur = self.conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows are read as fetched
        try:
            cur.execute(text, params)
            if cur.description is None:
                return Result(None, max(cur.rowcount, 0))
            columns = [c[0] for c in cur.description]
            return Result(columns, _drain(cur.fetchmany, open_sink(columns)))
        finally:
            with contextlib.suppress(Exception):  # after a failed read the session is done with anyway
                cur.close()

    def cancel(self) -> None:
        import pymysql

        killer = pymysql.connect(**self._kwargs())
        try:
            with killer.cursor() as cur:
                cur.execute(f"KILL QUERY {int(self.thread_id)}")
        finally:
            killer.close()

    def close(self) -> None:
        self.conn.close()

    def describe_error(self, exc: BaseException) -> str:
        if len(exc.args) >= 2 and isinstance(exc.args[0], int):
            return f"({exc.args[0]}) {exc.args[1]}"
        return super().describe_error(exc)


class _SQLite(Backend):
    dialect = "sqlite"

    def connect(self) -> None:
        import sqlite3

        path = file_of(self.ds)
        if not path:
            raise ValueError("a SQLITE data source needs its database file")
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def execute(self, text: str, params: list[str] | None, open_sink: OpenSink) -> Result:
        cur = self.conn.cursor()
        try:
            cur.execute(text, params or ())
            if cur.description is None:
                return Result(None, max(cur.rowcount, 0))
            columns = [c[0] for c in cur.description]
            return Result(columns, _drain(cur.fetchmany, open_sink(columns)))
        finally:
            cur.close()

    def cancel(self) -> None:
        self.conn.interrupt()

    def close(self) -> None:
        self.conn.close()



class _DuckDB(Backend):
    dialect = "duckdb"

    def connect(self) -> None:
        import duckdb

        path = file_of(self.ds)
        if not path:
            raise ValueError("a DUCKDB data source needs its database file")
        self.conn = duckdb.connect(path)

    def execute(self, text: str, params: list[str] | None, open_sink: OpenSink) -> Result:
        first = text.lstrip("( \t\n").split(None, 1)[0].upper() if text.strip() else ""
        cur = self.conn.execute(text, params) if params is not None else self.conn.execute(text)
        description = cur.description
        if description is None:
            return Result(None, 0)
        columns = [c[0] for c in description]
        if first not in _DUCKDB_QUERY_WORDS and columns == ["Count"]:
            row = cur.fetchone()
            return Result(None, int(row[0]) if row and row[0] is not None else 0)
        return Result(columns, _drain(cur.fetchmany, open_sink(columns)))

    def cancel(self) -> None:
        self.conn.interrupt()

    def close(self) -> None:
        self.conn.close()



BACKENDS: dict[str, type[Backend]] = {
    "POSTGRESQL": _Postgres, "POSTGRE": _Postgres, "MYSQL": _MySQL, "MARIADB": _MySQL,
    "SQLITE": _SQLite, "DUCKDB": _DuckDB,
}  # fmt: skip


def file_of(ds: Mapping[str, Any]) -> str:
    return str(ds.get("path") or ds.get("database") or "")


def backend_class(ds: Mapping[str, Any]) -> type[Backend] | None:
    """By the connection's `driver` (the dialect), else its data-source `type`."""
    return BACKENDS.get(str(ds.get("driver") or "").upper()) or BACKENDS.get(str(ds.get("type") or "").upper())
