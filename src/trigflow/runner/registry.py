"""Which runner runs which TaskTypeId inside `trigflow run-attempt`, imported only when an attempt needs it.

Modules are named, not imported, here: a runner's libraries (a database driver, a kernel client) load in
the attempt's process that uses them, never in the server or in another type's attempt.
"""

from __future__ import annotations

import importlib
from typing import cast

from trigflow.runner.base import TypeRunner

# TaskTypeId -> module exposing `run` (runner/base.py). The task type that launches it is a
# `RunnerTask` in trigflow.tasktypes; a type listed here but not registered there never gets a workload.
RUNNERS: dict[int, str] = {
    32: "trigflow.runner.sql",  # DLC SQL on a data source (issue 9 point 4)
    133: "trigflow.runner.ssh",  # a bash script on the host of an SSH data source (issue 9 point 7)
    46: "trigflow.runner.spark",  # DLC Spark, DLC PySpark, DLC Spark Streaming: spark-submit (issue 9 point 9)
    50: "trigflow.runner.spark",
    139: "trigflow.runner.spark",
    132: "trigflow.runner.notebook",  # a Jupyter notebook on a local kernel (issue 9 point 8)
    26: "trigflow.runner.offline_sync",  # offline sync between two SQL data sources (issue 9 point 10)
}

# Not a wire type: the runner the tests use to prove the contract (log, outputs, exit code, SIGTERM).
ECHO_TYPE_ID = -1
TEST_RUNNERS: dict[int, str] = {ECHO_TYPE_ID: "trigflow.runner.echo"}


def runner_for(type_id: int) -> TypeRunner | None:
    module = RUNNERS.get(type_id) or TEST_RUNNERS.get(type_id)
    if module is None:
        return None
    return cast(TypeRunner, importlib.import_module(module).run)
