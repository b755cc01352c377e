"""Issue 12 point 5 (visible state), through a real server and the official SDK: a task run waiting for a retry
says so and when; output values of a task run are readable (TaskTypeExtensions `taskOutputs`); a run's
WorkflowParams read resolved at its schedule time, as its tasks saw them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, wait_run
from trigflow.domain.states import parse_retry_notice

MINUTE_S = 2.0  # the dedicated server's minute: RetryWaitMinute 1 is a 2 s wait, long enough to watch


@pytest.fixture(scope="module")
def slow_minute(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("slow_minute"), extra=["--rate-limit", "1000", "--minute-seconds", str(MINUTE_S)]
    )
    yield srv
    srv.stop()


def only_task(data: Any) -> Any:
    assert len(data.TriggerTaskRuns) == 1
    return data.TriggerTaskRuns[0]


def by_name(data: Any) -> dict[str, Any]:
    return {t.TaskName: t for t in data.TriggerTaskRuns}


def test_retry_wait_says_which_retry_and_when_and_the_final_failure_says_why(slow_minute: Server) -> None:
    client = make_client(slow_minute.endpoint)
    project_id = call(client, "ListProjects", {}).Items[0].ProjectId
    wf = new_workflow(client, project_id, f"retry_notice_{uuid.uuid4().hex[:6]}")
    new_task(client, project_id, wf, "flaky", "sleep 0.5; exit 3", MaxRetryNumber=2, RetryWaitMinute=1)
    run_id = start_run(client, project_id, wf)

    def in_state(state: str, retry_times: int) -> Any:
        t = only_task(get_run(client, project_id, run_id))
        return t if (t.ExecutionState, t.RetryTimes) == (state, retry_times) else None

    # First wait: PENDING, RetryTimes 1, and the message names the failure, the retry and a future time.
    waiting = wait_for(lambda: in_state("PENDING", 1), what="first retry wait")
    read_at = time.time()
    notice = parse_retry_notice(waiting.ErrorCodeStr)
    assert notice is not None, waiting.ErrorCodeStr
    assert (notice.last_error, notice.retry, notice.max_retry) == ("exit code 3", 1, 2)
    assert waiting.ErrorCodeStr.startswith(f"exit code 3; retry 1 of 2 at {notice.at:%Y-%m-%d %H:%M:%S} ")
    # The zone is the run's (the one its time expressions use), the offset written out.
    zone = ZoneInfo(waiting.Timezone)
    assert notice.at.utcoffset() == notice.at.astimezone(zone).utcoffset()
    assert notice.at.timestamp() > read_at, "the retry time is in the future while it waits"
    failed_at_ms = int(waiting.ExecutionEndTime)
    due_ms = failed_at_ms + MINUTE_S * 1000
    assert due_ms - 1000 < notice.at.timestamp() * 1000 <= due_ms  # whole seconds, rounded down

    # Every read of the task run says the same.
    by_run = [{"Name": "WorkflowExecutionId", "Values": [run_id]}]
    listed = call(client, "ListTriggerTaskRuns", {"ProjectId": project_id, "Filters": by_run}).Items[0]
    detail = call(client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": waiting.ExecutionId})
    assert listed.ErrorCodeStr == detail.ErrorCodeStr == waiting.ErrorCodeStr

    # The retry starts when the message said, and while it runs the message is gone.
    # (ExecutionStartTime is overwritten once the retry's process has started, a moment after RUNNING.)
    def retry_running() -> Any:
        t = in_state("RUNNING", 1)
        return t if t is not None and t.ExecutionStartTime != waiting.ExecutionStartTime else None

    running = wait_for(retry_running, what="first retry running")
    assert running.ErrorCodeStr is None
    at_ms = notice.at.timestamp() * 1000
    for started_ms in (int(running.IssueTime), int(running.ExecutionStartTime)):  # dispatched, process started
        assert at_ms <= started_ms < at_ms + 1000 + 1500

    second = wait_for(lambda: in_state("PENDING", 2), what="second retry wait")
    again = parse_retry_notice(second.ErrorCodeStr)
    assert again is not None and (again.last_error, again.retry, again.max_retry) == ("exit code 3", 2, 2)
    assert again.at > notice.at

    # Retries used up: the last error alone, on the task run and (named) on the run.
    data = wait_run(client, project_id, run_id, timeout=30)
    final = only_task(data)
    assert (final.ExecutionState, final.RetryTimes, final.ErrorCodeStr) == ("FAILED", 2, "exit code 3")
    assert data.TriggerWorkflowRun.ErrorCodeStr == "flaky: exit code 3"
    assert parse_retry_notice(final.ErrorCodeStr) is None


def test_output_values_are_readable_in_task_type_extensions(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"outputs_read_{uuid.uuid4().hex[:6]}")
    emit = (
        'echo "##wedata_output total_amount=42"\n'
        'echo "note=a b=c" >> "$WEDATA_OUTPUT_FILE"\n'
        "printf 'big=%05000d\\n' 0 >> \"$WEDATA_OUTPUT_FILE\"\n"
        'echo "##wedata_output not_declared=hidden"\n'
    )
    producer = new_task(
        client, project_id, wf, "producer", emit,
        ParamTaskOutList=[
            {"ParamKey": "total_amount", "ParamValue": "0"},
            {"ParamKey": "note", "ParamValue": ""},
            {"ParamKey": "big", "ParamValue": ""},
            {"ParamKey": "day", "ParamValue": "${yyyyMMdd}"},  # nobody set it: the declared default, resolved
        ],
    )  # fmt: skip
    new_task(client, project_id, wf, "plain", "true")
    new_task(client, project_id, wf, "failing", 'echo "##wedata_output x=1"; exit 1',
             ParamTaskOutList=[{"ParamKey": "x", "ParamValue": "0"}])  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    runs = by_name(data)
    assert runs["producer"].ExecutionState == "SUCCESS"
    baseline = datetime.fromtimestamp(int(data.TriggerWorkflowRun.ScheduleTime) / 1000, tz=ZoneInfo("Asia/Shanghai"))

    ext = json.loads(runs["producer"].TaskTypeExtensions)
    outputs = json.loads(ext["taskOutputs"])
    assert outputs == {"total_amount": "42", "note": "a b=c", "big": "0" * 4096, "day": f"{baseline:%Y%m%d}"}
    assert json.loads(ext["taskOutputsTruncated"]) == {"big": 5000}
    assert ext["runPriority"] == "6"  # the other extension keys are still there
    for name in ("plain", "failing"):  # no outputs recorded: no key
        assert "taskOutputs" not in json.loads(runs[name].TaskTypeExtensions), name

    exec_id = runs["producer"].ExecutionId
    detail = call(client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": exec_id})
    assert json.loads(json.loads(detail.TaskTypeExtensions)["taskOutputs"]) == outputs
    assert detail.TaskId == producer


def test_workflow_params_read_resolved_at_the_schedule_time(
    client: Any, project_id: str, server: Server, tmp_path: Path
) -> None:
    wf = new_workflow(
        client, project_id, f"resolved_{uuid.uuid4().hex[:6]}",
        WorkflowParams=[
            {"ParamKey": "biz_date", "ParamValue": "${yyyyMMdd-1d}"},
            {"ParamKey": "path", "ParamValue": "/in/${biz_date}/${region}"},
            {"ParamKey": "region", "ParamValue": "cn"},
            {"ParamKey": "shell", "ParamValue": "${HOME}"},  # not a parameter: stays as written
            {"ParamKey": "literal", "ParamValue": "$${yyyyMMdd}"},
        ],
    )  # fmt: skip
    task = new_task(client, project_id, wf, "echo", 'echo "${biz_date}|${path}|${asked}"')
    run_id = start_run(client, project_id, wf, AdvancedParams=[
        {"ParamKey": "region", "ParamValue": "eu"},
        {"ParamKey": "asked", "ParamValue": "${yyyyMMdd}"},  # data: never evaluated, not in the task, not here
    ])  # fmt: skip
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    baseline = datetime.fromtimestamp(int(data.TriggerWorkflowRun.ScheduleTime) / 1000, tz=ZoneInfo("Asia/Shanghai"))
    day = f"{baseline - timedelta(days=1):%Y%m%d}"
    expected = {"biz_date": day, "path": f"/in/{day}/eu", "region": "eu", "shell": "${HOME}",
                "literal": "${yyyyMMdd}", "asked": "${yyyyMMdd}"}  # fmt: skip
    assert json.loads(data.TriggerWorkflowRun.WorkflowParams) == expected

    log = (server.data_dir / "runs" / run_id / f"{task}.0.0.log").read_text().strip()
    assert log == f"{day}|/in/{day}/eu|${{yyyyMMdd}}"  # what the task saw is what the run shows
    used = json.loads(by_name(data)["echo"].RunParams)
    seen = ("biz_date", "path", "asked")
    assert {k: used[k] for k in seen} == {k: expected[k] for k in seen}

    by_id = [{"Name": "ExecutionId", "Values": [run_id]}]
    listed = call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": by_id})
    assert [json.loads(r.WorkflowParams) for r in listed.Items] == [expected]
    detail = call(client, "GetTriggerTaskRun", {"ProjectId": project_id,
                                                "TaskExecutionId": by_name(data)["echo"].ExecutionId})  # fmt: skip
    assert json.loads(detail.WorkflowParams) == expected
    # The definition keeps the expressions.
    definition = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    assert {p.ParamKey: p.ParamValue for p in definition.WorkflowParams}["biz_date"] == "${yyyyMMdd-1d}"


def test_a_rerun_s_data_parameters_stay_unexpanded_in_the_resolved_view(client: Any, project_id: str) -> None:
    """A rerun of some tasks with AdvancedParams: those names are data in the new task runs only; the view
    must still not expand them (one stale task run must not make them trusted)."""
    wf = new_workflow(client, project_id, f"resolved_rerun_{uuid.uuid4().hex[:6]}",
                      WorkflowParams=[{"ParamKey": "day", "ParamValue": "${yyyyMMdd}"}])  # fmt: skip
    a = new_task(client, project_id, wf, "a", "true")
    b = new_task(client, project_id, wf, "b", "true")
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    for task in (b, a):  # b first: a's older task run, which knows nothing of b's data, is still the latest
        data = call(client, "RerunTriggerWorkflowRunAsync", {
            "ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "2",
            "TaskIds": [task], "AdvancedParams": [{"ParamKey": f"asked_{task}", "ParamValue": "${day}"}],
        })  # fmt: skip
        assert call(client, "GetOpsAsyncJob", {"ProjectId": project_id, "AsyncId": data.AsyncId}).Status == "SUCCESS"
        done = wait_run(client, project_id, run_id)
        params = json.loads(done.TriggerWorkflowRun.WorkflowParams)
        assert params[f"asked_{task}"] == "${day}", params
        assert params["day"].isdigit()


def test_a_retry_wait_keeps_its_message_and_its_time_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    extra = ["--rate-limit", "1000", "--minute-seconds", str(MINUTE_S)]
    first = start_server(data_dir, extra=extra)
    try:
        client = make_client(first.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "retry_restart")
        new_task(client, project_id, wf, "flaky", "exit 4", MaxRetryNumber=1, RetryWaitMinute=4)  # an 8 s wait
        run_id = start_run(client, project_id, wf)
        waiting = wait_for(lambda: (t := only_task(get_run(client, project_id, run_id))).RetryTimes == 1 and t,
                           what="retry wait")  # fmt: skip
        before = parse_retry_notice(waiting.ErrorCodeStr)
        assert before is not None and before.last_error == "exit code 4"
    finally:
        first.stop()
    second = start_server(data_dir, port=first.port, extra=extra)
    try:
        client = make_client(second.endpoint)
        again = only_task(get_run(client, project_id, run_id))
        assert (again.ExecutionState, again.ErrorCodeStr) == ("PENDING", waiting.ErrorCodeStr)
        assert before.at.timestamp() > time.time(), "the restart took longer than the wait: nothing to observe"
        running = wait_for(lambda: (t := only_task(get_run(client, project_id, run_id))).ExecutionStartTime
                           != waiting.ExecutionStartTime and t, timeout=30, what="the retry")  # fmt: skip
        started_ms = int(running.ExecutionStartTime)
        assert before.at.timestamp() * 1000 <= started_ms < before.at.timestamp() * 1000 + 1000 + 1500
        final = only_task(wait_run(client, project_id, run_id))
        assert (final.ExecutionState, final.ErrorCodeStr) == ("FAILED", "exit code 4")
    finally:
        second.stop()
