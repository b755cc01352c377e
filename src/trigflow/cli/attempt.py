"""`trigflow run-attempt WORKLOAD | --workload-fd N`: the worker-side runner of one attempt (trigflow.runner).

Started by an executor, never by hand: the workload document (docs/adr/0004-task-types.md) comes through a
sealed descriptor, so its secrets never appear in argv or the environment.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run-attempt",
        help="run one task attempt from its workload document (started by the executor)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("workload", nargs="?", help="path of the workload document (e.g. /dev/fd/5)")
    where.add_argument("--workload-fd", type=int, metavar="N", help="descriptor to read the workload from")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from trigflow.process_guard import forbid_inspection
    from trigflow.runner.main import run_attempt  # only the attempt's process pays for the runner

    # The workload holds data-source secrets: other tasks of the same user must not read them through
    # /proc/<pid>/fd or /proc/<pid>/mem (process_guard.py). execve made this process dumpable again.
    forbid_inspection()
    return run_attempt(args.workload_fd if args.workload_fd is not None else args.workload)
