"""How much does LocalExecutor add on top of a bare fork/exec/wait?

The engine's budget is a 50-task chain of `true` in 0.3 s, i.e. a few ms per task *including* database
work, so the executor itself must stay well under 1 ms per task beyond the cost of the process. This
runs N `true` processes strictly one after another (the next starts when the previous exit has been
reported, exactly like a chain) through LocalExecutor and through `subprocess.run(["true"])`, and
prints both wall times and the per-process difference. Rounds are interleaved so that machine noise
hits both sides alike. The best round is the headline (noise only ever adds time, so the minimum is the
most reproducible figure on a shared machine); the median is shown next to it. The server's own CPU
time per process (all its threads, children excluded) is reported too: it is the executor's overhead
free of scheduling noise.

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


def bench_executor(n: int, workdir: str, start_times: list[float]) -> tuple[float, float]:
    """(wall, cpu) of n sequential attempts; appends each start() call's own duration to start_times."""
    events: queue.SimpleQueue[ExecutorEvent] = queue.SimpleQueue()
    executor = LocalExecutor(events.put)
    env = dict(os.environ)
    log_path = os.path.join(workdir, "logs", "bench.log")
    try:
        t0 = time.perf_counter()
        c0 = time.process_time()
        for i in range(n):
            spec = LaunchSpec(attempt_id=f"a{i}", argv=("true",), env=env, cwd=workdir, log_path=log_path)
            s0 = time.perf_counter()
            executor.start(spec)
            start_times.append(time.perf_counter() - s0)
            event = events.get()
            if event.kind != "exited" or event.exit_code != 0:
                raise RuntimeError(f"unexpected event {event}")
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        executor.shutdown(kill=True, grace_seconds=1.0)


def bench_subprocess_run(n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(n):
        subprocess.run(["true"], check=True)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="processes per round (default 200)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per method (default 7)")
    args = parser.parse_args()
    n: int = args.n

    with tempfile.TemporaryDirectory(prefix="trigflow-bench-") as workdir:
        bench_executor(20, workdir, [])  # warm-up: imports, page cache, first thread start
        bench_subprocess_run(20)
        executor_rounds: list[tuple[float, float]] = []
        run_rounds: list[tuple[float, float]] = []
        start_times: list[float] = []
        for _ in range(args.rounds):
            executor_rounds.append(bench_executor(n, workdir, start_times))
            run_rounds.append(bench_subprocess_run(n))

    def summary(rounds: list[tuple[float, float]]) -> tuple[float, float, float]:
        walls = [w for w, _ in rounds]
        return min(walls), statistics.median(walls), statistics.median(c for _, c in rounds)

    ex_min, ex_med, ex_cpu = summary(executor_rounds)
    run_min, run_med, run_cpu = summary(run_rounds)
    us = 1e6 / n
    print(f"N={n} sequential `true` processes, {args.rounds} interleaved rounds per method")
    print("                        best wall       (per process)   median wall   server CPU/process")
    print(
        f"  LocalExecutor       : {ex_min:7.3f} s   ({ex_min * us:7.1f} us)   {ex_med:7.3f} s   {ex_cpu * us:7.1f} us"
    )
    print(
        f"  subprocess.run(true): {run_min:7.3f} s   ({run_min * us:7.1f} us)   {run_med:7.3f} s"
        f"   {run_cpu * us:7.1f} us"
    )
    print(
        f"  executor overhead   : best {(ex_min - run_min) * us:+7.1f} us/process (ratio {ex_min / run_min:.3f}),"
        f" median {(ex_med - run_med) * us:+7.1f} us/process (ratio {ex_med / run_med:.3f})"
    )
    print(
        f"  start() call alone  : median {statistics.median(start_times) * 1e6:.1f} us,"
        f" p95 {statistics.quantiles(start_times, n=20)[-1] * 1e6:.1f} us"
    )


if __name__ == "__main__":
    main()
