"""Jupyter notebooks as Notebook tasks (TaskTypeId 132) take them: the check at save, the settings of
TaskExtConfigurationList, `${...}` placed cell by cell, and the papermill-style parameters cell.

Why each piece is here and not in the runner: the save-time check must not need nbformat on the server
(the `notebook` extra belongs to workers), the per-cell placement runs where parameter provenance is known
(the server's parameter layer), and the injected cell must be provably data-only, which a pure function
with a property test shows best. No I/O.

* **A notebook** is nbformat 4 JSON. `parse_notebook` checks the structure nbclient relies on (cells, their
  types, sources, outputs, ids, tags) and names the first thing that is wrong; it returns the notebook with
  the fields the 4.5 schema requires filled in (cell ids, `metadata`, `outputs`, `execution_count`), so the
  executed copy validates. Empty code is an empty notebook (a task saved before its notebook is written).
* **Parameters cell** (`inject_parameters`, as papermill does it): cells tagged `injected-parameters` (left by
  an earlier execution) are dropped, and a new cell with that tag goes right after the first cell tagged
  `parameters`, or first when none is. It assigns each parameter whose name is an ASCII identifier (not a
  keyword) to its value as a Python `str` literal (`repr`): a value is never code, whatever it holds.
* **`${...}` in cells** (`render_cell`): trusted text is pasted, as in a Python task; a data value (an
  upstream output, a run-time parameter) is placed as a Python literal by the PYTHON renderer
  (trigflow.domain.code_quoting), and only in a cell that is plain Python: IPython expands `{expr}` and `$name`
  in magics and `!commands`, so a value there could run. Markdown and raw cells are never substituted.
"""

from __future__ import annotations

import ast
import copy
import json
import keyword
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trigflow.domain.code_quoting import UnsafePlacement, render_python
from trigflow.domain.params import Segment
from trigflow.domain.stand_ins import with_stand_ins

__all__ = [
    "CELL_TYPES",
    "EXT_ALLOW_ERRORS",
    "EXT_CELL_TIMEOUT",
    "EXT_KERNEL",
    "EXT_STARTUP_TIMEOUT",
    "INJECTED_TAG",
    "PARAMETERS_TAG",
    "Injection",
    "NotebookError",
    "NotebookSettings",
    "SettingError",
    "cell_source",
    "dump_notebook",
    "inject_parameters",
    "injectable",
    "notebook_settings",
    "parameters_source",
    "parse_notebook",
    "render_cell",
    "substitute_cells",
]

CELL_TYPES = ("code", "markdown", "raw")
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
INJECTED_HEADER = "# Parameters (injected by trigflow)\n"
_MINOR = 5  # cell ids are required from nbformat 4.5 on: what Jupyter writes today
_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}\Z")
_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class NotebookError(ValueError):
    """The code is not a notebook this type runs; the message says what is wrong, for the field's refusal."""


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def new_notebook() -> dict[str, Any]:
    return {"nbformat": 4, "nbformat_minor": _MINOR, "metadata": {}, "cells": []}


def parse_notebook(text: str) -> dict[str, Any]:
    """The notebook `text` holds, normalised to nbformat 4.5; raises NotebookError naming what is wrong."""
    if not text.strip():
        return new_notebook()
    try:
        doc = json.loads(text)
    except ValueError as e:
        where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise NotebookError(f"it is not JSON ({getattr(e, 'msg', e)}{where})") from None
    if not isinstance(doc, dict):
        raise NotebookError(f"a notebook is a JSON object (a .ipynb file), got {_kind(doc)}")
    version = doc.get("nbformat")
    if isinstance(version, bool) or not isinstance(version, int):
        raise NotebookError('it has no integer "nbformat" (a .ipynb file of Jupyter has "nbformat": 4)')
    if version != 4:
        raise NotebookError(
            f"it is nbformat {version}; only nbformat 4 runs (`jupyter nbconvert --to notebook --nbformat 4` "
            "converts it)"
        )
    minor = doc.get("nbformat_minor", 0)
    if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
        raise NotebookError('"nbformat_minor" must be a non-negative integer')
    if not isinstance(doc.get("metadata", {}), dict):
        raise NotebookError('"metadata" must be an object')
    cells = doc.get("cells")
    if not isinstance(cells, list):
        raise NotebookError(f'"cells" must be an array, got {_kind(cells)}')
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        _check_cell(cell, i, seen)
    nb = copy.deepcopy(doc)
    nb["nbformat_minor"] = max(minor, _MINOR)
    nb.setdefault("metadata", {})
    for i, cell in enumerate(nb["cells"]):
        cell.setdefault("metadata", {})
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        if "id" not in cell:
            cell["id"] = _fresh_id(f"cell-{i + 1}", seen)
    return nb


