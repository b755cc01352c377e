"""Trusted text with each data value replaced by a stand-in name, for renderers that parse the code.

The SHELL/PYTHON renderers (code_quoting.py) and the SQL renderer (sql_binding.py) both need to tokenize a
script whose data values are not there yet: each value becomes `<base><n><suffix>`, a name no trusted text
contains (the base grows until it occurs nowhere), so the tokenizer sees one identifier per value and the
renderer decides, by its position, how the value may appear. No imports beyond typing: the SQL runner loads
this without the parameter machinery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trigflow.domain.params import Data, Segment

__all__ = ["with_stand_ins"]


def with_stand_ins(segments: Sequence[Segment], base: str, suffix: str) -> tuple[str, str, list[Data]]:
    """(source with stand-ins, the base actually used, the data values in stand-in order)."""
    trusted = "".join(s for s in segments if isinstance(s, str))
    while base in trusted:
        base += "x"
    values: list[Data] = []
    parts: list[str] = []
    for seg in segments:
        if isinstance(seg, str):
            parts.append(seg)
        else:
            parts.append(f"{base}{len(values)}{suffix}")
            values.append(seg)
    return "".join(parts), base, values
