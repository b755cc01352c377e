"""What the server does with a Celery worker's reports (docs/adr/0006-celery-workers.md, docs/workers.md).

Workers never open the database: they call the internal HTTP endpoint (api/internal.py), which hands each
authenticated report here. `start` is the fence: a message is run only if the in-memory executor sent it
(or adopted it on restart) and the database's conditional UPDATE accepts it (the attempt is its task run's
current one, RUNNING on Celery, not started by anyone). `log` appends the worker's log bytes at their
offset to the attempt's log on the server (idempotent: a retried chunk is not written twice), so
GetTaskInstanceLog and `trigflow logs --follow` read it as for a local attempt. `finish` needs the whole
log first, makes the exit fact (code and the declared outputs the worker read where the attempt ran)
durable, then reports it to the engine.

Answers are (HTTP status, JSON body): 200 done, 409 refused for good (the worker drops the message or the
report), 503 not now (standby, or restart recovery still running: the worker retries with backoff).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trigflow.executors.celery_dispatch import CeleryExecutor
from trigflow.executors.files import open_regular
from trigflow.service.common import Clock
from trigflow.store import runs as rq
from trigflow.store.engine import Database

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]
MAX_OUTPUTS_CHARS = 64 << 20


def load_or_create_token(path: Path) -> str:
    """The worker token: created 0600 on first start, read on every later one; the operator copies the
    file to each worker host (`trigflow worker --token-file`). Never logged."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def split_task_id(task_id: str) -> tuple[str, int, int] | None:
    """`<task-run id>.<RetryTimes>.<RerunTimes>` -> its parts; None when it is not an attempt id."""
    parts = task_id.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[0]:
        return None
    return parts[0], int(parts[1]), int(parts[2])


class WorkerHub:
    def __init__(
        self, db: Database, executor: CeleryExecutor, token: str, clock: Clock, is_active: Callable[[], bool]
    ) -> None:
        self.db = db
        self.executor = executor
        self._token = token.encode()
        self.clock = clock
        self.is_active = is_active

    def authenticated(self, header: str | None) -> bool:
        """`Authorization: Bearer <worker token>`, compared in constant time."""
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self._token)

    def available(self) -> bool:
        """Only the active scheduler, once restart recovery registered its remote attempts, takes reports."""
        return self.is_active() and self.executor.ready.is_set()

    def start(self, task_id: str, worker_id: str) -> Answer:
        parts = split_task_id(task_id)
        if parts is None or not worker_id:
            return 409, {"error": "not an attempt of this server"}
        if not self.executor.may_start(task_id):
            return 409, {"error": "stale or duplicate message: the attempt is not waiting for a worker"}
        exec_id, retry, rerun = parts
        with self.db.write() as conn:
            won = rq.claim_remote_start(conn, exec_id, retry, rerun, worker_id)
        if not won or not self.executor.started(task_id, worker_id):
            return 409, {"error": "stale or duplicate message: the attempt is not waiting for a worker"}
        log.info("attempt %s started on worker %s", task_id, worker_id)
        # The lease and grace let the worker kill the attempt before this server could declare it lost.
        return 200, {"ok": True, "lease": self.executor.lease, "grace": self.executor.grace}

    def append_log(self, task_id: str, worker_id: str, offset: int, data: bytes) -> Answer:
        """Write `data`, which starts at byte `offset` of the server's log, skipping what is there already.
        An offset past the end answers 409 with the size, so the worker resends from there."""
        r = self.executor.owned(task_id, worker_id)
        if r is None:
            return 409, {"error": "unknown attempt"}
        size = _append_at(r.log_path, offset, data)
        if size is None:
            return 409, {"error": "offset past the end of the log", "size": _size(r.log_path)}
        return 200, {"size": size}

    def finish(self, task_id: str, worker_id: str, body: Mapping[str, Any]) -> Answer:
        r = self.executor.owned(task_id, worker_id)
        if r is None:
            return 409, {"error": "unknown attempt"}
        try:
            log_size = int(body.get("log_size", 0))
            exit_code = None if body.get("exit_code") is None else int(body["exit_code"])
            outputs = _output_values(body.get("output_values"))
        except (TypeError, ValueError):
            return 400, {"error": "malformed finish report"}
        have = _size(r.log_path)
        if have < log_size:  # GetTaskInstanceLog must show the whole log once the task run has ended
            return 409, {"error": "log incomplete", "size": have}
        message = body.get("message")
        message = str(message)[:1000] if message is not None else None
        at_ms = int(body.get("at_ms") or self.clock())
        parts = split_task_id(task_id)
        if exit_code is not None and parts is not None:  # durable before the acknowledgement (record_remote_exit)
            with self.db.write() as conn:
                durable = json.dumps(outputs, ensure_ascii=False) if outputs is not None else None
                rq.record_remote_exit(conn, parts[0], parts[1], parts[2], worker_id, exit_code, durable)
        if not self.executor.finished(task_id, worker_id, exit_code, message, at_ms, outputs):
            return 409, {"error": "unknown attempt"}
        return 200, {"ok": True}

    def gone(self, worker_id: str) -> Answer:
        """The guard of a dead worker: its attempts' processes are gone, declare them lost now."""
        lost = self.executor.worker_gone(worker_id)
        log.info("worker %s reported gone by its guard: %d attempt(s) lost", worker_id, lost)
        return 200, {"lost": lost}

    def heartbeat(self, body: Mapping[str, Any]) -> Answer:
        try:
            worker_id, group = str(body["worker_id"]), str(body["group"])
            running = [str(t) for t in body.get("running", [])]
            host = body.get("host") if isinstance(body.get("host"), dict) else None
            kills = self.executor.heartbeat(worker_id, str(body.get("name") or worker_id), group,
                                            int(body.get("concurrency") or 1), running, host)  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return 400, {"error": "malformed heartbeat"}
        answer: dict[str, Any] = {"kill": kills, "grace": self.executor.grace, "lease": self.executor.lease}
        if (stalled := self.executor.stalled(worker_id)) is not None:
            answer["stalled"] = stalled  # C6: the worker drains and exits for its supervisor to restart it
        return 200, answer


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _append_at(path: str, offset: int, data: bytes) -> int | None:
    """Append the part of `data` (starting at `offset`) the file does not hold yet; the new size, or None
    when `offset` is past the end (a gap)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        size = os.fstat(fd).st_size
        if offset > size:
            return None
        new = data[size - offset :]
        view = memoryview(new)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        return size + len(new)
    finally:
        os.close(fd)


def _output_values(raw: object) -> dict[str, str] | None:
    """The finish report's output parameters: a JSON object of strings (at most MAX_OUTPUTS_CHARS in all,
    what a task may set through its outputs file), or null; ValueError for anything else."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("output_values must be an object")
    total = 0
    for key, value in raw.items():
        if not isinstance(value, str):
            raise ValueError("output values must be strings")
        total += len(key) + len(value)
    if total > MAX_OUTPUTS_CHARS:
        raise ValueError("output values too large")
    return dict(raw)
