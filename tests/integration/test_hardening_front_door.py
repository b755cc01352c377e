"""Issue 11, findings 4, 5 and 7 (the front door), attacked through real `trigflow up` processes and real sockets.

Each test starts its own server with short limits (flags), so the attacks stay fast and bounded and the
session server is left alone; the SDK (official `tencentcloud-sdk-python`) is the well-behaved client
that must keep working while the attack goes on. No sleeps wait for state: every wait is `wait_for`
with a deadline, and the only paced loop is the slowloris trickle itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.wedata.v20250806 import wedata_client

from tests.conftest import SECRET_ID, SECRET_KEY, Server, free_port, make_client, start_server, wait_for
from tests.integration.helpers import call, new_task, new_workflow, start_run, uid, wait_run
from tests.integration.test_protocol import tc3_headers
from trigflow.api.signing import (
    UNSIGNED_PAYLOAD,
    tc3_canonical_headers,
    tc3_canonical_request,
    tc3_payload_hash,
    tc3_signature,
    tc3_string_to_sign,
)

NINE_MIB = 9 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running(data_dir: Path, *extra: str) -> Iterator[Server]:
    srv = start_server(data_dir, extra=list(extra))
    try:
        yield srv
    finally:
        srv.stop()


def sdk_ok(srv: Server) -> bool:
    return bool(make_client(srv.endpoint).call_json("ListProjects", {})["Response"]["Data"]["TotalCount"] >= 1)


def vm_rss_kb(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert match, "no VmRSS"
    return int(match.group(1))


def request_head(headers: dict[str, str], content_length: int) -> bytes:
    lines = ["POST / HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), f"Content-Length: {content_length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_reply(sock: socket.socket, timeout: float) -> dict[str, Any]:
    """Read one HTTP response (Content-Length framed) from `sock`; its JSON body's Response."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-response"
        body += chunk
    return dict(json.loads(body)["Response"])


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server closed (FIN or RST) this connection; never blocks (a socket with a timeout
    would wait for readability even with MSG_DONTWAIT, so the timeout is lifted for the peek)."""
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return sock.recv(4096, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


# ------------------------------------------------------------------------------------ finding 7: no banner


def test_no_server_header_on_any_response(server: Server) -> None:
    for method, path, body in (("GET", "/healthz", None), ("POST", "/", b"{}")):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            assert resp.getheader("server") is None, resp.getheaders()
        finally:
            conn.close()


# --------------------------------------------------------------------------------- finding 4: payload, v1


def unsigned_payload_headers(host: str, action: str) -> dict[str, str]:
    """What a client with ClientProfile.unsignedPayload=True sends: the body is not in the signature, and
    neither is X-TC-Action (the SDKs sign only content-type;host)."""
    ts = int(time.time())
    date = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
    headers = {
        "Content-Type": "application/json",
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": "2025-08-06",
        "X-TC-Region": "ap-guangzhou",
        "X-TC-Timestamp": str(ts),
        "X-TC-Content-SHA256": UNSIGNED_PAYLOAD,
    }
    lower = {k.lower(): v for k, v in headers.items()}
    canonical = tc3_canonical_request(
        method="POST",
        canonical_query="",
        canonical_headers=tc3_canonical_headers(("content-type", "host"), lower),
        signed_headers="content-type;host",
        payload_hash=tc3_payload_hash(b"", method="POST", unsigned=True),
    )
    to_sign = tc3_string_to_sign(timestamp=str(ts), date=date, service="wedata", canonical_request=canonical)
    headers["Authorization"] = (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/wedata/tc3_request, SignedHeaders=content-type;host, "
        f"Signature={tc3_signature(SECRET_KEY, date, 'wedata', to_sign)}"
    )
    return headers


def post_raw(srv: Server, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=15)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        return dict(json.loads(conn.getresponse().read())["Response"])
    finally:
        conn.close()


def unsigned_sdk_client(srv: Server) -> Any:
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=srv.endpoint, protocol="http"))
    profile.unsignedPayload = True
    return wedata_client.WedataClient(credential.Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou", profile)


def test_unsigned_payload_is_refused_by_default_so_a_capture_is_no_pass(server: Server, tmp_path: Path) -> None:
    with pytest.raises(TencentCloudSDKException) as exc:
        unsigned_sdk_client(server).call_json("ListProjects", {})
    assert exc.value.get_code() == "AuthFailure.InvalidAuthorization"
    assert "--allow-unsigned-payload" in exc.value.get_message()
    # One "captured" ListProjects, replayed as another action with another body: refused by default.
    captured = unsigned_payload_headers(server.endpoint, "ListProjects")
    replay = {**captured, "X-TC-Action": "CreateProject"}
    name = f"replay_{uid()}"
    refused = post_raw(server, replay, json.dumps({"Project": {"ProjectName": name, "DisplayName": name}}).encode())
    assert refused["Error"]["Code"] == "AuthFailure.InvalidAuthorization"
    listed = call(make_client(server.endpoint), "ListProjects", {"ProjectName": name})
    assert listed.TotalCount == 0

    # The flag restores the old behaviour, risk included: exactly why it is off by default.
    with running(tmp_path / "unsigned", "--allow-unsigned-payload") as srv:
        assert unsigned_sdk_client(srv).call_json("ListProjects", {})["Response"]["Data"]["TotalCount"] >= 1
        captured = unsigned_payload_headers(srv.endpoint, "ListProjects")
        replayed = post_raw(srv, {**captured, "X-TC-Action": "CreateProject"},
                            json.dumps({"Project": {"ProjectName": name, "DisplayName": name}}).encode())  # fmt: skip
        assert "Error" not in replayed, replayed


# --------------------------------------------------------------------------------------- finding 4: TLS


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    args = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        ["openssl", *args.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_tls_serves_https_to_the_sdk_trusting_the_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    data_dir = tmp_path / "tls"
    data_dir.mkdir()
    log_path = data_dir / "server.out"
    env = {**os.environ, "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
    args = [sys.executable, "-m", "trigflow.cli", "up", "--port", str(port), "--data-dir", str(data_dir),
            "--tls-cert", str(cert), "--tls-key", str(key)]  # fmt: skip
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    trusted = ssl.create_default_context(cafile=str(cert))
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log_path.read_text()
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=2, context=trusted) as r:
                return r.status == 200

        wait_for(healthy, timeout=30, interval=0.05, what="trigflow https /healthz")
        assert f"listening on https://127.0.0.1:{port}" in log_path.read_text()
        hp = HttpProfile(endpoint=f"127.0.0.1:{port}", protocol="https", certification=str(cert))
        client = wedata_client.WedataClient(
            credential.Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou", ClientProfile(httpProfile=hp)
        )
        assert call(client, "ListProjects", {}).TotalCount >= 1
        # Not trusting the certificate (the SDK's default CA bundle) fails the handshake, as it must.
        hp_default = HttpProfile(endpoint=f"127.0.0.1:{port}", protocol="https")
        untrusting = wedata_client.WedataClient(
            credential.Credential(SECRET_ID, SECRET_KEY), "ap-guangzhou", ClientProfile(httpProfile=hp_default)
        )
        with pytest.raises(TencentCloudSDKException):
            untrusting.call_json("ListProjects", {})
        # Plain HTTP to the TLS port gets no API answer.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        conn.close()
        assert "not a loopback address" not in log_path.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_plain_http_beyond_loopback_warns_and_tls_flags_go_together(tmp_path: Path) -> None:
    with running(tmp_path / "wide", "--host", "0.0.0.0") as srv:
        assert "not a loopback address" in srv.output() and "--tls-cert" in srv.output()
    env = {**os.environ, "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
    args = ["up", "--port", str(free_port()), "--data-dir", str(tmp_path / "half"), "--tls-cert", "x.pem"]
    half = subprocess.run(
        [sys.executable, "-m", "trigflow.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert half.returncode != 0 and "--tls-key" in half.stderr
    (tmp_path / "not-a-cert.pem").write_text("hello")
    args = ["up", "--port", str(free_port()), "--data-dir", str(tmp_path / "bad"),
            "--tls-cert", str(tmp_path / "not-a-cert.pem"), "--tls-key", str(tmp_path / "not-a-cert.pem")]  # fmt: skip
    bad = subprocess.run(
        [sys.executable, "-m", "trigflow.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert bad.returncode == 2 and "cannot serve HTTPS" in bad.stderr and "Traceback" not in bad.stderr


# -------------------------------------------------------------------------------- finding 7: revoked keys


def trigflow(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
    return subprocess.run(
        [sys.executable, "-m", "trigflow.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_a_revoked_env_key_stays_revoked_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "revoked"
    with running(data_dir) as srv:
        assert sdk_ok(srv)
        revoked = trigflow("keys", "revoke", SECRET_ID, "--data-dir", str(data_dir))
        assert revoked.returncode == 0, revoked.stderr

        def refused() -> bool:
            try:
                make_client(srv.endpoint).call_json("ListProjects", {})
            except TencentCloudSDKException as e:
                return e.get_code() == "AuthFailure.SecretIdNotFound"
            return False

        wait_for(refused, timeout=10, what="the revoked key refused by the running server")
    # The same environment at the next start: a clear start-up error, not a silent un-revocation.
    again = trigflow("up", "--port", str(free_port()), "--data-dir", str(data_dir))
    assert again.returncode != 0
    assert SECRET_ID in again.stderr and "revoked" in again.stderr
    assert SECRET_KEY not in again.stderr + again.stdout
    listed = trigflow("keys", "list", "--data-dir", str(data_dir))
    assert re.search(rf"{SECRET_ID}\s+revoked", listed.stdout), listed.stdout


# --------------------------------------------------------------------- finding 7: failed signatures


def test_failed_signatures_are_rate_limited_per_address_and_logged(tmp_path: Path) -> None:
    with running(tmp_path / "auth", "--auth-failures-per-minute", "5") as srv:
        assert sdk_ok(srv)
        wrong = make_client(srv.endpoint, secret_key="not-the-key-but-a-guess")
        for _ in range(5):
            with pytest.raises(TencentCloudSDKException) as exc:
                wrong.call_json("ListProjects", {})
            assert exc.value.get_code() == "AuthFailure.SignatureFailure"
        # The budget of this address is spent: even the right key is not checked now.
        with pytest.raises(TencentCloudSDKException) as exc:
            make_client(srv.endpoint).call_json("ListProjects", {})
        assert exc.value.get_code() == "RequestLimitExceeded"
        # Another client address is not affected (127.0.0.2 is loopback too).
        headers = tc3_headers(srv.endpoint, "ListProjects", body=b"{}")
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10, source_address=("127.0.0.2", 0))
        try:
            conn.request("POST", "/", body=b"{}", headers=headers)
            other = json.loads(conn.getresponse().read())["Response"]
        finally:
            conn.close()
        assert "Error" not in other, other
        out = srv.output()
        assert out.count("authentication failed from 127.0.0.1 for ListProjects: AuthFailure.SignatureFailure") == 5
        assert "client 127.0.0.1 used up its 5 failed authentications per minute" in out
        assert "not-the-key-but-a-guess" not in out and SECRET_KEY not in out
        assert not re.search(r"Signature=[0-9a-f]{64}", out)


def test_log_lines_are_throttled_with_a_suppressed_summary(tmp_path: Path) -> None:
    with running(tmp_path / "logs", "--auth-failures-per-minute", "1000000", "--log-lines-per-second", "2") as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        started = time.monotonic()
        try:
            for _ in range(300):  # a client provoking one warning per request, as fast as it can
                conn.request("POST", "/", body=b"{}", headers=tc3_headers(srv.endpoint, "ListProjects",
                                                                          body=b"{}", secret_key="bad"))  # fmt: skip
                assert "SignatureFailure" in conn.getresponse().read().decode()
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        # the warnings themselves: a summary line names the template ("authentication failed from %s ...")
        lines = srv.output().count("authentication failed from 127.0.0.1 for")
        assert 1 <= lines <= 10 + 2 * elapsed + 2, (lines, elapsed)  # burst of 5 s' worth, then 2 a second

        def summary_logged() -> bool:
            with contextlib.suppress(TencentCloudSDKException):  # one more failure: it carries the summary
                make_client(srv.endpoint, secret_key="bad2").call_json("ListProjects", {})
            return "similar messages suppressed (trigflow.api WARNING: 'authentication failed from" in srv.output()

        wait_for(summary_logged, timeout=10, interval=0.2, what="a 'similar messages suppressed' summary")


# --------------------------------------------------------------------------- finding 5: slow clients


def test_slowloris_heads_are_closed_after_the_header_timeout_and_the_sdk_keeps_working(tmp_path: Path) -> None:
    with running(tmp_path / "slow", "--header-timeout", "1") as srv:
        sockets = []
        opened = time.monotonic()
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: ")
            sockets.append(s)
        latencies: list[float] = []
        open_ = set(range(len(sockets)))
        deadline = time.monotonic() + 15
        while open_ and time.monotonic() < deadline:
            for i in list(open_):  # one more byte of the never-ending header, from each
                if closed_by_peer(sockets[i]):
                    open_.discard(i)
                    continue
                try:
                    sockets[i].send(b"a")
                except OSError:
                    open_.discard(i)
            t0 = time.monotonic()
            assert sdk_ok(srv)
            latencies.append(time.monotonic() - t0)
            time.sleep(0.2)  # the attacker's trickle pace, not a wait for state
        closed_after = time.monotonic() - opened
        for s in sockets:
            s.close()
        assert not open_, f"{len(open_)} slow connections still open after {closed_after:.1f}s"
        assert closed_after < 8, closed_after  # header timeout 1 s, plus the time to open 200 sockets
        assert latencies and max(latencies) < 2.0, latencies
        assert srv.proc.poll() is None


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (head and Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = int(lengths[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(tmp_path: Path) -> None:
    """Between requests the idle timeout applies (the header timeout, 30 s here, is not what closes it)."""
    with running(tmp_path / "idle", "--idle-timeout", "1", "--header-timeout", "30") as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            for _ in range(2):  # kept alive: the second request on the same connection is answered
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert _read_response(s).startswith(b"HTTP/1.1 200")
            answered = time.monotonic()
            assert not closed_by_peer(s)
            wait_for(lambda: closed_by_peer(s), timeout=10, what="the idle connection closed")
            assert 0.9 <= time.monotonic() - answered < 5
        assert sdk_ok(srv)


def test_stalled_uploads_are_refused_on_their_headers_and_memory_stays_bounded(tmp_path: Path) -> None:
    flags = ["--body-timeout", "2", "--body-min-rate", "100000000", "--auth-failures-per-minute", "1000"]
    with running(tmp_path / "stall", *flags) as srv:
        assert sdk_ok(srv)
        rss_before = vm_rss_kb(srv.server_pid)
        cases = []
        for i in range(50):
            if i % 2:
                nobody = "AKIDnobody00000000000000000000000000"
                headers = tc3_headers(srv.endpoint, "ListProjects", body=b"{}", secret_id=nobody)
                code = "AuthFailure.SecretIdNotFound"
            else:
                headers = tc3_headers(srv.endpoint, "ListProjects", body=b"{}", ts=int(time.time()) - 3600)
                code = "AuthFailure.SignatureExpire"
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(request_head(headers, NINE_MIB) + b'{"ProjectId": "' + b"1" * 1000)
            cases.append((s, code))
        started = time.monotonic()
        for s, code in cases:  # answered while 9 MiB - 1 KiB of each body has not even been sent
            assert read_reply(s, timeout=10)["Error"]["Code"] == code
        assert time.monotonic() - started < 5
        assert vm_rss_kb(srv.server_pid) - rss_before < 30_000
        # The stalled remainder is not waited for forever: the body deadline closes each connection.
        wait_for(lambda: all(closed_by_peer(s) for s, _ in cases), timeout=15, what="stalled uploads closed")
        for s, _ in cases:
            s.close()
        assert sdk_ok(srv)


def test_concurrent_large_bodies_are_bounded(tmp_path: Path) -> None:
    with running(tmp_path / "large", "--max-large-bodies", "3", "--body-timeout", "30") as srv:
        assert sdk_ok(srv)
        rss_before = vm_rss_kb(srv.server_pid)
        sockets = [socket.create_connection(("127.0.0.1", srv.port), timeout=30) for _ in range(10)]
        body = b"{" + b" " * (NINE_MIB - 2)  # all but the last byte

        def upload(s: socket.socket) -> str | None:
            """Signed headers that pass every cheap check, then a body that stalls one byte short;
            the error code if the server answers within 4 s, None while it is still receiving."""
            s.sendall(request_head(tc3_headers(srv.endpoint, "ListProjects", body=b"{}"), NINE_MIB) + body)
            try:
                return str(read_reply(s, timeout=4)["Error"]["Code"])
            except TimeoutError:
                return None

        with ThreadPoolExecutor(len(sockets)) as pool:  # concurrent: a queued upload blocks until answered
            answers = list(pool.map(upload, sockets, timeout=60))
        assert sorted(answers, key=str) == [None] * 3 + ["RequestLimitExceeded"] * 7, answers
        waiting = [s for s, a in zip(sockets, answers, strict=True) if a is None]
        # Three 9 MiB bodies in memory at most (plus parsing slack), not ten.
        assert vm_rss_kb(srv.server_pid) - rss_before < 3 * 9 * 1024 * 3, vm_rss_kb(srv.server_pid) - rss_before
        assert sdk_ok(srv)  # small requests do not queue behind large ones
        for s in waiting:  # finishing a body: it is checked (and its signature over "{}" fails)
            s.sendall(b"}")
            assert read_reply(s, timeout=10)["Error"]["Code"] == "AuthFailure.SignatureFailure"
        for s in sockets:
            s.close()


# ---------------------------------------------------------------------- finding 5: connection cap


def test_connections_beyond_the_cap_are_refused_and_tasks_still_get_descriptors(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    work = tmp_path / "files"
    work.mkdir()
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # what the server inherits, like a default 1024
    try:
        srv = start_server(tmp_path / "cap", extra=["--max-connections", "100", "--header-timeout", "6"])
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        limits = Path(f"/proc/{srv.server_pid}/limits").read_text()
        assert re.search(rf"Max open files\s+{hard}\s+{hard}", limits), limits  # soft raised to hard
        client = make_client(srv.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, f"cap_{os.getpid()}")
        go, started, done = work / "go", work / "started", work / "done"
        first = new_task(client, project_id, wf, "wait", f"touch {started}; while [ ! -f {go} ]; do sleep 0.05; done")
        new_task(client, project_id, wf, "after", f"touch {done}", upstream=[first])
        run_id = start_run(client, project_id, wf)
        wait_for(started.exists, timeout=20, what="first task running")

        t0 = time.monotonic()
        idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(300)]
        # 100 are held (idle, header timeout 6 s); the other 200 are refused at once.
        wait_for(lambda: sum(closed_by_peer(s) for s in idle) >= 200, timeout=5, what="connections over the cap")
        assert time.monotonic() - t0 < 5
        # ~100 held: the SDK's last connection may still be closing and hold a slot or two of the cap.
        assert 200 <= sum(closed_by_peer(s) for s in idle) <= 205
        # While the cap is full, the scheduler still spawns a task (the cap leaves descriptors for it).
        go.touch()
        wait_for(done.exists, timeout=20, what="the downstream task spawned while connections are capped")
        # The held idle connections time out; the SDK is answered again.
        wait_for(lambda: sdk_ok(srv), timeout=20, interval=0.2, what="SDK answered after idle connections close")
        for s in idle:
            s.close()
        assert wait_run(client, project_id, run_id).TriggerWorkflowRun.ExecutionState == "SUCCESS"
        assert "Too many open files" not in srv.output()
    finally:
        srv.stop()
