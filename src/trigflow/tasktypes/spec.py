"""The frozen task-run spec (`task_runs.spec`, a JSON column): its keys named once, read through accessors.

A task run freezes what it executes when the run is created (decisions.md Q-R2): the type's own keys
(`TaskType.freeze`: `kind`, `code`, `interpreter`, `merge_condition`, ...) and the keys every type has,
written by `common(...)` below: how it retries and times out, its parameters and their provenance. The
spec stays a dict (docs/adr/0004-task-types.md §3): readers use these accessors instead of indexing it,
so a later typed `RunTaskSpec` replaces this module and nothing else.

Defaults are the ones older rows need (a row frozen before a key existed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KIND = "kind"
CODE = "code"
PRIORITY = "priority"
MAX_RETRY = "max_retry"
RETRY_WAIT_MINUTES = "retry_wait_minutes"
EXEC_TTL_MINUTES = "exec_ttl_minutes"
WAIT_TTL_MINUTES = "wait_ttl_minutes"
DRY_RUN = "dry_run"
ALLOW_REDO = "allow_redo"
OUTPUTS = "outputs"
INPUTS = "inputs"
DATA_PARAMS = "data_params"
RUN_DATA_PARAMS = "run_data_params"  # also read by a SQL JSON path (service/run_reads.py)
WORKFLOW_ID = "workflow_id"  # a child-run node's target
SOURCE_SERVICE_ID = "source_service_id"  # a runner type's data sources, as TriggerTaskConfiguration names them
TARGET_SERVICE_ID = "target_service_id"


def common(
    scheduler: Mapping[str, Any], task_params: Sequence[Mapping[str, Any]], run_data: Collection[str]
) -> dict[str, Any]:
    """The keys every task run freezes from its version's scheduler section and the run's data names."""
    return {
        # Frozen with the run, so a later edit of the task never changes how this run retries or times out.
        PRIORITY: int(scheduler.get("RunPriorityType", 6)),
        MAX_RETRY: max(0, int(scheduler.get("MaxRetryNumber", 0))),
        RETRY_WAIT_MINUTES: max(0, int(scheduler.get("RetryWaitMinute", 0))),
        EXEC_TTL_MINUTES: int(scheduler.get("ExecutionTTLMinute", -1)),
        WAIT_TTL_MINUTES: int(scheduler.get("WaitExecutionTotalTTLMinute", -1)),
        DRY_RUN: int(scheduler.get("ScheduleType", 0)) == 1,
        ALLOW_REDO: str(scheduler.get("AllowRedoType") or "ALL"),
        # Parameters (decisions.md Q-P1..Q-P3): substituted when the task starts, against the run's
        # baseline time, with upstream outputs resolved then.
        OUTPUTS: [
            {"ParamKey": o["ParamKey"], "ParamValue": o.get("ParamValue") or ""}
            for o in scheduler.get("ParamTaskOutList") or []
            if o.get("ParamKey")
        ],
        INPUTS: [dict(i) for i in scheduler.get("ParamTaskInList") or []],
        # Provenance (docs/parameters.md): which run parameters are data, never expanded or pasted as code.
        # A task's own scheduling parameter of the same name is trusted text and wins.
        **data_provenance(run_data, task_params),
    }


def data_provenance(run_data: Collection[str], task_params: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The spec keys that carry provenance to the attempt: `data_params` (this task run's data names) and
    `run_data_params` (the run's, inherited by nested runs and kept by reruns)."""
    own = {p["ParamKey"] for p in task_params if p.get("ParamValue") is not None}
    return {DATA_PARAMS: sorted(set(run_data) - own), RUN_DATA_PARAMS: sorted(run_data)}


@dataclass(frozen=True, slots=True)
class Timing:
    """How a task run is queued, retried and timed out, as frozen (minutes; <= 0 TTL: none)."""

    priority: int
    max_retry: int
    retry_wait_minutes: int
    exec_ttl_minutes: int
    wait_ttl_minutes: int
    dry_run: bool


def timing(spec: Mapping[str, Any]) -> Timing:
    return Timing(
        priority=int(spec.get(PRIORITY, 6)),
        max_retry=int(spec.get(MAX_RETRY, 0)),
        retry_wait_minutes=int(spec.get(RETRY_WAIT_MINUTES, 0)),
        exec_ttl_minutes=int(spec.get(EXEC_TTL_MINUTES, -1)),
        wait_ttl_minutes=int(spec.get(WAIT_TTL_MINUTES, -1)),
        dry_run=bool(spec.get(DRY_RUN, False)),
    )


def code(spec: Mapping[str, Any]) -> str:
    """The definition's code as frozen ("" for nodes without code)."""
    value = spec.get(CODE)
    return value if isinstance(value, str) else ""


def outputs(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Declared output parameters (ParamTaskOutList): ParamKey and its default ParamValue."""
    return list(spec.get(OUTPUTS) or [])


def output_keys(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of the declared output parameters: what an executor reads back at the exit."""
    declared = spec.get(OUTPUTS)
    return tuple(d["ParamKey"] for d in declared) if declared else ()


def inputs(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Input parameters (ParamTaskInList) as frozen."""
    return list(spec.get(INPUTS) or [])


def data_params(spec: Mapping[str, Any]) -> list[str] | None:
    """This task run's data names; None for a row frozen before provenance was recorded."""
    value = spec.get(DATA_PARAMS)
    return list(value) if value is not None else None


def run_data_params(spec: Mapping[str, Any]) -> list[str]:
    """The run's data names (inherited by nested runs, kept by reruns)."""
    return list(spec.get(RUN_DATA_PARAMS) or [])


def child_workflow_id(spec: Mapping[str, Any]) -> str | None:
    """The workflow a child-run node runs, as frozen."""
    value = spec.get(WORKFLOW_ID)
    return str(value) if value is not None else None


def source_service_id(spec: Mapping[str, Any]) -> str | None:
    """The SourceServiceId a runner type froze (`;`-separated data-source ids), None when it names none."""
    value = spec.get(SOURCE_SERVICE_ID)
    return str(value) if value else None


def service_id(spec: Mapping[str, Any], field: str) -> str | None:
    """The data-source ids a runner type froze for TriggerTaskConfiguration `field` (`SourceServiceId`,
    `TargetServiceId`), None when it names none."""
    value = spec.get(TARGET_SERVICE_ID if field == "TargetServiceId" else SOURCE_SERVICE_ID)
    return str(value) if value else None
