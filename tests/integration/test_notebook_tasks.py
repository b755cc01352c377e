"""Notebook tasks (TaskTypeId 132) end to end: the official SDK against a real `trigflow up`, each notebook run
on a real ipykernel. Save-time refusals, parameters injected (a data value stays data), outputs reaching a
downstream shell task, the executed notebook kept per attempt (on disk and as GetTaskInstanceLog's
CodeContent), a failing cell named, a retry, and kill and execution timeout leaving no kernel process behind
(checked in /proc). What the runner does on its own is in test_notebook_runner.py."""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import (
    call,
    fails,
    get_run,
    new_task,
    new_workflow,
    start_run,
    submitted_task,
    task_states,
    uid,
    wait_run,
)
from tests.integration.test_task_logs import log_page, whole_log

CONFIG = "TriggerTaskConfiguration"
EVIL = 'x"); import os; os.system("touch {path}"); ("'
RUN_TIMEOUT = 90  # a kernel starts in ~1.5 s here; a loaded CI machine may take several times that


def cell(source: str, **extra: Any) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None, **extra}


def notebook(*cells: dict[str, Any]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)})


def task_params(project_id: str, wf: str, name: str, code: str, ext: dict[str, str] | None = None,
                **sched: Any) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {"CodeContent": base64.b64encode(code.encode()).decode()}
    if ext:
        config["TaskExtConfigurationList"] = [{"ParamKey": k, "ParamValue": v} for k, v in ext.items()]
    sched.setdefault("MaxRetryNumber", 0)
    return {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": "132", "WorkflowId": wf},
        CONFIG: config,
        "TriggerTaskSchedulerConfiguration": {
            "UpstreamDependencyConfigList": [{"TaskId": u} for u in sched.pop("upstream", [])],
            **sched,
        },
    }


def notebook_task(client: Any, project_id: str, wf: str, name: str, code: str, ext: dict[str, str] | None = None,
                  **sched: Any) -> str:  # fmt: skip
    return submitted_task(client, task_params(project_id, wf, name, code, ext, **sched))


def runs_of(client: Any, project_id: str, run_id: str) -> dict[str, Any]:
    return {t.TaskName: t for t in get_run(client, project_id, run_id).TriggerTaskRuns}


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (/proc, no psutil)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def with_marker(marker: str) -> list[int]:
    """Live processes whose command line holds `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if marker.encode() in cmdline and alive(int(entry)):
                found.append(int(entry))
    return found


def sleeper(pid_file: Path, marker: str) -> str:
    """A notebook whose one cell records the kernel's pid, starts a child carrying `marker`, and sleeps."""
    return notebook(cell(
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}])\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    ))  # fmt: skip


# --- save time ------------------------------------------------------------------------------------------


def test_what_is_not_a_notebook_is_refused_at_save_naming_the_field(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"nb_save_{uid()}")
    field = f"{CONFIG}.CodeContent"
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "py", "print('a script, not a notebook')"),
          "InvalidParameterValue", field, "is not a Jupyter notebook: it is not JSON")  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "v3", '{"nbformat": 3, "worksheets": []}'),
          "InvalidParameterValue", field, "nbformat 3")  # fmt: skip
    bad_cell = notebook({"cell_type": "sql", "source": "select 1"})
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "cell", bad_cell),
          "InvalidParameterValue", field, "cells[0].cell_type")  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "ext", notebook(), {"cellTimeout": "-5"}),
          "InvalidParameterValue", f"{CONFIG}.TaskExtConfigurationList.cellTimeout")  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "kernel", notebook(), {"kernelName": "a/b"}),
          "InvalidParameterValue", f"{CONFIG}.TaskExtConfigurationList.kernelName")  # fmt: skip
    task_id = notebook_task(client, project_id, wf, "ok", notebook(cell("1")))
    bad = base64.b64encode(b'{"nbformat": 4}').decode()
    fails(client, "UpdateTriggerTaskPartially",
          {"ProjectId": project_id, "TaskId": task_id, "NewSetting": {CONFIG: {"CodeContent": bad}}},
          "InvalidParameterValue", f"NewSetting.{field}", '"cells" must be an array')  # fmt: skip
    got = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": task_id})
    assert got.TriggerTaskBaseAttribute.TaskTypeId == 132


