"""Peak memory and wall time of one SQL attempt that selects many rows, for two source trees in one run.

Each measurement is one `python -m trigflow.runner <workload>` process (what a SQL task runs), its peak RSS
read from `os.wait4`'s rusage (`ru_maxrss`, KiB on Linux) and its wall time; the trees alternate so both see
the same machine. Needs PostgreSQL (127.0.0.1:5432, db `test`, trust) and MariaDB (127.0.0.1:3306, root,
db `test`, the Sequence engine).

Usage: `.venv/bin/python bench/sql_stream_bench.py [ROWS] [REPEATS] SRC_DIR...` (each SRC_DIR a `src` folder
holding `trigflow`, e.g. the main checkout's and a worktree's).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

PG = {"type": "POSTGRE", "driver": "postgresql", "host": "127.0.0.1", "port": 5432, "database": "test",
      "username": "postgres", "password": None, "path": None, "options": {}}  # fmt: skip
MY = {"type": "MYSQL", "driver": "mariadb", "host": "127.0.0.1", "port": 3306, "database": "test",
      "username": "root", "password": None, "path": None, "options": {}}  # fmt: skip
OUTPUTS = [{"ParamKey": "cell", "ParamValue": "$[0][1]"}]


def workloads(rows: int) -> dict[str, dict[str, object]]:
    return {
        "postgresql": {"code": f"SELECT g, md5(g::text) FROM generate_series(1, {rows}) g", "dataSource": PG},
        "mariadb": {"code": f"SELECT seq, md5(seq) FROM seq_1_to_{rows}", "dataSource": MY},
    }


def run_once(src: str, workload: dict[str, object]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KiB, last log line) of one runner process on `workload`."""
    doc = {"taskTypeId": 32, "params": {}, "limits": {}, "outputsPath": None,
           "config": {"outputs": OUTPUTS, "bindings": []}, **workload}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "trigflow.runner", f.name], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": src})  # fmt: skip
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise SystemExit(f"{src}: exit {proc.returncode}\n{out[-2000:]}")
    lines = [line for line in out.splitlines() if "returned in" in line]
    return took, usage.ru_maxrss, lines[-1] if lines else ""


def main(rows: int, repeats: int, srcs: list[str]) -> None:
    for name, workload in workloads(rows).items():
        results: dict[str, list[tuple[float, int]]] = {s: [] for s in srcs}
        said: dict[str, str] = {}
        for _ in range(repeats):
            for src in srcs:
                took, rss, said[src] = run_once(src, workload)
                results[src].append((took, rss))
        for src in srcs:
            took = statistics.median(t for t, _ in results[src])
            rss = statistics.median(r for _, r in results[src])
            print(
                f"{name:10s} {rows} rows  {src:28s} wall {took:6.2f} s  peak RSS {rss / 1024:6.1f} MiB  "
                f"({said[src].strip()})"
            )


if __name__ == "__main__":
    args = sys.argv[1:]
    n_rows = int(args.pop(0)) if args and args[0].isdigit() else 1_000_000
    n_repeats = int(args.pop(0)) if args and args[0].isdigit() else 3
    main(n_rows, n_repeats, args or [os.path.join(os.path.dirname(__file__), "..", "src")])
