"""Worker "hosts" for the cross-host tests (issue 10 point 7): Linux network namespaces on a private bridge.

Each host is a network namespace (`ip netns add`) with one veth pair whose outer end is on a bridge the test
creates; the bridge holds the address the server and the private broker listen on (10.213.<n>.1, a /24 no
address or route of this machine uses). A process started with `Host.argv` runs in that namespace and in its
own mount namespace where the given paths (the server's data dir) are covered by an empty tmpfs: a worker
there shares neither the server's network nor its files. `Host.cut()` takes the outer veth down: the
namespace loses the server and the broker at once, as a host behind a failed link does.

Every name made here starts with `tfn<pid>`; leftovers of a crashed run (a pid no longer alive) are removed
before a new network is made, and names of a live run are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tests.conftest import SECRET_ID, SECRET_KEY, Server, free_port, wait_for

IP = shutil.which("ip") or "/usr/sbin/ip"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
PREFIX = "tfn"
_NAME = re.compile(rf"^{PREFIX}(\d+)[bhvp]\d*$")


def ip(*args: str, check: bool = True) -> str:
    out = subprocess.run([IP, *args], capture_output=True, text=True, timeout=20)
    if check and out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers() -> None:
    """Remove namespaces and links a crashed earlier run left (their pid is gone); a live run's stay."""
    names = [line.split()[0] for line in ip("netns", "list", check=False).splitlines() if line.strip()]
    names += [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link", check=False).splitlines()]
    for name in names:
        m = _NAME.match(name)
        if m is None or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        if name[len(PREFIX) + len(m.group(1))] == "h":
            ip("netns", "del", name, check=False)
        else:
            ip("link", "del", name, check=False)


def _free_subnet() -> int:
    """n such that no address or route of this machine is in 10.213.n.0/24, starting from a pid-based n so
    that two runs at once are unlikely to pick the same one."""
    used = ip("-4", "-o", "addr") + ip("-4", "route")
    start = os.getpid() % 250
    for i in range(250):
        n = (start + i) % 250 + 2
        if f"10.213.{n}." not in used:
            return n
    raise RuntimeError("no free 10.213.n.0/24 subnet")


@dataclass
class Host:
    """One worker host: a network namespace behind the outer veth end `veth`."""

    ns: str
    addr: str
    veth: str

    def argv(self, cmd: list[str], hide: tuple[Path, ...] = ()) -> list[str]:
        """`cmd` run in this namespace, in a mount namespace of its own where each path of `hide` is an empty
        tmpfs (`ip netns exec`, `unshare` and `sh` each exec: the process started is `cmd` itself)."""
        mounts = "".join(f'mount -t tmpfs -o size=64k,mode=000 tfn-hidden "{p}" && ' for p in hide)
        return [IP, "netns", "exec", self.ns, "unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", f'{mounts}exec "$@"', "sh", *cmd]  # fmt: skip

    def cut(self) -> None:
        ip("link", "set", self.veth, "down")

    def heal(self) -> None:
        ip("link", "set", self.veth, "up")


@dataclass
class Network:
    """A bridge at `gateway` on this machine and the hosts behind it."""

    bridge: str
    gateway: str
    hosts: list[Host] = field(default_factory=list)

    @classmethod
    def create(cls, hosts: int) -> Network:
        sweep_leftovers()
        n, pid = _free_subnet(), os.getpid()
        net = cls(f"{PREFIX}{pid}b", f"10.213.{n}.1")
        try:
            ip("link", "add", net.bridge, "type", "bridge")
            ip("addr", "add", f"{net.gateway}/24", "dev", net.bridge)
            ip("link", "set", net.bridge, "up")
            for i in range(hosts):
                host = Host(f"{PREFIX}{pid}h{i}", f"10.213.{n}.{10 + i}", f"{PREFIX}{pid}v{i}")
                inner = f"{PREFIX}{pid}p{i}"
                ip("netns", "add", host.ns)
                net.hosts.append(host)
                ip("link", "add", host.veth, "type", "veth", "peer", "name", inner)
                ip("link", "set", inner, "netns", host.ns)
                ip("link", "set", host.veth, "master", net.bridge)
                ip("link", "set", host.veth, "up")
                ip("-n", host.ns, "addr", "add", f"{host.addr}/24", "dev", inner)
                ip("-n", host.ns, "link", "set", inner, "up")
                ip("-n", host.ns, "link", "set", "lo", "up")
        except BaseException:
            net.close()
            raise
        return net

    def close(self) -> None:
        """Deleting a namespace deletes its veth pair; then the bridge. Tolerates what is already gone."""
        for host in self.hosts:
            ip("netns", "del", host.ns, check=False)
            ip("link", "del", host.veth, check=False)
        ip("link", "del", self.bridge, check=False)

    def free_port(self) -> int:
        with socket.socket() as s:
            s.bind((self.gateway, 0))
            return int(s.getsockname()[1])


def unavailable() -> str | None:
    """Why network namespaces cannot be made here (None when they can)."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if not (Path(IP).exists() and shutil.which("unshare")):
        return "needs iproute2 (`ip`) and util-linux (`unshare`)"
    if not Path(REDIS).exists():
        return "needs redis-server for the private broker"
    probe = f"{PREFIX}{os.getpid()}h99"
    out = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        return f"cannot create a network namespace (needs root / CAP_NET_ADMIN): {out.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


class Broker(Protocol):
    """What the cross-host tests need of a private broker on the bridge address, Redis or RabbitMQ alike."""

    kind: str
    host: str
    port: int

    @property
    def url(self) -> str: ...

    def start(self) -> None:
        """Start the broker (again, on the same state a kill left) and return once it takes connections."""

    def kill(self) -> None:
        """kill -9: the broker gets no chance to save or close anything."""

    def queued(self, queue: str) -> int:
        """Messages ready in `queue` (waiting for a consumer; not those delivered and unacknowledged)."""


@dataclass
class RedisBroker:
    """A private redis-server on the bridge address: only these tests use it, it keeps nothing on disk, so a
    kill -9 and restart is a broker that lost every message it held."""

    host: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    kind: str = "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            argv = [REDIS, "--bind", self.host, "--port", str(self.port), "--save", "", "--appendonly", "no",
                    "--protected-mode", "no"]  # fmt: skip
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_for(answers, timeout=15, what=f"redis-server on {self.host}:{self.port}")

    def queued(self, queue: str) -> int:
        """A Celery queue is a Redis list of that name; delivered messages are in kombu's unacked hash instead."""
        with socket.create_connection((self.host, self.port), timeout=2) as s:
            key = queue.encode()
            s.sendall(b"*2\r\n$4\r\nLLEN\r\n$%d\r\n%s\r\n" % (len(key), key))
            reply = s.recv(64)
        assert reply.startswith(b":"), reply
        return int(reply[1:].split(b"\r\n")[0])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@dataclass
class RabbitBroker:
    """A private RabbitMQ node listening on the bridge address only (the approach of test_celery_consumption.py's
    `private_rabbitmq`: own node name, AMQP and distribution ports, mnesia and log dirs, config files; none of
    /etc/rabbitmq, whose env file names the shared node). Unlike RedisBroker it keeps its state on disk under
    `base`: a kill -9 and `start()` again is the same node recovering its durable queues and persistent
    messages, as a RabbitMQ host that crashed and came back does. `loopback_users = none` lets guest in from
    the worker namespaces; the distribution port stays on loopback (nothing but rabbitmqctl needs it)."""

    host: str
    port: int
    base: Path
    proc: subprocess.Popen[bytes] | None = None
    kind: str = "rabbitmq"
    dist: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}//"

    @property
    def node(self) -> str:
        return f"tfx-{os.getpid()}-{self.port}@localhost"

    def start(self) -> None:
        base = self.base
        base.mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.1 = {self.host}:{self.port}\nloopback_users = none\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "env.conf").write_text("")
        env = {**os.environ, "HOME": str(base), "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
               "RABBITMQ_DIST_PORT": str(self.dist), "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
               "RABBITMQ_MNESIA_BASE": str(base / "mnesia"), "RABBITMQ_LOG_BASE": str(base / "log"),
               "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
               "RABBITMQ_CONF_ENV_FILE": str(base / "env.conf")}  # fmt: skip
        with open(base / "out", "ab") as out:
            self.proc = subprocess.Popen([RABBITMQ_SERVER], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=base,
                                         start_new_session=True)  # fmt: skip

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (base / "out").read_text()[-3000:]
            from kombu import Connection

            with Connection(self.url, connect_timeout=1) as conn:
                conn.connect()
                return True

        wait_for(up, timeout=60, interval=0.1, what=f"RabbitMQ node {self.node} on {self.host}:{self.port}")

    def queued(self, queue: str) -> int:
        """queue_declare(passive) from the root namespace: its message count is the ready messages only."""
        from kombu import Connection

        with Connection(self.url, connect_timeout=2) as conn:
            _, ready, _ = conn.default_channel.queue_declare(queue=queue, passive=True)
            return int(ready)

    def written(self, marker: str) -> bool:
        """Whether `marker` (an execution id, a prefix of the Celery task id in the message) is in the per-queue files
        on disk: the classic queue's index (RabbitMQ 3.10, queues v1), which embeds a message below 4 KiB (the
        payloads here are ~2.4 KiB; a larger one is in the shared store with only its hash in the index, and this
        stays False: the wait then fails rather than pass on a guess). RabbitMQ writes a persistent message there
        on its own schedule (~200 ms, in batches), and only what is written there survives a kill -9: Celery
        publishes without confirms, so nothing waits for it."""
        needle = marker.encode()
        for path in (self.base / "mnesia").glob("*/msg_stores/vhosts/*/queues/**/*"):
            try:
                if path.is_file() and needle in path.read_bytes():
                    return True
            except OSError:
                continue  # rotated away while read
        return False

    def held(self, queue: str) -> int:
        """Messages in `queue`, ready or delivered and not yet acknowledged (AMQP itself tells only the ready)."""
        out = self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages")
        counts = {parts[0]: int(parts[1]) for parts in (line.split() for line in out.splitlines()) if len(parts) == 2}
        assert queue in counts, out
        return counts[queue]

    def ctl(self, *args: str) -> str:
        """rabbitmqctl against this node (its cookie is in the node's HOME)."""
        out = subprocess.run([RABBITMQCTL, "-n", self.node, *args], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "HOME": str(self.base)})  # fmt: skip
        return out.stdout + out.stderr

    def kill(self) -> None:
        """SIGKILL to the node's whole process group (the rabbitmq-server script, beam.smp, erl_child_setup)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def make_broker(kind: str, host: str, port: int, state: Path) -> Broker:
    """A private broker of `kind` ("redis" or "rabbitmq") on host:port, its log/state under `state`."""
    state.mkdir(parents=True, exist_ok=True)
    if kind == "redis":
        return RedisBroker(host, port, state / "redis.out")
    return RabbitBroker(host, port, state / "rabbitmq")


@dataclass
class NetServer(Server):
    """A `trigflow up` bound to the bridge address instead of loopback."""

    host: str = "127.0.0.1"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def start_server_on(host: str, port: int, data_dir: Path, extra: list[str], reach: str | None = None) -> NetServer:
    """`trigflow up --host <bridge address>` (tests.conftest.start_server binds loopback only); `reach` is the
    address clients use when `host` is a wildcard. Plain HTTP beyond loopback makes the server log a warning
    (docs/security.md); it does not refuse."""
    env = {**os.environ, "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
    args = [sys.executable, "-m", "trigflow.cli", "up", "--host", host, "--port", str(port), "--data-dir",
            str(data_dir), "--kill-on-stop", *extra]  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.out"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = NetServer(port, data_dir, proc, log_path, host=reach or host)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"trigflow exited early:\n{server.output()}")
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1) as r:
            return bool(r.status == 200)

    wait_for(healthy, timeout=30, interval=0.05, what="trigflow /healthz")
    return server
