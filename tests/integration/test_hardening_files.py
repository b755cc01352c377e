"""Issue 11, findings 3, 6 (log size, process count, kill) and 7 (paths in ErrorCodeStr), through a real server.

Each test is an attack that worked against 3982f9c: a world-readable data dir, a task rewriting another
task's script, a log read whole into memory, a fork bomb without limit, a `setsid` child surviving a kill,
and absolute server paths in ErrorCodeStr. Tests that change the data dir or need special flags start
their own server; the kill test uses the session server.
"""

from __future__ import annotations

import base64
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import call, get_run, new_task, new_workflow, start_run, task_states, wait_run


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X", b"x")


def _pids_cgroup_writable() -> bool:
    """Whether this host lets the server make pids cgroups (root, and a pids hierarchy mounted writable)."""
    if os.geteuid() != 0:
        return False
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mount, (fstype, _src, options) = left.split()[4], right.split()[:3]
            if fstype == "cgroup" and "pids" in options.split(","):
                return os.access(mount, os.W_OK) and "rw" in options.split(",")
            if fstype == "cgroup2" and os.path.exists(f"{mount}/cgroup.controllers"):
                with open(f"{mount}/cgroup.controllers", encoding="ascii") as c:
                    if "pids" in c.read().split():
                        return os.access(mount, os.W_OK)
    return False


needs_cgroups = pytest.mark.skipif(
    not _pids_cgroup_writable(), reason="no writable pids cgroup here (not root, or read-only cgroupfs)"
)


@pytest.fixture
def own_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    extra = getattr(request, "param", [])
    srv = start_server(tmp_path / "data", extra=["--rate-limit", "1000", "--kill-grace", "1", *extra])
    try:
        yield srv
    finally:
        srv.stop()


def _client_and_project(srv: Server) -> tuple[Any, str]:
    client = make_client(srv.endpoint)
    return client, str(call(client, "ListProjects", {}).Items[0].ProjectId)


def _kill(client: Any, project_id: str, wf: str, run_id: str) -> None:
    res = call(client, "KillTriggerWorkflowRuns", {"ProjectId": project_id, "WorkflowId": wf,
                                                   "WorkflowExecutionIdList": [run_id]})  # fmt: skip
    assert [(r.ItemId, r.OpStatus) for r in res] == [(run_id, True)]


# ---- finding 3: modes -----------------------------------------------------------------------------------


def test_data_dir_and_everything_in_it_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # An install made before the rule: a readable dir, readable files, and the old shared scripts dir.
    (data / "runs" / "old").mkdir(parents=True)
    (data / "runs" / "old" / "t.0.0.log").write_text("old log\n")
    (data / "scripts").mkdir()
    (data / "scripts" / "v1.sh").write_text("echo old\n")
    for p in (data, data / "runs", data / "runs" / "old"):
        p.chmod(0o755)
    (data / "runs" / "old" / "t.0.0.log").chmod(0o644)
    srv = start_server(data, extra=["--rate-limit", "1000"])
    try:
        client, project_id = _client_and_project(srv)
        wf = new_workflow(client, project_id, f"modes_{uuid.uuid4().hex[:6]}")
        code = 'echo "##wedata_output n=1"; echo "m=2" >> "$WEDATA_OUTPUT_FILE"; echo "day ${yyyyMMdd}"; touch by_task'
        outputs = [{"ParamKey": "n", "ParamValue": "0"}, {"ParamKey": "m", "ParamValue": "0"}]
        new_task(client, project_id, wf, "writer", code, ParamTaskOutList=outputs)
        data_run = wait_run(client, project_id, start_run(client, project_id, wf))
        assert data_run.TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert (data / "trigflow.db-wal").exists()  # the database is live while we look
        loose = []
        for root, dirs, files in os.walk(data):
            for name in dirs + files:
                mode = os.lstat(os.path.join(root, name)).st_mode
                if not stat.S_ISLNK(mode) and mode & 0o077:
                    loose.append((os.path.join(root, name), oct(stat.S_IMODE(mode))))
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        assert loose == []
        assert not (data / "scripts").exists()  # nothing is executed from a shared dir any more
    finally:
        srv.stop()


# ---- finding 3: a task cannot write what another attempt executes ---------------------------------------


