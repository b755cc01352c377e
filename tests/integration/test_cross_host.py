"""Workers on other hosts for real (issue 10 point 7): each worker host is a network namespace of its own.

Every test runs twice, on a private redis-server and on a private RabbitMQ node (netns.RedisBroker and
RabbitBroker, one interface; the module-scoped `kind` fixture), each started once for the module, plus one the
broker-restart tests share and kill. Where the two brokers differ, the test asserts each one's own behaviour (the broker
restarts: Redis here keeps nothing, RabbitMQ keeps its durable queues and the persistent messages it wrote).

The server (`trigflow up --host <bridge address>`) and the private broker listen on a bridge this module
creates; each worker host is a network namespace behind a veth pair on it (tests/integration/netns.py). A
worker runs there through `ip netns exec`, in a mount namespace where the server's data dir is an empty
tmpfs, with its own data dir and its own copy of the worker token: it reaches the server only over HTTP and
the broker only over TCP, as on another machine. Everything is driven through the official SDK.

Every task says where it ran: `ip netns identify $$` names its namespace ("server" for the root namespace,
where the local default group runs). Waits are conditions with deadlines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, wait_for
from tests.integration.helpers import get_run, new_workflow, start_run, task_states, wait_run
from tests.integration.netns import (
    RABBITMQ_SERVER,
    Broker,
    Host,
    NetServer,
    Network,
    RabbitBroker,
    make_broker,
    start_server_on,
    unavailable,
)
from tests.integration.test_celery_workers import (
    _alive,
    _pid,
    _send_duplicate,
    by_name,
    internal,
    new_group,
    project,
    task,
    task_log,
    token_of,
)

SERVER_LEASE = 3.0  # the server's --worker-lease: an attempt unseen that long is lost (30 in production)
WORKER_LEASE = 1.5  # the workers' --lease: below the server's by more than a heartbeat and the kill grace (1 s)
WHERE = 'NS=$(/usr/sbin/ip netns identify $$); NS=${NS:-server}; '  # the task's namespace, "server" for root

_why_not = unavailable()
pytestmark = pytest.mark.skipif(_why_not is not None, reason=f"cross-host tests: {_why_not}")


def server_args(broker: Broker, lease: float = SERVER_LEASE) -> list[str]:
    return ["--broker", broker.url, "--worker-lease", str(lease), "--rate-limit", "1000",
            "--kill-grace", "1", "--minute-seconds", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def net() -> Iterator[Network]:
    network = Network.create(hosts=3)
    try:
        yield network
    finally:
        network.close()


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def kind(request: pytest.FixtureRequest) -> str:
    """The broker every test of the module runs on, once each: module scope, so each broker starts once."""
    if request.param == "rabbitmq" and not os.access(RABBITMQ_SERVER, os.X_OK):
        pytest.skip(f"no {RABBITMQ_SERVER}: cannot start a private RabbitMQ node")
    return str(request.param)


@pytest.fixture(scope="module")
def broker(kind: str, net: Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = make_broker(kind, net.gateway, net.free_port(), tmp_path_factory.mktemp(f"broker-{kind}"))
    b.start()
    yield b
    b.kill()


@pytest.fixture(scope="module")
def srv(net: Network, broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetServer]:
    server = start_server_on(net.gateway, net.free_port(), tmp_path_factory.mktemp("xh-server"), server_args(broker))
    yield server
    server.stop()


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """Where tasks on every host write their traces: a path all mount namespaces see (not the server's)."""
    path = tmp_path / "shared"
    path.mkdir()
    return path


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    host: Host
    data_dir: Path
    name: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class Workers:
    """Starts `trigflow worker` processes in namespaces; stops them (and what they run) at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Worker] = []

    def spawn(self, server: NetServer, broker: Broker, host: Host, group: str, name: str, *, lease: float = 3.0,
              concurrency: int = 2) -> Worker:  # fmt: skip
        home = self.tmp_path / host.ns / name
        home.mkdir(parents=True, exist_ok=True)
        token = home / "worker-token"  # the operator's copy: the worker never reads the server's data dir
        shutil.copyfile(server.data_dir / "worker-token", token)
        token.chmod(0o600)
        data_dir, log_path = home / "data", home / "worker.out"
        cmd = [sys.executable, "-m", "trigflow.cli", "worker", "--broker", broker.url, "--resource-group", group,
               "--server", f"http://{server.endpoint}", "--token-file", str(token), "--concurrency",
               str(concurrency), "--name", name, "--data-dir", str(data_dir), "--heartbeat", "0.2",
               "--lease", str(lease)]  # fmt: skip
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(host.argv(cmd, hide=(server.data_dir,)), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        worker = Worker(proc, host, data_dir, name, log_path)
        self.started.append(worker)
        return worker

    def ready(self, server: NetServer, *workers: Worker) -> None:
        for w in workers:
            wait_for(lambda w=w: w.proc.poll() is not None or any(  # type: ignore[misc]
                x["name"] == w.name for x in internal(server, "/internal/v1/workers")["workers"]),
                timeout=30, what=f"worker {w.name} registered")  # fmt: skip
            wait_for(lambda w=w: "ready" in w.output() or w.proc.poll() is not None, timeout=30,  # type: ignore[misc]
                     what=f"worker {w.name} consuming")  # fmt: skip
            assert w.proc.poll() is None, w.output()

    def start(self, server: NetServer, broker: Broker, host: Host, group: str, name: str, **kw: Any) -> Worker:
        w = self.spawn(server, broker, host, group, name, **kw)
        self.ready(server, w)
        return w

    def stop_all(self) -> None:
        for w in self.started:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in self.started:
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(w.proc.pid, signal.SIGKILL)
                w.proc.wait()


@pytest.fixture
def workers(net: Network, tmp_path: Path) -> Iterator[Workers]:
    ws = Workers(tmp_path)
    try:
        yield ws
    finally:
        for host in net.hosts:  # a test that cut a link and failed must not leave the next one partitioned
            host.heal()
        ws.stop_all()


@pytest.fixture
def gates(shared: Path) -> Iterator[Callable[[str], Path]]:
    """Files a task waits for; all touched at teardown so nothing a test started outlives it."""
    made: list[Path] = []

    def gate(name: str) -> Path:
        made.append(shared / f"gate-{name}")
        return made[-1]

    yield gate
    for path in made:
        path.touch()


def wait_gate(gate: Path) -> str:
    return f"while [ ! -e {gate} ]; do sleep 0.05; done; "


def uid() -> str:
    return uuid.uuid4().hex[:6]


# --- (1) a chain and a fan-out across two worker hosts and the server ----------------------------------------------


def test_a_chain_and_a_fan_out_cross_two_worker_hosts_and_the_server_with_outputs_and_logs(
    net: Network, broker: Broker, srv: NetServer, workers: Workers
) -> None:
    client, project_id = project(srv)
    group_a, group_b = new_group(client), new_group(client)
    host_a, host_b = net.hosts[0], net.hosts[1]
    wa = workers.spawn(srv, broker, host_a, group_a, f"xa-{uid()}")
    wb = workers.spawn(srv, broker, host_b, group_b, f"xb-{uid()}")
    workers.ready(srv, wa, wb)
    wf = new_workflow(client, project_id, f"xhost_chain_{uid()}")
    token_path = srv.data_dir / "worker-token"
    out = [{"ParamKey": "v", "ParamValue": ""}]

    def code(label: str, value: str) -> str:
        return (f'{WHERE}echo "at $NS in $PWD"; [ -e {token_path} ] && echo "sees the server dir" || '
                f'echo "server dir hidden"; echo "##wedata_output v={value}"')  # fmt: skip

    def step(name: str, group: str | None, upstream: str | None, value: str) -> str:
        sched: dict[str, Any] = {"ParamTaskOutList": out}
        if upstream is not None:
            sched["ParamTaskInList"] = [{"ParamKey": "v", "ParamDesc": "p.x.v", "FromTaskId": upstream,
                                         "FromParamKey": "v"}]  # fmt: skip
        return task(client, project_id, wf, name, code(name, value), group, [upstream] if upstream else None,
                    **sched)  # fmt: skip

    # the chain: server -> A -> B -> server, each step appending where it ran to what it received
    expected_at = {"c0": "server", "c1": host_a.ns, "c2": host_b.ns, "c3": "server"}
    prev = step("c0", None, None, "c0@$NS")
    for name, group in (("c1", group_a), ("c2", group_b), ("c3", None)):
        prev = step(name, group, prev, "${v}," + name + "@$NS")
    # the fan-out: five branches on A, B and the server, each from c3; the join on B reads all five
    fan = {"f0": group_a, "f1": group_b, "f2": None, "f3": group_a, "f4": group_b}
    fan_ids = {name: step(name, g, prev, "${v}|" + name + "@$NS") for name, g in fan.items()}
    expected_at |= {"f0": host_a.ns, "f1": host_b.ns, "f2": "server", "f3": host_a.ns, "f4": host_b.ns}
    join_in = [{"ParamKey": n, "ParamDesc": f"p.{n}.v", "FromTaskId": t, "FromParamKey": "v"}
               for n, t in fan_ids.items()]  # fmt: skip
    task(client, project_id, wf, "join", f'{WHERE}echo "at $NS: ${{f0}} ${{f4}}"', group_b, list(fan_ids.values()),
         ParamTaskInList=join_in)  # fmt: skip
    expected_at["join"] = host_b.ns

    data = wait_run(client, project_id, start_run(client, project_id, wf), timeout=60)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    runs = by_name(data)
    dirs = {host_a.ns: wa.data_dir, host_b.ns: wb.data_dir}
    for name, where in expected_at.items():
        log = task_log(client, project_id, runs[name].ExecutionId)  # GetTaskInstanceLog, from any host
        assert f"at {where}" in log, (name, log)
        if where == "server":
            assert f"in {srv.data_dir}/" in log and "sees the server dir" in log, (name, log)
        elif name != "join":
            # ran in its worker's own data dir, on a host where the server's data dir is not there at all
            assert f"in {dirs[where]}/attempts/" in log and "server dir hidden" in log, (name, log)
            assert str(srv.data_dir) not in log
    chain = f"c0@server,c1@{host_a.ns},c2@{host_b.ns},c3@server"
    assert json.loads(runs["c3"].RunParams) == {"v": f"c0@server,c1@{host_a.ns},c2@{host_b.ns}"}
    assert json.loads(runs["join"].RunParams) == {n: f"{chain}|{n}@{expected_at[n]}" for n in fan}
    join_log = task_log(client, project_id, runs["join"].ExecutionId)
    assert f"at {host_b.ns}: {chain}|f0@{host_a.ns} {chain}|f4@{host_b.ns}" in join_log
    # each worker ran exactly its group's tasks: 3 on A (c1 f0 f3), 4 on B (c2 f1 f4 join)
    assert wa.output().count("reported: exit 0") == 3, wa.output()
    assert wb.output().count("reported: exit 0") == 4, wb.output()


# --- (2) a worker partitioned from the server and the broker -------------------------------------------------------


def test_a_partitioned_worker_kills_its_attempt_before_the_server_retries_it_on_another_host(
    net: Network, broker: Broker, srv: NetServer, workers: Workers, shared: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    host_a, host_b = net.hosts[0], net.hosts[1]
    first = workers.start(srv, broker, host_a, group, f"xp1-{uid()}", lease=WORKER_LEASE)
    wf = new_workflow(client, project_id, f"xhost_part_{uid()}")
    trace, pidfile = shared / "p.trace", shared / "p.pid"
    stamp = f'"$NS $(date +%s.%N)" >> {trace}'
    # the kill may deliver SIGTERM twice (process group, then the attempt's processes by environment): the
    # trap ignores the second one so the attempt writes one end line
    code = (f"{WHERE}echo start {stamp}; trap 'trap \"\" TERM; echo end {stamp}; exit 143' TERM; "
            f'if [ "$NS" = {host_a.ns} ]; then echo $$ > {pidfile}; while true; do sleep 0.05; done; fi; '
            'echo "done on $NS"')  # fmt: skip
    task(client, project_id, wf, "t", code, group, MaxRetryNumber=1, RetryWaitMinute=0)
    run_id = start_run(client, project_id, wf)
    pid = _pid(pidfile)
    workers.start(srv, broker, host_b, group, f"xp2-{uid()}", lease=WORKER_LEASE)
    cut_at, srv_log_at = time.monotonic(), len(srv.output())
    host_a.cut()  # host A loses the server and the broker; its attempt is still running
    try:
        data = wait_run(client, project_id, run_id, timeout=SERVER_LEASE + 20)
        took = time.monotonic() - cut_at
        assert not _alive(pid)
        assert "killing attempt" in first.output()  # the worker killed it itself, with no server to tell it
    finally:
        host_a.heal()
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    lines = [line.split() for line in trace.read_text().splitlines()]
    assert [(e, ns) for e, ns, _ in lines] == [("start", host_a.ns), ("end", host_a.ns), ("start", host_b.ns)], lines
    ended_a, started_b = float(lines[1][2]), float(lines[2][2])
    assert ended_a < started_b, f"the retry started {ended_a - started_b:.2f} s before the cut-off attempt ended"
    assert f"done on {host_b.ns}" in task_log(client, project_id, data.TriggerTaskRuns[0].ExecutionId)
    # RabbitMQ pushes messages to consumers: it may hand the retry's message to host A's consumer, which has a
    # free prefetch slot and whose connection the broker still holds open (with Celery's 10 s AMQP heartbeat it
    # notices a dead peer after 10-20 s); then the retry starts on B from the C4 re-publish a lease later, and
    # the copy A gets once healed is refused by the fence (the trace above: nothing ran twice). A Redis
    # consumer pulls (BRPOP, 1 s at a time): a cut-off one takes nothing. With the production lease (30 s) the
    # broker drops A's connection, and requeues what it pushed there, before the retry is sent.
    republished = len(re.findall(r"attempt \S+ not started", srv.output()[srv_log_at:]))
    print(f"partition ({broker.kind}): retry done {took:.2f} s after the cut; gap between the attempts "
          f"{started_b - ended_a:.2f} s; C4 re-publishes {republished}")  # fmt: skip
    # the healed worker comes back (heartbeats again); its late report changes nothing
    wait_for(lambda: any(x["name"] == first.name for x in internal(srv, "/internal/v1/workers")["workers"]),
             timeout=20, what="the healed worker heartbeating again")  # fmt: skip
    after = get_run(client, project_id, run_id)
    assert after.TriggerWorkflowRun.ExecutionState == "SUCCESS" and len(trace.read_text().splitlines()) == 3


# --- (3) a worker killed with kill -9 -----------------------------------------------------------------------------


def test_a_worker_killed_with_sigkill_has_its_attempt_retried_on_another_host(
    net: Network, broker: Broker, srv: NetServer, workers: Workers, gates: Callable[[str], Path], shared: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    host_a, host_b = net.hosts[0], net.hosts[2]
    first = workers.start(srv, broker, host_a, group, f"xk1-{uid()}")
    wf = new_workflow(client, project_id, f"xhost_kill_{uid()}")
    trace, pidfile, gate = shared / "k.trace", shared / "k.pid", gates("k")
    code = (f'{WHERE}echo "$NS" >> {trace}; if [ "$NS" = {host_a.ns} ]; then echo $$ > {pidfile}; '
            f'{wait_gate(gate)}fi; echo "done on $NS"')  # fmt: skip
    task(client, project_id, wf, "t", code, group, MaxRetryNumber=1, RetryWaitMinute=0)
    run_id = start_run(client, project_id, wf)
    orphan = _pid(pidfile)
    second = workers.start(srv, broker, host_b, group, f"xk2-{uid()}")
    killed_at = time.monotonic()
    first.proc.send_signal(signal.SIGKILL)  # the worker process itself: ip netns exec, unshare and sh exec'd it
    first.proc.wait()
    data = wait_run(client, project_id, run_id, timeout=SERVER_LEASE + 15)
    took = time.monotonic() - killed_at
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert trace.read_text().split() == [host_a.ns, host_b.ns]
    assert f"done on {host_b.ns}" in task_log(client, project_id, data.TriggerTaskRuns[0].ExecutionId)
    assert "reported: exit 0" in second.output()
    print(f"kill -9 of a worker -> retry done on another host {took:.2f} s later (lease {SERVER_LEASE} s)")
    # On main the dead worker's attempt runs on in its own session (docs/workers.md) until a worker starts
    # again on that host's data dir and sweeps it; with a guard that kills it when its worker dies (branch
    # h/celery2) it is gone already. Either way a worker started again on host A leaves nothing running.
    print(f"the orphan on host A {'outlived' if _alive(orphan) else 'died with'} its worker")
    again = workers.start(srv, broker, host_a, group, first.name)
    assert again.data_dir == first.data_dir
    wait_for(lambda: not _alive(orphan), timeout=15, what="the orphan gone once a worker runs on its data dir")
    assert not gate.exists()


# --- (4) the broker killed with -9 and restarted ------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_broker(kind: str, net: Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The broker the restart tests kill, not the module's `broker` (its server and workers never see a restart);
    shared by the restart tests, each on groups (queues) of its own: a RabbitMQ node takes ~5 s to start."""
    b = make_broker(kind, net.gateway, net.free_port(), tmp_path_factory.mktemp(f"own-broker-{kind}"))
    b.start()
    yield b
    b.kill()


@pytest.fixture(scope="module")
def own_server(net: Network, own_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetServer]:
    data_dir = tmp_path_factory.mktemp("own-server")
    server = start_server_on(net.gateway, net.free_port(), data_dir, server_args(own_broker))
    yield server
    server.stop()


def _restart(broker: Broker) -> None:
    """kill -9 and start again. Redis here (--save '', no AOF) comes back holding no message at all; RabbitMQ
    comes back on the same node dir with its durable queues and their persistent messages (Celery declares its
    queues durable and publishes persistent): what it had delivered and not seen acknowledged is ready again."""
    broker.kill()
    broker.start()


def _on_disk(broker: Broker, exec_ids: list[str]) -> None:
    """RabbitMQ: wait until the messages of these attempts (their Celery task ids start with the execution id)
    are written to the queue's files, the point from which a kill -9 keeps them. Measured without this wait: a
    kill 40 ms after the publish lost both messages of a running pair (nothing was redelivered), which is
    RabbitMQ's contract without publisher confirms, not a loss of trigflow's (C4 covers a message lost before it
    started). Redis here keeps nothing, so there is nothing to wait for."""
    if isinstance(broker, RabbitBroker):
        wait_for(lambda: all(broker.written(e) for e in exec_ids), timeout=10, what="the messages on the node's disk")


def _exec_id(client: Any, project_id: str, run_id: str) -> str:
    return str(get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId)


def _refusals(ws: list[Worker]) -> int:
    return sum(w.output().count("refused by the server") for w in ws)


def _reconnected(broker: Broker, *ws: Worker) -> None:
    """RabbitMQ: every worker's Celery consumer is connected again (its first connection, then the one after the
    restart), waited for before the gated attempts end. Celery retries after 2, 4, 6... s and the node takes ~5 s
    to start, and a worker that reports free slots while it has no connection is, for the server, one whose
    message was lost (C4) and then one that does not consume (C6): with no supervisor here to restart it, that
    would be the test's doing, not the broker's. Redis: the worker logs nothing on a Redis restart (kombu's
    poll reconnects by itself) and the restarted redis-server answers within milliseconds."""
    if not isinstance(broker, RabbitBroker):
        return
    for w in ws:
        wait_for(lambda w=w: w.output().count("Connected to ") >= 2, timeout=30,  # type: ignore[misc]
                 what=f"worker {w.name} reconnected to the broker")  # fmt: skip


def test_attempts_running_when_the_broker_restarts_finish_once_and_new_ones_run(
    kind: str, net: Network, own_broker: Broker, own_server: NetServer, workers: Workers,
    gates: Callable[[str], Path], shared: Path,
) -> None:  # fmt: skip
    """Both attempts run (one per one-slot worker, their messages delivered and unacked) when the broker is killed
    with -9 and restarted. Redis: the unacked messages are gone with it. RabbitMQ: both come back ready (once
    written: `_on_disk`) and are delivered again (to whichever worker has room) while or after their attempts
    run: the start fence refuses both copies. Either way each attempt ran once and reported over HTTP, and new
    work goes through."""
    client, project_id = project(own_server)
    group = new_group(client)
    ws = [workers.spawn(own_server, own_broker, h, group, f"xr{i}-{uid()}", concurrency=1)
          for i, h in enumerate(net.hosts[:2])]  # fmt: skip
    workers.ready(own_server, *ws)
    wf = new_workflow(client, project_id, f"xhost_broker_{uid()}")
    trace, gate = shared / "r.trace", gates("r")
    for name in ("r1", "r2"):
        task(client, project_id, wf, name, f'{WHERE}echo "{name} $NS" >> {trace}; {wait_gate(gate)}', group)
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: trace.exists() and len(trace.read_text().splitlines()) == 2, what="both running")
    _on_disk(own_broker, [t.ExecutionId for t in get_run(client, project_id, run_id).TriggerTaskRuns])
    _restart(own_broker)
    _reconnected(own_broker, *ws)
    gate.touch()
    data = wait_run(client, project_id, run_id, timeout=30)
    assert task_states(data) == {"r1": "SUCCESS", "r2": "SUCCESS"}
    assert sorted(line.split()[1] for line in trace.read_text().splitlines()) == sorted(h.ns for h in net.hosts[:2])
    # the server and both workers reconnected: a new run goes through the restarted broker
    wf2 = new_workflow(client, project_id, f"xhost_broker2_{uid()}")
    task(client, project_id, wf2, "later", f'{WHERE}echo "ran on $NS"', group)
    later = wait_run(client, project_id, start_run(client, project_id, wf2), timeout=30)
    assert later.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    assert "ran on tfn" in task_log(client, project_id, later.TriggerTaskRuns[0].ExecutionId)
    if kind == "rabbitmq":  # the two redelivered copies, each refused (a worker is free again by now)
        wait_for(lambda: _refusals(ws) == 2, timeout=15, what="both redelivered messages refused by the fence")
    else:
        assert _refusals(ws) == 0  # nothing came back: Redis lost the unacked messages
    assert len(trace.read_text().splitlines()) == 2  # neither copy ran anything


