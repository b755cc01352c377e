"""API keys: the credentials the TC3 signature is checked against.

A revocation is final: nothing here makes a revoked key valid again (issue 11, finding 7: the env
admin pair used to be silently un-revoked at every start). Listeners registered with `on_revoke`
hear of a revocation made through this object at once, so the front door's 2 s key cache cannot
keep a key alive in the process that revoked it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from trigflow.domain import ids
from trigflow.service.common import Clock
from trigflow.store import catalog as q
from trigflow.store.engine import Database


@dataclass(frozen=True)
class KeyInfo:
    secret_id: str
    secret_key: str
    uin: str
    is_admin: bool
    revoked: bool


class RevokedKeyError(Exception):
    """The env admin pair names a key that was revoked; the message names the SecretId, never the secret."""

    def __init__(self, secret_id: str) -> None:
        super().__init__(
            f"the key TRIGFLOW_SECRET_ID={secret_id} has been revoked and stays revoked; unset "
            "TRIGFLOW_SECRET_ID/TRIGFLOW_SECRET_KEY or set them to another key (`trigflow keys create` makes one)"
        )
        self.secret_id = secret_id


class Keys:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._revoke_listeners: list[Callable[[str], None]] = []

    def on_revoke(self, listener: Callable[[str], None]) -> None:
        """Call `listener(secret_id)` after every revocation made through this object."""
        self._revoke_listeners.append(listener)

    def lookup(self, secret_id: str) -> KeyInfo | None:
        """The active key with this SecretId, or None (revoked keys are unknown to the API)."""
        with self.db.read() as conn:
            row = q.get_key(conn, secret_id)
        if row is None or row["revoked_ms"] is not None:
            return None
        return KeyInfo(row["secret_id"], row["secret_key"], row["uin"], row["is_admin"], False)

    def create(self, name: str = "", *, uin: str | None = None, is_admin: bool = True) -> KeyInfo:
        key = KeyInfo(ids.new_secret_id(), ids.new_secret_key(), uin or self.admin_uin(), is_admin, False)
        self._insert(key, name)
        return key

    def ensure(self, secret_id: str, secret_key: str) -> KeyInfo:
        """Make (secret_id, secret_key) a valid admin key; idempotent, so scripts can rely on env vars.

        A revoked SecretId raises RevokedKeyError instead: revoking the env key must not be undone by
        the next restart with the same environment.
        """
        with self.db.write() as conn:
            row = q.get_key(conn, secret_id)
            if row is None:
                uin = self._admin_uin(conn)
                q.insert_key(conn, self._row(KeyInfo(secret_id, secret_key, uin, True, False), "env"))
            else:
                if row["revoked_ms"] is not None:
                    raise RevokedKeyError(secret_id)
                uin = row["uin"]
                if row["secret_key"] != secret_key or not row["is_admin"]:
                    q.set_key_secret(conn, secret_id, secret_key)
        return KeyInfo(secret_id, secret_key, uin, True, False)

    def list(self) -> list[dict[str, object]]:
        with self.db.read() as conn:
            return [
                {k: v for k, v in r.items() if k != "secret_key"}  # never show secrets again
                for r in q.list_keys(conn)
            ]

    def revoke(self, secret_id: str) -> bool:
        with self.db.write() as conn:
            revoked = q.revoke_key(conn, secret_id, self.clock())
        if revoked:
            for listener in self._revoke_listeners:
                listener(secret_id)
        return revoked

    def count(self) -> int:
        with self.db.read() as conn:
            return len(q.list_keys(conn))

    def admin_uin(self) -> str:
        with self.db.read() as conn:
            return self._admin_uin(conn)

    def _admin_uin(self, conn: object) -> str:
        rows = q.list_keys(conn)  # type: ignore[arg-type]
        return rows[0]["uin"] if rows else ids.new_uin()

    def _insert(self, key: KeyInfo, name: str) -> None:
        with self.db.write() as conn:
            q.insert_key(conn, self._row(key, name))

    def _row(self, key: KeyInfo, name: str) -> dict[str, object]:
        return {
            "secret_id": key.secret_id,
            "secret_key": key.secret_key,
            "uin": key.uin,
            "name": name,
            "is_admin": key.is_admin,
            "created_ms": self.clock(),
        }
