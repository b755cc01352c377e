"""A Notebook task (TaskTypeId 132) against the same notebook executed directly, for the note in docs/task-types.md.

Three ways, alternated N times in one run (median and min):

* `nbclient in-process`: `NotebookClient(nb).execute()` in this process, what `jupyter nbconvert --execute`
  does: a kernel started, the cells run, the kernel shut down. nbclient is already imported.
* `nbconvert-like process`: the same in a fresh `python -c` (imports included), the fair bare equivalent of a
  process per attempt.
* `Notebook task via the API`: CreateTriggerWorkflowRun of a one-task workflow on a real `trigflow up`, polled
  until SUCCESS (the runner process, its imports, the kernel, the executed copy, the engine).

Usage: `.venv/bin/python bench/notebook_bench.py [N]` (default 5). Kernel start-up dominates every way.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from tests.conftest import make_client, start_server
from tests.integration.helpers import call, new_workflow, start_run, wait_run

CELLS = ["x = sum(range(1000))", "print('total', x)", "x * 2"]
NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s, "outputs": [],
                       "execution_count": None} for i, s in enumerate(CELLS)]}  # fmt: skip
DIRECT = (
    "import json, sys, nbformat\nfrom nbclient import NotebookClient\n"
    "NotebookClient(nbformat.reads(sys.argv[1], as_version=4)).execute()\n"
)


def _timed(f: Callable[[], object]) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main(n: int) -> None:
    text = json.dumps(NOTEBOOK)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), extra=["--rate-limit", "100000", "--log-level", "warning"])
        try:
            client = make_client(server.endpoint)
            project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
            wf = new_workflow(client, project_id, "notebook_bench")
            params = {"ProjectId": project_id,
                      "TriggerTaskBaseAttribute": {"TaskName": "nb", "TaskTypeId": "132", "WorkflowId": wf},
                      "TriggerTaskConfiguration": {"CodeContent": base64.b64encode(text.encode()).decode()},
                      "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0}}  # fmt: skip
            task_id = call(client, "CreateTriggerTask", params).TaskId
            call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": task_id, "VersionRemark": "v1"})

            def via_api() -> None:
                run_id = start_run(client, project_id, wf)
                state = wait_run(client, project_id, run_id, timeout=120, poll=0.01).TriggerWorkflowRun.ExecutionState
                assert state == "SUCCESS", state

            ways: dict[str, Callable[[], object]] = {
                "nbclient in-process": lambda: NotebookClient(nbformat.reads(text, as_version=4)).execute(),  # type: ignore[no-untyped-call]
                "nbconvert-like process": lambda: subprocess.run([sys.executable, "-c", DIRECT, text], check=True),
                "Notebook task via the API": via_api,
            }
            times: dict[str, list[float]] = {k: [] for k in ways}
            for f in ways.values():  # warm-up: page cache, first kernel spec lookups
                f()
            for _ in range(n):
                for k, f in ways.items():
                    times[k].append(_timed(f))
        finally:
            server.stop()
    base = statistics.median(times["nbconvert-like process"])
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"{k:<28} median {med * 1000:7.0f} ms  min {min(ts) * 1000:7.0f} ms  x{med / base:.2f} of the process")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