def test_an_attempt_waiting_in_the_broker_when_it_restarts_still_runs_once(
    kind: str, net: Network, own_broker: Broker, own_server: NetServer, workers: Workers,
    gates: Callable[[str], Path], shared: Path,
) -> None:  # fmt: skip
    """A group sends only as many attempts as its live workers have slots, so a message waits in the broker when
    a worker the server still counts live is gone: two one-slot workers, one runs `busy`, the other is killed
    with -9 and `queued` is sent within the server's lease. Then the broker is killed with -9 and restarted.
    Redis: the message is gone; the server re-publishes it (C4) once the free worker reports free slots and
    it runs once. RabbitMQ: the message survives the restart (durable queue, persistent message) and is taken
    by the worker once `busy` ends; it runs once."""
    from trigflow.executors.celery_app import queue_name

    client, project_id = project(own_server)
    group = new_group(client)
    ws = {h.ns: workers.spawn(own_server, own_broker, h, group, f"xq{i}-{uid()}", concurrency=1)
          for i, h in enumerate(net.hosts[:2])}  # fmt: skip
    workers.ready(own_server, *ws.values())
    trace, gate = shared / "q.trace", gates("q")
    busy_wf, queued_wf = (new_workflow(client, project_id, f"xhost_{n}_{uid()}") for n in ("busy", "queued"))
    task(client, project_id, busy_wf, "busy", f'{WHERE}echo "busy $NS" >> {trace}; {wait_gate(gate)}', group)
    task(client, project_id, queued_wf, "queued", f'{WHERE}echo "queued $NS" >> {trace}', group)
    busy_run = start_run(client, project_id, busy_wf)
    busy_at = wait_for(lambda: trace.exists() and trace.read_text().split()[1:], what="busy running")[0]
    (idle,) = (w for ns, w in ws.items() if ns != busy_at)
    idle.proc.send_signal(signal.SIGKILL)  # live for the server until its lease: the group still has a free slot
    idle.proc.wait()
    queued_run = start_run(client, project_id, queued_wf)
    wait_run(client, project_id, queued_run, states={"RUNNING"}, timeout=SERVER_LEASE)  # sent within the lease
    wait_for(lambda: own_broker.queued(queue_name(group)) == 1, what="the message waiting in the broker")
    _on_disk(own_broker, [_exec_id(client, project_id, r) for r in (busy_run, queued_run)])
    _restart(own_broker)
    worker = ws[busy_at]
    _reconnected(own_broker, worker)
    if isinstance(own_broker, RabbitBroker):
        # Both messages came back: `busy`'s (delivered and unacked at the kill: redelivered, and held by its
        # worker, whose one slot `busy` still fills) and `queued`'s, ready. Nothing is acked while `busy` runs.
        assert own_broker.held(queue_name(group)) == 2
    else:
        assert own_broker.queued(queue_name(group)) == 0  # the message is gone with the broker
    gate.touch()
    assert wait_run(client, project_id, busy_run).TriggerWorkflowRun.ExecutionState == "SUCCESS"
    # what fails on main with Redis: `queued` stays RUNNING although the worker that ran `busy` is free (C4)
    data = wait_run(client, project_id, queued_run, timeout=SERVER_LEASE + 7)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
    assert sorted(trace.read_text().splitlines()) == [f"busy {busy_at}", f"queued {busy_at}"]  # each ran once
    # Every copy that reached the worker ran once or was refused: `busy`'s redelivered copy (RabbitMQ), and a C4
    # re-publish of `queued` beyond the one copy that ran. Redis lost `queued`'s message, so the server must have
    # re-published it; RabbitMQ kept it, and the worker takes it as soon as `busy` ends, before the two idle
    # heartbeats a re-publish needs (it may still happen on a slow machine: then its copy is refused too).
    queued_id = _exec_id(client, project_id, queued_run)
    republished = len(re.findall(rf"attempt {queued_id}\.\S+ not started", own_server.output()))
    if kind == "rabbitmq":
        expected = 1 + republished  # busy's copy, and every re-published copy of `queued`
    else:
        assert republished >= 1, own_server.output()[-3000:]
        expected = republished - 1  # the first re-published copy is the one that ran
    wait_for(lambda: _refusals([worker]) >= expected, timeout=10, what=f"{expected} copies refused by the fence")
    assert _refusals([worker]) == expected, worker.output()[-3000:]
    print(f"{kind}: `queued` re-published {republished} time(s), {expected} copies refused")