# --- running ----------------------------------------------------------------------------------------------


def test_parameters_are_injected_as_data_outputs_reach_a_shell_task_and_the_executed_notebook_is_kept(
    client: Any, project_id: str, server: Server, tmp_path: Path
) -> None:
    pwned = tmp_path / f"pwned_{uid()}"
    evil = EVIL.format(path=pwned)
    wf = new_workflow(client, project_id, f"nb_run_{uid()}",
                      WorkflowParams=[{"ParamKey": "region", "ParamValue": "eu-${day}"},
                                      {"ParamKey": "day", "ParamValue": "20261203"}])  # fmt: skip
    emit = f"printf 'evil=%s\\n' {json.dumps(evil)} >> \"$WEDATA_OUTPUT_FILE\""
    producer = new_task(
        client, project_id, wf, "producer", emit, ParamTaskOutList=[{"ParamKey": "evil", "ParamValue": ""}]
    )
    code = notebook(
        {"cell_type": "markdown", "metadata": {}, "source": "# Report for ${region}"},
        cell("region = 'default'\nevil = ''\nrows = '1'", metadata={"tags": ["parameters"]}),
        cell(
            "print('region is', region)\nprint('evil is', evil)\nprint('rows * 2 =', int(rows) * 2)\n"
            "quoted = '${evil}'\nassert quoted == evil, quoted"
        ),
        cell(
            "from trigflow.runner.outputs import set_output\nset_output('total', int(rows) * 21)\n"
            "import os\nopen(os.environ['WEDATA_OUTPUT_FILE'], 'a').write(f'where={region}\\n')\n"
            "{'shown': 'as text/plain'}"
        ),
    )
    nb_task = notebook_task(
        client, project_id, wf, "report", code, upstream=[producer],
        ParamTaskInList=[{"ParamKey": "evil", "ParamDesc": "p.producer.evil", "FromTaskId": producer,
                          "FromParamKey": "evil"}],
        ParamTaskOutList=[{"ParamKey": "total", "ParamValue": ""}, {"ParamKey": "where", "ParamValue": ""}],
    )  # fmt: skip
    new_task(client, project_id, wf, "consumer", 'echo "total=${t} where=${w}"', upstream=[nb_task],
             ParamTaskInList=[{"ParamKey": "t", "ParamDesc": "p.report.total", "FromTaskId": nb_task,
                               "FromParamKey": "total"},
                              {"ParamKey": "w", "ParamDesc": "p.report.where", "FromTaskId": nb_task,
                               "FromParamKey": "where"}])  # fmt: skip
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "rows", "ParamValue": "21"}])
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    runs = runs_of(client, project_id, run_id)
    log = whole_log(client, project_id, runs["report"].ExecutionId)[0]
    assert task_states(data) == {"producer": "SUCCESS", "report": "SUCCESS", "consumer": "SUCCESS"}, log
    assert (runs["report"].TaskType, runs["report"].TaskTypeId) == ("NOTEBOOK", 132)

    # Injected after the tagged cell: trusted, data (an upstream output) and run-time values alike, as literals.
    assert "[trigflow] parameters injected as cell 3 (after the cell tagged parameters):\n" in log
    assert f"evil = {evil!r}\n" in log and "region = 'eu-20261203'\n" in log and "rows = '21'\n" in log
    assert "region is eu-20261203\n" in log and f"evil is {evil}\n" in log and "rows * 2 = 42\n" in log
    assert "{'shown': 'as text/plain'}\n" in log
    assert not pwned.exists()  # the value, also placed into a cell's string by ${evil}, never ran
    consumer_log = whole_log(client, project_id, runs["consumer"].ExecutionId)[0]
    assert consumer_log == "total=441 where=eu-20261203\n"

    # The executed notebook: on disk next to the log, and what GetTaskInstanceLog shows as the attempt's code.
    kept = server.data_dir / "runs" / run_id / f"{nb_task}.0.0.ipynb"
    assert f"executed notebook kept as {nb_task}.0.0.ipynb" in log
    executed = json.loads(kept.read_text())
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    sources = ["".join(c["source"]) for c in executed["cells"]]
    assert sources[0] == "# Report for ${region}"  # markdown is not substituted
    assert "injected-parameters" in executed["cells"][2]["metadata"]["tags"]
    assert f"quoted = '' {evil!r} ''" in sources[3]  # the data value as a Python literal, not pasted as code
    outputs = executed["cells"][3]["outputs"]
    assert outputs[0]["output_type"] == "stream" and "region is eu-20261203" in "".join(outputs[0]["text"])
    assert executed["cells"][4]["outputs"][-1]["data"]["text/plain"] == "{'shown': 'as text/plain'}"
    assert json.loads(log_page(client, project_id, runs["report"].ExecutionId).CodeContent) == executed