def test_a_task_cannot_swap_the_code_another_task_runs(own_server: Server, tmp_path: Path) -> None:
    """Task A overwrites every file under the data dir that looks like a script and every memfd it can
    reach through /proc, while B waits mid-run; B's running attempt and its next run execute B's code."""
    client, project_id = _client_and_project(own_server)
    pwned, go = tmp_path / "pwned", tmp_path / "go"
    payload = f"touch {pwned}; exit 9"
    victim_wf = new_workflow(client, project_id, "victim")
    wait_go = f"for i in $(seq 400); do [ -e {go} ] && break; sleep 0.02; done\n"
    new_task(client, project_id, victim_wf, "b", wait_go + 'echo "B real code"\nexit 0\n')
    attacker_wf = new_workflow(client, project_id, "attacker")
    new_task(
        client,
        project_id,
        attacker_wf,
        "a",
        f"""
data=$(cd ../.. && pwd)
find "$data" -type f \\( -name '*.sh' -o -name '*.py' -o -name '*.tmp' \\) -print | while read -r f; do
  printf '%s\\n' '{payload}' > "$f" && echo "overwrote $f"
done
for f in /proc/[0-9]*/fd/*; do
  case "$(readlink "$f" 2>/dev/null)" in
    *memfd*) printf '%s\\n' '{payload}' 2>/dev/null > "$f" && echo "WROTE $f";;
  esac
done
touch {go}
""",
    )
    go.touch()  # the first run does not wait
    first = wait_run(client, project_id, start_run(client, project_id, victim_wf))  # leaves any script it uses
    assert first.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    go.unlink()
    victim = start_run(client, project_id, victim_wf)
    wait_run(client, project_id, victim, states={"RUNNING"})
    attack = start_run(client, project_id, attacker_wf)
    assert wait_run(client, project_id, attack).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    attack_log = "".join(p.read_text() for p in (own_server.data_dir / "runs" / attack).glob("*.log"))
    assert "WROTE" not in attack_log
    running = wait_run(client, project_id, victim)
    assert running.TriggerWorkflowRun.ExecutionState == "SUCCESS"  # the swapped code would exit 9
    again = start_run(client, project_id, victim_wf)
    assert wait_run(client, project_id, again).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert not pwned.exists()
    log = next((own_server.data_dir / "runs" / again).glob("*.log"))
    assert log.read_text().strip() == "B real code"


# ---- finding 6: per-attempt log size --------------------------------------------------------------------


@pytest.mark.parametrize("own_server", [["--max-log-bytes", "1048576"]], indirect=True)
def test_a_huge_log_is_truncated_with_a_marker_and_outputs_still_parsed(own_server: Server) -> None:
    client, project_id = _client_and_project(own_server)
    wf = new_workflow(client, project_id, "loud")
    producer = new_task(client, project_id, wf, "loud", 'echo "##wedata_output first=1"\n'
                        'yes "some line of chatter from a task that does not stop talking" | head -c 40000000; echo\n'
                        'echo "##wedata_output last=2"\n',
                        ParamTaskOutList=[{"ParamKey": "first", "ParamValue": "0"},
                                          {"ParamKey": "last", "ParamValue": "0"}])  # fmt: skip
    inputs = [{"ParamKey": k[0], "ParamDesc": f"p.loud.{k}", "FromTaskId": producer, "FromParamKey": k}
              for k in ("first", "last")]  # fmt: skip
    new_task(client, project_id, wf, "reader", 'echo "got ${f} ${l}"', upstream=[producer], ParamTaskInList=inputs)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=60)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    run_dir = own_server.data_dir / "runs" / run_id
    loud = run_dir / f"{producer}.0.0.log"
    on_disk = os.stat(loud).st_blocks * 512
    assert on_disk <= 1048576 + 64 * 1024, on_disk  # 40 MB written, about 1 MiB kept
    with open(loud, "rb") as f:  # the kept head, the marker, then the newest tail
        head = f.read(300_000)
    assert head.startswith(b"##wedata_output first=1\n")
    assert b"[trigflow] log truncated: " in head
    reader = next(p for p in run_dir.glob("*.log") if p != loud)
    assert reader.read_text().strip() == "got 1 2"


# ---- finding 6: processes per task and kill ----------------------------------------------------------------


BOMB = """
import os, sys, time
pids, refused = [], None
for _ in range(300):
    try:
        pid = os.fork()
    except OSError as e:
        refused = e.errno
        break
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    pids.append(pid)
with open(sys.argv[0] and os.environ["BOMB_OUT"], "w") as f:
    f.write(" ".join(map(str, pids)) + "\\n")
time.sleep(120)
"""


@needs_cgroups
@pytest.mark.parametrize("own_server", [["--max-task-processes", "40"]], indirect=True)
def test_a_fork_bomb_is_held_to_the_process_limit_and_killed_whole(own_server: Server, tmp_path: Path) -> None:
    client, project_id = _client_and_project(own_server)
    out = tmp_path / "bomb.pids"
    wf = new_workflow(client, project_id, "bomb")
    code = BOMB.replace('os.environ["BOMB_OUT"]', repr(str(out)))
    new_task(client, project_id, wf, "bomb", code, type_id="30")
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"), timeout=30, what="the bomb's pid list")
    pids = [int(p) for p in out.read_text().split()]
    assert 0 < len(pids) < 40  # the leader counts too; 300 forks were tried
    # The server keeps serving and running other work meanwhile.
    other = new_workflow(client, project_id, "meanwhile")
    new_task(client, project_id, other, "ok", "true")
    meanwhile = wait_run(client, project_id, start_run(client, project_id, other))
    assert meanwhile.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    _kill(client, project_id, wf, run_id)
    wait_for(lambda: not any(_alive(p) for p in pids), timeout=15, what="every forked child gone")
    assert get_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "KILLED"