def _check_cell(cell: Any, i: int, seen: set[str]) -> None:
    where = f"cells[{i}]"
    if not isinstance(cell, dict):
        raise NotebookError(f"{where} must be an object, got {_kind(cell)}")
    kind = cell.get("cell_type")
    if kind not in CELL_TYPES:
        raise NotebookError(f"{where}.cell_type must be one of {', '.join(CELL_TYPES)}, got {str(kind)[:40]!r}")
    source = cell.get("source", "")
    if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(s, str) for s in source)):
        raise NotebookError(f"{where}.source must be a string or an array of strings")
    metadata = cell.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NotebookError(f"{where}.metadata must be an object")
    tags = metadata.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise NotebookError(f"{where}.metadata.tags must be an array of strings")
    if "id" in cell:
        cell_id = cell["id"]
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id):
            raise NotebookError(f"{where}.id must be 1-64 letters, digits, '-' or '_'")
        if cell_id in seen:
            raise NotebookError(f"{where}.id {cell_id!r} is used by an earlier cell too")
        seen.add(cell_id)
    if kind == "code":
        if not isinstance(cell.get("outputs", []), list):
            raise NotebookError(f"{where}.outputs must be an array")
        count = cell.get("execution_count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise NotebookError(f"{where}.execution_count must be an integer or null")


def _fresh_id(wanted: str, seen: set[str]) -> str:
    candidate, n = wanted, 1
    while candidate in seen:
        n += 1
        candidate = f"{wanted}-{n}"
    seen.add(candidate)
    return candidate


def cell_source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def tags_of(cell: Mapping[str, Any]) -> list[str]:
    metadata = cell.get("metadata") or {}
    tags = metadata.get("tags") or []
    return [t for t in tags if isinstance(t, str)]


def dump_notebook(nb: Mapping[str, Any]) -> str:
    """The notebook as Jupyter writes a .ipynb (one-space indent, sorted keys, final newline)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------- parameters


def injectable(name: str) -> bool:
    """Whether a parameter name can be assigned in Python as it is (`sys.dag.x`, `class` cannot)."""
    return bool(_ASCII_NAME.match(name)) and not keyword.iskeyword(name)


def parameters_source(params: Mapping[str, str]) -> str:
    """The injected cell's code: one `name = 'value'` line per injectable parameter, each value a literal."""
    lines = [f"{name} = {str(value)!r}\n" for name, value in params.items() if injectable(name)]
    return INJECTED_HEADER + "".join(lines)


@dataclass(frozen=True)
class Injection:
    """The notebook with its parameters cell, where it went (index, or None: no cell) and which names were left
    out (not identifiers)."""

    notebook: dict[str, Any]
    index: int | None
    injected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    after_tagged: bool = False


def inject_parameters(nb: Mapping[str, Any], params: Mapping[str, str]) -> Injection:
    """`nb` (parsed) with a fresh `injected-parameters` cell, papermill's placement (module docstring)."""
    out = copy.deepcopy(dict(nb))
    cells = [c for c in out.get("cells", []) if INJECTED_TAG not in tags_of(c)]
    out["cells"] = cells
    injected = [n for n in params if injectable(n)]
    skipped = [n for n in params if not injectable(n)]
    if not injected:
        return Injection(out, None, injected, skipped)
    tagged = next((i for i, c in enumerate(cells) if PARAMETERS_TAG in tags_of(c)), None)
    index = 0 if tagged is None else tagged + 1
    seen = {str(c["id"]) for c in cells if isinstance(c.get("id"), str)}
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "id": _fresh_id("injected-parameters", seen),
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": parameters_source({n: params[n] for n in injected}),
    }
    cells.insert(index, cell)
    return Injection(out, index, injected, skipped, tagged is not None)


# --------------------------------------------------------------------------------------- ${...} in cells


