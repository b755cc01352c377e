"""Issue 11, finding 1 and the parameter quotas, through a real server and the SDK: values from outside the
definition (upstream outputs, file-arrival paths, run-time parameters) never run as code, are never expanded
again, large values reach the task, huge expansions are refused, and tasks do not see the server's secrets.

Every attack writes a marker file if it runs; each test asserts the marker does not exist and that the task
saw the value literally. On 3982f9c each of them ran (or, for the quotas, failed every task)."""

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

from tests.conftest import make_client, start_server, wait_for
from tests.integration.helpers import call, fails, new_task, new_workflow, start_run, task_states, wait_run


def by_name(data: Any) -> dict[str, Any]:
    return {t.TaskName: t for t in data.TriggerTaskRuns}


def log_of(server: Any, run_id: str, task_id: str) -> str:
    return (server.data_dir / "runs" / run_id / f"{task_id}.0.0.log").read_text()


def producer(client: Any, project_id: str, wf: str, value: str, name: str = "producer") -> str:
    """A task whose output `v` is exactly `value` (written to $WEDATA_OUTPUT_FILE by Python, so any bytes go)."""
    encoded = base64.b64encode(value.encode()).decode()  # so the producer's own code has no `${` to substitute
    code = (f"import base64, os\nopen(os.environ['WEDATA_OUTPUT_FILE'], 'w').write("
            f"'v=' + base64.b64decode('{encoded}').decode() + '\\n')\n")  # fmt: skip
    return new_task(client, project_id, wf, name, code, type_id="30",
                    ParamTaskOutList=[{"ParamKey": "v", "ParamValue": ""}])  # fmt: skip


def consumer(client: Any, project_id: str, wf: str, name: str, code: str, upstream: str, type_id: str = "35") -> str:
    return new_task(client, project_id, wf, name, code, upstream=[upstream], type_id=type_id,
                    ParamTaskInList=[{"ParamKey": "v", "ParamDesc": f"p.{upstream}.v", "FromTaskId": upstream,
                                      "FromParamKey": "v"}])  # fmt: skip


def payload(marker: Path) -> str:
    """`echo <base64> | base64 -d | sh`: a command that creates `marker`, with no `/` (it fits in a file name)."""
    command = f"touch {marker}"
    while "/" in (encoded := base64.b64encode(command.encode()).decode()):
        command += " "
    return f"echo {encoded} | base64 -d | sh"


# ------------------------------------------------------------------------------------------ (a) and (d)


def test_upstream_output_is_not_shell_code(client: Any, project_id: str, server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = f'x"; touch {marker}; echo "'
    wf = new_workflow(client, project_id, f"inj_out_{uuid.uuid4().hex[:6]}")
    up = producer(client, project_id, wf, value)
    down = consumer(client, project_id, wf, "down",
                    "echo \"value is: ${v}\"\necho 'single: ${v}'\necho bare: ${v}\n"
                    'echo "idiom: $TRIGFLOW_PARAM_v"', up)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert not marker.exists()
    log = log_of(server, run_id, down)
    assert f"value is: {value}\n" in log
    assert f"single: {value}\n" in log
    assert f"idiom: {value}\n" in log
    assert json.loads(by_name(data)["down"].RunParams) == {"v": value}


def test_data_is_never_expanded_again(client: Any, project_id: str, server: Any) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex[:8]}"
    wf = new_workflow(client, project_id, f"inj_reexp_{uuid.uuid4().hex[:6]}",
                      WorkflowParams=[{"ParamKey": "db_password", "ParamValue": secret}])  # fmt: skip
    up = producer(client, project_id, wf, "${db_password}")
    down = consumer(client, project_id, wf, "down", 'echo "got: ${v}"', up)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    log = log_of(server, run_id, down)
    assert "got: ${db_password}\n" in log
    assert secret not in log
    assert json.loads(by_name(data)["down"].RunParams)["v"] == "${db_password}"


# --------------------------------------------------------------------------------------------------- (b)


