"""The real `tccli` against the session server (protocol.md §1: `--endpoint http://...` puts the scheme in Host).

tccli runs with a throw-away HOME and a minimal environment, so no user configuration, credentials or
TENCENTCLOUD_* variables leak in; everything it needs is on the command line.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET_ID, SECRET_KEY, Server, wait_for
from tests.integration.helpers import new_task, new_workflow, start_run, wait_run

TCCLI = Path(sys.executable).parent / "tccli"


@pytest.fixture(scope="module")
def tccli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tccli-home")


def tccli(server: Server, home: Path, action: str, *params: str) -> subprocess.CompletedProcess[str]:
    args = [
        str(TCCLI),
        "wedata",
        action,
        *params,
        "--version",
        "2025-08-06",
        "--region",
        "ap-guangzhou",
        "--endpoint",
        f"http://{server.endpoint}",
        "--secretId",
        SECRET_ID,
        "--secretKey",
        SECRET_KEY,
    ]
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)


def output_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, f"tccli failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_tccli_is_installed() -> None:
    assert TCCLI.exists(), f"tccli not found next to {sys.executable}"


def test_tccli_list_projects(server: Server, tccli_home: Path, project_id: str) -> None:
    out = output_json(tccli(server, tccli_home, "ListProjects", "--PageSize", "1"))
    assert set(out) == {"Data", "RequestId"}
    assert str(uuid.UUID(out["RequestId"])) == out["RequestId"]
    data = out["Data"]
    assert (data["PageNumber"], data["PageSize"]) == (1, 1)
    assert data["TotalCount"] >= 1 and data["TotalPageNumber"] == data["TotalCount"]
    (project,) = data["Items"]
    assert project["ProjectId"] == project_id  # the oldest project comes first
    assert project["Status"] == 1 and project["DisplayStatus"] == "ENABLED"

    only = output_json(tccli(server, tccli_home, "ListProjects", "--ProjectIds", json.dumps([project_id])))
    assert [p["ProjectId"] for p in only["Data"]["Items"]] == [project_id]


def test_tccli_get_trigger_workflow_run(server: Server, tccli_home: Path, client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"tccli_{uuid.uuid4().hex[:10]}")
    first = new_task(client, project_id, wf, "first", "true")
    new_task(client, project_id, wf, "second", "true", upstream=[first])
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)

    out = output_json(
        tccli(
            server,
            tccli_home,
            "GetTriggerWorkflowRun",
            "--ProjectId",
            project_id,
            "--WorkflowExecutionId",
            run_id,
            "--Filters",
            json.dumps([{"Name": "TaskId", "Values": [first]}]),
        )
    )
    run = out["Data"]["TriggerWorkflowRun"]
    assert (run["ExecutionId"], run["WorkflowId"], run["ExecutionState"]) == (run_id, wf, "SUCCESS")
    assert [(t["TaskId"], t["TaskName"], t["ExecutionState"]) for t in out["Data"]["TriggerTaskRuns"]] == [
        (first, "first", "SUCCESS")
    ]
    assert [(b["LabelKey"], b["Count"]) for b in out["Data"]["BizStateEnumInfos"]] == [("SUCCESS", 2)]


def test_tccli_shows_error_code(server: Server, tccli_home: Path, project_id: str) -> None:
    missing = "00000000-0000-4000-8000-000000000404"
    proc = tccli(server, tccli_home, "GetTriggerWorkflow", "--ProjectId", project_id, "--WorkflowId", missing)
    assert proc.returncode != 0
    shown = proc.stdout + proc.stderr
    assert "code:ResourceNotFound" in shown, shown
    assert missing in shown and "requestId:" in shown


def test_tccli_edits_versions_and_deletes_definitions(
    server: Server, tccli_home: Path, client: Any, project_id: str
) -> None:
    """A design lifecycle as a tccli script would run it: patch a task, read its versions and code,
    remove an upstream through FieldToRemoveList, delete the task, then the workflow."""

    def run(action: str, **params: Any) -> Any:
        flat = [x for k, v in params.items() for x in (f"--{k}", v if isinstance(v, str) else json.dumps(v))]
        return output_json(tccli(server, tccli_home, action, "--ProjectId", project_id, *flat))["Data"]

    wf = new_workflow(client, project_id, f"tccli_edit_{uuid.uuid4().hex[:10]}")
    up = new_task(client, project_id, wf, "up", "true")
    down = new_task(client, project_id, wf, "down", "echo v1", upstream=[up])

    code = "echo v2\n"
    setting = {"TriggerTaskConfiguration": {"CodeContent": base64.b64encode(code.encode()).decode()}}
    assert run("UpdateTriggerTaskPartially", TaskId=down, NewSetting=setting)["Status"] is True
    got = run("GetTriggerTaskCode", TaskId=down)
    assert base64.b64decode(got["CodeInfo"]).decode() == code
    assert got["CodeFileSize"] == str(len(got["CodeInfo"]))
    saves = run("ListTriggerTaskVersions", TaskId=down)
    assert saves["TotalCount"] == 2 and saves["Items"][0]["VersionNum"] == "V2"  # newest first

    ups = run("ListUpstreamTriggerTasks", TaskId=down)
    assert [t["TaskId"] for t in ups["Items"]] == [up]
    removal = [f"TaskSchedulerConfiguration/UpstreamDependencyConfigList:{up}"]
    assert run("UpdateTriggerTaskPartially", TaskId=down, FieldToRemoveList=removal)["Status"] is True
    assert run("ListUpstreamTriggerTasks", TaskId=down)["Items"] == []

    assert run("DeleteTriggerTask", TaskId=down)["Status"] is True
    listed = run("ListTriggerTasks", WorkflowId=wf)
    assert [t["TaskId"] for t in listed["Items"]] == [up]
    assert run("DeleteTriggerWorkflow", WorkflowId=wf)["Status"] is True
    gone = tccli(server, tccli_home, "GetTriggerWorkflow", "--ProjectId", project_id, "--WorkflowId", wf)
    assert gone.returncode != 0 and "code:ResourceNotFound" in gone.stdout + gone.stderr


def test_tccli_fix_and_rerun_runs_the_fix_in_place(
    server: Server, tccli_home: Path, client: Any, project_id: str, tmp_path: Path
) -> None:
    """Issue 12's day-one pipeline as a tccli user runs it: a task fails (`exit 3`), the user fixes it with
    UpdateTriggerTask + SubmitTriggerTask and reruns the failed run in place; the keep-original switch
    (AdvancedParams trigflow.rerun.versions) reruns the old code."""

    def run(action: str, **params: Any) -> Any:
        flat = [x for k, v in params.items() for x in (f"--{k}", v if isinstance(v, str) else json.dumps(v))]
        return output_json(tccli(server, tccli_home, action, "--ProjectId", project_id, *flat))["Data"]

    def wait_finished(run_id: str) -> Any:
        def finished() -> Any:
            data = run("GetTriggerWorkflowRun", WorkflowExecutionId=run_id)
            return data if data["TriggerWorkflowRun"]["ExecutionState"] in ("SUCCESS", "FAILED") else None

        return wait_for(finished, timeout=60, interval=0.1, what=f"run {run_id} finished")

    def rerun(run_id: str, execute_type: str, **extra: Any) -> Any:
        job = run("RerunTriggerWorkflowRunAsync", WorkflowId=wf, WorkflowExecutionId=run_id,
                  ExecuteType=execute_type, **extra)  # fmt: skip
        return run("GetOpsAsyncJob", AsyncId=job["AsyncId"])

    out = tmp_path / "out"
    wf = new_workflow(client, project_id, f"tccli_fix_{uuid.uuid4().hex[:10]}")
    load = new_task(client, project_id, wf, "load", "echo broken; exit 3")
    run_id = start_run(client, project_id, wf)
    failed = wait_finished(run_id)
    assert failed["TriggerWorkflowRun"]["ExecutionState"] == "FAILED"
    (old,) = failed["TriggerTaskRuns"]

    fixed = {
        "TriggerTaskBaseAttribute": {"TaskName": "load", "OwnerUin": "100000000001", "TaskDescription": "fixed"},
        "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(f"echo fixed >> {out}".encode()).decode()},
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
    }
    assert run("UpdateTriggerTask", TaskId=load, Task=fixed)["Status"] is True
    version = run("SubmitTriggerTask", TaskId=load, VersionRemark="fix")["VersionId"]
    assert run("SubmitTriggerTask", TaskId=load, VersionRemark="again")["VersionId"] == version  # nothing new
    submits = run("ListTriggerTaskVersions", TaskId=load, TaskVersionType="SUBMIT")
    assert [(v["VersionId"], v["UsedVersion"]) for v in submits["Items"]] == [
        (version, True), (old["TaskVersionId"], False),
    ]  # fmt: skip

    keep = [{"ParamKey": "trigflow.rerun.versions", "ParamValue": "original"}]
    assert rerun(run_id, "2", TaskIds=[load], AdvancedParams=keep)["Status"] == "SUCCESS"
    again = wait_finished(run_id)
    assert again["TriggerWorkflowRun"]["ExecutionState"] == "FAILED" and not out.exists()
    assert again["TriggerTaskRuns"][0]["TaskVersionId"] == old["TaskVersionId"]

    for rerun_times, execute_type, extra in ((2, "1", {}), (3, "2", {"TaskIds": [load]})):
        job = rerun(run_id, execute_type, **extra)
        assert (job["Status"], job["AsyncType"], job["SuccessSubProcessCount"]) == ("SUCCESS", "WORKFLOW_RERUN", 1)
        done = wait_finished(run_id)
        got = done["TriggerWorkflowRun"]
        assert (got["ExecutionId"], got["ExecutionState"], got["RerunTimes"]) == (run_id, "SUCCESS", rerun_times)
        (task_run,) = done["TriggerTaskRuns"]
        assert (task_run["TaskVersionId"], task_run["RerunTimes"]) == (version, rerun_times)
    assert out.read_text() == "fixed\nfixed\n"  # the fixed code ran, once per rerun


def test_tccli_get_resource_group_metrics(server: Server, tccli_home: Path) -> None:
    groups = output_json(tccli(server, tccli_home, "ListResourceGroups"))["Data"]["Items"]
    group = next(g["Id"] for g in groups if g["Name"] == "default")
    out = output_json(tccli(server, tccli_home, "GetResourceGroupMetrics", "--ResourceGroupId", group,
                            "--MetricType", "task", "--Granularity", "5"))["Data"]  # fmt: skip
    assert out["Status"] == 1 and isinstance(out["MaximumConcurrency"], int)
    names = [m["MetricName"] for m in out["MetricSnapshots"]]
    assert names[:4] == ["MaximumConcurrency", "DevelopRunningTask", "DevelopQueueTask", "ConcurrencyUsage"]
    bad = tccli(server, tccli_home, "GetResourceGroupMetrics", "--ResourceGroupId", group, "--MetricType", "gpu")
    assert bad.returncode != 0 and "InvalidParameterValue" in bad.stdout + bad.stderr
