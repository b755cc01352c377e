"""For-each nodes (TaskTypeId 137) through the official SDK against a real `trigflow up`: iterations are child runs
of the body workflow, in a concurrency window, with their element as data; STOP/CONTINUE, limits, kill, rerun,
a server crash mid-loop, and the refusals at save (docs/task-types.md "For-each nodes")."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client, start_server, wait_for
from tests.integration.helpers import (
    call,
    fails,
    get_run,
    new_task,
    new_workflow,
    start_run,
    task_states,
    uid,
    wait_run,
)

EXT = "TriggerTaskConfiguration.TaskExtConfigurationList"


def foreach_body(ext: dict[str, str]) -> dict[str, Any]:
    return {"TaskExtConfigurationList": [{"ParamKey": k, "ParamValue": v} for k, v in ext.items()]}


def foreach(
    client: Any, project_id: str, wf: str, name: str, body: str, data: str, *, submit: bool = True, **more: Any
) -> str:
    """A For-each node of `wf` looping `body` over `data`; `more` holds further ext keys (str values) and, under
    `sched`, its scheduler section."""
    sched = {"MaxRetryNumber": 0, **more.pop("sched", {})}
    ext = {"workflowId": body, "loopDataArray": data, **more}
    created = call(client, "CreateTriggerTask", {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": "137", "WorkflowId": wf},
        "TriggerTaskConfiguration": foreach_body(ext),
        "TriggerTaskSchedulerConfiguration": sched,
    })  # fmt: skip
    if submit:
        call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": created.TaskId, "VersionRemark": "v1"})
    return str(created.TaskId)


def node_of(data: Any, name: str) -> Any:
    return next(t for t in data.TriggerTaskRuns if t.TaskName == name)


def progress(node: Any) -> dict[str, Any]:
    ext = json.loads(node.TaskTypeExtensions)
    return {
        "times": int(ext["loopTimes"]),
        "started": int(ext["loopStartedTimes"]),
        "ok": int(ext["loopSuccessTimes"]),
        "failed": int(ext["loopFailedTimes"]),
        "children": json.loads(ext["loopChildRunIds"]),
    }


def child_runs(client: Any, project_id: str, body: str) -> list[Any]:
    by_workflow = [{"Name": "WorkflowId", "Values": [body]}]
    items = call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": by_workflow, "PageSize": 100})
    return list(items.Items)


def body_workflow(client: Any, project_id: str, code: str, **task: Any) -> str:
    body = new_workflow(client, project_id, f"loop_body_{uid()}")
    new_task(client, project_id, body, "step", code, **task)
    return body


def log_of(client: Any, project_id: str, child_run_id: str) -> str:
    key = get_run(client, project_id, child_run_id).TriggerTaskRuns[0].ExecutionId
    page = call(client, "GetTaskInstanceLog", {"ProjectId": project_id, "InstanceKey": key})
    return str(page.LogInfo)


# --- the loop runs ----------------------------------------------------------------------------------------------


def test_serial_loop_over_a_literal_array_hands_each_iteration_its_element(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    line = "it ${dag.offset}/${dag.loopTimes}=${dag.foreach.current}|$TRIGFLOW_PARAM_dag_offset"
    code = f'echo "{line}" >> {trace}\necho "log ${{dag.offset}}: ${{dag.foreach.current}}"\n'
    body = body_workflow(client, project_id, code)
    wf = new_workflow(client, project_id, f"loop_{uid()}")
    node = foreach(client, project_id, wf, "each", body, json.dumps(["a", 2, {"k": [1, "ü"]}, None]))
    new_task(client, project_id, wf, "after", f"echo after >> {trace}", upstream=[node])
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"each": "SUCCESS", "after": "SUCCESS"}
    assert trace.read_text().splitlines() == [
        "it 0/4=a|0", "it 1/4=2|1", 'it 2/4={"k":[1,"ü"]}|2', "it 3/4=null|3", "after",
    ]  # fmt: skip
    each = node_of(data, "each")
    assert (each.TaskType, each.TaskTypeId) == ("FOR_EACH", 137)
    got = progress(each)
    assert (got["times"], got["started"], got["ok"], got["failed"]) == (4, 4, 4, 0)
    kids = {r.ExecutionId: r for r in child_runs(client, project_id, body)}
    assert set(kids) == set(got["children"])
    for offset, child in enumerate(got["children"]):
        kid = kids[child]
        assert (kid.ParentWorkflowExecutionId, kid.ParentTaskExecutionId, kid.ExecutionState) == (
            run_id, each.ExecutionId, "SUCCESS",
        )  # fmt: skip
        assert f"log {offset}: " in log_of(client, project_id, child)  # the body's own log shows its element
    starts = [int(kids[c].ExecutionStartTime) for c in got["children"]]
    ends = [int(kids[c].ExecutionEndTime) for c in got["children"]]
    assert all(ends[i] <= starts[i + 1] for i in range(3))  # serial: each after the previous one ended


def overlap(intervals: list[tuple[int, int]]) -> int:
    """The most intervals open at one instant (an end at t closes before a start at t)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_concurrency_three_never_runs_more_than_three_iterations_at_once(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    body = body_workflow(client, project_id, "sleep 0.3")
    wf = new_workflow(client, project_id, f"loop_c3_{uid()}")
    foreach(client, project_id, wf, "each", body, json.dumps(list(range(7))), loopConcurrency="3")
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    got = progress(node_of(data, "each"))
    kids = {r.ExecutionId: r for r in child_runs(client, project_id, body)}
    assert len(kids) == 7 and set(kids) == set(got["children"])
    # the engine's window covers a child run from its creation to its end
    spans = [(int(kids[c].CreateTime), int(kids[c].ExecutionEndTime))
             for c in got["children"]]  # fmt: skip
    assert overlap(spans) == 3  # the window was used, and never exceeded
    started = [int(kids[c].CreateTime) for c in got["children"]]
    assert started == sorted(started)  # offsets start in order


def test_the_array_can_come_from_an_upstream_output(client: Any, project_id: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    body = body_workflow(client, project_id, f'echo "${{dag.offset}} ${{dag.foreach.current}}" >> {trace}')
    wf = new_workflow(client, project_id, f"loop_up_{uid()}")
    up = new_task(client, project_id, wf, "list", """echo '##wedata_output ids=["x", "y z", 3]'""",
                  ParamTaskOutList=[{"ParamKey": "ids", "ParamValue": "[]"}])  # fmt: skip
    foreach(client, project_id, wf, "each", body, "${rows}", sched={
        "UpstreamDependencyConfigList": [{"TaskId": up}],
        "ParamTaskInList": [{"ParamKey": "rows", "ParamDesc": "p.list.ids", "FromTaskId": up, "FromParamKey": "ids"}],
    })  # fmt: skip
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {"list": "SUCCESS", "each": "SUCCESS"}
    assert trace.read_text().splitlines() == ["0 x", "1 y z", "2 3"]


def test_the_array_can_be_a_sql_task_s_column(client: Any, project_id: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    source = call(client, "CreateDataSource", {
        "ProjectId": project_id, "Name": f"loop_sqlite_{uid()}", "Type": "SQLITE",
        "ProdConProperties": json.dumps({"path": str(tmp_path / "rows.sqlite")}),
    }).DataSourceId  # fmt: skip
    sql = ("CREATE TABLE t (id INTEGER, name TEXT);\nINSERT INTO t VALUES (1, 'a b'), (2, 'c''d');\n"
           "SELECT name, id FROM t ORDER BY id;")  # fmt: skip
    wf = new_workflow(client, project_id, f"loop_sql_{uid()}")
    up = call(client, "CreateTriggerTask", {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": "q", "TaskTypeId": "32", "WorkflowId": wf},
        "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(sql.encode()).decode(),
                                     "SourceServiceId": str(source)},
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0,
                                              "ParamTaskOutList": [{"ParamKey": "names", "ParamValue": "$[*][0]"}]},
    }).TaskId  # fmt: skip
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": up, "VersionRemark": "v1"})
    body = body_workflow(client, project_id, f'echo "${{dag.offset}} ${{dag.foreach.current}}" >> {trace}')
    foreach(client, project_id, wf, "each", body, "${names}", sched={
        "UpstreamDependencyConfigList": [{"TaskId": up}],
        "ParamTaskInList": [{"ParamKey": "names", "ParamDesc": "p.q.names", "FromTaskId": up, "FromParamKey": "names"}],
    })  # fmt: skip
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {"q": "SUCCESS", "each": "SUCCESS"}
    assert trace.read_text().splitlines() == ["0 a b", "1 c'd"]


def test_a_run_parameter_array_is_data_and_an_element_never_becomes_code(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    trace = tmp_path / "trace"
    evil = [f'x"; touch {marker}; echo "', f"$(touch {marker})", f"`touch {marker}`"]
    body = body_workflow(client, project_id, f'echo "got ${{dag.foreach.current}}" >> {trace}')
    wf = new_workflow(client, project_id, f"loop_evil_{uid()}",
                      WorkflowParams=[{"ParamKey": "items", "ParamValue": "[]"}])  # fmt: skip
    foreach(client, project_id, wf, "each", body, "${items}")
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "items", "ParamValue": json.dumps(evil)}])
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert not marker.exists()
    assert trace.read_text().splitlines() == [f"got {e}" for e in evil]


