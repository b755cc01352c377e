"""`triggers next` computed on the client (trigflow.client.upcoming) is the scheduler's own answer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from trigflow.client.upcoming import upcoming
from trigflow.domain.errors import ApiError
from trigflow.domain.schedule import compile_trigger, fires_between

T0 = int(datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
DAILY = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "DAY_CYCLE",
         "CrontabExpression": "0 30 9 * * ? *", "TriggerId": "t1"}  # fmt: skip


def test_same_fires_as_the_scheduler_in_the_server_default_zone() -> None:
    (plan,) = upcoming([DAILY], T0, 3)
    assert plan.fires_ms == fires_between(compile_trigger(DAILY, "Asia/Shanghai"), T0, 2**62, 3)
    assert plan.time_zone == "Asia/Shanghai" and plan.trigger_id == "t1" and plan.active
    first = datetime.fromtimestamp(plan.fires_ms[0] / 1000, tz=ZoneInfo("Asia/Shanghai"))
    assert (first.hour, first.minute, first.day) == (9, 30, 4)  # 12:00 UTC is 20:00 in Shanghai


def test_paused_trigger_or_workflow_will_not_fire_and_file_arrival_is_left_out() -> None:
    paused = {**DAILY, "SchedulerStatus": "PAUSED", "ScheduleTimeZone": "UTC+8"}
    files = {"TriggerMode": "FILE_ARRIVAL", "FileArrivalPath": "/tmp/in"}
    plans = upcoming([paused, files, DAILY], T0, 1, workflow_status="ACTIVE")
    assert [(p.active, p.time_zone) for p in plans] == [(False, "Asia/Shanghai"), (True, "Asia/Shanghai")]
    assert [p.active for p in upcoming([DAILY], T0, 1, workflow_status="PAUSED")] == [False]


def test_null_fields_of_the_sdk_json_are_absent_and_bad_triggers_raise_the_server_error() -> None:
    sdk_json = {**DAILY, "StartTime": None, "EndTime": None, "ScheduleTimeZone": None, "Recursive": None}
    assert len(upcoming([sdk_json], T0, 2)[0].fires_ms) == 2
    with pytest.raises(ApiError, match=r"TriggerWorkflowSchedulerConfigurations\.0\.CrontabExpression"):
        upcoming([{**DAILY, "CrontabExpression": "bogus"}], T0, 1)
