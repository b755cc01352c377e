"""Reading an attempt's log through the API (GetTaskInstanceLog): which file, which page, and when it is complete.

Why here and not in the HTTP layer: the client names a task run (`InstanceKey` = its ExecutionId) and an
attempt (`LifeRoundNum`), never a path; this module maps them to the attempt's log file under the server's
runs directory, the same name the engine gave it (service/attempts.py: `<TaskId>.<RetryTimes>.<RerunTimes>.log`,
one file per attempt, so every retry keeps its own log). Paging itself is service/log_pages.py.

Attempts of one task run are numbered 0 (the first execution) up to its RetryTimes: after a failed attempt
with a retry due, RetryTimes already counts the next attempt, which has no log until it starts. A rerun
makes a new task run (a new ExecutionId), so its attempts are read under that key. An attempt is complete
when a later attempt exists or the task run has reached a final state: its state is read *before* the file,
so a complete attempt's last page really is the end.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trigflow.domain.errors import InvalidParameterValue, ResourceNotFound
from trigflow.domain.states import TASK_TERMINAL, TaskState
from trigflow.service.attempts import attempt_name
from trigflow.service.log_pages import PAGE_BYTES, Cursor, Page, read_page
from trigflow.store import runs as rq
from trigflow.store.engine import Database
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import ProcessTask

#: GetTaskInstanceLog's LogLevel values (SDK docstring). Task output carries no levels, so every value
#: returns the whole log; anything else is refused so a typo is not silently "All".
LOG_LEVELS = {"all": "All", "info": "Info", "debug": "Debug", "warn": "Warn", "error": "Error"}
#: The attempt's code is returned once, on the first page; a copy larger than this is left out (null).
MAX_CODE_CONTENT_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of one attempt's log, with what the InstanceLog model shows besides the text."""

    project_id: str
    instance_key: str
    code: str | None
    text: str
    next_cursor: str | None


class TaskLogs:
    def __init__(self, db: Database, runs_dir: Path, *, page_bytes: int = PAGE_BYTES) -> None:
        self.db = db
        self.runs_dir = runs_dir
        self.page_bytes = page_bytes

    def page(
        self,
        project_id: str,
        instance_key: str,
        life_round: int | None = None,
        log_level: str | None = None,
        next_cursor: str | None = None,
    ) -> LogPage:
        """The page of the attempt's log at `next_cursor` (the start without one).

        `NextCursor` of the answer is None once a complete attempt has been read to its end; otherwise
        (running, or not started yet) it is where to ask again (docs/api.md, GetTaskInstanceLog).
        """
        if log_level is not None and log_level.lower() not in LOG_LEVELS:
            raise InvalidParameterValue(
                f"LogLevel must be one of {', '.join(LOG_LEVELS.values())}, got {log_level[:40]!r}"
            )
        cursor = None
        if next_cursor:  # "" is the first page, as null is
            cursor = Cursor.decode(next_cursor)
            if cursor is None:
                raise InvalidParameterValue(
                    f"NextCursor {next_cursor[:80]!r} is not a cursor GetTaskInstanceLog returned; "
                    "omit it for the first page"
                )
            if life_round is not None and life_round != cursor.attempt:
                raise InvalidParameterValue(
                    f"NextCursor belongs to LifeRoundNum {cursor.attempt}, not to the LifeRoundNum {life_round} sent"
                )
        with self.db.read() as conn:
            row = rq.get_task_run(conn, instance_key, project_id)
        if row is None:
            raise ResourceNotFound(
                f"InstanceKey {instance_key}: no task run has this ExecutionId in project {project_id}"
            )
        latest = int(row["retry_times"])
        run_dir = self.runs_dir / str(row["run_id"])
        if cursor:
            attempt = cursor.attempt
        elif life_round is not None:
            attempt = life_round
        else:
            attempt = self._latest_started(row, run_dir, latest)
        if attempt > latest:
            field = "NextCursor" if cursor and life_round is None else "LifeRoundNum"
            raise InvalidParameterValue(
                f"{field}: attempt {attempt} does not exist; task run {instance_key} has attempts 0 to {latest}"
            )
        complete = attempt < latest or TaskState(row["state"]) in TASK_TERMINAL
        name = attempt_name(row, attempt)
        page = self._read(run_dir / f"{name}.log", cursor.offset if cursor else 0, complete, next_cursor)
        done = complete and page.at_end
        return LogPage(
            project_id=str(row["project_id"]),
            instance_key=instance_key,
            code=None if cursor else _code_of(row, run_dir, name),
            text=page.text,
            next_cursor=None if done else Cursor(attempt, page.next_offset).encode(),
        )

    @staticmethod
    def _latest_started(row: dict[str, Any], run_dir: Path, latest: int) -> int:
        """The default attempt: the latest that has started (its log exists), so a task waiting for a retry
        shows the failure it is retrying, not the empty log of the attempt to come; 0 before any started."""
        if latest == 0 or (run_dir / f"{attempt_name(row, latest)}.log").exists():
            return latest
        return latest - 1

    def _read(self, path: Path, offset: int, complete: bool, cursor_text: str | None) -> Page:
        fd = _open_regular(path)
        if fd is None:  # not started yet (or a node that runs no process): an empty page
            if offset:
                raise _past_end(cursor_text) from None
            return Page("", 0, True)
        try:
            return read_page(fd, offset, self.page_bytes, complete=complete)
        except ValueError:
            raise _past_end(cursor_text) from None
        finally:
            os.close(fd)


def _open_regular(path: Path) -> int | None:
    """Open a file of an attempt for reading, or None when it is missing or not a regular file.

    The files live in the run's directory, which is the task's working directory: a task may replace its
    log with a symlink (not followed) or a FIFO, whose open would block a server thread until some writer
    came (O_NONBLOCK, then refused here).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _past_end(cursor_text: str | None) -> InvalidParameterValue:
    return InvalidParameterValue(f"NextCursor {str(cursor_text)[:80]!r} points past the end of this attempt's log")


def _code_of(row: dict[str, Any], run_dir: Path, name: str) -> str | None:
    """The code the attempt ran: its substituted copy when `${...}` changed it (service/attempts.py), else the
    frozen code of the task version. Null for nodes without code (merge, RunWorkflow)."""
    spec = row.get("spec") or {}
    tt = TASK_TYPES.of_spec(spec)
    fd = _open_regular(run_dir / (name + tt.code_suffix)) if isinstance(tt, ProcessTask) else None
    if fd is None:
        return run_spec.code(spec) or None
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_CODE_CONTENT_BYTES + 1)
    finally:
        os.close(fd)
    return raw.decode("utf-8", "replace") if len(raw) <= MAX_CODE_CONTENT_BYTES else None
