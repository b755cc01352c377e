"""Python (30): the sealed script runs under the interpreter TaskExtConfigurationList names.

`python_sub_version` (or `python_type`) is read as a command line (shlex) when a run is created; only a
value starting with `python` or `/` is used, anything else runs `python3` (docs/task-types.md).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from trigflow.domain.code_quoting import PYTHON_DIALECT
from trigflow.tasktypes.base import Labels
from trigflow.tasktypes.process import ScriptTask

KIND = "PYTHON"
DEFAULT_INTERPRETER = "python3"


class PythonTask(ScriptTask):
    dialect = PYTHON_DIALECT
    code_suffix = ".py"

    def interpreter(self, ext: Mapping[str, Any]) -> list[str]:
        wanted = str(ext.get("python_sub_version") or ext.get("python_type") or DEFAULT_INTERPRETER)
        return shlex.split(wanted) if wanted.startswith(("python", "/")) else [DEFAULT_INTERPRETER]

    def extensions(self, common: dict[str, str], ext: Mapping[str, Any]) -> dict[str, str]:
        common.setdefault("python_type", DEFAULT_INTERPRETER)
        return common


PYTHON = PythonTask(Labels(30, design=KIND, desc="Python", category="GENERAL"), KIND)
