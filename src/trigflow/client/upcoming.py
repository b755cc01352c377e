"""Upcoming fire times of a workflow's time triggers, computed on the client from GetTriggerWorkflow's
`TriggerWorkflowSchedulerConfigurations` with the server's own pure schedule code (trigflow.domain),
so no action has to be invented for it and the answer is the scheduler's by construction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trigflow.domain.schedule import TIME_TRIGGER, compile_trigger, fires_between

# The zone a trigger without ScheduleTimeZone fires in: the server's default (Settings.default_timezone,
# WeData's Asia/Shanghai), which has no flag and is not in any response.
SERVER_DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class TriggerPlan:
    trigger_id: str | None
    cron_expression: str | None
    time_zone: str  # IANA name
    active: bool  # the trigger and its workflow are ACTIVE: the fires will happen
    fires_ms: list[int]


def upcoming(
    configs: Sequence[Mapping[str, Any]], after_ms: int, count: int, *, workflow_status: str | None = None
) -> list[TriggerPlan]:
    """The next `count` nominal fires after `after_ms` of each TIME_TRIGGER, in the order configured.
    A trigger the server would refuse raises the same ApiError the server answers on save."""
    plans = []
    for i, config in enumerate(configs):
        spec = compile_trigger(config, SERVER_DEFAULT_TZ, path=f"TriggerWorkflowSchedulerConfigurations.{i}")
        if spec.mode != TIME_TRIGGER:
            continue
        plans.append(
            TriggerPlan(
                trigger_id=spec.trigger_id,
                cron_expression=spec.cron_expression,
                time_zone=spec.iana_time_zone,
                active=spec.active and workflow_status != "PAUSED",
                fires_ms=fires_between(spec, after_ms, 2**62, count),
            )
        )
    return plans
