"""`python -m trigflow.runner WORKLOAD | --workload-fd N`: what executors start for a runner-type attempt.

The same as `trigflow run-attempt`, without the CLI: importing the CLI's parser and subcommands cost ~40 ms
of every SQL attempt's ~250 ms start-up (measured with `-X importtime` and /usr/bin/time here).
"""

from __future__ import annotations

import sys

from trigflow.process_guard import forbid_inspection


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--workload-fd" and argv[1].isdigit():
        source: str | int = int(argv[1])
    elif len(argv) == 1 and not argv[0].startswith("-"):
        source = argv[0]
    else:
        print("usage: python -m trigflow.runner (WORKLOAD | --workload-fd N)", file=sys.stderr)
        return 2
    # The workload holds data-source secrets: other tasks of the same user must not read them through
    # /proc/<pid>/fd or /proc/<pid>/mem (process_guard.py). execve made this process dumpable again.
    forbid_inspection()
    from trigflow.runner.main import run_attempt

    return run_attempt(source)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
