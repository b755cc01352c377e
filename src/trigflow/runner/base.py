"""The signature every per-type runner implements, so `trigflow run-attempt` can dispatch to any of them.

A runner module (e.g. `trigflow.runner.sql`) exposes `run(workload, log, outputs_path, cancel) -> int`:

- `workload` is the decoded workload document (docs/adr/0004-task-types.md): at least `taskTypeId`,
  `code`, `params` (resolved parameters as data, name -> value), `dataSource` (a connection dict with its
  secrets, or None), `outputsPath` and `limits`. Secrets live only here, never in argv or the environment.
- `log` is where the attempt's log goes (the runner's stdout); write human-readable lines and flush.
- `outputs_path` is `$WEDATA_OUTPUT_FILE` (None when the task declares no outputs): write outputs there in
  the existing output format (docs/parameters.md, `name=value` lines).
- `cancel` is set when the runner process receives SIGTERM (a kill or an execution timeout): the type's
  work must stop promptly (e.g. cancel the query on the database server) and `run` must return.

The return value is the process's exit code: 0 success, non-zero failure. A runner that raises is reported
as exit code 1 with the exception's message in the log (never a traceback with a secret in it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol, TextIO


class TypeRunner(Protocol):
    """A per-type runner function: `run(workload, log, outputs_path, cancel) -> exit code`."""

    def __call__(
        self, workload: Mapping[str, Any], log: TextIO, outputs_path: str | None, cancel: threading.Event
    ) -> int: ...


# The workload document's keys, named once so the producer (tasktypes) and the consumer (runner) agree.
KEY_TYPE_ID = "taskTypeId"
KEY_CODE = "code"
KEY_PARAMS = "params"
KEY_DATA_SOURCE = "dataSource"
KEY_OUTPUTS_PATH = "outputsPath"
KEY_LIMITS = "limits"
KEY_CONFIG = "config"
