"""`trigflow logs TASK_EXECUTION_ID [--attempt N] [--follow]`: a task run's log through GetTaskInstanceLog.

It relies only on the cursor contract of docs/api.md "Task-run logs": pages are read with the returned
NextCursor; null means the attempt has finished and its log is drained; a string means the attempt may
still write, and an empty page is the end so far. Without --follow the command prints what exists now.
With --follow it polls (0.2 s backing off to 2 s, back to 0.2 s whenever text comes) until the attempt
is drained, and, unless --attempt pinned one, goes on to the task run's retries until the task run is
terminal and its last attempt is drained.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from trigflow.cli.clientbase import OK, TASK_TERMINAL, add_client_flags, client_command, non_negative_int


class _Reader:
    """Prints the pages of one task run's log; `read` drains what exists from the current cursor."""

    def __init__(self, api: Any, task_execution_id: str, json_out: bool) -> None:
        self.api = api
        self.key = task_execution_id
        self.json_out = json_out

    def read(self, attempt: int | None, cursor: str | None) -> tuple[str | None, bool]:
        """Pages from `cursor` until the end so far. Returns (cursor to resume from or None when the
        attempt is drained for good, whether any text came)."""
        got = False
        while True:
            params: dict[str, Any] = {"ProjectId": self.api.project_id, "InstanceKey": self.key}
            if attempt is not None:
                params["LifeRoundNum"] = attempt
            if cursor:
                params["NextCursor"] = cursor
            resp = self.api.call("GetTaskInstanceLog", params)
            text, nxt = resp.Data.LogInfo or "", resp.Data.NextCursor or None
            if self.json_out:
                print(resp.to_json_string(), flush=True)  # JSON Lines: one response per page
            elif text:
                sys.stdout.write(text)
                sys.stdout.flush()
            got = got or bool(text)
            if nxt is None or not text:
                return nxt, got
            cursor = nxt

    def task_run(self) -> Any:
        return self.api.call("GetTriggerTaskRun", {"ProjectId": self.api.project_id, "TaskExecutionId": self.key}).Data


def cmd_logs(api: Any, args: argparse.Namespace) -> int:
    from trigflow.client.api import ApiError

    reader = _Reader(api, args.task_execution_id, args.json)
    if not args.follow:
        reader.read(args.attempt, None)
        return OK
    pinned = args.attempt is not None
    attempt = args.attempt if pinned else int(reader.task_run().RetryTimes or 0)
    cursor: str | None = None
    drained = False  # the attempt's NextCursor came back null: never read it again (that restarts it)
    delay = 0.2
    while True:
        got = False
        if not drained:
            try:
                cursor, got = reader.read(attempt, cursor)
            except ApiError as e:
                # an attempt we moved on to that never ran (the task run was killed waiting for its retry)
                moved_on = not pinned and e.code == "InvalidParameterValue"
                if moved_on and reader.task_run().ExecutionState in TASK_TERMINAL:
                    return OK
                raise
            drained = cursor is None
        if drained:
            if pinned:
                return OK
            tr = reader.task_run()
            if int(tr.RetryTimes or 0) > attempt:  # a retry exists: follow it
                attempt, cursor, drained, delay = attempt + 1, None, False, 0.2
                if not args.json:
                    print(f"[trigflow logs] attempt {attempt}", file=sys.stderr, flush=True)
                continue
            if tr.ExecutionState in TASK_TERMINAL:
                return OK
        if got:
            delay = 0.2
            continue
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def add_parser(sub: Any) -> None:
    logs = sub.add_parser("logs", help="a task run's log (GetTaskInstanceLog)")
    logs.add_argument("task_execution_id", metavar="TASK_EXECUTION_ID", help="the task run's ExecutionId")
    logs.add_argument("--attempt", type=non_negative_int, metavar="N",
                      help="LifeRoundNum: 0 = first execution, 1 = first retry, ... (default: the latest)")  # fmt: skip
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep reading (through retries, unless --attempt) until the task run has ended")  # fmt: skip
    add_client_flags(logs)
    logs.set_defaults(func=client_command(cmd_logs))
