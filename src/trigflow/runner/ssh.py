"""The SSH task runner (TaskTypeId 133): the task's bash script on the data source's host, over asyncssh.

`run(workload, log, outputs_path, cancel)` (the signature of `trigflow.runner.base`):

* **Connect** to the workload's `dataSource` (`host`, `port`, `username`, `password` and/or `private_key`
  [+ `passphrase`]) with asyncssh, using nothing of the worker's own SSH setup (no agent, no ~/.ssh keys, no
  ~/.ssh/config), so an attempt authenticates exactly as its data source says.
* **Host key.** With `options.hostKey` (public key lines) and/or `options.knownHosts` (known_hosts text) the
  server's key must match, else the attempt fails before anything is sent. Without either, any key is
  accepted and its SHA256 fingerprint is logged at every attempt, so it can be pinned (docs/task-types.md).
* **Run** one exec channel: `exec bash -s`, reading the program of `trigflow.domain.ssh_remote.program`, which
  writes the script and its variables into a 0700 directory on the host and runs the script as a job in a
  process group of its own. The remote pgid is logged. stdout and stderr go to the log line by line as they
  arrive, with the data source's secrets redacted. The attempt's exit code is the remote script's.
* **Outputs.** The remote `$WEDATA_OUTPUT_FILE` is read back on a second channel when the script has exited
  (and the remote directory removed) and appended to the local outputs file; `##wedata_output` lines reach
  the log like any output.
* **Cancel** (SIGTERM: a kill or an execution timeout): a second channel TERMs the remote process group, with
  a detached KILL after `KILL_GRACE_SECONDS`; the runner waits briefly for the script's exit and returns 143.
  If the runner dies instead (SIGKILL, a dropped connection), the remote watcher sees the channel's stdin end
  and does the same.
* **Errors.** No connection, refused authentication or an untrusted host key exit 255 (as `ssh` does) with one
  `[trigflow] cannot connect ...` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

import asyncssh

from trigflow.domain import ssh_remote as remote
from trigflow.runner.base import KEY_CODE, KEY_CONFIG, KEY_DATA_SOURCE, redact, secrets_of

__all__ = ["EXIT_CANCELLED", "EXIT_CONNECT", "run"]

EXIT_CONNECT = 255  # ssh's own code for "could not connect or authenticate"
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell task killed by SIGTERM reports
CONFIG_ENV = "env"
CONNECT_TIMEOUT_S = 30.0
KEEPALIVE_S = 30.0
# The environment bounds of a local task (service/attempt_params.py ENV_VALUE_BYTES, ENV_TOTAL_BYTES).
ENV_VALUE_BYTES = 32 * 1024
ENV_TOTAL_BYTES = 256 * 1024
_DRAIN_S = 0.5  # after the exit status: how long output still in flight may take to arrive
_CANCEL_WAIT_S = 0.5  # after the kill: how long to wait for the script's exit before returning
_CANCEL_POLL_S = 0.05
_COMMAND_TIMEOUT_S = 10.0
_MAX_PARTIAL = 64 * 1024  # a line longer than this reaches the log in pieces


class _Log:
    """The attempt's log: complete lines of each remote stream as they arrive, secrets redacted, the pgid
    marker taken out of stderr; trigflow's own lines as text."""

    def __init__(self, log: TextIO, secrets: list[str], token: str) -> None:
        self._log = log
        self._buffer = getattr(log, "buffer", None)
        self._secrets = secrets
        self._bsecrets = [s.encode("utf-8", "surrogateescape") for s in secrets]
        self._token = token
        self._partial = {1: b"", 2: b""}
        self.pgid: int | None = None

    def line(self, text: str) -> None:
        self._log.write(redact(text, self._secrets) + "\n")
        self._log.flush()

    def feed(self, stream: int, data: bytes) -> None:
        buf = self._partial[stream] + data
        *lines, rest = buf.split(b"\n")
        for raw in lines:
            self._emit(stream, raw + b"\n")
        if len(rest) > _MAX_PARTIAL:
            self._emit(stream, rest)
            rest = b""
        self._partial[stream] = rest

    def finish(self) -> None:
        for stream in (1, 2):
            if self._partial[stream]:
                self._emit(stream, self._partial[stream] + b"\n")
                self._partial[stream] = b""

    def _emit(self, stream: int, raw: bytes) -> None:
        if stream == 2 and self.pgid is None and b"TRIGFLOW-SSH-" in raw:
            text, pgid = remote.parse_marker(self._token, raw.decode("utf-8", "surrogateescape"))
            if pgid is not None:
                self.pgid = pgid
                self.line(f"[trigflow] the script runs in remote process group {pgid}")
                raw = text.encode("utf-8", "surrogateescape")
                if not raw.strip(b"\n"):
                    return
        for secret in self._bsecrets:
            raw = raw.replace(secret, b"***")
        if self._buffer is not None:
            self._log.flush()
            self._buffer.write(raw)
            self._buffer.flush()
        else:
            self._log.write(raw.decode("utf-8", "replace"))
            self._log.flush()


