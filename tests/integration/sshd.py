"""A real OpenSSH server on loopback for the SSH task tests: Debian's /usr/sbin/sshd with its own config, host
key, authorized_keys and pid file in a temporary directory, on a free port, stopped at teardown.

Password authentication is real too, without touching the machine's accounts: sshd runs in a private mount
namespace (`unshare -m`) in which /etc/shadow is a copy whose root entry has a known password hash, so the
sshd checks a password exactly as it would for a system account. Where no mount namespace can be made,
`password` is None and the tests that need it are skipped (saying so).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, wait_for

SSHD = "/usr/sbin/sshd"
PASSWORD = "ssh-Task-Pa55word-7q"  # the root password inside the sshd's own mount namespace only


@dataclass
class Sshd:
    port: int
    dir: Path
    proc: subprocess.Popen[bytes]
    client_key: str  # an OpenSSH private key that authorized_keys accepts
    host_public_key: str  # `ssh-ed25519 AAAA...` of the server
    password: str | None  # root's password for this sshd, or None when it cannot check one
    user: str = "root"

    @property
    def remote_tmp(self) -> Path:
        """The sessions' TMPDIR (sshd_config `SetEnv`): where this sshd's attempts make their remote
        directories, so a test looks at its own and never at another sshd's (another pytest worker's) in /tmp."""
        return self.dir / "remote-tmp"

    def remote_scripts(self) -> list[str]:
        """The scripts of the remote directories that exist now (an attempt ending meanwhile removes its own)."""
        texts = []
        for path in self.remote_tmp.glob("trigflow-ssh-*/script"):
            with contextlib.suppress(FileNotFoundError):
                texts.append(path.read_text())
        return texts

    def log(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "trigflow-test", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)  # fmt: skip


def _shadow_with_password(path: Path, user: str, password: str) -> bool:
    """A copy of /etc/shadow whose `user` entry has `password`; False when that cannot be made."""
    try:
        hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(), check=True,
                                capture_output=True).stdout.decode().strip()  # fmt: skip
        lines = Path("/etc/shadow").read_text().splitlines()
    except (OSError, subprocess.CalledProcessError):
        return False
    out = []
    for line in lines:
        fields = line.split(":")
        if fields[0] == user:
            fields[1] = hashed
        out.append(":".join(fields))
    path.write_text("\n".join(out) + "\n")
    path.chmod(0o600)
    return True


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def start_sshd(tmp: Path) -> Sshd:
    tmp.mkdir(parents=True, exist_ok=True)
    _keygen(tmp / "host_key")
    _keygen(tmp / "client_key")
    shutil.copy(tmp / "client_key.pub", tmp / "authorized_keys")
    Path("/run/sshd").mkdir(
        parents=True, exist_ok=True
    )  # sshd's privilege-separation directory (Debian's init makes it)
    port = free_port()
    (tmp / "remote-tmp").mkdir(exist_ok=True)
    password_ok = _can_unshare() and _shadow_with_password(tmp / "shadow", "root", PASSWORD)
    (tmp / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\nPidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n"
        f"PubkeyAuthentication yes\nPasswordAuthentication {'yes' if password_ok else 'no'}\n"
        "KbdInteractiveAuthentication no\nMaxStartups 100:30:200\nMaxSessions 100\nLogLevel VERBOSE\n"
        f"SetEnv TMPDIR={tmp / 'remote-tmp'}\n"
    )
    log = open(tmp / "sshd.log", "ab")  # noqa: SIM115 - handed to the child
    command = [SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")]
    if password_ok:
        command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/shadow && exec "$@"', str(tmp / "shadow"),
                   *command]  # fmt: skip
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    host_public_key = " ".join((tmp / "host_key.pub").read_text().split()[:2])
    server = Sshd(port, tmp, proc, (tmp / "client_key").read_text(), host_public_key, PASSWORD if password_ok else None)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"sshd exited early:\n{server.log()}")
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(8).startswith(b"SSH-")

    try:
        wait_for(ready, timeout=15, what="sshd banner")
    except BaseException:
        server.stop()
        raise
    return server


def remote_pids(pattern: str) -> list[int]:
    """Processes whose command line holds `pattern` (the sshd is on loopback: the host's processes are ours)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found if int(p) != os.getpid()]


def pgid_of(pid: int) -> int | None:
    with contextlib.suppress(ProcessLookupError):
        return os.getpgid(pid)
    return None
