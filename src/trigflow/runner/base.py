"""The signature every per-type runner implements, so `trigflow run-attempt` can dispatch to any of them.

A runner module (e.g. `trigflow.runner.sql`) exposes `run(workload, log, outputs_path, cancel) -> int`:

- `workload` is the decoded workload document (docs/adr/0004-task-types.md): at least `taskTypeId`,
  `code`, `params` (resolved parameters as data, name -> value), `dataSource` (a connection dict with its
  secrets, or None), `targetDataSource` (the same for a type that writes to a second one, else None),
  `outputsPath` and `limits`. Secrets live only here, never in argv or the environment.
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
KEY_TARGET_DATA_SOURCE = "targetDataSource"  # a second connection (offline sync's TargetServiceId), or null
KEY_OUTPUTS_PATH = "outputsPath"
KEY_LIMITS = "limits"
KEY_CONFIG = "config"
# `limits` keys every runner type gets from the server: the longest value one parameter may have
# (`trigflow up --max-param-size`), so a runner refuses an output no downstream task could take.
LIMIT_MAX_PARAM_CHARS = "maxParamChars"
# Where the attempt keeps what it produced besides its log (a Notebook task's executed notebook), next to
# the log; absent for types that keep nothing.
KEY_ARTIFACT_PATH = "artifactPath"

# Keys of a data-source connection whose values are secrets: they are redacted from anything the runner
# itself prints (a failing runner's message), and a runner must never print them.
SECRET_KEY_PARTS = ("password", "passwd", "secret", "token", "privatekey", "private_key", "passphrase", "key")


def secrets_of(workload: Mapping[str, Any]) -> list[str]:
    """The secret values of the workload's data sources, source and target (longest first, so a longer secret
    is redacted whole)."""
    found: set[str] = set()

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and value and any(part in key.lower() for part in SECRET_KEY_PARTS):
            found.add(value)

    walk(workload.get(KEY_DATA_SOURCE) or {}, "")
    walk(workload.get(KEY_TARGET_DATA_SOURCE) or {}, "")
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced by `***`."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
