"""The scheduler loop: one thread that owns run execution, woken by events, never by a poll interval.

Everything that changes a run goes through this thread's queue (new runs, process exits, kills), so
the in-memory DAGs in `Execution` have a single writer. A batch of queued messages becomes one
database transaction, then its effects (process starts and kills) happen after the commit. The
fallback tick only re-adopts runs that some other writer created without waking us.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.errors import FailedOperation
from trigflow.domain.states import RunState
from trigflow.engine.execution import DEFAULT_GROUP, REMOTE_EXECUTOR, ChildRunFactory, Execution
from trigflow.engine.execution_messages import (
    Adopt,
    Effects,
    Exited,
    Kill,
    KillResult,
    LaunchFailed,
    Message,
    Recovered,
    Started,
    Wake,
)
from trigflow.executors import spawns
from trigflow.executors.adopted import LOST_MESSAGE, ExitReader
from trigflow.executors.base import EventCallback, Executor, ExecutorEvent, LaunchError, RemoteAdopter
from trigflow.executors.keeper import (
    ExitRecord,
    prune_exits,
    prune_identities,
    read_exit,
    read_identity,
    spawn_journal_path,
)
from trigflow.executors.local import (
    LocalExecutor,
    find_process_groups_by_env,
    is_same_process_alive,
    kill_process_group,
    read_proc_start,
)
from trigflow.service.attempt_params import DEFAULT_LIMITS, ParamLimits
from trigflow.service.common import Clock
from trigflow.service.triggers import Triggers
from trigflow.store import kill_requests as kq
from trigflow.store import runs as rq
from trigflow.store.engine import Database
from trigflow.store.leader import LeaderLock

log = logging.getLogger(__name__)

# Builds the executor from the scheduler's event callback and the keeper's exit records (ADR 0005).
ExecutorFactory = Callable[[EventCallback, ExitReader], Executor]

_STOP = object()
FIRE_CHUNK = 50  # trigger fires per loop pass: their runs start before the next chunk is fired
STALE_KILL_REQUEST_MS = 3_600_000  # a forwarded kill whose standby never read the answer
_RELOAD = object()
_SCANNED = object()  # a file-arrival scan finished off this thread: look at its results
MAX_LOOP_FAILURES = 5  # loop passes that raised within the window before the scheduler gives up
LOOP_FAILURE_WINDOW_S = 60.0
LOOP_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)  # pause before restart n of the loop
# Test-only fault injection (docs/limits.md): when this variable names a file, every loop pass raises
# while that file exists. Unset in production; read once at start so the hot path pays one `is None`.
FAULT_FILE_ENV = "TRIGFLOW_TEST_SCHEDULER_FAULT_FILE"


SCHEDULER_ERROR = "SchedulerError"  # ErrorCodeStr of a run the scheduler could not load (_quarantine)


def _is_data_error(error: Exception) -> bool:
    """A failure caused by what a row holds, not by the database being unavailable or busy."""
    return not isinstance(error, sa.exc.SQLAlchemyError | OSError)


class SchedulerFault(RuntimeError):
    """The injected test fault (FAULT_FILE_ENV)."""


@dataclass(frozen=True)
class Health:
    """What /healthz reports: ok, or why not."""

    ok: bool
    state: str  # ok, stopping, failed, stalled
    reason: str | None = None


def assess_health(
    *, failure: str | None, stopping: bool, alive: bool, last_pass_ms: int | None, now_ms: int, stall_after_ms: int
) -> Health:
    """Failed (the loop gave up, or the thread is gone) and stalled (no loop pass for `stall_after_ms`) are
    not ok; a stopping scheduler is (the process is shutting down on purpose)."""
    if failure is not None:
        return Health(False, "failed", f"the scheduler stopped: {failure}")
    if stopping:
        return Health(True, "stopping")
    if not alive:
        return Health(False, "failed", "the scheduler thread is not running")
    if last_pass_ms is not None and now_ms - last_pass_ms > stall_after_ms:
        return Health(
            False,
            "stalled",
            f"the scheduler made no loop pass for {(now_ms - last_pass_ms) // 1000} s (bound"
            f" {stall_after_ms // 1000} s); restart the process",
        )
    return Health(True, "ok")


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
        minute_ms: int = 60_000,
        group_slots: Callable[[str], int | None] = lambda _group: None,
        create_child: ChildRunFactory | None = None,
        triggers: Triggers | None = None,
        stall_after_seconds: float | None = None,
        param_limits: ParamLimits = DEFAULT_LIMITS,
        task_env: tuple[str, ...] = (),
        keeper_dir: Path | None = None,
        executor: ExecutorFactory | None = None,
    ) -> None:
        self.db = db
        # Where the keeper records how attempts left behind by a dead server ended (ADR 0005); None: no
        # keeper, so such attempts are lost.
        self.keeper_dir = keeper_dir
        self.spawn_journal = spawn_journal_path(keeper_dir) if keeper_dir is not None else None
        self.clock = clock
        self.execution = Execution(
            db, clock, stamps, runs_dir, minute_ms=minute_ms, group_slots=group_slots, create_child=create_child,
            param_limits=param_limits, task_env=task_env,
        )  # fmt: skip
        # Injected by the composition root (app.py); the scheduler only hands it its event callback and the
        # keeper's records. The local executor is the default, for tests that build a Scheduler directly.
        make = executor or (lambda on_event, read_exit: LocalExecutor(on_event=on_event, read_exit=read_exit,
                                                                      hold_exits=keeper_dir is not None,
                                                                      spawn_journal=self.spawn_journal))
        self.executor: Executor = make(self._on_executor_event, self._read_exit)
        self.kill_grace = kill_grace_seconds
        self.tick = fallback_tick_seconds
        self._q: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="trigflow-scheduler", daemon=True)
        self.last_tick_ms: int | None = None
        self.leader = LeaderLock(db)
        self._last_scan_ms = 0
        self.triggers = triggers
        if triggers is not None:
            triggers.on_scan_results = self._scanned
        self._stopping = threading.Event()
        # A loop pass happens at least every tick, so no pass for this long means the thread is stuck.
        self.stall_after_ms = int(1000 * (stall_after_seconds or max(30.0, 10 * fallback_tick_seconds)))
        self.failure: str | None = None  # set when the loop gave up: the thread ended, leadership released
        self.loop_restarts = 0
        self._fault_file = os.environ.get(FAULT_FILE_ENV) or None
        self._quarantined: set[str] = set()  # runs whose own data made adoption fail (see _quarantine)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def role(self) -> str:
        if self.failure is not None:
            return "failed"
        return "leader" if self.leader.held else "standby"

    def health(self) -> Health:
        """ok while the thread runs and makes loop passes (a standby's wait counts as passes) and the executor
        can still report attempts (an executor whose watcher died would leave every task RUNNING forever)."""
        health = assess_health(
            failure=self.failure,
            stopping=self._stopping.is_set(),
            alive=self._thread.is_alive(),
            last_pass_ms=self.last_tick_ms,
            now_ms=self.clock(),
            stall_after_ms=self.stall_after_ms,
        )
        if health.ok and health.state == "ok":
            executor = self.executor.health()
            if not executor.ok:
                return Health(False, "failed", f"the executor stopped: {executor.reason}")
        return health

    def start(self) -> None:
        """Become the database's active scheduler (or wait as a standby until the active one goes away),
        recover what a previous process left behind, then run the loop. API requests are served either way."""
        self.last_tick_ms = self.clock()
        self._thread.start()

    def stop(self, kill: bool = True) -> None:
        """Stop the loop. `kill`: running tasks are killed (and found lost by the next start); otherwise they
        run on under the keeper and the next server adopts them (ADR 0005)."""
        self._stopping.set()
        self._q.put(_STOP)
        self._thread.join(timeout=30)
        if self.triggers is not None:
            self.triggers.stop()
        self.executor.shutdown(kill=kill, grace_seconds=self.kill_grace)
        self.leader.release()

    def _run(self) -> None:
        try:
            while not self.leader.try_acquire():
                self.last_tick_ms = self.clock()
                if self._stopping.wait(self.tick):
                    return
            log.info("this process is the active scheduler")
            self._supervise()
        except BaseException as e:
            log.exception("the scheduler thread failed")
            self._give_up(f"{type(e).__name__}: {e}")

    def _supervise(self) -> None:
        """Run the loop; restart it with a backoff when a pass raises, give up when that keeps happening."""
        failures: list[float] = []
        recovered = False
        while not self._stopping.is_set():
            try:
                if not recovered:
                    self._recover()
                    recovered = True
                self._loop()
                return
            except Exception as e:
                t = time.monotonic()
                failures = [f for f in failures if t - f < LOOP_FAILURE_WINDOW_S] + [t]
                reason = f"{type(e).__name__}: {str(e)[:300]}"
                if len(failures) >= MAX_LOOP_FAILURES:
                    window = LOOP_FAILURE_WINDOW_S
                    log.exception("scheduler loop failed %d times in %g s; giving up", len(failures), window)
                    self._give_up(f"the loop failed {len(failures)} times in {window:g} s; last: {reason}")
                    return
                pause = LOOP_BACKOFF_S[min(len(failures), len(LOOP_BACKOFF_S)) - 1]
                log.exception("scheduler loop failed; restarting it in %g s", pause)
                self.loop_restarts += 1
                if self._stopping.wait(pause):
                    return
                if recovered:
                    self._rebuild()

    def _give_up(self, reason: str) -> None:
        """Stop being the active scheduler for good: kill this process's tasks (the runs are recovered by
        whoever leads next), then release the lock so a standby takes over; /healthz says why."""
        self.failure = reason
        try:
            if self.triggers is not None:
                self.triggers.stop()
        except Exception:
            log.exception("stopping the file-arrival scanner after the scheduler failed")
        try:
            self.executor.shutdown(kill=True, grace_seconds=self.kill_grace)
        except Exception:
            log.exception("stopping task processes after the scheduler failed")
        try:
            self.leader.release()
        except Exception:
            log.exception("releasing scheduler leadership failed")
        log.error("scheduler stopped (%s); leadership released; restart this process", reason)

    def _recover(self) -> None:
        if self.triggers is not None:
            self.triggers.reload(self.clock(), starting=True)
        attempts, survivors, remote = self._recover_attempts()
        for row in remote:  # before the Adopts: a finish report may arrive as soon as the executor is ready
            assert isinstance(self.executor, RemoteAdopter)
            task_id = f"{row['execution_id']}.{row['retry_times']}.{row['rerun_times']}"
            self.executor.adopt_remote(row["execution_id"], task_id, row["resource_group_id"] or DEFAULT_GROUP,
                                       row["log_path"] or "", row["worker_id"])  # fmt: skip
        with self.db.read() as conn:
            live = rq.runs_in_states(conn, [RunState.QUEUED.value, RunState.RUNNING.value])
        for run in live:
            self._q.put(Adopt(run["execution_id"], recovering=True, attempts=attempts))
        if isinstance(self.executor, RemoteAdopter):
            self.executor.recovered()
        # After the Adopts: an adopted attempt that ends at once reports to a run already loaded.
        for exec_id, pid, token in survivors:
            if not self.executor.adopt(exec_id, pid, token):
                # It ended between the check and the adoption: read the keeper's record as the watcher would.
                self._q.put(self._late_exit(exec_id, pid, token))

    def _inject_fault(self, path: str) -> None:
        """The test-only fault (FAULT_FILE_ENV): a file saying `stall` holds the loop while it exists (a stuck
        thread that keeps its lock); any other file makes the pass raise."""
        with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
            if f.read().strip() == "stall":
                while os.path.exists(path) and not self._stopping.wait(0.05):
                    pass
                return
        raise SchedulerFault(f"injected fault: {path} exists")

    def _read_exit(self, pid: int, proc_start: str) -> ExitRecord | None:
        return read_exit(self.keeper_dir, pid, proc_start) if self.keeper_dir is not None else None

    def _late_exit(self, exec_id: str, pid: int, token: str) -> Exited:
        record = self._read_exit(pid, token)
        if record is None:
            return Exited(exec_id, None, int(self.clock()), LOST_MESSAGE)
        return Exited(exec_id, record.exit_code, record.at_ms)

    def _recover_attempts(
        self,
    ) -> tuple[dict[str, Recovered], list[tuple[str, int, str]], list[dict[str, Any]]]:
        """What became of the RUNNING attempts of the previous server process (ADR 0005): those still
        running (same pid and start time) are adopted; those that ended have the keeper's record of their
        exit; the rest are lost. An attempt whose pid was never committed (a crash between its spawn and the
        commit of its "started" event) is found by the task-run id in its environment: its one live process
        group is adopted like any survivor; anything less certain (several groups, no keeper) is killed.

        An attempt on a Celery worker (`executor = celery`, ADR 0006) has no local process to look for: it is
        returned in the third list for the remote executor to adopt (its worker's heartbeats and buffered
        finish report decide), or recorded lost when this server has no broker configured."""
        with self.db.read() as conn:
            all_rows = rq.running_task_runs(conn)
        remote_rows = [r for r in all_rows if r.get("executor") == REMOTE_EXECUTOR]
        rows = [r for r in all_rows if r.get("executor") != REMOTE_EXECUTOR]
        attempts: dict[str, Recovered] = {}
        remote: list[dict[str, Any]] = []
        for row in remote_rows:
            if row["exit_code"] is not None:  # its worker's finish report was acknowledged, the exit not applied
                outputs = json.loads(row["exit_outputs"]) if row.get("exit_outputs") else None
                attempts[row["execution_id"]] = Recovered(running=False, exit_code=row["exit_code"], outputs=outputs)
            elif isinstance(self.executor, RemoteAdopter):
                attempts[row["execution_id"]] = Recovered(running=True)
                remote.append(row)
        survivors: list[tuple[str, int, str]] = []
        journal = spawns.read(self.spawn_journal) if self.spawn_journal is not None else {}
        unknown: set[str] = set()
        keep: set[tuple[int, str]] = set()  # the processes whose keeper records stay
        for row in rows:
            exec_id, pid, token = row["execution_id"], row["pid"], row["proc_start"]
            if not pid or not token:  # spawned, its pid not committed when the server died: in the spawn
                # journal (executors/spawns.py), or found by the keeper among the dead server's orphans
                marked = journal.get(exec_id)
                if marked is None and self.keeper_dir is not None:
                    marked = read_identity(self.keeper_dir, exec_id)
                if marked is not None:
                    pid, token = marked
            if pid and token:
                keep.add((pid, token))
            if not pid or not token:
                unknown.add(exec_id)
            elif is_same_process_alive(pid, token):
                if self.keeper_dir is None:  # nobody will learn how it ends: stop it, record it lost (retried)
                    log.warning("killing orphaned task process group %s left by a previous server process", pid)
                    kill_process_group(pid, self.kill_grace)
                    continue
                attempts[exec_id] = Recovered(running=True)
                survivors.append((exec_id, pid, token))
            elif (record := self._read_exit(pid, token)) is not None:
                attempts[exec_id] = Recovered(running=False, exit_code=record.exit_code, at_ms=record.at_ms)
        if self.keeper_dir is not None:
            prune_exits(self.keeper_dir, keep)
            prune_identities(self.keeper_dir, {r["execution_id"] for r in rows})
        if unknown:
            for exec_id, pgids in find_process_groups_by_env("TRIGFLOW_TASK_EXECUTION_ID", unknown).items():
                # The attempt's leader leads its own group (one session per attempt, ADR 0002).
                leaders = [(g, t) for g in sorted(pgids) if (t := read_proc_start(g)) is not None]
                if self.keeper_dir is not None and len(leaders) == 1 and len(pgids) == 1:
                    attempts[exec_id] = Recovered(running=True)
                    survivors.append((exec_id, *leaders[0]))
                    if self.spawn_journal is not None:  # so the next restart finds it even once it has ended
                        spawns.append(self.spawn_journal, exec_id, *leaders[0])
                    continue
                for pgid in sorted(pgids):
                    log.warning("killing task process group %s: its start was never recorded", pgid)
                    kill_process_group(pgid, self.kill_grace)
        return attempts, survivors, remote

    # --- entry points (any thread) ----------------------------------------------------------

    def run_created(self, run_id: str) -> None:
        self._q.put(Adopt(run_id))

    def _scanned(self) -> None:
        """A file-arrival scan finished (called on the scanner thread): wake the loop to use it."""
        self._q.put(_SCANNED)

    def triggers_changed(self) -> None:
        """A workflow's triggers were saved: re-arm them (on the scheduler thread)."""
        self._q.put(_RELOAD)

    def wake(self) -> None:
        """Re-dispatch waiting tasks (a resource group's capacity changed)."""
        self._q.put(Wake())

    def kill(self, run_ids: list[str], timeout: float = 30.0) -> list[KillResult]:
        """Kill runs synchronously: returns once their states are committed (API answers per run)."""
        if not self.leader.held:
            return self._forward_kill(run_ids, timeout)
        fut: Future[list[KillResult]] = Future()
        self._q.put(Kill(tuple(run_ids), fut))
        return fut.result(timeout=timeout)

    def _forward_kill(self, run_ids: list[str], timeout: float) -> list[KillResult]:
        """On a standby: only the active scheduler can stop processes, so the kill is handed to it through
        the database (it claims requests on every fallback tick) and this waits for its answer."""
        request_id = ids.new_uuid()
        with self.db.write() as conn:
            kq.insert(conn, request_id, run_ids, self.clock())
        deadline = time.monotonic() + timeout
        pause = 0.01
        while True:
            with self.db.read() as conn:
                row = kq.get(conn, request_id)
            if row is not None and row["done_ms"] is not None:
                break
            if time.monotonic() >= deadline or self._stopping.wait(pause):
                with self.db.write() as conn:
                    kq.delete(conn, request_id)
                raise FailedOperation(
                    f"no active scheduler answered the kill within {timeout:g} s (this process is a standby);"
                    " the runs may still be killed: check their state"
                )
            pause = min(pause * 2, 0.1)
        with self.db.write() as conn:
            kq.delete(conn, request_id)
        answer = row["answer"] or {}
        if "error" in answer:
            raise FailedOperation(f"the active scheduler could not kill the runs: {answer['error']}")
        return [KillResult(run_id, bool(ok), message) for run_id, ok, message in answer["results"]]

    def _on_executor_event(self, ev: ExecutorEvent) -> None:
        if ev.kind == "started":  # asynchronous: a remote attempt a worker took (base.py EventCallback)
            self._q.put(Started(ev.attempt_id, None, None, ev.at_ms, remote=True))
        elif ev.kind == "exited":
            self._q.put(Exited(ev.attempt_id, ev.exit_code, ev.at_ms, ev.message, ev.outputs))
        elif ev.kind == "lost":
            self._q.put(Exited(ev.attempt_id, None, ev.at_ms, ev.message or "process lost"))

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        triggers = self.triggers
        while True:
            timeout = self.tick
            deadline = self.execution.next_deadline()
            if triggers is not None:
                fire = triggers.next_deadline()
                deadline = fire if deadline is None or (fire is not None and fire < deadline) else deadline
            if deadline is not None:
                timeout = min(timeout, max(0.0, (deadline - self.clock()) / 1000))
            try:
                first = self._q.get(timeout=timeout)
            except queue.Empty:
                first = None
            batch: list[Message] = []
            stop = False
            item = first
            reload = False
            while True:
                if item is _STOP:
                    stop = True
                elif item is _RELOAD:
                    reload = True
                elif item is not None and item is not _SCANNED:
                    batch.append(item)  # type: ignore[arg-type]
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            now = self.last_tick_ms = self.clock()
            if self._fault_file is not None and os.path.exists(self._fault_file):
                self._inject_fault(self._fault_file)
            if triggers is not None:
                if reload:
                    self._guarded("reloading triggers", triggers.reload, now)
                fired = self._guarded("firing due triggers", triggers.fire_due, now, FIRE_CHUNK)
                batch.extend(Adopt(run_id) for run_id in fired or ())
            timer_due = deadline is not None and deadline <= now
            if not stop and now - self._last_scan_ms >= self.tick * 1000:
                # Fallback scan, at most once a tick however busy: runs and triggers saved by other
                # processes (standbys serving the API) that nobody woke us for.
                self._last_scan_ms = now
                batch.extend(self._missed_runs())
                batch.extend(self._forwarded_kills(now))
                if triggers is not None:
                    self._guarded("re-reading changed triggers", triggers.refresh_if_changed, now)
            if batch or timer_due:
                self._run_batch(batch)
            if stop:
                return

    def _guarded(self, what: str, step: Callable[..., Any], *args: Any) -> Any:
        """One trigger step of a loop pass: a failure (the database went away, a bug) is logged and the
        pass goes on with the runs; the step is tried again on the next pass. Triggers isolate each
        trigger inside a step, so this is the second line of defence."""
        try:
            return step(*args)
        except Exception:
            log.exception("scheduler: %s failed; retrying on the next pass", what)
            return None

    def _run_batch(self, batch: list[Message]) -> None:
        try:
            eff = self.execution.process(batch)
        except Exception:
            log.exception("scheduler batch of %d messages failed; rebuilding from the database", len(batch))
            self._recover_from_failed_batch(batch)
            return
        self._perform(eff)  # launches first: the exits' zombies can wait, the next tasks cannot
        self._recorded(batch)

    def _recorded(self, batch: list[Message]) -> None:
        """The batch's exits are committed (or dropped for good): the executor may forget those processes."""
        exits = [m.exec_id for m in batch if isinstance(m, Exited)]
        if exits:
            self.executor.recorded(exits)

    def _recover_from_failed_batch(self, batch: list[Message]) -> None:
        """The failed transaction rolled back, but the batch may have moved the in-memory state on:
        rebuild it from the database, then replay the messages one at a time, dropping only the one
        that fails again (a Kill gets its exception as the answer). A run that cannot even be adopted
        because of its data is quarantined (`_quarantine`), so it does not fail every later batch."""
        recovering = {m.run_id for m in batch if isinstance(m, Adopt) and m.recovering}
        self._rebuild(recovering)
        for msg in batch:
            try:
                eff = self.execution.process([msg])
            except Exception as e:
                log.exception("dropping scheduler message %r after it failed twice", msg)
                if isinstance(msg, Kill):
                    msg.reply.set_exception(RuntimeError("kill failed; see the server log"))
                if isinstance(msg, Adopt) and _is_data_error(e):
                    self._quarantine(msg.run_id, e)
                self._recorded([msg])  # never recorded: keeping its zombie would only leak it
                self._rebuild(recovering)
                continue
            self._perform(eff)
            self._recorded([msg])

    def _quarantine(self, run_id: str, error: Exception) -> None:
        """Mark a run this scheduler cannot load FAILED, with the reason, and never adopt it again here.

        Only for errors of the run's own data (a state or spec no version wrote): a database error is
        transient and the run is re-adopted by the fallback tick, as before."""
        self._quarantined.add(run_id)
        reason = f"{SCHEDULER_ERROR}: the scheduler cannot process this run ({type(error).__name__}: {error})"[:1000]
        log.error("run %s quarantined: %s", run_id, reason)
        now = self.clock()
        try:
            with self.db.write() as conn:
                rq.update_run(conn, run_id, {"state": RunState.FAILED.value, "error_code_str": reason,
                                             "end_ms": now, "update_ms": now})  # fmt: skip
        except Exception:
            log.exception("marking run %s FAILED failed; it stays quarantined in this process", run_id)

    def _rebuild(self, recovering: set[str] | frozenset[str] = frozenset()) -> None:
        self.execution.reset()
        try:
            with self.db.read() as conn:
                live = rq.runs_in_states(conn, [RunState.QUEUED.value, RunState.RUNNING.value])
            adopt = [Adopt(r["execution_id"], recovering=r["execution_id"] in recovering)
                     for r in live if r["execution_id"] not in self._quarantined]  # fmt: skip
            self._perform(self.execution.process(adopt))  # type: ignore[arg-type]
        except Exception:
            log.exception("rebuilding scheduler state failed; the fallback tick will retry")

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
        known = self.execution.live_runs() | self._quarantined
        return [Adopt(r["execution_id"]) for r in live if r["execution_id"] not in known]

    def _forwarded_kills(self, now: int) -> list[Message]:
        """Kill requests standbys left in the database (see `_forward_kill`); answered when processed."""
        try:
            with self.db.read() as conn:
                if not kq.any_to_handle(conn, now - STALE_KILL_REQUEST_MS):
                    return []  # the usual case: no write transaction every tick
            with self.db.write() as conn:
                kq.delete_stale(conn, now - STALE_KILL_REQUEST_MS)
                rows = kq.claim_pending(conn, now)
        except Exception:
            log.exception("reading forwarded kill requests failed")
            return []
        kills: list[Message] = []
        for row in rows:
            fut: Future[list[KillResult]] = Future()
            fut.add_done_callback(functools.partial(self._answer_forwarded_kill, row["request_id"]))
            kills.append(Kill(tuple(row["run_ids"]), fut))
        return kills

    def _answer_forwarded_kill(self, request_id: str, fut: Future[list[KillResult]]) -> None:
        try:
            answer: dict[str, Any] = {"results": [[r.run_id, r.ok, r.message] for r in fut.result()]}
        except Exception as e:  # the batch failed twice: the standby answers FailedOperation
            answer = {"error": str(e)}
        try:
            with self.db.write() as conn:
                kq.finish(conn, request_id, answer, self.clock())
        except Exception:
            log.exception("answering forwarded kill request %s failed", request_id)
