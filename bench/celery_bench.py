"""Celery workers benchmark (issue 10's note): the four figures, measured in one run against the local executor.

    python bench/celery_bench.py [--broker redis://127.0.0.1:6379/7] [--repeat 3] [--chain 50] [--wide 200]
                                 [--lease 30] [--kill-repeat 5] [--tail-seconds 6]

Starts its own `trigflow up --broker ... --worker-lease LEASE` and two `trigflow worker` processes x 2 slots
(each with its own data dir), then measures, on the same server and workers:

1. **chain**: a 50-task chain of `true`, and 2. **wide**: 200 independent `true` tasks, each built once in the
   default (local) group and once in the worker group, run `--repeat` times after a warm-up. Figure: the
   median wall time (the run's CreateTime to ExecutionEndTime, stamped by the server), best and ms per task.
3. **kill -9 -> retry**: a one-task workflow (MaxRetryNumber 1, no retry wait) in the worker group whose
   first attempt writes `start <worker> <wall time>` to a ledger and then waits; the bench SIGKILLs the worker
   running it and times until the retry's `start` line, written by the other worker (same host, same clock).
   Measured `--kill-repeat` times, a replacement worker started after each; median, min and max. The dead
   worker's guard kills the attempt and reports the worker gone (executors/worker_guard.py), so the server
   retries it at once (RetryWaitMinute 0), whatever the lease (default here: the production 30 s). Without
   that report (the worker's host lost with its guard) the lease applies instead: the server declares the
   attempt lost once no report came for `--worker-lease` seconds, checked every min(1, lease / 5) s, so
   kill -> retry = lease - [0, 1] s + [0, check period] + the retry's dispatch (29-31 s for 30 s).
4. **log tail**: a task prints `tail <wall time>` every 0.1 s for `--tail-seconds`; a reader follows its log
   through the official SDK's GetTaskInstanceLog (LifeRoundNum 0, NextCursor) polling every `--tail-poll`
   seconds and records, per line, receive time - printed time; median and p95 over all lines, local and
   remote. The poll interval is part of the figure (on average half of it).

Ratios are worker / local. Shared, noisy machines: compare ratios within one run, not across runs.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import call, get_run, new_workflow, start_run, wait_run
from tests.integration.test_celery_workers import internal, new_group, task


def build(client: Any, project_id: str, n: int, chain: bool, group: str | None) -> str:
    wf = new_workflow(client, project_id, f"bench_{uuid.uuid4().hex[:6]}",
                      TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 5})  # fmt: skip
    prev: str | None = None
    for i in range(n):
        prev = task(client, project_id, wf, f"t{i:04d}", "true", group, [prev] if chain and prev else None)
    return wf


def run_once(client: Any, project_id: str, wf: str) -> float:
    data = wait_run(client, project_id, start_run(client, project_id, wf), timeout=600, poll=0.1)
    run = data.TriggerWorkflowRun
    assert run.ExecutionState == "SUCCESS", run.ExecutionState
    return (int(run.ExecutionEndTime) - int(run.CreateTime)) / 1000


class Pool:
    """The group's `trigflow worker` processes, by name."""

    def __init__(self, server: Server, broker: str, group: str, tmp: Path, lease: float) -> None:
        self.server, self.broker, self.group, self.tmp, self.lease = server, broker, group, tmp, lease
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.count = 0

    def start(self) -> str:
        self.count += 1
        name = f"bench-w{self.count}"
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "trigflow.cli", "worker", "--broker", self.broker, "--resource-group", self.group,
             "--server", f"http://{self.server.endpoint}", "--token-file", str(self.server.data_dir / "worker-token"),
             "--concurrency", "2", "--name", name, "--data-dir", str(self.tmp / name), "--lease", str(self.lease),
             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # fmt: skip
        return name

    def wait_registered(self) -> None:
        def live() -> bool:
            names = {w["name"] for w in internal(self.server, "/internal/v1/workers")["workers"]}
            return set(self.procs) <= names

        wait_for(live, timeout=60, what="the workers registered")

    def stop(self) -> None:
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            p.wait(timeout=30)


def kill_to_retry(client: Any, project_id: str, group: str, pool: Pool, tmp: Path, repeat: int) -> list[float]:
    """Seconds from the SIGKILL of the worker running an attempt to its retry's first line on another worker."""
    ledger = tmp / "kill.ledger"
    seconds = []
    for i in range(repeat):
        ledger.write_text("")
        gate = tmp / f"kill-gate-{i}"
        code = (f'echo "start $TRIGFLOW_WORKER_NAME $(date +%s.%N)" >> {ledger}; '
                f"while [ ! -e {gate} ]; do sleep 0.05; done")  # fmt: skip
        wf = new_workflow(client, project_id, f"bench_kill_{uuid.uuid4().hex[:6]}")
        task(client, project_id, wf, "victim", code, group, MaxRetryNumber=1, RetryWaitMinute=0)
        run_id = start_run(client, project_id, wf)
        first = wait_for(lambda: ledger.read_text().split(), timeout=60, what="the first attempt started")
        victim = first[1]
        killed_at = time.time()
        proc = pool.procs.pop(victim)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        second = wait_for(lambda: ledger.read_text().split()[3:], timeout=pool.lease + 60, interval=0.01,
                          what="the retry started")  # fmt: skip
        assert second[0] == "start" and second[1] != victim, second
        seconds.append(float(second[2]) - killed_at)
        gate.touch()
        assert wait_run(client, project_id, run_id, timeout=60).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        pool.start()  # back to two workers
        pool.wait_registered()
    return seconds