# --- (5) the server killed with SIGKILL and restarted while remote attempts run and finish -------------------------


def test_a_server_sigkill_and_restart_records_remote_attempts_that_ran_meanwhile_without_rerunning_them(
    net: Network, broker: Broker, workers: Workers, gates: Callable[[str], Path], shared: Path, tmp_path: Path
) -> None:
    # Both leases must outlast the restart (docs/workers.md): 20 s here. A worker may kill its attempts once the
    # server's lease minus the kill grace has passed without a report (branch h/celery2), so the server's too.
    data_dir, port, args = tmp_path / "server", net.free_port(), server_args(broker, lease=20)
    server = start_server_on(net.gateway, port, data_dir, args)
    restarted: NetServer | None = None
    try:
        client, project_id = project(server)
        group_a, group_b = new_group(client), new_group(client)
        wa = workers.spawn(server, broker, net.hosts[0], group_a, f"xs1-{uid()}", lease=20)
        wb = workers.spawn(server, broker, net.hosts[1], group_b, f"xs2-{uid()}", lease=20)
        workers.ready(server, wa, wb)
        wf = new_workflow(client, project_id, f"xhost_srv_{uid()}")
        g_down, g_up, trace = gates("down"), gates("up"), shared / "s.trace"
        pids = {n: shared / f"s-{n}.pid" for n in ("bad", "ok")}

        def gated(name: str, gate: Path, then: str) -> str:
            return f'{WHERE}echo "{name} $NS" >> {trace}; echo $$ > {pids[name]}; {wait_gate(gate)}{then}'

        task(client, project_id, wf, "bad", gated("bad", g_down, "exit 5"), group_a)
        ok = task(client, project_id, wf, "ok", gated("ok", g_up, 'echo "##wedata_output total=42"'), group_b,
                  ParamTaskOutList=[{"ParamKey": "total", "ParamValue": ""}])  # fmt: skip
        task(client, project_id, wf, "after", f'{WHERE}echo "got ${{t}} at $NS"', None, [ok],
             ParamTaskInList=[{"ParamKey": "t", "ParamDesc": "p.ok.total", "FromTaskId": ok, "FromParamKey": "total"}])
        run_id = start_run(client, project_id, wf)
        running = {n: _pid(f) for n, f in pids.items()}
    finally:
        os.kill(server.server_pid, signal.SIGKILL)  # the server process itself, under the keeper (ADR 0005)
        server.stop(signal.SIGKILL)  # and its launcher; the keeper stays
    server.wait_gone()
    g_down.touch()  # `bad` ends on host A while no server runs: its worker buffers the report
    wait_for(lambda: not _alive(running["bad"]), what="bad to end")
    try:
        restarted = start_server_on(net.gateway, port, data_dir, args)
        client, project_id = project(restarted)

        def bad_recorded() -> Any:
            d = get_run(client, project_id, run_id)
            return d if task_states(d)["bad"] == "FAILED" else None

        d = wait_for(bad_recorded, timeout=15, what="bad recorded from the buffered report")
        assert by_name(d)["bad"].ErrorCodeStr == "exit code 5"  # its real exit code, not ExecutorLost
        assert task_states(d)["ok"] == "RUNNING"  # adopted: its worker heartbeats to the new server
        g_up.touch()
        result = wait_run(client, project_id, run_id, timeout=30)
        assert task_states(result) == {"bad": "FAILED", "ok": "SUCCESS", "after": "SUCCESS"}, [
            (t.TaskName, t.ErrorCodeStr) for t in result.TriggerTaskRuns]
        assert "got 42 at server" in task_log(client, project_id, by_name(result)["after"].ExecutionId)
        # each ran once, where it should: nothing was re-run
        assert sorted(trace.read_text().splitlines()) == [f"bad {net.hosts[0].ns}", f"ok {net.hosts[1].ns}"]
    finally:
        workers.stop_all()  # first: a worker holding an unacknowledged report waits for its server on SIGTERM
        if restarted is not None:
            restarted.stop()