# --- failures and limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "ran"), [("STOP", ["a", "bad"]), ("CONTINUE", ["a", "bad", "c", "d"])])
def test_one_failing_element_stop_and_continue(
    client: Any, project_id: str, tmp_path: Path, policy: str, ran: list[str]
) -> None:
    trace = tmp_path / "trace"
    body = body_workflow(client, project_id, f'echo "${{dag.foreach.current}}" >> {trace}\n'
                                             '[ "${dag.foreach.current}" != bad ] || exit 3')  # fmt: skip
    wf = new_workflow(client, project_id, f"loop_{policy.lower()}_{uid()}")
    node = foreach(client, project_id, wf, "each", body, '["a", "bad", "c", "d"]', loopFailurePolicy=policy)
    new_task(client, project_id, wf, "after", "true", upstream=[node])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {"each": "FAILED", "after": "UPSTREAM_FAILED"}
    assert trace.read_text().splitlines() == ran
    each = node_of(data, "each")
    got = progress(each)
    assert (got["started"], got["ok"], got["failed"]) == (len(ran), len(ran) - 1, 1)
    assert each.ErrorCodeStr.startswith("ForEachFailed: 1 of 4 iterations failed, offsets 1 (run ")
    assert ("2 not started (STOP)" in each.ErrorCodeStr) == (policy == "STOP")


