"""Resource groups on Celery workers (issue 10 point 3, docs/workers.md, docs/adr/0006-celery-workers.md).

A real `trigflow up --broker` and real `trigflow worker` processes, each worker with its own data dir, over
a real Redis and a real RabbitMQ (every test runs on both). Each test creates its own resource group, so its
Celery queue (`trigflow.<group id>`) is its own and no test sees another's messages. Tasks are gated on files
the test creates; every wait is a condition with a deadline.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET_ID, SECRET_KEY, Server, make_client, start_server, wait_for
from tests.integration.helpers import call, get_run, new_workflow, start_run, task_states, wait_run

BROKERS = {
    "redis": "redis://127.0.0.1:6379/7",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
LEASE = 3.0  # seconds: the server's and the workers' lease in these tests (30 in production)


@pytest.fixture(params=["redis"], scope="module")  # RabbitMQ: test_celery_workers_rabbitmq.py runs these again
def broker(request: pytest.FixtureRequest) -> str:
    return BROKERS[str(request.param)]


def server_args(broker: str, lease: float = LEASE) -> list[str]:
    """A worker kills its attempts `lease` - 1 (grace) - 0.5 s after its last accepted report (ADR 0006): a test
    whose server restarts or fails over under running attempts gives the server a lease that outlasts that."""
    return ["--broker", broker, "--worker-lease", str(lease), "--rate-limit", "1000", "--kill-grace", "1",
            "--minute-seconds", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def srv(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("celery-server"), extra=server_args(broker))
    yield server
    server.stop()


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    name: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def token_of(server: Server) -> str:
    return (server.data_dir / "worker-token").read_text().strip()


def internal(server: Server, path: str, token: str | None = None) -> Any:
    req = urllib.request.Request(f"http://{server.endpoint}{path}",
                                 headers={"Authorization": f"Bearer {token or token_of(server)}"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:  # a standby's 503
        with e:
            return {"workers": [], "status": e.code}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Starts `trigflow worker` processes; stops them (and what they run) at teardown."""
    started: list[Worker] = []

    def start(server: Server, broker: str, group: str, name: str, *extra: str, servers: list[str] | None = None,
              concurrency: int = 2, lease: float = LEASE) -> Worker:  # fmt: skip
        data_dir = tmp_path / f"worker-{name}"
        log_path = tmp_path / f"worker-{name}.out"
        args = [sys.executable, "-m", "trigflow.cli", "worker", "--broker", broker, "--resource-group", group,
                "--token-file", str(server.data_dir / "worker-token"), "--concurrency", str(concurrency),
                "--name", name, "--data-dir", str(data_dir), "--heartbeat", "0.2", "--lease", str(lease)]  # fmt: skip
        for url in servers or [f"http://{server.endpoint}"]:
            args += ["--server", url]
        args += list(extra)
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(proc, data_dir, name, log_path)
        started.append(worker)
        if servers is None:
            wait_for(lambda: any(w["name"] == name for w in internal(server, "/internal/v1/workers")["workers"]),
                     timeout=30, what=f"worker {name} registered")  # fmt: skip
        wait_for(lambda: "ready" in worker.output() or proc.poll() is not None, timeout=30,
                 what=f"worker {name} consuming")  # fmt: skip
        assert proc.poll() is None, worker.output()
        return worker

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in started:
        try:
            w.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(w.proc.pid, signal.SIGKILL)
            w.proc.wait()


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    made: list[Path] = []

    def gate(name: str) -> Path:
        made.append(tmp_path / f"gate-{name}")
        return made[-1]

    yield gate
    for path in made:
        path.touch()


def new_group(client: Any, slots: int = 4) -> str:
    data = call(client, "CreateResourceGroup", {
        "Name": f"rg_{uuid.uuid4().hex[:8]}",
        "Type": {"ResourceGroupType": "Schedule", "Schedule": {"Specification": "celery", "Number": slots}},
        "AutoRenewEnabled": False, "PurchasePeriod": 1, "VpcId": "none", "SubNet": "none",
        "ResourceRegion": "ap-guangzhou",
    })  # fmt: skip
    return str(data.ResourceGroupId)


def task(client: Any, project_id: str, wf: str, name: str, code: str, group: str | None = None,
         upstream: list[str] | None = None, **sched: Any) -> str:  # fmt: skip
    config: dict[str, Any] = {"CodeContent": base64.b64encode(code.encode()).decode()}
    if group is not None:
        config["ResourceGroup"] = group
    sched.setdefault("MaxRetryNumber", 0)
    data = call(client, "CreateTriggerTask", {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": "35", "WorkflowId": wf},
        "TriggerTaskConfiguration": config,
        "TriggerTaskSchedulerConfiguration": {
            "UpstreamDependencyConfigList": [{"TaskId": u} for u in upstream or []], **sched},
    })  # fmt: skip
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": data.TaskId, "VersionRemark": "v1"})
    return str(data.TaskId)


def project(server: Server) -> tuple[Any, str]:
    client = make_client(server.endpoint)
    return client, str(call(client, "ListProjects", {}).Items[0].ProjectId)


def task_log(client: Any, project_id: str, exec_id: str) -> str:
    page = call(client, "GetTaskInstanceLog", {"ProjectId": project_id, "InstanceKey": exec_id})
    return str(page.LogInfo or "")


def by_name(data: Any) -> dict[str, Any]:
    return {t.TaskName: t for t in data.TriggerTaskRuns}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _pid(pidfile: Path) -> int:
    return int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what=f"{pidfile.name} written"))


# --- (a) (b): where attempts run, their logs and outputs ---------------------------------------------------------


