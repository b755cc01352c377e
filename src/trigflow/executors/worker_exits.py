"""A worker's exit facts on its own disk, so a result never dies with the worker's memory.

A Celery worker learns how an attempt ended, then ships its log and its finish report to the server, retrying
while the server restarts. Killed in between (`kill -9`, OOM), it took the result with it: the server declared
the attempt lost and ran the finished work again (bench/restart_chaos.py --workers saw it). So the worker writes
the exit fact next to the attempt's log (`<attempt dir>/exit.json`, 0600, whole or not at all) the moment it
learns it, before it reports; and whoever outlives it delivers what it could not:

* its guard (executors/worker_guard.py), right after killing the dead worker's attempts and before telling the
  server the worker is gone, so the server records those attempts with their real results instead of lost;
* failing that (the guard died too), the next worker started on the same data dir, before it serves.

Delivery is the worker's own protocol under the dead worker's id: the log again from the attempt's base offset
(the server skips the bytes it has), then the finish report. The server accepts it only while it still counts
the attempt as that worker's; once it has declared it lost (its lease passed) the report is refused, and the
retry it started stands. Files are removed once a server has answered for good.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

EXIT_RECORD = "exit.json"
LOG_CHUNK = 1 << 20

# (path, body, query) -> (HTTP status, JSON answer); raises when no server can be reached (celery_worker.Reporter)
Post = Callable[[str, Any, "dict[str, str] | None"], "tuple[int, Any]"]


def write(attempt_dir: Path, record: Mapping[str, Any]) -> None:
    """Keep the exit fact of the attempt in `attempt_dir` (tmp + rename: a crash never leaves half of one)."""
    tmp = attempt_dir / (EXIT_RECORD + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(dict(record), f, ensure_ascii=False)
    os.replace(tmp, attempt_dir / EXIT_RECORD)


def pending(data_dir: Path, worker_id: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """The exit facts kept under `<data dir>/attempts` (of `worker_id` only, when given), oldest first."""
    found: list[tuple[float, Path, dict[str, Any]]] = []
    with contextlib.suppress(OSError), os.scandir(data_dir / "attempts") as it:
        for entry in it:
            path = Path(entry.path) / EXIT_RECORD
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                mtime = path.stat().st_mtime
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and (worker_id is None or record.get("worker_id") == worker_id):
                found.append((mtime, Path(entry.path), record))
    return [(p, r) for _, p, r in sorted(found, key=lambda item: item[0])]


def deliver(post: Post, attempt_dir: Path, record: Mapping[str, Any]) -> bool:
    """Ship the attempt's log and finish report under the record's worker id; True once a server answered for
    good (then the attempt dir is removed). False when no server could be reached: try again later."""
    task_id, worker_id, base = str(record["task_id"]), str(record["worker_id"]), int(record["log_base"])
    log_path = str(record["log_path"])
    try:
        fd = os.open(log_path, os.O_RDONLY)
    except OSError:
        fd = -1
    size = 0
    try:
        while fd >= 0:
            chunk = os.pread(fd, LOG_CHUNK, size)
            if not chunk:
                break
            status, answer = post(f"/internal/v1/attempts/{task_id}/log", chunk,
                                  {"worker_id": worker_id, "offset": str(base + size)})  # fmt: skip
            if status == 409 and isinstance(answer, dict) and "size" in answer and int(answer["size"]) >= base:
                size = int(answer["size"]) - base  # the server's copy ends elsewhere: go on from its end
                continue
            if status != 200:
                _forget(attempt_dir)
                return True  # the server no longer counts the attempt as this worker's: nothing to deliver
            size += len(chunk)
    except Exception:
        return False
    finally:
        if fd >= 0:
            os.close(fd)
    body = {"worker_id": worker_id, "exit_code": record.get("exit_code"), "message": record.get("message"),
            "log_size": base + size, "output_values": record.get("outputs"), "at_ms": record.get("at_ms")}  # fmt: skip
    try:
        status, _answer = post(f"/internal/v1/attempts/{task_id}/finish", body, None)
    except Exception:
        return False
    if status in (200, 400, 409):
        _forget(attempt_dir)
        return True
    return False


def _forget(attempt_dir: Path) -> None:
    shutil.rmtree(attempt_dir, ignore_errors=True)
