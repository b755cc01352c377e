"""Shared fixtures: a real `trigflow up` process per test session, driven through the official SDK."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SECRET_ID = "AKIDtrigflowtest000000000000000000001"
SECRET_KEY = "trigflowtestsecretkey00000000001"

# The longest files (seconds in one worker under -n 3 --dist loadfile on 2 cores, the machine loaded by
# other work too), handed out first so that none of them starts last and keeps one worker busy after the
# others are done. `make test` passes --no-loadscope-reorder, which keeps this order (xdist would otherwise
# sort the files by their number of tests, and most of these have few). About wall time only: any order passes.
SLOW_FILES_FIRST = (
    "tests/integration/test_celery_workers.py",  # ~180 s: real workers on Redis
    "tests/integration/test_celery_workers_rabbitmq.py",  # ~180 s: the same on RabbitMQ
    "tests/integration/test_celery_consumption.py",  # ~40 s: a private RabbitMQ node (C3), half-open brokers (C6)
    "tests/integration/test_type_semantics.py",  # 100-300 s: every work type, Spark included
    "tests/integration/test_fuzz_actions.py",  # ~140 s (the SQLite half)
    "tests/integration/test_fuzz_actions_postgresql.py",  # ~140 s
    "tests/integration/test_spark_tasks.py",  # 109 s: JVMs
    "tests/integration/test_cross_host.py",  # ~95 s at -n 0: worker hosts in netns, on Redis and RabbitMQ nodes
    "tests/integration/test_tccli.py",  # 90 s
    "tests/integration/test_docs_examples.py",  # 64 s
    "tests/integration/test_hardening_front_door.py",
    "tests/integration/test_cli_client.py",
    "tests/integration/test_hardening_scheduler.py",
    "tests/integration/test_durable_attempts.py",
    "tests/integration/test_visible_state.py",
    "tests/integration/test_standby.py",
    "tests/integration/test_offline_sync.py",
    "tests/unit/test_execution_properties.py",  # 27 s: hypothesis, CPU-bound
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the files of SLOW_FILES_FIRST first (in that order), the rest as collected."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return  # a serial run keeps pytest's own order
    rank = {path: i for i, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest as is


def _worker() -> tuple[int, int]:
    """(index, count) of this pytest-xdist worker; (0, 1) in a serial run."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return (int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0), max(1, count)


def free_port() -> int:
    """A port nothing listens on, for a server the test starts next. Under pytest-xdist the kernel's free
    ports are shared out among the workers (worker k keeps only ports with port // 2 % count == k; the
    kernel's bind(0) favours one parity, hence the // 2): between this call and the server's own bind,
    another worker asking at the same moment can be handed the same port, and one of the two servers would
    fail to start. The sockets tried are held until the choice, so the kernel offers a new one each time."""
    index, count = _worker()
    tried: list[socket.socket] = []
    try:
        while True:
            s = socket.socket()
            tried.append(s)
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
            if port // 2 % count == index:
                return port
    finally:
        for s in tried:
            s.close()


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, interval: float = 0.01, what: str = "condition") -> Any:
    """Poll `cond` until it returns a truthy value; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except Exception as e:  # the server may still be starting
            last_exc = e
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else "")
    )


@dataclass
class Server:
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    db_url: str | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def server_pid(self) -> int:
        """The process that serves the API and runs the scheduler. `proc` is the launcher: with the keeper
        (ADR 0005) the server is its grandchild (launcher -> keeper -> server); with --no-keeper, itself."""

        def parent(pid: int) -> int | None:
            try:
                return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                return None

        def grandchild() -> int | None:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and (p := parent(int(entry.name))) is not None and parent(p) == self.proc.pid:
                    return int(entry.name)
            return None

        if "--no-keeper" in (self.proc.args or []):  # type: ignore[operator]
            return self.proc.pid
        return int(wait_for(grandchild, timeout=10, what="the server process under the keeper"))

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_gone(self, timeout: float = 15) -> None:
        """After a SIGKILL of `trigflow up`: the launcher has exited and the server process, which ends by itself
        when its launcher dies, no longer answers (a restart on the same port must not reach the dying one)."""
        wait_for(lambda: self.proc.poll() is not None, what="the launcher gone")

        def down() -> bool:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://{self.endpoint}/healthz", timeout=0.5).close()
                return False
            return True

        wait_for(down, timeout=timeout, what="the server gone")

    def stop(self, sig: int = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode


def start_server(
    data_dir: Path,
    *,
    db_url: str | None = None,
    extra: list[str] | None = None,
    port: int | None = None,
    kill_on_stop: bool = True,
    **popen: Any,
) -> Server:
    """A real `trigflow up`. Unlike the default, a test server kills its tasks when stopped (`kill_on_stop`),
    so no test leaves a process behind; a test of what survives a stop says so."""
    port = port or free_port()
    env = {**os.environ, "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
    args = [sys.executable, "-m", "trigflow.cli", "up", "--port", str(port), "--data-dir", str(data_dir)]
    if kill_on_stop:
        args.append("--kill-on-stop")
    if db_url:
        args += ["--db", db_url]
    args += extra or []
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.out"
    out = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, **popen)
    out.close()
    server = Server(port, data_dir, proc, log_path, db_url)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"trigflow exited early:\n{server.output()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200

    wait_for(healthy, timeout=30, interval=0.05, what="trigflow /healthz")
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("trigflow"),
        extra=["--rate-limit", "1000", "--kill-grace", "1", "--minute-seconds", "0.2"],
    )
    yield srv
    srv.stop()


def make_client(
    endpoint: str, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY, region: str = "ap-guangzhou", **http: Any
) -> Any:
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.wedata.v20250806 import wedata_client

    hp = HttpProfile(endpoint=endpoint, protocol="http", **http)
    return wedata_client.WedataClient(
        credential.Credential(secret_id, secret_key), region, ClientProfile(httpProfile=hp)
    )


@pytest.fixture(scope="session")
def client(server: Server) -> Any:
    return make_client(server.endpoint)


@pytest.fixture(scope="session")
def project_id(client: Any) -> str:
    from tencentcloud.wedata.v20250806 import models

    resp = client.ListProjects(models.ListProjectsRequest())
    return str(resp.Data.Items[0].ProjectId)


PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A throw-away PostgreSQL schema (on the local server, database `test`) and a URL that uses it."""
    import uuid

    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as e:
        pytest.fail(
            "PostgreSQL must run on 127.0.0.1:5432 (db 'test', trust auth); start it with "
            f"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`: {e}"
        )
    try:
        yield f"{PG}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
