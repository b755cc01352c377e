"""Branch nodes (TaskTypeId 130, docs/branch.md) through the official SDK against a real `trigflow up`.

The shape of every test: `check` (shell) writes an output `flag`; `route` (the branch node) reads it as its
input `${flag}` and sends the run down `path_a` or `path_b`; `after_b` is what only `path_b` leads to; `join`
is a merge node after both paths (default expectation [2, 21]) and `plain` an ALL_SUCCESS task after both.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests.conftest import make_client, start_server, wait_for
from tests.integration.helpers import call, fails, get_run, new_task, new_workflow, start_run, task_states, uid
from tests.integration.helpers import wait_run as _wait_run

EXT = "TriggerTaskConfiguration.TaskExtConfigurationList.branchConditions"


def wait_run(client: Any, project_id: str, run_id: str) -> Any:
    return _wait_run(client, project_id, run_id, timeout=60)


def check_task(client: Any, project_id: str, wf: str, script: str) -> str:
    """A shell task whose script prints `##wedata_output flag=...`; `flag` is its declared output."""
    return new_task(client, project_id, wf, "check", script, ParamTaskOutList=[{"ParamKey": "flag", "ParamValue": ""}])


def branch_node(client: Any, project_id: str, wf: str, check: str, name: str = "route") -> str:
    """A branch node after `check`, reading its `flag` output as `${flag}`; created without conditions (its
    targets do not exist yet), submitted by `set_conditions`."""
    data = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": "130", "WorkflowId": wf},
            "TriggerTaskConfiguration": {},
            "TriggerTaskSchedulerConfiguration": {
                "MaxRetryNumber": 0,
                "UpstreamDependencyConfigList": [{"TaskId": check}],
                "ParamTaskInList": [
                    {"ParamKey": "flag", "ParamDesc": "x", "FromTaskId": check, "FromParamKey": "flag"}
                ],
            },
        },
    )
    return str(data.TaskId)


def set_conditions(client: Any, project_id: str, route: str, conditions: list[dict[str, Any]]) -> None:
    ext = [{"ParamKey": "branchConditions", "ParamValue": json.dumps(conditions)}]
    setting = {"TriggerTaskConfiguration": {"TaskExtConfigurationList": ext}}
    call(client, "UpdateTriggerTaskPartially", {"ProjectId": project_id, "TaskId": route, "NewSetting": setting})
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": route, "VersionRemark": "conditions"})


def merge_node(client: Any, project_id: str, wf: str, upstream: list[str]) -> str:
    cond = [{"upstreamTaskId": t, "expectationState": [2, 21]} for t in upstream]
    data = call(
        client,
        "CreateTriggerTask",
        {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": "join", "TaskTypeId": "131", "WorkflowId": wf},
            "TriggerTaskConfiguration": {
                "TaskExtConfigurationList": [{"ParamKey": "mergeCondition", "ParamValue": json.dumps(cond)}]
            },
            "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
        },
    )
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": data.TaskId, "VersionRemark": "v1"})
    return str(data.TaskId)


def a_or_b(
    client: Any, project_id: str, check_script: str, *, a_code: str = "echo path A", **a_sched: Any
) -> tuple[str, dict[str, str]]:
    """The workflow of the module docstring; returns its id and the task ids by name."""
    wf = new_workflow(client, project_id, f"branch_{uid()}")
    check = check_task(client, project_id, wf, check_script)
    route = branch_node(client, project_id, wf, check)
    path_a = new_task(client, project_id, wf, "path_a", a_code, upstream=[route, *a_sched.pop("extra_up", [])],
                      **a_sched)  # fmt: skip
    path_b = new_task(client, project_id, wf, "path_b", "echo path B", upstream=[route])
    after_b = new_task(client, project_id, wf, "after_b", "echo after B", upstream=[path_b])
    set_conditions(client, project_id, route, [
        {"condition": "${flag} == 'a'", "taskId": path_a, "description": "the A files"},
        {"condition": "${flag} == 'b'", "taskId": path_b},
    ])  # fmt: skip
    join = merge_node(client, project_id, wf, [path_a, after_b])
    plain = new_task(client, project_id, wf, "plain", "echo plain", upstream=[path_a, after_b])
    ids = {"check": check, "route": route, "path_a": path_a, "path_b": path_b, "after_b": after_b, "join": join,
           "plain": plain}  # fmt: skip
    return wf, ids


def output(flag: str) -> str:
    return f"echo {json.dumps('##wedata_output flag=' + flag)}\n"


def route_run(data: Any) -> Any:
    return next(t for t in data.TriggerTaskRuns if t.TaskName == "route")


def chosen(data: Any) -> list[str]:
    """The targets the branch node ran, from its TaskTypeExtensions (`branchChosenTaskIds`)."""
    ext = json.loads(route_run(data).TaskTypeExtensions)
    return list(json.loads(ext["branchChosenTaskIds"]))


A_CHOSEN = {"check": "SUCCESS", "route": "SUCCESS", "path_a": "SUCCESS", "path_b": "SKIP", "after_b": "SKIP",
            "join": "SUCCESS", "plain": "SKIP"}  # fmt: skip


def test_branch_runs_the_true_path_skips_the_other_and_a_merge_rejoins(client: Any, project_id: str) -> None:
    wf, ids = a_or_b(client, project_id, output("a"))
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert task_states(data) == A_CHOSEN
    route = route_run(data)
    assert route.TaskType == "BRANCH" and route.TaskTypeId == 130
    assert route.ErrorCodeStr in (None, "")
    assert route.ExecutionStartTime and route.ExecutionEndTime and route.DependenceFinishedTime
    assert chosen(data) == [ids["path_a"]]


def test_an_injected_value_is_compared_as_text(client: Any, project_id: str) -> None:
    wf, _ = a_or_b(client, project_id, output("' or 1 == 1 or '"))
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    states = task_states(data)
    assert states["path_a"] == "SKIP" and states["path_b"] == "SKIP"  # neither condition holds
    assert chosen(data) == []
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"


def test_a_condition_that_cannot_be_evaluated_fails_the_node(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"branch_err_{uid()}")
    check = check_task(client, project_id, wf, output("secret-value-abc"))
    route = branch_node(client, project_id, wf, check)
    path_a = new_task(client, project_id, wf, "path_a", "echo A", upstream=[route])
    set_conditions(client, project_id, route, [{"condition": "${flag} < 3", "taskId": path_a}])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
    states = task_states(data)
    assert states["route"] == "FAILED" and states["path_a"] == "UPSTREAM_FAILED"
    error = route_run(data).ErrorCodeStr
    assert error.startswith("BranchConditionError: branchConditions[0].condition '${flag} < 3': "), error
    assert "secret-value-abc" not in error
    assert "secret-value-abc" not in (data.TriggerWorkflowRun.ErrorCodeStr or "")


def test_a_rerun_decides_again_with_the_new_values(client: Any, project_id: str, tmp_path: Path) -> None:
    marker = tmp_path / "second"
    script = f'if [ -e {marker} ]; then f=b; else touch {marker}; f=a; fi\necho "##wedata_output flag=$f"\n'
    wf, ids = a_or_b(client, project_id, script)
    run_id = start_run(client, project_id, wf)
    first = wait_run(client, project_id, run_id)
    assert task_states(first) == A_CHOSEN
    call(client, "RerunTriggerWorkflowRunAsync", {"ProjectId": project_id, "WorkflowId": wf,
                                                  "WorkflowExecutionId": run_id, "ExecuteType": "1"})  # fmt: skip

    def rerun_done() -> Any:
        data = get_run(client, project_id, run_id)
        return data if data.TriggerWorkflowRun.ExecutionState == "SUCCESS" and \
            task_states(data)["path_b"] != "SKIP" and task_states(data)["after_b"] == "SUCCESS" else None  # fmt: skip

    second = wait_for(rerun_done, timeout=60, interval=0.05, what="the rerun down path B")
    assert task_states(second) == {**A_CHOSEN, "path_a": "SKIP", "path_b": "SUCCESS", "after_b": "SUCCESS"}
    assert chosen(second) == [ids["path_b"]]


def test_a_restart_after_the_decision_keeps_the_skips(tmp_path: Path) -> None:
    data_dir, gate = tmp_path / "data", tmp_path / "gate"
    server = start_server(data_dir, extra=["--kill-grace", "1"])
    try:
        client = make_client(server.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, f"branch_restart_{uid()}")
        # path_a waits for `hold` too, which runs until the test creates `gate`: the server dies after the
        # branch decided and before path_a ran. `hold` is retried once (the crash loses its first attempt).
        check = check_task(client, project_id, wf, output("a"))
        hold = new_task(client, project_id, wf, "hold", f"while [ ! -e {gate} ]; do sleep 0.05; done",
                        MaxRetryNumber=1, RetryWaitMinute=0)  # fmt: skip
        route = branch_node(client, project_id, wf, check)
        path_a = new_task(client, project_id, wf, "path_a", "echo A", upstream=[route, hold])
        path_b = new_task(client, project_id, wf, "path_b", "echo B", upstream=[route])
        new_task(client, project_id, wf, "after_b", "echo after B", upstream=[path_b])
        set_conditions(client, project_id, route, [{"condition": "${flag} == 'a'", "taskId": path_a},
                                                   {"condition": "${flag} == 'b'", "taskId": path_b}])  # fmt: skip
        run_id = start_run(client, project_id, wf)

        def decided() -> bool:
            s = task_states(get_run(client, project_id, run_id))
            return s["route"] == "SUCCESS" and s["after_b"] == "SKIP" and s["hold"] == "RUNNING"

        wait_for(decided, timeout=30, interval=0.05, what="the branch decision")
        before = task_states(get_run(client, project_id, run_id))
        assert before["path_a"] == "PENDING" and before["path_b"] == "SKIP"
        server.stop(signal.SIGKILL)
        server = start_server(data_dir, port=server.port, extra=["--kill-grace", "1"])
        client = make_client(server.endpoint)
        gate.touch()
        data = wait_run(client, project_id, run_id)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert task_states(data) == {"check": "SUCCESS", "hold": "SUCCESS", "route": "SUCCESS",
                                     "path_a": "SUCCESS", "path_b": "SKIP", "after_b": "SKIP"}  # fmt: skip
    finally:
        gate.touch()
        server.stop()


def test_bad_branch_conditions_are_refused_at_save_and_submit(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"branch_bad_{uid()}")
    check = check_task(client, project_id, wf, output("a"))
    route = branch_node(client, project_id, wf, check)
    path_a = new_task(client, project_id, wf, "path_a", "echo A", upstream=[route])
    stranger = new_task(client, project_id, wf, "stranger", "echo S", upstream=[check])

    def save(value: str) -> dict[str, Any]:
        ext = [{"ParamKey": "branchConditions", "ParamValue": value}]
        return {"ProjectId": project_id, "TaskId": route,
                "NewSetting": {"TriggerTaskConfiguration": {"TaskExtConfigurationList": ext}}}  # fmt: skip

    def refused(value: str, message: str) -> None:
        fails(client, "UpdateTriggerTaskPartially", save(value), "InvalidParameterValue", f"NewSetting.{EXT}{message}")

    refused("not json", " must be a JSON array of branch conditions")
    refused("[]", " must be a non-empty JSON array of branch conditions")
    refused(json.dumps([{"condition": "flag == 'a'", "taskId": path_a}]), "[0].condition uses the bare name flag")
    refused(json.dumps([{"condition": "eval('1') == 1", "taskId": path_a}]), "[0].condition calls eval()")
    refused(json.dumps([{"condition": "${flag}", "taskId": path_a}]), "[0].condition must be a test")
    refused(json.dumps([{"taskId": path_a}]), "[0].condition must be text")
    twice = [{"condition": "${flag} == 'a'", "taskId": path_a}, {"condition": "${flag} == 'b'", "taskId": path_a}]
    refused(json.dumps(twice), f"[1].taskId: task {path_a} already has a condition")
    refused(json.dumps([{"condition": f"${{flag}} == '{i}'", "taskId": f"t{i}"} for i in range(51)]),
            " holds 51 conditions; at most 50 are allowed")  # fmt: skip

    submit = {"ProjectId": project_id, "TaskId": route, "VersionRemark": "x"}
    fails(client, "SubmitTriggerTask", submit, "InvalidParameterValue", f"{EXT} is required to submit a branch node")
    ok = {"condition": "${flag} == 'a'", "taskId": path_a}
    not_below = {"condition": "${flag} == 'b'", "taskId": stranger}
    call(client, "UpdateTriggerTaskPartially", save(json.dumps([ok, not_below])))
    fails(client, "SubmitTriggerTask", submit, "InvalidParameterValue",
          f"{EXT}[1].taskId: task {stranger} is not a direct downstream of this branch node", path_a)  # fmt: skip
    call(client, "UpdateTriggerTaskPartially", save(json.dumps([ok])))
    call(client, "SubmitTriggerTask", submit)


def test_create_with_conditions_checks_them_at_once(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"branch_create_{uid()}")
    params = {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": "route", "TaskTypeId": "130", "WorkflowId": wf},
        "TriggerTaskConfiguration": {"TaskExtConfigurationList": [
            {"ParamKey": "branchConditions", "ParamValue": json.dumps([{"condition": "${a} == +", "taskId": "x"}])}
        ]},
        "TriggerTaskSchedulerConfiguration": {},
    }  # fmt: skip
    fails(client, "CreateTriggerTask", params, "InvalidParameterValue", f"{EXT}[0].condition is not a Python")
