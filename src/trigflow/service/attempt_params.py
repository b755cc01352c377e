"""The parameters of one task attempt: which values are data, the code with them placed safely, and how every
value reaches the process (environment variables, and files for what the environment cannot carry).

The rules are in docs/parameters.md. In short: definition-authored values are trusted and expanded
recursively; run-time parameters, file-arrival paths and upstream outputs are data, never expanded and never
pasted into code as code (trigflow.domain.code_quoting). Every parameter is also handed to the process as
`TRIGFLOW_PARAM_<name>`, and all of them as JSON in `TRIGFLOW_RUN_PARAMS` (or, when too large, in the file
named by `TRIGFLOW_PARAMS_FILE`).

Why files: the kernel refuses any single environment string over 128 KiB (MAX_ARG_STRLEN) and all of them
together over ARG_MAX, and then *no* task starts ("Argument list too long"). So only values under a safe bound
go into the environment; the rest stay in 0600 files in the attempt's directory, and a SHELL task gets them as
shell variables through a `BASH_ENV` file that bash reads before the script.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trigflow.domain.code_quoting import SHELL_DIALECT, UnsafePlacement, render_code
from trigflow.domain.notebook import substitute_cells
from trigflow.domain.params import (
    DEFAULT_MAX_EXPANDED_CHARS,
    DEFAULT_MAX_PARAM_CHARS,
    ExpansionTooLarge,
    Segment,
    Substitution,
    baseline_for,
    legacy_data_names,
    merge_params,
    resolve_inputs,
)
from trigflow.domain.sql_binding import UnsafeSqlPlacement
from trigflow.domain.task_env import PARAMS_FILE_ENV, RUN_PARAMS_ENV, param_env_name
from trigflow.executors.files import open_regular
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.notebook import NOTEBOOK_DIALECT
from trigflow.tasktypes.sql import SQL_DIALECT, check_placements, display_text

DEFAULT_TZ = "Asia/Shanghai"
# One environment string (NAME=value) trigflow puts in a task's environment at most, and all of them together:
# well under the kernel's 128 KiB per string and the usual 2 MiB ARG_MAX, leaving room for the task's own.
ENV_VALUE_BYTES = 32 * 1024
ENV_TOTAL_BYTES = 256 * 1024

__all__ = [
    "DEFAULT_LIMITS",
    "ENV_TOTAL_BYTES",
    "ENV_VALUE_BYTES",
    "AttemptParams",
    "ParamLimits",
    "ParameterRefused",
    "declared_output_value",
    "place_params",
    "resolve_attempt",
]


@dataclass(frozen=True)
class ParamLimits:
    """Operator limits (`trigflow up --max-expanded-size`, `--max-param-size`)."""

    max_expanded_chars: int = DEFAULT_MAX_EXPANDED_CHARS
    max_param_chars: int = DEFAULT_MAX_PARAM_CHARS


DEFAULT_LIMITS = ParamLimits()


class ParameterRefused(Exception):
    """The attempt cannot run with these parameters; `message` is its ErrorCodeStr (no paths, no values)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AttemptParams:
    """What an attempt runs with: its code, its effective parameters and the shell variables the code uses."""

    code: str
    params: dict[str, str]
    notes: list[str]
    variables: dict[str, str] = field(default_factory=dict)
    # SQL: the code as trusted text and data values, bound by the task type for its data source's dialect.
    segments: tuple[Segment, ...] | None = None

    @property
    def run_params(self) -> str:
        """The effective parameters as the task run's RunParams."""
        return json.dumps(self.params, ensure_ascii=False, separators=(",", ":"))


def data_names(spec: Mapping[str, Any], stored: Mapping[str, Any], inputs: Mapping[str, str]) -> set[str]:
    """The names whose values are data: the run's (recorded at creation) and every upstream input."""
    recorded = run_spec.data_params(spec)
    names = set(recorded) if recorded is not None else legacy_data_names(stored)
    return names | inputs.keys()


def resolve_attempt(
    row: Mapping[str, Any],
    outputs_by_task: Mapping[str, Mapping[str, str]],
    limits: ParamLimits,
    dialect: str | None,
    sql_dialect: str | None = None,
) -> AttemptParams:
    """The task's code and parameters as this attempt uses them (decisions.md Q-P1..Q-P3, docs/parameters.md).

    Upstream outputs (ParamTaskInList) override the run's parameters; data values are placed into the code
    for its `dialect` (the task type's, trigflow.tasktypes). Raises ParameterRefused when a data
    value is over the size limit, the expansion would pass its budget, or a value cannot be placed safely.
    For the SQL dialect the segments are kept (the type binds the data values when it knows the data source's
    driver) and checked now, for `sql_dialect` (the data source's driver) when known, else for every SQL dialect.
    """
    spec = row["spec"]
    inputs, notes = resolve_inputs(run_spec.inputs(spec), outputs_by_task)
    stored = json.loads(row["run_params"])
    merged = merge_params(stored, inputs)
    code = run_spec.code(spec)
    data = data_names(spec, stored, inputs)
    for name in sorted(data):
        value = merged.get(name)
        if value is not None and len(value) > limits.max_param_chars:
            raise ParameterRefused(
                f"ParameterTooLarge: the value of ${{{name}}} is {len(value)} characters long; the limit is "
                f"{limits.max_param_chars} (trigflow up --max-param-size)"
            )
    if "${" not in code and not any("${" in v for k, v in merged.items() if k not in data):
        return AttemptParams(code, merged, notes)  # nothing to expand: the common case stays cheap
    baseline = baseline_for(row["schedule_ms"], row["timezone"] or DEFAULT_TZ)
    sub = Substitution(merged, baseline, data=data, limit=limits.max_expanded_chars)
    try:
        if dialect == NOTEBOOK_DIALECT:  # JSON: `${...}` is substituted in each code cell's source, as Python
            notebook = substitute_cells(code, sub.segments)
            resolved = {k: sub.value_of(k) for k in merged}
            notes += [w for w in sub.warnings if not w.startswith("unknown parameter")]
            return AttemptParams(notebook, resolved, notes)
        segments = sub.segments(code)  # the code first: its expansions are the ones the attempt cannot lose
        resolved = {k: sub.value_of(k) for k in merged}
        if dialect == SQL_DIALECT:
            check_placements(segments, sql_dialect)
            notes += sub.warnings  # an unknown ${x} stays in the SQL text as written: worth a note
            return AttemptParams(display_text(segments), resolved, notes, segments=tuple(segments))
        rendered = render_code(dialect, segments)
    except ExpansionTooLarge as e:
        raise ParameterRefused(
            f"ScriptTooLarge: substituting parameters into the code and values would produce more than {e.limit} "
            "characters (trigflow up --max-expanded-size)"
        ) from None
    except (UnsafePlacement, UnsafeSqlPlacement) as e:
        raise ParameterRefused(f"UnsafeParameter: {e}") from None
    notes += [w for w in sub.warnings if not w.startswith("unknown parameter")]  # ${HOME} etc. are the shell's
    return AttemptParams(rendered.text, resolved, notes, rendered.variables)