def test_file_arrival_name_is_not_shell_code(client: Any, project_id: str, server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    got = tmp_path / "got"
    trigger = {"TriggerMode": "FILE_ARRIVAL", "SchedulerStatus": "ACTIVE", "FileArrivalPath": f"file://{inbox}",
               "FileNamePattern": "*.csv", "Recursive": 0, "TriggerWaitTime": 1,
               "TriggerMinimumInterval": 1}  # fmt: skip
    wf = new_workflow(client, project_id, f"inj_file_{uuid.uuid4().hex[:6]}",
                      TriggerWorkflowSchedulerConfigurations=[trigger])  # fmt: skip
    new_task(client, project_id, wf, "ingest", f"FILES='${{file_arrival_paths}}'\nprintf '%s' \"$FILES\" > {got}")
    wait_for(lambda: call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf}), what="saved")
    name = f"report';{payload(marker)};'.csv"
    (inbox / name).write_text("1")

    def finished() -> Any:
        items = call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id,
                                                         "Filters": [{"Name": "WorkflowId", "Values": [wf]}]}).Items
        return items and wait_run(client, project_id, items[0].ExecutionId)  # fmt: skip

    data = wait_for(finished, timeout=20, what="the file-arrival run")
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert not marker.exists()
    assert json.loads(got.read_text()) == [str(inbox / name)]


# --------------------------------------------------------------------------------------------------- (c)


def test_run_time_parameter_is_not_shell_code(client: Any, project_id: str, server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = f"';{payload(marker)};' \"; {payload(marker)}; \" $(touch {marker}) `touch {marker}`"
    wf = new_workflow(client, project_id, f"inj_adv_{uuid.uuid4().hex[:6]}",
                      WorkflowParams=[{"ParamKey": "p", "ParamValue": "default"},
                                      {"ParamKey": "wrapped", "ParamValue": "<${p}>"}])  # fmt: skip
    t = new_task(client, project_id, wf, "t",
                 "echo 'sq: ${p}'\necho \"dq: ${p}\"\necho $'ansi: ${p}'\necho \"wrapped: ${wrapped}\"\n"
                 "cat <<EOF\nheredoc: ${p}\nEOF\ncat <<'EOF'\nquoted: ${p}\nEOF\n")  # fmt: skip
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "p", "ParamValue": value}])
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert not marker.exists()
    lines = log_of(server, run_id, t).splitlines()
    for label in ("sq", "dq", "ansi", "heredoc", "quoted"):
        assert f"{label}: {value}" in lines, label
    assert f"wrapped: <{value}>" in lines  # a trusted value referring to data: data stays data inside it


