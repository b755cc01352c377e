"""FILE_ARRIVAL triggers through a live server (a 'minute' is 0.2 s here): one Event run per settled
batch of new matching files, the batch's paths as a parameter, each file counted once."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import Server, wait_for
from tests.integration.helpers import call, new_task, new_workflow, wait_run


def event_runs(client: Any, project_id: str, wf: str) -> list[Any]:
    by_workflow = [{"Name": "WorkflowId", "Values": [wf]}]
    order = [{"Name": "CreateTime", "Direction": "ASC"}]
    return list(call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id, "Filters": by_workflow,
                                                        "OrderFields": order}).Items)  # fmt: skip


def baseline_taken(server: Server, trigger_id: str) -> bool:
    """Whether the trigger's first scan is recorded (its empty-path row, service/triggers.py _take_baseline), read
    from the session server's SQLite database: whatever is there at that scan is the baseline, not an arrival
    (docs/triggers.md), so a file written before it, however soon after the save, never fires."""
    db = f"file:{server.data_dir / 'trigflow.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(db, uri=True)) as conn:
        row = conn.execute("SELECT 1 FROM trigger_files WHERE trigger_id = ? AND path = ''", (trigger_id,)).fetchone()
    return row is not None


def test_new_files_fire_one_run_per_batch_and_count_once(
    client: Any, project_id: str, server: Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    (inbox / "old.csv").write_text("there before the trigger")  # baseline: not an arrival
    got = tmp_path / "got"
    trigger = {"TriggerMode": "FILE_ARRIVAL", "SchedulerStatus": "ACTIVE", "FileArrivalPath": f"file://{inbox}",
               "FileNamePattern": "*.csv", "Recursive": 1, "TriggerWaitTime": 1,
               "TriggerMinimumInterval": 1}  # fmt: skip
    name = f"files_{uuid.uuid4().hex[:6]}"
    wf = new_workflow(client, project_id, name, TriggerWorkflowSchedulerConfigurations=[trigger],
                      TriggerWorkflowRunConfiguration={"MaxConcurrentNum": 5})  # fmt: skip
    new_task(client, project_id, wf, "ingest", f"echo '${{file_arrival_paths}}' >> {got}")
    saved = call(client, "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
    trigger_id = saved.TriggerWorkflowSchedulerConfigurations[0].TriggerId
    wait_for(lambda: baseline_taken(server, trigger_id), what="the trigger's baseline scan")  # a second or so

    (inbox / "a.csv").write_text("1")
    (inbox / "sub" / "b.csv").write_text("2")
    (inbox / "ignored.txt").write_text("no match")
    runs = wait_for(lambda: event_runs(client, project_id, wf), timeout=15, what="first batch")
    first = wait_run(client, project_id, runs[0].ExecutionId)
    assert first.TriggerWorkflowRun.TriggerType == "Event" and first.TriggerWorkflowRun.TriggerId
    paths = json.loads(json.loads(first.TriggerWorkflowRun.WorkflowParams)["file_arrival_paths"])
    assert sorted(paths) == sorted([str(inbox / "a.csv"), str(inbox / "sub" / "b.csv")])
    assert first.TriggerWorkflowRun.ExecutionState == "SUCCESS"

    os.utime(inbox / "a.csv", (1, 1))  # a.csv rewritten (new mtime): counts again; b.csv untouched does not
    (inbox / "c.csv").write_text("3")
    second = wait_for(lambda: (r := event_runs(client, project_id, wf)) and len(r) >= 2 and r[1], timeout=15,
                      what="second batch")  # fmt: skip
    done = wait_run(client, project_id, second.ExecutionId)
    paths2 = json.loads(json.loads(done.TriggerWorkflowRun.WorkflowParams)["file_arrival_paths"])
    assert sorted(paths2) == sorted([str(inbox / "a.csv"), str(inbox / "c.csv")])
    assert len(event_runs(client, project_id, wf)) == 2
