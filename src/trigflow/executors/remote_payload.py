"""What travels through the broker to a Celery worker, and how it becomes a LaunchSpec on the worker's host.

The broker is not trusted (docs/adr/0006-celery-workers.md): anyone who can write to it must not be able to
make a worker run code, and a data source's secrets sealed into a runner's workload must not be readable
there. So the payload is a Fernet token (AES-128-CBC + HMAC-SHA256, `cryptography`, already a dependency
through asyncssh) under a key derived from the worker token by HKDF; a worker refuses anything that does not
authenticate. The token itself never travels.

The LaunchSpec the engine built names paths under the server's run directory (`cwd`, `log_path`,
`$WEDATA_OUTPUT_FILE`, spilled parameter files...). One rule makes it host-independent: the server's run
directory R (the directory of `log_path`) is replaced by the worker's attempt directory W
(`<worker data dir>/attempts/<celery task id>`) wherever a path *starts* with R (argv items, env values,
cwd, log_path, script_copy_path), and wherever the string `R/` occurs inside `script` and the sealed
environment (a runner's JSON workload names its outputs file there); an argv item that is the server's own
interpreter (`python -m trigflow.runner` of the runner types) becomes the worker's, and a PYTHONPATH naming the
server's trigflow package root names the worker's. Files the launcher spilled next to the attempt
(`<attempt>.params.json`, loaders) travel inside the payload and are written into W first.

The environment travels as a delta: the names the attempt inherited from the server's own environment
(PATH, HOME, LANG, TZ, HOSTNAME, ...: `LaunchSpec.inherited_env`, the allow-list of domain/task_env.py) are
sent as names only, and the worker fills them from *its* environment (a worker's PATH and HOME are its
host's, not the server's); everything trigflow decided for the attempt (its identity, parameters, output
file) is sent as is. The outputs the task declares travel as names (`output_keys`); their values come back in
the worker's finish report, read on the worker (executors/outputs.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import trigflow
from trigflow.executors.base import LaunchSpec

PAYLOAD_VERSION = 1
MAX_SPILLED_BYTES = 32 << 20  # spilled parameter files shipped with one attempt
_HKDF_INFO = b"trigflow worker payload v1"
PACKAGE_ROOT = str(Path(trigflow.__file__).resolve().parents[1])  # what the runner types put on PYTHONPATH


class PayloadRefused(Exception):
    """The message is not a payload of this server (wrong key, tampered, or not ours at all)."""


def fernet_for(token: str) -> Fernet:
    """The payload cipher of a worker token: HKDF-SHA256, so the token and the key are never the same bytes."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(token.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def token_fingerprint(token: str) -> str:
    """A short non-secret name of a token, for logs that must say which token is in use."""
    return hashlib.sha256(b"trigflow-token-id\0" + token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Payload:
    """The decrypted message: the attempt and where to report it."""

    task_id: str  # the Celery task id = the attempt id, `<task-run id>.<RetryTimes>.<RerunTimes>`
    execution_id: str
    group: str
    servers: tuple[str, ...]
    log_base: int  # bytes already in the server's log before the attempt ran (launcher notes)
    grace_seconds: float
    run_dir: str
    spec: Mapping[str, Any]
    files: Mapping[str, bytes]
    python: str = ""  # the server's interpreter: an argv item naming it runs the worker's (the runner types)
    package_root: str = ""  # the server's trigflow package root: a PYTHONPATH naming it names the worker's


def build(
    spec: LaunchSpec, servers: tuple[str, ...], grace_seconds: float, log_base: int, files: Mapping[str, bytes]
) -> dict[str, Any]:
    """The plain payload of a remote attempt (encrypted by `seal`)."""
    if spec.remote_task_id is None or spec.resource_group is None:
        raise ValueError("not a remote attempt")
    return {
        "v": PAYLOAD_VERSION,
        "task_id": spec.remote_task_id,
        "execution_id": spec.attempt_id,
        "group": spec.resource_group,
        "servers": list(servers),
        "log_base": log_base,
        "grace": grace_seconds,
        "run_dir": os.path.dirname(spec.log_path),
        "python": sys.executable,
        "package_root": PACKAGE_ROOT,
        "spec": {
            "argv": list(spec.argv),
            "env": {k: v for k, v in spec.env.items() if spec.inherited_env.get(k) != v},
            "inherit": sorted(k for k, v in spec.env.items() if spec.inherited_env.get(k) == v),
            "output_keys": list(spec.output_keys),
            "outputs_path": spec.outputs_path,
            "cwd": spec.cwd,
            "log_path": spec.log_path,
            "script": spec.script,
            "script_copy_path": spec.script_copy_path,
            "sealed_env": {k: base64.b64encode(v).decode() for k, v in spec.sealed_env.items()},
        },
        "files": {name: base64.b64encode(data).decode() for name, data in files.items()},
    }


def seal(fernet: Fernet, payload: Mapping[str, Any]) -> str:
    return fernet.encrypt(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()).decode("ascii")


def open_sealed(fernet: Fernet, token: object) -> Payload:
    """Decrypt and check a message; PayloadRefused when it is not an authentic payload of this version."""
    if not isinstance(token, str):
        raise PayloadRefused("the message is not a sealed payload")
    try:
        raw = json.loads(fernet.decrypt(token.encode("ascii", "replace")))
    except (InvalidToken, ValueError, binascii.Error) as e:
        raise PayloadRefused("the message does not authenticate with this worker's token") from e
    if not isinstance(raw, dict) or raw.get("v") != PAYLOAD_VERSION:
        raise PayloadRefused("unknown payload version")
    try:
        return Payload(
            task_id=str(raw["task_id"]),
            execution_id=str(raw["execution_id"]),
            group=str(raw["group"]),
            servers=tuple(str(s) for s in raw["servers"]),
            log_base=int(raw["log_base"]),
            grace_seconds=float(raw["grace"]),
            run_dir=str(raw["run_dir"]),
            spec=raw["spec"],
            files={str(k): base64.b64decode(v) for k, v in raw["files"].items()},
            python=str(raw.get("python") or ""),
            package_root=str(raw.get("package_root") or ""),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise PayloadRefused("malformed payload") from e


def reroot(path: str, server_dir: str, worker_dir: str) -> str:
    """`path` with the server's run directory prefix replaced by the worker's attempt directory."""
    if path == server_dir:
        return worker_dir
    if path.startswith(server_dir + "/"):
        return worker_dir + path[len(server_dir) :]
    return path


def local_spec(payload: Payload, attempt_dir: Path, host_env: Mapping[str, str]) -> LaunchSpec:
    """The LaunchSpec a worker runs: the payload's, re-rooted into `attempt_dir` (the module's one rule), its
    inherited names taken from `host_env` (the worker's allow-listed environment; a name it lacks is left
    unset, as a server lacking it would have)."""
    src, dst = payload.run_dir, str(attempt_dir)
    s = payload.spec
    inner_src, inner_dst = src + "/", dst + "/"

    def sub(text: str) -> str:
        return text.replace(inner_src, inner_dst)

    def arg(a: str) -> str:
        return sys.executable if payload.python and a == payload.python else reroot(a, src, dst)

    script = s.get("script")
    copy_path = s.get("script_copy_path")
    outputs_path = s.get("outputs_path")
    env = {str(k): host_env[str(k)] for k in s.get("inherit", ()) if str(k) in host_env}
    env.update({str(k): reroot(str(v), src, dst) for k, v in s["env"].items()})
    if payload.package_root and env.get("PYTHONPATH") == payload.package_root:
        env["PYTHONPATH"] = PACKAGE_ROOT
    return LaunchSpec(
        attempt_id=payload.execution_id,
        argv=tuple(arg(str(a)) for a in s["argv"]),
        env=env,
        cwd=reroot(str(s["cwd"]), src, dst),
        log_path=reroot(str(s["log_path"]), src, dst),
        script=sub(script) if isinstance(script, str) else None,
        script_copy_path=reroot(copy_path, src, dst) if isinstance(copy_path, str) else None,
        sealed_env={
            str(k): sub(base64.b64decode(v).decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
            for k, v in s.get("sealed_env", {}).items()
        },
        output_keys=tuple(str(k) for k in s.get("output_keys", ())),
        outputs_path=reroot(outputs_path, src, dst) if isinstance(outputs_path, str) else None,
    )


def spilled_files(run_dir: Path, attempt: str) -> dict[str, bytes]:
    """Files the launcher wrote for this attempt next to its log (spilled parameters, loaders): they go
    with the payload. The log and the outputs file are the attempt's results, not its inputs."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        entries = list(os.scandir(run_dir))
    except OSError:
        return files
    prefix = attempt + "."
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or name in (attempt + ".log", attempt + ".outputs"):
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            data = Path(entry.path).read_bytes()
        except OSError:
            continue
        total += len(data)
        if total > MAX_SPILLED_BYTES:
            break
        files[name] = data
    return files
