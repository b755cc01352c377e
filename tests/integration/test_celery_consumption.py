"""Celery consumption traps for real (ANCHORS §1.3 C3 and C6, docs/workers.md, ADR 0006).

C3: RabbitMQ's `consumer_timeout` closes the channel of a consumer that holds an unacked message too long
(PRECONDITION_FAILED) and requeues the message. Tested on a private RabbitMQ node of the test's own (the shared
one's config must not change under the tests running against it in parallel) with `consumer_timeout = 2000`.

C6: a worker whose heartbeat goes on but whose consumer takes nothing. Reproduced with a real half-open broker
connection: the worker reaches the broker through a TCP forwarder of the test's that, on `freeze()`, keeps the
worker's established connections open but drops every byte on them (what a NAT or firewall that lost the
connection's state does); the worker's HTTP heartbeat to the server is not affected. Celery notices on its own only
after 20-50 s (AMQP heartbeats; kombu's stale-BRPOP check); the server notices within two leases.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, start_server, wait_for
from tests.integration import test_celery_workers as celery_tests
from tests.integration.helpers import new_workflow, start_run, task_states, wait_run
from tests.integration.test_celery_workers import (
    BROKERS,
    Worker,
    internal,
    new_group,
    project,
    server_args,
    task,
    task_log,
)

workers = celery_tests.workers  # fixtures: real `trigflow worker` processes, gate files
gates = celery_tests.gates

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


@pytest.fixture
def private_rabbitmq(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """`start(consumer_timeout_ms)`: a RabbitMQ node of this test's own (own node name, ports, mnesia and log
    dirs, config), so its config can differ from the shared node's; stopped at teardown. Skips only if the
    node cannot start here at all."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(consumer_timeout_ms: int) -> str:
        if not os.access(RABBITMQ_SERVER, os.X_OK):
            pytest.skip(f"no {RABBITMQ_SERVER}: cannot start a private RabbitMQ node")
        base = tmp_path / "rabbitmq"
        base.mkdir()
        port, dist = free_port(), free_port()
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
                                            f"consumer_timeout = {consumer_timeout_ms}\n")  # fmt: skip
        # The consumer timeout is evaluated on the channel's tick (60 s by default): tick every 200 ms.
        (base / "advanced.config").write_text("[{rabbit, [{channel_tick_interval, 200}]}].\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "env.conf").write_text("")  # not /etc/rabbitmq/rabbitmq-env.conf: its NODENAME is the shared node's
        env = {**os.environ, "HOME": str(base), "RABBITMQ_NODENAME": f"tf-c3-{os.getpid()}-{port}@localhost",
               "RABBITMQ_NODE_PORT": str(port), "RABBITMQ_DIST_PORT": str(dist),
               "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
               "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
               "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
               "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf")}  # fmt: skip
        out = open(base / "out", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen([RABBITMQ_SERVER], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=base,
                                start_new_session=True)  # fmt: skip
        out.close()
        procs.append(proc)
        url = f"amqp://guest:guest@127.0.0.1:{port}//"

        def up() -> bool:
            if proc.poll() is not None:
                pytest.skip(f"a private RabbitMQ node did not start: {(base / 'out').read_text()[-2000:]}")
            from kombu import Connection

            with Connection(url, connect_timeout=1) as conn:
                conn.connect()
                return True

        wait_for(up, timeout=60, interval=0.2, what="the private RabbitMQ node up")
        return url

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_c3_rabbitmq_consumer_timeout_neither_reruns_a_long_attempt_nor_stops_its_worker(
    private_rabbitmq: Callable[..., str], workers: Callable[..., Worker], tmp_path: Path
) -> None:
    """An attempt runs 6 s on a node whose consumer_timeout is 2 s: the broker closes the worker's channel
    (PRECONDITION_FAILED) and requeues the message, every 2 s while the attempt runs. Before
    `broker_channel_error_retry` Celery 5.7 took that for an unrecoverable error and stopped the whole worker
    (exit status 0, so not even a supervisor restarted it); now it reconnects. The attempt runs once and ends
    SUCCESS with its own output, every redelivered copy is refused by the fence, and the worker goes on consuming."""
    from tests.integration.helpers import get_run
    from tests.integration.test_celery_workers import _waiting

    url = private_rabbitmq(2000)
    server = start_server(tmp_path / "server", extra=server_args(url, lease=10))
    try:
        client, project_id = project(server)
        group = new_group(client)
        w = workers(server, url, group, f"wc3-{uuid.uuid4().hex[:6]}", concurrency=1, lease=10)
        ledger = tmp_path / "c3.ledger"
        wf = new_workflow(client, project_id, f"celery_c3_{uuid.uuid4().hex[:6]}")
        task(client, project_id, wf, "long", f'echo "start $TRIGFLOW_WORKER_NAME" >> {ledger}; sleep 6; '
             f'echo end >> {ledger}; echo "long done after 6 s"', group)  # fmt: skip
        run_id = start_run(client, project_id, wf)
        data = wait_run(client, project_id, run_id, timeout=60)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
        exec_id = data.TriggerTaskRuns[0].ExecutionId
        assert "long done after 6 s" in task_log(client, project_id, exec_id)
        out = w.output()
        assert "PRECONDITION_FAILED - delivery acknowledgement on channel" in out, out[-3000:]
        wait_for(lambda: f"attempt {exec_id}.0.0 refused by the server" in w.output(), what="a copy refused")
        assert "Unrecoverable error" not in w.output() and w.proc.poll() is None, w.output()[-3000:]
        # The worker still consumes: the next attempt of the group runs on it.
        after = new_workflow(client, project_id, f"celery_c3b_{uuid.uuid4().hex[:6]}")
        task(client, project_id, after, "after", f'echo "after $TRIGFLOW_WORKER_NAME" >> {ledger}', group)
        run2 = start_run(client, project_id, after)
        assert wait_run(client, project_id, run2, timeout=30).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert ledger.read_text().split("\n") == [f"start {w.name}", "end", f"after {w.name}", ""]
        assert get_run(client, project_id, run_id).TriggerTaskRuns[0].ExecutionState == "SUCCESS"
        wait_for(lambda: _waiting(url, group) == 0, what="no copy left in the queue")
        refused = w.output().count(f"attempt {exec_id}.0.0 refused by the server")
        print(f"C3: {w.output().count('PRECONDITION_FAILED - delivery')} channel closures, {refused} copies refused")
    finally:
        server.stop()


class FreezableProxy:
    """A TCP forwarder to the broker. `freeze()` turns every connection open at that moment into a half-open
    one: both ends stay connected, every byte either sends is dropped (what a NAT or firewall that lost the
    connection's state does). Connections made later are forwarded normally."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._frozen = threading.Event()  # the connections made so far
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                return
            self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, self._frozen), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, frozen: threading.Event) -> None:
        try:
            while data := src.recv(65536):
                if not frozen.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        if not frozen.is_set():
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def freeze(self) -> None:
        self._frozen.set()
        self._frozen = threading.Event()

    def close(self) -> None:
        self._listener.close()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.close()


BROKER_PORTS = {"redis": 6379, "rabbitmq": 5672}


def _via(broker: str, port: int) -> str:
    """The broker URL, through a proxy listening on `port`."""
    for real in BROKER_PORTS.values():
        broker = broker.replace(f":{real}/", f":{port}/")
    return broker


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_c6_a_worker_that_stops_consuming_is_flagged_drained_and_exits_for_its_supervisor(
    kind: str, workers: Callable[..., Worker], gates: Callable[[str], Path], tmp_path: Path
) -> None:
    """Worker A (2 slots) reaches the broker through a FreezableProxy and runs a gated attempt; the proxy then
    freezes A's broker connection (A's heartbeat to the server goes on: A reports one free slot). A second task
    is sent: A never takes it. The server re-publishes it a lease later (C4), and when that copy too is not
    started a lease later while A still reports a free slot, it flags A: A's slots leave the group's capacity,
    the internal endpoint lists A as not consuming, A logs an error, lets its running attempt finish and report,
    then exits 75. The task then runs exactly once, on worker B started in A's place (the supervisor's restart);
    nothing ran twice."""
    from tests.integration.helpers import call

    broker = BROKERS[kind]
    proxy = FreezableProxy(BROKER_PORTS[kind])
    lease = 3.0
    server = start_server(tmp_path / "server", extra=server_args(broker, lease=lease))
    try:
        client, project_id = project(server)
        group = new_group(client)
        a = workers(server, _via(broker, proxy.port), group, f"wa-{uuid.uuid4().hex[:6]}", concurrency=2)
        gate, pidfile, ledger = gates("c6"), tmp_path / "c6.pid", tmp_path / "c6.ledger"
        busy = new_workflow(client, project_id, f"celery_c6b_{uuid.uuid4().hex[:6]}")
        task(client, project_id, busy, "busy", f'echo "busy $TRIGFLOW_WORKER_NAME" >> {ledger}; '
             f'echo $$ > {pidfile}; while [ ! -e {gate} ]; do sleep 0.05; done', group)  # fmt: skip
        busy_run = start_run(client, project_id, busy)
        wait_for(pidfile.exists, what="the busy attempt running on A")
        proxy.freeze()
        frozen_at = time.monotonic()
        queued = new_workflow(client, project_id, f"celery_c6q_{uuid.uuid4().hex[:6]}")
        task(client, project_id, queued, "queued", f'echo "queued $TRIGFLOW_WORKER_NAME" >> {ledger}', group)
        queued_run = start_run(client, project_id, queued)

        def flagged() -> dict[str, Any] | None:
            listed = {w["name"]: w for w in internal(server, "/internal/v1/workers")["workers"]}
            return listed[a.name] if a.name in listed and not listed[a.name]["consuming"] else None

        info = wait_for(flagged, timeout=4 * lease + 10, what="A flagged as not consuming")
        detected = time.monotonic() - frozen_at
        assert "takes nothing" in info["stalled"], info
        assert f"worker {info['worker_id']} ({a.name}, group {group}) does not consume its queue" in server.output()
        metrics = call(client, "GetResourceGroupMetrics", {"ResourceGroupId": group})
        # A's slots no longer count: the group has no capacity and no live worker (A was its only one)
        assert metrics.MaximumConcurrency == 0 and metrics.Status == 2, metrics  # 2: abnormal
        wait_for(lambda: "does not consume its queue" in a.output(), what="A told so on its heartbeat")
        assert a.proc.poll() is None, "A drains: its running attempt is not killed"
        gate.touch()
        assert wait_run(client, project_id, busy_run, timeout=30).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        wait_for(lambda: a.proc.poll() is not None, timeout=30, what="A exiting once drained")
        assert a.proc.returncode == 75, a.output()[-3000:]
        assert "drained: exiting with status 75" in a.output()
        b = workers(server, broker, group, f"wb-{uuid.uuid4().hex[:6]}", concurrency=2)
        data = wait_run(client, project_id, queued_run, timeout=4 * lease + 20)
        assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", task_states(data)
        assert ledger.read_text().split("\n") == [f"busy {a.name}", f"queued {b.name}", ""]
        print(f"C6 on {kind}: flagged {detected:.1f} s after the freeze (lease {lease:g} s, heartbeat 0.2 s)")
    finally:
        proxy.close()
        server.stop()
