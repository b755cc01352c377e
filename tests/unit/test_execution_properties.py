"""Property tests of `Execution`, the single writer of run state, driven message by message.

The real services are built with `build()` on a temporary SQLite database and a fake clock; the scheduler
thread is never started and no process is ever spawned: this file is the executor. Every `LaunchSpec` the
engine returns becomes a fake process, whose Started / Exited / LaunchFailed messages are delivered in a
random order (sometimes duplicated or late, after a kill or a timeout), interleaved with kills, clock jumps
past timer deadlines, wake-ups, resource groups growing, and restarts: `reset()` + `Adopt(recovering=True)`
after which outstanding fake processes are dead, or the scheduler's rebuild after a failed batch
(`Adopt(recovering=False)`, processes still alive; see REBUILD_BEFORE_STARTED and the xfail tests at the end).

A small reference model runs next to the engine and predicts, batch by batch, what the spec says must
happen (decisions.md Q-R1, Q-T3..Q-T5, Q-K1, Q-C1..Q-C4): RetryTimes of every task run, which attempts
time out (ExecutionTTLMinute, measured from the attempt's start), which processes are killed, what each
Kill answers, which queued runs hit the 48 h limit. After every batch the database and the engine's
memory are checked against it, and a final drain (exit 0 for everything, clock forward) must bring every
run to a terminal state whose value follows the roll-up rule, every task run having ended the way its
DependencyTriggerPolicy decided.

TRIGFLOW_PROPERTY_EXAMPLES=500 runs a deeper search than the default (sized for < 20 s on 2 cores).
"""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trigflow.app import bootstrap, build
from trigflow.config import Settings
from trigflow.domain.policies import POLICIES, Decision, decide
from trigflow.domain.states import TaskState
from trigflow.engine.execution import QUEUE_LIMIT_MS
from trigflow.engine.execution_messages import (
    Adopt,
    Effects,
    Exited,
    Kill,
    LaunchFailed,
    Message,
    Started,
    Wake,
)
from trigflow.service.common import Caller
from trigflow.store import runs as rq
from trigflow.store.tables import task_runs, workflow_runs

T0 = 1_700_000_000_000
MINUTE = 60_000
HOUR = 60 * MINUTE
TERMINAL_RUN = {"SUCCESS", "FAILED", "SKIPED", "KILLED"}
TERMINAL_TASK = {"SUCCESS", "FAILED", "SKIP", "UPSTREAM_FAILED", "KILLED"}
FAILED_LIKE = {"FAILED", "UPSTREAM_FAILED"}
UNKNOWN_EXEC = "00000000-0000-4000-8000-000000000000"
# Let restarts with processes alive (the scheduler's rebuild after a failed batch) happen before the
# attempts' Started messages were delivered (a rebuild re-arms ExecutionTTL from the dispatch time).
REBUILD_BEFORE_STARTED = True


# --- scenario ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskDef:
    upstream: tuple[int, ...] = ()  # indices of earlier tasks of the same workflow
    policy: str = "ALL_SUCCESS"
    max_retry: int = 0
    retry_wait: int = 0  # minutes
    ttl: int = -1  # ExecutionTTLMinute; -1 = none
    group: int | None = None  # index into the custom groups; None = the default group


@dataclass(frozen=True)
class WorkflowDef:
    tasks: tuple[TaskDef, ...]
    max_concurrent: int = 1
    queuing: int = 1


@dataclass(frozen=True)
class Scenario:
    default_slots: int
    group_slots: tuple[int, ...]
    workflows: tuple[WorkflowDef, ...]
    initial_runs: tuple[int, ...]  # workflow index of each run created up front


# --- fake processes and the reference model ---------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@dataclass
class Proc:
    """One fake process (one attempt of a task run)."""

    exec_id: str
    run_id: str
    launched_ms: int
    ttl_ms: int
    status: str = "live"  # live | ended (its exit was delivered) | killed (by the engine) | gone (restart)
    started: bool = False  # its Started was delivered
    exit_delivered: bool = False
    launch_failed: bool = False


@dataclass
class TaskMeta:
    run_id: str
    max_retry: int
    ttl_ms: int
    retry_wait_ms: int


@dataclass
class WfMeta:
    workflow_id: str
    max_concurrent: int
    queuing: bool


@dataclass
class Snap:
    runs: dict[str, dict[str, Any]]
    tasks: dict[str, dict[str, Any]]

    def tasks_of(self, run_id: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks.values() if t["run_id"] == run_id]


