"""`set_output(name, value)`: a task's output parameter from Python code it runs (a Notebook task's cells).

It appends `name=value` to the file `$WEDATA_OUTPUT_FILE` names, the format every task type's outputs use
(docs/parameters.md), so a value reaches downstream tasks exactly as a shell task's `echo name=value >>
"$WEDATA_OUTPUT_FILE"` would. The format is one line per value, so a value with a line break is refused
rather than cut. Imports nothing: the kernel loads it from the trigflow package on its PYTHONPATH.
"""

from __future__ import annotations

import os
import re

__all__ = ["set_output"]

OUTPUT_FILE_ENV = "WEDATA_OUTPUT_FILE"
_NAME = re.compile(r"[^=\s][^=\n\r]*\Z")


def set_output(name: str, value: object) -> None:
    """Set the output parameter `name` (a ParamTaskOutList ParamKey) to `str(value)`; the last call wins."""
    text = str(value)
    if not _NAME.match(name) or name != name.strip():
        raise ValueError(f"an output name has no '=', line break or surrounding space: {name!r}")
    if "\n" in text or "\r" in text:
        raise ValueError(f"the value of output {name!r} has a line break; outputs are one line each")
    path = os.environ.get(OUTPUT_FILE_ENV)
    if not path:
        raise RuntimeError(f"${OUTPUT_FILE_ENV} is not set: not running as a trigflow task")
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{name}={text}\n")
