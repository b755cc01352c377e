"""GetTaskInstanceLog through the official SDK and tccli: every attempt's own log, exact paging, a log that grows
while its task runs, and the error codes of docs/api.md ("Task-run logs")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tencentcloud.wedata.v20250806 import models

from tests.conftest import Server, wait_for
from tests.integration.helpers import call, fails, get_run, new_task, new_workflow, start_run, uid, wait_run
from tests.integration.test_tccli import output_json, tccli

PAGE = 64 * 1024


def exec_ids(client: Any, project_id: str, run_id: str) -> dict[str, Any]:
    """Task name -> its task run brief (ExecutionId, RetryTimes, state) in the run."""
    return {t.TaskName: t for t in get_run(client, project_id, run_id).TriggerTaskRuns}


def log_page(client: Any, project_id: str, key: str, **extra: Any) -> Any:
    return call(client, "GetTaskInstanceLog", {"ProjectId": project_id, "InstanceKey": key, **extra})


def whole_log(client: Any, project_id: str, key: str, **extra: Any) -> tuple[str, list[Any]]:
    """Follow NextCursor until it is null (a finished attempt read to its end); the text and the pages."""
    pages = [log_page(client, project_id, key, **extra)]
    while pages[-1].NextCursor is not None:
        assert len(pages) < 1000
        pages.append(log_page(client, project_id, key, NextCursor=pages[-1].NextCursor, **extra))
    return "".join(p.LogInfo for p in pages), pages


def test_pages_reassemble_a_long_log_exactly(client: Any, project_id: str, server: Server) -> None:
    code = "seq -f 'line %06g of the log' 1 9000\necho 'ünïcödé €'\nprintf 'no newline at the end'"
    expected = "".join(f"line {i:06d} of the log\n" for i in range(1, 9001)) + "ünïcödé €\nno newline at the end"
    wf = new_workflow(client, project_id, f"logs_long_{uid()}")
    new_task(client, project_id, wf, "long", code)
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    key = exec_ids(client, project_id, run_id)["long"].ExecutionId

    text, pages = whole_log(client, project_id, key)
    assert text == expected
    assert len(pages) >= 3 and all(len(p.LogInfo.encode()) <= PAGE for p in pages)
    assert all(p.LogInfo.endswith("\n") for p in pages[:-1])  # full pages end on line boundaries
    assert (pages[0].InstanceKey, pages[0].ProjectId, pages[0].CodeContent) == (key, project_id, code)
    assert all(p.CodeContent is None for p in pages[1:])  # the code comes once, with the first page
    # The same pages under an explicit LifeRoundNum 0 and any LogLevel (task output has no levels).
    assert whole_log(client, project_id, key, LifeRoundNum=0, LogLevel="error")[0] == expected

    raw = client.call_json("GetTaskInstanceLog", {"ProjectId": project_id, "InstanceKey": key})["Response"]
    assert list(raw["Data"]) == ["InstanceKey", "ProjectId", "CodeContent", "LogInfo", "NextCursor"]
    assert str(server.data_dir) not in json.dumps(raw)  # no server path in an answer


def test_each_attempt_keeps_its_own_log(client: Any, project_id: str, tmp_path: Path) -> None:
    marker = tmp_path / f"failed_once_{uid()}"
    code = (
        f"if [ -e '{marker}' ]; then echo 'attempt two runs'; else\n"
        f"  echo 'attempt one fails'; touch '{marker}'; exit 3\nfi"
    )
    wf = new_workflow(client, project_id, f"logs_retry_{uid()}")
    # 10 minutes of the session server's 0.2 s minutes: a 2 s window to look at the task waiting for its retry.
    new_task(client, project_id, wf, "flaky", code, MaxRetryNumber=1, RetryWaitMinute=10)
    run_id = start_run(client, project_id, wf)
    waiting = wait_for(
        lambda: (b := exec_ids(client, project_id, run_id)["flaky"]).RetryTimes == 1 and b, what="the retry due"
    )
    if waiting.ExecutionState == "PENDING":  # still waiting: the default shows the failure being retried
        page = log_page(client, project_id, waiting.ExecutionId)
        assert (page.LogInfo, page.NextCursor) == ("attempt one fails\n", None)
        upcoming = log_page(client, project_id, waiting.ExecutionId, LifeRoundNum=1)
        assert upcoming.LogInfo == "" and upcoming.NextCursor is not None
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    brief = exec_ids(client, project_id, run_id)["flaky"]
    assert brief.RetryTimes == 1
    key = brief.ExecutionId

    assert whole_log(client, project_id, key, LifeRoundNum=0)[0] == "attempt one fails\n"
    assert whole_log(client, project_id, key, LifeRoundNum=1)[0] == "attempt two runs\n"
    assert whole_log(client, project_id, key)[0] == "attempt two runs\n"  # default: the latest attempt
    fails(client, "GetTaskInstanceLog", {"ProjectId": project_id, "InstanceKey": key, "LifeRoundNum": 2},
          "InvalidParameterValue", "LifeRoundNum", "attempt 2", "0 to 1")  # fmt: skip


def test_a_running_tasks_log_grows_across_calls(client: Any, project_id: str, tmp_path: Path) -> None:
    go = tmp_path / f"go_{uid()}"
    code = (
        "echo 'before the gate'\n"
        f"while [ ! -e '{go}' ]; do sleep 0.02; done\n"
        "printf 'after the gate, '\n"
        "echo 'done'"
    )
    wf = new_workflow(client, project_id, f"logs_follow_{uid()}")
    gate = new_task(client, project_id, wf, "gate", code)
    new_task(client, project_id, wf, "later", "echo later", upstream=[gate])
    run_id = start_run(client, project_id, wf)
    briefs = wait_for(
        lambda: (b := exec_ids(client, project_id, run_id))["gate"].ExecutionState == "RUNNING" and b,
        what="the gate task running",
    )
    key, later = briefs["gate"].ExecutionId, briefs["later"].ExecutionId

    # A task that has not started yet: an empty page with a cursor to call again with.
    waiting = log_page(client, project_id, later)
    assert (waiting.LogInfo, waiting.NextCursor is not None) == ("", True)

    first = wait_for(lambda: (p := log_page(client, project_id, key)).LogInfo and p, what="the first line")
    assert first.LogInfo == "before the gate\n" and first.NextCursor is not None
    idle = log_page(client, project_id, key, NextCursor=first.NextCursor)  # nothing new yet: same cursor back
    assert (idle.LogInfo, idle.NextCursor, idle.CodeContent) == ("", first.NextCursor, None)

    go.touch()
    seen, cursor = [], first.NextCursor

    def more() -> bool:
        nonlocal cursor
        page = log_page(client, project_id, key, NextCursor=cursor)
        seen.append(page.LogInfo)
        if page.NextCursor is None:
            return True
        cursor = page.NextCursor
        return False

    wait_for(more, timeout=30, what="the end of the gate task's log")
    assert first.LogInfo + "".join(seen) == "before the gate\nafter the gate, done\n"
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert whole_log(client, project_id, later, NextCursor=waiting.NextCursor)[0] == "later\n"


def test_log_errors_name_the_field(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"logs_err_{uid()}")
    new_task(client, project_id, wf, "quiet", "true")
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)
    key = exec_ids(client, project_id, run_id)["quiet"].ExecutionId
    base = {"ProjectId": project_id, "InstanceKey": key}

    page = log_page(client, project_id, key)  # a finished attempt that printed nothing
    assert (page.LogInfo, page.NextCursor, page.CodeContent) == ("", None, "true")
    missing = "00000000-0000-4000-8000-000000000000"
    fails(client, "GetTaskInstanceLog", {**base, "InstanceKey": missing}, "ResourceNotFound", missing, "InstanceKey")
    fails(client, "GetTaskInstanceLog", {**base, "ProjectId": "1"}, "ResourceNotFound", key)
    fails(client, "GetTaskInstanceLog", {**base, "LifeRoundNum": 1}, "InvalidParameterValue", "LifeRoundNum")
    fails(client, "GetTaskInstanceLog", {**base, "LogLevel": "Verbose"}, "InvalidParameterValue", "LogLevel")
    for bad in ("zzz", "0:99999", "-1:0"):
        fails(client, "GetTaskInstanceLog", {**base, "NextCursor": bad}, "InvalidParameterValue", "NextCursor")
    fails(client, "GetTaskInstanceLog", {**base, "NextCursor": "0:0", "LifeRoundNum": 3},
          "InvalidParameterValue", "NextCursor", "LifeRoundNum 3")  # fmt: skip
    fails(client, "GetTaskInstanceLog", {"ProjectId": project_id}, "MissingParameter", "InstanceKey")


def test_typed_sdk_call_decodes_instance_log(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"logs_sdk_{uid()}")
    new_task(client, project_id, wf, "hello", "echo hello")
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)
    req = models.GetTaskInstanceLogRequest()
    req.ProjectId, req.InstanceKey = project_id, exec_ids(client, project_id, run_id)["hello"].ExecutionId
    data = client.GetTaskInstanceLog(req).Data
    assert isinstance(data, models.InstanceLog)
    assert (data.LogInfo, data.NextCursor) == ("hello\n", None)


def test_tccli_get_task_instance_log(server: Server, client: Any, project_id: str, tmp_path: Path) -> None:
    wf = new_workflow(client, project_id, f"logs_tccli_{uid()}")
    new_task(client, project_id, wf, "say", "echo 'from tccli'")
    run_id = start_run(client, project_id, wf)
    wait_run(client, project_id, run_id)
    key = exec_ids(client, project_id, run_id)["say"].ExecutionId
    args = ("--ProjectId", project_id, "--InstanceKey", key, "--LifeRoundNum", "0")
    out = output_json(tccli(server, tmp_path, "GetTaskInstanceLog", *args))
    assert out["Data"]["LogInfo"] == "from tccli\n"
    assert out["Data"]["NextCursor"] is None and out["Data"]["InstanceKey"] == key


def test_a_capped_log_pages_past_its_dropped_middle(tmp_path_factory: Any) -> None:
    """With --max-log-bytes the executor punches the middle out of a big log; paging skips the hole (no NULs,
    no 1 MB of nothing), shows the truncation marker, and ends with the task's last line."""
    from tests.conftest import make_client, start_server

    srv = start_server(tmp_path_factory.mktemp("logcap"), extra=["--max-log-bytes", "65536", "--rate-limit", "1000"])
    try:
        cl = make_client(srv.endpoint)
        project = str(cl.ListProjects(models.ListProjectsRequest()).Data.Items[0].ProjectId)
        wf = new_workflow(cl, project, f"logs_cap_{uid()}")
        new_task(cl, project, wf, "big", "seq -f 'row %07g of a log much larger than its cap' 1 40000")
        run_id = start_run(cl, project, wf)
        assert wait_run(cl, project, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        text, pages = whole_log(cl, project, exec_ids(cl, project, run_id)["big"].ExecutionId)
    finally:
        srv.stop()
    assert "\x00" not in text
    assert "[trigflow] log truncated:" in text
    assert text.startswith("row 0000001 of a log")
    assert text.endswith("row 0040000 of a log much larger than its cap\n")
    assert len(text) < 3 * 65536 and len(pages) <= 4
