"""SQL (32, WeData "DLC SQL"): the task's script on its data source, run by `trigflow run-attempt`.

Labels (enums.md §2, ANCHORS §2.1): TaskTypeDesc `dlc` (the dependency-list label of the type table), console
category `DLC`; no design-side or run-side code has been observed for 32, so `DLC_SQL` is inferred (the
upper-case name, as for the other inferred codes).

The type declares one data source, `TriggerTaskConfiguration.SourceServiceId`, of type POSTGRE, MYSQL,
SQLITE or DUCKDB (required, single): the task service refuses an unknown or wrong-typed id at save with
`InvalidParameterValue` naming the field (service/datasources.py `check_uses`). When an attempt starts:

* trusted parameters are pasted into the SQL text, data values (upstream outputs, run-time parameters)
  become placeholders plus `bindings` (domain/sql_binding.py `render_sql`, docs/parameters.md "SQL tasks"),
  checked and rendered here for the dialect of the data source's driver, looked up when the attempt starts;
* the workload's `config.outputs` is the task's `ParamTaskOutList` (the runner writes addressed outputs
  such as `$[0][1]` from the last result), `config.bindings` the data values;
* the runner (trigflow.runner.sql) runs it statement by statement in one session.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trigflow.domain.datasources import SQL_TYPES, SourceUse
from trigflow.domain.sql_binding import UnsafeSqlPlacement, render_sql
from trigflow.domain.sql_script import DIALECTS
from trigflow.runner import base as wl
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import Labels
from trigflow.tasktypes.process import Attempt, RunnerTask

if TYPE_CHECKING:
    from trigflow.domain.params import Segment

KIND = "DLC_SQL"
# How the parameter layer (service/attempt_params.py) places data values for this type: kept as segments,
# bound by the runner, never pasted.
SQL_DIALECT = "sql"
CONFIG_OUTPUTS = "outputs"  # trigflow.runner.sql reads these two keys of the workload's config
CONFIG_BINDINGS = "bindings"


def check_placements(segments: Sequence[Segment], dialect_name: str | None = None) -> None:
    """Raise UnsafeSqlPlacement when a data value of `segments` sits where it cannot be bound.

    `dialect_name` is the `driver` of the task's data source (the engine looks it up before it resolves
    parameters), so a MySQL `"${v}"` string is bound there while a PostgreSQL `"${v}"`, a quoted name, is
    refused. Without a known dialect (a caller that has no data source) the script must be safe in every SQL
    dialect trigflow connects to: the strictest of them.
    """
    names = (dialect_name,) if dialect_name in DIALECTS else tuple(DIALECTS)
    for name in names:
        render_sql(segments, name)


def display_text(segments: Sequence[Segment]) -> str:
    """The script as a human reads it: trusted text substituted, each data value as its `${name}` reference
    (it is bound when the attempt runs, never part of the text)."""
    return "".join(s if isinstance(s, str) else "${" + s.name + "}" for s in segments)


class SqlTask(RunnerTask):
    dialect = SQL_DIALECT
    code_suffix = ".sql"
    sources: tuple[SourceUse, ...] = (SourceUse("SourceServiceId", SQL_TYPES, required=True, single=True),)

    def workload(self, spec: Mapping[str, Any], attempt: Attempt) -> dict[str, Any]:
        doc = super().workload(spec, attempt)
        code, bindings = attempt.code, []
        driver = (attempt.data_source or {}).get("driver")
        if attempt.segments is not None and isinstance(driver, str):
            try:
                rendered = render_sql(attempt.segments, driver)
            except (UnsafeSqlPlacement, ValueError):
                # Not reached: check_placements passed for this driver. Should it be, the data values
                # stay out of the text (their `${name}` references fail as SQL), never pasted.
                pass
            else:
                code, bindings = rendered.text, rendered.bindings
        doc[wl.KEY_CODE] = code
        # Always set (a TaskExtConfigurationList key of the same name must not feed the runner bindings).
        config = doc[wl.KEY_CONFIG]
        config[CONFIG_OUTPUTS] = json.dumps(run_spec.outputs(spec), ensure_ascii=False, separators=(",", ":"))
        config[CONFIG_BINDINGS] = json.dumps(bindings, ensure_ascii=False, separators=(",", ":"))
        return doc


SQL = SqlTask(Labels(32, design=KIND, desc="dlc", category="DLC"), KIND)
