"""Reruns in place (decisions.md Q-R2, Q-R6, Q-R7) and GetOpsAsyncJob, through the SDK."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.integration.helpers import call, fails, get_run, new_task, new_workflow, start_run, task_states, wait_run


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


# --- fix and rerun: a rerun runs what is submitted now (issue 12) ------------------------------------------

VERSIONS_KEY = "trigflow.rerun.versions"
BROKEN = 'totals = {}\nprint(totals["total_amount"])\n'  # KeyError: exit 1


def fixed_code(out: Path) -> str:
    """The fix; `${greeting}` is a task parameter only the fixed version declares."""
    return f'totals = {{"total_amount": 42}}\nwith open({str(out)!r}, "a") as f:\n' \
        '    f.write("${greeting} total_amount=%d\\n" % totals["total_amount"])\n'


def task_body(name: str, code: str, *, upstream: tuple[str, ...] = (), params: dict[str, str] | None = None,
              **sched: Any) -> dict[str, Any]:  # fmt: skip
    """An UpdateTriggerTask `Task` (a full replace: upstreams and retries must be given again)."""
    return {
        "TriggerTaskBaseAttribute": {"TaskName": name, "OwnerUin": "100000000001", "TaskDescription": "fixed"},
        "TriggerTaskConfiguration": {
            "CodeContent": base64.b64encode(code.encode()).decode(),
            "TaskSchedulingParameterList": [{"ParamKey": k, "ParamValue": v} for k, v in (params or {}).items()],
        },
        "TriggerTaskSchedulerConfiguration": {
            "UpstreamDependencyConfigList": [{"TaskId": u} for u in upstream],
            "MaxRetryNumber": 0,
            **sched,
        },
    }


def update_and_submit(client: Any, project_id: str, task_id: str, task: dict[str, Any]) -> str:
    """UpdateTriggerTask + SubmitTriggerTask, as a user fixing a task does; returns the new VersionId."""
    assert call(client, "UpdateTriggerTask", {"ProjectId": project_id, "TaskId": task_id, "Task": task}).Status
    data = call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": task_id, "VersionRemark": "fix"})
    return str(data.VersionId)


def submitted_version(client: Any, project_id: str, task_id: str) -> str:
    return str(call(client, "GetTriggerTaskVersion", {"ProjectId": project_id, "TaskId": task_id}).VersionId)


def failed_pipeline(client: Any, project_id: str, tmp_path: Path) -> tuple[str, str, str, str]:
    """load (Python, KeyError) -> report; one FAILED run. Returns workflow, load, report, run ids."""
    wf = new_workflow(client, project_id, f"fix_{uuid.uuid4().hex[:8]}")
    load = new_task(client, project_id, wf, "load", BROKEN, type_id="30")
    report = new_task(client, project_id, wf, "report", f"echo report >> {tmp_path / 'report'}", upstream=[load])
    run_id = start_run(client, project_id, wf)
    first = wait_run(client, project_id, run_id)
    assert first.TriggerWorkflowRun.ExecutionState == "FAILED"
    assert task_states(first) == {"load": "FAILED", "report": "UPSTREAM_FAILED"}
    return wf, load, report, run_id


def versions_by_name(data: Any) -> dict[str, str]:
    return {t.TaskName: t.TaskVersionId for t in data.TriggerTaskRuns}


@pytest.mark.parametrize("execute_type", ["1", "2"])
def test_fix_and_rerun_runs_the_submitted_fix(client: Any, project_id: str, tmp_path: Path, execute_type: str) -> None:
    out = tmp_path / "out"
    wf, load, report, run_id = failed_pipeline(client, project_id, tmp_path)
    report_version = submitted_version(client, project_id, report)
    old_load = next(t for t in get_run(client, project_id, run_id).TriggerTaskRuns if t.TaskName == "load")
    fixed = update_and_submit(
        client, project_id, load, task_body("load", fixed_code(out), params={"greeting": "fixed"})
    )
    assert fixed != old_load.TaskVersionId
    extra = {"TaskIds": [load, report]} if execute_type == "2" else {}
    job = rerun(client, project_id, wf, run_id, execute_type, **extra)
    assert (job.Status, job.TotalSubProcessCount, job.SuccessSubProcessCount, job.ErrorDesc) == ("SUCCESS", 2, 2, None)
    done = wait_run(client, project_id, run_id)
    assert done.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(done)
    assert done.TriggerWorkflowRun.ExecutionId == run_id and done.TriggerWorkflowRun.RerunTimes == 1
    assert versions_by_name(done) == {"load": fixed, "report": report_version}
    assert out.read_text() == "fixed total_amount=42\n"  # the fixed code ran, with the fixed version's parameter
    assert (tmp_path / "report").read_text() == "report\n"
    # the failed record keeps the version it ran
    old = call(client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": old_load.ExecutionId})
    assert (old.TaskVersionId, old.IsLatestExecution, old.ExecutionState) == (old_load.TaskVersionId, False, "FAILED")


def test_rerun_can_keep_the_original_versions(client: Any, project_id: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    wf, load, report, run_id = failed_pipeline(client, project_id, tmp_path)
    original = versions_by_name(get_run(client, project_id, run_id))
    update_and_submit(client, project_id, load, task_body("load", fixed_code(out), params={"greeting": "fixed"}))

    keep = [{"ParamKey": VERSIONS_KEY, "ParamValue": "original"}, {"ParamKey": "color", "ParamValue": "red"}]
    for execute_type, extra in (("1", {}), ("2", {"TaskIds": [load, report]})):
        job = rerun(client, project_id, wf, run_id, execute_type, AdvancedParams=keep, **extra)
        assert job.Status == "SUCCESS"
        again = wait_run(client, project_id, run_id)
        assert again.TriggerWorkflowRun.ExecutionState == "FAILED"  # the old code, the same KeyError
        assert versions_by_name(again) == original and not out.exists()
        # the switch is trigflow's, never a run parameter; ExecuteType 2's other AdvancedParams are
        assert json.loads(again.TriggerWorkflowRun.WorkflowParams) == ({} if execute_type == "1" else {"color": "red"})
    latest = [{"ParamKey": VERSIONS_KEY, "ParamValue": "latest"}]
    assert rerun(client, project_id, wf, run_id, "1", AdvancedParams=latest).Status == "SUCCESS"
    done = wait_run(client, project_id, run_id)
    assert done.TriggerWorkflowRun.ExecutionState == "SUCCESS" and done.TriggerWorkflowRun.RerunTimes == 3


def test_rerun_versions_switch_is_validated(client: Any, project_id: str, tmp_path: Path) -> None:
    wf, _load, _report, run_id = failed_pipeline(client, project_id, tmp_path)
    base = {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "1"}
    bad = [{"ParamKey": "x", "ParamValue": "1"}, {"ParamKey": VERSIONS_KEY, "ParamValue": "newest"}]
    fails(client, "RerunTriggerWorkflowRunAsync", {**base, "AdvancedParams": bad}, "InvalidParameterValue",
          "AdvancedParams.1.ParamValue", VERSIONS_KEY, "newest", "latest", "original")  # fmt: skip
    twice = [{"ParamKey": VERSIONS_KEY, "ParamValue": v} for v in ("latest", "original")]
    fails(client, "RerunTriggerWorkflowRunAsync", {**base, "AdvancedParams": twice}, "InvalidParameterValue",
          "AdvancedParams.1.ParamKey", VERSIONS_KEY)  # fmt: skip
    # an ordinary run-time parameter keeps its request index in messages
    unnamed = [{"ParamKey": VERSIONS_KEY, "ParamValue": "latest"}, {"ParamKey": "", "ParamValue": "1"}]
    fails(client, "RerunTriggerWorkflowRunAsync", {**base, "ExecuteType": "2", "AdvancedParams": unnamed},
          "InvalidParameterValue", "AdvancedParams.1.ParamKey")  # fmt: skip
    assert get_run(client, project_id, run_id).TriggerWorkflowRun.RerunTimes == 0  # nothing was rerun


def test_rerun_takes_edges_and_allow_redo_from_the_new_version(client: Any, project_id: str, tmp_path: Path) -> None:
    """The run's task set stays; the edges among its tasks come from the version each task now runs."""
    wf = new_workflow(client, project_id, f"fix_edges_{uuid.uuid4().hex[:8]}")
    a = new_task(client, project_id, wf, "a", "exit 3")
    b = new_task(client, project_id, wf, "b", f"echo b >> {tmp_path / 'b'}", upstream=[a], AllowRedoType="NONE")
    run_id = start_run(client, project_id, wf)
    assert task_states(wait_run(client, project_id, run_id)) == {"a": "FAILED", "b": "UPSTREAM_FAILED"}
    job = rerun(client, project_id, wf, run_id, "2", TaskIds=[b])
    assert job.Status == "FAIL" and "AllowRedoType" in job.ErrorDesc and b in job.ErrorDesc
    # b no longer waits for a, and may be rerun now
    update_and_submit(client, project_id, b, task_body("b", f"echo b >> {tmp_path / 'b'}", AllowRedoType="ALL"))
    new_task(client, project_id, wf, "added_since", "true")  # not part of the run: never added by a rerun
    assert rerun(client, project_id, wf, run_id, "2", TaskIds=[b]).Status == "SUCCESS"
    done = wait_run(client, project_id, run_id)
    assert task_states(done) == {"a": "FAILED", "b": "SUCCESS"}  # a's failed record is kept, so the run FAILED
    assert done.TriggerWorkflowRun.ExecutionState == "FAILED" and (tmp_path / "b").read_text() == "b\n"


