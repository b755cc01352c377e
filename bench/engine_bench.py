"""Engine benchmark: a 50-task chain and 200 independent tasks of `true`, through the real API.

Starts its own `trigflow up` (SQLite, fresh data dir), builds the workflows with the official SDK,
runs each several times, and prints wall time (from the run's CreateTime to its ExecutionEndTime,
both stamped by the server), engine overhead per task and tasks/s — next to the cost of starting
the same processes straight from Python (`subprocess.run(["true"])`), measured in the same run,
because these machines are shared and noisy: compare ratios, not absolute figures.

    python bench/engine_bench.py [--repeat 5] [--chain 50] [--wide 200] [--db URL]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_client, start_server
from tests.integration.helpers import call, new_task, new_workflow, start_run, wait_run


def baseline_sequential(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["true"], check=True)
    return time.perf_counter() - t0


def baseline_parallel(n: int) -> float:
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["true"]) for _ in range(n)]
    for p in procs:
        p.wait()
    return time.perf_counter() - t0


def build(client, project_id: str, name: str, n: int, chain: bool) -> str:  # type: ignore[no-untyped-def]
    wf = new_workflow(client, project_id, name)
    prev: str | None = None
    for i in range(n):
        prev = new_task(client, project_id, wf, f"t{i:04d}", "true", upstream=[prev] if chain and prev else [])
    return wf


def run_once(client, project_id: str, wf: str) -> float:  # type: ignore[no-untyped-def]
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=300, poll=0.1)
    run = data.TriggerWorkflowRun
    assert run.ExecutionState == "SUCCESS", run.ExecutionState
    return (int(run.ExecutionEndTime) - int(run.CreateTime)) / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chain", type=int, default=50)
    ap.add_argument("--wide", type=int, default=200)
    ap.add_argument("--db", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), db_url=args.db, extra=["--rate-limit", "100000", "--log-level", "warning"])
        try:
            client = make_client(server.endpoint)
            project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
            chain_wf = build(client, project_id, "bench_chain", args.chain, chain=True)
            wide_wf = build(client, project_id, "bench_wide", args.wide, chain=False)
            run_once(client, project_id, chain_wf)  # warm-up
            rows = []
            for label, wf, n, base_fn in (
                (f"chain of {args.chain}", chain_wf, args.chain, baseline_sequential),
                (f"{args.wide} independent", wide_wf, args.wide, baseline_parallel),
            ):
                walls, bases = [], []
                for _ in range(args.repeat):
                    bases.append(base_fn(n))
                    walls.append(run_once(client, project_id, wf))
                wall, base = statistics.median(walls), statistics.median(bases)
                rows.append((label, n, wall, base, min(walls)))
        finally:
            server.stop()
    print(
        f"{'workload':<18} {'wall s':>8} {'best s':>8} {'procs s':>8} {'ratio':>7}"
        f" {'overhead ms/task':>17} {'tasks/s':>8}"
    )
    for label, n, wall, base, best in rows:
        overhead = (wall - base) / n * 1000
        print(f"{label:<18} {wall:8.3f} {best:8.3f} {base:8.3f} {wall / base:7.1f} {overhead:17.2f} {n / wall:8.0f}")
    print("(median of runs; 'procs s' = the same processes started straight from Python in this run)")


if __name__ == "__main__":
    main()