# --- (6) the same message delivered twice -------------------------------------------------------------------------


def test_a_duplicate_delivery_across_hosts_is_refused_by_the_fence(
    net: Network, broker: Broker, srv: NetServer, workers: Workers, gates: Callable[[str], Path], shared: Path
) -> None:
    client, project_id = project(srv)
    group = new_group(client)
    # two hosts serve the group: the duplicate may land on either; neither may run it
    ws = [workers.spawn(srv, broker, h, group, f"xd{i}-{uid()}") for i, h in enumerate(net.hosts[1:])]
    workers.ready(srv, *ws)
    wf = new_workflow(client, project_id, f"xhost_dup_{uid()}")
    gate, pidfile, trace = gates("d"), shared / "d.pid", shared / "d.trace"
    task(client, project_id, wf, "held", f'{WHERE}echo "$NS" >> {trace}; echo $$ > {pidfile}; {wait_gate(gate)}',
         group)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    _pid(pidfile)
    exec_id = get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionId
    token = token_of(srv)

    def refusals(tid: str) -> int:
        return sum(w.output().count(f"attempt {tid} refused by the server") for w in ws)

    running_dup, ended_dup = shared / "dup-running", shared / "dup-ended"
    tid = _send_duplicate(srv, broker.url, group, exec_id, running_dup, token)  # the same Celery task id
    wait_for(lambda: refusals(tid) == 1, what="the duplicate refused while the attempt runs")
    gate.touch()
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    _send_duplicate(srv, broker.url, group, exec_id, ended_dup, token)
    wait_for(lambda: refusals(tid) == 2, what="the stale duplicate refused after the attempt ended")
    assert not running_dup.exists() and not ended_dup.exists()
    assert len(trace.read_text().split()) == 1  # it ran once, on one of the two hosts
    assert trace.read_text().split()[0] in {h.ns for h in net.hosts[1:]}


