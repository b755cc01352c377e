"""The files and environment of one task attempt: its script, parameters, log and output parameters.

Execution decides *when* an attempt starts; this module decides *what* it runs and where its traces
live, so the engine's state handling does not mix with script and file handling. An attempt is named
`<TaskId>.<RetryTimes>.<RerunTimes>` inside the run's directory: `<attempt>.log` (stdout and stderr),
`<attempt>.outputs` ($WEDATA_OUTPUT_FILE) and, when `${...}` substitution changed the code, the
attempt's own script.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trigflow.domain.params import OUTPUT_FILE_ENV, parse_output_file, parse_outputs
from trigflow.domain.task_env import task_base_env
from trigflow.executors.base import LaunchSpec
from trigflow.service.attempt_params import (
    DEFAULT_LIMITS,
    AttemptParams,
    ParamLimits,
    declared_output_value,
    place_params,
    resolve_attempt,
)

DEFAULT_TZ = "Asia/Shanghai"


def attempt_name(row: Mapping[str, Any], retry_times: int) -> str:
    return f"{row['task_id']}.{retry_times}.{row['rerun_times']}"


def resolve_parameters(
    row: Mapping[str, Any], outputs_by_task: Mapping[str, Mapping[str, str]], limits: ParamLimits = DEFAULT_LIMITS
) -> AttemptParams:
    """The task's code and parameters as this attempt uses them (decisions.md Q-P1..Q-P3, docs/parameters.md).

    Upstream outputs (ParamTaskInList) override the run's parameters; `${...}` in trusted parameter values
    and in the code is substituted against the run's baseline time in its time zone, data values (run-time
    parameters, file-arrival paths, upstream outputs) are never expanded and are placed into the code by
    trigflow.domain.code_quoting. Raises ParameterRefused (service/attempt_params.py) when the attempt
    cannot run with them.
    """
    return resolve_attempt(row, outputs_by_task, limits)


def read_outputs(
    row: Mapping[str, Any], run_dir: Path, attempt: str, declared: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Output parameters of a successful attempt: `##wedata_output k=v` lines of its log and `k=v`
    lines of $WEDATA_OUTPUT_FILE (the file wins); a declared output nobody set keeps its declared
    value, substituted like any parameter (Q-P2)."""
    keys = [d["ParamKey"] for d in declared]
    values = parse_outputs(_read(run_dir / f"{attempt}.log"), keys)
    values.update(parse_output_file(_read(run_dir / f"{attempt}.outputs"), keys))
    for d in declared:
        if d["ParamKey"] not in values:
            values[d["ParamKey"]] = declared_output_value(row, d["ParamValue"], DEFAULT_LIMITS)
    return values


class Launcher:
    """Builds the LaunchSpec of an attempt; owns the shared per-version script files."""

    def __init__(
        self, scripts_dir: Path, base_env: Mapping[str, str] | None = None, *, task_env: Iterable[str] = ()
    ) -> None:
        self.scripts_dir = scripts_dir
        # An allow-list of the server's environment, never its secrets (domain/task_env.py, docs/parameters.md).
        self.base_env = task_base_env(os.environ if base_env is None else base_env, task_env)
        self._scripts: set[str] = set()

    def spec(
        self,
        row: Mapping[str, Any],
        run_dir: Path,
        attempt: str,
        log_path: str,
        prepared: AttemptParams,
    ) -> LaunchSpec:
        spec = row["spec"]
        code, notes = prepared.code, prepared.notes
        output_file = str(run_dir / f"{attempt}.outputs")
        env = {
            **self.base_env,
            "TRIGFLOW_PROJECT_ID": row["project_id"],
            "TRIGFLOW_WORKFLOW_ID": row["workflow_id"],
            "TRIGFLOW_WORKFLOW_EXECUTION_ID": row["run_id"],
            "TRIGFLOW_TASK_ID": row["task_id"],
            "TRIGFLOW_TASK_EXECUTION_ID": row["execution_id"],
            OUTPUT_FILE_ENV: output_file,
        }
        place_params(prepared, spec["kind"], run_dir, attempt, env)
        if notes:
            run_dir.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8") as log_file:
                log_file.writelines(f"[trigflow] {n}\n" for n in notes)
        if code == spec["code"]:
            script, text = self.script_for(row), None  # unchanged: share the version's script file
        else:
            script, text = str(run_dir / (attempt + (".py" if spec["kind"] == "PYTHON" else ".sh"))), code
        return LaunchSpec(
            attempt_id=row["execution_id"],
            argv=(*spec["interpreter"], script),
            env=env,
            cwd=str(run_dir),
            log_path=log_path,
            script_path=script if text is not None else None,
            script_text=text,
        )

    def script_for(self, row: Mapping[str, Any]) -> str:
        """The script of a task version, written once (atomically) and shared by all its runs.

        Written via rename so that a task still reading an older copy (bash reads scripts lazily)
        never sees the file change under it.
        """
        spec = row["spec"]
        path = self.scripts_dir / f"{row['task_version_id']}{'.py' if spec['kind'] == 'PYTHON' else '.sh'}"
        key = str(path)
        if key not in self._scripts:
            self.scripts_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(spec["code"], encoding="utf-8")
            os.chmod(tmp, 0o700)
            os.replace(tmp, path)
            self._scripts.add(key)
        return key


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
