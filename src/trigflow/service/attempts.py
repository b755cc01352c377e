"""The files and environment of one task attempt: its script, parameters, log and output parameters.

Execution decides *when* an attempt starts; this module decides *what* it runs and where its traces
live, so the engine's state handling does not mix with script and file handling. An attempt is named
`<TaskId>.<RetryTimes>.<RerunTimes>` inside the run's directory: `<attempt>.log` (stdout and stderr),
`<attempt>.outputs` ($WEDATA_OUTPUT_FILE) and, when `${...}` substitution changed the code, a copy of
the attempt's script for humans (what runs is a sealed memfd: docs/adr/0003-attempt-isolation.md).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trigflow.domain.params import OUTPUT_FILE_ENV
from trigflow.domain.task_env import task_base_env
from trigflow.executors.base import LaunchSpec
from trigflow.executors.files import open_regular
from trigflow.executors.outputs import collect_outputs
from trigflow.runner.base import LIMIT_MAX_PARAM_CHARS
from trigflow.service.attempt_params import (
    DEFAULT_LIMITS,
    AttemptParams,
    ParamLimits,
    declared_output_value,
    place_params,
    resolve_attempt,
)
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import ProcessTask
from trigflow.tasktypes.process import Attempt, LaunchedTask

DEFAULT_TZ = "Asia/Shanghai"
def attempt_name(row: Mapping[str, Any], retry_times: int) -> str:
    return f"{row['task_id']}.{retry_times}.{row['rerun_times']}"


def resolve_parameters(
    row: Mapping[str, Any],
    outputs_by_task: Mapping[str, Mapping[str, str]],
    limits: ParamLimits = DEFAULT_LIMITS,
    task_type: LaunchedTask | None = None,
    sql_driver: str | None = None,
) -> AttemptParams:
    """The task's code and parameters as this attempt uses them (decisions.md Q-P1..Q-P3, docs/parameters.md).

    Upstream outputs (ParamTaskInList) override the run's parameters; `${...}` in trusted parameter values
    and in the code is substituted against the run's baseline time in its time zone, data values (run-time
    parameters, file-arrival paths, upstream outputs) are never expanded and are placed into the code by
    trigflow.domain.code_quoting. Raises ParameterRefused (service/attempt_params.py) when the attempt
    cannot run with them. `sql_driver` is the `driver` of a SQL task's data source (its dialect): the
    placement check is then that dialect's, not the strictest of all.
    """
    tt = task_type if task_type is not None else launched_type(row["spec"])
    return resolve_attempt(row, outputs_by_task, limits, tt.dialect, sql_driver)


def outputs_of(
    row: Mapping[str, Any], values: Mapping[str, str], declared: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Output parameters of a successful attempt from what it set (`values`, read where it ran and carried
    by its exit fact, executors/outputs.py): a declared output nobody set keeps its declared value,
    substituted like any parameter (Q-P2); anything undeclared is dropped."""
    result: dict[str, str] = {}
    for d in declared:
        key = d["ParamKey"]
        result[key] = values[key] if key in values else declared_output_value(row, d["ParamValue"], DEFAULT_LIMITS)
    return result