def test_rerun_of_a_task_deleted_since(client: Any, project_id: str, tmp_path: Path) -> None:
    wf = new_workflow(client, project_id, f"fix_gone_{uuid.uuid4().hex[:8]}")
    gone = new_task(client, project_id, wf, "gone", f"echo gone >> {tmp_path / 'gone'}; exit 3")
    new_task(client, project_id, wf, "stays", "true")
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)
    assert call(client, "DeleteTriggerTask", {"ProjectId": project_id, "TaskId": gone}).Status is True

    job = rerun(client, project_id, wf, run_id)  # latest: the deleted task has nothing submitted any more
    assert (job.Status, job.TotalSubProcessCount, job.SuccessSubProcessCount) == ("PART_SUCCESS", 2, 1)
    assert gone in job.ErrorDesc and "gone" in job.ErrorDesc and VERSIONS_KEY in job.ErrorDesc
    done = wait_run(client, project_id, run_id)
    assert {t.TaskName: (t.ExecutionState, t.RerunTimes) for t in done.TriggerTaskRuns} == {
        "gone": ("FAILED", 0), "stays": ("SUCCESS", 1),
    }  # fmt: skip
    only_gone = rerun(client, project_id, wf, run_id, "2", TaskIds=[gone])
    assert (only_gone.Status, only_gone.SuccessSubProcessCount) == ("FAIL", 0)

    keep = [{"ParamKey": VERSIONS_KEY, "ParamValue": "original"}]
    assert rerun(client, project_id, wf, run_id, "2", TaskIds=[gone], AdvancedParams=keep).Status == "SUCCESS"
    again = wait_run(client, project_id, run_id)
    assert {t.TaskName: t.RerunTimes for t in again.TriggerTaskRuns} == {"gone": 2, "stays": 1}
    assert (tmp_path / "gone").read_text() == "gone\ngone\n"  # its original version ran again


