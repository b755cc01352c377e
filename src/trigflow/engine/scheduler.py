"""The scheduler loop: one thread that owns run execution, woken by events, never by a poll interval.

Everything that changes a run goes through this thread's queue (new runs, process exits, kills), so
the in-memory DAGs in `Execution` have a single writer. A batch of queued messages becomes one
database transaction, then its effects (process starts and kills) happen after the commit. The
fallback tick only re-adopts runs that some other writer created without waking us.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from pathlib import Path

from trigflow.domain import ids
from trigflow.domain.states import RunState
from trigflow.executors.base import ExecutorEvent, LaunchError
from trigflow.executors.local import LocalExecutor, is_same_process_alive, kill_process_group
from trigflow.service.common import Clock
from trigflow.service.execution import (
    Adopt,
    Effects,
    Execution,
    Exited,
    Kill,
    KillResult,
    LaunchFailed,
    Message,
    Started,
)
from trigflow.store import runs as rq
from trigflow.store.engine import Database

log = logging.getLogger(__name__)

_STOP = object()


class Scheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        stamps: ids.StampAllocator,
        runs_dir: Path,
        *,
        kill_grace_seconds: float = 5.0,
        fallback_tick_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.execution = Execution(db, clock, stamps, runs_dir)
        self.executor = LocalExecutor(on_event=self._on_executor_event)
        self.kill_grace = kill_grace_seconds
        self.tick = fallback_tick_seconds
        self._q: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="trigflow-scheduler", daemon=True)
        self.last_tick_ms: int | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what a previous process left behind, then start the loop."""
        self._kill_orphans()
        with self.db.read() as conn:
            live = rq.runs_in_states(conn, [RunState.QUEUED.value, RunState.RUNNING.value])
        for run in live:
            self._q.put(Adopt(run["execution_id"], recovering=True))
        self.last_tick_ms = self.clock()
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop; running tasks are killed and recorded as lost, so nothing stays RUNNING."""
        self._q.put(_STOP)
        self._thread.join(timeout=30)
        self.executor.shutdown(kill=True, grace_seconds=self.kill_grace)

    # --- entry points (any thread) ----------------------------------------------------------

    def run_created(self, run_id: str) -> None:
        self._q.put(Adopt(run_id))

    def kill(self, run_ids: list[str], timeout: float = 30.0) -> list[KillResult]:
        """Kill runs synchronously: returns once their states are committed (API answers per run)."""
        fut: Future[list[KillResult]] = Future()
        self._q.put(Kill(tuple(run_ids), fut))
        return fut.result(timeout=timeout)

    def _on_executor_event(self, ev: ExecutorEvent) -> None:
        if ev.kind == "exited":
            self._q.put(Exited(ev.attempt_id, ev.exit_code, ev.at_ms, ev.message))
        elif ev.kind == "lost":
            self._q.put(Exited(ev.attempt_id, None, ev.at_ms, ev.message or "process lost"))

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            try:
                first = self._q.get(timeout=self.tick)
            except queue.Empty:
                first = None
            batch: list[Message] = []
            stop = False
            item = first
            while True:
                if item is _STOP:
                    stop = True
                elif item is not None:
                    batch.append(item)  # type: ignore[arg-type]
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            self.last_tick_ms = self.clock()
            if first is None and not stop:
                batch.extend(self._missed_runs())
            if batch:
                self._run_batch(batch)
            if stop:
                return

    def _run_batch(self, batch: list[Message]) -> None:
        try:
            eff = self.execution.process(batch)
        except Exception:
            log.exception("scheduler batch of %d messages failed; retrying them one by one", len(batch))
            if len(batch) == 1:
                msg = batch[0]
                if isinstance(msg, Kill):
                    msg.reply.set_exception(RuntimeError("kill failed; see server log"))
                return
            for msg in batch:
                self._run_batch([msg])
            return
        self._perform(eff)

    def _perform(self, eff: Effects) -> None:
        for exec_id in eff.kills:
            self.executor.kill(exec_id, self.kill_grace)
        for spec in eff.launches:
            try:
                ev = self.executor.start(spec)
            except LaunchError as e:
                self._q.put(LaunchFailed(spec.attempt_id, f"LaunchFailed: {e.message}", self.clock()))
                continue
            self._q.put(Started(spec.attempt_id, ev.pid, ev.proc_start, ev.at_ms))
        for fut, result in eff.replies:
            fut.set_result(result)

    def _missed_runs(self) -> list[Message]:
        """Runs written by someone who did not wake us (another process, a lost notification)."""
        try:
            with self.db.read() as conn:
                live = rq.runs_in_states(conn, [RunState.QUEUED.value, RunState.RUNNING.value])
        except Exception:
            log.exception("fallback scan failed")
            return []
        known = self.execution.live_runs()
        return [Adopt(r["execution_id"]) for r in live if r["execution_id"] not in known]

    def _kill_orphans(self) -> None:
        """Processes of a previous server process still running: stop them before marking them lost."""
        with self.db.read() as conn:
            rows = rq.running_task_runs(conn)
        for row in rows:
            pid, token = row["pid"], row["proc_start"]
            if pid and is_same_process_alive(pid, token):
                log.warning("killing orphaned task process %s of task run %s", pid, row["execution_id"])
                kill_process_group(pid, self.kill_grace)