def read_outputs(
    row: Mapping[str, Any], run_dir: Path, attempt: str, declared: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Output parameters of a successful attempt whose exit fact carries none: one this server process did
    not see end (a local attempt adopted after a restart, whose keeper recorded only the exit status), read
    from its log and outputs file here, on the host that ran it."""
    keys = [d["ParamKey"] for d in declared]
    log_path = str(run_dir / f"{attempt}.log")
    return outputs_of(row, collect_outputs(log_path, str(run_dir / f"{attempt}.outputs"), keys), declared)


class Launcher:
    """Builds the LaunchSpec of an attempt: what it runs (sealed by the executor), where, with what env.

    No script is written for execution: the executor seals the code into a memfd per attempt, so no task
    can rewrite what another attempt runs (docs/adr/0003-attempt-isolation.md). `scripts_dir` is where
    servers before that change wrote shared per-version scripts; nothing reads or writes it any more
    (`trigflow.app.build` removes it).
    """

    def __init__(
        self,
        scripts_dir: Path,
        base_env: Mapping[str, str] | None = None,
        *,
        task_env: Iterable[str] = (),
        limits: ParamLimits = DEFAULT_LIMITS,
    ) -> None:
        self.legacy_scripts_dir = scripts_dir
        # An allow-list of the server's environment, never its secrets (domain/task_env.py, docs/parameters.md).
        self.base_env = task_base_env(os.environ if base_env is None else base_env, task_env)
        # The bounds a runner type's workload carries (`limits`): one shared dict, nothing built per attempt.
        self.runner_limits = {LIMIT_MAX_PARAM_CHARS: limits.max_param_chars}

    def spec(
        self,
        row: Mapping[str, Any],
        run_dir: Path,
        attempt: str,
        log_path: str,
        prepared: AttemptParams,
        task_type: LaunchedTask | None = None,
        data_source: Mapping[str, Any] | None = None,
        target_data_source: Mapping[str, Any] | None = None,
    ) -> LaunchSpec:
        """The attempt's LaunchSpec, as its task type builds it from what is decided here (tasktypes/process.py).

        `task_type` is the one the engine resolved when it loaded the task run (resolved from the spec if
        not given); `data_source` the connection of the data source it runs on, secrets included (it only
        ever reaches the sealed workload of a runner type); `target_data_source` the one it writes to, if any."""
        spec = row["spec"]
        tt = task_type if task_type is not None else launched_type(spec)
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
        loader = place_params(prepared, tt.dialect, run_dir, attempt, env)  # sealed, never on disk
        if notes:
            run_dir.mkdir(parents=True, exist_ok=True)
            # The run directory is the task's own: a planted FIFO or symlink must not block or redirect us.
            # If the log cannot be opened the notes are skipped; the executor's own open then fails the
            # launch with a clear LaunchError.
            with contextlib.suppress(OSError):
                fd = open_regular(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                with os.fdopen(fd, "a", encoding="utf-8") as log_file:
                    log_file.writelines(f"[trigflow] {n}\n" for n in notes)
        copy_path = self.script_copy_for(run_dir, attempt, spec, code, tt)
        launch = tt.launch(
            spec,
            Attempt(
                attempt_id=row["execution_id"],
                env=env,
                cwd=str(run_dir),
                log_path=log_path,
                outputs_path=output_file,
                code=code,
                params=prepared.params,
                script_copy_path=copy_path,
                sealed_env=loader,
                data_source=data_source,
                limits=self.runner_limits,
                target_data_source=target_data_source,
                segments=prepared.segments,
                variables=prepared.variables,
                output_keys=run_spec.output_keys(spec),
                inherited_env=self.base_env,
            ),
        )
        if copy_path is not None and launch.script_copy_path is None:
            # The type seals something other than its code (a runner's workload, secrets included), so the
            # executor copies nothing: keep the substituted code for GetTaskInstanceLog here.
            _write_copy(copy_path, code)
        return launch

    @staticmethod
    def script_copy_for(
        run_dir: Path, attempt: str, spec: Mapping[str, Any], code: str, task_type: ProcessTask
    ) -> str | None:
        """Where a human-readable copy of the attempt's code goes when substitution changed it (None:
        the definition's code is what ran, GetTriggerTaskCode shows it). The copy is never executed."""
        if code == run_spec.code(spec):
            return None
        return str(run_dir / (attempt + task_type.code_suffix))


def launched_type(spec: Mapping[str, Any]) -> LaunchedTask:
    """The work type of a frozen spec; a spec of any other runtime never reaches a launcher."""
    tt = TASK_TYPES.of_spec(spec)
    if not isinstance(tt, LaunchedTask):
        raise TypeError(f"task type {tt.type_id} runs no process")
    return tt


def _write_copy(path: str, code: str) -> None:
    """A 0600 human-readable copy of an attempt's code; skipped if the run directory refuses it (the task's
    own directory: a planted FIFO or symlink is never followed)."""
    with contextlib.suppress(OSError):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(code)