def log_tail(client: Any, project_id: str, group: str | None, seconds: float, poll: float) -> list[float]:
    """receive time - print time of every line of a task that prints its wall clock every 0.1 s."""
    n = int(seconds / 0.1)
    wf = new_workflow(client, project_id, f"bench_tail_{uuid.uuid4().hex[:6]}")
    task(client, project_id, wf, "talker", f'for i in $(seq {n}); do echo "tail $(date +%s.%N)"; sleep 0.1; done',
         group)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    exec_id = wait_for(lambda: get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId, what="task run")
    lags: list[float] = []
    cursor: str | None = None
    partial = ""
    while True:
        params: dict[str, Any] = {"ProjectId": project_id, "InstanceKey": exec_id, "LifeRoundNum": 0}
        if cursor:
            params["NextCursor"] = cursor
        page = call(client, "GetTaskInstanceLog", params)
        now = time.time()
        text = partial + str(page.LogInfo or "")
        lines = text.split("\n")
        partial = lines.pop()  # an incomplete last line continues on the next page
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "tail":
                lags.append(now - float(parts[1]))
        cursor = page.NextCursor
        if cursor is None:
            break
        if not page.LogInfo:
            time.sleep(poll)
    assert len(lags) == n, (len(lags), n)
    return lags


def p95(xs: list[float]) -> float:
    return sorted(xs)[min(len(xs) - 1, int(0.95 * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/7")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chain", type=int, default=50)
    ap.add_argument("--wide", type=int, default=200)
    ap.add_argument("--lease", type=float, default=30.0, help="--worker-lease of the server, --lease of the workers")
    ap.add_argument("--kill-repeat", type=int, default=5)
    ap.add_argument("--tail-seconds", type=float, default=6.0)
    ap.add_argument("--tail-poll", type=float, default=0.02)
    args = ap.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = start_server(tmp / "server", extra=["--broker", args.broker, "--rate-limit", "100000",
                                                     "--worker-lease", str(args.lease), "--kill-grace", "1",
                                                     "--log-level", "warning"])  # fmt: skip
        pool: Pool | None = None
        try:
            client = make_client(server.endpoint)
            project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
            group = new_group(client, slots=64)
            pool = Pool(server, args.broker, group, tmp, args.lease)
            pool.start()
            pool.start()
            pool.wait_registered()
            for label, n, chain in ((f"chain of {args.chain}", args.chain, True),
                                    (f"{args.wide} independent", args.wide, False)):  # fmt: skip
                walls = {}
                for where, g in (("local", None), ("workers", group)):
                    wf = build(client, project_id, n, chain, g)
                    run_once(client, project_id, wf)  # warm-up
                    walls[where] = [run_once(client, project_id, wf) for _ in range(args.repeat)]
                loc, rem = statistics.median(walls["local"]), statistics.median(walls["workers"])
                rows.append((label, f"{loc:.3f} s (best {min(walls['local']):.3f}, {loc / n * 1000:.1f} ms/task)",
                             f"{rem:.3f} s (best {min(walls['workers']):.3f}, {rem / n * 1000:.1f} ms/task)",
                             f"{rem / loc:.2f}x"))  # fmt: skip
            kills = kill_to_retry(client, project_id, group, pool, tmp, args.kill_repeat)
            kill_s = statistics.median(kills)
            rows.append((f"kill -9 -> retry, lease {args.lease:g} s", "-",
                         f"median {kill_s:.2f} s (min {min(kills):.2f}, max {max(kills):.2f}, n={len(kills)})",
                         "guard's report; host lost: lease + <= 1 s"))  # fmt: skip
            tails = {where: log_tail(client, project_id, g, args.tail_seconds, args.tail_poll)
                     for where, g in (("local", None), ("workers", group))}  # fmt: skip
            loc_t, rem_t = (statistics.median(tails[w]) for w in ("local", "workers"))
            rows.append((f"log tail (poll {args.tail_poll:g} s)",
                         f"median {loc_t * 1000:.0f} ms, p95 {p95(tails['local']) * 1000:.0f} ms",
                         f"median {rem_t * 1000:.0f} ms, p95 {p95(tails['workers']) * 1000:.0f} ms "
                         f"(n={len(tails['workers'])})", f"{rem_t / loc_t:.2f}x"))  # fmt: skip
        finally:
            if pool is not None:
                pool.stop()
            server.stop()
    print(f"broker {args.broker}; 2 workers x 2 slots; repeat {args.repeat}")
    print(f"{'figure':<28} {'local':<44} {'2 workers x 2 slots':<50} {'workers/local'}")
    for row in rows:
        print(f"{row[0]:<28} {row[1]:<44} {row[2]:<50} {row[3]}")


if __name__ == "__main__":
    main()