def _compiles_as_cell(source: str) -> bool:
    """Plain Python as IPython runs it (top-level `await` allowed): no magic, no !command, no `x?`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<cell>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                    dont_inherit=True)  # fmt: skip
        except (SyntaxError, ValueError):
            return False
    return True


def render_cell(segments: Sequence[Segment]) -> str:
    """One code cell's source with its data values placed as Python literals; raises UnsafePlacement where a
    value cannot be placed safely (the module docstring)."""
    if all(isinstance(s, str) for s in segments):
        return "".join(segments)  # type: ignore[arg-type]
    held_out, _, values = with_stand_ins(segments, "__trigflow_value_", "_")
    if not _compiles_as_cell(held_out):
        names = ", ".join("${" + v.name + "}" for v in values)
        raise UnsafePlacement(
            f"a data value ({names}) is in a cell that is not plain Python (an IPython magic, a !command, or "
            "a syntax error), where IPython would expand it; use the variable of the injected parameters cell"
        )
    rendered = render_python(segments).text
    if not _compiles_as_cell(rendered):
        raise UnsafePlacement("the cell no longer compiles with its data values placed; refused")
    return rendered


def substitute_cells(text: str, segments_of: Callable[[str], Sequence[Segment]]) -> str:
    """The notebook `text` with `${...}` of every code cell substituted (`segments_of` expands one source);
    `text` itself when no cell changed or it is not a notebook (the runner then says what is wrong).
    Raises UnsafePlacement naming the cell (1-based, as the runner's log counts them)."""
    try:
        nb = parse_notebook(text)
    except NotebookError:
        return text
    changed = False
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = cell_source(cell)
        if "${" not in source:
            continue
        try:
            rendered = render_cell(segments_of(source))
        except UnsafePlacement as e:
            raise UnsafePlacement(f"cell {i + 1}: {e}") from None
        if rendered != source:
            cell["source"] = rendered
            changed = True
    return dump_notebook(nb) if changed else text


# -------------------------------------------------------------------------------------------- settings

EXT_KERNEL = "kernelName"
EXT_CELL_TIMEOUT = "cellTimeout"
EXT_STARTUP_TIMEOUT = "startupTimeout"
EXT_ALLOW_ERRORS = "allowErrors"
DEFAULT_KERNEL = "python3"
DEFAULT_STARTUP_TIMEOUT_S = 60
MAX_CELL_TIMEOUT_S = 7 * 24 * 3600
MAX_STARTUP_TIMEOUT_S = 600
_KERNEL_NAME = re.compile(r"[a-zA-Z0-9._-]{1,64}\Z")  # jupyter_client's kernel spec names, bounded


class SettingError(ValueError):
    """A TaskExtConfigurationList value this type cannot use; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key} {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class NotebookSettings:
    """How the notebook runs: which kernel, how long a cell may take (None: only the task's
    ExecutionTTLMinute bounds it), how long the kernel may take to start, whether a failing cell fails the task."""

    kernel_name: str = DEFAULT_KERNEL
    cell_timeout_s: int | None = None
    startup_timeout_s: int = DEFAULT_STARTUP_TIMEOUT_S
    allow_errors: bool = False


def _text(ext: Mapping[str, Any], key: str) -> str | None:
    value = ext.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _seconds(ext: Mapping[str, Any], key: str, high: int) -> int | None:
    text = _text(ext, key)
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise SettingError(key, f"must be a whole number of seconds from 1 to {high}, got {text[:40]!r}")
    return int(text)


def notebook_settings(ext: Mapping[str, Any]) -> NotebookSettings:
    """The settings TaskExtConfigurationList gives (unset or empty: the default); raises SettingError."""
    kernel = _text(ext, EXT_KERNEL) or DEFAULT_KERNEL
    if not _KERNEL_NAME.match(kernel):
        shown = kernel[:40]
        raise SettingError(EXT_KERNEL, f"must be a kernel spec name (letters, digits, '.', '-', '_'), got {shown!r}")
    allow = (_text(ext, EXT_ALLOW_ERRORS) or "false").lower()
    if allow not in ("true", "false"):
        raise SettingError(EXT_ALLOW_ERRORS, f"must be true or false, got {allow[:40]!r}")
    startup = _seconds(ext, EXT_STARTUP_TIMEOUT, MAX_STARTUP_TIMEOUT_S)
    return NotebookSettings(
        kernel_name=kernel,
        cell_timeout_s=_seconds(ext, EXT_CELL_TIMEOUT, MAX_CELL_TIMEOUT_S),
        startup_timeout_s=startup if startup is not None else DEFAULT_STARTUP_TIMEOUT_S,
        allow_errors=allow == "true",
    )
