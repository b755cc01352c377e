"""Database connection: one engine per process, SQLite tuned for a single-node server, PostgreSQL as is.

SQLite allows one writer at a time; we serialise writers inside the process with a lock so that no
in-process writer ever sees SQLITE_BUSY, and rely on busy_timeout for other processes (the CLI).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from trigflow.domain.errors import InvalidParameterValue

MIGRATIONS = Path(__file__).with_name("migrations")
_SERIAL_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))")
_DEFINITIONS_KEY = 0x6465_6673  # "defs": serial definition writes, per schema (see store/leader.py)


class Database:
    """Owns the SQLAlchemy engine and hands out read and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 20
            kwargs["pool_pre_ping"] = True
        self.engine = sa.create_engine(url, **kwargs)
        self._write_lock = threading.RLock() if self.is_sqlite else None
        self._local = threading.local()  # the current thread's open write transaction, if any
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @contextlib.contextmanager
    def write(self, *, serial: bool = False) -> Iterator[sa.Connection]:
        """A transaction that commits on success; the only way to change data.

        A nested `write()` in the same thread joins the outer transaction (a second connection would
        wait on the first one's SQLite lock until the busy timeout).

        `serial=True` is for read-modify-write of definitions (a partial update reads the task, merges,
        writes it back): such transactions run one at a time, so two concurrent edits cannot lose one
        another's changes. SQLite writers are already serialised (the lock below, and SQLite's own); on
        PostgreSQL, whose READ COMMITTED transactions would interleave, a transaction-level advisory lock
        does it, across every process sharing the database, and is released at commit or rollback.
        """
        outer = getattr(self._local, "conn", None)
        if outer is not None:
            if serial:
                self._serialise(outer)
            yield outer
            return
        lock = self._write_lock or contextlib.nullcontext()
        try:
            with lock, self.engine.begin() as conn:
                self._local.conn = conn
                try:
                    if serial:
                        self._serialise(conn)
                    yield conn
                finally:
                    self._local.conn = None
        except sa.exc.DataError as e:  # rolled back: nothing of the transaction was written
            raise InvalidParameterValue(_data_error_message(e)) from None

    def _serialise(self, conn: sa.Connection) -> None:
        if not self.is_sqlite:
            conn.execute(_SERIAL_LOCK, {"k": _DEFINITIONS_KEY})

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent; safe on every start)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.write() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def make_files_private(self) -> None:
        """A SQLite database (and its -wal/-shm) is owner-only, wherever it lives: it holds API secrets.

        New files already are (the server runs with umask 077); this tightens files made before that.
        """
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:":
            return
        for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(name, 0o600)

    def dispose(self) -> None:
        self.engine.dispose()


def _data_error_message(e: sa.exc.DataError) -> str:
    """PostgreSQL refused a value for its column (a string longer than the column, a number out of range).

    The services check the widths they know by field name; this is the net under them, so such a value
    is the client's InvalidParameterValue, never an InternalError. SQLite does not enforce widths.
    """
    detail = str(e.orig).strip().splitlines()[0] if e.orig is not None else "value out of range"
    return f"a value does not fit what the server stores ({detail}); send a shorter value"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    # SQLite's lower() folds ASCII only; case-insensitive search must fold like Python (and PostgreSQL).
    dbapi_conn.create_function("lower", 1, _py_lower, deterministic=True)


def _py_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