@dataclass
class Harness:
    """Real services on a temporary database; the test plays the executor and the scheduler thread."""

    tmp: Path
    default_slots: int = 3
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.services = build(
            Settings(data_dir=self.tmp, default_slots=self.default_slots, minute_ms=MINUTE), clock=self.clock
        )
        boot = bootstrap(self.services)
        self.project_id = boot.project_id
        self.caller = Caller(boot.admin.secret_id, boot.admin.uin)
        self.ex = self.services.scheduler.execution
        self.groups: list[str] = []
        self.workflows: list[WfMeta] = []
        self.runs: list[str] = []
        self.tasks: dict[str, TaskMeta] = {}
        self.procs: list[Proc] = []
        self.live: dict[str, Proc] = {}  # exec id -> its live process; the engine must show exactly these RUNNING
        self.expected_retry: dict[str, int] = {}
        self.launches: dict[str, int] = {}
        self.killed_runs: set[str] = set()  # a Kill answered ok for these
        self.queue_timed_out: set[str] = set()
        self.timed_out: dict[str, tuple[int, int]] = {}  # exec id -> (RetryTimes, launches) when it timed out
        self.pids = itertools.count(4000)
        self.last: Snap | None = None  # the database as the last batch left it; None when unknown
        self.retry_not_before: dict[str, int] = {}  # exec id -> earliest start of its pending retry (Q-T3)
        self.workflow_seq = itertools.count()

    def close(self) -> None:
        self.services.scheduler.executor.shutdown(kill=False, grace_seconds=0)
        self.services.db.dispose()

    # --- definitions ----------------------------------------------------------------------------

    def add_group(self, slots: int) -> str:
        gid = self.services.resources.create(
            {"Name": f"g{len(self.groups)}", "Type": {"ResourceGroupType": "Schedule", "Schedule": {"Number": slots}}}
        )
        self.groups.append(gid)
        return gid

    def add_workflow(self, wdef: WorkflowDef) -> int:
        catalog = self.services.catalog
        wf_id = catalog.create_workflow(
            self.caller,
            {
                "ProjectId": self.project_id,
                "WorkflowName": f"wf{next(self.workflow_seq)}",
                "ParentFolderPath": "/props",
                "TriggerWorkflowRunConfiguration": {"MaxConcurrentNum": wdef.max_concurrent,
                                                    "QueuingMode": wdef.queuing},
            },
        )  # fmt: skip
        task_ids: list[str] = []
        for i, t in enumerate(wdef.tasks):
            config: dict[str, Any] = {"CodeContent": base64.b64encode(b"echo hi\n").decode()}
            if t.group is not None:
                config["ResourceGroup"] = self.groups[t.group]
            sched = {
                "DependencyTriggerPolicy": t.policy,
                "MaxRetryNumber": t.max_retry,
                "RetryWaitMinute": t.retry_wait,
                "ExecutionTTLMinute": t.ttl,
                "UpstreamDependencyConfigList": [{"TaskId": task_ids[u]} for u in t.upstream],
            }
            task_id = self.services.tasks.create_task(
                self.caller,
                {
                    "ProjectId": self.project_id,
                    "TriggerTaskBaseAttribute": {"TaskName": f"t{i}", "TaskTypeId": "35", "WorkflowId": wf_id},
                    "TriggerTaskConfiguration": config,
                    "TriggerTaskSchedulerConfiguration": sched,
                },
            )
            self.services.tasks.submit_task(self.caller, self.project_id, task_id, "props")
            task_ids.append(task_id)
        self.workflows.append(WfMeta(wf_id, wdef.max_concurrent, wdef.queuing == 1))
        return len(self.workflows) - 1

    def create_run(self, wf_index: int) -> str:
        wf = self.workflows[wf_index % len(self.workflows)]
        self.last = None
        run_id = self.services.runs.create_manual_run(
            self.caller, {"ProjectId": self.project_id, "WorkflowId": wf.workflow_id}
        )
        with self.services.db.read() as conn:
            rows = rq.task_runs_of(conn, run_id)
        for r in rows:
            spec = r["spec"]
            ttl = int(spec["exec_ttl_minutes"]) * MINUTE
            wait = int(spec["retry_wait_minutes"]) * MINUTE
            self.tasks[r["execution_id"]] = TaskMeta(run_id, int(spec["max_retry"]), ttl if ttl > 0 else -1, wait)
            self.expected_retry[r["execution_id"]] = 0
            self.launches[r["execution_id"]] = 0
        self.runs.append(run_id)
        self.deliver([(Adopt(run_id), None)])
        return run_id

    # --- reading ----------------------------------------------------------------------------------

    def read(self) -> Snap:
        """The runs and task runs as committed (after a batch: also kept as the next batch's "before")."""
        with self.services.db.read() as conn:
            runs = {r["execution_id"]: dict(r) for r in conn.execute(sa.select(workflow_runs)).mappings()}
            tasks = {r["execution_id"]: dict(r) for r in conn.execute(sa.select(task_runs)).mappings()}
        return Snap(runs, tasks)

    def memory(self) -> tuple[Any, ...]:
        ex = self.ex
        wfs = {w: (sorted(s.admitted), list(s.queue)) for w, s in ex.workflows.items()}
        return (ex.slots_in_use(), sorted(ex.timers), sorted(ex.live_runs()), sorted(ex.slots.waiting()), wfs)

    # --- one batch through the engine, with the model's predictions checked -------------------

    def _end(self, p: Proc, status: str) -> None:
        p.status = status
        if self.live.get(p.exec_id) is p:
            del self.live[p.exec_id]

    def deliver(
        self,
        items: Sequence[tuple[Message, Proc | None]],
        *,
        timers: bool = True,
        expect: dict[str, set[str]] | None = None,
    ) -> Effects:
        """Process one batch; `timers=False` when the engine's timer heap was just reset (nothing can fire)."""
        now = self.clock.now
        before = self.last if self.last is not None else self.read()
        self.last = None
        expected_kills: set[str] = set()
        timed_out_now: set[str] = set()
        queue_timeouts: set[str] = set()
        if timers:
            # Due timers fire first, before the batch's messages (Q-T5: measured from the attempt's start).
            for p in list(self.live.values()):
                if p.ttl_ms > 0 and p.launched_ms + p.ttl_ms <= now:
                    self.timed_out[p.exec_id] = (self.expected_retry[p.exec_id], self.launches[p.exec_id])
                    self._end(p, "killed")
                    expected_kills.add(p.exec_id)
                    timed_out_now.add(p.exec_id)
            queue_timeouts = {
                r for r, row in before.runs.items()
                if row["state"] == "QUEUED" and row["pending_start_ms"] is None
                and row["queue_start_ms"] + QUEUE_LIMIT_MS <= now
            }  # fmt: skip
            self.queue_timed_out |= queue_timeouts
        expect_state: dict[str, set[str]] = dict(expect or {})
        kill_expect: list[tuple[Future[Any], list[tuple[str, bool]]]] = []
        killed_now: set[str] = set()
        # Runs in which something ended earlier in this batch: a Kill after that may find task runs that
        # already ended, or were skipped / upstream-failed by the cascade, and leaves them so (Q-K1).
        moved = {self.tasks[e].run_id for e in timed_out_now}
        killed_clean: set[str] = set()
        for msg, proc in items:
            if isinstance(msg, Started) and proc is not None:
                proc.started = True
            elif isinstance(msg, Exited | LaunchFailed) and proc is not None:
                if proc.status == "live":
                    moved.add(proc.run_id)
                    e = proc.exec_id
                    self._end(proc, "ended")
                    if isinstance(msg, Exited) and msg.exit_code == 0:
                        expect_state[e] = {"SUCCESS"}
                    elif isinstance(msg, Exited) and self.expected_retry[e] < self.tasks[e].max_retry:
                        self.expected_retry[e] += 1  # Q-T3: a failed or lost attempt is retried
                        self.retry_not_before[e] = msg.at_ms + self.tasks[e].retry_wait_ms
                        expect_state[e] = {"PENDING", "RUNNING"}
                    else:
                        expect_state[e] = {"FAILED"}  # out of retries, or a launch failure (never retried)
                proc.exit_delivered = True
                proc.launch_failed |= isinstance(msg, LaunchFailed)
            elif isinstance(msg, Kill):
                results = []
                for r in msg.run_ids:
                    ok = before.runs[r]["state"] not in TERMINAL_RUN and r not in killed_now and r not in queue_timeouts
                    if ok:
                        killed_now.add(r)
                        if r not in moved:
                            killed_clean.add(r)
                        self.killed_runs.add(r)
                        for p in [p for p in self.live.values() if p.run_id == r]:
                            self._end(p, "killed")
                            expected_kills.add(p.exec_id)
                    results.append((r, ok))
                kill_expect.append((msg.reply, results))

        eff = self.ex.process([m for m, _ in items])

        assert len(eff.kills) == len(set(eff.kills)), f"an attempt killed twice in one batch: {eff.kills}"
        assert set(eff.kills) == expected_kills, f"kills {sorted(eff.kills)} != expected {sorted(expected_kills)}"
        assert len(eff.replies) == len(kill_expect)
        for (fut, results), (want_fut, want) in zip(eff.replies, kill_expect, strict=True):
            assert fut is want_fut
            assert [(k.run_id, k.ok) for k in results] == want
            fut.set_result(results)
        launched = Counter(spec.attempt_id for spec in eff.launches)
        assert all(n == 1 for n in launched.values()), f"an attempt launched twice in one batch: {launched}"
        for spec in eff.launches:
            e = spec.attempt_id
            assert e in self.tasks, f"launch of an unknown task run {e}"
            assert e not in self.live, f"task run {e} launched while its previous process still runs"
            assert e not in self.timed_out, f"task run {e} relaunched after it timed out (Q-T5)"
            assert e not in set(eff.kills)
            assert spec.env["TRIGFLOW_TASK_EXECUTION_ID"] == e
            p = Proc(e, self.tasks[e].run_id, now, self.tasks[e].ttl_ms)
            self.procs.append(p)
            self.live[e] = p
            self.launches[e] += 1

        after = self.read()
        self.last = after
        for e in launched:
            assert now >= self.retry_not_before.get(e, 0), f"task run {e} retried before RetryWaitMinute passed"
            decision = self.decision(after, e)
            assert decision == Decision.RUN, f"task run {e} launched although its policy says {decision}"
        newly_terminal = {
            r for r, row in after.runs.items()
            if row["state"] in TERMINAL_RUN and before.runs.get(r, {}).get("state") not in TERMINAL_RUN
        }  # fmt: skip
        assert set(eff.finished_runs) == newly_terminal
        for e, allowed in expect_state.items():
            state = after.tasks[e]["state"]
            ok_states = allowed | ({"KILLED"} if self.tasks[e].run_id in killed_now else set())
            assert state in ok_states, f"task run {e}: {state}, expected one of {sorted(ok_states)}"
            if state == "RUNNING":
                assert e in launched, f"task run {e} RUNNING after its attempt ended, but not relaunched"
        for e in timed_out_now:
            row = after.tasks[e]
            assert row["state"] == "FAILED" and str(row["error_code_str"]).startswith("ExecutionTimeout"), row
        for r in queue_timeouts:
            assert after.runs[r]["state"] == "SKIPED" and after.runs[r]["error_code_str"] == "QueueTimeout"
        for r in killed_now:
            assert after.runs[r]["state"] == "KILLED" and after.runs[r]["error_code_str"] == "UserKilled"
            for t in after.tasks_of(r):
                old = before.tasks[t["execution_id"]]["state"]
                if old in TERMINAL_TASK:
                    assert t["state"] == old, "a kill must leave terminal task runs as they were (Q-K1)"
                elif r in killed_clean:
                    assert t["state"] == "KILLED", "a kill ends every waiting or running task run (Q-K1)"
        self.check(after)
        return eff

    # --- invariants --------------------------------------------------------------------------------

    def check(self, snap: Snap | None = None) -> None:
        snap = snap or self.read()
        live_runs = {r for r, row in snap.runs.items() if row["state"] not in TERMINAL_RUN}
        assert self.ex.live_runs() == live_runs, "engine's live runs differ from the non-terminal runs in the DB"
        running = {e for e, t in snap.tasks.items() if t["state"] == "RUNNING"}
        assert running == set(self.live), (
            f"RUNNING task runs {sorted(running)} != processes the engine launched and did not see end "
            f"{sorted(self.live)}"
        )
        used = Counter(snap.tasks[e]["resource_group_id"] for e in running)
        assert self.ex.slots_in_use() == dict(used), f"slot counters {self.ex.slots_in_use()} != DB {dict(used)}"
        for group, n in used.items():
            cap = self.services.resources.slots(group)
            assert cap is not None and n <= cap, f"group {group}: {n} running > capacity {cap}"
        for e, t in snap.tasks.items():
            meta, run = self.tasks[e], snap.runs[t["run_id"]]
            assert t["retry_times"] == self.expected_retry[e], f"task run {e}: RetryTimes {t['retry_times']}"
            assert t["retry_times"] <= meta.max_retry
            assert self.launches[e] in (t["retry_times"], t["retry_times"] + 1), (e, self.launches[e], t)
            if t["state"] == "RUNNING":
                assert run["state"] == "RUNNING" and t["end_ms"] is None and t["issue_ms"] is not None
            if t["state"] == "PENDING" and t["retry_times"] > 0:  # Q-T4: the previous error stays visible
                assert t["error_code_str"], t
            if t["state"] == "UPSTREAM_FAILED":
                assert t["error_code_str"] == "UpstreamFailed"
            if t["state"] == "KILLED":
                assert t["error_code_str"] == "UserKilled"
            if run["pending_start_ms"] is None:  # never admitted: nothing of it may have run (Q-C1)
                assert self.launches[e] == 0 and t["state"] in ("PENDING", "SKIP", "KILLED"), (t, run)
            if run["state"] in TERMINAL_RUN:
                assert t["state"] in TERMINAL_TASK, f"terminal run {run['state']} with a {t['state']} task run"
            if e in self.timed_out:  # Q-T5: a timeout is final
                assert t["state"] == "FAILED" and str(t["error_code_str"]).startswith("ExecutionTimeout"), t
                assert (t["retry_times"], self.launches[e]) == self.timed_out[e], "a timed-out task was retried"
        for wf in self.workflows:
            runs = [row for row in snap.runs.values() if row["workflow_id"] == wf.workflow_id]
            admitted = [r for r in runs if r["pending_start_ms"] is not None and r["state"] not in TERMINAL_RUN]
            assert len(admitted) <= wf.max_concurrent, f"{len(admitted)} admitted runs > MaxConcurrentNum"
            waiting = [r for r in runs if r["pending_start_ms"] is None and r["state"] not in TERMINAL_RUN]
            if not wf.queuing:
                assert not waiting, "QueuingMode 0: a run that cannot get a slot is skipped at once (Q-C2)"
            for a in waiting:  # FIFO (Q-C2): nobody created after a waiting run may have been admitted
                for b in runs:
                    assert not (b["create_ms"] > a["create_ms"] and b["pending_start_ms"] is not None), "not FIFO"
        for r, row in snap.runs.items():
            if row["state"] == "RUNNING":  # Q-S2: no error code once RUNNING
                assert row["pending_start_ms"] is not None and row["start_ms"] is not None
                assert row["error_code_str"] is None, row["error_code_str"]
            if row["state"] == "QUEUED":  # Q-S1/Q-S2: concurrency wait without a code, resource wait with one
                waiting = "WaitingExecutionResource" if row["pending_start_ms"] is not None else None
                assert row["error_code_str"] == waiting, (row["pending_start_ms"], row["error_code_str"])
            if row["state"] in TERMINAL_RUN:
                assert row["end_ms"] is not None
            assert (row["state"] == "KILLED") == (r in self.killed_runs), (r, row["state"])
            if row["state"] in TERMINAL_RUN:
                self.check_rollup(snap, r)

    def decision(self, snap: Snap, exec_id: str) -> Decision:
        """What the task run's DependencyTriggerPolicy says about its upstream task runs' current states."""
        row = snap.tasks[exec_id]
        by_task = {t["task_id"]: t["state"] for t in snap.tasks_of(row["run_id"])}
        return decide(row["policy"], [TaskState(by_task[u]) for u in row["depend_on"] if u in by_task])

    def check_rollup(self, snap: Snap, run_id: str) -> None:
        """decisions.md Q-R1 (roll-up), Q-K1 (killed), Q-C2 (skipped runs)."""
        row = snap.runs[run_id]
        states = [t["state"] for t in snap.tasks_of(run_id)]
        if row["state"] == "KILLED":
            return  # checked above: exactly the runs a Kill answered ok for
        if row["state"] == "SKIPED":
            wf = next(w for w in self.workflows if w.workflow_id == row["workflow_id"])
            assert all(s == "SKIP" for s in states) and row["pending_start_ms"] is None
            assert not wf.queuing or run_id in self.queue_timed_out, "a queueing run SKIPED before 48 h"
            return
        assert "KILLED" not in states
        want = "FAILED" if any(s in FAILED_LIKE for s in states) else "SUCCESS"
        assert row["state"] == want, f"run {run_id} is {row['state']} but its task runs {states} roll up to {want}"
        for t in snap.tasks_of(run_id):  # every task run ended the way its dependency policy decided
            decision, e = self.decision(snap, t["execution_id"]), t["execution_id"]
            if decision == Decision.RUN:
                assert t["state"] in ("SUCCESS", "FAILED") and self.launches[e] >= 1, (t["state"], decision)
            else:
                want_task = "SKIP" if decision == Decision.SKIP else "UPSTREAM_FAILED"
                assert t["state"] == want_task and self.launches[e] == 0, (t["state"], decision)

    # --- actions -----------------------------------------------------------------------------------

    def started(self, p: Proc) -> tuple[Message, Proc]:
        return Started(p.exec_id, next(self.pids), "token", p.launched_ms), p

    def batch(self, picks: Sequence[tuple[str, int]]) -> list[tuple[Message, Proc | None]]:
        """Messages for live processes (and kills of any run) chosen by (kind, index) picks."""
        items: list[tuple[Message, Proc | None]] = []
        exited: set[str] = set()
        started: set[str] = set()
        launch_failed: set[str] = set()  # no process ever existed: no Started for these
        now = self.clock.now
        for kind, idx in picks:
            if kind == "kill":
                if self.runs:
                    ids = (self.runs[idx % len(self.runs)],)
                    if idx % 5 == 0:
                        ids += (self.runs[(idx // 5) % len(self.runs)],)
                    items.append((Kill(ids, Future()), None))
                continue
            if kind == "start":
                cands = [p for p in self.live.values() if not p.started and p.exec_id not in started | launch_failed]
            elif kind == "launch_fail":
                cands = [p for p in self.live.values() if not p.started and p.exec_id not in started | exited]
            else:
                cands = [p for p in self.live.values() if p.exec_id not in exited]
            if not cands:
                continue
            p = cands[idx % len(cands)]
            if kind == "start":
                started.add(p.exec_id)
                items.append(self.started(p))
                continue
            exited.add(p.exec_id)
            msg: Message
            if kind == "ok":
                msg = Exited(p.exec_id, 0, now)
            elif kind == "fail":
                msg = Exited(p.exec_id, (1, 2, -9)[idx % 3], now)
            elif kind == "lost":
                msg = Exited(p.exec_id, None, now, "process lost")
            else:
                msg = LaunchFailed(p.exec_id, "LaunchFailed: no such interpreter", now)
                launch_failed.add(p.exec_id)
            items.append((msg, p))
        return items

    def stale(self, kind: str, idx: int) -> None:
        """A message about an unknown or already-ended attempt (or a done run) must change nothing."""
        self.deliver([])  # let due timers fire first, so the comparison sees only the message's doing
        snap = self.last or self.read()
        now = self.clock.now
        busy = set(self.live)
        ended = [p for p in self.procs if p.status in ("ended", "killed") and p.exec_id not in busy]
        msg: Message | None = None
        proc: Proc | None = None
        if kind == "late_start":
            cands = [p for p in ended if not p.started and not p.launch_failed]
            if cands:
                proc = cands[idx % len(cands)]
                msg = self.started(proc)[0]
        elif kind == "late_exit":
            cands = [p for p in ended if p.status == "killed" and not p.exit_delivered]
            if cands:
                proc = cands[idx % len(cands)]
                msg = Exited(proc.exec_id, (-15, -9, 0, 1)[idx % 4], now)
        elif kind == "dup_exit":
            cands = [p for p in ended if p.exit_delivered and not p.launch_failed]
            if cands:
                proc = cands[idx % len(cands)]
                msg = Exited(proc.exec_id, (0, 1, None)[idx % 3], now, "duplicate")
        elif kind == "launch_fail_terminal":
            cands = [p for p in ended if snap.tasks[p.exec_id]["state"] in TERMINAL_TASK]
            if cands:
                proc = cands[idx % len(cands)]
                msg = LaunchFailed(proc.exec_id, "LaunchFailed: late", now)
        elif kind == "unknown":
            msg = (Started(UNKNOWN_EXEC, 1, "t", now), Exited(UNKNOWN_EXEC, idx % 2, now),
                   LaunchFailed(UNKNOWN_EXEC, "x", now))[idx % 3]  # fmt: skip
        elif kind == "adopt" and self.runs:
            msg = Adopt(self.runs[idx % len(self.runs)], recovering=idx % 2 == 0)
        elif kind == "kill_done":
            done = [r for r in self.runs if snap.runs[r]["state"] in TERMINAL_RUN]
            if done:
                msg = Kill((done[idx % len(done)],), Future())
        if msg is None:
            return
        mem = self.memory()
        self.last = None
        eff = self.ex.process([msg])
        assert not eff.launches and not eff.kills and not eff.finished_runs, (msg, eff)
        if isinstance(msg, Kill):
            assert [(k.run_id, k.ok) for _, res in eff.replies for k in res] == [(msg.run_ids[0], False)]
        assert self.memory() == mem, f"{msg} changed the engine's memory"
        assert_same_states(snap, self.read(), msg)
        if proc is not None:
            proc.started |= isinstance(msg, Started)
            proc.exit_delivered |= isinstance(msg, Exited)
        self.check()

    def advance(self, mode: str, amount: int, process: bool) -> None:
        deadline = self.ex.next_deadline()
        if mode == "small":
            self.clock.now += amount * 1000
        elif mode == "deadline" and deadline is not None:
            self.clock.now = max(self.clock.now, deadline + amount % 2)
        elif mode == "huge":
            self.clock.now += 49 * HOUR
        if process:
            self.deliver([])

    def restart(self, recovering: bool = True, *, started_first: bool | None = None) -> Effects:
        """What a server restart does: memory forgotten, live runs re-adopted from the database.

        recovering=True: every process died with the server (RUNNING task runs are lost: retried or FAILED).
        recovering=False: the scheduler's rebuild after a failed batch, processes still running.
        """
        expect: dict[str, set[str]] = {}
        if started_first is None:
            started_first = not REBUILD_BEFORE_STARTED
        if not recovering and started_first:
            # Optionally deliver pending Started messages first, so both orders get explored.
            while unstarted := [self.started(p) for p in self.live.values() if not p.started]:
                self.deliver(unstarted)  # which may fire a due retry and launch another attempt
        if recovering:
            for p in list(self.live.values()):
                e = p.exec_id
                if self.expected_retry[e] < self.tasks[e].max_retry:
                    self.expected_retry[e] += 1
                    self.retry_not_before[e] = self.clock.now + self.tasks[e].retry_wait_ms
                    expect[e] = {"PENDING", "RUNNING"}
                else:
                    expect[e] = {"FAILED"}
            for p in self.procs:
                p.status = "gone"  # dead: none of their messages may be delivered any more
            self.live.clear()
        self.ex.reset()
        self.last = None
        with self.services.db.read() as conn:
            live = rq.runs_in_states(conn, ["QUEUED", "RUNNING"])
        eff = self.deliver([(Adopt(r["execution_id"], recovering=recovering), None) for r in live],
                           timers=False, expect=expect)  # fmt: skip
        if recovering:
            snap = self.read()
            for e, allowed in expect.items():
                if allowed == {"FAILED"}:
                    assert str(snap.tasks[e]["error_code_str"]).startswith("ExecutorLost")
        return eff

    def grow(self, idx: int) -> None:
        groups = [*self.groups, self.services.resources.default_id]
        group = groups[idx % len(groups)]
        current = self.services.resources.slots(group) or 1
        if current < 4:
            self.services.resources.update({"Id": group, "Number": {"Quantity": current + 1}})
        self.deliver([(Wake(), None)])

    def drain(self, max_rounds: int = 400) -> None:
        """Exit 0 for everything outstanding and move the clock on (in small steps) until all runs are done."""
        for _ in range(max_rounds):
            snap = self.last or self.read()
            if not self.live and all(row["state"] in TERMINAL_RUN for row in snap.runs.values()):
                break
            if self.live:
                items = [self.started(p) for p in self.live.values() if not p.started]
                items += [(Exited(p.exec_id, 0, self.clock.now), p) for p in self.live.values()]
                self.deliver(items)
                continue
            # Nothing runs: only a retry wait (<= 1 minute here) may legitimately hold a run back.
            deadline = self.ex.next_deadline()
            step = MINUTE if deadline is None else min(max(deadline - self.clock.now, 1), 2 * MINUTE)
            self.clock.now += step
            self.deliver([(Wake(), None)])
        else:
            snap = self.read()
            stuck = {r: (row["state"], [t["state"] for t in snap.tasks_of(r)]) for r, row in snap.runs.items()
                     if row["state"] not in TERMINAL_RUN}  # fmt: skip
            raise AssertionError(f"runs never finished (nothing running, no timer due soon): {stuck}")
        assert not self.ex.live_runs() and not self.ex.slots_in_use() and not self.ex.slots.waiting()
        for slots in self.ex.workflows.values():
            assert not slots.admitted and not slots.queue
        snap = self.read()
        assert not [t for t in snap.tasks.values() if t["state"] in ("PENDING", "RUNNING")]
        self.check(snap)


def assert_same_states(before: Snap, after: Snap, msg: object) -> None:
    """State columns only: a late exit may record its exit code and a late start its pid."""
    run_cols = ("state", "error_code_str", "pending_start_ms", "start_ms", "end_ms")
    task_cols = ("state", "retry_times", "error_code_str", "deps_ms", "issue_ms", "job_id")
    for r, row in before.runs.items():
        assert {c: row[c] for c in run_cols} == {c: after.runs[r][c] for c in run_cols}, msg
    for e, row in before.tasks.items():
        assert {c: row[c] for c in task_cols} == {c: after.tasks[e][c] for c in task_cols}, msg


# SQLite on a RAM disk where there is one: these tests commit thousands of small transactions.
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None


@contextmanager
def harness(default_slots: int = 3) -> Iterator[Harness]:
    tmp = Path(tempfile.mkdtemp(prefix="trigflow-props-", dir=SCRATCH))
    h = Harness(tmp, default_slots)
    try:
        yield h
    finally:
        h.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- strategies -----------------------------------------------------------------------------------


@st.composite
def workflow_defs(draw: st.DrawFn, n_groups: int) -> WorkflowDef:
    n = draw(st.integers(1, 8))
    tasks = []
    for i in range(n):
        upstream = tuple(draw(st.lists(st.integers(0, i - 1), max_size=min(i, 3), unique=True))) if i else ()
        tasks.append(
            TaskDef(
                upstream=upstream,
                policy=draw(st.sampled_from(POLICIES)),
                max_retry=draw(st.integers(0, 2)),
                retry_wait=draw(st.integers(0, 1)),
                ttl=draw(st.sampled_from((-1, -1, 1))),
                group=draw(st.none() | st.integers(0, n_groups - 1)) if n_groups else None,
            )
        )
    return WorkflowDef(tuple(tasks), max_concurrent=draw(st.integers(1, 2)), queuing=draw(st.integers(0, 1)))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    groups = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    workflows = tuple(draw(st.lists(workflow_defs(len(groups)), min_size=1, max_size=3)))
    runs = tuple(draw(st.lists(st.integers(0, len(workflows) - 1), min_size=1, max_size=4)))
    return Scenario(draw(st.integers(1, 3)), groups, workflows, runs)


PICK_KINDS = ("start", "start", "ok", "ok", "ok", "fail", "fail", "lost", "launch_fail", "kill")
ADVANCE_KINDS = ("small", "deadline", "deadline", "huge")
STALE_KINDS = ("late_start", "late_exit", "dup_exit", "launch_fail_terminal", "unknown", "adopt", "kill_done")
_picks = st.lists(st.tuples(st.sampled_from(PICK_KINDS), st.integers(0, 60)), min_size=1, max_size=4)
STEPS = st.one_of(
    st.tuples(st.just("run"), st.integers(0, 2)),
    st.tuples(st.just("deliver"), _picks),
    st.tuples(st.just("deliver"), _picks),
    st.tuples(st.just("deliver"), _picks),
    st.tuples(st.just("stale"), st.sampled_from(STALE_KINDS), st.integers(0, 60)),
    st.tuples(st.just("advance"), st.sampled_from(ADVANCE_KINDS), st.integers(1, 90), st.booleans()),
    st.tuples(st.just("restart"), st.booleans(), st.integers(0, 90)),
    st.tuples(st.just("grow"), st.integers(0, 2)),
    st.tuples(st.just("wake")),
)
MAX_RUNS = 7
MIN_STEPS, MAX_STEPS = 25, 45


def play(h: Harness, scenario: Scenario, steps: Sequence[tuple[Any, ...]]) -> None:
    for slots in scenario.group_slots:
        h.add_group(slots)
    for wdef in scenario.workflows:
        h.add_workflow(wdef)
    for wf in scenario.initial_runs:
        h.clock.now += 1
        h.create_run(wf)
    for step in steps:
        kind = step[0]
        if kind == "run" and len(h.runs) < MAX_RUNS:
            h.clock.now += step[1] % 2  # sometimes two runs in the same millisecond
            h.create_run(step[1])
        elif kind == "deliver":
            h.deliver(h.batch(step[1]))
        elif kind == "stale":
            h.stale(step[1], step[2])
        elif kind == "advance":
            h.advance(step[1], step[2], step[3])
        elif kind == "restart":
            h.clock.now += step[2] * 1000
            h.restart(recovering=step[1])
        elif kind == "grow":
            h.grow(step[1])
        elif kind == "wake":
            h.deliver([(Wake(), None)])
    h.drain()


@settings(
    max_examples=int(os.environ.get("TRIGFLOW_PROPERTY_EXAMPLES", "35")),  # deeper searches: raise it
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios(), steps=st.lists(STEPS, min_size=MIN_STEPS, max_size=MAX_STEPS))
def test_random_interleavings_keep_every_invariant(scenario: Scenario, steps: list[tuple[Any, ...]]) -> None:
    with harness(scenario.default_slots) as h:
        play(h, scenario, steps)


# --- focused examples --------------------------------------------------------------------------------


def single(h: Harness, **task: Any) -> tuple[str, str]:
    """A one-task workflow and one run of it; returns (run id, task-run id)."""
    wf = h.add_workflow(WorkflowDef((TaskDef(**task),)))
    run_id = h.create_run(wf)
    (exec_id,) = [e for e, m in h.tasks.items() if m.run_id == run_id]
    return run_id, exec_id


def test_started_arriving_after_its_exited_changes_nothing() -> None:
    with harness() as h:
        run_id, e = single(h)
        p = h.live[e]
        h.deliver([(Exited(e, 0, h.clock.now), p)])
        assert h.read().runs[run_id]["state"] == "SUCCESS"
        h.stale("late_start", 0)
        snap = h.read()
        assert snap.runs[run_id]["state"] == "SUCCESS" and snap.tasks[e]["state"] == "SUCCESS"
        assert h.ex.slots_in_use() == {}


def test_started_and_exited_in_one_batch_in_either_order() -> None:
    with harness() as h:
        wf = h.add_workflow(WorkflowDef((TaskDef(max_retry=1),), max_concurrent=2))
        r1, r2 = h.create_run(wf), h.create_run(wf)
        (a,), (b,) = ([e for e, m in h.tasks.items() if m.run_id == r] for r in (r1, r2))
        pa, pb = h.live[a], h.live[b]
        # a: exit (failed: retry, wait 0 -> relaunched in the same batch) before its Started; b: the usual order.
        h.deliver([(Exited(a, 1, h.clock.now), pa), h.started(pa), h.started(pb), (Exited(b, 0, h.clock.now), pb)])
        snap = h.read()
        assert snap.tasks[a]["state"] == "RUNNING" and snap.tasks[a]["retry_times"] == 1
        assert snap.runs[r2]["state"] == "SUCCESS"
        h.drain()
        assert h.read().runs[r1]["state"] == "SUCCESS"


def test_kill_during_a_retry_wait() -> None:
    with harness() as h:
        run_id, e = single(h, max_retry=2, retry_wait=1)
        h.deliver([(Exited(e, 1, h.clock.now), h.live[e])])
        row = h.read().tasks[e]
        assert row["state"] == "PENDING" and row["retry_times"] == 1 and h.ex.next_deadline() == h.clock.now + MINUTE
        eff = h.deliver([(Kill((run_id,), Future()), None)])
        assert eff.kills == []  # nothing runs during the wait
        snap = h.read()
        assert snap.runs[run_id]["state"] == "KILLED" and snap.tasks[e]["state"] == "KILLED"
        assert snap.tasks[e]["retry_times"] == 1
        h.advance("small", 61, process=True)  # the retry timer fires for a run that is gone: nothing happens
        assert not h.live and h.read().tasks[e]["state"] == "KILLED"
        h.drain()


def test_kill_racing_the_end_of_a_retry_wait_in_one_batch() -> None:
    with harness() as h:
        run_id, e = single(h, max_retry=1, retry_wait=1)
        h.deliver([(Exited(e, 1, h.clock.now), h.live[e])])
        h.clock.now += MINUTE  # the retry is due, and the Kill is in the batch that fires its timer
        eff = h.deliver([(Kill((run_id,), Future()), None)])
        assert eff.launches == [] and h.read().runs[run_id]["state"] == "KILLED"
        h.drain()


def test_restart_during_a_retry_wait_keeps_retry_times_and_the_wait() -> None:
    with harness() as h:
        run_id, e = single(h, max_retry=1, retry_wait=1)
        failed_at = h.clock.now
        h.deliver([(Exited(e, 1, failed_at), h.live[e])])
        h.clock.now += 10_000
        h.restart()
        row = h.read().tasks[e]
        assert row["state"] == "PENDING" and row["retry_times"] == 1
        assert not h.live, "the retry must still wait for RetryWaitMinute after a restart"
        assert h.ex.next_deadline() == failed_at + MINUTE
        h.clock.now = failed_at + MINUTE
        h.deliver([])
        assert e in h.live and h.read().tasks[e]["retry_times"] == 1
        h.deliver([(Exited(e, 1, h.clock.now), h.live[e])])  # out of retries
        snap = h.read()
        assert snap.tasks[e]["state"] == "FAILED" and snap.tasks[e]["retry_times"] == 1
        assert snap.runs[run_id]["state"] == "FAILED"


def test_restart_while_running_loses_the_attempt() -> None:
    with harness() as h:
        wf = h.add_workflow(WorkflowDef((TaskDef(max_retry=0), TaskDef(max_retry=1)), max_concurrent=1))
        run_id = h.create_run(wf)
        assert len(h.live) == 2
        h.restart()
        snap = h.read()
        states = sorted((t["retry_times"], t["state"]) for t in snap.tasks_of(run_id))
        assert states == [(0, "FAILED"), (1, "RUNNING")]  # retry wait 0: relaunched by the restart itself
        h.drain()
        assert h.read().runs[run_id]["state"] == "FAILED"


def test_timeout_is_final_and_its_late_exit_changes_nothing() -> None:
    with harness() as h:
        run_id, e = single(h, max_retry=2, ttl=1)
        h.deliver([h.started(h.live[e])])
        h.clock.now += MINUTE
        eff = h.deliver([])
        assert eff.kills == [e]
        row = h.read().tasks[e]
        assert row["state"] == "FAILED" and row["retry_times"] == 0 and row["error_code_str"].startswith("Execution")
        h.stale("late_exit", 0)
        h.clock.now += 10 * MINUTE
        h.deliver([])
        assert not h.live and h.read().runs[run_id]["state"] == "FAILED"


def test_exit_in_the_batch_that_fires_the_timeout_is_late() -> None:
    with harness() as h:
        _, e = single(h, max_retry=1, ttl=1)
        h.clock.now += MINUTE
        eff = h.deliver([(Exited(e, 0, h.clock.now), h.live[e])])
        assert eff.kills == [e] and h.read().tasks[e]["state"] == "FAILED"


def test_slots_of_a_group_are_shared_across_runs_and_workflows() -> None:
    with harness(default_slots=1) as h:
        h.add_group(2)
        wf1 = h.add_workflow(WorkflowDef((TaskDef(group=0), TaskDef(group=0)), max_concurrent=2))
        wf2 = h.add_workflow(WorkflowDef((TaskDef(group=0), TaskDef()), max_concurrent=1))
        for wf in (wf1, wf1, wf2):
            h.create_run(wf)
        assert h.ex.slots_in_use() == {h.groups[0]: 2, h.services.resources.default_id: 1}
        h.grow(0)
        assert h.ex.slots_in_use()[h.groups[0]] == 3
        h.drain()


def test_queueing_mode_0_skips_and_mode_1_queues_fifo() -> None:
    with harness() as h:
        skip = h.add_workflow(WorkflowDef((TaskDef(),), max_concurrent=1, queuing=0))
        queue = h.add_workflow(WorkflowDef((TaskDef(),), max_concurrent=1, queuing=1))
        s1, s2 = h.create_run(skip), h.create_run(skip)
        h.clock.now += 1
        q1 = h.create_run(queue)
        h.clock.now += 1
        q2 = h.create_run(queue)
        h.clock.now += 1
        q3 = h.create_run(queue)
        snap = h.read()
        assert snap.runs[s2]["state"] == "SKIPED" and snap.runs[s2]["error_code_str"] == "ConcurrencyLimitSkipped"
        assert [snap.runs[r]["pending_start_ms"] is not None for r in (s1, q1, q2, q3)] == [True, True, False, False]
        h.deliver([(Kill((q1,), Future()), None)])
        snap = h.read()
        assert [snap.runs[r]["pending_start_ms"] is not None for r in (q2, q3)] == [True, False]
        h.drain()


def test_a_run_queued_for_48_hours_is_skipped() -> None:
    with harness() as h:
        wf = h.add_workflow(WorkflowDef((TaskDef(),), max_concurrent=1, queuing=1))
        first = h.create_run(wf)
        h.clock.now += 1
        second = h.create_run(wf)
        h.clock.now += 48 * HOUR + 1
        eff = h.deliver([(Kill((second,), Future()), None)])  # the queue limit fires before the kill
        assert [(k.run_id, k.ok) for _, res in eff.replies for k in res] == [(second, False)]
        assert h.read().runs[second]["state"] == "SKIPED"
        assert h.read().runs[first]["state"] == "RUNNING"
        h.drain()


def test_messages_about_unknown_attempts_change_nothing() -> None:
    with harness() as h:
        single(h)
        for kind in ("unknown", "adopt", "kill_done"):
            for idx in range(3):
                h.stale(kind, idx)
        h.drain()


# --- known bugs --------------------------------------------------------------------------------------
#
# The scheduler rebuilds its memory after any failed batch (scheduler.py `_recover_from_failed_batch` ->
# `_rebuild`: `reset()` then `Adopt(recovering=False)` with the processes still running), and then replays
# the failed batch, whose messages are typically the Started events of the attempts launched just before.
# `_adopt` must re-arm ExecutionTTLMinute from the attempt's dispatch time (issue_ms): `start_ms` is only
# what the last *committed* Started wrote, possibly nothing yet or the previous attempt's.


def test_rebuild_before_started_keeps_the_execution_timeout() -> None:
    with harness() as h:
        _, e = single(h, ttl=1)
        # The batch carrying Started(e) fails: the scheduler rebuilds, then replays Started(e).
        h.restart(recovering=False, started_first=False)
        h.deliver([h.started(h.live[e])])
        h.clock.now += MINUTE
        eff = h.ex.process([])
        assert eff.kills == [e], "the attempt ran past ExecutionTTLMinute and was never stopped"


def test_rebuild_during_a_retried_attempt_measures_its_timeout_from_that_attempt() -> None:
    with harness() as h:
        _, e = single(h, ttl=1, max_retry=1)
        h.deliver([h.started(h.live[e])])
        h.clock.now += 50_000
        h.deliver([(Exited(e, 1, h.clock.now), h.live[e])])  # retried at once: attempt 2 starts at +50 s
        assert h.read().tasks[e]["start_ms"] == T0  # still attempt 1's ExecutionStartTime
        h.restart(recovering=False, started_first=False)
        h.clock.now += 20_000  # +70 s: 60 s after attempt 1 started, only 20 s after attempt 2 did
        eff = h.ex.process([])
        assert eff.kills == [], "attempt 2 was killed for attempt 1's run time"