def test_a_group_task_runs_on_its_worker_with_log_and_outputs_downstream(
    srv: Server, broker: str, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    w = workers(srv, broker, group, f"wa-{uuid.uuid4().hex[:6]}")
    wf = new_workflow(client, project_id, f"celery_a_{uuid.uuid4().hex[:6]}")
    emit = ('echo "on $TRIGFLOW_WORKER_NAME in $PWD"; echo "##wedata_output rows=42"; '
            'echo "path=/x=1" >> "$WEDATA_OUTPUT_FILE"')  # fmt: skip
    producer = task(client, project_id, wf, "producer", emit, group,
                    ParamTaskOutList=[{"ParamKey": "rows", "ParamValue": "0"}, {"ParamKey": "path", "ParamValue": ""}])
    task(client, project_id, wf, "consumer", 'echo "got ${n} ${p} on $TRIGFLOW_WORKER_NAME"', group, [producer],
         ParamTaskInList=[
             {"ParamKey": "n", "ParamDesc": "p.producer.rows", "FromTaskId": producer, "FromParamKey": "rows"},
             {"ParamKey": "p", "ParamDesc": "p.producer.path", "FromTaskId": producer, "FromParamKey": "path"}])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    runs = by_name(data)
    log = task_log(client, project_id, runs["producer"].ExecutionId)
    assert f"on {w.name} in {w.data_dir}/attempts/" in log  # ran in the worker's own data dir, not the server's
    assert str(srv.data_dir) not in log
    assert json.loads(runs["consumer"].RunParams) == {"n": "42", "p": "/x=1"}
    assert f"got 42 /x=1 on {w.name}" in task_log(client, project_id, runs["consumer"].ExecutionId)


def test_b_a_chain_crosses_the_local_default_group_and_a_worker_group(
    srv: Server, broker: str, workers: Callable[..., Worker]
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    w = workers(srv, broker, group, f"wb-{uuid.uuid4().hex[:6]}")
    wf = new_workflow(client, project_id, f"celery_b_{uuid.uuid4().hex[:6]}")
    prev: str | None = None
    for i, g in enumerate([None, group, None, group]):
        sched: dict[str, Any] = {"ParamTaskOutList": [{"ParamKey": "v", "ParamValue": ""}]}
        value = f"s{i}"
        if prev is not None:
            sched["ParamTaskInList"] = [
                {"ParamKey": "v", "ParamDesc": "p.x.v", "FromTaskId": prev, "FromParamKey": "v"}
            ]
            value = "${v}-" + value
        code = f'echo "at ${{TRIGFLOW_WORKER_NAME:-server}}"; echo "##wedata_output v={value}"'
        prev = task(client, project_id, wf, f"step{i}", code, g, [prev] if prev else None, **sched)
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    runs = by_name(data)
    for i, expected in enumerate(["server", w.name, "server", w.name]):
        assert f"at {expected}" in task_log(client, project_id, runs[f"step{i}"].ExecutionId)
    # each step's output went through the next one, local and remote alike
    assert json.loads(runs["step3"].RunParams) == {"v": "s0-s1-s2"}


# --- (c): the fence ---------------------------------------------------------------------------------------------


def _send_duplicate(server: Server, broker: str, group: str, exec_id: str, marker: Path, seal_with: str) -> str:
    """A message with the same task id as the attempt `exec_id`.0.0 whose code would create `marker`."""
    from trigflow.executors import remote_payload
    from trigflow.executors.base import LaunchSpec
    from trigflow.executors.celery_app import TASK_NAME, make_app, queue_name

    task_id = f"{exec_id}.0.0"
    run_dir = str(server.data_dir / "runs" / "dup")
    spec = LaunchSpec(exec_id, ("bash",), {"PATH": os.environ["PATH"]}, run_dir, f"{run_dir}/x.0.0.log",
                      script=f"touch {marker}\n", resource_group=group, remote_task_id=task_id)  # fmt: skip
    sealed = remote_payload.seal(remote_payload.fernet_for(seal_with),
                                 remote_payload.build(spec, (f"http://{server.endpoint}",), 1.0, 0, {}))  # fmt: skip
    app = make_app(broker)
    with app.connection_for_write() as conn:
        app.send_task(TASK_NAME, args=[sealed], task_id=task_id, queue=queue_name(group), connection=conn)
    app.close()
    return task_id


def test_c_a_duplicate_or_forged_message_runs_nothing(
    srv: Server, broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    w = workers(srv, broker, group, f"wc-{uuid.uuid4().hex[:6]}")
    wf = new_workflow(client, project_id, f"celery_c_{uuid.uuid4().hex[:6]}")
    gate, pidfile = gates("c"), tmp_path / "c.pid"
    task(client, project_id, wf, "held", f"echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done", group)
    run_id = start_run(client, project_id, wf)
    _pid(pidfile)
    exec_id = get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId
    token = token_of(srv)
    # while it runs: the same attempt id again (a redelivery), then a message sealed with another key
    running_dup, forged = tmp_path / "dup-running", tmp_path / "forged"
    tid = _send_duplicate(srv, broker, group, exec_id, running_dup, token)
    wait_for(lambda: f"attempt {tid} refused by the server" in w.output(), what="the duplicate refused")
    _send_duplicate(srv, broker, group, exec_id, forged, "not-the-token")
    wait_for(lambda: "not a payload of this server" in w.output(), what="the forged message dropped")
    gate.touch()
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    # after it ended: the stale message is refused as well
    ended_dup = tmp_path / "dup-ended"
    _send_duplicate(srv, broker, group, exec_id, ended_dup, token)
    wait_for(lambda: w.output().count(f"attempt {tid} refused by the server") >= 2, what="the stale message refused")
    assert not running_dup.exists() and not forged.exists() and not ended_dup.exists()
    assert by_name(get_run(client, project_id, run_id))["held"].ExecutionState == "SUCCESS"


# --- (d): kill and execution timeout reach the remote process group ------------------------------------------------


def test_d_kill_and_execution_timeout_stop_the_remote_process_group(
    srv: Server, broker: str, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    workers(srv, broker, group, f"wd-{uuid.uuid4().hex[:6]}")
    wf = new_workflow(client, project_id, f"celery_d_{uuid.uuid4().hex[:6]}")
    pidfile, childfile = tmp_path / "d.pid", tmp_path / "d.child"
    # It ignores SIGTERM: only the SIGKILL after the grace (the server's --kill-grace 1) ends it.
    task(client, project_id, wf, "sleeper",
         f"trap '' TERM; echo $$ > {pidfile}; sleep 300 & echo $! > {childfile}; wait", group)
    run_id = start_run(client, project_id, wf)
    pid, child = _pid(pidfile), _pid(childfile)
    res = call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf,
                                                    "WorkflowExecutionIdList": [run_id]})  # fmt: skip
    assert [r.OpStatus for r in res] == [True]
    wait_for(lambda: not _alive(pid) and not _alive(child), timeout=10, what="the remote process group killed")
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "KILLED"

    wf2 = new_workflow(client, project_id, f"celery_d2_{uuid.uuid4().hex[:6]}")
    pid2file = tmp_path / "d2.pid"
    task(client, project_id, wf2, "slow", f"echo $$ > {pid2file}; sleep 300 & wait", group, ExecutionTTLMinute=2)
    run2 = start_run(client, project_id, wf2)
    pid2 = _pid(pid2file)
    data = wait_run(client, project_id, run2)  # ExecutionTTLMinute 2 = 2 s here (--minute-seconds 1)
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
    assert (by_name(data)["slow"].ErrorCodeStr or "").startswith("ExecutionTimeout")
    wait_for(lambda: not _alive(pid2), timeout=10, what="the timed-out remote attempt killed")


# --- (e): a worker killed with kill -9 ------------------------------------------------------------------------------


def test_e_a_worker_killed_mid_task_takes_its_attempt_down_at_once_and_another_worker_retries_it(
    srv: Server, broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    """kill -9 of a worker: its guard (executors/worker_guard.py) kills the attempt's processes at once, a
    double-forked `setsid` child included, then reports the worker gone; the server retries it on another
    worker, and the attempt's side effect (lines appended to a file) never comes from both attempts at once."""
    import time

    client, project_id = project(srv)
    group = new_group(client)
    first = workers(srv, broker, group, f"we1-{uuid.uuid4().hex[:6]}")
    wf = new_workflow(client, project_id, f"celery_e_{uuid.uuid4().hex[:6]}")
    trace, pidfile, childfile, gate = tmp_path / "e.trace", tmp_path / "e.pid", tmp_path / "e.child", gates("e")
    # On the first worker the attempt double-forks a session leader that appends a tick every 50 ms.
    code = (f'echo "start $TRIGFLOW_WORKER_NAME" >> {trace}; if [ "$TRIGFLOW_WORKER_NAME" = {first.name} ]; then '
            f"( setsid sh -c 'echo $$ > {childfile}; while true; do echo tick >> {trace}; sleep 0.05; done' & ); "
            f'echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done; fi; '
            f'echo "end $TRIGFLOW_WORKER_NAME" >> {trace}; echo "done on $TRIGFLOW_WORKER_NAME"')
    task(client, project_id, wf, "t", code, group, MaxRetryNumber=1, RetryWaitMinute=0)
    run_id = start_run(client, project_id, wf)
    leader, child = _pid(pidfile), _pid(childfile)
    assert os.getsid(child) != os.getsid(leader)  # out of the attempt's session and process group
    wait_for(lambda: "tick" in trace.read_text(), what="the detached child ticking")
    second = workers(srv, broker, group, f"we2-{uuid.uuid4().hex[:6]}")
    killed_at = time.monotonic()
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    wait_for(lambda: not _alive(leader) and not _alive(child), timeout=5, interval=0.01,
             what="the dead worker's attempt killed by its guard")  # fmt: skip
    gone = time.monotonic() - killed_at
    print(f"kill -9 of a worker -> its attempt's processes gone: {gone:.3f} s")
    assert gone < 1.5, f"the attempt outlived its worker by {gone:.2f} s"
    wait_for(lambda: f"end {second.name}" in trace.read_text(), timeout=LEASE + 10,
             what="the attempt retried on the second worker")  # fmt: skip
    took = time.monotonic() - killed_at
    assert took < LEASE + 5, f"retry started {took:.1f} s after the kill (lease {LEASE} s)"
    print(f"kill -9 of a worker -> retry done on another worker: {took:.2f} s (lease {LEASE} s)")
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert f"done on {second.name}" in task_log(client, project_id, data.TriggerTaskRuns[0].ExecutionId)
    lines = trace.read_text().split("\n")
    retry = lines.index(f"start {second.name}")
    assert lines[0] == f"start {first.name}" and "tick" in lines[:retry]
    assert "tick" not in lines[retry:], lines  # nothing of the first attempt ran once the retry started
    assert f"end {first.name}" not in lines
    assert "killed" in first.output() and "of its attempts" in first.output()  # the guard's line
    assert not gate.exists()


def test_e_a_dead_workers_guard_reports_it_gone_so_the_retry_does_not_wait_for_the_lease(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    """With a 60 s lease, kill -9 of a worker mid-task: its guard kills the attempt, then tells the server the
    worker is gone, so the attempt is lost and retried on the other worker at once (not 60 s later), the dead
    worker's slots leave the group at once, and the lost attempt says why."""
    import time

    server = start_server(tmp_path / "server", extra=server_args(broker, lease=60))
    try:
        client, project_id = project(server)
        group = new_group(client)
        first = workers(server, broker, group, f"wg1-{uuid.uuid4().hex[:6]}", lease=60)
        wf = new_workflow(client, project_id, f"celery_eg_{uuid.uuid4().hex[:6]}")
        pidfile, gate, trace = tmp_path / "eg.pid", gates("eg"), tmp_path / "eg.trace"
        code = (f'echo "start $TRIGFLOW_WORKER_NAME" >> {trace}; if [ "$TRIGFLOW_WORKER_NAME" = {first.name} ]; '
                f'then echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done; fi')  # fmt: skip
        task(client, project_id, wf, "t", code, group, MaxRetryNumber=1, RetryWaitMinute=0)
        run_id = start_run(client, project_id, wf)
        leader = _pid(pidfile)
        second = workers(server, broker, group, f"wg2-{uuid.uuid4().hex[:6]}", lease=60)
        wait_for(lambda: len(internal(server, "/internal/v1/workers")["workers"]) == 2, what="both workers live")
        killed_at = time.monotonic()
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        wait_for(lambda: f"start {second.name}" in trace.read_text(), timeout=20, interval=0.01,
                 what="the retry started on the second worker")  # fmt: skip
        took = time.monotonic() - killed_at
        print(f"kill -9 of a worker -> retry started on another worker: {took:.2f} s (lease 60 s)")
        assert took < 10, f"the retry waited {took:.1f} s: the guard's report did not reach the server"
        assert not _alive(leader)
        names = [w["name"] for w in internal(server, "/internal/v1/workers")["workers"]]
        assert names == [second.name], names  # the dead worker's slots are gone with it, not a lease later
        data = wait_run(client, project_id, run_id)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert data.TriggerTaskRuns[0].RetryTimes == 1
        assert "told the server worker" in first.output()
        assert "reported gone by its guard: 1 attempt(s) lost" in server.output()
        assert trace.read_text().split("\n") == [f"start {first.name}", f"start {second.name}", ""]
    finally:
        server.stop()


@pytest.mark.parametrize("who", ["guard", "next-worker"])
def test_e_a_result_never_dies_with_its_worker(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path, who: str
) -> None:
    """The attempt ends while the server is down, so the worker holds its finish report; then the worker is
    killed -9. The exit fact was kept on the worker's disk (executors/worker_exits.py) before any report:
    its guard delivers it once the server is back (or, the guard killed too, the next worker on the same data
    dir does, at start), so the restarted server records SUCCESS with the real output, the work ran once."""
    data = tmp_path / "server"
    server = start_server(data, extra=server_args(broker, lease=30))
    restarted: Server | None = None
    try:
        client, project_id = project(server)
        group = new_group(client)
        name = f"wr-{uuid.uuid4().hex[:6]}"
        w = workers(server, broker, group, name, lease=30)
        wf = new_workflow(client, project_id, f"celery_er_{uuid.uuid4().hex[:6]}")
        gate, trace, pidfile = gates("er"), tmp_path / "er.trace", tmp_path / "er.pid"
        _gated_output_then_downstream(client, project_id, wf, group, gate, trace, pidfile)
        run_id = start_run(client, project_id, wf)
        pid = _pid(pidfile)
    finally:
        server.stop(signal.SIGKILL)
    server.wait_gone()
    try:
        gate.touch()  # the attempt ends while no server runs: its finish report waits in the worker
        wait_for(lambda: not _alive(pid), what="the attempt ended")
        wait_for(lambda: any((w.data_dir / "attempts").glob("*/exit.json")), what="the exit kept on the worker")
        if who == "next-worker":
            guard = subprocess.run(["pgrep", "-P", str(w.proc.pid), "-f", "worker_guard"], capture_output=True,
                                   text=True).stdout.split()  # fmt: skip
            assert len(guard) == 1, guard
            os.kill(int(guard[0]), signal.SIGKILL)
        w.proc.send_signal(signal.SIGKILL)
        w.proc.wait()
        restarted = start_server(data, port=server.port, extra=server_args(broker, lease=30))
        if who == "next-worker":
            workers(restarted, broker, group, name, lease=30)  # the same name: the same data dir
        client, project_id = project(restarted)
        result = wait_run(client, project_id, run_id, timeout=60)
        assert task_states(result) == {"ok": "SUCCESS", "after": "SUCCESS"}, [
            (t.TaskName, t.ErrorCodeStr) for t in result.TriggerTaskRuns]
        assert by_name(result)["ok"].RetryTimes == 0
        assert "got 42" in task_log(client, project_id, by_name(result)["after"].ExecutionId)
        assert trace.read_text().split() == ["ran"]  # not run again
        if who == "guard":
            assert "told the server worker" in w.output()
    finally:
        if restarted is not None:
            restarted.stop()


# --- (f): server SIGKILL and restart while remote tasks run and finish ---------------------------------------------


def test_f_a_server_sigkill_and_restart_neither_loses_nor_reruns_remote_attempts(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    data_dir = tmp_path / "server"
    server = start_server(data_dir, extra=server_args(broker, lease=20))
    restarted: Server | None = None
    try:
        client, project_id = project(server)
        group = new_group(client)
        # The workers' self-kill (server lease - grace - 0.5 s) must outlast the restart (docs/workers.md): 20 s here.
        workers(server, broker, group, f"wf-{uuid.uuid4().hex[:6]}", concurrency=3, lease=20)
        wf = new_workflow(client, project_id, f"celery_f_{uuid.uuid4().hex[:6]}")
        g_down, g_up = gates("down"), gates("up")
        files = {n: tmp_path / f"f-{n}.pid" for n in ("bad", "ok")}
        trace = tmp_path / "f.trace"

        def gated(name: str, gate: Path, then: str) -> str:
            return (f"echo {name} >> {trace}; echo $$ > {files[name]}; "
                    f"while [ ! -e {gate} ]; do sleep 0.05; done; {then}")  # fmt: skip

        task(client, project_id, wf, "bad", gated("bad", g_down, "exit 5"), group)
        ok = task(client, project_id, wf, "ok", gated("ok", g_up, 'echo "##wedata_output total=42"'), group,
                  ParamTaskOutList=[{"ParamKey": "total", "ParamValue": ""}])  # fmt: skip
        task(client, project_id, wf, "after", 'echo "got ${t}"', group, [ok],
             ParamTaskInList=[{"ParamKey": "t", "ParamDesc": "p.ok.total", "FromTaskId": ok, "FromParamKey": "total"}])
        run_id = start_run(client, project_id, wf)
        pids = {n: _pid(f) for n, f in files.items()}
    finally:
        server.stop(signal.SIGKILL)
    server.wait_gone()
    g_down.touch()  # `bad` ends while no server runs: its worker buffers the report
    wait_for(lambda: not _alive(pids["bad"]), what="bad to end")
    try:
        restarted = start_server(data_dir, port=server.port, extra=server_args(broker, lease=20))
        client, project_id = project(restarted)

        def bad_recorded() -> Any:
            d = get_run(client, project_id, run_id)
            return d if task_states(d)["bad"] == "FAILED" else None

        d = wait_for(bad_recorded, timeout=LEASE + 10, what="bad recorded from the buffered report")
        assert by_name(d)["bad"].ErrorCodeStr == "exit code 5"  # its real exit, not ExecutorLost
        assert task_states(d)["ok"] == "RUNNING"  # adopted from its worker's heartbeats, not lost
        g_up.touch()
        result = wait_run(client, project_id, run_id)
        assert task_states(result) == {"bad": "FAILED", "ok": "SUCCESS", "after": "SUCCESS"}, [
            (t.TaskName, t.ErrorCodeStr) for t in result.TriggerTaskRuns]
        assert "got 42" in task_log(client, project_id, by_name(result)["after"].ExecutionId)
        assert sorted(trace.read_text().split()) == ["bad", "ok"]  # each ran once: nothing was re-run
    finally:
        if restarted is not None:
            restarted.stop()


# --- (g): a worker cut off from the server ------------------------------------------------------------------------


def test_g_a_worker_cut_off_past_its_lease_kills_its_attempt(
    srv: Server, broker: str, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    w = workers(srv, broker, group, f"wg-{uuid.uuid4().hex[:6]}")
    wf = new_workflow(client, project_id, f"celery_g_{uuid.uuid4().hex[:6]}")
    pidfile = tmp_path / "g.pid"
    task(client, project_id, wf, "held", f"echo $$ > {pidfile}; sleep 300 & wait", group)
    run_id = start_run(client, project_id, wf)
    pid = _pid(pidfile)
    server_pid = srv.server_pid
    os.kill(server_pid, signal.SIGSTOP)  # the server hangs: no heartbeat is answered
    try:
        wait_for(lambda: not _alive(pid), timeout=LEASE + 15, what="the worker to kill its attempt past the lease")
    finally:
        os.kill(server_pid, signal.SIGCONT)
    assert "killing attempt" in w.output()
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"


class CuttableProxy:
    """A TCP forwarder to the server that the test can cut: the one worker that reports through it is
    partitioned from the server while the server and the other workers go on (a real network cut, one way
    of it: nothing of that worker reaches the server any more, and new connections are refused)."""

    def __init__(self, target_port: int) -> None:
        import socket
        import threading

        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self.cut_off:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        import socket

        with self._lock:
            self.cut_off = True
            conns, self._conns = self._conns, []
        self._listener.close()
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass


def test_g_a_cut_off_worker_stops_its_attempt_before_the_server_retries_it(
    broker: str, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    """ADR 0006 "A cut-off worker stops first": equal leases (3 s), a kill grace of 1 s and an attempt that
    ignores SIGTERM and stamps the time every 20 ms. Its worker is cut off from the server (the proxy it
    reports through is cut) while the server and a second worker go on; the retry on the second worker
    starts strictly after the last stamp of the first attempt and finds its process gone."""
    from tests.conftest import free_port

    port = free_port()
    proxy = CuttableProxy(port)
    advertised = f"http://127.0.0.1:{proxy.port}"
    server = start_server(tmp_path / "server", port=port, extra=[*server_args(broker), "--advertise-url", advertised])
    try:
        client, project_id = project(server)
        group = new_group(client)
        cut = workers(server, broker, group, f"wp1-{uuid.uuid4().hex[:6]}", concurrency=1,
                      servers=[f"http://127.0.0.1:{proxy.port}"])  # fmt: skip
        wait_for(lambda: any(w["name"] == cut.name for w in internal(server, "/internal/v1/workers")["workers"]),
                 what="the first worker registered through the proxy")  # fmt: skip
        wf = new_workflow(client, project_id, f"celery_gp_{uuid.uuid4().hex[:6]}")
        trace, pidfile = tmp_path / "gp.trace", tmp_path / "gp.pid"
        code = (f'if [ "$TRIGFLOW_WORKER_NAME" = {cut.name} ]; then trap "" TERM; echo $$ > {pidfile}; '
                f'while true; do echo "tick $(date +%s.%N)" >> {trace}; sleep 0.02; done; fi; '
                f'if kill -0 "$(cat {pidfile})" 2>/dev/null; then echo overlap >> {trace}; fi; '
                f'echo "retry $(date +%s.%N)" >> {trace}; echo "retried on $TRIGFLOW_WORKER_NAME"')  # fmt: skip
        task(client, project_id, wf, "t", code, group, MaxRetryNumber=1, RetryWaitMinute=0)
        run_id = start_run(client, project_id, wf)
        pid = _pid(pidfile)
        other = workers(server, broker, group, f"wp2-{uuid.uuid4().hex[:6]}", concurrency=1)
        proxy.cut()
        wait_for(lambda: not _alive(pid), timeout=LEASE + 10, what="the cut-off worker to kill its attempt")
        data = wait_run(client, project_id, run_id, timeout=LEASE + 20)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
        lines = trace.read_text().split("\n")
        ticks = [float(line.split()[1]) for line in lines if line.startswith("tick ")]
        retries = [float(line.split()[1]) for line in lines if line.startswith("retry ")]
        assert len(retries) == 1 and "overlap" not in lines, lines[-5:]
        assert ticks and max(ticks) < retries[0], (max(ticks), retries[0])
        print(f"cut-off worker: last stamp of the old attempt {retries[0] - max(ticks):.3f} s before the retry")
        assert "before the server's lease" in cut.output()
        assert f"retried on {other.name}" in task_log(client, project_id, data.TriggerTaskRuns[0].ExecutionId)
    finally:
        proxy.cut()
        server.stop()


# --- the log streams while the attempt runs; the endpoint is authenticated ---------------------------------------


def test_a_remote_log_streams_to_the_server_while_the_attempt_runs(
    srv: Server, broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    import time

    client, project_id = project(srv)
    group = new_group(client)
    workers(srv, broker, group, f"wl-{uuid.uuid4().hex[:6]}")
    wf = new_workflow(client, project_id, f"celery_log_{uuid.uuid4().hex[:6]}")
    gate, pidfile = gates("log"), tmp_path / "log.pid"
    task(client, project_id, wf, "talker",
         f"echo first-line; echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done; echo last-line", group)
    run_id = start_run(client, project_id, wf)
    _pid(pidfile)
    printed = time.monotonic()
    exec_id = get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId
    wait_for(lambda: "first-line" in task_log(client, project_id, exec_id), timeout=5, what="the log while running")
    print(f"remote log tail latency: {time.monotonic() - printed:.3f} s")
    assert task_states(get_run(client, project_id, run_id)) == {"talker": "RUNNING"}
    # `trigflow logs --follow` works unchanged on a remote attempt: what came so far, then the rest, then it ends
    out, err = tmp_path / "follow.out", tmp_path / "follow.err"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TRIGFLOW_ENDPOINT": f"http://{srv.endpoint}",
           "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}  # fmt: skip
    with open(out, "wb") as o, open(err, "wb") as e:
        follower = subprocess.Popen([sys.executable, "-m", "trigflow.cli", "logs", exec_id, "--follow"], stdout=o,
                                    stderr=e, env=env, cwd=tmp_path)  # fmt: skip
    try:
        wait_for(lambda: out.read_text() == "first-line\n", what="the running remote attempt followed")
        gate.touch()
        assert follower.wait(timeout=30) == 0, err.read_text()
    finally:
        if follower.poll() is None:
            follower.kill()
    assert out.read_text() == "first-line\nlast-line\n"
    assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    log = task_log(client, project_id, exec_id)
    assert log.index("first-line") < log.index("last-line") and log.count("first-line") == 1


def test_the_internal_endpoint_wants_the_worker_token(srv: Server) -> None:
    def status(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        req = urllib.request.Request(f"http://{srv.endpoint}/internal/v1/workers/heartbeat", method="POST",
                                     data=b'{"worker_id": "x", "group": "g"}', headers=headers)  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as e:
            with e:
                return int(e.code)

    assert status(None) == 401
    assert status("wrong") == 401
    assert status(token_of(srv)) == 200
    assert (srv.data_dir / "worker-token").stat().st_mode & 0o777 == 0o600
    assert token_of(srv) not in srv.output()  # never logged


# --- a standby takes over: the worker reports to whichever server is active ---------------------------------------


def test_a_remote_attempt_survives_a_failover_to_the_standby(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = start_server(tmp_path / "a", db_url=db_url, extra=server_args(broker, lease=20))
    token_file = ["--worker-token-file", str(tmp_path / "a" / "worker-token")]
    b = start_server(tmp_path / "b", db_url=db_url, extra=[*server_args(broker, lease=20), *token_file])
    try:
        client, project_id = project(a)
        group = new_group(client)
        w = workers(a, broker, group, f"wh-{uuid.uuid4().hex[:6]}", lease=20,
                    servers=[f"http://{a.endpoint}", f"http://{b.endpoint}"])
        wait_for(lambda: any(x["name"] == w.name for x in internal(a, "/internal/v1/workers")["workers"]),
                 what="the worker registered with the active server")  # fmt: skip
        wf = new_workflow(client, project_id, f"celery_h_{uuid.uuid4().hex[:6]}")
        gate, pidfile, trace = gates("h"), tmp_path / "h.pid", tmp_path / "h.trace"
        task(client, project_id, wf, "held",
             f"echo ran >> {trace}; echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done; exit 7", group)
        run_id = start_run(client, project_id, wf)
        _pid(pidfile)
        a.stop()  # a graceful stop of the active server never kills remote attempts
        via_b = make_client(b.endpoint)
        token = token_of(a)
        wait_for(lambda: any(x["name"] == w.name for x in internal(b, "/internal/v1/workers", token)["workers"]),
                 timeout=30, what="the worker reporting to the new active server")  # fmt: skip
        gate.touch()
        data = wait_run(via_b, project_id, run_id, timeout=30)
        assert by_name(data)["held"].ErrorCodeStr == "exit code 7"
        assert trace.read_text().split() == ["ran"]
    finally:
        a.stop()
        b.stop()


def test_an_attempt_killed_while_its_message_waits_in_the_broker_never_runs(
    srv: Server, broker: str, workers: Callable[..., Worker], tmp_path: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    w = workers(srv, broker, group, f"wk-{uuid.uuid4().hex[:6]}", concurrency=1)
    marker = tmp_path / "k.ran"
    queued = new_workflow(client, project_id, f"celery_k2_{uuid.uuid4().hex[:6]}")
    task(client, project_id, queued, "queued", f"touch {marker}", group)
    # A group sends only as many attempts as its live workers have slots (service/capacity.py), so a message
    # waits in the broker when its worker stops consuming after the send: freeze the worker (the server still
    # counts it live until the lease) and send one.
    os.kill(w.proc.pid, signal.SIGSTOP)
    try:
        queued_run = start_run(client, project_id, queued)
        wait_run(client, project_id, queued_run, states={"RUNNING"})  # dispatched: RUNNING, waiting for a worker
        exec_id = get_run(client, project_id, queued_run).TriggerTaskRuns[0].ExecutionId
        call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": queued,
                                                 "WorkflowExecutionIdList": [queued_run]})  # fmt: skip
        assert wait_run(client, project_id, queued_run).TriggerWorkflowRun.ExecutionState == "KILLED"
    finally:
        os.kill(w.proc.pid, signal.SIGCONT)  # the worker takes the killed attempt's message: refused by the fence
    wait_for(lambda: f"attempt {exec_id}.0.0 refused by the server" in w.output(), what="the message refused")
    assert not marker.exists()


def test_a_runner_task_with_a_data_source_secret_runs_on_the_worker(
    srv: Server, broker: str, workers: Callable[..., Worker]
) -> None:
    """A SQL task (type 32) on PostgreSQL: its workload, password included, travels sealed in the payload, the
    runner (`python -m trigflow.runner`) runs with the worker's interpreter, its result rows become outputs."""
    from tests.integration.helpers import submitted_task, typed_task_params
    from tests.integration.test_sql_tasks import PG_PROPS, data_source

    client, project_id = project(srv)
    group = new_group(client)
    w = workers(srv, broker, group, f"ws-{uuid.uuid4().hex[:6]}")
    source = data_source(client, project_id, "POSTGRE", PG_PROPS)
    wf = new_workflow(client, project_id, f"celery_sql_{uuid.uuid4().hex[:6]}")
    params = typed_task_params(project_id, wf, "q", "SELECT 'from-' || 'pg' AS v;", 32, source,
                               ParamTaskOutList=[{"ParamKey": "v", "ParamValue": "$[0][0]"}])  # fmt: skip
    params["TriggerTaskConfiguration"]["ResourceGroup"] = group
    q = submitted_task(client, params)
    task(client, project_id, wf, "after", 'echo "got ${v} on $TRIGFLOW_WORKER_NAME"', group, [q],
         ParamTaskInList=[{"ParamKey": "v", "ParamDesc": "p.q.v", "FromTaskId": q, "FromParamKey": "v"}])
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    runs = by_name(data)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_log(client, project_id, runs["q"].ExecutionId)
    assert "1 row returned" in task_log(client, project_id, runs["q"].ExecutionId)
    assert f"attempt {runs['q'].ExecutionId}.0.0 reported: exit 0" in w.output()  # the worker ran it
    assert f"got from-pg on {w.name}" in task_log(client, project_id, runs["after"].ExecutionId)
    assert PG_PROPS.get("password", "\0") not in w.output()


def test_c1_a_redis_redelivery_past_the_visibility_timeout_is_refused(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    """ANCHORS C1 for real: a 2 s visibility timeout, a task held longer; Redis hands the unacked message to a
    consumer again, and the fence refuses it: the task ran once."""
    if not broker.startswith("redis"):
        pytest.skip("the visibility timeout is a Redis transport option (RabbitMQ's consumer_timeout is C3)")
    server = start_server(tmp_path / "server", extra=[*server_args(broker), "--visibility-timeout", "2"])
    try:
        client, project_id = project(server)
        group = new_group(client)
        ws = [workers(server, broker, group, f"wv{i}-{uuid.uuid4().hex[:6]}", "--visibility-timeout", "2")
              for i in (1, 2)]  # fmt: skip
        wf = new_workflow(client, project_id, f"celery_c1_{uuid.uuid4().hex[:6]}")
        gate, trace = gates("c1"), tmp_path / "c1.trace"
        task(client, project_id, wf, "long", f"echo ran >> {trace}; while [ ! -e {gate} ]; do sleep 0.05; done", group)
        run_id = start_run(client, project_id, wf)
        wait_for(trace.exists, what="the task running")
        exec_id = get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId
        wait_for(lambda: any(f"attempt {exec_id}.0.0 refused by the server" in w.output() for w in ws), timeout=30,
                 what="the redelivered message refused")  # fmt: skip
        gate.touch()
        assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert trace.read_text().split() == ["ran"]
    finally:
        server.stop()


def _gated_output_then_downstream(client: Any, project_id: str, wf: str, group: str, gate: Path, trace: Path,
                                  pidfile: Path) -> None:  # fmt: skip
    """"ok" on the worker group (traced, gated, its output `total=42` written to $WEDATA_OUTPUT_FILE on the
    worker, so only its exit fact can carry it), then "after", local, printing "got <total>"."""
    ok = task(client, project_id, wf, "ok", f'echo ran >> {trace}; echo $$ > {pidfile}; '
              f'while [ ! -e {gate} ]; do sleep 0.05; done; echo total=42 >> "$WEDATA_OUTPUT_FILE"', group,
              MaxRetryNumber=1, RetryWaitMinute=0, ParamTaskOutList=[{"ParamKey": "total", "ParamValue": ""}])
    task(client, project_id, wf, "after", 'echo "got ${t}"', None, [ok],
         ParamTaskInList=[{"ParamKey": "t", "ParamDesc": "p.ok.total", "FromTaskId": ok, "FromParamKey": "total"}])


def test_an_acknowledged_finish_report_survives_a_server_crash_before_the_engine_applied_it(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The window between the server acknowledging a worker's finish report (the worker then forgets it) and
    the engine committing the exit: the scheduler loop is made to fail (the test-only fault file) so the exit
    is never applied, then the server is killed. The exit was made durable before the acknowledgement, so the
    restarted server records it (with its outputs) instead of declaring the attempt lost and running it again.
    The output is written to $WEDATA_OUTPUT_FILE, on the worker: only the durable exit fact carries it (the
    server's copy of the log has no output line to fall back on)."""
    fault = tmp_path / "fault"
    monkeypatch.setenv("TRIGFLOW_TEST_SCHEDULER_FAULT_FILE", str(fault))
    data_dir = tmp_path / "server"
    server = start_server(data_dir, extra=server_args(broker))
    monkeypatch.delenv("TRIGFLOW_TEST_SCHEDULER_FAULT_FILE")
    restarted: Server | None = None
    try:
        client, project_id = project(server)
        group = new_group(client)
        w = workers(server, broker, group, f"wx-{uuid.uuid4().hex[:6]}", lease=30)
        wf = new_workflow(client, project_id, f"celery_x_{uuid.uuid4().hex[:6]}")
        gate, trace, pidfile = gates("x"), tmp_path / "x.trace", tmp_path / "x.pid"
        _gated_output_then_downstream(client, project_id, wf, group, gate, trace, pidfile)
        run_id = start_run(client, project_id, wf)
        _pid(pidfile)
        fault.touch()  # from now on the loop drops what it drains: the exit is never applied by this process
        gate.touch()
        exec_id = get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId
        wait_for(lambda: f"attempt {exec_id}.0.0 reported: exit 0" in w.output(), what="the finish acknowledged")
        assert task_states(get_run(client, project_id, run_id))["ok"] == "RUNNING"
    finally:
        server.stop(signal.SIGKILL)
    server.wait_gone()  # the server process, not only the launcher: its port must be free for the restart
    fault.unlink()
    try:
        restarted = start_server(data_dir, port=server.port, extra=server_args(broker))
        client, project_id = project(restarted)
        result = wait_run(client, project_id, run_id, timeout=30)
        assert task_states(result) == {"ok": "SUCCESS", "after": "SUCCESS"}, [
            (t.TaskName, t.ErrorCodeStr) for t in result.TriggerTaskRuns]
        assert "got 42" in task_log(client, project_id, by_name(result)["after"].ExecutionId)
        assert trace.read_text().split() == ["ran"]  # not re-run
    finally:
        if restarted is not None:
            restarted.stop()


# --- C4: an attempt whose message was lost is published again, and runs once ------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """A redis-server of this test's own, keeping nothing on disk (like the machine's): `start()` (re)starts it
    on the same port, `kill()` is a kill -9 that loses every message it held."""
    from tests.conftest import free_port

    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def ping() -> bool:
        import redis

        try:
            return bool(redis.Redis(port=port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start() -> str:
        out = open(tmp_path / f"redis-{port}.out", "ab")  # noqa: SIM115 - handed to the child
        procs.append(subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                      stdout=out, stderr=subprocess.STDOUT))  # fmt: skip
        out.close()
        wait_for(ping, what="the private redis-server up")
        return f"redis://127.0.0.1:{port}/0"

    def kill() -> None:
        procs[-1].kill()
        procs[-1].wait()

    start.kill = kill  # type: ignore[attr-defined]
    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _waiting(broker: str, group: str) -> int:
    """How many messages wait (ready, not delivered) in the group's queue, on either broker."""
    from kombu import Connection

    with Connection(broker) as conn:
        return int(conn.default_channel.queue_declare(f"trigflow.{group}", passive=True).message_count)


C4_LEASE = 10.0  # the server's lease in the C4 tests: the killed worker's slot stays counted this long


def _busy_then_queued(server: Server, broker: str, workers: Callable[..., Worker], client: Any, project_id: str,
                      group: str, gate: Path, pidfile: Path, trace: Path, lease: float = LEASE) -> tuple[
                      Worker, str, str]:  # fmt: skip
    """A 1-slot worker A holding its slot with a gated task, then an attempt whose message waits in the broker.

    A group sends only as many attempts as its live workers have slots (service/capacity.py), so a second
    1-slot worker B is started and killed -9 before the send: the server counts B's slot until its lease
    passes (C4_LEASE, well past the send), the engine sends the attempt, and nobody takes it (A is busy, B is
    gone, with no connection to the broker that RabbitMQ could hand the message to). Returns A and the runs."""
    a = workers(server, broker, group, f"wa-{uuid.uuid4().hex[:6]}", concurrency=1, lease=lease)
    busy = new_workflow(client, project_id, f"celery_c4b_{uuid.uuid4().hex[:6]}")
    task(client, project_id, busy, "busy", f"echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done", group)
    busy_run = start_run(client, project_id, busy)
    _pid(pidfile)  # on A: the only worker so far
    b = workers(server, broker, group, f"wb-{uuid.uuid4().hex[:6]}", concurrency=1, lease=lease)
    os.killpg(b.proc.pid, signal.SIGKILL)
    b.proc.wait()
    queued = new_workflow(client, project_id, f"celery_c4q_{uuid.uuid4().hex[:6]}")
    task(client, project_id, queued, "queued", f'echo "ran $TRIGFLOW_WORKER_NAME" >> {trace}', group)
    queued_run = start_run(client, project_id, queued)
    wait_run(client, project_id, queued_run, states={"RUNNING"})
    return a, busy_run, queued_run


def test_c4_a_broker_restart_that_lost_the_queued_message_still_runs_the_attempt_once(
    broker: str, private_redis: Callable[..., Any], workers: Callable[..., Worker], gates: Callable[[str], Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    """A real broker restart without persistence: the message of an attempt waiting behind a busy worker is
    gone with the redis-server. Once the worker has free slots on two heartbeats the server publishes the same
    payload again; the worker, reconnected to the new redis-server, runs it exactly once."""
    if not broker.startswith("redis"):
        pytest.skip("a private redis-server; RabbitMQ's queue is durable (see the purge test)")
    import redis

    url = private_redis()
    server = start_server(tmp_path / "server", extra=server_args(url, lease=C4_LEASE))
    try:
        client, project_id = project(server)
        group = new_group(client)
        gate, pidfile, trace = gates("c4r"), tmp_path / "c4r.pid", tmp_path / "c4r.trace"
        w, busy_run, queued_run = _busy_then_queued(server, url, workers, client, project_id, group, gate, pidfile,
                                                    trace)  # fmt: skip
        r = redis.Redis(port=private_redis.port)  # type: ignore[attr-defined]
        wait_for(lambda: r.llen(f"trigflow.{group}") >= 1, what="the queued message in redis")
        private_redis.kill()  # type: ignore[attr-defined]
        private_redis()  # empty: the queued message is lost
        assert r.llen(f"trigflow.{group}") == 0
        gate.touch()
        assert wait_run(client, project_id, busy_run, timeout=60).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        data = wait_run(client, project_id, queued_run, timeout=60)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
        assert trace.read_text().split("\n") == [f"ran {w.name}", ""]
        assert "its message was lost; publishing it again" in server.output()
        # The queued attempt exists only in the new redis-server: the worker took it from there, so it
        # reconnected (redis-py does so on the next command, without Celery logging a reconnect).
        assert r.llen(f"trigflow.{group}") == 0
    finally:
        server.stop()


def test_c4_a_purged_queue_does_not_leave_the_waiting_attempt_stuck(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    """The purge case on both brokers (RabbitMQ's durable queue survives a broker restart; a purge does not).
    Once A has a free slot on two heartbeats, a lease after the publish, the same payload goes out again and
    A runs it exactly once."""
    from kombu import Connection

    server = start_server(tmp_path / "server", extra=server_args(broker, lease=C4_LEASE))
    try:
        client, project_id = project(server)
        group = new_group(client)
        gate, pidfile, trace = gates("c4u"), tmp_path / "c4u.pid", tmp_path / "c4u.trace"
        w, busy_run, queued_run = _busy_then_queued(server, broker, workers, client, project_id, group, gate,
                                                    pidfile, trace)  # fmt: skip

        def purge() -> int:
            with Connection(broker) as conn:
                return int(conn.default_channel.queue_purge(f"trigflow.{group}") or 0)

        wait_for(lambda: purge() >= 1, what="the waiting message purged")
        gate.touch()
        assert wait_run(client, project_id, busy_run, timeout=60).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        data = wait_run(client, project_id, queued_run, timeout=60)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
        assert trace.read_text().split("\n") == [f"ran {w.name}", ""]
        assert "its message was lost; publishing it again" in server.output()
        # ExecutionStartTime is when the worker took it (after the busy task ended, a lease after the send),
        # not when it was sent (QueueStartTime).
        busy_end = int(get_run(client, project_id, busy_run).TriggerTaskRuns[0].ExecutionEndTime)
        queued_id = data.TriggerTaskRuns[0].ExecutionId
        queued = call(client, "GetTriggerTaskRun", {"ProjectId": project_id, "TaskExecutionId": queued_id})
        assert int(queued.ExecutionStartTime) >= busy_end, (queued.ExecutionStartTime, busy_end)
        assert int(queued.QueueStartTime) + C4_LEASE * 1000 <= int(queued.ExecutionStartTime)  # sent, then waited
    finally:
        server.stop()


def test_c4_a_server_killed_before_it_could_publish_runs_the_attempt_once_after_its_restart(
    broker: str, private_redis: Callable[..., Any], workers: Callable[..., Worker], tmp_path: Path
) -> None:
    """The crash window between committing RUNNING and publishing: the broker is down, so the server's sender
    retries; the server is killed then. Its payload file was written before the first publish: the restarted
    server adopts the attempt and publishes it once the worker (reconnected) shows free slots."""
    if not broker.startswith("redis"):
        pytest.skip("needs a broker the test can stop: a private redis-server")
    url = private_redis()
    data_dir = tmp_path / "server"
    args = server_args(url)
    server = start_server(data_dir, extra=args)
    restarted: Server | None = None
    try:
        client, project_id = project(server)
        group = new_group(client)
        w = workers(server, url, group, f"wn-{uuid.uuid4().hex[:6]}", concurrency=1, lease=60)
        trace = tmp_path / "c4n.trace"
        wf = new_workflow(client, project_id, f"celery_c4n_{uuid.uuid4().hex[:6]}")
        task(client, project_id, wf, "t", f'echo "ran $TRIGFLOW_WORKER_NAME" >> {trace}', group)
        private_redis.kill()  # type: ignore[attr-defined]
        run_id = start_run(client, project_id, wf)
        wait_run(client, project_id, run_id, states={"RUNNING"})
        wait_for(lambda: "sending attempt" in server.output(), what="the publish failing")
        assert list((data_dir / "runs").rglob("*.payload")), "the payload is kept before the first publish"
    finally:
        server.stop(signal.SIGKILL)
    wait_for(lambda: server.proc.poll() is not None, what="the launcher gone")
    private_redis()
    try:
        restarted = start_server(data_dir, port=server.port, extra=args)
        client, project_id = project(restarted)
        data = wait_run(client, project_id, run_id, timeout=60)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
        assert trace.read_text().split("\n") == [f"ran {w.name}", ""]
    finally:
        if restarted is not None:
            restarted.stop()


def test_c4_an_attempt_recorded_running_but_never_published_is_lost_with_a_clear_message(
    broker: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    """The other half of the window: RUNNING committed, the server gone before it kept the payload (reproduced
    by removing the payload file while the server is down). The restarted server cannot know whether it was
    sent, and it was not: it records the attempt lost, saying it never ran; a surviving message is refused."""
    data_dir = tmp_path / "server"
    server = start_server(data_dir, extra=server_args(broker, lease=20))  # the busy attempt outlives the restart
    restarted: Server | None = None
    try:
        client, project_id = project(server)
        group = new_group(client)
        gate, pidfile, trace = gates("c4m"), tmp_path / "c4m.pid", tmp_path / "c4m.trace"
        w, busy_run, queued_run = _busy_then_queued(server, broker, workers, client, project_id, group, gate,
                                                    pidfile, trace, lease=60)  # fmt: skip
        exec_id = get_run(client, project_id, queued_run).TriggerTaskRuns[0].ExecutionId
        # RUNNING is committed before the publish: kill the server only once the message is in the broker (its
        # payload file was written before that), or the test races the server's sender.
        wait_for(lambda: _waiting(broker, group) >= 1, what="the queued message in the broker")
    finally:
        server.stop(signal.SIGKILL)
    wait_for(lambda: server.proc.poll() is not None, what="the launcher gone")
    payloads = list((data_dir / "runs").rglob("*.payload"))  # the busy attempt's and the queued one's
    assert len(payloads) == 2 and all(p.stat().st_mode & 0o777 == 0o600 for p in payloads)
    for p in payloads:  # the busy one is started (its file is not needed); the queued one's never existed
        p.unlink()
    try:
        restarted = start_server(data_dir, port=server.port, extra=server_args(broker, lease=20))
        client, project_id = project(restarted)
        data = wait_run(client, project_id, queued_run, timeout=30)
        assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
        assert "never ran" in (data.TriggerTaskRuns[0].ErrorCodeStr or ""), data.TriggerTaskRuns[0].ErrorCodeStr
        gate.touch()
        assert wait_run(client, project_id, busy_run, timeout=30).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        wait_for(lambda: f"attempt {exec_id}.0.0 refused by the server" in w.output(), what="the message refused")
        assert not trace.exists()
    finally:
        if restarted is not None:
            restarted.stop()