def declared_output_value(row: Mapping[str, Any], text: str, limits: ParamLimits) -> str:
    """A declared output's default value, substituted like a parameter value (data pasted, never rescanned)."""
    if "${" not in text:
        return text
    stored = json.loads(row["run_params"])
    params = merge_params(stored)
    sub = Substitution(
        params,
        baseline_for(row["schedule_ms"], row["timezone"] or DEFAULT_TZ),
        data=data_names(row["spec"], stored, {}),
        limit=limits.max_expanded_chars,
    )
    try:
        return sub.text(text)
    except ExpansionTooLarge:
        return text


def _env_bytes(name: str, value: str) -> int | None:
    """Bytes of `NAME=value` in the environment, or None when the value cannot be there (NUL, bad Unicode)."""
    if "\0" in value:
        return None
    if value.isascii():
        return len(name) + len(value) + 2
    try:
        return len(name) + len(value.encode("utf-8", "surrogateescape")) + 2
    except UnicodeEncodeError:
        return None


def place_params(
    prepared: AttemptParams, dialect: str | None, run_dir: Path, attempt: str, env: dict[str, str]
) -> dict[str, bytes]:
    """Put the attempt's parameters into `env` (and files next to its log), within the environment's bounds.

    * `TRIGFLOW_PARAM_<name>` for each name that is an identifier, when it fits the bounds;
    * every parameter as one JSON object: inline in `TRIGFLOW_RUN_PARAMS` when it fits, otherwise in a 0600
      file named by `TRIGFLOW_PARAMS_FILE` (exactly one of the two is set);
    * the variables the SHELL code references (`TRIGFLOW_VALUE_<n>`); a SHELL task gets every value that did
      not fit as a shell variable through `BASH_ENV` (read by bash before the script, then unset).

    Returns the code the interpreter reads through its environment (`{"BASH_ENV": loader}`), for the
    executor to hand over sealed like the script: it is never written where a task could swap it.
    """
    params = prepared.params
    if not params and not prepared.variables:
        env[RUN_PARAMS_ENV] = "{}"
        return {}
    budget = ENV_TOTAL_BYTES
    spilled: dict[str, str] = {}
    wanted = {var: value for name, value in params.items() if (var := param_env_name(name)) is not None}
    wanted.update(prepared.variables)
    for var, value in wanted.items():
        size = _env_bytes(var, value)
        if size is not None and size <= ENV_VALUE_BYTES and size <= budget:
            env[var] = value
            budget -= size
        elif "\0" not in value:
            spilled[var] = value
    inline = prepared.run_params
    size = _env_bytes(RUN_PARAMS_ENV, inline)
    if size is not None and size <= min(ENV_VALUE_BYTES, budget):
        env[RUN_PARAMS_ENV] = inline  # the common case: no file to write (a file costs ~100 us per attempt)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / f"{attempt}.params.json"
        _write_private(path, json.dumps(params, ensure_ascii=True, separators=(",", ":")).encode("ascii"))
        env[PARAMS_FILE_ENV] = str(path)
    if spilled and dialect == SHELL_DIALECT:  # only bash reads BASH_ENV
        run_dir.mkdir(parents=True, exist_ok=True)
        return {"BASH_ENV": _shell_loader(spilled, run_dir, attempt)}
    return {}


def _shell_loader(values: Mapping[str, str], run_dir: Path, attempt: str) -> bytes:
    """Code for `BASH_ENV` that reads each large value from its own 0600 file into a shell variable.

    Only the values are files (a swapped value file is a wrong value, never code); the loader itself is
    returned, not written.
    """
    lines = []
    for i, (var, value) in enumerate(values.items()):
        path = run_dir / f"{attempt}.value.{i}"
        _write_private(path, value.encode("utf-8", "surrogatepass"))
        lines.append(f"IFS= read -r -d '' {var} < {shlex.quote(str(path))} || :\n")
    lines.append("unset BASH_ENV\n")
    return "".join(lines).encode("utf-8")


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only the server's user can read (0600), replacing an older one."""
    fd = open_regular(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # in the task's directory
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
