"""One active scheduler per database: a lock that a standby process can take over when the holder dies.

PostgreSQL: a session-level advisory lock held on a dedicated connection; it is released by the
server when that connection (i.e. the holding process) goes away. SQLite: an exclusive `flock` on a
file beside the database, released by the kernel when the holding process exits. Either way no lease
timing is involved, so a paused process can never believe it is leader while another is.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from trigflow.store.engine import Database

# Advisory locks are per database, but an installation is a schema (`search_path`): the lock is keyed by
# the schema too, so installations sharing a PostgreSQL database each get their own active scheduler.
_LOCK = "SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"
_UNLOCK = "SELECT pg_advisory_unlock(:k, hashtext(current_schema()))"
_ADVISORY_KEY = 0x7472_6967  # "trig"


class LeaderLock:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: sa.Connection | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.db.is_sqlite:
            return self._try_flock()
        conn = self.db.engine.connect()
        try:
            got = bool(conn.execute(sa.text(_LOCK), {"k": _ADVISORY_KEY}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text(_UNLOCK), {"k": _ADVISORY_KEY})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def _try_flock(self) -> bool:
        path = _lock_path(self.db.engine.url)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True


def _lock_path(url: Any) -> str:
    database = url.database or ""
    if not database or database == ":memory:":
        return str(Path(os.environ.get("TMPDIR", "/tmp")) / f"trigflow-memory-{os.getpid()}.lock")
    return database + ".scheduler.lock"
