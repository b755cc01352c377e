"""A workflow of shell and Python tasks really runs, in dependency order, and reads back like the seed."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run


def test_three_task_workflow_runs_in_order_and_reports_like_wedata(client: Any, project_id: str, tmp_path: Any) -> None:
    out = tmp_path / "order.txt"
    wf = new_workflow(client, project_id, "flow_order", WorkflowParams=[{"ParamKey": "biz", "ParamValue": "x"}])
    a = new_task(client, project_id, wf, "extract", f"echo extract >> {out}")
    b = new_task(
        client,
        project_id,
        wf,
        "transform",
        f"import pathlib\nwith open({str(out)!r}, 'a') as f: f.write('transform\\n')",
        upstream=[a],
        type_id="30",
    )
    c = new_task(client, project_id, wf, "load", f"echo load >> {out}", upstream=[b])
    run_id = start_run(client, project_id, wf)

    data = wait_run(client, project_id, run_id)
    run = data.TriggerWorkflowRun
    assert run.ExecutionState == "SUCCESS", run
    assert out.read_text().split() == ["extract", "transform", "load"]
    assert task_states(data) == {"extract": "SUCCESS", "transform": "SUCCESS", "load": "SUCCESS"}
    assert run.TriggerType == "Manual"
    assert sorted(run.SelectedTaskIds) == sorted([a, b, c])
    assert json.loads(run.WorkflowParams) == {"biz": "x"}
    assert int(run.ExecutionEndTime) >= int(run.ExecutionStartTime) >= int(run.CreateTime)
    assert run.SupportRerun is True
    assert [t.TaskId for t in data.TriggerTaskRuns] == [a, b, c]  # default order: DAG order
    by_name = {t.TaskName: t for t in data.TriggerTaskRuns}
    assert by_name["transform"].TaskType == "PYTHON" and by_name["transform"].TaskTypeId == 30
    assert by_name["load"].DependOnList == [b]
    assert by_name["extract"].DependOnList is None
    for t in data.TriggerTaskRuns:
        assert int(t.ExecutionEndTime) >= int(t.ExecutionStartTime) >= int(t.IssueTime) >= int(t.CreateTime)
        assert t.ExecutionTime == str(int(t.ExecutionEndTime) - int(t.ExecutionStartTime))
        assert t.TaskVersionId.startswith(t.TaskId + "_")
        assert len(t.JobId) == 19 and t.JobId.startswith("68")
    assert [(b.LabelKey, b.Count) for b in data.BizStateEnumInfos] == [("SUCCESS", 3)]


def test_each_attempt_logs_stdout_and_stderr_to_its_own_file(client: Any, project_id: str, server: Any) -> None:
    wf = new_workflow(client, project_id, "flow_logs")
    t = new_task(client, project_id, wf, "talker", "echo to-stdout; echo to-stderr >&2; echo $TRIGFLOW_TASK_ID")
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    log = server.data_dir / "runs" / run_id / f"{t}.0.0.log"
    assert log.read_text().split() == ["to-stdout", "to-stderr", t]


def test_failure_marks_downstream_upstream_failed_and_fails_the_run(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, "flow_fail")
    a = new_task(client, project_id, wf, "boom", "echo about to fail >&2; exit 3")
    new_task(client, project_id, wf, "after", "true", upstream=[a])
    new_task(client, project_id, wf, "independent", "true")
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
    assert task_states(data) == {"boom": "FAILED", "after": "UPSTREAM_FAILED", "independent": "SUCCESS"}
    boom = next(t for t in data.TriggerTaskRuns if t.TaskName == "boom")
    assert boom.ErrorCodeStr == "exit code 3"
    assert data.TriggerWorkflowRun.ErrorCodeStr == "boom: exit code 3"


def test_kill_stops_running_process_group(client: Any, project_id: str, tmp_path: Any) -> None:
    marker = tmp_path / "started"
    wf = new_workflow(client, project_id, "flow_kill")
    a = new_task(client, project_id, wf, "sleeper", f"touch {marker}; sleep 30 & wait")
    new_task(client, project_id, wf, "never", "true", upstream=[a])
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id, states={"RUNNING"})
    from tests.conftest import wait_for

    wait_for(marker.exists, what="sleeper started")
    res = call(
        client,
        "KillTriggerWorkflowRuns",
        {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]},
    )
    assert [(r.ItemId, r.OpStatus) for r in res] == [(run_id, True)]
    data = get_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "KILLED"
    assert data.TriggerWorkflowRun.ErrorCodeStr == "UserKilled"
    assert task_states(data) == {"sleeper": "KILLED", "never": "KILLED"}
    again = call(
        client,
        "KillTriggerWorkflowRuns",
        {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]},
    )
    assert again[0].OpStatus is False and "KILLED" in again[0].ErrorMessage
