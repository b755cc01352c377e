"""The `echo` runner (TaskTypeId -1, not a wire type): what the tests run through `trigflow run-attempt`.

It prints the code, writes every parameter as an output (`name=value` lines, docs/parameters.md), and,
when its config says `wait: cancel`, blocks until the runner is told to cancel, as a long query would.
It exits with its config's `exit` code (default 0).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, TextIO

from trigflow.runner.base import KEY_CODE, KEY_CONFIG, KEY_PARAMS


def run(workload: Mapping[str, Any], log: TextIO, outputs_path: str | None, cancel: threading.Event) -> int:
    log.write(f"{workload.get(KEY_CODE) or ''}\n")
    params: Mapping[str, Any] = workload.get(KEY_PARAMS) or {}
    if outputs_path is not None:
        with open(outputs_path, "a", encoding="utf-8") as out:
            out.writelines(f"{k}={v}\n" for k, v in params.items())
    config: Mapping[str, Any] = workload.get(KEY_CONFIG) or {}
    if config.get("wait") == "cancel":
        log.write("waiting for cancel\n")
        log.flush()
        cancel.wait()
        log.write("cancelled: stopping the work\n")
        return 1
    return int(config.get("exit", 0))