def test_a_failing_cell_fails_the_task_naming_the_cell(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"nb_fail_{uid()}")
    notebook_task(client, project_id, wf, "boom", notebook(cell("x = 1"), cell("x / 0", id="divide"),
                                                           cell("print('never')")))  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    assert task_states(data) == {"boom": "FAILED"}
    brief = runs_of(client, project_id, run_id)["boom"]
    assert brief.ErrorCodeStr == "exit code 1"
    log = whole_log(client, project_id, brief.ExecutionId)[0]
    assert "ZeroDivisionError: division by zero" in log and "\x1b[" not in log  # the traceback, uncoloured
    assert "[trigflow] cell 2 (id divide) failed: ZeroDivisionError: division by zero\n" in log
    assert "never" not in log.replace("print('never')", "")


def test_a_retry_runs_the_notebook_again_and_each_attempt_keeps_its_own(
    client: Any, project_id: str, server: Server, tmp_path: Path
) -> None:
    flag = tmp_path / f"second_{uid()}"
    wf = new_workflow(client, project_id, f"nb_retry_{uid()}")
    code = notebook(cell(f"import os\nflag = {str(flag)!r}\nfirst = not os.path.exists(flag)\n"
                         "open(flag, 'w').close()\nassert not first, 'first attempt fails'"))  # fmt: skip
    task_id = notebook_task(client, project_id, wf, "flaky", code, MaxRetryNumber=1, RetryWaitMinute=0)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    assert task_states(data) == {"flaky": "SUCCESS"}
    run_dir = server.data_dir / "runs" / run_id
    first = json.loads((run_dir / f"{task_id}.0.0.ipynb").read_text())
    second = json.loads((run_dir / f"{task_id}.1.0.ipynb").read_text())
    assert first["cells"][0]["outputs"][-1]["evalue"] == "first attempt fails"
    assert all(o["output_type"] != "error" for o in second["cells"][0]["outputs"])


# --- kill and timeout stop the kernel -----------------------------------------------------------------------


def _started(pid_file: Path) -> int:
    wait_for(lambda: pid_file.exists() and pid_file.read_text().isdigit(), timeout=RUN_TIMEOUT,
             what="the notebook's cell running in its kernel")  # fmt: skip
    pid = int(pid_file.read_text())
    assert alive(pid)
    return pid


def _gone(pid: int, marker: str) -> None:
    wait_for(lambda: not alive(pid) and not with_marker(marker), timeout=10,
             what=f"kernel {pid} and its child {marker} gone")  # fmt: skip


def test_kill_stops_the_kernel_and_what_it_started(client: Any, project_id: str, tmp_path: Path) -> None:
    marker, pid_file = f"tf_nb_kill_{uuid.uuid4().hex[:10]}", tmp_path / "kernel.pid"
    wf = new_workflow(client, project_id, f"nb_kill_{uid()}")
    notebook_task(client, project_id, wf, "sleeper", sleeper(pid_file, marker))
    run_id = start_run(client, project_id, wf)
    pid = _started(pid_file)
    wait_for(lambda: with_marker(marker), timeout=10, what="the cell's child process")
    res = call(client, "KillTriggerWorkflowRuns",
               {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]})  # fmt: skip
    assert [r.OpStatus for r in res] == [True]
    _gone(pid, marker)
    assert task_states(wait_run(client, project_id, run_id)) == {"sleeper": "KILLED"}


