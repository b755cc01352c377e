"""Notebook (132, WeData "Notebook探索"): the task's `.ipynb` executed on a local Jupyter kernel by
`trigflow run-attempt` (trigflow.runner.notebook, nbclient + ipykernel: the `notebook` extra).

Labels (enums.md §2): run-side code `NOTEBOOK` (observed in a CLI example), TaskTypeDesc `Notebook探索`,
console category GENERAL. The design-side code is taken to be the same `NOTEBOOK`.

* **At save**: `CodeContent` must be nbformat 4 JSON (trigflow.domain.notebook `parse_notebook`; its size is
  the `--max-code-bytes` bound every task's code has), refused with `InvalidParameterValue` naming
  `TriggerTaskConfiguration.CodeContent` and what is wrong; the TaskExtConfigurationList keys `kernelName`,
  `cellTimeout`, `startupTimeout`, `allowErrors` are checked likewise, naming the key.
* **Parameters**: the dialect `notebook` makes the parameter layer (service/attempt_params.py) substitute
  `${...}` cell by cell in code cells only (trusted text pasted, data values as Python literals, refused in
  magic cells: `domain.notebook.render_cell`); the runner adds the papermill-style parameters cell.
* **The executed notebook** goes to `<attempt>.ipynb` next to the attempt's log (the workload's
  `artifactPath`), the name GetTaskInstanceLog reads as the attempt's CodeContent (`code_suffix`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.notebook import NotebookError, SettingError, notebook_settings, parse_notebook
from trigflow.runner import base as wl
from trigflow.tasktypes.base import Labels, Paths
from trigflow.tasktypes.process import Attempt, RunnerTask

KIND = "NOTEBOOK"
# How the parameter layer places `${...}` for this type: per code cell, in the PYTHON dialect.
NOTEBOOK_DIALECT = "notebook"
CODE_SUFFIX = ".ipynb"


def artifact_path(log_path: str) -> str:
    """`<attempt>.ipynb` beside `<attempt>.log` (service/attempts.py names both)."""
    return log_path.removesuffix(".log") + CODE_SUFFIX


class NotebookTask(RunnerTask):
    dialect = NOTEBOOK_DIALECT
    code_suffix = CODE_SUFFIX

    def validate(
        self, config: Mapping[str, Any], ext: Mapping[str, Any], paths: Paths, explicit: Sequence[str]
    ) -> list[str]:
        field = f"{paths.config}.CodeContent"
        raw = config.get("CodeContent") or ""
        try:  # the task service has checked it is base64 UTF-8 within the size limit
            text = base64.b64decode("".join(str(raw).split()), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidParameterValue(f"{field} must be base64-encoded UTF-8 text") from None
        try:
            parse_notebook(text)
        except NotebookError as e:
            raise InvalidParameterValue(f"{field} is not a Jupyter notebook: {e}") from None
        try:
            notebook_settings(ext)
        except SettingError as e:
            raise InvalidParameterValue(f"{paths.ext}.{e.key} {e.message}") from None
        return []

    def workload(self, spec: Mapping[str, Any], attempt: Attempt) -> dict[str, Any]:
        doc = super().workload(spec, attempt)
        doc[wl.KEY_ARTIFACT_PATH] = artifact_path(attempt.log_path)
        return doc


NOTEBOOK = NotebookTask(Labels(132, design=KIND, desc="Notebook探索", category="GENERAL"), KIND)
