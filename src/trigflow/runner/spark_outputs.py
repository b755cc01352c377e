"""Output parameters from inside a Spark job (docs/task-types.md "Spark", docs/parameters.md).

A PySpark driver (or any Python code the job runs) imports this module; trigflow puts its package on the
job's PYTHONPATH:

    from trigflow.runner.spark_outputs import save_rows, set_output
    save_rows(df.groupBy("k").count().orderBy("k"))   # or a list of rows: [[1, "a"], [2, "b"]]
    set_output("note", "done")

* `save_rows(rows)` makes `rows` the task's **result**, as the last SELECT is a SQL task's: every declared
  output (`ParamTaskOutList`) whose `ParamValue` is an address (`$[0][1]`, `$[*][0]`, `$[*][*]`, ...) gets its
  value from them, by exactly the SQL task's rules (`trigflow.domain.sql_outputs`). A DataFrame is read with
  `take(MAX_ROWS)`; any other iterable of rows (tuples, lists, `Row`s) is used as given (its first MAX_ROWS).
  Called again, the later rows win.
* `set_output(name, value)` sets one output directly (a declared output without an address, say).

Both append `name=value` lines to `$WEDATA_OUTPUT_FILE`, the format every task type uses; the engine keeps
them only if the attempt then succeeds (exit 0). Outside trigflow (no `$WEDATA_OUTPUT_FILE`) they print what
they would have set and write nothing, so the same script runs under a plain spark-submit.

No Spark import: the module stays importable in any Python.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trigflow.domain.sql_outputs import format_output_file, output_values

__all__ = ["MAX_ROWS", "declared_outputs", "save_rows", "set_output"]

MAX_ROWS = 10_000  # as a SQL task's result (runner/sql.py sqlOutputRows)
DECLARED_OUTPUTS_ENV = "TRIGFLOW_DECLARED_OUTPUTS"  # set by trigflow.runner.spark
OUTPUT_FILE_ENV = "WEDATA_OUTPUT_FILE"


def declared_outputs() -> list[Mapping[str, Any]]:
    """The task's ParamTaskOutList (`[{ParamKey, ParamValue}]`) as trigflow handed it to the job."""
    try:
        value = json.loads(os.environ.get(DECLARED_OUTPUTS_ENV) or "[]")
    except ValueError:
        return []
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def _rows(rows: Any) -> list[Sequence[object]]:
    take = getattr(rows, "take", None)
    if callable(take) and hasattr(rows, "columns"):  # a pyspark DataFrame (or its pandas-on-Spark kin)
        taken: Iterable[Any] = take(MAX_ROWS)
    else:
        taken = itertools.islice(rows, MAX_ROWS)
    out: list[Sequence[object]] = []
    for row in taken:
        if isinstance(row, Sequence) and not isinstance(row, (str, bytes)):
            out.append(tuple(row))
        else:  # a bare value is a one-column row
            out.append((row,))
    return out


def _write(values: Mapping[str, str], what: str) -> None:
    if not values:
        print(f"[trigflow] {what}: no declared output takes them", flush=True)
        return
    path = os.environ.get(OUTPUT_FILE_ENV)
    if not path:
        print(f"[trigflow] {what}: not run by trigflow (no ${OUTPUT_FILE_ENV}); would set {', '.join(values)}",
              flush=True)  # fmt: skip
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(format_output_file(values))
    print(f"[trigflow] {what}: set {', '.join(values)}", flush=True)


def save_rows(rows: Any) -> int:
    """Make `rows` the task's result for the declared addressed outputs; returns how many rows were kept."""
    kept = _rows(rows)
    _write(output_values(declared_outputs(), kept), f"outputs from {len(kept)} saved rows")
    return len(kept)


def set_output(name: str, value: object) -> None:
    """Set output `name` to `value`'s text (`str()`; None is the empty string)."""
    if not isinstance(name, str) or not name or "=" in name or "\n" in name:
        raise ValueError(f"an output name is a non-empty ParamKey without '=' or line breaks, got {name!r}")
    _write({name: "" if value is None else str(value)}, "output")
