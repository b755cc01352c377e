"""A time trigger really fires runs through a live server: TriggerType Scheduler, the trigger's id,
ScheduleTime = the nominal fire instant, CycleType, parameters against that instant."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.conftest import wait_for
from tests.integration.helpers import call, new_task, new_workflow, wait_run


def runs_of(client: Any, project_id: str, wf: str) -> list[Any]:
    by_workflow = [{"Name": "WorkflowId", "Values": [wf]}]
    order = [{"Name": "ScheduleTime", "Direction": "ASC"}]
    data = call(
        client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": by_workflow, "OrderFields": order}
    )
    return list(data.Items)


def test_every_second_trigger_fires_once_per_nominal_second(client: Any, project_id: str, tmp_path: Path) -> None:
    out = tmp_path / "stamps"
    trigger = {
        "TriggerMode": "TIME_TRIGGER",
        "SchedulerStatus": "ACTIVE",
        "ConfigMode": "CRON_EXPRESSION",
        "CycleType": "CRONTAB_CYCLE",
        "CrontabExpression": "* * * * * ? *",
        "ScheduleTimeZone": "UTC+8",
    }
    wf = new_workflow(
        client,
        project_id,
        f"cron_{uuid.uuid4().hex[:6]}",
        TriggerWorkflowSchedulerConfigurations=[trigger],
        TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 5},
    )
    new_task(client, project_id, wf, "stamp", f'echo "${{yyyyMMddHHmmss}}" >> {out}')
    runs = wait_for(lambda: (r := runs_of(client, project_id, wf)) and len(r) >= 3 and r, timeout=15, what="3 fires")
    detail = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    trigger_id = detail.TriggerWorkflowSchedulerConfigurations[0].TriggerId
    schedule = [int(r.ScheduleTime) for r in runs]
    assert all(t % 1000 == 0 for t in schedule)  # nominal whole seconds, not the time the scheduler woke up
    assert len(set(schedule)) == len(schedule)  # each nominal second fired once
    assert all(b - a == 1000 for a, b in itertools.pairwise(schedule))  # none skipped while up
    for r in runs:
        assert (r.TriggerType, r.TriggerId, r.CycleType) == ("Scheduler", trigger_id, "CRONTAB_CYCLE")
        assert 0 <= int(r.CreateTime) - int(r.ScheduleTime) < 3000  # on time (the bench measures lateness)
    first = wait_run(client, project_id, runs[0].ExecutionId)
    assert first.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert first.TriggerTaskRuns[0].Timezone == "Asia/Shanghai"  # Q-TR6: UTC+8 shown as IANA
    stamps = out.read_text().split()
    expected = datetime.fromtimestamp(schedule[0] / 1000, tz=ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")
    assert expected in stamps  # time expressions use the nominal fire time as baseline (Q-P1)
    assert json.loads(first.TriggerWorkflowRun.WorkflowParams) == {}


@pytest.mark.parametrize(
    ("expr", "word"),
    [("0 0 25 * * ? *", "hours"), ("0 0 0 * * *", "?"), ("bogus", "field"), ("0 0 0 ? * 8 *", "day-of-week")],
)
def test_invalid_cron_is_refused_at_save_with_a_message_saying_what_is_wrong(
    client: Any, project_id: str, expr: str, word: str
) -> None:
    trigger = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "CRONTAB_CYCLE",
               "CrontabExpression": expr, "SchedulerStatus": "ACTIVE"}  # fmt: skip
    with pytest.raises(TencentCloudSDKException) as e:
        new_workflow(
            client, project_id, f"badcron_{uuid.uuid4().hex[:6]}", TriggerWorkflowSchedulerConfigurations=[trigger]
        )
    assert e.value.get_code() == "InvalidParameterValue"
    assert "CrontabExpression" in e.value.get_message() and word in e.value.get_message()


def test_update_pauses_and_resumes_triggers_and_replaces_fields(client: Any, project_id: str) -> None:
    trigger = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "CRONTAB_CYCLE",
               "CrontabExpression": "* * * * * ? *", "SchedulerStatus": "ACTIVE"}  # fmt: skip
    name = f"upd_{uuid.uuid4().hex[:6]}"
    wf = new_workflow(client, project_id, name, TriggerWorkflowSchedulerConfigurations=[trigger],
                      TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 10})  # fmt: skip
    new_task(client, project_id, wf, "t", "true")
    wait_for(lambda: runs_of(client, project_id, wf), timeout=10, what="first fire")
    before = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    old_id = before.TriggerWorkflowSchedulerConfigurations[0].TriggerId
    call(client, "UpdateTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf, "SchedulerStatus": "PAUSED",
                                           "WorkflowDesc": "paused now",
                                           "WorkflowParams": [{"ParamKey": "k", "ParamValue": "v"}]})  # fmt: skip
    paused = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    assert paused.SchedulerStatus == "PAUSED" and paused.WorkflowDesc == "paused now"
    assert paused.TriggerWorkflowSchedulerConfigurations[0].SchedulerStatus == "PAUSED"
    assert [(x.ParamKey, x.ParamValue) for x in paused.WorkflowParams] == [("k", "v")]
    assert paused.WorkflowName == before.WorkflowName  # not sent: unchanged
    # A paused trigger must stay silent: watch it for 2.5 s (a negative can only be observed over time).
    count = len(runs_of(client, project_id, wf))
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert len(runs_of(client, project_id, wf)) <= count + 1  # at most a fire already in flight
        time.sleep(0.25)
    count = len(runs_of(client, project_id, wf))
    call(client, "UpdateTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf, "SchedulerStatus": "ACTIVE"})
    wait_for(lambda: len(runs_of(client, project_id, wf)) >= count + 2, timeout=10, what="fires after resume")
    after = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    assert after.TriggerWorkflowSchedulerConfigurations[0].TriggerId != old_id  # re-saved config, new id