def test_rerun_parameter_is_not_shell_code(client: Any, project_id: str, server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = f"x'; touch {marker}; echo '"
    wf = new_workflow(client, project_id, f"inj_rerun_{uuid.uuid4().hex[:6]}",
                      WorkflowParams=[{"ParamKey": "p", "ParamValue": "first"}])  # fmt: skip
    t = new_task(client, project_id, wf, "t", "echo 'p=${p}'")
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    rerun = {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "2",
             "AdvancedParams": [{"ParamKey": "p", "ParamValue": value}]}  # fmt: skip
    call(client, "RerunTriggerWorkflowRunAsync", rerun)
    data = wait_for(lambda: (d := wait_run(client, project_id, run_id)) and by_name(d)["t"].RerunTimes == 1 and d,
                    what="the rerun")  # fmt: skip
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert not marker.exists()
    log = (server.data_dir / "runs" / run_id / f"{t}.0.1.log").read_text()
    assert f"p={value}\n" in log


def test_a_rerun_parameter_stays_data_when_a_later_rerun_reaches_other_tasks(
    client: Any, project_id: str, server: Any, tmp_path: Path
) -> None:
    """A partial rerun's AdvancedParams are data in the records it made; a later rerun of *other* tasks
    (no AdvancedParams) must keep them data. The data names were taken from one task run only, so the
    second rerun of `a` treated the first rerun's value as trusted text and ran it (found by a helper)."""
    marker = tmp_path / "pwned"
    value = f"x'; touch {marker}; echo '"
    wf = new_workflow(client, project_id, f"inj_rerun2_{uuid.uuid4().hex[:6]}",
                      WorkflowParams=[{"ParamKey": "p", "ParamValue": "first"}])  # fmt: skip
    a = new_task(client, project_id, wf, "a", "echo 'p=${p}'")
    b = new_task(client, project_id, wf, "b", "echo 'p=${p}'")
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    base = {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "2"}
    call(client, "RerunTriggerWorkflowRunAsync",
         {**base, "TaskIds": [b], "AdvancedParams": [{"ParamKey": "p", "ParamValue": value}]})  # fmt: skip
    wait_for(lambda: (d := wait_run(client, project_id, run_id)) and by_name(d)["b"].RerunTimes == 1, what="rerun 1")
    call(client, "RerunTriggerWorkflowRunAsync", {**base, "TaskIds": [a]})
    data = wait_for(lambda: (d := wait_run(client, project_id, run_id)) and by_name(d)["a"].RerunTimes == 2 and d,
                    what="rerun 2")  # fmt: skip
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert not marker.exists()
    assert f"p={value}\n" in (server.data_dir / "runs" / run_id / f"{a}.0.2.log").read_text()
    assert f"p={value}\n" in (server.data_dir / "runs" / run_id / f"{b}.0.1.log").read_text()


def test_parent_run_parameter_stays_data_in_a_nested_run(
    client: Any, project_id: str, server: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = f'"; touch {marker}; echo "'
    child = new_workflow(client, project_id, f"inj_child_{uuid.uuid4().hex[:6]}",
                         WorkflowParams=[{"ParamKey": "p", "ParamValue": "child-default"}])  # fmt: skip
    inner = new_task(client, project_id, child, "inner", 'echo "inner: ${p}"')
    parent = new_workflow(client, project_id, f"inj_parent_{uuid.uuid4().hex[:6]}")
    node = call(client, "CreateTriggerTask", {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": "node", "TaskTypeId": "140", "WorkflowId": parent},
        "TriggerTaskConfiguration": {"TaskExtConfigurationList": [{"ParamKey": "workflowId", "ParamValue": child}]},
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
    }).TaskId  # fmt: skip
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": node, "VersionRemark": "v1"})
    run_id = start_run(client, project_id, parent, AdvancedParams=[{"ParamKey": "p", "ParamValue": value}])
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert not marker.exists()
    child_runs = call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id,
                                                          "Filters": [{"Name": "WorkflowId", "Values": [child]}]})
    assert f"inner: {value}\n" in log_of(server, child_runs.Items[0].ExecutionId, inner)  # fmt: skip


# --------------------------------------------------------------------------------------------------- (e)


def test_python_task_places_data_as_literals(client: Any, project_id: str, server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = f"\"); __import__('os').system('touch {marker}'); print(\"'''\\\n"
    wf = new_workflow(client, project_id, f"inj_py_{uuid.uuid4().hex[:6]}")
    up = producer(client, project_id, wf, value)
    code = (
        "import os\n"
        'print("string: ${v}")\n'
        "print('raw: ' + r'${v}')\n"
        "x = ${v}\n"
        "print('code:', x)\n"
        'print(f"fstr: ${v}")\n'
        "# comment: ${v}\n"
        "print('env:', os.environ['TRIGFLOW_PARAM_v'])\n"
    )
    down = consumer(client, project_id, wf, "down", code, up, type_id="30")
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert not marker.exists()
    log = log_of(server, run_id, down)
    for label in ("string:", "raw:", "code:", "fstr:", "env:"):
        assert f"{label} {value}" in log, label


def test_python_code_context_with_an_expression_stays_a_string(
    client: Any, project_id: str, server: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    value = f"__import__('os').system('touch {marker}')"
    wf = new_workflow(client, project_id, f"inj_py2_{uuid.uuid4().hex[:6]}")
    t = new_task(client, project_id, wf, "t", "n = ${n}\nx = ${p}\nprint(type(n).__name__, n, x)", type_id="30")
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "p", "ParamValue": value},
                                                               {"ParamKey": "n", "ParamValue": "42"}])  # fmt: skip
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert not marker.exists()
    assert f"int 42 {value}\n" in log_of(server, run_id, t)  # a plain literal stays one; an expression is text


def test_data_as_part_of_a_python_name_is_refused(client: Any, project_id: str, tmp_path: Path) -> None:
    wf = new_workflow(client, project_id, f"inj_py3_{uuid.uuid4().hex[:6]}")
    new_task(client, project_id, wf, "t", "import os\nos${p}", type_id="30")
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "p", "ParamValue": ".system('id')"}])
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
    assert by_name(data)["t"].ErrorCodeStr.startswith("UnsafeParameter: ")


# --------------------------------------------------------------------------------------------------- (f)