def test_kill_reaches_setsid_and_double_forked_descendants(client: Any, project_id: str, tmp_path: Path) -> None:
    d = tmp_path
    wf = new_workflow(client, project_id, f"escape_{uuid.uuid4().hex[:6]}")
    new_task(
        client,
        project_id,
        wf,
        "escaper",
        f"""
setsid sleep 300 & echo $! > {d}/setsid.pid
setsid bash -c 'sleep 300 & echo $! > {d}/double.pid' < /dev/null > /dev/null 2>&1
(setsid sh -c 'setsid sleep 300 & echo $! > {d}/triple.pid' &)
touch {d}/ready
sleep 300
""",
    )
    run_id = start_run(client, project_id, wf)
    names = ("setsid.pid", "double.pid", "triple.pid")
    wait_for(lambda: (d / "ready").exists() and all((d / n).exists() and (d / n).read_text().strip() for n in names),
             timeout=15, what="the escapees' pids")  # fmt: skip
    pids = [int((d / n).read_text()) for n in names]
    assert all(_alive(p) for p in pids)
    _kill(client, project_id, wf, run_id)
    wait_for(lambda: not any(_alive(p) for p in pids), timeout=15, what="setsid and double-forked children gone")


# ---- finding 7: no server paths in ErrorCodeStr ----------------------------------------------------------


def test_launch_failures_do_not_show_server_paths(own_server: Server) -> None:
    client, project_id = _client_and_project(own_server)
    wf = new_workflow(client, project_id, "nopython")
    data_dir = str(own_server.data_dir.resolve())
    # A PYTHON task whose interpreter does not exist: the launch fails before any process runs.
    tid = str(call(client, "CreateTriggerTask", {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": "py", "TaskTypeId": "30", "WorkflowId": wf},
        "TriggerTaskConfiguration": {
            "CodeContent": base64.b64encode(b"print(1)").decode(),
            "TaskExtConfigurationList": [{"ParamKey": "python_sub_version", "ParamValue": f"{data_dir}/nope/python9"}],
        },
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
    }).TaskId)  # fmt: skip
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": tid, "VersionRemark": "v1"})
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
    errors = [t.ErrorCodeStr for t in data.TriggerTaskRuns] + [data.TriggerWorkflowRun.ErrorCodeStr]
    assert any("LaunchFailed" in (e or "") for e in errors), errors
    for e in errors:
        assert data_dir not in (e or "") and "/root" not in (e or "") and "/tmp" not in (e or ""), e
    assert data_dir in own_server.output()  # the detail is in the server log


# ---- the run directory is the task's own: planted FIFOs and symlinks ----------------------------------


def test_a_fifo_planted_in_the_run_dir_never_blocks_the_scheduler(own_server: Server) -> None:
    """The run directory is the task's working directory. On 3982f9c's successors a task that replaced its
    outputs file with a FIFO, or put one where its retry's log would be opened, blocked the scheduler's
    thread in open() for good: no task of any run started again. Now the FIFO is refused, the attack
    fails only its own task, and the server keeps scheduling."""
    client, project_id = _client_and_project(own_server)
    wf = new_workflow(client, project_id, "fifo")
    new_task(client, project_id, wf, "outputs_fifo", 'mkfifo "$WEDATA_OUTPUT_FILE"; echo planted')
    new_task(
        client, project_id, wf, "log_fifo",
        'mkfifo "$TRIGFLOW_TASK_ID.1.0.log" "$TRIGFLOW_TASK_ID.1.0.value.0" 2>/dev/null; exit 1',
        MaxRetryNumber=1, RetryWaitMinute=0,
    )  # fmt: skip
    data = wait_run(client, project_id, start_run(client, project_id, wf), timeout=60)
    states = task_states(data)
    assert states["outputs_fifo"] == "SUCCESS", states  # no outputs read from a FIFO, nothing blocked
    assert states["log_fifo"] == "FAILED", states
    retry = next(t for t in data.TriggerTaskRuns if t.TaskName == "log_fifo")
    assert "LaunchFailed" in (retry.ErrorCodeStr or ""), retry.ErrorCodeStr
    # The scheduler is alive: a fresh run of a plain workflow finishes.
    ok = new_workflow(client, project_id, "after_fifo")
    new_task(client, project_id, ok, "t", "true")
    after = wait_run(client, project_id, start_run(client, project_id, ok), timeout=30)
    assert after.TriggerWorkflowRun.ExecutionState == "SUCCESS"
