"""Engine CPU per task without processes: the bench_engine workloads through `Execution.process` in-process.

`bench/engine_bench.py` measures the real thing (HTTP, a server, fork/exec) and on these shared 2-core
machines its figures move by ±20 % between identical runs. This one drives the same engine code (run
creation excluded; dispatch, launch specs, state changes and their writes included) with synthetic
Started/Exited messages instead of processes, so a change to the engine's per-task work shows up even when
the machine is noisy. Compare two trees by alternating them:

    PYTHONPATH=<tree>/src python bench/engine_cpu_bench.py [--repeat 7] [--chain 50] [--wide 200]
"""

from __future__ import annotations

import argparse
import base64
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from trigflow.app import bootstrap, build
from trigflow.config import Settings
from trigflow.engine.execution_messages import Adopt, Exited, Message, Started
from trigflow.service.common import Caller

SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None


def ms_per_task(n: int, chain: bool, repeat: int) -> float:
    """Best of `repeat` runs of an n-task chain (or n independent tasks), in engine milliseconds per task."""
    tmp = Path(tempfile.mkdtemp(prefix="trigflow-cpu-bench-", dir=SCRATCH))
    services: Any = build(Settings(data_dir=tmp))
    try:
        boot = bootstrap(services)
        caller, project = Caller(boot.admin.secret_id, boot.admin.uin), boot.project_id
        wf = services.catalog.create_workflow(
            caller, {"ProjectId": project, "WorkflowName": "cpu_bench", "ParentFolderPath": "/bench"}
        )
        prev: str | None = None
        for i in range(n):
            sched = {"UpstreamDependencyConfigList": [{"TaskId": prev}]} if chain and prev else {}
            prev = services.tasks.create_task(caller, {
                "ProjectId": project,
                "TriggerTaskBaseAttribute": {"TaskName": f"t{i:04d}", "TaskTypeId": "35", "WorkflowId": wf},
                "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(b"true").decode()},
                "TriggerTaskSchedulerConfiguration": sched,
            })  # fmt: skip
            services.tasks.submit_task(caller, project, prev, "bench")
        execution = services.scheduler.execution
        best = float("inf")
        for _ in range(repeat):
            run_id = services.runs.create_manual_run(caller, {"ProjectId": project, "WorkflowId": wf})
            t0 = time.perf_counter()
            effects = execution.process([Adopt(run_id)])
            pid = 1000
            while effects.launches:
                batch: list[Message] = []
                for launch in effects.launches:
                    pid += 1
                    batch += [Started(launch.attempt_id, pid, "bench", 0), Exited(launch.attempt_id, 0, 0)]
                effects = execution.process(batch)
            best = min(best, time.perf_counter() - t0)
        return best / n * 1000
    finally:
        services.scheduler.executor.shutdown(kill=False, grace_seconds=0)
        services.db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--chain", type=int, default=50)
    ap.add_argument("--wide", type=int, default=200)
    args = ap.parse_args()
    chain = ms_per_task(args.chain, True, args.repeat)
    wide = ms_per_task(args.wide, False, args.repeat)
    print(f"engine ms/task (best of {args.repeat}): chain of {args.chain} {chain:.3f},"
          f" {args.wide} independent {wide:.3f}")


if __name__ == "__main__":
    main()