def test_large_parameters_reach_the_task_through_a_file(client: Any, project_id: str, server: Any) -> None:
    big = "ab" * 100_000  # 200,000 characters: over the kernel's 128 KiB per environment string
    wf = new_workflow(client, project_id, f"big_{uuid.uuid4().hex[:6]}")
    sh = new_task(client, project_id, wf, "sh",
                  'printf "%s" "$TRIGFLOW_PARAM_big" | wc -c\nv="${big}"\necho "len ${#v}"')  # fmt: skip
    py = new_task(client, project_id, wf, "py",
                  "import json, os\nprint('len', len(json.load(open(os.environ['TRIGFLOW_PARAMS_FILE']))['big']))",
                  type_id="30")  # fmt: skip
    small = new_task(client, project_id, wf, "small", "echo fine")
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "big", "ParamValue": big}])
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"sh": "SUCCESS", "py": "SUCCESS", "small": "SUCCESS"}
    sh_log = log_of(server, run_id, sh).split()
    assert sh_log[:3] == ["200000", "len", "200000"]
    assert "len 200000" in log_of(server, run_id, py)
    assert "fine" in log_of(server, run_id, small)
    files = list((server.data_dir / "runs" / run_id).glob(f"{sh}.0.0.*"))
    assert files and all((p.stat().st_mode & 0o077) == 0 for p in files if p.suffix != ".log")


def test_a_parameter_over_the_limit_is_refused_at_run_creation(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"huge_{uuid.uuid4().hex[:6]}")
    new_task(client, project_id, wf, "t", "true")
    fails(client, "CreateTriggerWorkflowRun",
          {"ProjectId": project_id, "WorkflowId": wf,
           "AdvancedParams": [{"ParamKey": "ok", "ParamValue": "1"},
                              {"ParamKey": "huge", "ParamValue": "x" * (1024 * 1024 + 1)}]},
          "InvalidParameterValue", "AdvancedParams.1.ParamValue", "1048576")  # fmt: skip


def test_a_parameter_over_the_limit_is_refused_at_rerun(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"huge_rerun_{uuid.uuid4().hex[:6]}")
    task = new_task(client, project_id, wf, "t", "true")
    run_id = start_run(client, project_id, wf)
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    fails(client, "RerunTriggerWorkflowRunAsync",
          {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionId": run_id, "ExecuteType": "2",
           "TaskIds": [task], "AdvancedParams": [{"ParamKey": "huge", "ParamValue": "x" * (1024 * 1024 + 1)}]},
          "InvalidParameterValue", "AdvancedParams.0.ParamValue", "1048576")  # fmt: skip


def test_an_upstream_output_over_the_limit_fails_the_attempt(client: Any, project_id: str) -> None:
    wf = new_workflow(client, project_id, f"huge_out_{uuid.uuid4().hex[:6]}")
    code = "import os\nopen(os.environ['WEDATA_OUTPUT_FILE'], 'w').write('v=' + 'x' * (1 << 21) + '\\n')\n"
    up = new_task(client, project_id, wf, "producer", code, type_id="30",
                  ParamTaskOutList=[{"ParamKey": "v", "ParamValue": ""}])  # fmt: skip
    consumer(client, project_id, wf, "down", 'echo "${v}" | wc -c', up)
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    down = by_name(data)["down"]
    assert down.ExecutionState == "FAILED"
    assert down.ErrorCodeStr.startswith("ParameterTooLarge: the value of ${v} is 2097152 characters")


def test_expansion_is_bounded_while_expanding(client: Any, project_id: str) -> None:
    # 21 parameters, each twice the next: a10 is 1,024,000 characters; 20 references would be 20 MB of script.
    doubling = [{"ParamKey": f"a{i}", "ParamValue": f"${{a{i + 1}}}${{a{i + 1}}}"} for i in range(20)]
    wf = new_workflow(client, project_id, f"bomb_{uuid.uuid4().hex[:6]}",
                      WorkflowParams=[*doubling, {"ParamKey": "a20", "ParamValue": "x" * 1000}])  # fmt: skip
    new_task(client, project_id, wf, "bomb", ': "${a10}"\n' * 20)
    new_task(client, project_id, wf, "fine", "echo ok")
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    bomb = by_name(data)["bomb"]
    assert bomb.ExecutionState == "FAILED"
    assert bomb.ErrorCodeStr.startswith("ScriptTooLarge: ") and "16777216" in bomb.ErrorCodeStr
    assert by_name(data)["fine"].ExecutionState == "SUCCESS"


