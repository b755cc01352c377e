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

from trigflow.cli.clientbase import OK, TASK_TERMINAL, Patience, add_client_flags, client_command, non_negative_int


class _Reader:
    """Prints the pages of one attempt of a task run's log, keeping its place (the cursor) across calls,
    so a call that fails half-way is resumed without printing a page twice."""

    def __init__(self, api: Any, task_execution_id: str, attempt: int | None, json_out: bool) -> None:
        self.api = api
        self.key = task_execution_id
        self.json_out = json_out
        self.attempt = attempt
        self.cursor: str | None = None
        self.drained = False  # NextCursor came back null: never read this attempt again (that restarts it)

    def read(self) -> bool:
        """Pages from the cursor until the end so far; whether any text came."""
        got = False
        while not self.drained:
            params: dict[str, Any] = {"ProjectId": self.api.project_id, "InstanceKey": self.key}
            if self.attempt is not None:
                params["LifeRoundNum"] = self.attempt
            if self.cursor:
                params["NextCursor"] = self.cursor
            resp = self.api.call("GetTaskInstanceLog", params)
            text, nxt = resp.Data.LogInfo or "", resp.Data.NextCursor or None
            if self.json_out:
                print(resp.to_json_string(), flush=True)  # JSON Lines: one response per page
            elif text:
                sys.stdout.write(text)
                sys.stdout.flush()
            got = got or bool(text)
            self.drained = nxt is None
            self.cursor = nxt or self.cursor
            if not text:
                break
        return got

    def next_attempt(self) -> None:
        assert self.attempt is not None
        self.attempt, self.cursor, self.drained = self.attempt + 1, None, False

    def task_run(self) -> Any:
        return self.api.call("GetTriggerTaskRun", {"ProjectId": self.api.project_id, "TaskExecutionId": self.key}).Data


def cmd_logs(api: Any, args: argparse.Namespace) -> int:
    from trigflow.client.api import ApiError

    if not args.follow:
        _Reader(api, args.task_execution_id, args.attempt, args.json).read()
        return OK
    patience = Patience()
    reader = _Reader(api, args.task_execution_id, args.attempt, args.json)
    pinned = args.attempt is not None
    if not pinned:
        reader.attempt = _latest_started(patience.first(reader.task_run))
    start, delay = reader.attempt, 0.2
    while True:
        try:
            got = patience.attempt(reader.read)
        except ApiError as e:
            # an attempt we moved on to that never ran (the task run was killed waiting for its retry)
            if reader.attempt != start and e.code == "InvalidParameterValue" and (
                reader.task_run().ExecutionState in TASK_TERMINAL
            ):
                return OK
            raise
        if reader.drained:
            if pinned:
                return OK
            tr = patience.attempt(reader.task_run)
            if tr is not None and int(tr.RetryTimes or 0) > (reader.attempt or 0):  # a retry exists: follow it
                reader.next_attempt()
                if not args.json:
                    print(f"[trigflow logs] attempt {reader.attempt}", file=sys.stderr, flush=True)
                delay = 0.2
                continue
            if tr is not None and tr.ExecutionState in TASK_TERMINAL:
                return OK
        if got:
            delay = 0.2
            continue
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def _latest_started(task_run: Any) -> int:
    """The attempt to follow first: the latest one that has started, as GetTaskInstanceLog's default is.
    A PENDING task run with RetryTimes N is waiting to start attempt N (its retry, or resources for it),
    so the failure it retries is attempt N - 1; the loop moves on to N once that one exists."""
    retries = int(task_run.RetryTimes or 0)
    return retries - 1 if retries > 0 and task_run.ExecutionState == "PENDING" else retries


def add_parser(sub: Any) -> None:
    logs = sub.add_parser("logs", help="a task run's log (GetTaskInstanceLog)")
    logs.add_argument("task_execution_id", metavar="TASK_EXECUTION_ID", help="the task run's ExecutionId")
    logs.add_argument("--attempt", type=non_negative_int, metavar="N",
                      help="LifeRoundNum: 0 = first execution, 1 = first retry, ... (default: the latest)")  # fmt: skip
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep reading (through retries, unless --attempt) until the task run has ended")  # fmt: skip
    add_client_flags(logs)
    logs.set_defaults(func=client_command(cmd_logs))
