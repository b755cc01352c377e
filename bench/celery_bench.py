"""Celery workers benchmark: a 50-task chain and 200 independent tasks of `true`, local vs on 2 workers x 2 slots.

Starts its own `trigflow up --broker` and two `trigflow worker` processes (each with its own data dir), builds
the same workflows once in the default (local) group and once in a worker group, runs each several times and
prints the wall time (the run's CreateTime to ExecutionEndTime, stamped by the server). Shared, noisy machines:
compare ratios within one run.

    python bench/celery_bench.py [--broker redis://127.0.0.1:6379/7] [--repeat 3] [--chain 50] [--wide 200]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_client, start_server, wait_for
from tests.integration.helpers import call, new_workflow, start_run, wait_run
from tests.integration.test_celery_workers import internal, new_group, task


def build(client, project_id: str, n: int, chain: bool, group: str | None) -> str:  # type: ignore[no-untyped-def]
    wf = new_workflow(client, project_id, f"bench_{uuid.uuid4().hex[:6]}",
                      TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 5})  # fmt: skip
    prev: str | None = None
    for i in range(n):
        prev = task(client, project_id, wf, f"t{i:04d}", "true", group, [prev] if chain and prev else None)
    return wf


def run_once(client, project_id: str, wf: str) -> float:  # type: ignore[no-untyped-def]
    data = wait_run(client, project_id, start_run(client, project_id, wf), timeout=600, poll=0.1)
    run = data.TriggerWorkflowRun
    assert run.ExecutionState == "SUCCESS", run.ExecutionState
    return (int(run.ExecutionEndTime) - int(run.CreateTime)) / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/7")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chain", type=int, default=50)
    ap.add_argument("--wide", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "server", extra=["--broker", args.broker, "--rate-limit", "100000",
                                                           "--log-level", "warning"])  # fmt: skip
        procs: list[subprocess.Popen[bytes]] = []
        try:
            client = make_client(server.endpoint)
            project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
            group = new_group(client, slots=64)
            for name in ("bench-w1", "bench-w2"):
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "trigflow.cli", "worker", "--broker", args.broker, "--resource-group", group,
                     "--server", f"http://{server.endpoint}", "--token-file", str(server.data_dir / "worker-token"),
                     "--concurrency", "2", "--name", name, "--data-dir", str(Path(tmp) / name), "--log-level",
                     "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            wait_for(lambda: len(internal(server, "/internal/v1/workers")["workers"]) == 2, timeout=60,
                     what="two workers")  # fmt: skip
            rows = []
            for label, n, chain in ((f"chain of {args.chain}", args.chain, True),
                                    (f"{args.wide} independent", args.wide, False)):  # fmt: skip
                for where, g in (("local", None), ("2 workers x 2", group)):
                    wf = build(client, project_id, n, chain, g)
                    run_once(client, project_id, wf)  # warm-up
                    walls = [run_once(client, project_id, wf) for _ in range(args.repeat)]
                    rows.append((label, where, statistics.median(walls), min(walls), n))
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=30)
            server.stop()
    print(f"{'workload':<18} {'where':<14} {'wall s':>8} {'best s':>8} {'ms/task':>8}")
    for label, where, wall, best, n in rows:
        print(f"{label:<18} {where:<14} {wall:8.3f} {best:8.3f} {wall / n * 1000:8.1f}")


if __name__ == "__main__":
    main()