class _Session(asyncssh.SSHClientSession[bytes]):
    """The exec channel: output to the log, the exit status and the close as events."""

    def __init__(self, log: _Log) -> None:
        self._out = log
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()
        self.status: int | None = None
        self.signal: str | None = None

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._out.feed(2 if datatype == asyncssh.EXTENDED_DATA_STDERR else 1, data)

    def exit_status_received(self, status: int) -> None:
        self.status = status
        self.exited.set()

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.signal = signal
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self.exited.set()


def _secrets(workload: Mapping[str, Any]) -> list[str]:
    """The data source's secrets, and each long line of a multi-line one (a private key printed by the
    remote script reaches the log line by line)."""
    found = set(secrets_of(workload))
    for secret in list(found):
        for part in secret.splitlines():
            if len(part.strip()) >= 16:
                found.add(part.strip())
    return sorted(found, key=len, reverse=True)


def _known_hosts(ds: Mapping[str, Any]) -> Any:
    """asyncssh's `known_hosts` argument: the data source's pins for this host, or None (accept any key)."""
    options = ds.get("options") or {}
    host, port = str(ds.get("host")), int(ds.get("port") or 22)
    text = str(options.get("knownHosts") or "")
    keys = str(options.get("hostKey") or "")
    if not text.strip() and not keys.strip():
        return None
    pattern = host if port == 22 else f"[{host}]:{port}"
    lines = [f"{pattern} {line.strip()}" for line in keys.splitlines() if line.strip() and not line.startswith("#")]
    return asyncssh.import_known_hosts(text + "\n" + "\n".join(lines) + "\n")


def _who(ds: Mapping[str, Any]) -> str:
    host = str(ds.get("host"))
    shown = f"[{host}]" if ":" in host else host
    return f"{ds.get('username')}@{shown}:{ds.get('port') or 22}"


def _auth(ds: Mapping[str, Any]) -> str:
    ways = (["private key"] if ds.get("private_key") else []) + (["password"] if ds.get("password") else [])
    return " then ".join(ways)


async def _connect(ds: Mapping[str, Any]) -> asyncssh.SSHClientConnection:
    key = ds.get("private_key")
    client_keys = [asyncssh.import_private_key(key, ds.get("passphrase") or None)] if key else None
    return await asyncssh.connect(
        str(ds.get("host")),
        int(ds.get("port") or 22),
        username=str(ds.get("username")),
        password=ds.get("password") or None,
        client_keys=client_keys,
        known_hosts=_known_hosts(ds),
        agent_path=None,
        config=None,
        connect_timeout=CONNECT_TIMEOUT_S,
        keepalive_interval=KEEPALIVE_S,
        # A trigflow password must not be offered to a keyboard-interactive prompt it was not meant for.
        kbdint_auth=bool(ds.get("password")),
    )


async def _until(cancel: threading.Event) -> None:
    while not cancel.is_set():
        await asyncio.sleep(_CANCEL_POLL_S)


async def _first(work: asyncio.Future[Any], cancel: threading.Event) -> bool:
    """Wait for `work` or the cancel; True if the work finished first (its result is then ready)."""
    watcher = asyncio.ensure_future(_until(cancel))
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    return work.done()


def _error(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return f"{type(e).__name__}: {text}"


async def _attempt(workload: Mapping[str, Any], out: _Log, outputs_path: str | None, cancel: threading.Event,
                   token: str) -> int:  # fmt: skip
    ds: Mapping[str, Any] = workload[KEY_DATA_SOURCE]
    config = workload.get(KEY_CONFIG) or {}
    try:
        values = json.loads(str(config.get(CONFIG_ENV) or "{}"))
    except ValueError:
        values = {}
    env = remote.split_env({str(k): str(v) for k, v in values.items()}, ENV_VALUE_BYTES, ENV_TOTAL_BYTES)
    text = remote.program(token, str(workload.get(KEY_CODE) or ""), env)
    out.line(f"[trigflow] SSH to {_who(ds)} ({_auth(ds)})")
    started = time.perf_counter()
    connecting = asyncio.ensure_future(_connect(ds))
    if not await _first(connecting, cancel):
        connecting.cancel()
        out.line("[trigflow] cancelled while connecting")
        return EXIT_CANCELLED
    try:
        conn = connecting.result()
    except (TimeoutError, OSError, asyncssh.Error, asyncssh.KeyImportError, ValueError) as e:
        hint = ""
        if isinstance(e, asyncssh.HostKeyNotVerifiable):
            hint = " (the server's key matches neither hostKey nor knownHosts of the data source)"
        out.line(f"[trigflow] cannot connect to {_who(ds)}: {_error(e)}{hint}")
        return EXIT_CONNECT
    try:
        return await _session(conn, ds, text, started, out, outputs_path, cancel, token)
    finally:
        conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.wait_closed(), _COMMAND_TIMEOUT_S)


