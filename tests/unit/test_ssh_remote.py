"""The pure parts of SSH tasks: quoting values for the remote bash, which values are exported, the program
and commands sent to the host, the pgid marker, host-key pins, the task type and the workload it builds."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain import ssh_remote as remote
from trigflow.domain.datasources import to_connection
from trigflow.domain.errors import InvalidParameterValue
from trigflow.runner import base as wl
from trigflow.runner.registry import RUNNERS
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes.process import Attempt
from trigflow.tasktypes.ssh import CONFIG_ENV, SSH, remote_env

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDl6IJdPNyIrxdjWnJ6eKcFdnIvCCy6cBUBZtTxvjJPa"
TOKEN = "0123456789abcdef0123456789abcdef"


def bash_values(assignments: str, names: list[str]) -> list[str]:
    """What bash holds in `names` after reading `assignments` (NUL-separated, so any value comes back)."""
    script = assignments + "".join(f'printf "%s\\0" "${name}"\n' for name in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return out.decode("utf-8", "surrogateescape").split("\0")[:-1]


text_without_nul = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=40, deadline=None)
@given(st.lists(text_without_nul, min_size=1, max_size=8))
def test_a_quoted_value_comes_back_exactly_and_is_never_code(values: list[str]) -> None:
    names = [f"V{i}" for i in range(len(values))]
    assignments = "".join(f"{n}={remote.quote(v)}\n" for n, v in zip(names, values, strict=True))
    assert all("\n" not in remote.quote(v) for v in values)  # one line each: no heredoc delimiter can appear
    assert bash_values(assignments, names) == values


def test_quote_refuses_nul_and_keeps_utf8_readable() -> None:
    with pytest.raises(ValueError):
        remote.quote("a\0b")
    assert remote.quote("中文 $HOME `x` \\ '") == "$'中文 $HOME `x` \\\\ \\''"


def test_values_too_large_for_an_environment_are_plain_shell_variables() -> None:
    env = remote.split_env({"A": "x" * 100, "B": "y" * 40, "bad name": "z", "C": "n\0ul"}, value_bytes=64,
                           total_bytes=1000)  # fmt: skip
    assert env.exported == {"B": "y" * 40} and env.plain == {"A": "x" * 100}
    budget = remote.split_env({"A": "x" * 30, "B": "y" * 30}, value_bytes=64, total_bytes=40)
    assert list(budget.exported) == ["A"] and list(budget.plain) == ["B"]
    text = remote.env_file(env)
    assert text.startswith("export B=") and "\nA=$'" in text and text.endswith("unset BASH_ENV\n")


def test_the_program_writes_script_and_env_and_runs_the_script_in_its_own_group() -> None:
    env = remote.RemoteEnv({"TRIGFLOW_PARAM_v": 'x"; touch /p; echo "'}, {})
    text = remote.program(TOKEN, "echo ${TRIGFLOW_PARAM_v}", env)
    assert text.startswith("{\n") and text.endswith("}\n")  # parsed whole before it runs: stdin stays unread
    assert f"<<'TRIGFLOW_ENV_{TOKEN}'" in text and f"<<'TRIGFLOW_CODE_{TOKEN}'" in text
    assert "set -m" in text and 'BASH_ENV="$d/env" bash "$d/script" </dev/null &' in text
    assert "touch /p" not in text.split(f"TRIGFLOW_ENV_{TOKEN}'\n")[0]  # values only inside the env heredoc
    with pytest.raises(ValueError):
        remote.program(TOKEN, f"echo\nTRIGFLOW_CODE_{TOKEN}\nrm -rf /", env)
    with pytest.raises(ValueError):
        remote.program("not-a-token", "echo", env)


def test_the_program_runs_under_a_local_bash() -> None:
    """The program itself, fed to `bash -s` as sshd would (stdin left open until the script ends)."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        env = remote.RemoteEnv({"TRIGFLOW_PARAM_v": "a 'b' \"c\" $(d)"}, {"BIG": "large"})
        script = 'echo "v=$TRIGFLOW_PARAM_v big=$BIG"; echo "o=1" >> "$WEDATA_OUTPUT_FILE"; exit 3'
        with subprocess.Popen(["bash", "-c", remote.BOOTSTRAP_COMMAND], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "TMPDIR": tmp}) as proc:  # fmt: skip
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            proc.stdin.write(remote.program(TOKEN, script, env).encode())
            proc.stdin.flush()  # and left open, as the runner does
            out = proc.stdout.readline()
            assert proc.wait(timeout=10) == 3
            stderr = proc.stderr.read().decode()
        assert out == b"v=a 'b' \"c\" $(d) big=large\n"
        _, pgid = remote.parse_marker(TOKEN, stderr)
        assert pgid is not None and pgid != proc.pid
        collected = subprocess.run(["bash", "-c", remote.collect_command(TOKEN)], capture_output=True,
                                   env={**os.environ, "TMPDIR": tmp})  # fmt: skip
        assert collected.stdout == b"o=1\n"
        assert os.listdir(tmp) == []  # removed


