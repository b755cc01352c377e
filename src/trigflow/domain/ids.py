"""Identifier formats copied from the real service (seed and CLI examples), so clients see familiar IDs.

- ProjectId: 19-digit numeric string ("1460947878944567296").
- WorkflowId, workflow/task ExecutionId: UUID4 strings.
- TaskId: creation stamp `yyyyMMddHHmmssSSS` (17 digits), made unique by bumping the millisecond.
- JobId: "68" + `yyyyMMddHHmmss` + 3-digit sequence (19 digits).
- Task submit VersionId: `<TaskId>_<yyyyMMddHHmmssSSS>` (CLI:SubmitTriggerTask).
- SecretId: "AKID" + 32 alphanumerics; SecretKey: 32 alphanumerics.
"""

from __future__ import annotations

import secrets
import string
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone

_ALNUM = string.ascii_letters + string.digits
_CST = timezone(timedelta(hours=8))


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_project_id() -> str:
    return str(10**18 + secrets.randbelow(9 * 10**18))


def new_uin() -> str:
    return str(100000000000 + secrets.randbelow(899999999999))


def new_secret_id() -> str:
    return "AKID" + "".join(secrets.choice(_ALNUM) for _ in range(32))


def new_secret_key() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(32))


def stamp_ms(ms: int) -> str:
    """`yyyyMMddHHmmssSSS` of an epoch-ms instant, in UTC+8 like the real service's IDs."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(_CST)
    return dt.strftime("%Y%m%d%H%M%S") + f"{ms % 1000:03d}"


class StampAllocator:
    """Hands out strictly increasing ms stamps, so two tasks created in the same ms get distinct IDs.

    Uniqueness across processes is enforced by the store's primary key; this only avoids collisions
    inside one process.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()
        self._job_second = 0
        self._job_seq = 0

    def next_ms(self, now_ms: int) -> int:
        with self._lock:
            self._last = max(now_ms, self._last + 1)
            return self._last

    def task_id(self, now_ms: int) -> str:
        return stamp_ms(self.next_ms(now_ms))

    def job_id(self, now_ms: int) -> str:
        """`68` + second stamp + 3-digit sequence; past 999 in one second the stamp moves ahead a second."""
        with self._lock:
            second = now_ms // 1000
            if second > self._job_second:
                self._job_second, self._job_seq = second, 0
            elif self._job_seq >= 999:
                self._job_second, self._job_seq = self._job_second + 1, 0
            else:
                self._job_seq += 1
            second, seq = self._job_second, self._job_seq
        return "68" + stamp_ms(second * 1000)[:14] + f"{seq:03d}"

    def version_id(self, task_id: str, now_ms: int) -> str:
        return f"{task_id}_{stamp_ms(self.next_ms(now_ms))}"
