"""Task types: one module per TaskTypeId, one registry (`TASK_TYPES`) that every other layer asks.

Adding a type: a module here with its `TaskType` (labels, `validate`, `freeze`, runtime), registered
below; a work type other than Shell/Python also gets a runner in trigflow.runner (docs/adr/0004-task-types.md).
"""

from __future__ import annotations

from trigflow.tasktypes.base import Registry, Runtime, TaskType
from trigflow.tasktypes.branch import BRANCH
from trigflow.tasktypes.foreach import FOR_EACH
from trigflow.tasktypes.merge import MERGE
from trigflow.tasktypes.notebook import NOTEBOOK
from trigflow.tasktypes.offline_sync import OFFLINE_SYNC
from trigflow.tasktypes.python import PYTHON
from trigflow.tasktypes.run_workflow import RUN_WORKFLOW
from trigflow.tasktypes.shell import SHELL, SHELL_FORM
from trigflow.tasktypes.spark import PYSPARK, SPARK, SPARK_STREAMING
from trigflow.tasktypes.sql import SQL
from trigflow.tasktypes.ssh import SSH

TASK_TYPES = Registry()
# Shell first: a spec without a kind ran as Shell
for _t in (
    SHELL, PYTHON, MERGE, RUN_WORKFLOW, SHELL_FORM, BRANCH, SQL, SSH, FOR_EACH, SPARK, PYSPARK, SPARK_STREAMING,
    NOTEBOOK, OFFLINE_SYNC,
):  # fmt: skip
    TASK_TYPES.register(_t)

__all__ = ["TASK_TYPES", "Registry", "Runtime", "TaskType"]
