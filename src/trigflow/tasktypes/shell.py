"""Shell (35) and Shell form mode (38): bash runs the sealed script (ADR 0002, 0003).

Form mode is the console's form-built shell script; in a self-hosted server it is the same script run
the same way (issue 9 point 11), with its own labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trigflow.domain.code_quoting import SHELL_DIALECT
from trigflow.tasktypes.base import Labels
from trigflow.tasktypes.process import ScriptTask

KIND = "SHELL"


class ShellTask(ScriptTask):
    dialect = SHELL_DIALECT
    code_suffix = ".sh"

    def interpreter(self, ext: Mapping[str, Any]) -> list[str]:
        return ["bash"]


SHELL = ShellTask(Labels(35, design=KIND, desc="Shell", category="GENERAL"), KIND)
# enums.md §2: TaskTypeDesc "ShellScript"; the upper-case run code for a type never seen in a run is inferred.
SHELL_FORM = ShellTask(Labels(38, design="SHELL_FORM", desc="ShellScript", category="GENERAL"), KIND)