async def _session(conn: asyncssh.SSHClientConnection, ds: Mapping[str, Any], text: str, started: float, out: _Log,
                   outputs_path: str | None, cancel: threading.Event, token: str) -> int:  # fmt: skip
    """The attempt on an open connection: log the host key, run the program, then kill or collect."""
    key = conn.get_server_host_key()
    shown = f"{key.get_algorithm()} {key.get_fingerprint('sha256')}" if key is not None else "unknown"
    checked = "verified against the data source" if _known_hosts(ds) is not None else (
        "NOT verified: no hostKey/knownHosts in the data source; pin it to refuse another")  # fmt: skip
    took = (time.perf_counter() - started) * 1000
    out.line(f"[trigflow] connected in {took:.1f} ms; host key {shown} {checked}")
    session = _Session(out)
    chan, _ = await conn.create_session(lambda: session, remote.BOOTSTRAP_COMMAND, encoding=None)
    chan.write(text.encode("utf-8", "surrogateescape"))  # stdin stays open: its end tells the host we left
    exited = asyncio.ensure_future(session.exited.wait())
    if not await _first(exited, cancel):
        return await _kill(conn, session, out, token)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(session.closed.wait(), _DRAIN_S)
    out.finish()
    chan.close()
    code = _exit_code(session, out)
    await _collect(conn, out, outputs_path, token)
    return code


def _exit_code(session: _Session, out: _Log) -> int:
    if session.status is not None:
        out.line(f"[trigflow] remote exit status {session.status}")
        return session.status
    if session.signal is not None:
        out.line(f"[trigflow] the remote shell was killed by SIG{session.signal}")
        return 128 + _SIGNALS.get(session.signal, 1)
    out.line("[trigflow] the connection ended without an exit status")
    return EXIT_CONNECT


_SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15}


async def _kill(conn: asyncssh.SSHClientConnection, session: _Session, out: _Log, token: str) -> int:
    """Kill the remote process group from a second channel (TERM now, KILL after the grace, detached)."""
    group = f"remote process group {out.pgid}" if out.pgid is not None else "the remote script"
    out.line(f"[trigflow] cancel requested: TERM to {group}, KILL after {remote.KILL_GRACE_SECONDS} s")
    try:
        await asyncio.wait_for(conn.run(remote.kill_command(token), check=False), _COMMAND_TIMEOUT_S)
    except (TimeoutError, OSError, asyncssh.Error) as e:
        out.line(f"[trigflow] killing on the host failed: {_error(e)}; the host's watcher kills it when we leave")
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(session.exited.wait(), _CANCEL_WAIT_S)
    out.finish()
    if session.status is not None:
        out.line(f"[trigflow] cancelled: remote exit status {session.status}")
    else:
        out.line("[trigflow] cancelled")
    return EXIT_CANCELLED


async def _collect(conn: asyncssh.SSHClientConnection, out: _Log, outputs_path: str | None, token: str) -> None:
    """Copy the remote outputs file into the local one and remove the remote directory."""
    try:
        result = await asyncio.wait_for(
            conn.run(remote.collect_command(token), check=False, encoding=None), _COMMAND_TIMEOUT_S
        )
    except (TimeoutError, OSError, asyncssh.Error) as e:
        out.line(f"[trigflow] reading the remote outputs failed: {_error(e)}")
        return
    data = result.stdout if isinstance(result.stdout, bytes) else b""
    if data and outputs_path is not None:
        with open(outputs_path, "ab") as f:
            f.write(data if data.endswith(b"\n") else data + b"\n")


def run(workload: Mapping[str, Any], log: TextIO, outputs_path: str | None, cancel: threading.Event) -> int:
    """Run the SSH task of `workload` (module docstring); the exit code of the attempt."""
    token = remote.new_token()
    out = _Log(log, _secrets(workload), token)
    ds = workload.get(KEY_DATA_SOURCE)
    if not isinstance(ds, Mapping) or ds.get("type") != "SSH" or not ds.get("host"):
        out.line("[trigflow] an SSH task needs an SSH data source (TriggerTaskConfiguration.SourceServiceId)")
        return EXIT_CONNECT
    if cancel.is_set():
        out.line("[trigflow] cancelled before connecting")
        return EXIT_CANCELLED
    return asyncio.run(_attempt(workload, out, outputs_path, cancel, token))