# ------------------------------------------------------------------------------------------ environment


def dump_task_env(endpoint: str, dump: Path) -> dict[str, str]:
    """Run a SHELL task that writes `env` to `dump` on the server at `endpoint`; its environment."""
    from tencentcloud.wedata.v20250806 import models

    client = make_client(endpoint)
    project_id = str(client.ListProjects(models.ListProjectsRequest()).Data.Items[0].ProjectId)
    wf = new_workflow(client, project_id, f"env_{uuid.uuid4().hex[:6]}")
    new_task(client, project_id, wf, "dump", f"env > {dump}")
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    return dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)


def test_tasks_do_not_see_the_servers_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import SECRET_ID, SECRET_KEY

    monkeypatch.setenv("DATABASE_URL", "postgresql://trigflow:hunter2-db@db.internal/trigflow")
    monkeypatch.setenv("TRIGFLOW_DB_PASSWORD", "hunter2-trigflow")
    srv = start_server(tmp_path / "srv")  # started with TRIGFLOW_SECRET_ID/KEY in its environment
    try:
        env = dump_task_env(srv.endpoint, tmp_path / "env")
    finally:
        srv.stop()
    text = (tmp_path / "env").read_text()
    for leaked in (SECRET_KEY, SECRET_ID, "hunter2-db", "hunter2-trigflow"):
        assert leaked not in text
    assert not {"TRIGFLOW_SECRET_KEY", "TRIGFLOW_SECRET_ID", "DATABASE_URL", "TRIGFLOW_DB_PASSWORD"} & env.keys()
    assert env["PATH"] and env["TRIGFLOW_TASK_ID"] and env["WEDATA_OUTPUT_FILE"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the server with another group")
def test_tasks_cannot_read_the_servers_environment_through_proc(tmp_path: Path) -> None:
    """A task runs as the server's user, and `/proc/$PPID/environ` of a same-user process is readable:
    it printed TRIGFLOW_SECRET_KEY, whatever the task's own (allow-listed) environment held. The server is
    now non-dumpable, so the kernel refuses that without CAP_SYS_PTRACE. The tests run as root, which holds
    that capability, so the flag is read where the kernel shows it: a non-dumpable process's /proc files are
    owned by root:root instead of its own uid:gid. The server runs here with group nogroup to tell them apart."""
    srv = start_server(tmp_path / "data", extra=["--rate-limit", "1000"], group=65534)
    try:
        client = make_client(srv.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        # not dumpable, kernel-owned: the server, and the launcher and keeper that hold the same environment
        keeper = int(Path(f"/proc/{srv.server_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        for pid in (srv.server_pid, srv.proc.pid, keeper):
            assert os.stat(f"/proc/{pid}/environ").st_gid == 0, pid
        wf = new_workflow(client, project_id, "proc_environ")
        code = 'stat -c "self=%g" /proc/self/environ; stat -c "parent=%g" /proc/$PPID/environ'
        new_task(client, project_id, wf, "t", code)
        data = wait_run(client, project_id, start_run(client, project_id, wf))
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
        log = log_of(srv, data.TriggerWorkflowRun.ExecutionId, data.TriggerTaskRuns[0].TaskId)
        assert "self=65534" in log and "parent=0" in log, log  # the task itself stays dumpable (reset by exec)
    finally:
        srv.stop()


def test_the_operator_adds_task_variables_with_task_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOOL_HOME", "/opt/my-tool")
    monkeypatch.setenv("MY_OTHER", "not passed")
    srv = start_server(tmp_path / "srv", extra=["--task-env", "MY_TOOL_HOME"])
    try:
        env = dump_task_env(srv.endpoint, tmp_path / "env")
    finally:
        srv.stop()
    assert env["MY_TOOL_HOME"] == "/opt/my-tool" and "MY_OTHER" not in env


def test_task_env_refuses_trigflow_variables(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trigflow.cli", "up", "--data-dir", str(tmp_path), "--task-env", "TRIGFLOW_SECRET_KEY"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "TRIGFLOW_* and WEDATA_* variables are never passed to tasks" in result.stderr