def test_more_elements_than_max_loop_times_fail_the_node_and_start_nothing(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    body = body_workflow(client, project_id, "true")
    wf = new_workflow(client, project_id, f"loop_max_{uid()}",
                      WorkflowParams=[{"ParamKey": "items", "ParamValue": "[1, 2, 3]"}])  # fmt: skip
    foreach(client, project_id, wf, "each", body, "${items}", maxLoopTimes="2")
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    each = node_of(data, "each")
    assert each.ExecutionState == "FAILED"
    assert each.ErrorCodeStr == (
        "ForEachTooManyElements: loopDataArray ${items} has 3 elements, more than maxLoopTimes 2; no iteration was "
        "started"
    )
    assert child_runs(client, project_id, body) == []
    # not an array at run time: the node fails naming the key, never quoting the value
    run2 = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "items", "ParamValue": '{"secret": 1}'}])
    each2 = node_of(wait_run(client, project_id, run2), "each")
    assert each2.ErrorCodeStr == "ForEachBadArray: loopDataArray ${items} is a JSON object, not an array"


def test_an_empty_array_succeeds_with_zero_iterations(client: Any, project_id: str, tmp_path: Path) -> None:
    body = body_workflow(client, project_id, "true")
    wf = new_workflow(client, project_id, f"loop_empty_{uid()}")
    node = foreach(client, project_id, wf, "each", body, "[]")
    new_task(client, project_id, wf, "after", "true", upstream=[node])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert task_states(data) == {"each": "SUCCESS", "after": "SUCCESS"}
    got = progress(node_of(data, "each"))
    assert (got["times"], got["started"], got["children"]) == (0, 0, [])
    assert child_runs(client, project_id, body) == []


# --- kill, rerun, timeout ---------------------------------------------------------------------------------------


def test_killing_the_parent_kills_running_iterations_and_starts_no_more(
    client: Any, project_id: str, tmp_path: Path
) -> None:
    gate = tmp_path / "never"
    body = body_workflow(client, project_id, f"while [ ! -e {gate} ]; do sleep 0.02; done")
    wf = new_workflow(client, project_id, f"loop_kill_{uid()}")
    foreach(client, project_id, wf, "each", body, json.dumps(list(range(5))), loopConcurrency="2")
    run_id = start_run(client, project_id, wf)

    def two_running() -> bool:
        return sum(r.ExecutionState == "RUNNING" for r in child_runs(client, project_id, body)) == 2

    wait_for(two_running, what="two iterations running")
    call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf, "All": True})
    data = get_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "KILLED"
    assert task_states(data) == {"each": "KILLED"}
    kids = child_runs(client, project_id, body)
    assert sorted(r.ExecutionState for r in kids) == ["KILLED", "KILLED"]
    for kid in kids:  # and their tasks with them
        assert task_states(get_run(client, project_id, kid.ExecutionId)) == {"step": "KILLED"}
    # A later run through the same scheduler has finished: had the loop started anything after the kill, it
    # would show by now.
    other = new_workflow(client, project_id, f"after_kill_{uid()}")
    new_task(client, project_id, other, "t", "true")
    wait_run(client, project_id, start_run(client, project_id, other))
    assert len(child_runs(client, project_id, body)) == 2


