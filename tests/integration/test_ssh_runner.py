"""The SSH runner (trigflow.runner.ssh) against the real sshd, without a server: what one attempt does when the
runner dies without cancelling (the host's watcher kills the group), an encrypted private key, and the
remote directory removed after an attempt."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.integration.sshd import Sshd, remote_pids, start_sshd
from trigflow.runner import ssh


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = start_sshd(tmp_path_factory.mktemp("sshd_runner"))
    yield server
    server.stop()


def workload(sshd: Sshd, code: str, **ds: Any) -> dict[str, Any]:
    source = {"type": "SSH", "driver": "ssh", "host": "127.0.0.1", "port": sshd.port, "username": "root",
              "password": None, "private_key": sshd.client_key, "passphrase": None, "options": {}, **ds}  # fmt: skip
    return {"taskTypeId": 133, "code": code, "params": {}, "config": {"env": json.dumps({"X": "1"})},
            "dataSource": source, "outputsPath": None, "limits": {}}  # fmt: skip


def test_a_runner_killed_outright_leaves_nothing_running_on_the_host(sshd: Sshd, tmp_path: Path) -> None:
    duration = f"1000.{uuid.uuid4().int % 10**9:09d}"
    path = tmp_path / "workload.json"
    path.write_text(json.dumps(workload(sshd, f"sleep {duration}")))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen([sys.executable, "-m", "trigflow.runner", str(path)], stdout=subprocess.DEVNULL,
                          env=env) as proc:  # fmt: skip
        wait_for(lambda: remote_pids(f"sleep {duration}"), timeout=20, what="the remote sleep")
        assert any(duration in script for script in sshd.remote_scripts())  # its directory, in this sshd's TMPDIR
        proc.send_signal(signal.SIGKILL)  # no cancel, no kill channel: only the connection's end tells the host
        proc.wait()
    wait_for(lambda: not remote_pids(f"sleep {duration}"), timeout=5, what="the remote sleep gone")

    def directory_gone() -> bool:
        return not any(duration in script for script in sshd.remote_scripts())

    wait_for(directory_gone, timeout=30, what="the remote directory removed after the grace")


def test_an_encrypted_key_needs_its_passphrase_and_none_of_it_reaches_the_log(sshd: Sshd, tmp_path: Path) -> None:
    key = tmp_path / "enc"
    # PEM (OpenSSL) encryption: an encrypted key in OpenSSH's own format needs the `bcrypt` package as well
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-m", "PEM", "-N", "pass-Phrase-9", "-f", str(key)], check=True)
    authorized = sshd.dir / "authorized_keys"
    authorized.write_text(authorized.read_text() + key.with_suffix(".pub").read_text())
    outputs = tmp_path / "outputs"
    for passphrase, want in (("pass-Phrase-9", 0), ("wrong", ssh.EXIT_CONNECT)):
        log = io.StringIO()
        code = ssh.run(workload(sshd, 'echo "x=$X" >> "$WEDATA_OUTPUT_FILE"; echo done', private_key=key.read_text(),
                                passphrase=passphrase), log, str(outputs), threading.Event())  # fmt: skip
        assert code == want, log.getvalue()
        assert passphrase not in log.getvalue() and "PRIVATE KEY" not in log.getvalue()
    assert outputs.read_text() == "x=1\n"  # from the successful attempt, copied back


def test_a_cancel_before_anything_ran_does_not_connect(sshd: Sshd) -> None:
    cancel = threading.Event()
    cancel.set()
    log = io.StringIO()
    assert ssh.run(workload(sshd, "echo never"), log, None, cancel) == ssh.EXIT_CANCELLED
    assert "never" not in log.getvalue()
