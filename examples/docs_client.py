"""The SDK set-up the examples in docs/ share, so each page's example shows only the wire shapes it is about.

    PYTHONPATH=examples .venv/bin/python my_example.py

The endpoint and key come from `TRIGFLOW_ENDPOINT` (default http://127.0.0.1:8090), `TRIGFLOW_SECRET_ID` +
`TRIGFLOW_SECRET_KEY` and `TRIGFLOW_PROJECT_ID` when set, else from the `client.json` that `trigflow up` writes
into its data dir on first start (`$TRIGFLOW_DATA_DIR`, default ~/.trigflow), so on the server's machine
nothing needs setting. Nothing here is trigflow-specific: it is the official Tencent Cloud SDK (`make client`
installs it) pointed at an endpoint, with one helper per chore (base64 code, create + submit a task, wait for
a run). `tests/integration/test_docs_examples.py` runs every example of docs/ with this module.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.wedata.v20250806 import models, wedata_client

DATA_DIR = Path(os.environ.get("TRIGFLOW_DATA_DIR") or "~/.trigflow").expanduser()
_env = os.environ
_saved: dict[str, Any] = {}
if not (_env.get("TRIGFLOW_SECRET_ID") and _env.get("TRIGFLOW_SECRET_KEY")):
    _saved = json.loads((DATA_DIR / "client.json").read_text())  # the pair `trigflow up` generated
ENDPOINT = _env.get("TRIGFLOW_ENDPOINT") or _saved.get("endpoint") or "http://127.0.0.1:8090"
_scheme, _, _host = ENDPOINT.rpartition("://")
client = wedata_client.WedataClient(
    credential.Credential(
        _env.get("TRIGFLOW_SECRET_ID") or _saved["secretId"], _env.get("TRIGFLOW_SECRET_KEY") or _saved["secretKey"]
    ),
    "ap-guangzhou",
    ClientProfile(httpProfile=HttpProfile(endpoint=_host, protocol=_scheme or "http")),
)


def call(action: str, **params: Any) -> Any:
    """Call `action` with its request fields as keyword arguments; returns the typed response's `Data`."""
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps(params))
    return getattr(client, action)(request).Data


PROJECT_ID = _env.get("TRIGFLOW_PROJECT_ID") or _saved.get("projectId") or call("ListProjects").Items[0].ProjectId


def b64(code: str) -> str:
    """`CodeContent` is base64 text."""
    return base64.b64encode(code.encode()).decode()


def task(workflow_id: str, name: str, type_id: int, config: dict[str, Any], sched: dict[str, Any]) -> str:
    """CreateTriggerTask with the given configuration and scheduler sections, then SubmitTriggerTask
    (runs execute the submitted version). No retries unless `sched` says so (WeData's default is 4)."""
    task_id = call(
        "CreateTriggerTask",
        ProjectId=PROJECT_ID,
        TriggerTaskBaseAttribute={"TaskName": name, "TaskTypeId": str(type_id), "WorkflowId": workflow_id},
        TriggerTaskConfiguration=config,
        TriggerTaskSchedulerConfiguration={"MaxRetryNumber": 0, **sched},
    ).TaskId
    call("SubmitTriggerTask", ProjectId=PROJECT_ID, TaskId=task_id, VersionRemark="from the docs")
    return str(task_id)


def wait_run(run_id: str, timeout: float = 120) -> Any:
    """Poll GetTriggerWorkflowRun until the run has ended; returns its `Data`."""
    deadline = time.monotonic() + timeout
    while True:
        data = call("GetTriggerWorkflowRun", ProjectId=PROJECT_ID, WorkflowExecutionId=run_id)
        if data.TriggerWorkflowRun.ExecutionState in ("SUCCESS", "FAILED", "KILLED", "SKIPED"):
            return data
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {data.TriggerWorkflowRun.ExecutionState}")
        time.sleep(0.2)
