"""One trivial statement (`SELECT 1`) through the SQL runner vs the same through `psql -c`, for the note.

Three ways, each timed N times (median and min): the runner's `run()` called in-process (connect, run,
close: what a SQL attempt pays beyond its process), `psql -c` (the bare equivalent: a process and a
connection), and `trigflow run-attempt` on a workload file (the whole worker-side process a SQL task runs).
Needs PostgreSQL on 127.0.0.1:5432 (db `test`, trust). Usage: `.venv/bin/python bench/sql_runner_bench.py [N]`.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from trigflow.runner import sql

PG = {"type": "POSTGRE", "driver": "postgresql", "host": "127.0.0.1", "port": 5432, "database": "test",
      "username": "postgres", "password": None, "path": None, "options": {}}  # fmt: skip


def _timed(f: Callable[[], object]) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main(n: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as wl:
        json.dump({"taskTypeId": 32, "code": "SELECT 1", "params": {}, "dataSource": PG, "config": {}, "limits": {}},
                  wl)  # fmt: skip
    ways: dict[str, Callable[[], object]] = {
        "runner run() in-process": lambda: sql.run(
            {"code": "SELECT 1", "dataSource": PG, "config": {}}, io.StringIO(), None, threading.Event()
        ),
        "psql -c": lambda: subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-X", "-q", "-c", "SELECT 1"],
            check=True, stdout=subprocess.DEVNULL,
        ),
        "trigflow run-attempt": lambda: subprocess.run(
            [sys.executable, "-m", "trigflow.cli", "run-attempt", wl.name], check=True, stdout=subprocess.DEVNULL
        ),
    }
    medians = {}
    for name, f in ways.items():
        f()  # warm up (page cache, pyc)
        xs = [_timed(f) for _ in range(n)]
        medians[name] = statistics.median(xs)
        print(f"{name:26s} median {medians[name] * 1000:7.2f} ms   min {min(xs) * 1000:7.2f} ms   (n={n})")
    bare = medians["psql -c"]
    print(f"ratio runner in-process / psql: {medians['runner run() in-process'] / bare:.2f}")
    print(f"ratio run-attempt process / psql: {medians['trigflow run-attempt'] / bare:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
