"""The database drivers behind the SQL runner (trigflow.runner.sql): one session each, and its cancel.

Each `Backend` connects once (autocommit), executes one statement with optional parameters in the driver's
marker style (`style`: `format` %s or `qmark` ?), and cancels the running statement from another thread
on the server: psycopg's cancel request, `KILL QUERY` from a second MySQL connection, `interrupt()` for
SQLite and DuckDB. Drivers are imported inside the methods, so an attempt loads only its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["BACKENDS", "CONNECT_TIMEOUT_S", "Backend", "Result", "backend_class", "file_of"]

CONNECT_TIMEOUT_S = 10
_FETCH_CHUNK = 500

# PostgreSQL accepts protocol-level parameters only in these (PREPARE's list plus CALL); the rest are bound
# on the client by psycopg's ClientCursor.
_PG_SERVER_BINDABLE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "WITH", "TABLE", "CALL"})
# DuckDB answers DML and DDL with a one-column `Count` result; these first words are real queries.
_DUCKDB_QUERY_WORDS = frozenset({"SELECT", "WITH", "VALUES", "FROM", "TABLE", "SHOW", "DESCRIBE", "SUMMARIZE",
                                 "PRAGMA", "EXPLAIN", "CALL"})  # fmt: skip


class Result:
    """What one statement gave: rows (when it returned a result set) or a count of affected rows."""

    def __init__(self, columns: list[str] | None, rows: list[tuple[Any, ...]], count: int, total: int | None):
        self.columns = columns
        self.rows = rows
        self.count = count
        self.total = total


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

    def execute(self, text: str, params: list[str] | None, keep: int) -> Result:
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def describe_error(self, exc: BaseException) -> str:
        return str(exc).strip() or type(exc).__name__


def _fetch(fetchmany: Callable[[int], Sequence[Any]], keep: int) -> tuple[list[tuple[Any, ...]], int]:
    """Up to `keep` rows, then the count of all of them (the rest fetched and dropped)."""
    rows: list[tuple[Any, ...]] = []
    total = 0
    while True:
        chunk = fetchmany(_FETCH_CHUNK)
        if not chunk:
            return rows, total
        total += len(chunk)
        room = keep - len(rows)
        if room > 0:
            rows.extend(tuple(r) for r in chunk[:room])


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

    def execute(self, text: str, params: list[str] | None, keep: int) -> Result:
        import psycopg

        first = text.lstrip("( \t\n").split(None, 1)[0].upper() if text.strip() else ""
        cur: Any = self.conn.cursor()
        if params is not None and first not in _PG_SERVER_BINDABLE:
            cur = psycopg.ClientCursor(self.conn)
        with cur:
            cur.execute(text, params)
            if cur.description is None:
                return Result(None, [], max(cur.rowcount, 0), None)
            columns = [c.name for c in cur.description]
            rows, total = _fetch(cur.fetchmany, keep)
            return Result(columns, rows, total, total)

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

    def execute(self, text: str, params: list[str] | None, keep: int) -> Result:
        with self.conn.cursor() as cur:
            cur.execute(text, params)
            if cur.description is None:
                return Result(None, [], max(cur.rowcount, 0), None)
            columns = [c[0] for c in cur.description]
            rows, total = _fetch(cur.fetchmany, keep)
            return Result(columns, rows, total, total)

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

    def execute(self, text: str, params: list[str] | None, keep: int) -> Result:
        cur = self.conn.cursor()
        try:
            cur.execute(text, params or ())
            if cur.description is None:
                return Result(None, [], max(cur.rowcount, 0), None)
            columns = [c[0] for c in cur.description]
            rows, total = _fetch(cur.fetchmany, keep)
            return Result(columns, rows, total, total)
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

    def execute(self, text: str, params: list[str] | None, keep: int) -> Result:
        first = text.lstrip("( \t\n").split(None, 1)[0].upper() if text.strip() else ""
        cur = self.conn.execute(text, params) if params is not None else self.conn.execute(text)
        description = cur.description
        if description is None:
            return Result(None, [], 0, None)
        columns = [c[0] for c in description]
        if first not in _DUCKDB_QUERY_WORDS and columns == ["Count"]:
            row = cur.fetchone()
            return Result(None, [], int(row[0]) if row and row[0] is not None else 0, None)
        rows, total = _fetch(cur.fetchmany, keep)
        return Result(columns, rows, total, total)

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
