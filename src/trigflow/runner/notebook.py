"""The Notebook task runner (TaskTypeId 132): the task's `.ipynb` executed on a local Jupyter kernel.

`run(workload, log, outputs_path, cancel)` (the signature of `trigflow.runner.base`):

* **What runs.** `code` is the notebook (nbformat 4 JSON, `${...}` already placed cell by cell by the
  server). The runner adds the papermill-style parameters cell (trigflow.domain.notebook
  `inject_parameters`: each parameter of `params` whose name is an identifier, as a `str` literal, after the
  cell tagged `parameters`) and executes every code cell in order with nbclient, Jupyter's own executor.
* **The kernel.** `config.kernelName` (default `python3`). `python3` is always the ipykernel of the
  interpreter running this runner (the server's venv): `sys.executable -m ipykernel_launcher`, whatever
  kernel specs the machine has, so a notebook sees the same packages as the server. Another name is looked
  up among the machine's Jupyter kernel specs. The kernel gets the task's environment (the allow-list), the
  attempt's directory as its working directory, and talks over IPC sockets in a private temporary directory.
* **The log** gets, as the cells run, a line per code cell (its number, id and first line), everything it
  prints (stdout, stderr), the `text/plain` form of its results and displays (other MIME types are named and
  kept in the executed notebook only) and the traceback of an error, ANSI colours removed.
* **Outputs**: the notebook writes `name=value` lines to `$WEDATA_OUTPUT_FILE` (the kernel inherits it;
  `trigflow.runner.outputs.set_output` does it for one value) or prints `##wedata_output name=value`, as
  shell and Python tasks do.
* **The executed notebook** (with outputs, timings and the injected cell) is written to `artifactPath`
  (`<attempt>.ipynb`, 0600) when the attempt ends, also when a cell failed or it was cancelled. Outputs
  beyond `limits.notebookOutputBytes` (default 8 MiB) are left out of it (the log still has them).
* **Failure**: a cell that raises ends the attempt (exit 1) naming the cell, unless `config.allowErrors` is
  true or the cell is tagged `raises-exception`; `config.cellTimeout` bounds each cell, `startupTimeout`
  the kernel's start.
* **Cancel** (SIGTERM: a kill, an execution timeout): the kernel's process group (the kernel runs in a
  session of its own) gets SIGTERM, then SIGKILL; the attempt exits 143.
* **Without the `notebook` extra** (nbclient, nbformat, jupyter_client, ipykernel not importable) the attempt
  fails at once saying `pip install 'trigflow[notebook]'`.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from trigflow.domain.notebook import (
    NotebookError,
    SettingError,
    notebook_settings,
    parse_notebook,
)
from trigflow.runner.base import KEY_ARTIFACT_PATH, KEY_CODE, KEY_CONFIG, KEY_LIMITS, KEY_PARAMS

__all__ = ["EXIT_CANCELLED", "EXIT_FAILED", "INSTALL_HINT", "missing_modules", "run"]

EXIT_FAILED = 1
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell task killed by SIGTERM reports
INSTALL_HINT = "pip install 'trigflow[notebook]'"
LIMIT_OUTPUT_BYTES = "notebookOutputBytes"
DEFAULT_OUTPUT_BYTES = 8 << 20  # GetTaskInstanceLog returns a CodeContent up to 16 MiB
NEEDED = ("nbclient", "nbformat", "jupyter_client")


def missing_modules(kernel_name: str) -> list[str]:
    """The modules of the `notebook` extra this attempt needs and cannot import (found, not imported)."""
    needed = (*NEEDED, "ipykernel") if kernel_name == "python3" else NEEDED
    return [m for m in needed if importlib.util.find_spec(m) is None]


def run(workload: Mapping[str, Any], log: TextIO, outputs_path: str | None, cancel: threading.Event) -> int:
    config: Mapping[str, Any] = workload.get(KEY_CONFIG) or {}
    try:
        settings = notebook_settings(config)
    except SettingError as e:
        log.write(f"[trigflow] TaskExtConfigurationList.{e}\n")
        return EXIT_FAILED
    missing = missing_modules(settings.kernel_name)
    if missing:
        log.write(f"[trigflow] Notebook tasks need {', '.join(missing)} where they run, not installed here: "
                  f"{INSTALL_HINT}\n")  # fmt: skip
        return EXIT_FAILED
    try:
        notebook = parse_notebook(str(workload.get(KEY_CODE) or ""))
    except NotebookError as e:
        log.write(f"[trigflow] CodeContent is not a Jupyter notebook: {e}\n")
        return EXIT_FAILED
    params = {str(k): str(v) for k, v in (workload.get(KEY_PARAMS) or {}).items()}
    limits: Mapping[str, Any] = workload.get(KEY_LIMITS) or {}
    budget = limits.get(LIMIT_OUTPUT_BYTES)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        budget = DEFAULT_OUTPUT_BYTES
    artifact = workload.get(KEY_ARTIFACT_PATH)
    from trigflow.runner.notebook_exec import Execution  # nbclient and friends load only here

    execution = Execution(
        notebook, params, settings, log, cancel, artifact if isinstance(artifact, str) else None, budget
    )
    return execution.run()