def test_submit_with_nothing_new_returns_the_current_version(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"resubmit_{uuid.uuid4().hex[:8]}")
    task_id = new_task(client, project_id, wf, "t", "echo one")  # submitted once: V1
    body = {"ProjectId": project_id, "TaskId": task_id}

    def submit() -> str:
        return str(call(client, "SubmitTriggerTask", {**body, "VersionRemark": "again"}).VersionId)

    def submits() -> Any:
        return call(client, "ListTriggerTaskVersions", {**body, "TaskVersionType": "SUBMIT"})

    def attr() -> Any:
        return call(client, "GetTriggerTask", body).TriggerTaskBaseAttribute

    first = submitted_version(client, project_id, task_id)
    assert submit() == first and submit() == first
    assert [(v.VersionId, v.VersionRemark, v.UsedVersion) for v in submits().Items] == [(first, "v1", True)]
    # a save that changes nothing still writes a SAVE version and clears Submit; submitting finds nothing new
    same = {"TriggerTaskBaseAttribute": {"TaskName": "t"}}
    assert call(client, "UpdateTriggerTaskPartially", {**body, "NewSetting": same}).Status
    assert attr().Submit is False and attr().TaskLatestVersionNo == "V2"
    saves = call(client, "ListTriggerTaskVersions", body).TotalCount
    assert submit() == first and attr().Submit is True and submits().TotalCount == 1
    # a real change is new
    changed = update_and_submit(client, project_id, task_id, task_body("t", "echo two"))
    assert changed != first and attr().Submit is True
    assert [v.VersionId for v in submits().Items] == [changed, first] and attr().TaskLatestSubmitVersionNo == "V2"
    assert call(client, "ListTriggerTaskVersions", body).TotalCount == saves + 1
    assert submit() == changed and submits().TotalCount == 2


def test_submit_refuses_to_close_a_cycle_among_submitted_versions(client: Any, project_id: str) -> None:
    """Saves are checked against saved definitions, so submitted versions could form a cycle: `a` submitted
    needing `b`, then saved without the edge but not submitted, then `b` saved and submitted needing `a`.
    A run froze both SUBMIT versions and waited forever. The submit is refused, naming the cycle; once `a`'s
    fix is submitted, `b`'s goes through and the run finishes."""
    wf = new_workflow(client, project_id, f"cycle_{uuid.uuid4().hex[:6]}")
    b = new_task(client, project_id, wf, "b", "true")
    a = new_task(client, project_id, wf, "a", "true", upstream=[b])
    update = {"ProjectId": project_id}
    assert call(client, "UpdateTriggerTask", {**update, "TaskId": a, "Task": task_body("a", "true")}).Status
    b_needs_a = task_body("b", "true", upstream=(a,))
    assert call(client, "UpdateTriggerTask", {**update, "TaskId": b, "Task": b_needs_a}).Status
    fails(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": b, "VersionRemark": "x"},
          "FailedOperation", "cycle", a, b)  # fmt: skip
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": a, "VersionRemark": "drop edge"})
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": b, "VersionRemark": "needs a"})
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
