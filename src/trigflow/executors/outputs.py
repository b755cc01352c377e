"""An attempt's output parameters, read where the attempt ran: they travel in its exit fact (issue 10 point 1).

A task sets its outputs by printing `##wedata_output key=value` lines or by writing `key=value` lines to
`$WEDATA_OUTPUT_FILE` (decisions.md Q-P2; the file wins). Both live on the host that ran the attempt, so the
executor that saw the exit reads them there and puts the values in the "exited" event; the engine never
reads another host's disk. Only the keys the task declares are kept (`LaunchSpec.output_keys`): an attempt
printing a million undeclared keys costs a scan, not memory. The declared defaults of keys nobody set are
the engine's business (service/attempts.py `outputs_of`), because they are substituted like parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from trigflow.domain.params import OUTPUT_MARKER, parse_output_file, parse_outputs
from trigflow.executors.logcap import iter_lines

# Bounded memory (docs/limits.md "Task attempts"): a line is cut past the most an attempt may ever expand (so
# a cut value is still over every parameter limit and fails loudly downstream, never silently shortened), and
# of $WEDATA_OUTPUT_FILE, which no limit keeps small, only the first MAX_OUTPUT_FILE_BYTES are read.
MAX_OUTPUT_LINE_BYTES = (16 << 20) + 1
MAX_OUTPUT_FILE_BYTES = 64 << 20
OUTPUT_MARKER_BYTES = OUTPUT_MARKER.encode("ascii")


def collect_outputs(log_path: str, outputs_path: str | None, keys: Sequence[str]) -> dict[str, str]:
    """The declared outputs the attempt set: its log's marker lines, then its outputs file (which wins).

    A missing or unreadable file counts as setting nothing (iter_lines yields nothing), never as an error:
    the task's exit code says whether it succeeded."""
    values: dict[str, str] = {}
    if not keys:
        return values
    for line in iter_lines(log_path, MAX_OUTPUT_LINE_BYTES, needle=OUTPUT_MARKER_BYTES):
        values.update(parse_outputs(line.decode("utf-8", "replace"), keys))
    if outputs_path:
        for line in iter_lines(outputs_path, MAX_OUTPUT_LINE_BYTES, max_bytes=MAX_OUTPUT_FILE_BYTES, needle=b"="):
            values.update(parse_output_file(line.decode("utf-8", "replace"), keys))
    return values