def test_a_rerun_of_the_failed_node_reruns_every_iteration(client: Any, project_id: str, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    trace = tmp_path / "trace"
    body = body_workflow(client, project_id, f'echo "${{dag.foreach.current}}" >> {trace}\n'
                                             f'[ "${{dag.foreach.current}}" != b ] || [ -e {flag} ]')  # fmt: skip
    wf = new_workflow(client, project_id, f"loop_rerun_{uid()}")
    foreach(client, project_id, wf, "each", body, '["a", "b", "c"]')
    run_id = start_run(client, project_id, wf)
    first = wait_run(client, project_id, run_id)
    assert task_states(first) == {"each": "FAILED"}
    assert first.TriggerWorkflowRun.SupportRerun is True
    flag.touch()
    rerun = {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "1"}
    job = call(client, "RerunTriggerWorkflowRunAsync", rerun)
    assert call(client, "GetOpsAsyncJob", {"ProjectId": project_id, "AsyncId": job.AsyncId}).Status == "SUCCESS"
    done = wait_run(client, project_id, run_id)
    assert task_states(done) == {"each": "SUCCESS"}
    assert trace.read_text().splitlines() == ["a", "b", "a", "b", "c"]  # the rerun ran every element again
    again = progress(node_of(done, "each"))
    assert (again["started"], again["ok"]) == (3, 3)
    assert len(child_runs(client, project_id, body)) == 5


def test_a_node_retry_runs_the_whole_loop_again(client: Any, project_id: str, tmp_path: Path) -> None:
    once = tmp_path / "failed_once"
    trace = tmp_path / "trace"
    body = body_workflow(client, project_id, f'echo "${{dag.foreach.current}}" >> {trace}\n'
                                             f'[ "${{dag.foreach.current}}" != b ] || [ -e {once} ] || '
                                             f'{{ touch {once}; exit 1; }}')  # fmt: skip
    wf = new_workflow(client, project_id, f"loop_retry_{uid()}")
    foreach(client, project_id, wf, "each", body, '["a", "b", "c"]', sched={"MaxRetryNumber": 1, "RetryWaitMinute": 0})
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    each = node_of(data, "each")
    assert (each.ExecutionState, each.RetryTimes) == ("SUCCESS", 1)
    assert trace.read_text().splitlines() == ["a", "b", "a", "b", "c"]
    got = progress(each)
    assert (got["started"], got["ok"], len(got["children"])) == (3, 3, 3)  # the retry's own child runs
    assert len(child_runs(client, project_id, body)) == 5


def test_the_node_s_execution_timeout_kills_its_iterations(client: Any, project_id: str, tmp_path: Path) -> None:
    gate = tmp_path / "never"
    body = body_workflow(client, project_id, f"while [ ! -e {gate} ]; do sleep 0.02; done")
    wf = new_workflow(client, project_id, f"loop_ttl_{uid()}")
    foreach(client, project_id, wf, "each", body, "[1, 2]", sched={"ExecutionTTLMinute": 1})  # 0.2 s in tests
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    each = node_of(data, "each")
    assert each.ExecutionState == "FAILED" and each.ErrorCodeStr.startswith("ExecutionTimeout")
    kids = child_runs(client, project_id, body)
    assert [r.ExecutionState for r in kids] == ["KILLED"]


# --- a crash of the server mid-loop -----------------------------------------------------------------------------


def test_a_server_crash_mid_loop_neither_loses_nor_repeats_an_iteration(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    trace = tmp_path / "trace"
    gate = tmp_path / "gate"
    extra = ["--kill-grace", "1"]
    # offsets 0 and 1 end at once; 2 and 3 wait for the gate, so the crash finds them running
    code = (f'echo "start ${{dag.offset}}" >> {trace}\n'
            f'[ "${{dag.offset}}" -lt 2 ] || while [ ! -e {gate} ]; do sleep 0.02; done\n'
            f'echo "end ${{dag.offset}}" >> {trace}')  # fmt: skip
    server = start_server(data_dir, extra=extra)
    try:
        client = make_client(server.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        body = body_workflow(client, project_id, code, MaxRetryNumber=1, RetryWaitMinute=0)  # a lost one would retry
        wf = new_workflow(client, project_id, "loop_crash")
        foreach(client, project_id, wf, "each", body, json.dumps(list(range(5))), loopConcurrency="2")
        run_id = start_run(client, project_id, wf)

        def blocked() -> bool:
            return trace.exists() and {"start 2", "start 3"} <= set(trace.read_text().splitlines())

        wait_for(blocked, what="iterations 2 and 3 running")
    finally:
        server.stop(signal.SIGKILL)

    restarted = start_server(data_dir, port=server.port, extra=extra)
    try:
        client = make_client(restarted.endpoint)
        # Iterations 2 and 3 ran on under the keeper (ADR 0005): adopted, not lost, so not retried either.
        gate.touch()
        done = wait_run(client, project_id, run_id)
        assert task_states(done) == {"each": "SUCCESS"}
        lines = trace.read_text().splitlines()
        assert sorted(x for x in lines if x.startswith("end")) == [f"end {i}" for i in range(5)]  # once each
        assert [lines.count(f"start {i}") for i in range(5)] == [1, 1, 1, 1, 1]  # nothing ran twice
        got = progress(node_of(done, "each"))
        kids = child_runs(client, project_id, body)
        assert len(kids) == 5 and {r.ExecutionId for r in kids} == set(got["children"])  # one child run each
        assert all(r.ExecutionState == "SUCCESS" for r in kids)
        assert (got["started"], got["ok"]) == (5, 5)
    finally:
        restarted.stop()


# --- refusals at save -------------------------------------------------------------------------------------------


def test_bad_configurations_are_refused_at_save_naming_the_key(client: Any, project_id: str) -> None:
    body = body_workflow(client, project_id, "true")
    wf = new_workflow(client, project_id, f"loop_bad_{uid()}")

    def refused(ext: dict[str, str], key: str, *mentions: str) -> None:
        fails(client, "CreateTriggerTask", {
            "ProjectId": project_id,
            "TriggerTaskBaseAttribute": {"TaskName": f"bad_{uid()}", "TaskTypeId": "137", "WorkflowId": wf},
            "TriggerTaskConfiguration": foreach_body(ext),
            "TriggerTaskSchedulerConfiguration": {},
        }, "InvalidParameterValue", f"{EXT}.{key}", *mentions)  # fmt: skip

    ok = {"workflowId": body, "loopDataArray": "[1]"}
    refused({"loopDataArray": "[1]"}, "workflowId", "must name the workflow")
    refused({**ok, "workflowId": "00000000-0000-4000-8000-000000000000"}, "workflowId", "does not exist")
    refused({**ok, "workflowId": wf}, "workflowId", "cycle")  # its own workflow: a loop running itself
    for bad in ("0", "1001", "abc", "-1", "2.5"):
        refused({**ok, "maxLoopTimes": bad}, "maxLoopTimes", "from 1 to 1000")
        refused({**ok, "loopConcurrency": bad}, "loopConcurrency", "from 1 to 100")
    refused({**ok, "loopFailurePolicy": "SKIP"}, "loopFailurePolicy", "STOP or CONTINUE")
    refused({"workflowId": body}, "loopDataArray", "is required")
    refused({**ok, "loopDataArray": "[1,"}, "loopDataArray", "is not JSON")
    refused({**ok, "loopDataArray": '{"a": 1}'}, "loopDataArray", "not an array")
    refused({**ok, "loopDataArray": '["${x}"]'}, "loopDataArray", "exactly one parameter reference")
    refused({**ok, "loopDataArray": "[1, 2, 3]", "maxLoopTimes": "2"}, "loopDataArray", "3 elements", "maxLoopTimes 2")
    # a body that would run the loop's workflow again, through the body's own nested node
    inner = new_workflow(client, project_id, f"loop_inner_{uid()}")
    foreach(client, project_id, inner, "back", wf, "[1]")
    refused({**ok, "workflowId": inner}, "workflowId", "cycle")
    # and the same refusals on update, under the action's own prefix
    node = foreach(client, project_id, wf, "good", body, "[1]", submit=False)
    fails(client, "UpdateTriggerTaskPartially", {
        "ProjectId": project_id, "TaskId": node,
        "NewSetting": {"TriggerTaskConfiguration": foreach_body({**ok, "loopConcurrency": "0"})},
    }, "InvalidParameterValue", f"NewSetting.{EXT}.loopConcurrency")  # fmt: skip
