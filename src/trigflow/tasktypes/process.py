"""How a work type's attempt becomes a LaunchSpec: a script under its interpreter, or the worker-side runner.

Shell and Python run their interpreter on the sealed code directly (ADR 0002: the 50-task chain's
per-task cost is one fork/exec of bash). Every other work type runs `trigflow run-attempt` on a sealed
workload document (docs/adr/0004-task-types.md): the executor seals `LaunchSpec.script` into a memfd and
appends `/dev/fd/<n>` to argv exactly as for a shell script, so a data-source password in the workload
never appears in argv, in the environment or on disk, and any executor that runs a Shell task runs
every type unchanged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trigflow
from trigflow.executors.base import LaunchSpec
from trigflow.runner import base as wl
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.base import ProcessTask

# `python -m trigflow.runner /dev/fd/<n>` (= `trigflow run-attempt`, without the CLI's imports): the
# interpreter that runs the server (its venv), on the same trigflow package (PYTHONPATH names its root:
# the task environment is an allow-list, and a server run from a source tree is not importable by name
# otherwise).
RUNNER_ARGV: tuple[str, ...] = (sys.executable, "-m", "trigflow.runner")
PACKAGE_ROOT = str(Path(trigflow.__file__).resolve().parents[1])


@dataclass(slots=True)  # not frozen: built once per attempt on the hot path, and frozen init costs ~2 us
class Attempt:
    """What the launcher decided for one attempt, for the type to turn into a LaunchSpec.

    `code` is the attempt's code with parameters placed; `params` its effective parameters (as data);
    `sealed_env` what the interpreter reads as code through its environment (e.g. BASH_ENV);
    `data_source` the connection of the task's data source, secrets included (None: it has none);
    `target_data_source` likewise for a type that also writes to a second one (offline sync's TargetServiceId);
    `segments` the code as trusted text and data values when the type binds data itself (SQL: rendered for
    the data source's dialect by the type, tasktypes/sql.py), else None; `variables` the values the Shell
    dialect's code references by name (`TRIGFLOW_VALUE_<n>`, ...), for a type that hands them over itself
    (SSH exports them on the remote host, tasktypes/ssh.py); `output_keys` the output parameters the task
    declares and `inherited_env` the server's part of `env` (both passed on in the LaunchSpec, base.py).
    """

    attempt_id: str
    env: Mapping[str, str]
    cwd: str
    log_path: str
    outputs_path: str
    code: str
    params: Mapping[str, str]
    script_copy_path: str | None = None
    sealed_env: Mapping[str, bytes] = field(default_factory=dict)
    data_source: Mapping[str, Any] | None = None
    target_data_source: Mapping[str, Any] | None = None
    limits: Mapping[str, Any] = field(default_factory=dict)
    segments: Sequence[Any] | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    output_keys: tuple[str, ...] = ()
    inherited_env: Mapping[str, str] = field(default_factory=dict)


class LaunchedTask(ProcessTask):
    """A work type whose attempts the executor starts from a LaunchSpec."""

    def launch(self, spec: Mapping[str, Any], attempt: Attempt) -> LaunchSpec:
        raise NotImplementedError


class ScriptTask(LaunchedTask):
    """The code runs under an interpreter command line frozen with the run (`spec["interpreter"]`)."""

    def interpreter(self, ext: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {"kind": self.kind, "code": code, "interpreter": self.interpreter(ext)}

    def launch(self, spec: Mapping[str, Any], attempt: Attempt) -> LaunchSpec:
        return LaunchSpec(
            attempt_id=attempt.attempt_id,
            argv=tuple(spec["interpreter"]),
            env=attempt.env,
            cwd=attempt.cwd,
            log_path=attempt.log_path,
            script=attempt.code,
            script_copy_path=attempt.script_copy_path,
            sealed_env=attempt.sealed_env,
            output_keys=attempt.output_keys,
            outputs_path=attempt.outputs_path,
            inherited_env=attempt.inherited_env,
        )


class RunnerTask(LaunchedTask):
    """The attempt is `trigflow run-attempt` on a sealed workload document; its runner is the one
    trigflow.runner.registry names for this TaskTypeId."""

    def freeze(self, code: str, ext: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        conf = config or {}
        return {
            "kind": self.kind,
            "code": code,
            "config": {k: str(v) for k, v in ext.items()},
            # The data sources the attempt connects to (looked up when it starts, so a changed password applies).
            run_spec.SOURCE_SERVICE_ID: conf.get("SourceServiceId") or None,
            run_spec.TARGET_SERVICE_ID: conf.get("TargetServiceId") or None,
        }

    def workload(self, spec: Mapping[str, Any], attempt: Attempt) -> dict[str, Any]:
        """The workload document (docs/adr/0004-task-types.md "The workload document")."""
        return {
            wl.KEY_TYPE_ID: self.type_id,
            wl.KEY_CODE: attempt.code,
            wl.KEY_PARAMS: dict(attempt.params),
            wl.KEY_CONFIG: dict(spec.get("config") or {}),
            wl.KEY_DATA_SOURCE: dict(attempt.data_source) if attempt.data_source is not None else None,
            wl.KEY_TARGET_DATA_SOURCE: (
                dict(attempt.target_data_source) if attempt.target_data_source is not None else None
            ),
            wl.KEY_OUTPUTS_PATH: attempt.outputs_path,
            wl.KEY_LIMITS: dict(attempt.limits),
        }

    def launch(self, spec: Mapping[str, Any], attempt: Attempt) -> LaunchSpec:
        document = json.dumps(self.workload(spec, attempt), ensure_ascii=False, separators=(",", ":"))
        return LaunchSpec(
            attempt_id=attempt.attempt_id,
            argv=RUNNER_ARGV,
            env={**attempt.env, "PYTHONPATH": PACKAGE_ROOT},
            cwd=attempt.cwd,
            log_path=attempt.log_path,
            script=document,  # sealed like a script: /dev/fd/<n> is the runner's workload argument
            script_copy_path=None,  # never copied: the document may hold a data source's password
            output_keys=attempt.output_keys,
            outputs_path=attempt.outputs_path,
            inherited_env=attempt.inherited_env,
        )
