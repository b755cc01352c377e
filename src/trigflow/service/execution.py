"""Run execution: applies executor events and user kills to runs, through the state machine, in batches.

The scheduler thread feeds messages here; each batch is one write transaction, after which the
scheduler performs the returned effects (start processes, kill process groups, answer waiting API
calls). Processes are started only *after* the transaction that marked them RUNNING has committed:
a crash in between leaves a RUNNING task run without a pid, which recovery resolves as lost, instead
of a process the database never heard of running twice.

This class holds the live DAG of every non-terminal run in memory (`RunGraph`), so a finished task
costs work proportional to its downstream, not to the size of its run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.graph import Change, Node, RunGraph
from trigflow.domain.states import RUN_TERMINAL, RunEvent, RunState, TaskEvent, TaskState, run_transition
from trigflow.executors.base import LaunchSpec
from trigflow.service.common import Clock
from trigflow.store import runs as rq
from trigflow.store.engine import Database

log = logging.getLogger(__name__)

_LAUNCH_COLUMNS = ("execution_id", "run_id", "project_id", "workflow_id", "task_id", "task_version_id", "spec",
                   "run_params", "retry_times", "rerun_times")  # fmt: skip

USER_KILLED = "UserKilled"
EXECUTOR_LOST = "ExecutorLost"
UPSTREAM_FAILED = "UpstreamFailed"


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adopt:
    """Load a non-terminal run into memory and start what is ready (new run, restart, missed wake-up)."""

    run_id: str
    recovering: bool = False  # on startup RUNNING task runs have no live process: they are lost


@dataclass(frozen=True)
class Started:
    exec_id: str
    pid: int | None
    proc_start: str | None
    at_ms: int


@dataclass(frozen=True)
class Exited:
    exec_id: str
    exit_code: int | None
    at_ms: int
    message: str | None = None


@dataclass(frozen=True)
class LaunchFailed:
    exec_id: str
    message: str
    at_ms: int


@dataclass(frozen=True)
class KillResult:
    run_id: str
    ok: bool
    message: str | None


@dataclass(frozen=True)
class Kill:
    run_ids: tuple[str, ...]
    reply: Future[list[KillResult]]


Message = Adopt | Started | Exited | LaunchFailed | Kill


@dataclass
class Effects:
    launches: list[LaunchSpec] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    replies: list[tuple[Future[list[KillResult]], list[KillResult]]] = field(default_factory=list)
    finished_runs: list[str] = field(default_factory=list)


class Execution:
    def __init__(self, db: Database, clock: Clock, stamps: ids.StampAllocator, runs_dir: Path) -> None:
        self.db = db
        self.clock = clock
        self.stamps = stamps
        self.runs_dir = runs_dir
        self.graphs: dict[str, RunGraph] = {}
        self.run_state: dict[str, RunState] = {}
        self.exec_run: dict[str, str] = {}  # task-run id -> run id, for live runs
        self.launch_rows: dict[str, dict[str, Any]] = {}  # what dispatch needs, loaded once per run
        self._dirty: dict[str, dict[str, Any]] = {}  # task-run updates of the current batch, merged per row
        self.base_env = dict(os.environ)
        self.scripts_dir = runs_dir.parent / "scripts"
        self._scripts: set[str] = set()

    def live_runs(self) -> set[str]:
        return set(self.graphs)

    def process(self, batch: list[Message]) -> Effects:
        eff = Effects()
        now = self.clock()
        touched: set[str] = set()
        with self.db.write() as conn:
            for msg in batch:
                if isinstance(msg, Adopt):
                    self._adopt(conn, msg, now, touched)
                elif isinstance(msg, Started):
                    self._started(conn, msg)
                elif isinstance(msg, Exited):
                    self._exited(conn, msg, touched)
                elif isinstance(msg, LaunchFailed):
                    self._event(conn, msg.exec_id, TaskEvent.LAUNCH_FAIL, msg.at_ms, touched, error=msg.message)
                else:
                    eff.replies.append((msg.reply, self._kill(conn, msg.run_ids, now, eff)))
            for run_id in sorted(touched):
                if run_id in self.graphs:
                    self._dispatch_ready(conn, run_id, now, eff)
                    self._rollup(conn, run_id, now, eff)
            self._flush(conn)
        return eff

    def _update(self, exec_id: str, values: dict[str, Any]) -> None:
        """Buffer a task-run update; one statement per row and batch however many events touched it."""
        self._dirty.setdefault(exec_id, {}).update(values)

    def _flush(self, conn: sa.Connection) -> None:
        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for exec_id, values in self._dirty.items():
            by_keys.setdefault(tuple(sorted(values)), []).append({"b_exec_id": exec_id, **values})
        self._dirty.clear()
        for rows in by_keys.values():
            rq.update_task_runs(conn, rows)

    # --- handlers ---------------------------------------------------------------------------

    def _adopt(self, conn: sa.Connection, msg: Adopt, now: int, touched: set[str]) -> None:
        if msg.run_id in self.graphs:
            return
        run = rq.get_run(conn, msg.run_id)
        if run is None or run["state"] in RUN_TERMINAL:
            return
        rows = rq.task_runs_of(conn, msg.run_id)
        nodes = [
            Node(r["execution_id"], r["task_id"], TaskState(r["state"]), tuple(r["depend_on"]), r["policy"],
                 r["deps_ms"] is not None)
            for r in rows
        ]  # fmt: skip
        for r in rows:
            self.launch_rows[r["execution_id"]] = {k: r[k] for k in _LAUNCH_COLUMNS}
        graph = RunGraph(msg.run_id, nodes)
        self.graphs[msg.run_id] = graph
        self.exec_run.update((n.exec_id, msg.run_id) for n in nodes)
        self.run_state[msg.run_id] = RunState(run["state"])
        touched.add(msg.run_id)
        self._persist(conn, graph.initial_changes(), now)
        if msg.recovering:
            for node in list(graph.nodes.values()):
                if node.state == TaskState.RUNNING:
                    error = f"{EXECUTOR_LOST}: the trigflow server stopped while this task was running"
                    self._persist(conn, graph.apply(node.exec_id, TaskEvent.LOST), now, error=error)

    def _started(self, conn: sa.Connection, msg: Started) -> None:
        rq.update_task_run(
            conn,
            msg.exec_id,
            {"pid": msg.pid, "proc_start": msg.proc_start, "start_ms": msg.at_ms, "update_ms": msg.at_ms},
        )

    def _exited(self, conn: sa.Connection, msg: Exited, touched: set[str]) -> None:
        code = msg.exit_code
        if code == 0:
            self._event(conn, msg.exec_id, TaskEvent.EXIT_OK, msg.at_ms, touched, exit_code=0)
            return
        if code is None:
            error = f"{EXECUTOR_LOST}: {msg.message or 'process lost'}"
        elif code < 0:
            error = f"killed by signal {-code}"
        else:
            error = f"exit code {code}"
        self._event(conn, msg.exec_id, TaskEvent.EXIT_FAIL, msg.at_ms, touched, exit_code=code, error=error)

    def _event(
        self,
        conn: sa.Connection,
        exec_id: str,
        event: TaskEvent,
        at_ms: int,
        touched: set[str],
        *,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> None:
        graph = self._graph_of(exec_id)
        if graph is None:
            # The run is no longer live (killed): record how the process ended, change no state.
            if exit_code is not None:
                rq.record_late_exit(conn, exec_id, exit_code, at_ms)
            return
        changes = graph.apply(exec_id, event)
        if not changes:
            log.debug("refused late event %s for task run %s", event, exec_id)
            return
        touched.add(graph.run_id)
        self._persist(conn, changes, at_ms, exit_code=exit_code, error=error)

    def _kill(self, conn: sa.Connection, run_ids: tuple[str, ...], now: int, eff: Effects) -> list[KillResult]:
        results = []
        for run_id in run_ids:
            graph = self.graphs.get(run_id)
            if graph is None:
                run = rq.get_run(conn, run_id)
                state = run["state"] if run else "unknown"
                results.append(KillResult(run_id, False, f"workflow run {run_id} is already {state}"))
                continue
            for ch in graph.kill_all():
                self._persist(conn, [ch], now, error=USER_KILLED)
                if ch.before == TaskState.RUNNING:
                    eff.kills.append(ch.exec_id)
            self._finish_run(conn, run_id, RunEvent.KILL, now, USER_KILLED, eff)
            results.append(KillResult(run_id, True, None))
        return results

    # --- dispatch and roll-up ---------------------------------------------------------------

    def _dispatch_ready(self, conn: sa.Connection, run_id: str, now: int, eff: Effects) -> None:
        graph = self.graphs[run_id]
        ready = graph.ready()
        if not ready:
            return
        run_dir = self.runs_dir / run_id
        for node in ready:
            graph.apply(node.exec_id, TaskEvent.DISPATCH)
            row = self.launch_rows[node.exec_id]
            attempt = f"{node.task_id}.{row['retry_times']}.{row['rerun_times']}"
            log_path = str(run_dir / f"{attempt}.log")
            values = {
                "state": TaskState.RUNNING.value,
                "issue_ms": now,
                "job_id": self.stamps.job_id(now),
                "log_path": log_path,
                "update_ms": now,
            }
            if not node.deps_met:
                values["deps_ms"] = now
                node.deps_met = True
            self._update(node.exec_id, values)
            eff.launches.append(self._launch_spec(row, run_dir, attempt, log_path))
        state = self.run_state[run_id]
        t = run_transition(state, RunEvent.START)
        if t.accepted:
            self.run_state[run_id] = t.after
            rq.update_run(conn, run_id, {"state": t.after.value, "start_ms": now, "update_ms": now})

    def _launch_spec(self, row: Mapping[str, Any], run_dir: Path, attempt: str, log_path: str) -> LaunchSpec:
        spec = row["spec"]
        env = {
            **self.base_env,
            "TRIGFLOW_PROJECT_ID": row["project_id"],
            "TRIGFLOW_WORKFLOW_ID": row["workflow_id"],
            "TRIGFLOW_WORKFLOW_EXECUTION_ID": row["run_id"],
            "TRIGFLOW_TASK_ID": row["task_id"],
            "TRIGFLOW_TASK_EXECUTION_ID": row["execution_id"],
            "TRIGFLOW_RUN_PARAMS": row["run_params"],
        }
        return LaunchSpec(
            attempt_id=row["execution_id"],
            argv=(*spec["interpreter"], self._script_for(row)),
            env=env,
            cwd=str(run_dir),
            log_path=log_path,
        )

    def _script_for(self, row: Mapping[str, Any]) -> str:
        """The script of a task version, written once (atomically) and shared by all its runs.

        Written via rename so that a task still reading an older copy (bash reads scripts lazily)
        never sees the file change under it.
        """
        spec = row["spec"]
        path = self.scripts_dir / f"{row['task_version_id']}{'.py' if spec['kind'] == 'PYTHON' else '.sh'}"
        key = str(path)
        if key not in self._scripts:
            self.scripts_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(spec["code"], encoding="utf-8")
            os.chmod(tmp, 0o700)
            os.replace(tmp, path)
            self._scripts.add(key)
        return key

    def _rollup(self, conn: sa.Connection, run_id: str, now: int, eff: Effects) -> None:
        event = self.graphs[run_id].rollup()
        if event is None:
            return
        error = None
        if event == RunEvent.FINISH_FAIL:
            self._flush(conn)
            failed = [r for r in rq.task_runs_of(conn, run_id) if r["state"] == TaskState.FAILED.value]
            failed.sort(key=lambda r: (r["end_ms"] or 0, r["task_id"]))
            error = f"{failed[0]['task_name']}: {failed[0]['error_code_str']}" if failed else UPSTREAM_FAILED
        self._finish_run(conn, run_id, event, now, error, eff)

    def _finish_run(
        self, conn: sa.Connection, run_id: str, event: RunEvent, now: int, error: str | None, eff: Effects
    ) -> None:
        t = run_transition(self.run_state[run_id], event)
        if t.accepted:
            rq.update_run(
                conn, run_id, {"state": t.after.value, "end_ms": now, "update_ms": now, "error_code_str": error}
            )
        graph = self.graphs.pop(run_id, None)
        self.run_state.pop(run_id, None)
        for exec_id in graph.by_exec if graph else ():
            self.exec_run.pop(exec_id, None)
            self.launch_rows.pop(exec_id, None)
        eff.finished_runs.append(run_id)

    # --- persistence of graph changes -------------------------------------------------------

    def _persist(
        self,
        conn: sa.Connection,
        changes: list[Change],
        at_ms: int,
        *,
        exit_code: int | None = None,
        error: str | None = None,
    ) -> None:
        for i, ch in enumerate(changes):
            own = i == 0  # the first change is the event itself; the rest are cascaded decisions
            values: dict[str, Any] = {"state": ch.after.value, "update_ms": at_ms}
            if ch.event in (TaskEvent.SKIP, TaskEvent.UPSTREAM_FAIL):
                values["deps_ms"] = at_ms
                values["error_code_str"] = UPSTREAM_FAILED if ch.event == TaskEvent.UPSTREAM_FAIL else None
            else:
                values["end_ms"] = at_ms
                if own:
                    values["exit_code"] = exit_code
                    values["error_code_str"] = error
            self._update(ch.exec_id, values)

    def _graph_of(self, exec_id: str) -> RunGraph | None:
        run_id = self.exec_run.get(exec_id)
        return self.graphs.get(run_id) if run_id else None
