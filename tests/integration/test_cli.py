"""The `trigflow` CLI: first-start output and credentials file, key management, and keys working against a
live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.conftest import free_port, make_client, wait_for
from tests.integration.helpers import call

ROOT = Path(__file__).resolve().parents[2]


def trigflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trigflow.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_first_start_writes_the_key_to_an_owner_only_file_and_prints_no_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIGFLOW_")}
    port = free_port()
    out = tmp_path / "out.txt"

    def start(on: int = port) -> subprocess.Popen[bytes]:
        fh = open(out, "wb")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "trigflow.cli", "up", "--data-dir", str(tmp_path / "d"), "--port", str(on)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
        fh.close()
        wait_for(lambda: "Uvicorn running" in out.read_text(errors="replace"), what="server up")
        return proc

    proc = start()
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    first = out.read_text()
    assert f"listening on http://127.0.0.1:{port}" in first
    project_id = re.search(r"ProjectId:\s+(\d{19})", first)
    secret_id = re.search(r"SecretId:\s+(AKID\w{32})", first)
    cred_file = tmp_path / "d" / "client.json"
    assert project_id and secret_id, first
    assert f"SecretKey:  in {cred_file}" in first, first
    assert (cred_file.stat().st_mode & 0o777) == 0o600
    creds = json.loads(cred_file.read_text())
    assert creds["secretId"] == secret_id.group(1) and re.fullmatch(r"\w{32}", creds["secretKey"])
    assert creds["secretKey"] not in first, "the secret never reaches stdout (often a log file)"
    assert creds["endpoint"] == f"http://127.0.0.1:{port}" and creds["projectId"] == project_id.group(1)

    proc = start()
    try:
        second = out.read_text()
        assert "SecretKey" not in second, "only a first start makes and announces a key"
        assert project_id.group(1) in second
        assert "client.json names endpoint" not in second
        client = make_client(f"127.0.0.1:{port}", secret_id.group(1), creds["secretKey"])
        assert call(client, "GetProject", {"ProjectId": project_id.group(1)}).ProjectName == "default"
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    moved = free_port()
    proc = start(moved)  # a later start elsewhere: the file is the operator's, so it is named, not rewritten
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert f"names endpoint http://127.0.0.1:{port} but this server listens on http://127.0.0.1:{moved}" in (
        out.read_text()
    )
    assert json.loads(cred_file.read_text()) == creds


def test_keys_create_list_revoke_against_live_server(server: Any) -> None:
    args = ["--data-dir", str(server.data_dir)]
    created = trigflow("keys", "create", "--name", "ci", *args)
    assert created.returncode == 0, created.stderr
    sid = re.search(r"SecretId:\s+(\S+)", created.stdout).group(1)  # type: ignore[union-attr]
    skey = re.search(r"SecretKey:\s+(\S+)", created.stdout).group(1)  # type: ignore[union-attr]
    listed = trigflow("keys", "list", *args)
    assert sid in listed.stdout and "active" in listed.stdout and skey not in listed.stdout

    client = make_client(server.endpoint, sid, skey)
    assert call(client, "ListProjects", {}).TotalCount >= 1

    revoked = trigflow("keys", "revoke", sid, *args)
    assert revoked.returncode == 0 and f"revoked {sid}" in revoked.stdout

    def refused() -> bool:
        try:
            call(client, "ListProjects", {})
        except TencentCloudSDKException as e:
            return e.get_code() == "AuthFailure.SecretIdNotFound"
        return False

    wait_for(refused, timeout=10, what="revoked key refused")  # key lookups are cached for 2 s
    assert trigflow("keys", "revoke", sid, *args).returncode == 1


def test_quickstart_example_prints_a_successful_run(server: Any) -> None:
    from tests.conftest import SECRET_ID, SECRET_KEY

    env = {**os.environ, "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), f"http://{server.endpoint}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    import json

    data = json.loads(done.stdout)["Data"]
    assert data["TriggerWorkflowRun"]["ExecutionState"] == "SUCCESS"
    assert [t["TaskName"] for t in data["TriggerTaskRuns"]] == ["extract", "transform", "load"]
    assert data["BizStateEnumInfos"] == [{"LabelKey": "SUCCESS", "LabelValue": "运行成功", "Count": 3}]


@pytest.mark.parametrize("argv", [["--version"], ["keys", "--help"], ["up", "--help"]])
def test_cli_help(argv: list[str]) -> None:
    assert trigflow(*argv).returncode == 0


def test_triggers_next_lists_upcoming_fires_in_the_trigger_zone(server: Any, client: Any, project_id: str) -> None:
    """Through the API (GetTriggerWorkflow), not the data dir: tests/integration/test_cli_client.py
    covers the rest of the client."""
    import uuid

    from tests.conftest import SECRET_ID, SECRET_KEY
    from tests.integration.helpers import new_workflow

    trigger = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CycleType": "DAY_CYCLE",
               "CrontabExpression": "0 30 9 ? * MON-FRI *", "ScheduleTimeZone": "America/New_York",
               "SchedulerStatus": "PAUSED"}  # fmt: skip
    wf = new_workflow(
        client, project_id, f"next_{uuid.uuid4().hex[:6]}", TriggerWorkflowSchedulerConfigurations=[trigger]
    )
    env = {**os.environ, "TRIGFLOW_ENDPOINT": f"http://{server.endpoint}", "TRIGFLOW_SECRET_ID": SECRET_ID,
           "TRIGFLOW_SECRET_KEY": SECRET_KEY, "TRIGFLOW_PROJECT_ID": project_id}  # fmt: skip
    done = trigflow("triggers", "next", wf, "--count", "3", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "0 30 9 ? * MON-FRI *" in lines[0] and "America/New_York" in lines[0] and "PAUSED" in lines[0]
    fires = [line.strip() for line in lines[1:]]
    assert len(fires) == 3
    assert all(" 09:30:00" in f and (f.endswith("-05:00") or f.endswith("-04:00")) for f in fires)
    missing = trigflow("triggers", "next", "nope", env=env)
    assert missing.returncode == 1 and missing.stderr.startswith("ResourceNotFound"), missing.stderr