@pytest.fixture(scope="module")
def slow_minutes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server whose minute is 4 s, so ExecutionTTLMinute 1 fires once the kernel runs the cell."""
    extra = ["--rate-limit", "1000", "--kill-grace", "1", "--minute-seconds", "4"]
    srv = start_server(tmp_path_factory.mktemp("trigflow_nb_ttl"), extra=extra)
    yield make_client(srv.endpoint)
    srv.stop()


def test_execution_timeout_stops_the_kernel(slow_minutes: Any, tmp_path: Path) -> None:
    client = slow_minutes
    project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
    marker, pid_file = f"tf_nb_ttl_{uuid.uuid4().hex[:10]}", tmp_path / "kernel.pid"
    wf = new_workflow(client, project_id, f"nb_ttl_{uid()}")
    notebook_task(client, project_id, wf, "sleeper", sleeper(pid_file, marker), ExecutionTTLMinute=1)
    run_id = start_run(client, project_id, wf)
    pid = _started(pid_file)
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    _gone(pid, marker)
    assert task_states(data) == {"sleeper": "FAILED"}
    assert str(runs_of(client, project_id, run_id)["sleeper"].ErrorCodeStr).startswith("ExecutionTimeout")


def test_the_kernel_is_the_servers_interpreter_in_the_tasks_environment(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"nb_env_{uid()}")
    notebook_task(client, project_id, wf, "env", notebook(cell(
        "import os, sys\nprint('exe', sys.executable)\nprint('cwd', os.path.basename(os.getcwd()))\n"
        "print('secret' , 'TRIGFLOW_SECRET_KEY' in os.environ)\nprint('task', os.environ['TRIGFLOW_TASK_ID'])"
    )))  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    brief = runs_of(client, project_id, run_id)["env"]
    log = whole_log(client, project_id, brief.ExecutionId)[0]
    assert task_states(data) == {"env": "SUCCESS"}, log
    assert f"exe {sys.executable}\n" in log and f"cwd {run_id}\n" in log
    assert "secret False\n" in log and f"task {brief.TaskId}\n" in log


def test_a_rerun_with_new_params_runs_the_notebook_again_and_keeps_both_executions(
    client: Any, project_id: str, server: Server
) -> None:
    wf = new_workflow(client, project_id, f"nb_rerun_{uid()}")
    code = notebook(cell("mode = 'broken'", metadata={"tags": ["parameters"]}),
                    cell("print('mode', mode)\nassert mode == 'fixed', mode"))  # fmt: skip
    task_id = notebook_task(client, project_id, wf, "nb", code)
    run_id = start_run(client, project_id, wf)
    assert task_states(wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)) == {"nb": "FAILED"}
    job = call(client, "RerunTriggerWorkflowRunAsync",
               {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "2",
                "TaskIds": [task_id], "AdvancedParams": [{"ParamKey": "mode", "ParamValue": "fixed"}]})  # fmt: skip
    assert call(client, "GetOpsAsyncJob", {"ProjectId": project_id, "AsyncId": job.AsyncId}).Status == "SUCCESS"
    done = wait_run(client, project_id, run_id, timeout=RUN_TIMEOUT)
    assert task_states(done) == {"nb": "SUCCESS"}
    run_dir = server.data_dir / "runs" / run_id
    first = json.loads((run_dir / f"{task_id}.0.0.ipynb").read_text())
    again = json.loads((run_dir / f"{task_id}.0.1.ipynb").read_text())
    assert first["cells"][1]["outputs"][-1]["evalue"] == "broken"
    assert "".join(again["cells"][1]["source"]).endswith("mode = 'fixed'\n")  # the rerun's value, injected
    assert "mode fixed" in "".join(again["cells"][2]["outputs"][0]["text"])
