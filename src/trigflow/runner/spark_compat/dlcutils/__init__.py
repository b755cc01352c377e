"""WeData DLC's output helper, as its PySpark scripts call it (ANCHORS §2.1, "DLC PySpark"):

    from dlcutils import dlcutils
    dlcutils.params.save([[1, "a"], [2, "b"]])

`params.save(rows)` is trigflow.runner.spark_outputs.save_rows: the rows become the task's result for its
addressed outputs (`$[0][1]`, ...).
"""

from __future__ import annotations

from types import SimpleNamespace

from trigflow.runner.spark_outputs import save_rows, set_output

dlcutils = SimpleNamespace(params=SimpleNamespace(save=save_rows, set=set_output))

__all__ = ["dlcutils"]
