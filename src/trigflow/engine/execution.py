"""Run execution: applies executor events, user kills and timers to runs, through the state machine, in batches.

The scheduler thread feeds messages here; each batch is one write transaction, after which the
scheduler performs the returned effects (start processes, kill process groups, answer waiting API
calls). Processes are started only *after* the transaction that marked them RUNNING has committed:
a crash in between leaves a RUNNING task run without a pid, which recovery resolves as lost, instead
of a process the database never heard of running twice.

What this class keeps in memory, and why it cannot drift from the database: it is the only writer of
run and task-run states, and every counter below is changed in the same batch (transaction) as the
state change it mirrors.
- the live DAG of every non-terminal run (`RunGraph`), so a finished task costs O(its downstream);
- workflow concurrency (decisions.md Q-C1..Q-C4): admitted runs per workflow and a FIFO of queued ones;
- resource-group slots: RUNNING task runs per group, and a priority queue of ready task runs per group
  (RunPriorityType 4 > 5 > 6, FIFO within a priority);
- timers: retry waits, execution and wait timeouts, the 48 h queue limit. No waiting state exists
  without either an owner (an upstream, a slot) or a deadline.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from trigflow.domain import ids
from trigflow.domain.concurrency import Verdict, WorkflowQueue
from trigflow.domain.datasources import service_ids
from trigflow.domain.errors import ApiError, InternalError, ResourceNotFound
from trigflow.domain.graph import Change, Node, RunGraph
from trigflow.domain.slots import GroupQueues
from trigflow.domain.states import (
    RUN_TERMINAL,
    RunEvent,
    RunState,
    TaskEvent,
    TaskState,
    retry_due,
    retry_notice,
    run_transition,
)
from trigflow.engine.execution_messages import (
    Adopt,
    Effects,
    Exited,
    KillResult,
    LaunchFailed,
    Message,
    Started,
    Wake,
)
from trigflow.service.attempt_params import DEFAULT_LIMITS, DEFAULT_TZ, ParameterRefused, ParamLimits
from trigflow.service.attempts import Launcher, attempt_name, outputs_of, read_outputs, resolve_parameters
from trigflow.service.branch_decisions import BranchUndecided, choose
from trigflow.service.common import Clock
from trigflow.service.datasources import connection_of
from trigflow.service.loops import LoopRefused, LoopRun, prepare
from trigflow.store import catalog as cq
from trigflow.store import datasources as ds_store
from trigflow.store import runs as rq
from trigflow.store.engine import Database
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import ControlNode, Runtime, TaskType
from trigflow.tasktypes.branch import BranchNode
from trigflow.tasktypes.foreach import ForEachNode, iteration_params
from trigflow.tasktypes.process import LaunchedTask
from trigflow.tasktypes.shell import SHELL

log = logging.getLogger(__name__)

USER_KILLED = "UserKilled"
EXECUTOR_LOST = "ExecutorLost"
UPSTREAM_FAILED = "UpstreamFailed"
EXECUTION_TIMEOUT = "ExecutionTimeout"
WAIT_TIMEOUT = "WaitTimeout"
QUEUE_TIMEOUT = "QueueTimeout"
CONCURRENCY_SKIPPED = "ConcurrencyLimitSkipped"
WAITING_RESOURCE = "WaitingExecutionResource"
REMOTE_EXECUTOR = "celery"  # task_runs.executor of an attempt on a Celery worker (ADR 0006)
QUEUE_LIMIT_MS = 48 * 3600 * 1000  # WorkflowRunConfig: a queued run is skipped after 48 hours

_LAUNCH_COLUMNS = ("execution_id", "run_id", "project_id", "workflow_id", "task_id", "task_version_id", "spec",
                   "run_params", "retry_times", "rerun_times", "create_ms", "start_ms", "end_ms",
                   "resource_group_id", "schedule_ms", "timezone", "task_name")  # fmt: skip


# --- in-memory bookkeeping --------------------------------------------------------------------


@dataclass
class RunInfo:
    run_id: str
    workflow_id: str
    state: RunState
    admitted: bool
    create_ms: int
    nested: bool  # child runs bypass the child workflow's concurrency limit (Q-N2)
    waiting_resource: bool = False


@dataclass
class TaskInfo:
    """What dispatch and the timers need about one task run, loaded once per run."""

    row: dict[str, Any]
    group: str
    priority: int
    max_retry: int
    retry_wait_ms: int
    exec_ttl_ms: int  # <= 0: none
    wait_ttl_ms: int  # <= 0: none
    dry_run: bool
    retry_times: int
    ever_started: bool
    outputs: dict[str, str] | None = None  # output parameters once it succeeded (Q-P2)
    task_type: TaskType = SHELL  # resolved once when the task run is loaded (trigflow.tasktypes)
    child_run: str | None = None  # a child-run node (RunWorkflow): the nested run of the current attempt

    @property
    def holds_slot(self) -> bool:
        """Only processes take resource-group slots (TaskType.holds_slot)."""
        return self.task_type.holds_slot


DEFAULT_GROUP = "__default__"
MERGE_FAILED = "MergeConditionNotMet"

# (conn, parent run row, RunWorkflow/For-each task-run row, now, a For-each iteration's parameters or None)
# -> the new child run's id; raises ApiError.
ChildRunFactory = Callable[[sa.Connection, Mapping[str, Any], Mapping[str, Any], int, Mapping[str, str] | None], str]


def exit_event(code: int | None, message: str | None) -> tuple[TaskEvent, str | None]:
    """The task event and error text of an attempt's end: exit code 0 succeeds; None is a lost process;
    a negative code is the signal that ended it (the executor's message says why when it killed it)."""
    if code == 0:
        return TaskEvent.EXIT_OK, None
    if code is None:
        return TaskEvent.LOST, f"{EXECUTOR_LOST}: {message or 'process lost'}"
    if code < 0:
        return TaskEvent.EXIT_FAIL, message or f"killed by signal {-code}"
    return TaskEvent.EXIT_FAIL, f"exit code {code}"


class Execution:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        stamps: ids.StampAllocator,
        runs_dir: Path,
        *,
        minute_ms: int = 60_000,
        group_slots: Callable[[str], int | None] = lambda _group: None,
        create_child: ChildRunFactory | None = None,
        param_limits: ParamLimits = DEFAULT_LIMITS,
        task_env: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.stamps = stamps
        self.runs_dir = runs_dir
        self.minute_ms = minute_ms
        self.group_slots = group_slots  # None = unlimited
        self.create_child = create_child
        self.child_of: dict[str, str] = {}  # nested run id -> the RunWorkflow / For-each task run waiting on it
        self.loops: dict[str, LoopRun] = {}  # RUNNING For-each task runs (service/loops.py)
        self.graphs: dict[str, RunGraph] = {}
        self.runs: dict[str, RunInfo] = {}
        self.tasks: dict[str, TaskInfo] = {}  # by task-run id, live runs only
        self.exec_run: dict[str, str] = {}  # task-run id -> run id, live runs only
        self.workflows: dict[str, WorkflowQueue] = {}
        self.slots = GroupQueues()
        self.timers: list[tuple[int, int, str, str, int]] = []  # (due_ms, seq, kind, key, attempt)
        self._seq = itertools.count()
        self._dirty: dict[str, dict[str, Any]] = {}  # task-run updates of the current batch, merged per row
        self._finished_workflows: dict[str, str] = {}  # run id -> workflow id, runs finished in this batch
        self._retouch: set[str] = set()  # runs changed during dispatch (dry runs) that need another pass
        self.param_limits = param_limits
        self.launcher = Launcher(runs_dir.parent / "scripts", task_env=task_env, limits=param_limits)
        # Set by the composition root when a broker is configured (ADR 0006): True for a resource group whose
        # attempts run on Celery workers. None: every attempt is local and dispatch does nothing extra.
        self.remote_group: Callable[[str], bool] | None = None

    # --- public -----------------------------------------------------------------------------

    def live_runs(self) -> set[str]:
        return set(self.graphs)

    def reset(self) -> None:
        """Forget everything held in memory; the caller re-adopts live runs from the database.

        Used after a batch whose transaction failed: the batch may have advanced the in-memory graphs
        before the rollback, and the database is the truth to rebuild from.
        """
        self.graphs.clear()
        self.runs.clear()
        self.tasks.clear()
        self.exec_run.clear()
        self.workflows.clear()
        self.slots.clear()
        self.timers.clear()
        self._dirty.clear()
        self._finished_workflows.clear()
        self._retouch.clear()
        self.child_of.clear()
        self.loops.clear()

    def next_deadline(self) -> int | None:
        return self.timers[0][0] if self.timers else None

    def slots_in_use(self) -> dict[str, int]:
        return self.slots.in_use()

    def group_load(self) -> tuple[dict[str, int], dict[str, int]]:
        """(slots held, task runs waiting for a slot) per resource group, safe to call from another thread
        (GroupQueues.snapshot): the metrics sampler reads it about once a second, off the hot path."""
        used, queued = self.slots.snapshot()
        tasks = self.tasks.copy()
        waiting: dict[str, int] = {}
        for exec_id in queued:
            info = tasks.get(exec_id)
            if info is not None:
                waiting[info.group] = waiting.get(info.group, 0) + 1
        return used, waiting

    def process(self, batch: list[Message]) -> Effects:
        eff = Effects()
        now = self.clock()
        touched: set[str] = set()
        with self.db.write() as conn:
            self._fire_timers(conn, now, touched, eff)
            for msg in batch:
                if isinstance(msg, Adopt):
                    self._adopt(conn, msg, now, touched)
                elif isinstance(msg, Started):
                    self._started(msg)
                elif isinstance(msg, Exited):
                    self._exited(conn, msg, touched, eff)
                elif isinstance(msg, LaunchFailed):
                    self._event(conn, msg.exec_id, TaskEvent.LAUNCH_FAIL, msg.at_ms, touched, eff, error=msg.message)
                elif isinstance(msg, Wake):
                    pass
                else:
                    eff.replies.append((msg.reply, self._kill(conn, msg.run_ids, now, eff)))
            self._settle(conn, now, touched, eff)
            self._flush(conn)
        return eff

    # --- handlers ---------------------------------------------------------------------------

    def _adopt(self, conn: sa.Connection, msg: Adopt, now: int, touched: set[str]) -> None:
        if msg.run_id in self.graphs:
            return
        run = rq.get_run(conn, msg.run_id)
        if run is None or run["state"] in RUN_TERMINAL:
            return
        rows = rq.task_runs_of(conn, msg.run_id)
        outputs = rq.outputs_of_run(conn, msg.run_id)
        ended: list[tuple[str, RunState]] = []
        loops: list[Mapping[str, Any]] = []
        nodes = []
        recovered = msg.attempts or {}
        for r in rows:
            info = self._task_info(r)
            node = Node(r["execution_id"], r["task_id"], TaskState(r["state"]), tuple(r["depend_on"]), r["policy"],
                        r["deps_ms"] is not None)  # fmt: skip
            if node.state == TaskState.PENDING and info.retry_times > 0 and r["end_ms"] is not None:
                node.not_before = r["end_ms"] + info.retry_wait_ms  # a retry wait survives a restart
                self._timer(node.not_before, "retry", node.exec_id)
            if node.state == TaskState.PENDING and info.wait_ttl_ms > 0 and not info.ever_started:
                self._timer(r["create_ms"] + info.wait_ttl_ms, "wait_ttl", node.exec_id)
            runtime = info.task_type.runtime
            if runtime is Runtime.CONTROL:
                assert isinstance(info.task_type, ControlNode)
                node.control = info.task_type.decision(r["spec"])
            elif runtime is Runtime.BRANCH:  # decided when ready (_decide_branch); its targets wait for it
                assert isinstance(info.task_type, BranchNode)
                node.branch = info.task_type.targets(r["spec"])
            if node.state == TaskState.RUNNING and isinstance(info.task_type, ForEachNode):
                loops.append(r)  # rebuilt once the run's outputs are known (_adopt_loop)
            elif node.state == TaskState.RUNNING and runtime is Runtime.CHILD_RUN:
                child = rq.latest_child_run(conn, r["execution_id"])
                if child is not None:
                    info.child_run = child["execution_id"]
                    self.child_of[child["execution_id"]] = r["execution_id"]
                    if child["state"] in RUN_TERMINAL:  # it ended while nobody listened: settle the node now
                        ended.append((child["execution_id"], RunState(child["state"])))
            if node.state == TaskState.RUNNING and info.holds_slot:
                self.slots.take(info.group)
                adopted = r["execution_id"] in recovered and recovered[r["execution_id"]].running
                if info.exec_ttl_ms > 0 and r["issue_ms"] is not None and (not msg.recovering or adopted):
                    # Measured from this attempt's dispatch, as when it was armed (start_ms may be unset
                    # or belong to the previous attempt of a retried task).
                    self._timer(r["issue_ms"] + info.exec_ttl_ms, "exec_ttl", node.exec_id, info.retry_times)
            if r["execution_id"] in outputs:
                info.outputs = json.loads(outputs[r["execution_id"]])
            self.tasks[r["execution_id"]] = info
            self.exec_run[r["execution_id"]] = msg.run_id
            nodes.append(node)
        graph = RunGraph(msg.run_id, nodes)
        self.graphs[msg.run_id] = graph
        info_run = RunInfo(
            msg.run_id,
            run["workflow_id"],
            RunState(run["state"]),
            admitted=run["pending_start_ms"] is not None,
            create_ms=run["create_ms"],
            nested=run["parent_run_id"] is not None,
            waiting_resource=run["error_code_str"] == WAITING_RESOURCE,
        )
        self.runs[msg.run_id] = info_run
        slots = self._workflow_slots(conn, run)
        if info_run.admitted:
            slots.holds(msg.run_id, nested=info_run.nested)
        else:
            slots.wait(msg.run_id)
            self._timer(run["queue_start_ms"] + QUEUE_LIMIT_MS, "queue", msg.run_id)
        touched.add(msg.run_id)
        self._persist(conn, graph.initial_changes(), now)
        if msg.recovering:
            for node in list(graph.nodes.values()):
                if node.state != TaskState.RUNNING or not self.tasks[node.exec_id].holds_slot:
                    continue
                found = recovered.get(node.exec_id)
                if found is not None and found.running:
                    continue  # adopted: its exit arrives from the executor like any other
                if found is not None and found.exit_code is not None:  # it ended while no server ran
                    event, error = exit_event(found.exit_code, None)
                    at_ms = found.at_ms if found.at_ms is not None else now
                    self._fail_or_retry(conn, graph, node.exec_id, event, at_ms, touched,
                                        exit_code=found.exit_code, error=error, outputs=found.outputs)  # fmt: skip
                    continue
                error = f"{EXECUTOR_LOST}: the trigflow server stopped while this task was running"
                self._fail_or_retry(conn, graph, node.exec_id, TaskEvent.LOST, now, touched, error=error)
        for child_id, state in ended:
            self._child_finished(conn, child_id, state, now)
        for loop_row in loops:
            self._adopt_loop(conn, graph, loop_row, now)

    def _workflow_slots(self, conn: sa.Connection, run: Mapping[str, Any]) -> WorkflowQueue:
        slots = self.workflows.get(run["workflow_id"])
        if slots is None:
            wf = cq.get_workflow(conn, run["project_id"], run["workflow_id"])
            config = (wf or {}).get("run_config") or {}
            slots = WorkflowQueue(
                max_concurrent=int(config.get("MaxConcurrentNum") or 1), queuing=int(config.get("QueuingMode", 1)) == 1
            )
            self.workflows[run["workflow_id"]] = slots
        return slots

    def _task_info(self, r: Mapping[str, Any]) -> TaskInfo:
        spec = r["spec"]
        minute = self.minute_ms
        t = run_spec.timing(spec)
        return TaskInfo(
            row={k: r[k] for k in _LAUNCH_COLUMNS},
            group=r["resource_group_id"] or DEFAULT_GROUP,
            priority=t.priority,
            max_retry=t.max_retry,
            retry_wait_ms=t.retry_wait_minutes * minute,
            exec_ttl_ms=t.exec_ttl_minutes * minute,
            wait_ttl_ms=t.wait_ttl_minutes * minute,
            dry_run=t.dry_run,
            retry_times=int(r["retry_times"]),
            ever_started=r["start_ms"] is not None,
            task_type=TASK_TYPES.of_spec(spec),
        )

    def _started(self, msg: Started) -> None:
        if msg.remote:
            graph = self._graph_of(msg.exec_id)
            if graph is not None and graph.by_exec[msg.exec_id].state == TaskState.RUNNING:
                self._update(msg.exec_id, {"start_ms": msg.at_ms})  # StartTime: when a worker took it
            return
        if msg.exec_id in self.tasks:
            self.tasks[msg.exec_id].ever_started = True
        self._update(msg.exec_id, {"pid": msg.pid, "proc_start": msg.proc_start, "start_ms": msg.at_ms})

    def _exited(self, conn: sa.Connection, msg: Exited, touched: set[str], eff: Effects) -> None:
        event, error = exit_event(msg.exit_code, msg.message)
        self._event(conn, msg.exec_id, event, msg.at_ms, touched, eff, exit_code=msg.exit_code, error=error,
                    outputs=msg.outputs)  # fmt: skip

    def _event(
        self,
        conn: sa.Connection,
        exec_id: str,
        event: TaskEvent,
        at_ms: int,
        touched: set[str],
        eff: Effects,
        *,
        exit_code: int | None = None,
        error: str | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> None:
        graph = self._graph_of(exec_id)
        if graph is None:
            # The run is no longer live (killed): record how the process ended, change no state.
            if exit_code is not None:
                rq.record_late_exit(conn, exec_id, exit_code, at_ms)
            return
        node = graph.by_exec[exec_id]
        attempt_events = (TaskEvent.EXIT_OK, TaskEvent.EXIT_FAIL, TaskEvent.LOST, TaskEvent.LAUNCH_FAIL)
        if node.state != TaskState.RUNNING and event in attempt_events:
            # Late exit of an attempt that already ended (timed out or killed): keep its exit code only.
            if exit_code is not None:
                rq.record_late_exit(conn, exec_id, exit_code, at_ms)
            return
        self._fail_or_retry(conn, graph, exec_id, event, at_ms, touched, exit_code=exit_code, error=error,
                            outputs=outputs)  # fmt: skip

    def _fail_or_retry(
        self,
        conn: sa.Connection,
        graph: RunGraph,
        exec_id: str,
        event: TaskEvent,
        at_ms: int,
        touched: set[str],
        *,
        exit_code: int | None = None,
        error: str | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> None:
        info = self.tasks[exec_id]
        was_running = graph.by_exec[exec_id].state == TaskState.RUNNING
        if retry_due(event, info.retry_times, info.max_retry):
            changes = graph.apply(exec_id, TaskEvent.RETRY)
            if changes:
                info.retry_times += 1
                node = graph.by_exec[exec_id]
                node.not_before = at_ms + info.retry_wait_ms
                self._timer(node.not_before, "retry", exec_id)
                # Q-T4: PENDING, with the failure and when the retry is due (a 20-minute wait must not look stuck)
                notice = retry_notice(error, info.retry_times, info.max_retry, node.not_before,
                                      info.row["timezone"] or DEFAULT_TZ)  # fmt: skip
                self._update(exec_id, {"state": TaskState.PENDING.value, "retry_times": info.retry_times,
                                       "end_ms": at_ms, "exit_code": exit_code, "error_code_str": notice,
                                       "update_ms": at_ms})  # fmt: skip
        else:
            changes = graph.apply(exec_id, event)
            if changes and event == TaskEvent.EXIT_OK:
                self._collect_outputs(conn, graph, exec_id, at_ms, outputs)
            self._persist(conn, changes, at_ms, exit_code=exit_code, error=error)
        if changes:
            touched.add(graph.run_id)
            if was_running:
                self._release_slot(exec_id)

    def _collect_outputs(
        self, conn: sa.Connection, graph: RunGraph, exec_id: str, now: int, reported: Mapping[str, str] | None
    ) -> None:
        """The output parameters of a succeeded task run: those its exit fact carries (read by the executor
        where it ran, on any host); only an exit this server process did not observe (a local attempt that
        ended while no server ran) is read from this host's disk, where it ran."""
        info = self.tasks[exec_id]
        declared = run_spec.outputs(info.row["spec"])
        if not declared:
            return
        if reported is not None:
            values = outputs_of(info.row, reported, declared)
        else:
            attempt = attempt_name(info.row, info.retry_times)
            values = read_outputs(info.row, self.runs_dir / graph.run_id, attempt, declared)
        info.outputs = values
        rq.save_outputs(conn, exec_id, graph.run_id, info.row["task_id"], json.dumps(values, ensure_ascii=False), now)

    def _kill(self, conn: sa.Connection, run_ids: tuple[str, ...], now: int, eff: Effects) -> list[KillResult]:
        results = []
        for run_id in run_ids:
            if run_id not in self.graphs:  # written by another process and not adopted yet: adopt, then kill
                self._adopt(conn, Adopt(run_id), now, self._retouch)
            graph = self.graphs.get(run_id)
            if graph is None:
                run = rq.get_run(conn, run_id)
                state = run["state"] if run else "unknown"
                results.append(KillResult(run_id, False, f"workflow run {run_id} is already {state}"))
                continue
            for ch in graph.kill_all():
                self._persist(conn, [ch], now, error=USER_KILLED)
                if ch.before == TaskState.RUNNING:
                    self._stop_attempt(conn, ch.exec_id, now, eff)
            self._finish_run(conn, run_id, RunEvent.KILL, now, USER_KILLED, eff)
            results.append(KillResult(run_id, True, None))
        return results

    def _stop_attempt(self, conn: sa.Connection, exec_id: str, now: int, eff: Effects) -> None:
        """The attempt of a task run that just left RUNNING: free its slot, stop its process group or,
        for a RunWorkflow node, kill its nested run (killing a parent kills its children, Q-N1)."""
        info = self.tasks[exec_id]
        self._release_slot(exec_id)
        if info.task_type.runtime is not Runtime.CHILD_RUN:
            eff.kills.append(exec_id)
        elif exec_id in self.loops:  # a For-each node: every running iteration (none starts after)
            for child in self.loops.pop(exec_id).running_children():
                if child in self.graphs:
                    self._kill(conn, (child,), now, eff)
        elif info.child_run is not None and info.child_run in self.graphs:
            self._kill(conn, (info.child_run,), now, eff)

    # --- timers -----------------------------------------------------------------------------

    def _timer(self, due_ms: int, kind: str, key: str, attempt: int = 0) -> None:
        heapq.heappush(self.timers, (due_ms, next(self._seq), kind, key, attempt))

    def _fire_timers(self, conn: sa.Connection, now: int, touched: set[str], eff: Effects) -> None:
        """Due timers are checked against current state, so a stale timer (the task moved on) is a no-op."""
        while self.timers and self.timers[0][0] <= now:
            _, _, kind, key, attempt = heapq.heappop(self.timers)
            if kind == "queue":
                run = self.runs.get(key)
                if run is not None and not run.admitted:
                    self._skip_run(conn, key, now, QUEUE_TIMEOUT, eff)
                continue
            graph = self._graph_of(key)
            if graph is None:
                continue
            node, info = graph.by_exec[key], self.tasks[key]
            if kind == "retry":
                touched.add(graph.run_id)
            elif kind == "exec_ttl" and node.state == TaskState.RUNNING and attempt == info.retry_times:
                error = f"{EXECUTION_TIMEOUT}: ran longer than ExecutionTTLMinute"
                self._persist(conn, graph.apply(key, TaskEvent.TIMEOUT), now, error=error)
                self._stop_attempt(conn, key, now, eff)
                touched.add(graph.run_id)
            elif kind == "wait_ttl" and node.state == TaskState.PENDING and not info.ever_started:
                error = f"{WAIT_TIMEOUT}: waited longer than WaitExecutionTotalTTLMinute"
                self._unqueue(key)
                self._persist(conn, graph.apply(key, TaskEvent.WAIT_TIMEOUT), now, error=error)
                touched.add(graph.run_id)

    # --- admission, dispatch and roll-up ----------------------------------------------------

    def _settle(self, conn: sa.Connection, now: int, touched: set[str], eff: Effects) -> None:
        """Admit queued runs, dispatch what is ready, roll up finished runs — until nothing changes.

        Bounded: each pass either finishes runs, admits queued ones or starts tasks, all finite.
        """
        self._dispatch(conn, now, eff)  # slots freed by this batch's events serve other runs' waiting tasks
        work = set(touched) | self._retouch
        self._retouch = set()
        while work or self._finished_workflows:
            for workflow_id in sorted({self.runs[r].workflow_id for r in work if r in self.runs}):
                work |= self._admit(conn, workflow_id, now, eff)
            for run_id in sorted(work):
                info = self.runs.get(run_id)
                if info is not None and info.admitted:
                    self._enqueue_ready(conn, run_id, now)
            self._dispatch(conn, now, eff)
            # Runs changed while dispatching (dry runs, nested runs started) get another pass.
            work |= self._retouch
            next_work, self._retouch = self._retouch, set()
            for run_id in sorted(work):
                if run_id in self.graphs:
                    self._rollup(conn, run_id, now, eff)
            finished, self._finished_workflows = self._finished_workflows, {}
            for workflow_id in sorted(set(finished.values())):  # a finished run frees a concurrency slot
                next_work |= self._admit(conn, workflow_id, now, eff)
            next_work |= self._retouch  # parents of nested runs that just ended
            self._retouch = set()
            work = {r for r in next_work if r in self.graphs}
        self._mark_waiting(conn, now)

    def _admit(self, conn: sa.Connection, workflow_id: str, now: int, eff: Effects) -> set[str]:
        """Admit queued runs of a workflow FIFO while it has free concurrency slots (Q-C1, Q-C2)."""
        slots = self.workflows.get(workflow_id)
        admitted: set[str] = set()
        if slots is None:
            return admitted

        def waiting_nested(run_id: str) -> bool | None:
            run = self.runs.get(run_id)
            return None if run is None or run.admitted else run.nested

        for run_id, verdict in slots.drain(waiting_nested):
            if verdict is Verdict.SKIP:
                self._skip_run(conn, run_id, now, CONCURRENCY_SKIPPED, eff)
                continue
            self.runs[run_id].admitted = True
            rq.update_run(conn, run_id, {"pending_start_ms": now, "update_ms": now})
            admitted.add(run_id)
        return admitted

    def _enqueue_ready(self, conn: sa.Connection, run_id: str, now: int) -> None:
        graph = self.graphs[run_id]
        for node in graph.ready(now):
            if self.slots.is_waiting(node.exec_id):
                continue
            info = self.tasks[node.exec_id]
            if info.task_type.runtime is Runtime.BRANCH:  # no slot, no process: it decides here and now
                if node.state == TaskState.PENDING:
                    self._decide_branch(conn, graph, node.exec_id, now)
                continue
            if not node.deps_met:
                node.deps_met = True
                self._update(node.exec_id, {"deps_ms": now})
            self.slots.push(node.exec_id, info.group, info.priority, now)

    def _unqueue(self, exec_id: str) -> None:
        self.slots.discard(exec_id)

    def _dispatch(self, conn: sa.Connection, now: int, eff: Effects) -> None:
        for exec_id in self.slots.startable(self.group_slots):
            graph = self._graph_of(exec_id)
            if graph is None or graph.by_exec[exec_id].state != TaskState.PENDING:
                continue
            self._start_task(conn, graph, exec_id, now, eff)

    def _start_task(self, conn: sa.Connection, graph: RunGraph, exec_id: str, now: int, eff: Effects) -> None:
        info = self.tasks[exec_id]
        graph.apply(exec_id, TaskEvent.DISPATCH)
        task_type = info.task_type
        if task_type.runtime is Runtime.CHILD_RUN:  # control nodes are never dispatched
            self._start_child_run(conn, graph, exec_id, now)
            return
        self.slots.take(info.group)
        row = info.row
        attempt = attempt_name(row, info.retry_times)
        run_dir = self.runs_dir / graph.run_id
        log_path = str(run_dir / f"{attempt}.log")
        values: dict[str, Any] = {
            "state": TaskState.RUNNING.value,
            "issue_ms": now,
            "job_id": self.stamps.job_id(now),
            "log_path": log_path,
            "end_ms": None,
            "exit_code": None,
            "error_code_str": None,  # a retry starting: its waiting message goes (the failed attempt has its log)
            "update_ms": now,
        }
        remote = False
        if self.remote_group is not None:
            # Recorded with RUNNING in this transaction, before the message is sent: a restart knows the
            # attempt runs remotely and never mistakes it for a local orphan (ADR 0006).
            remote = isinstance(task_type, LaunchedTask) and self.remote_group(info.group)
            values["executor"] = REMOTE_EXECUTOR if remote else None
            values["worker_id"] = None
            values["exit_outputs"] = None  # with exit_code: a durable finish report of this attempt only
        self._update(exec_id, values)
        self._start_run(conn, graph.run_id, now)
        if info.exec_ttl_ms > 0:
            self._timer(now + info.exec_ttl_ms, "exec_ttl", exec_id, info.retry_times)
        outputs_by_task = self._outputs_by_task(graph)
        if not isinstance(task_type, LaunchedTask):  # frozen by a server that knew a type this one does not
            error = f"LaunchFailed: task type {task_type.kind!r} is not known to this server; it was not run"
            self._fail_or_retry(conn, graph, exec_id, TaskEvent.LAUNCH_FAIL, now, self._retouch, error=error)
            return
        source = target = None
        if task_type.sources:
            try:  # looked up now, so an attempt runs with the data sources' current connections
                connections = {use.field: self._data_source(conn, row, use.field) for use in task_type.sources}
            except ApiError as e:
                error = f"DataSourceUnavailable: {e.message}"
                self._fail_or_retry(conn, graph, exec_id, TaskEvent.LAUNCH_FAIL, now, self._retouch, error=error)
                return
            source, target = connections.get("SourceServiceId"), connections.get("TargetServiceId")
        try:  # after the lookup: a SQL task's data values are checked for its data source's own dialect
            driver = source.get("driver") if source else None
            prepared = resolve_parameters(row, outputs_by_task, self.param_limits, task_type, driver)
        except ParameterRefused as e:  # too large, or a value that cannot be placed safely: never run it
            self._fail_or_retry(conn, graph, exec_id, TaskEvent.LAUNCH_FAIL, now, self._retouch, error=e.message)
            return
        self._update(exec_id, {"run_params": prepared.run_params})
        if info.dry_run:  # ScheduleType 1: marked successful without executing the code
            info.ever_started = True
            self._update(exec_id, {"start_ms": now})
            changes = graph.apply(exec_id, TaskEvent.EXIT_OK)
            self._persist(conn, changes, now, exit_code=None)
            self._release_slot(exec_id)
            self._retouch.add(graph.run_id)
            return
        launch = self.launcher.spec(row, run_dir, attempt, log_path, prepared, task_type, source, target)
        if remote:  # the attempt id is the Celery task id (ADR 0006)
            remote_id = f"{exec_id}.{info.retry_times}.{row['rerun_times']}"
            launch = dataclasses.replace(launch, resource_group=info.group, remote_task_id=remote_id)
        eff.launches.append(launch)

    def _outputs_by_task(self, graph: RunGraph) -> dict[str, dict[str, str]]:
        """The outputs of the run's succeeded task runs by task id (what ParamTaskInList reads, Q-P2)."""
        return {
            self.tasks[e].row["task_id"]: self.tasks[e].outputs or {}
            for e in graph.by_exec
            if self.tasks[e].outputs is not None
        }

    def _decide_branch(self, conn: sa.Connection, graph: RunGraph, exec_id: str, now: int) -> None:
        """A ready branch node evaluates its conditions and ends SUCCESS, skipping its unchosen targets (one
        change list, persisted in this batch, so a restart keeps the skips), or fails when a condition cannot be
        evaluated (docs/branch.md). Its chosen targets go into its TaskTypeExtensions."""
        info = self.tasks[exec_id]
        assert isinstance(info.task_type, BranchNode)
        self._start_run(conn, graph.run_id, now)
        info.ever_started = True
        try:
            choice = choose(info.task_type, info.row, self._outputs_by_task(graph), self.param_limits)
        except BranchUndecided as e:
            self._update(exec_id, {"deps_ms": now, "start_ms": now})
            self._persist(conn, graph.apply(exec_id, TaskEvent.LAUNCH_FAIL), now, error=e.message)
        else:
            changes = graph.decide_branch(exec_id, choice.chosen)
            if changes:
                current = rq.get_task_run(conn, exec_id)
                extensions = BranchNode.chosen_extensions(
                    current["extensions"] if current else "{}", choice.conditions, choice.chosen
                )
                self._update(exec_id, {"extensions": extensions})
            self._persist(conn, changes, now)
        self._retouch.add(graph.run_id)

    @staticmethod
    def _data_source(conn: sa.Connection, row: Mapping[str, Any], field: str) -> dict[str, Any] | None:
        """The connection (secrets included) of the data source a runner type's task run names in `field`
        (SourceServiceId, or offline sync's TargetServiceId), or None."""
        ids = service_ids(run_spec.service_id(row["spec"], field), field)
        if not ids:
            return None
        found = ds_store.get_many(conn, row["project_id"], ids[:1])
        if ids[0] not in found:
            raise ResourceNotFound(f"data source {ids[0]} of task {row['task_name']!r} no longer exists")
        return dict(connection_of(found[ids[0]]))

    def _start_child_run(self, conn: sa.Connection, graph: RunGraph, exec_id: str, now: int) -> None:
        """A RunWorkflow node runs no process: it starts a nested run and follows it (Q-N1)."""
        info = self.tasks[exec_id]
        self._update(exec_id, {"state": TaskState.RUNNING.value, "issue_ms": now, "start_ms": now, "end_ms": None,
                               "error_code_str": None, "job_id": self.stamps.job_id(now),
                               "update_ms": now})  # fmt: skip
        info.ever_started = True
        self._start_run(conn, graph.run_id, now)
        if info.exec_ttl_ms > 0:
            self._timer(now + info.exec_ttl_ms, "exec_ttl", exec_id, info.retry_times)
        parent = rq.get_run(conn, graph.run_id)
        if isinstance(info.task_type, ForEachNode):
            self._start_loop(conn, graph, exec_id, parent, now)
            return
        try:
            if self.create_child is None or parent is None:
                raise InternalError("nested workflows are not wired in this process")
            child = self.create_child(conn, parent, info.row, now, None)
        except ApiError as e:
            changes = graph.apply(exec_id, TaskEvent.LAUNCH_FAIL)
            self._persist(conn, changes, now, error=f"LaunchFailed: {e.message}")
            self._retouch.add(graph.run_id)
            return
        info.child_run = child
        self.child_of[child] = exec_id
        self._adopt(conn, Adopt(child), now, self._retouch)

    def _child_finished(self, conn: sa.Connection, child_id: str, state: RunState, now: int) -> None:
        """A nested run ended: its RunWorkflow node follows (SUCCESS; FAILED or SKIPED fail it; KILLED kills it)."""
        exec_id = self.child_of.pop(child_id, None)
        graph = self._graph_of(exec_id) if exec_id else None
        if graph is None or exec_id is None or graph.by_exec[exec_id].state != TaskState.RUNNING:
            return
        loop = self.loops.get(exec_id)
        if loop is not None:
            if loop.end(child_id, state):
                self._advance_loop(conn, graph, exec_id, now)
            return
        if self.tasks[exec_id].child_run != child_id:
            return  # an older attempt's child
        if state == RunState.SUCCESS:
            self._fail_or_retry(conn, graph, exec_id, TaskEvent.EXIT_OK, now, self._retouch, exit_code=0)
        elif state == RunState.KILLED:
            self._fail_or_retry(conn, graph, exec_id, TaskEvent.KILL, now, self._retouch, error=USER_KILLED)
        else:
            error = f"nested run {child_id} ended {state.value}"
            self._fail_or_retry(conn, graph, exec_id, TaskEvent.EXIT_FAIL, now, self._retouch, error=error)

    # --- For-each nodes (tasktypes/foreach.py, service/loops.py, domain/loops.py) -----------------------

    def _start_loop(
        self, conn: sa.Connection, graph: RunGraph, exec_id: str, parent: Mapping[str, Any] | None, now: int
    ) -> None:
        """A For-each node resolves its elements and starts its first iterations (an empty loop succeeds)."""
        try:
            settings, elements = prepare(self.tasks[exec_id].row, self._outputs_by_task(graph), self.param_limits)
        except LoopRefused as e:
            self._persist(conn, graph.apply(exec_id, TaskEvent.LAUNCH_FAIL), now, error=e.message)
            self._retouch.add(graph.run_id)
            return
        current = rq.get_task_run(conn, exec_id)
        self.loops[exec_id] = LoopRun.fresh(settings, elements, current["extensions"] if current else None)
        self._advance_loop(conn, graph, exec_id, now, parent)

    def _adopt_loop(self, conn: sa.Connection, graph: RunGraph, r: Mapping[str, Any], now: int) -> None:
        """A RUNNING For-each node found in the database: its ended iterations stay ended, its running ones are
        followed (their runs are adopted like any live run), the rest start (service/loops.py)."""
        exec_id = r["execution_id"]
        try:
            settings, elements = prepare(self.tasks[exec_id].row, self._outputs_by_task(graph), self.param_limits)
            states = rq.run_states(conn, LoopRun.recorded_children(r["extensions"]))
            loop = LoopRun.rebuild(settings, elements, r["extensions"], states)
        except LoopRefused as e:
            self._persist(conn, graph.apply(exec_id, TaskEvent.EXIT_FAIL), now, error=e.message)
            self._retouch.add(graph.run_id)
            return
        self.loops[exec_id] = loop
        for child in loop.running_children():
            self.child_of[child] = exec_id
        self._advance_loop(conn, graph, exec_id, now)

    def _advance_loop(
        self, conn: sa.Connection, graph: RunGraph, exec_id: str, now: int, parent: Mapping[str, Any] | None = None
    ) -> None:
        """Start the iterations the window allows, record the progress, and end the node once the loop is done.

        Each child run is inserted in this batch's transaction together with the node's TaskTypeExtensions
        naming it, so a crash keeps both or neither."""
        loop, info = self.loops[exec_id], self.tasks[exec_id]
        for offset in loop.loop.to_start():
            parent = parent or rq.get_run(conn, graph.run_id)
            try:
                if self.create_child is None or parent is None:
                    raise InternalError("nested workflows are not wired in this process")
                values = iteration_params(loop.elements[offset], offset, loop.loop.total)
                child = self.create_child(conn, parent, info.row, now, values)
            except ApiError as e:
                loop.loop.halt(f"LaunchFailed: iteration {offset}: {e.message}")
                break
            loop.begin(offset, child)
            self.child_of[child] = exec_id
            self._adopt(conn, Adopt(child), now, self._retouch)
        self._update(exec_id, {"extensions": loop.extensions(), "update_ms": now})
        outcome = loop.loop.outcome()
        if outcome is None:
            return
        del self.loops[exec_id]
        if outcome.value == TaskState.SUCCESS.value:
            self._fail_or_retry(conn, graph, exec_id, TaskEvent.EXIT_OK, now, self._retouch, exit_code=0)
        else:
            self._fail_or_retry(conn, graph, exec_id, TaskEvent.EXIT_FAIL, now, self._retouch, error=loop.failure())

    def _start_run(self, conn: sa.Connection, run_id: str, now: int) -> None:
        run = self.runs[run_id]
        t = run_transition(run.state, RunEvent.START)
        if t.accepted:
            run.state = t.after
            run.waiting_resource = False
            rq.update_run(conn, run_id, {"state": t.after.value, "start_ms": now, "update_ms": now,
                                         "error_code_str": None})  # fmt: skip

    def _mark_waiting(self, conn: sa.Connection, now: int) -> None:
        """QUEUED runs that were admitted but whose ready tasks wait for slots show WaitingExecutionResource."""
        waiting_runs = {self.exec_run[e] for e in self.slots.waiting() if e in self.exec_run}
        for run_id in waiting_runs:
            run = self.runs.get(run_id)
            if run is not None and run.state == RunState.QUEUED and not run.waiting_resource:
                run.waiting_resource = True
                rq.update_run(conn, run_id, {"error_code_str": WAITING_RESOURCE, "update_ms": now})

    def _release_slot(self, exec_id: str) -> None:
        if not self.tasks[exec_id].holds_slot:
            return
        group = self.tasks[exec_id].group
        self.slots.release(group)

    def _skip_run(self, conn: sa.Connection, run_id: str, now: int, reason: str, eff: Effects) -> None:
        graph = self.graphs.get(run_id)
        if graph is None:
            return
        for node in graph.nodes.values():
            self._unqueue(node.exec_id)
        self._persist(conn, graph.end_all(TaskEvent.SKIP), now)
        self._finish_run(conn, run_id, RunEvent.SKIP, now, reason, eff)

    def _rollup(self, conn: sa.Connection, run_id: str, now: int, eff: Effects) -> bool:
        event = self.graphs[run_id].rollup()
        if event is None:
            return False
        error = None
        if event == RunEvent.FINISH_FAIL:
            self._flush(conn)
            failed = [r for r in rq.task_runs_of(conn, run_id) if r["state"] == TaskState.FAILED.value]
            failed.sort(key=lambda r: (r["end_ms"] or 0, r["task_id"]))
            error = f"{failed[0]['task_name']}: {failed[0]['error_code_str']}" if failed else UPSTREAM_FAILED
        self._finish_run(conn, run_id, event, now, error, eff)
        return True

    def _finish_run(
        self, conn: sa.Connection, run_id: str, event: RunEvent, now: int, error: str | None, eff: Effects
    ) -> None:
        run = self.runs.pop(run_id)
        t = run_transition(run.state, event)
        if t.accepted:
            rq.update_run(
                conn, run_id, {"state": t.after.value, "end_ms": now, "update_ms": now, "error_code_str": error}
            )
        graph = self.graphs.pop(run_id)
        for exec_id in graph.by_exec:
            self.exec_run.pop(exec_id, None)
            self.tasks.pop(exec_id, None)
            self.slots.discard(exec_id)
        slots = self.workflows.get(run.workflow_id)
        if slots is not None:
            slots.forget(run_id)
        self._finished_workflows[run_id] = run.workflow_id
        eff.finished_runs.append(run_id)
        if t.accepted and run_id in self.child_of:
            self._child_finished(conn, run_id, t.after, now)

    # --- persistence of graph changes -------------------------------------------------------

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
            if ch.event in (TaskEvent.MERGE_OK, TaskEvent.MERGE_FAIL, TaskEvent.BRANCH_OK):
                values.update(deps_ms=at_ms, start_ms=at_ms, end_ms=at_ms)
                values["error_code_str"] = MERGE_FAILED if ch.event == TaskEvent.MERGE_FAIL else None
                self._unqueue(ch.exec_id)
            elif ch.event in (TaskEvent.SKIP, TaskEvent.UPSTREAM_FAIL):
                values["deps_ms"] = at_ms
                values["error_code_str"] = UPSTREAM_FAILED if ch.event == TaskEvent.UPSTREAM_FAIL else None
                self._unqueue(ch.exec_id)
            else:
                values["end_ms"] = at_ms
                if own:
                    values["exit_code"] = exit_code
                    values["error_code_str"] = error
            self._update(ch.exec_id, values)

    def _graph_of(self, exec_id: str) -> RunGraph | None:
        run_id = self.exec_run.get(exec_id)
        return self.graphs.get(run_id) if run_id else None
