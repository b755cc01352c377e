"""Resource groups through the SDK: slots bound concurrency, priority 4 > 5 > 6 (FIFO within), a run
waiting for slots shows WaitingExecutionResource, capacity changes take effect at once."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.conftest import wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run


def new_group(client: Any, slots: int) -> str:
    data = call(
        client,
        "CreateResourceGroup",
        {
            "Name": f"rg_{uuid.uuid4().hex[:8]}",
            "Type": {"ResourceGroupType": "Schedule", "Schedule": {"Specification": "local", "Number": slots}},
            "AutoRenewEnabled": False,
            "PurchasePeriod": 1,
            "VpcId": "none",
            "SubNet": "none",
            "ResourceRegion": "ap-guangzhou",
        },
    )
    return str(data.ResourceGroupId)


def grouped_task(client: Any, project_id: str, wf: str, name: str, code: str, group: str, **sched: Any) -> str:
    import base64

    data = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": "35", "WorkflowId": wf},
            "TriggerTaskConfiguration": {
                "CodeContent": base64.b64encode(code.encode()).decode(),
                "ResourceGroup": group,
            },
            "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0, **sched},
        },
    )
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": data.TaskId, "VersionRemark": "v1"})
    return str(data.TaskId)


def test_default_group_exists_and_new_groups_are_listed(client: Any) -> None:
    groups = call(client, "ListResourceGroups", {"PageSize": 100})
    assert any(g.Name == "default" for g in groups.Items)
    gid = new_group(client, 3)
    assert len(gid) == 20 and gid.isdigit()
    one = call(client, "ListResourceGroups", {"Id": gid})
    assert one.TotalCount == 1 and one.Items[0].ResourceGroupType == "Schedule"


def test_one_slot_serialises_tasks_in_priority_order_and_shows_resource_wait(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    group = new_group(client, 1)
    order, gate = tmp_path / "order", tmp_path / "gate"
    wf = new_workflow(
        client, project_id, f"prio_{uuid.uuid4().hex[:6]}", TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 5}
    )
    hold = f"echo blocker >> {order}; while [ ! -e {gate} ]; do sleep 0.02; done"
    grouped_task(client, project_id, wf, "blocker", hold, group, RunPriorityType=4)
    for name, prio in (("low", 6), ("high", 4), ("mid", 5)):
        grouped_task(client, project_id, wf, name, f"echo {name} >> {order}", group, RunPriorityType=prio)
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: order.exists() and order.read_text().split() == ["blocker"], what="blocker running")

    # A second workflow's run finds the only slot taken: admitted, but waiting for resources.
    other = new_workflow(client, project_id, f"waiter_{uuid.uuid4().hex[:6]}")
    grouped_task(client, project_id, other, "waiter", "true", group)
    waiting_run = start_run(client, project_id, other)
    waiting = wait_for(
        lambda: (r := get_run(client, project_id, waiting_run)).TriggerWorkflowRun.ErrorCodeStr and r,
        what="WaitingExecutionResource",
    )
    assert waiting.TriggerWorkflowRun.ExecutionState == "QUEUED"
    assert waiting.TriggerWorkflowRun.ErrorCodeStr == "WaitingExecutionResource"
    assert waiting.TriggerWorkflowRun.PendingStartTime is not None
    assert task_states(waiting) == {"waiter": "PENDING"}
    assert [b.LabelKey for b in waiting.BizStateEnumInfos] == ["PENDING"]

    gate.touch()
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert order.read_text().split() == ["blocker", "high", "mid", "low"]  # 4 > 5 > 6
    done = wait_run(client, project_id, waiting_run).TriggerWorkflowRun
    assert done.ExecutionState == "SUCCESS" and done.ErrorCodeStr is None


def test_growing_a_group_dispatches_waiting_tasks_and_run_override(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    group = new_group(client, 1)
    gate = tmp_path / "gate"
    wf = new_workflow(client, project_id, f"grow_{uuid.uuid4().hex[:6]}")
    for name in ("a", "b"):
        new_task(client, project_id, wf, name, f"touch {tmp_path / name}; while [ ! -e {gate} ]; do sleep 0.02; done")
    run_id = start_run(client, project_id, wf, SchedulingResourceGroupId=group)  # run override of the group
    data = wait_run(client, project_id, run_id, states={"RUNNING"})
    assert {t.ResourceGroupId for t in data.TriggerTaskRuns} == {group}
    wait_for(lambda: (tmp_path / "a").exists() or (tmp_path / "b").exists(), what="one task started")
    assert sorted(task_states(get_run(client, project_id, run_id)).values()) == ["PENDING", "RUNNING"]
    with pytest.raises(TencentCloudSDKException) as busy:
        call(client, "DeleteResourceGroup", {"Id": group})
    assert busy.value.get_code() == "ResourceInUse"
    call(client, "UpdateResourceGroup", {"Id": group, "Number": {"Type": "Schedule", "Quantity": 2}})
    wait_for(lambda: (tmp_path / "a").exists() and (tmp_path / "b").exists(), what="second slot used")
    gate.touch()
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert call(client, "DeleteResourceGroup", {"Id": group}).Status is True


@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        ("DeleteResourceGroup", {"Id": "00000000000000000000"}, "ResourceNotFound"),
        ("UpdateResourceGroup", {"Id": "00000000000000000000"}, "ResourceNotFound"),
    ],
)
def test_resource_group_errors(client: Any, action: str, params: dict[str, Any], code: str) -> None:
    with pytest.raises(TencentCloudSDKException) as e:
        call(client, action, params)
    assert e.value.get_code() == code


def test_default_group_cannot_be_deleted_and_unknown_groups_are_refused(client: Any, project_id: str) -> None:
    default = next(g.Id for g in call(client, "ListResourceGroups", {"PageSize": 100}).Items if g.Name == "default")
    with pytest.raises(TencentCloudSDKException) as e:
        call(client, "DeleteResourceGroup", {"Id": default})
    assert e.value.get_code() == "ResourceInUse"
    wf = new_workflow(client, project_id, f"badgroup_{uuid.uuid4().hex[:6]}")
    with pytest.raises(TencentCloudSDKException) as e:
        grouped_task(client, project_id, wf, "t", "true", "nope")
    assert e.value.get_code() == "InvalidParameterValue" and "ResourceGroup" in e.value.get_message()
    new_task(client, project_id, wf, "t", "true")
    with pytest.raises(TencentCloudSDKException) as e:
        start_run(client, project_id, wf, SchedulingResourceGroupId="nope")
    assert e.value.get_code() == "InvalidParameterValue"