# --- a server bound to a wildcard address: where do its payloads send remote workers? ------------------------------

# A stand-in for any process of any user on a worker host that listens on the loopback port the server uses:
# it records what it is sent and answers 503 ("try the next server").
LISTENER = """
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        with open(out, "a") as f:
            f.write(self.path + " " + self.headers.get("Authorization", "") + "\\n")
        self.send_response(503)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
open(out + ".ready", "w").close()
server.serve_forever()
"""


def test_a_server_on_a_wildcard_address_never_sends_remote_workers_to_their_own_loopback(
    net: Network, broker: Broker, workers: Workers, gates: Callable[[str], Path], shared: Path, tmp_path: Path
) -> None:
    """Found here: without --advertise-url a wildcard bind named http://127.0.0.1:<port> in every payload, a
    worker added it to its servers and, cut off from its configured server, sent its heartbeats and the worker
    token to a listener on its own host's loopback. Such a bind now names no URL (app.default_advertise_urls)."""
    port = free_port()
    server = start_server_on("0.0.0.0", port, tmp_path / "server", server_args(broker), reach=net.gateway)
    host = net.hosts[2]
    capture = shared / "listener.log"
    listener = subprocess.Popen(host.argv([sys.executable, "-c", LISTENER, str(port), str(capture)]),
                                start_new_session=True)  # fmt: skip
    try:
        wait_for(Path(f"{capture}.ready").exists, timeout=15, what="the listener on the worker host's loopback")
        client, project_id = project(server)
        group = new_group(client)
        w = workers.start(server, broker, host, group, f"xw-{uid()}", lease=WORKER_LEASE)
        wf = new_workflow(client, project_id, f"xhost_wild_{uid()}")
        gate, pidfile = gates("w"), shared / "w.pid"
        task(client, project_id, wf, "held", f"echo $$ > {pidfile}; {wait_gate(gate)}", group)
        start_run(client, project_id, wf)
        _pid(pidfile)  # running on the worker, which has read the payload's server list
        host.cut()  # the configured server stops answering: the worker tries every server it knows, for its lease
        try:
            wait_for(lambda: "killing attempt" in w.output(), timeout=15, what="the worker's lease to pass")
        finally:
            host.heal()
        sent = capture.read_text() if capture.exists() else ""
        paths = [line.split()[0] for line in sent.splitlines()]  # the token itself is never printed
        leaked = token_of(server) in sent
        assert not leaked, f"the worker token was sent to the worker host's loopback with {paths}"
        assert not paths, paths
    finally:
        listener.kill()
        listener.wait()
        workers.stop_all()  # first: a worker holding an unacknowledged report waits for its server on SIGTERM
        server.stop()
