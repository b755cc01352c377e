"""Reruns in place (decisions.md Q-R2, Q-R6, Q-R7) and GetOpsAsyncJob, through the SDK."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run


def rerun(client: Any, project_id: str, wf: str, run_id: str, execute_type: str = "1", **extra: Any) -> Any:
    data = call(
        client,
        "RerunTriggerWorkflowRunAsync",
        {
            "ProjectId": project_id,
            "WorkflowId": wf,
            "WorkflowExecutionId": run_id,
            "ExecuteType": execute_type,
            **extra,
        },
    )
    return call(client, "GetOpsAsyncJob", {"ProjectId": project_id, "AsyncId": data.AsyncId})


def test_rerun_in_place_makes_new_records_and_keeps_history(client: Any, project_id: str, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    wf = new_workflow(client, project_id, f"rerun_{uuid.uuid4().hex[:6]}")
    a = new_task(client, project_id, wf, "a", "true")
    b = new_task(client, project_id, wf, "b", f"[ -e {flag} ]", upstream=[a])
    new_task(client, project_id, wf, "c", "true", upstream=[b])
    run_id = start_run(client, project_id, wf)
    first = wait_run(client, project_id, run_id)
    assert first.TriggerWorkflowRun.ExecutionState == "FAILED"
    assert first.TriggerWorkflowRun.SupportRerun is True
    old_ids = {t.TaskName: t.ExecutionId for t in first.TriggerTaskRuns}

    flag.touch()
    job = rerun(client, project_id, wf, run_id)
    assert (job.Status, job.AsyncType, job.TotalSubProcessCount, job.SuccessSubProcessCount) == (
        "SUCCESS", "WORKFLOW_RERUN", 3, 3,
    )  # fmt: skip
    done = wait_run(client, project_id, run_id)
    assert done.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert done.TriggerWorkflowRun.ExecutionId == run_id and done.TriggerWorkflowRun.RerunTimes == 1
    assert task_states(done) == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    for t in done.TriggerTaskRuns:
        assert t.ExecutionId != old_ids[t.TaskName] and t.RerunTimes == 1 and t.IsLatestExecution is True
    by_run = [{"Name": "WorkflowExecutionId", "Values": [run_id]}]
    history = call(client, "ListTriggerTaskRuns", {"ProjectId": project_id, "PageSize": 50, "Filters": by_run})
    assert history.TotalCount == 6
    assert sorted(t.IsLatestExecution for t in history.Items) == [False] * 3 + [True] * 3
    assert {t.ExecutionId for t in history.Items if not t.IsLatestExecution} == set(old_ids.values())


def test_advanced_rerun_of_some_tasks_with_new_params(client: Any, project_id: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    wf = new_workflow(client, project_id, f"rerun2_{uuid.uuid4().hex[:6]}",
                      WorkflowParams=[{"ParamKey": "color", "ParamValue": "red"}])  # fmt: skip
    a = new_task(client, project_id, wf, "a", f"echo a-${{color}} >> {out}")
    new_task(client, project_id, wf, "b", f"echo b-${{color}} >> {out}", upstream=[a])
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    b_id = next(t.TaskId for t in get_run(client, project_id, run_id).TriggerTaskRuns if t.TaskName == "b")
    job = rerun(
        client,
        project_id,
        wf,
        run_id,
        "2",
        TaskIds=[b_id],
        AdvancedParams=[{"ParamKey": "color", "ParamValue": "blue"}],
    )
    assert job.Status == "SUCCESS" and job.TotalSubProcessCount == 1
    done = wait_run(client, project_id, run_id)
    assert done.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert out.read_text().split() == ["a-red", "b-red", "b-blue"]  # only b ran again, with the new value
    assert json.loads(done.TriggerWorkflowRun.WorkflowParams) == {"color": "blue"}
    assert {t.TaskName: t.RerunTimes for t in done.TriggerTaskRuns} == {"a": 0, "b": 1}


def test_allow_redo_type_refuses_some_tasks(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"redo_{uuid.uuid4().hex[:6]}")
    new_task(client, project_id, wf, "only_on_failure", "true", AllowRedoType="FAILURE")
    new_task(client, project_id, wf, "never", "true", AllowRedoType="NONE")
    new_task(client, project_id, wf, "any", "true")
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)
    job = rerun(client, project_id, wf, run_id)
    assert (job.Status, job.TotalSubProcessCount, job.SuccessSubProcessCount) == ("PART_SUCCESS", 3, 1)
    assert "AllowRedoType" in job.ErrorDesc
    done = wait_run(client, project_id, run_id)
    assert {t.TaskName: t.RerunTimes for t in done.TriggerTaskRuns} == {"only_on_failure": 0, "never": 0, "any": 1}


def test_rerun_refusals(client: Any, project_id: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    wf = new_workflow(client, project_id, f"rerun_bad_{uuid.uuid4().hex[:6]}")
    new_task(client, project_id, wf, "hold", f"while [ ! -e {gate} ]; do sleep 0.02; done")
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id, states={"RUNNING"})
    cases = [
        ({"WorkflowExecutionId": run_id, "ExecuteType": "1"}, "UnsupportedOperation"),  # still running
        ({"WorkflowExecutionId": run_id, "ExecuteType": "3"}, "InvalidParameterValue"),
        ({"WorkflowExecutionId": str(uuid.uuid4()), "ExecuteType": "1"}, "ResourceNotFound"),
    ]
    for params, code in cases:
        with pytest.raises(TencentCloudSDKException) as e:
            call(client, "RerunTriggerWorkflowRunAsync", {"ProjectId": project_id, "WorkflowId": wf, **params})
        assert e.value.get_code() == code, params
    gate.touch()
    wait_run(client, project_id, run_id)
    with pytest.raises(TencentCloudSDKException) as e:
        call(client, "GetOpsAsyncJob", {"ProjectId": project_id, "AsyncId": str(uuid.uuid4())})
    assert e.value.get_code() == "ResourceNotFound"
