"""The operator's chaos run of issue 10: runs in flight while the server (and, with --workers, Celery workers) die.

    python bench/restart_chaos.py [--runs 40] [--kills 5] [--work 0.4] [--no-keeper] [--seed 1] [--deadline 600]
    python bench/restart_chaos.py --workers [--broker redis://127.0.0.1:6379/12] [--worker-kills 3] [--lease 10] ...

`--runs` runs of a 5-task chain (MaxRetryNumber 4, no retry wait) are started at once, all in flight
(MaxConcurrentNum = --runs; the default 1 would queue them and only one would ever be hit); the server is killed
with SIGKILL (the server process and its launcher, `kill -9` of everything `trigflow up` is, the keeper
apart) and restarted on the same data dir and port `--kills` times at random moments; then every run is
waited for until `--deadline`. Local mode runs the tasks on the server's host (4 slots); `--workers` starts
the server with `--broker` and puts the chain in a resource group served by two `trigflow worker` processes
x 2 slots (each its own data dir), and also kills one worker with SIGKILL `--worker-kills` times, preferring
one that runs an attempt, starting a replacement each time (alternately on the dead one's data dir and on a
fresh one). The lease (`--worker-lease` of the server, `--lease` of the workers) must outlast a server
restart, or the workers kill their attempts themselves (docs/workers.md): 10 s by default here.

Why the ledger is shaped as it is: the server's records are what is being judged, so the evidence must come
from the tasks themselves. Every attempt appends to one ledger file (one host, so one clock):
`start EXEC ATTEMPT NONCE T WHERE`, a `tick` line every quarter of `--work`, and `end ...` as its last
command, where EXEC is $TRIGFLOW_TASK_EXECUTION_ID (the task run), ATTEMPT the attempt's name
`<task id>.<retry>.<rerun>` (the basename of $WEDATA_OUTPUT_FILE: the numbers are in no variable of their
own), NONCE a fresh uuid per process, WHERE $TRIGFLOW_WORKER_NAME or `local`. The attempt's output parameter
`token` is its NONCE, so the task run's recorded result (TaskTypeExtensions `taskOutputs`) names the one
process whose work it records.

The figures (one line per run of the bench, the same columns in both modes):
- runs by end state; stuck = runs not ended by the deadline;
- attempts (ledger), of which across a server kill (started before a SIGKILL, wrote after it) and ended while
  it was down (end line between the SIGKILL and the restarted server answering): how hard the chaos hit;
- task runs by end state; lost = task runs FAILED with ExecutorLost (no successful retry);
- killed with a worker, retried = attempts that never wrote their end line (or wrote it only after their
  worker's kill -9, in the ~0.05-0.15 s before the worker's guard killed them: they had not ended when the
  worker died, shown on a line of their own), ran on a worker killed after they started, and whose task
  run succeeded through another attempt (expected: that is the retry);
  cut short otherwise = attempts without an end line that no worker kill explains (expected 0);
- duplicated = task runs whose work completed (end line) more than once, or with two attempts whose
  [start, last line] intervals overlap;
- thrown away = attempts that wrote their end line whose task run is not SUCCESS with that attempt's token;
  "of which ended, then worker killed before its report": it ended before its worker was SIGKILLed and that
  worker's log shows no finish report delivered for it (the worker keeps its exit on disk and its guard
  delivers it, executors/worker_exits.py: expected 0);
- unwitnessed = task runs recorded SUCCESS whose token no ledger line wrote (expected 0).
Any non-zero lost/duplicated/stuck/thrown away/cut short/unwitnessed is printed in detail (task-run ids,
ledger lines, errors) and the data dir is kept (`--keep`, or always when something is wrong).

What it found (2026-12-04, shared 2-core machine): the default runs were all zero in both modes, but harsher
ones (`--kills 10 --work 0.2`) threw away 2-4 of 200 local attempts in most seeds: an attempt reaped by a
live server that was killed before it committed the exit was ExecutorLost and ran again. Fixed: the local
executor keeps the zombie until the exit is recorded (LocalExecutor.recorded; regression test
test_durable_attempts.py::test_an_exit_reaped_but_not_yet_committed_survives_a_server_sigkill).
With `--worker-kills 6 --lease 6` a result can
die with its worker (the "of which" line): the finish report was still in the killed worker's memory.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import TERMINAL, call, get_run, new_workflow, start_run

CHAIN = 5


@dataclass
class Attempt:
    exec_id: str
    name: str  # <task id>.<retry>.<rerun>
    nonce: str
    where: str
    start: float
    last: float
    end: float | None = None
    lines: list[str] = field(default_factory=list)


def task_code(ledger: Path, work: float) -> str:
    """POSIX sh, no `${...}` (the server substitutes those in code)."""
    step = work / 4
    head = "$TRIGFLOW_TASK_EXECUTION_ID $a $n"
    return (f'a=$(basename "$WEDATA_OUTPUT_FILE" .outputs); n=$(cat /proc/sys/kernel/random/uuid); '
            f'w=$TRIGFLOW_WORKER_NAME; [ -n "$w" ] || w=local; '
            f'echo "start {head} $(date +%s.%N) $w" >> {ledger}; '
            f'for i in 1 2 3 4; do sleep {step}; echo "tick {head} $(date +%s.%N) $w" >> {ledger}; done; '
            f'echo "##wedata_output token=$n"; '
            f'echo "end {head} $(date +%s.%N) $w" >> {ledger}')  # fmt: skip


def read_ledger(ledger: Path) -> dict[str, Attempt]:
    attempts: dict[str, Attempt] = {}
    for line in ledger.read_text().splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue
        kind, exec_id, name, nonce, t, where = parts[0], parts[1], parts[2], parts[3], float(parts[4]), parts[5]
        a = attempts.setdefault(nonce, Attempt(exec_id, name, nonce, where, t, t))
        a.lines.append(line)
        a.start, a.last = min(a.start, t), max(a.last, t)
        if kind == "end":
            a.end = t
    return attempts


class Workers:
    """`trigflow worker` processes of one group; kill -9 and replacement."""

    def __init__(self, tmp: Path, broker: str, group: str, lease: float) -> None:
        self.tmp, self.broker, self.group, self.lease = tmp, broker, group, lease
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.kills: list[tuple[str, float]] = []  # (name, wall time of the kill)
        self.count = 0

    def start(self, server: Server, data_dir: Path | None = None) -> str:
        self.count += 1
        name = f"chaos-w{self.count}"
        data_dir = data_dir or self.tmp / f"wdata-{name}"
        log_path = self.tmp / f"{name}.out"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "trigflow.cli", "worker", "--broker", self.broker, "--resource-group",
                 self.group, "--server", f"http://{server.endpoint}", "--token-file",
                 str(server.data_dir / "worker-token"), "--concurrency", "2", "--name", name, "--data-dir",
                 str(data_dir), "--heartbeat", "0.5", "--lease", str(self.lease)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.procs[name] = (proc, data_dir)
        wait_for(lambda: "ready" in log_path.read_text(errors="replace") or proc.poll() is not None, timeout=60,
                 what=f"worker {name} consuming")  # fmt: skip
        if proc.poll() is not None:
            raise RuntimeError(log_path.read_text(errors="replace"))
        return name

    def kill_one(self, server: Server, busy: set[str], rng: random.Random) -> str:
        """SIGKILL one worker (one with a running attempt if there is one) and start its replacement."""
        alive = sorted(self.procs)
        name = rng.choice(sorted(busy & set(alive)) or alive)
        proc, data_dir = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        self.kills.append((name, time.time()))
        proc.wait()
        # alternately the dead worker's data dir (its leftovers are swept on start) and a fresh one
        self.start(server, data_dir if len(self.kills) % 2 else None)
        return name

    def logs(self) -> dict[str, str]:
        return {p.stem: p.read_text(errors="replace") for p in self.tmp.glob("chaos-w*.out")}

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def crash(server: Server) -> None:
    """kill -9 of the server process and of its launcher (the keeper, if any, lives on: ADR 0005)."""
    pid = server.server_pid
    os.kill(pid, signal.SIGKILL)
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    server.wait_gone()


def busy_workers(ledger: Path) -> set[str]:
    return {a.where for a in read_ledger(ledger).values() if a.end is None}


def analyse(attempts: dict[str, Attempt], runs: dict[str, Any], stuck: list[str], kills: list[tuple[str, float]],
            downs: list[tuple[float, float]], worker_logs: dict[str, str]
            ) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """The figures, and the evidence behind every non-zero figure that should be zero."""
    evidence: list[str] = []
    run_ends = collections.Counter(d.TriggerWorkflowRun.ExecutionState for d in runs.values())
    task_runs = {t.ExecutionId: t for d in runs.values() for t in d.TriggerTaskRuns}
    task_ends = collections.Counter(t.ExecutionState for t in task_runs.values())
    by_exec: dict[str, list[Attempt]] = collections.defaultdict(list)
    for a in attempts.values():
        by_exec[a.exec_id].append(a)

    def token(t: Any) -> str | None:
        ext = json.loads(t.TaskTypeExtensions or "{}")
        return json.loads(ext.get("taskOutputs", "{}")).get("token")

    lost = [e for e, t in task_runs.items() if t.ExecutionState == "FAILED" and
            (t.ErrorCodeStr or "").startswith("ExecutorLost")]  # fmt: skip
    killed_retried = cut_short = 0
    for a in attempts.values():
        if a.end is not None:
            continue
        t = task_runs.get(a.exec_id)
        by_kill = any(name == a.where and at >= a.start for name, at in kills)
        if by_kill and t is not None and t.ExecutionState == "SUCCESS" and token(t) != a.nonce:
            killed_retried += 1
        else:
            cut_short += 1
            evidence.append(f"cut short: {a.exec_id} attempt {a.name} ({'killed worker' if by_kill else 'no kill'}"
                            f"), task run {t.ExecutionState if t else '?'}: " + " | ".join(a.lines))  # fmt: skip
    def died_with_worker(a: Any) -> bool:
        """Its worker was SIGKILLed before its end line: the attempt had not ended when its worker died, and
        the worker's guard killed it (~0.05-0.15 s later) after that line, by design (attempts die with their
        worker); it did not finish, so it is retried, neither thrown away nor a second completion."""
        return a.end is not None and any(name == a.where and a.start < at <= a.end for name, at in kills)

    duplicated = []
    for exec_id, group in by_exec.items():
        ended = [a for a in group if a.end is not None and not died_with_worker(a)]
        overlap = [(x, y) for i, x in enumerate(group) for y in group[i + 1:]
                   if x.start <= y.last and y.start <= x.last]  # fmt: skip
        if len(ended) > 1 or overlap:
            duplicated.append(exec_id)
            evidence.append(f"duplicated: {exec_id}: " + " || ".join(" | ".join(a.lines) for a in group))
    thrown, unreported, after_death = [], 0, 0
    for a in attempts.values():
        t = task_runs.get(a.exec_id)
        if a.end is not None and (t is None or t.ExecutionState != "SUCCESS" or token(t) != a.nonce):
            if died_with_worker(a):
                after_death += 1
                if t is not None and t.ExecutionState == "SUCCESS":
                    killed_retried += 1
                continue
            thrown.append(a)
            # The worker's own log says whether it delivered the finish report (the Celery task id is
            # <task run>.<retry>.<rerun>, the attempt name <task id>.<retry>.<rerun>).
            remote_id = a.exec_id + a.name[a.name.index("."):]
            # Killed after it started: its end line may even follow the kill by the ~0.15 s its guard takes.
            if any(name == a.where and at > a.start for name, at in kills) and \
                    f"attempt {remote_id} reported" not in worker_logs.get(a.where, ""):  # fmt: skip
                unreported += 1
                kill_at = min(at for name, at in kills if name == a.where and at > a.start)
                assert a.end is not None
                evidence.append(f"(worker {a.where} killed while or after attempt {remote_id} ran, its end line "
                                f"{(a.end - kill_at) * 1000:+.0f} ms from the kill; its log shows no finish report "
                                "delivered: the result died with the worker)")  # fmt: skip
            recorded = f"{t.ExecutionState} retry {t.RetryTimes} rerun {t.RerunTimes} token {token(t)} " \
                       f"error {t.ErrorCodeStr!r}" if t else "no such task run"  # fmt: skip
            evidence.append(f"thrown away: {a.exec_id} attempt {a.name} nonce {a.nonce} on {a.where}, recorded "
                            f"{recorded}: " + " | ".join(a.lines))  # fmt: skip
    nonces = {a.nonce for a in attempts.values()}
    unwitnessed = [e for e, t in task_runs.items() if t.ExecutionState == "SUCCESS" and token(t) not in nonces]
    for e in unwitnessed:
        evidence.append(f"unwitnessed: {e} recorded SUCCESS with token {token(task_runs[e])}")
    for e in lost:
        evidence.append(f"lost: {e}: {task_runs[e].ErrorCodeStr}: " +
                        " || ".join(" | ".join(a.lines) for a in by_exec.get(e, [])))  # fmt: skip
    for r in stuck:
        evidence.append(f"stuck: run {r}")
    # how hard the chaos hit: attempts running across a server kill, and those that ended while it was down
    across = sum(1 for a in attempts.values() if any(a.start < k < a.last for k, _ in downs))
    ended_down = sum(1 for a in attempts.values() if a.end is not None and any(k < a.end < u for k, u in downs))
    figures = {
        "runs": dict(run_ends), "stuck": len(stuck), "task runs": dict(task_ends), "lost": len(lost),
        "attempts": len(attempts), "attempts across a server kill": across,
        "attempts ended while it was down": ended_down, "killed with a worker, retried": killed_retried,
        "cut short otherwise": cut_short,
        "duplicated": len(duplicated), "thrown away": len(thrown),
        "  (last line after its worker's kill -9, before the guard's kill: retried)": after_death,
        "  of which ended, then worker killed before its report": unreported, "unwitnessed": len(unwitnessed),
    }  # fmt: skip
    return figures, evidence


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--kills", type=int, default=5, help="server SIGKILL + restarts")
    ap.add_argument("--work", type=float, default=0.4, help="seconds each task works")
    ap.add_argument("--slots", type=int, default=4, help="capacity of the default (local) group; workers: 2 x 2")
    ap.add_argument("--no-keeper", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--deadline", type=float, default=600, help="seconds after the last kill for every run to end")
    ap.add_argument("--workers", action="store_true", help="run the chain on 2 `trigflow worker` x 2 slots")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    ap.add_argument("--worker-kills", type=int, default=3)
    ap.add_argument("--lease", type=float, default=10.0, help="--worker-lease of the server, --lease of the workers")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs, ledger and logs")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    extra = ["--kill-grace", "1", "--rate-limit", "100000", "--slots", str(args.slots)]
    extra += ["--no-keeper"] if args.no_keeper else []
    if args.workers:
        extra += ["--broker", args.broker, "--worker-lease", str(args.lease)]
    tmp = Path(tempfile.mkdtemp(prefix="chaos-"))
    data, ledger = tmp / "data", tmp / "ledger"
    ledger.touch()
    server = start_server(data, extra=extra)
    workers: Workers | None = None
    figures: dict[str, Any] = {}
    evidence: list[str] = []
    try:
        client = make_client(server.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        config: dict[str, Any] = {}
        if args.workers:
            from tests.integration.test_celery_workers import new_group

            group = new_group(client, slots=4)
            config["ResourceGroup"] = group
            workers = Workers(tmp, args.broker, group, args.lease)
            workers.start(server)
            workers.start(server)
        # every run in flight at once (the default MaxConcurrentNum 1 would queue them: one run at a time)
        wf = new_workflow(client, project_id, f"chaos_{uuid.uuid4().hex[:6]}",
                          TriggerWorkflowRunConfiguration={"MaxConcurrentNum": args.runs})  # fmt: skip
        prev: str | None = None
        for i in range(CHAIN):
            created = call(client, "CreateTriggerTask", {
                "ProjectId": project_id,
                "TriggerTaskBaseAttribute": {"TaskName": f"t{i}", "TaskTypeId": "35", "WorkflowId": wf},
                "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(task_code(ledger, args.work).encode())
                                             .decode(), **config},
                "TriggerTaskSchedulerConfiguration": {
                    "UpstreamDependencyConfigList": [{"TaskId": prev}] if prev else [],
                    "MaxRetryNumber": 4, "RetryWaitMinute": 0,
                    "ParamTaskOutList": [{"ParamKey": "token", "ParamValue": ""}]},
            })  # fmt: skip
            prev = str(created.TaskId)
            call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": prev, "VersionRemark": "v1"})
        run_ids = [start_run(client, project_id, wf) for _ in range(args.runs)]
        span = CHAIN * args.work * args.runs / 4  # about how long the runs take on 4 slots
        events = sorted([(rng.uniform(0.2, span), "server") for _ in range(args.kills)] +
                        [(rng.uniform(0.2, span), "worker") for _ in range(args.worker_kills if workers else 0)])
        t0 = time.monotonic()
        downs: list[tuple[float, float]] = []  # wall times: SIGKILL, answering again
        for at, what in events:
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            if what == "server":
                down = time.time()
                crash(server)
                server = start_server(data, port=server.port, extra=extra)
                downs.append((down, time.time()))
                client = make_client(server.endpoint)
                print(f"{time.monotonic() - t0:7.2f} s  server SIGKILLed and restarted", flush=True)
            else:
                assert workers is not None
                name = workers.kill_one(server, busy_workers(ledger), rng)
                print(f"{time.monotonic() - t0:7.2f} s  worker {name} SIGKILLed, replaced", flush=True)
        runs: dict[str, Any] = {}
        deadline = time.monotonic() + args.deadline
        pending = list(run_ids)
        while pending and time.monotonic() < deadline:
            still = []
            for run_id in pending:
                try:
                    d = get_run(client, project_id, run_id)
                except Exception:  # a busy or restarting server: ask again
                    still.append(run_id)
                    continue
                (runs.__setitem__(run_id, d) if d.TriggerWorkflowRun.ExecutionState in TERMINAL
                 else still.append(run_id))  # fmt: skip
            pending = still
            if pending:
                time.sleep(0.5)
        took = time.monotonic() - t0
        for run_id in pending:  # stuck: their task runs still count
            runs[run_id] = get_run(client, project_id, run_id)
        finished = {r: d for r, d in runs.items() if r not in pending}
        figures, evidence = analyse(read_ledger(ledger), runs, pending, workers.kills if workers else [], downs,
                                     workers.logs() if workers else {})  # fmt: skip
        figures["runs"] = dict(collections.Counter(d.TriggerWorkflowRun.ExecutionState for d in finished.values()))
    finally:
        if workers is not None:
            workers.stop()
        server.stop()
    mode = (f"2 workers x 2 slots ({args.broker}), {args.worker_kills} worker kill -9, lease {args.lease:g} s"
            if args.workers else "local executor" + (" without keeper" if args.no_keeper else ""))  # fmt: skip
    print(f"{args.runs} runs x {CHAIN} tasks, {mode}, {args.kills} server SIGKILLs, seed {args.seed}, "
          f"all ended {took:.1f} s after the start of the chaos")  # fmt: skip
    for key, value in figures.items():
        print(f"  {key:<32} {value}")
    for line in evidence:
        print("  !", line)
    if evidence or args.keep:
        print(f"kept: {tmp} (ledger, server data and logs)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
