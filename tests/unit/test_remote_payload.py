"""The pure parts of Celery workers (docs/adr/0006-celery-workers.md): the payload's encryption and the one
path re-rooting rule, the attempt-id parsing of the fence, and the log append that makes retries idempotent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trigflow.executors import remote_payload as rp
from trigflow.executors.base import LaunchSpec
from trigflow.service.workers import _append_at, split_task_id

RUN = "/srv/trigflow/runs/r1"


def spec(**kw: object) -> LaunchSpec:
    base: dict[str, object] = dict(
        attempt_id="e1",
        argv=("bash",),
        env={"WEDATA_OUTPUT_FILE": f"{RUN}/t.0.0.outputs", "PATH": "/usr/bin", "OTHER": f"{RUN}x/not-ours"},
        cwd=RUN,
        log_path=f"{RUN}/t.0.0.log",
        script=f'echo hi; cat "{RUN}/t.0.0.params.json"\n',
        script_copy_path=f"{RUN}/t.0.0.sh",
        sealed_env={"BASH_ENV": f"source {RUN}/t.0.0.loader\n".encode()},
        resource_group="g1",
        remote_task_id="e1.0.0",
    )
    base.update(kw)
    return LaunchSpec(**base)  # type: ignore[arg-type]


def test_payload_round_trips_and_reroots_every_server_path(tmp_path: Path) -> None:
    f = rp.fernet_for("token-1")
    sealed = rp.seal(f, rp.build(spec(), ("http://s:1",), 2.0, 17, {"t.0.0.params.json": b"{}"}))
    assert "WEDATA_OUTPUT_FILE" not in sealed and RUN not in sealed  # encrypted, not just encoded
    p = rp.open_sealed(f, sealed)
    assert (p.task_id, p.execution_id, p.group, p.servers, p.log_base, p.grace_seconds) == (
        "e1.0.0", "e1", "g1", ("http://s:1",), 17, 2.0)  # fmt: skip
    assert p.files == {"t.0.0.params.json": b"{}"}
    w = tmp_path / "attempts" / "e1.0.0"
    local = rp.local_spec(p, w, {})
    assert local.cwd == str(w) and local.log_path == f"{w}/t.0.0.log" and local.script_copy_path == f"{w}/t.0.0.sh"
    assert local.env["WEDATA_OUTPUT_FILE"] == f"{w}/t.0.0.outputs"
    assert local.env["OTHER"] == f"{RUN}x/not-ours"  # only the run dir itself is re-rooted, not a look-alike
    assert local.env["PATH"] == "/usr/bin"
    assert local.script == f'echo hi; cat "{w}/t.0.0.params.json"\n'
    assert local.sealed_env == {"BASH_ENV": f"source {w}/t.0.0.loader\n".encode()}
    assert local.remote_task_id is None  # the worker runs it as a local attempt


@pytest.mark.parametrize("message", ["garbage", 42, None, rp.seal(rp.fernet_for("other"), {"v": 1})],
                         ids=["garbage", "number", "none", "another-key"])  # the token is random: xdist needs fixed ids
def test_a_message_not_sealed_with_the_token_is_refused(message: object) -> None:
    with pytest.raises(rp.PayloadRefused):
        rp.open_sealed(rp.fernet_for("token-1"), message)


def test_a_tampered_payload_is_refused() -> None:
    f = rp.fernet_for("token-1")
    sealed = rp.seal(f, rp.build(spec(), (), 1.0, 0, {}))
    flipped = sealed[:40] + ("A" if sealed[40] != "A" else "B") + sealed[41:]
    with pytest.raises(rp.PayloadRefused):
        rp.open_sealed(f, flipped)


def test_the_servers_interpreter_becomes_the_workers(tmp_path: Path) -> None:
    f = rp.fernet_for("t")
    p = rp.open_sealed(f, rp.seal(f, rp.build(spec(), (), 1.0, 0, {})))
    p = rp.Payload(**{**p.__dict__, "python": "/opt/server/bin/python", "spec": {
        **p.spec, "argv": ["/opt/server/bin/python", "-m", "trigflow.runner"]}})
    assert rp.local_spec(p, tmp_path, {}).argv == (sys.executable, "-m", "trigflow.runner")


def test_the_environment_travels_as_a_delta_over_the_workers_own(tmp_path: Path) -> None:
    """What the attempt inherited from the server's environment (PATH, HOME, ...) is sent as names and filled
    from the worker's; what trigflow decided for the attempt is sent as is, even under an inherited name whose
    value the task type changed."""
    server_base = {"PATH": "/server/bin", "HOME": "/home/server", "TZ": "UTC", "LANG": "C.UTF-8"}
    env = {**server_base, "TZ": "Asia/Shanghai", "TRIGFLOW_TASK_EXECUTION_ID": "e1",
           "WEDATA_OUTPUT_FILE": f"{RUN}/t.0.0.outputs"}  # fmt: skip
    del env["LANG"]  # a type that drops an inherited name: the worker must not add it back
    f = rp.fernet_for("t")
    body = rp.build(spec(env=env, inherited_env=server_base), (), 1.0, 0, {})
    assert "/server/bin" not in str(body) and "/home/server" not in str(body)
    p = rp.open_sealed(f, rp.seal(f, body))
    worker_env = {"PATH": "/worker/bin", "HOME": "/home/worker", "LANG": "de_DE.UTF-8"}  # no TZ on the worker
    w = tmp_path / "a"
    local = rp.local_spec(p, w, worker_env)
    assert local.env == {"PATH": "/worker/bin", "HOME": "/home/worker", "TZ": "Asia/Shanghai",
                         "TRIGFLOW_TASK_EXECUTION_ID": "e1", "WEDATA_OUTPUT_FILE": f"{w}/t.0.0.outputs"}  # fmt: skip


def test_declared_outputs_travel_as_names_and_their_file_is_rerooted(tmp_path: Path) -> None:
    f = rp.fernet_for("t")
    s = spec(output_keys=("rows", "last"), outputs_path=f"{RUN}/t.0.0.outputs")
    local = rp.local_spec(rp.open_sealed(f, rp.seal(f, rp.build(s, (), 1.0, 0, {}))), tmp_path / "a", {})
    assert local.output_keys == ("rows", "last") and local.outputs_path == f"{tmp_path}/a/t.0.0.outputs"


def test_the_servers_package_root_on_pythonpath_becomes_the_workers(tmp_path: Path) -> None:
    f = rp.fernet_for("t")
    p = rp.open_sealed(f, rp.seal(f, rp.build(spec(env={"PYTHONPATH": "/opt/server/src"}), (), 1.0, 0, {})))
    p = rp.Payload(**{**p.__dict__, "package_root": "/opt/server/src"})
    assert rp.local_spec(p, tmp_path, {}).env["PYTHONPATH"] == rp.PACKAGE_ROOT


def test_a_local_attempt_has_no_payload() -> None:
    with pytest.raises(ValueError):
        rp.build(spec(remote_task_id=None), (), 1.0, 0, {})


def test_reroot_only_prefixes() -> None:
    assert rp.reroot(RUN, RUN, "/w") == "/w"
    assert rp.reroot(f"{RUN}/a/b", RUN, "/w") == "/w/a/b"
    assert rp.reroot(f"/x{RUN}/a", RUN, "/w") == f"/x{RUN}/a"
    assert rp.reroot(f"{RUN}2/a", RUN, "/w") == f"{RUN}2/a"


def test_spilled_files_ship_inputs_but_not_results(tmp_path: Path) -> None:
    for name in ("t.0.0.log", "t.0.0.outputs", "t.0.0.params.json", "t.1.0.params.json", "u.0.0.sh"):
        (tmp_path / name).write_text(name)
    assert rp.spilled_files(tmp_path, "t.0.0") == {"t.0.0.params.json": b"t.0.0.params.json"}


@pytest.mark.parametrize(
    ("task_id", "parts"),
    [("e1.0.0", ("e1", 0, 0)), ("a.b.3.12", ("a.b", 3, 12)), ("e1.0", None), ("e1.x.0", None), (".1.2", None)],
)
def test_fence_parses_attempt_ids(task_id: str, parts: tuple[str, int, int] | None) -> None:
    assert split_task_id(task_id) == parts


def test_log_append_is_idempotent_and_refuses_gaps(tmp_path: Path) -> None:
    path = str(tmp_path / "a.log")
    assert _append_at(path, 0, b"hello ") == 6
    assert _append_at(path, 0, b"hello ") == 6  # a retried chunk is not written twice
    assert _append_at(path, 3, b"lo world") == 11  # overlapping: only the new part
    assert _append_at(path, 20, b"x") is None  # a gap: the worker resends from the size
    assert Path(path).read_bytes() == b"hello world"
