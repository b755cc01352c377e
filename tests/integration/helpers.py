"""Small SDK helpers for integration tests: build workflows and wait for runs, through the real API."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.wedata.v20250806 import models

from tests.conftest import wait_for

TERMINAL = {"SUCCESS", "FAILED", "KILLED", "SKIPED"}


def uid() -> str:
    """A short unique suffix for names in the shared session server."""
    return uuid.uuid4().hex[:10]


def fails(client: Any, action: str, params: dict[str, Any], code: str, *mentions: str) -> str:
    """Call through the SDK and assert the exact error code, that the message names each of `mentions`,
    and that the error carries a RequestId; returns the message."""
    with pytest.raises(TencentCloudSDKException) as exc:
        client.call_json(action, params)
    err = exc.value
    assert err.get_code() == code, f"{action}: expected {code}, got {err.get_code()}: {err.get_message()}"
    for mention in mentions:
        assert mention in err.get_message(), f"{action}: {mention!r} not named in {err.get_message()!r}"
    assert err.get_request_id()
    return str(err.get_message())


def call(client: Any, action: str, params: dict[str, Any]) -> Any:
    """Call an action with a plain dict of parameters and return the response model's Data."""
    req = getattr(models, f"{action}Request")()
    req.from_json_string(json.dumps(params))
    return getattr(client, action)(req).Data


def new_workflow(client: Any, project_id: str, name: str, **extra: Any) -> str:
    data = call(
        client,
        "CreateTriggerWorkflow",
        {"ProjectId": project_id, "WorkflowName": name, "ParentFolderPath": "/默认文件夹", **extra},
    )
    return str(data.WorkflowId)


def new_task(
    client: Any,
    project_id: str,
    workflow_id: str,
    name: str,
    code: str,
    *,
    upstream: list[str] | None = None,
    type_id: str = "35",
    submit: bool = True,
    **sched: Any,
) -> str:
    """A task; unless a test says otherwise it does not retry (the server default is WeData's 4 retries)."""
    sched.setdefault("MaxRetryNumber", 0)
    data = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": type_id, "WorkflowId": workflow_id},
            "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(code.encode()).decode()},
            "TriggerTaskSchedulerConfiguration": {
                "UpstreamDependencyConfigList": [{"TaskId": u} for u in upstream or []],
                **sched,
            },
        },
    )
    task_id = str(data.TaskId)
    if submit:
        call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": task_id, "VersionRemark": "v1"})
    return task_id


def start_run(client: Any, project_id: str, workflow_id: str, **extra: Any) -> str:
    data = call(client, "CreateTriggerWorkflowRun", {"ProjectId": project_id, "WorkflowId": workflow_id, **extra})
    return str(data.WorkflowExecutionId)


def get_run(client: Any, project_id: str, run_id: str) -> Any:
    return call(client, "GetTriggerWorkflowRun", {"ProjectId": project_id, "WorkflowExecutionId": run_id})


def wait_run(
    client: Any, project_id: str, run_id: str, states: set[str] = TERMINAL, timeout: float = 30, poll: float = 0.02
) -> Any:
    def done() -> Any:
        data = get_run(client, project_id, run_id)
        return data if data.TriggerWorkflowRun.ExecutionState in states else None

    return wait_for(done, timeout=timeout, interval=poll, what=f"run {run_id} in {sorted(states)}")


def task_states(data: Any) -> dict[str, str]:
    return {t.TaskName: t.ExecutionState for t in data.TriggerTaskRuns}


def typed_task_params(
    project_id: str, wf: str, name: str, code: str, type_id: int, source: str | None = None, **sched: Any
) -> dict[str, Any]:
    """CreateTriggerTask parameters for a task of `type_id` on data source `source` (SourceServiceId), no
    retries unless `sched` says; `upstream` lists task ids."""
    config: dict[str, Any] = {"CodeContent": base64.b64encode(code.encode()).decode()}
    if source is not None:
        config["SourceServiceId"] = source
    sched.setdefault("MaxRetryNumber", 0)
    return {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": str(type_id), "WorkflowId": wf},
        "TriggerTaskConfiguration": config,
        "TriggerTaskSchedulerConfiguration": {
            "UpstreamDependencyConfigList": [{"TaskId": u} for u in sched.pop("upstream", [])],
            **sched,
        },
    }


def submitted_task(client: Any, params: dict[str, Any]) -> str:
    """CreateTriggerTask with `params`, then SubmitTriggerTask (runs use submitted versions); the task id."""
    task_id = str(call(client, "CreateTriggerTask", params).TaskId)
    call(client, "SubmitTriggerTask", {"ProjectId": params["ProjectId"], "TaskId": task_id, "VersionRemark": "v1"})
    return task_id