def test_parse_marker_takes_the_pgid_out_of_a_line() -> None:
    m = remote.marker(TOKEN)
    assert remote.parse_marker(TOKEN, f"{m}123\n") == ("", 123)
    assert remote.parse_marker(TOKEN, f"partial{m}77\n") == ("partial", 77)
    assert remote.parse_marker(TOKEN, "TRIGFLOW-SSH-other pgid=5\n") == ("TRIGFLOW-SSH-other pgid=5\n", None)
    assert remote.parse_marker(TOKEN, f"{m}x\n") == (f"{m}x\n", None)


def test_kill_and_collect_commands_name_only_the_attempts_directory() -> None:
    kill = remote.kill_command(TOKEN, 3)
    assert f"trigflow-ssh-{TOKEN}" in kill and 'kill -TERM -- "-$pg"' in kill and "sleep 3" in kill
    assert f"trigflow-ssh-{TOKEN}" in remote.collect_command(TOKEN)


def test_host_key_pins_are_checked_at_save() -> None:
    assert remote.check_host_keys(KEY) is None
    assert remote.check_host_keys(f"# comment\n{KEY} me@host\necdsa-sha2-nistp256 AAAAE2VjZHNh") is None
    assert remote.check_host_keys("") is not None
    assert "line 2" in str(remote.check_host_keys(f"{KEY}\nnot a key"))
    assert remote.check_known_hosts(f"[127.0.0.1]:2222 {KEY}\n@cert-authority *.example {KEY}") is None
    assert remote.check_known_hosts(KEY) is not None  # no host pattern
    base = {"host": "h", "username": "u", "password": "p"}
    conn = to_connection("SSH", {**base, "hostKey": KEY}, "ProdConProperties")
    assert conn["options"] == {"hostKey": KEY}
    with pytest.raises(InvalidParameterValue, match=r"ProdConProperties\.knownHosts"):
        to_connection("SSH", {**base, "knownHosts": "nonsense"}, "ProdConProperties")


def test_the_task_type_is_registered_with_its_labels_runner_and_data_source() -> None:
    t = TASK_TYPES[133]
    assert t is SSH and t.runnable and t.holds_slot
    assert (t.labels.design, t.labels.desc, t.labels.category, t.labels.run_code) == (
        "SSH",
        "SSH节点",
        "GENERAL",
        "SSH",
    )
    assert t.dialect == "shell"  # data values are placed as for Shell: references, never text
    assert [(u.field, u.allowed_types, u.required, u.single) for u in t.sources] == [
        ("SourceServiceId", ("SSH",), True, True)
    ]
    assert RUNNERS[133] == "trigflow.runner.ssh"


def test_the_workload_carries_every_variable_of_the_remote_script() -> None:
    attempt = Attempt(
        attempt_id="e1", env={"TRIGFLOW_TASK_ID": "t1", "PATH": "/bin", "TRIGFLOW_PARAMS_FILE": "/local"},
        cwd="/tmp", log_path="/tmp/l", outputs_path="/tmp/o", code="echo ${TRIGFLOW_VALUE_0}",
        params={"v": "x", "bad-name": "y"}, variables={"TRIGFLOW_VALUE_0": "y"},
        data_source={"type": "SSH", "password": "pw"},
    )  # fmt: skip
    env = remote_env(attempt)
    assert env == {"TRIGFLOW_TASK_ID": "t1", "TRIGFLOW_PARAM_v": "x", "TRIGFLOW_VALUE_0": "y",
                   "TRIGFLOW_RUN_PARAMS": '{"v":"x","bad-name":"y"}'}  # fmt: skip
    doc = SSH.workload({"config": {"env": "user's"}}, attempt)
    assert json.loads(doc[wl.KEY_CONFIG][CONFIG_ENV]) == env  # always trigflow's, never an ext key's
    launch = SSH.launch({"config": {}}, attempt)
    assert launch.script_copy_path is None and "pw" not in " ".join(launch.argv)
