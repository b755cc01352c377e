"""Actions the official 2025-08-06 SDK defines but trigflow does not serve answer "not implemented yet"
(`UnsupportedOperation.NotImplemented`), never "does not exist"; names the SDK lacks keep `InvalidAction`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.wedata.v20250806 import models
from tencentcloud.wedata.v20250806.wedata_client import WedataClient

from tests.conftest import Server
from tests.integration.test_tccli import tccli
from trigflow.api.registry import load_all

NAMED_IN_ISSUE = ("CreateDataBackfillPlan", "ListOpsAlarmRules", "KillTaskInstancesAsync")
# Every action of the SDK's client (a method with a request model of its name) that the server does not serve.
SDK_ACTIONS = {n for n in vars(WedataClient) if n[:1].isupper() and hasattr(models, f"{n}Request")}
NOT_YET = sorted(SDK_ACTIONS - set(load_all()))


def message_for(action: str) -> str:
    return f"action {action} of wedata 2025-08-06 is not implemented by trigflow yet (see docs/api.md)"


@pytest.mark.parametrize("action", NOT_YET)
def test_sdk_action_not_implemented_yet(client: Any, action: str) -> None:
    """Through the SDK's own typed method, as a user would call it."""
    with pytest.raises(TencentCloudSDKException) as exc:
        getattr(client, action)(getattr(models, f"{action}Request")())
    assert (exc.value.code, exc.value.message) == ("UnsupportedOperation.NotImplemented", message_for(action))
    assert exc.value.requestId


def test_the_issue_s_actions_are_among_them() -> None:
    assert set(NAMED_IN_ISSUE) <= set(NOT_YET) and len(NOT_YET) > 100


def test_get_task_instance_log_is_served_now(client: Any, project_id: str) -> None:
    """The fourth action of the issue is implemented (test_task_logs.py): it answers about the task run."""
    req = models.GetTaskInstanceLogRequest()
    req.ProjectId, req.InstanceKey = project_id, "no-such-task-run"
    with pytest.raises(TencentCloudSDKException) as exc:
        client.GetTaskInstanceLog(req)
    assert exc.value.code == "ResourceNotFound" and "no-such-task-run" in exc.value.message


def test_a_name_the_sdk_lacks_is_still_invalid_action(client: Any) -> None:
    with pytest.raises(TencentCloudSDKException) as exc:
        client.call_json("DescribeTriggerWorkflowRunLogs", {})
    assert exc.value.code == "InvalidAction"
    assert exc.value.message == "action DescribeTriggerWorkflowRunLogs does not exist for version 2025-08-06"


def test_tccli_not_implemented(server: Server, tmp_path: Path) -> None:
    proc = tccli(server, tmp_path, "ListOpsAlarmRules", "--ProjectId", "1")
    shown = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "code:UnsupportedOperation.NotImplemented" in shown
    assert message_for("ListOpsAlarmRules") in shown
