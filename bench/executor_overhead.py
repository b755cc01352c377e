"""How much does LocalExecutor add on top of a bare fork/exec/wait?

The engine's budget is a 50-task chain of `true` in 0.3 s, i.e. a few ms per task *including* database
work, so the executor itself must stay well under 1 ms per task beyond the cost of the process. This
runs N `true` processes strictly one after another (the next starts when the previous exit has been
reported, exactly like a chain) through LocalExecutor and through `subprocess.run(["true"])`, and
prints both wall times and the per-process difference. Rounds are interleaved so that machine noise
hits both sides alike; the median round is reported.

    .venv/bin/python bench/executor_overhead.py [-n 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import tempfile
import time

from trigflow.executors.base import ExecutorEvent, LaunchSpec
from trigflow.executors.local import LocalExecutor


def bench_executor(n: int, workdir: str, start_times: list[float]) -> float:
    """Wall time of n sequential attempts; appends each start() call's own duration to start_times."""
    events: queue.SimpleQueue[ExecutorEvent] = queue.SimpleQueue()
    executor = LocalExecutor(events.put)
    env = dict(os.environ)
    log_path = os.path.join(workdir, "logs", "bench.log")
    try:
        t0 = time.perf_counter()
        for i in range(n):
            spec = LaunchSpec(attempt_id=f"a{i}", argv=("true",), env=env, cwd=workdir, log_path=log_path)
            s0 = time.perf_counter()
            executor.start(spec)
            start_times.append(time.perf_counter() - s0)
            event = events.get()
            if event.kind != "exited" or event.exit_code != 0:
                raise RuntimeError(f"unexpected event {event}")
        return time.perf_counter() - t0
    finally:
        executor.shutdown(kill=True, grace_seconds=1.0)


def bench_subprocess_run(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["true"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="processes per round (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per method (default 5)")
    args = parser.parse_args()
    n: int = args.n

    with tempfile.TemporaryDirectory(prefix="trigflow-bench-") as workdir:
        bench_executor(20, workdir, [])  # warm-up: imports, page cache, first thread start
        bench_subprocess_run(20)
        executor_walls: list[float] = []
        run_walls: list[float] = []
        start_times: list[float] = []
        for _ in range(args.rounds):
            executor_walls.append(bench_executor(n, workdir, start_times))
            run_walls.append(bench_subprocess_run(n))

    ex = statistics.median(executor_walls)
    run = statistics.median(run_walls)
    per_ex = ex / n * 1e6
    per_run = run / n * 1e6
    print(f"N={n} sequential `true` processes, median of {args.rounds} interleaved rounds")
    print(f"  LocalExecutor        : {ex:.3f} s wall  ({per_ex:7.1f} us/process)")
    print(f"  subprocess.run(true) : {run:.3f} s wall  ({per_run:7.1f} us/process)")
    print(f"  executor overhead    : {per_ex - per_run:+7.1f} us/process  (ratio {ex / run:.3f})")
    print(
        f"  start() call alone   : median {statistics.median(start_times) * 1e6:.1f} us, "
        f"p95 {statistics.quantiles(start_times, n=20)[-1] * 1e6:.1f} us"
    )
    print(f"  all rounds (s)       : executor {[round(w, 3) for w in executor_walls]}")
    print(f"                         run      {[round(w, 3) for w in run_walls]}")


if __name__ == "__main__":
    main()
