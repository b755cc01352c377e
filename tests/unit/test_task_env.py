"""Task environments (trigflow.domain.task_env) and how parameters reach a task (service/attempt_params.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from trigflow.domain.code_quoting import SHELL_DIALECT
from trigflow.domain.task_env import check_extra_names, param_env_name, task_base_env
from trigflow.service.attempt_params import ENV_VALUE_BYTES, AttemptParams, place_params

SERVER_ENV = {
    "PATH": "/usr/bin:/bin", "HOME": "/home/svc", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "TRIGFLOW_SECRET_KEY": "admin-secret", "TRIGFLOW_DB": "postgresql://u:pw@h/db", "TRIGFLOW_SECRET_ID": "AKID",
    "AWS_SECRET_ACCESS_KEY": "aws", "DATABASE_URL": "postgresql://u:pw@h/db", "BASH_ENV": "/evil.sh",
    "MY_TOOL_HOME": "/opt/tool", "JAVA_HOME": "/opt/java", "JAVA_OPTS": "-Xmx1g",
}  # fmt: skip


def test_only_the_allow_list_is_inherited() -> None:
    assert task_base_env(SERVER_ENV) == {
        "PATH": "/usr/bin:/bin", "HOME": "/home/svc", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    }  # fmt: skip


def test_operator_names_and_prefixes_are_added_but_never_trigflow_ones() -> None:
    env = task_base_env(SERVER_ENV, ["MY_TOOL_HOME", "JAVA*"])
    assert env["MY_TOOL_HOME"] == "/opt/tool" and env["JAVA_HOME"] == "/opt/java" and env["JAVA_OPTS"] == "-Xmx1g"
    assert not {k for k in env if k.startswith("TRIGFLOW_")}


@pytest.mark.parametrize("name", ["TRIGFLOW_SECRET_KEY", "TRIGFLOW_*", "TRIG*", "wedata_x", "T*", "1X", "A-B", "*"])
def test_reserved_or_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="--task-env"):
        check_extra_names([name])


def test_param_env_names() -> None:
    assert param_env_name("biz_date") == "TRIGFLOW_PARAM_biz_date"
    assert param_env_name("file-list") is None and param_env_name("1a") is None and param_env_name("") is None


def run_with(env: dict[str, str], script: str, tmp_path: Path) -> str:
    path = tmp_path / "t.sh"
    path.write_text(script)
    full = {"PATH": os.environ["PATH"], **env}
    return subprocess.run(["bash", str(path)], env=full, capture_output=True, text=True, timeout=10).stdout


def test_small_params_are_in_the_environment_and_the_file(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    place_params(AttemptParams("", {"a": "1", "b-c": "2"}, []), SHELL_DIALECT, tmp_path, "t.0.0", env)
    assert env["TRIGFLOW_PARAM_a"] == "1" and "TRIGFLOW_PARAM_b-c" not in env
    assert json.loads(env["TRIGFLOW_RUN_PARAMS"]) == {"a": "1", "b-c": "2"}
    assert "TRIGFLOW_PARAMS_FILE" not in env and "BASH_ENV" not in env
    assert not list(tmp_path.iterdir())  # nothing written: the common case costs no file


def test_large_values_reach_bash_through_bash_env(tmp_path: Path) -> None:
    big = "x\n" * 100_000 + "\n\n"  # trailing newlines are kept
    env: dict[str, str] = {}
    sealed = place_params(AttemptParams("", {"big": big, "nul": "a\0b"}, [], {"TRIGFLOW_VALUE_0": big}), SHELL_DIALECT,
                          tmp_path, "t.0.0", env)  # fmt: skip
    assert "TRIGFLOW_PARAM_big" not in env and "TRIGFLOW_RUN_PARAMS" not in env and "BASH_ENV" not in env
    assert not list(tmp_path.glob("*.sh"))  # the loader is code: returned to be sealed, never written
    loader = tmp_path / "sealed-loader"  # what the executor does with it (a sealed memfd there)
    loader.write_bytes(sealed["BASH_ENV"])
    env["BASH_ENV"] = str(loader)
    assert all(len(k) + len(v) + 2 <= ENV_VALUE_BYTES for k, v in env.items())
    out = run_with(env, 'printf "%s|%s" "$TRIGFLOW_PARAM_big" "$TRIGFLOW_VALUE_0"; printf "|%s" "${BASH_ENV-unset}"',
                   tmp_path)  # fmt: skip
    assert out == f"{big}|{big}|unset"
    params_file = Path(env["TRIGFLOW_PARAMS_FILE"])
    assert json.loads(params_file.read_text()) == {"big": big, "nul": "a\0b"}  # everything, NUL included
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in tmp_path.glob("t.0.0.*"))


def test_no_params_no_files(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    place_params(AttemptParams("true", {}, []), SHELL_DIALECT, tmp_path / "run", "t.0.0", env)
    assert env == {"TRIGFLOW_RUN_PARAMS": "{}"}
    assert not (tmp_path / "run").exists()
