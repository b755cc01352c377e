"""Spark: DLC Spark (46, a JAR), DLC PySpark (50, the CodeContent script), DLC Spark Streaming (139, either),
each attempt one `spark-submit` run by `trigflow run-attempt` (trigflow.runner.spark).

Labels (enums.md §2, ANCHORS §2.1): TaskTypeDesc `dlcsparkTaskType` (46), `DLCPyspark` (50); none is known for
139, so `DLCSparkStreaming` is inferred in the same style; console category `DLC`. No design-side or run-side
code has been observed for any of them: `DLC_SPARK`, `DLC_PYSPARK`, `DLC_SPARK_STREAMING` are inferred, the
upper-case names as for DLC SQL.

The data source is optional: `TriggerTaskConfiguration.SourceServiceId` may name one SPARK data source, whose
`master` and `conf` the job runs with; without one the job runs on `local[*]` (the machine's cores). The
TaskExtConfigurationList keys are checked at save by `trigflow.domain.spark_submit.parse_job`, refusals naming
the key. A PySpark script gets parameters as a PYTHON task does (data values placed as literals,
domain/code_quoting.py); `appArguments` get `${name}` replaced in the runner (argv items: data is safe there).
The workload's `config.outputs` is the task's `ParamTaskOutList`, for `save_rows` (trigflow.runner.spark_outputs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from trigflow.domain.code_quoting import PYTHON_DIALECT
from trigflow.domain.datasources import SourceUse
from trigflow.domain.spark_submit import parse_job
from trigflow.runner import base as wl
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import Labels, Paths
from trigflow.tasktypes.process import Attempt, RunnerTask

CONFIG_OUTPUTS = "outputs"  # trigflow.runner.spark reads it (the declared outputs, for save_rows)


class SparkTask(RunnerTask):
    """One of the three Spark types; `jar` says what the application is (True: a JAR, `jarPath`; False: the
    CodeContent as a PySpark script; None: a JAR when `jarPath` is given, else the script)."""

    sources = (SourceUse("SourceServiceId", ("SPARK",), required=False, single=True),)

    def __init__(self, labels: Labels, kind: str, *, jar: bool | None) -> None:
        super().__init__(labels, kind)
        self.jar = jar
        # A JAR-only type's CodeContent is not run, so it has no place for data values; the others' is Python.
        self.dialect = None if jar is True else PYTHON_DIALECT
        self.code_suffix = ".txt" if jar is True else ".py"

    def validate(
        self, config: Mapping[str, Any], ext: Mapping[str, Any], paths: Paths, explicit: Sequence[str]
    ) -> list[str]:
        parse_job(ext, paths.ext, jar=self.jar)
        return []

    def workload(self, spec: Mapping[str, Any], attempt: Attempt) -> dict[str, Any]:
        doc = super().workload(spec, attempt)
        # Always set, so a TaskExtConfigurationList key of the same name cannot stand in for the declaration.
        doc[wl.KEY_CONFIG][CONFIG_OUTPUTS] = json.dumps(
            run_spec.outputs(spec), ensure_ascii=False, separators=(",", ":")
        )
        return doc


SPARK = SparkTask(Labels(46, design="DLC_SPARK", desc="dlcsparkTaskType", category="DLC"), "DLC_SPARK", jar=True)
PYSPARK = SparkTask(Labels(50, design="DLC_PYSPARK", desc="DLCPyspark", category="DLC"), "DLC_PYSPARK", jar=False)
SPARK_STREAMING = SparkTask(
    Labels(139, design="DLC_SPARK_STREAMING", desc="DLCSparkStreaming", category="DLC"), "DLC_SPARK_STREAMING", jar=None
)
