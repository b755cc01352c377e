"""Quick start with the official Tencent Cloud SDK: a 3-task workflow (shell -> Python -> shell), run it,
and print the run exactly as GetTriggerWorkflowRun returns it.

    TRIGFLOW_SECRET_ID=... TRIGFLOW_SECRET_KEY=... .venv/bin/python examples/quickstart.py [http://127.0.0.1:8090]

Nothing here is trigflow-specific: point the endpoint at WeData and the same code runs there.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid

from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.wedata.v20250806 import models, wedata_client


def call(client: wedata_client.WedataClient, action: str, params: dict) -> object:
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps(params))
    return getattr(client, action)(request).Data


def main() -> None:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TRIGFLOW_ENDPOINT", "http://127.0.0.1:8090")
    cred = credential.Credential(os.environ["TRIGFLOW_SECRET_ID"], os.environ["TRIGFLOW_SECRET_KEY"])
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint.split("://")[-1], protocol="http"))
    client = wedata_client.WedataClient(cred, "ap-guangzhou", profile)

    project_id = call(client, "ListProjects", {}).Items[0].ProjectId
    workflow_id = call(
        client,
        "CreateTriggerWorkflow",
        {
            "ProjectId": project_id,
            "WorkflowName": f"quickstart_{uuid.uuid4().hex[:6]}",
            "ParentFolderPath": "/默认文件夹",
        },
    ).WorkflowId

    def task(name: str, type_id: str, code: str, upstream: list[str]) -> str:
        task_id = call(
            client,
            "CreateTriggerTask",
            {
                "ProjectId": project_id,
                "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": type_id, "WorkflowId": workflow_id},
                "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(code.encode()).decode()},
                "TriggerTaskSchedulerConfiguration": {
                    "UpstreamDependencyConfigList": [{"TaskId": u} for u in upstream]
                },
            },
        ).TaskId
        call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": task_id, "VersionRemark": "first"})
        return task_id

    extract = task("extract", "35", "echo extracting; date +%s > data.txt", [])
    transform = task("transform", "30", "print('transforming', open('data.txt').read().strip())", [extract])
    task("load", "35", "echo loaded $(wc -c < data.txt) bytes", [transform])

    run_id = call(
        client, "CreateTriggerWorkflowRun", {"ProjectId": project_id, "WorkflowId": workflow_id}
    ).WorkflowExecutionId
    request = models.GetTriggerWorkflowRunRequest()
    request.ProjectId, request.WorkflowExecutionId = project_id, run_id
    deadline = time.monotonic() + 60
    while True:
        response = client.GetTriggerWorkflowRun(request)
        state = response.Data.TriggerWorkflowRun.ExecutionState
        if state in ("SUCCESS", "FAILED", "KILLED", "SKIPED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(json.dumps(json.loads(response.to_json_string()), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
