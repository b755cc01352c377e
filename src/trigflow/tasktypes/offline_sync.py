"""Offline sync (26, WeData "OfflineSynchronization"): copy rows from one SQL data source into a table of another,
run by `trigflow run-attempt` (runner/offline_sync.py).

Labels (enums.md §2): TaskTypeDesc `ETLTaskType`, console category `ETL`; no design-side or run-side code has
been observed for 26, so `OFFLINE_SYNC` is inferred (the upper-case name, as for DLC_SQL).

Two data sources, both of a SQL type and both required and single: `TriggerTaskConfiguration.SourceServiceId`
(read) and `TriggerTaskConfiguration.TargetServiceId` (written), checked at save by the task service
(service/datasources.py `check_uses`). The TaskExtConfigurationList keys are parsed by domain/offline_sync.py
(`parse_plan`), so the save path and the runner read them by the same rules.

Parameters: the read's `where` (or the `sourceQuery`) is frozen as the run's code, so the engine's parameter
layer treats it exactly as a SQL task's script: trusted values substituted, data values (upstream outputs,
run-time parameters) kept as segments and bound by the source's driver (domain/sql_binding.py `render_sql`,
through `SqlTask.workload`), never pasted. CodeContent is not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trigflow.domain.datasources import SQL_TYPES, SourceUse
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.offline_sync import parse_plan, source_text
from trigflow.tasktypes.base import Labels, Paths
from trigflow.tasktypes.sql import SqlTask

KIND = "OFFLINE_SYNC"


class OfflineSyncTask(SqlTask):
    sources: tuple[SourceUse, ...] = (
        SourceUse("SourceServiceId", SQL_TYPES, required=True, single=True),
        SourceUse("TargetServiceId", SQL_TYPES, required=True, single=True),
    )

    def validate(
        self, config: Mapping[str, Any], ext: Mapping[str, Any], paths: Paths, explicit: Sequence[str]
    ) -> list[str]:
        plan = parse_plan(ext, paths.ext)
        source, target = config.get("SourceServiceId"), config.get("TargetServiceId")
        if (
            plan.source_table is not None
            and source is not None
            and str(source).strip() == str(target).strip()
            and [p.lower() for p in plan.source_table] == [p.lower() for p in plan.target_table]
        ):
            raise InvalidParameterValue(
                f"{paths.config}.TargetServiceId: the target table is the source table on the same data source; "
                "a sync cannot read and write one table"
            )
        return []

    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        frozen = super().freeze(code, ext, config)
        try:
            frozen["code"] = source_text(parse_plan(ext, "TaskExtConfigurationList"))
        except InvalidParameterValue:
            frozen["code"] = ""  # checked at save; should an old version not parse, the runner names the key
        return frozen


OFFLINE_SYNC = OfflineSyncTask(Labels(26, design=KIND, desc="ETLTaskType", category="ETL"), KIND)
