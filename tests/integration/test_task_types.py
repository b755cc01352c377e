"""Task types through the official SDK against a real `trigflow up`: what the registry (trigflow.tasktypes) adds.

Shell form mode (38) runs as Shell with its own labels, and CreateTriggerTask refuses a type that does not
run with the code it always used, listing the ids that do.
"""

from __future__ import annotations

from typing import Any

from tests.integration.helpers import call, fails, new_task, new_workflow, start_run, uid, wait_run


def test_shell_form_mode_runs_as_shell_with_its_own_labels(client: Any, project_id: str, server: Any) -> None:
    wf = new_workflow(client, project_id, f"form_mode_{uid()}")
    t = new_task(client, project_id, wf, "form", "echo from-form-mode", type_id="38")
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    (task_run,) = data.TriggerTaskRuns
    assert (task_run.TaskType, task_run.TaskTypeId) == ("SHELL_FORM", 38)
    assert (server.data_dir / "runs" / run_id / f"{t}.0.0.log").read_text() == "from-form-mode\n"
    got = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": t})
    assert got.TriggerTaskBaseAttribute.TaskTypeId == 38
    listed = call(client, "ListTriggerTasks", {"ProjectId": project_id, "WorkflowId": wf}).Items
    assert [(i.TaskId, i.TaskTypeId) for i in listed] == [(t, 38)]


def test_a_type_that_does_not_run_is_refused_naming_the_ones_that_do(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"not_yet_{uid()}")
    params = {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": "later", "TaskTypeId": "25", "WorkflowId": wf},
        "TriggerTaskConfiguration": {},
        "TriggerTaskSchedulerConfiguration": {},
    }
    message = fails(client, "CreateTriggerTask", params, "InvalidParameterValue", "TriggerTaskBaseAttribute.TaskTypeId")
    assert "TaskTypeId 25 is not supported; use " in message
    for shown in ("30 (PYTHON)", "35 (SHELL)", "38 (SHELL_FORM)", "131 (MERGE)", "140 (RUN_WORKFLOW)"):
        assert shown in message
    assert "Traceback" not in message
