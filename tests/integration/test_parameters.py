"""Parameters through the SDK: workflow params, AdvancedParams, time expressions against the run's
baseline (Asia/Shanghai), output parameters flowing downstream, RunParams showing what was used."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.integration.helpers import new_task, new_workflow, start_run, wait_run

CST = ZoneInfo("Asia/Shanghai")


def by_name(data: Any) -> dict[str, Any]:
    return {t.TaskName: t for t in data.TriggerTaskRuns}


def test_params_and_time_expressions_are_substituted_against_the_run_baseline(
    client: Any, project_id: str, server: Any
) -> None:
    wf = new_workflow(
        client,
        project_id,
        f"params_{uuid.uuid4().hex[:6]}",
        WorkflowParams=[
            {"ParamKey": "biz_date", "ParamValue": "${yyyyMMdd-1d}"},
            {"ParamKey": "region", "ParamValue": "cn"},
            {"ParamKey": "greeting", "ParamValue": "hello ${region}"},
        ],
    )
    t = new_task(client, project_id, wf, "echo", 'echo "${biz_date}|${region}|${greeting}|${yyyy-MM-dd HH}|${HOME:-}"')
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "region", "ParamValue": "eu"}])
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    baseline = datetime.fromtimestamp(int(data.TriggerWorkflowRun.ScheduleTime) / 1000, tz=CST)
    log = (server.data_dir / "runs" / run_id / f"{t}.0.0.log").read_text().strip().splitlines()
    expected = f"{(baseline - timedelta(days=1)):%Y%m%d}|eu|hello eu|{baseline:%Y-%m-%d %H}|"
    assert log[-1].startswith(expected)  # the shell's own ${HOME:-} is left to the shell
    used = json.loads(by_name(data)["echo"].RunParams)
    assert used == {"biz_date": f"{(baseline - timedelta(days=1)):%Y%m%d}", "region": "eu", "greeting": "hello eu"}
    assert json.loads(data.TriggerWorkflowRun.WorkflowParams)["region"] == "eu"  # AdvancedParams win


def test_output_parameters_flow_to_downstream_inputs(client: Any, project_id: str, tmp_path: Path) -> None:
    got = tmp_path / "got"
    wf = new_workflow(client, project_id, f"outputs_{uuid.uuid4().hex[:6]}")
    emit = 'echo "##wedata_output rows=42"; echo "path=/data/x=1" >> "$WEDATA_OUTPUT_FILE"'
    producer = new_task(
        client, project_id, wf, "producer", emit,
        ParamTaskOutList=[
            {"ParamKey": "rows", "ParamValue": "0"},
            {"ParamKey": "path", "ParamValue": ""},
            {"ParamKey": "day", "ParamValue": "${yyyyMMdd}"},
        ],
    )  # fmt: skip
    py = new_task(
        client, project_id, wf, "py_producer",
        "import os\nopen(os.environ['WEDATA_OUTPUT_FILE'], 'a').write('score=0.9\\n')",
        type_id="30", ParamTaskOutList=[{"ParamKey": "score", "ParamValue": "0"}],
    )  # fmt: skip
    new_task(
        client, project_id, wf, "consumer", f'echo "${{n}} ${{p}} ${{d}} ${{s}}" > {got}', upstream=[producer, py],
        ParamTaskInList=[
            {"ParamKey": "n", "ParamDesc": "p.producer.rows", "FromTaskId": producer, "FromParamKey": "rows"},
            {"ParamKey": "p", "ParamDesc": "p.producer.path", "FromTaskId": producer, "FromParamKey": "path"},
            {"ParamKey": "d", "ParamDesc": "p.producer.day", "FromTaskId": producer, "FromParamKey": "day"},
            {"ParamKey": "s", "ParamDesc": "p.py_producer.score", "FromTaskId": py, "FromParamKey": "score"},
        ],
    )  # fmt: skip
    data = wait_run(client, project_id, start_run(client, project_id, wf))
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    baseline = datetime.fromtimestamp(int(data.TriggerWorkflowRun.ScheduleTime) / 1000, tz=CST)
    assert got.read_text().split() == ["42", "/data/x=1", f"{baseline:%Y%m%d}", "0.9"]
    assert json.loads(by_name(data)["consumer"].RunParams) == {
        "n": "42", "p": "/data/x=1", "d": f"{baseline:%Y%m%d}", "s": "0.9",
    }  # fmt: skip


def test_input_from_an_unselected_upstream_is_empty_with_a_note_in_the_log(
    client: Any, project_id: str, server: Any
) -> None:
    wf = new_workflow(client, project_id, f"partial_{uuid.uuid4().hex[:6]}")
    producer = new_task(client, project_id, wf, "producer", 'echo "##wedata_output v=1"',
                        ParamTaskOutList=[{"ParamKey": "v", "ParamValue": ""}])  # fmt: skip
    consumer = new_task(client, project_id, wf, "consumer", 'echo "[${v}]"', upstream=[producer],
                        ParamTaskInList=[{"ParamKey": "v", "ParamDesc": "p.producer.v", "FromTaskId": producer,
                                          "FromParamKey": "v"}])  # fmt: skip
    run_id = start_run(client, project_id, wf, TaskIds=[consumer])  # Q-R3: the upstream is not part of this run
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS"
    log = (server.data_dir / "runs" / run_id / f"{consumer}.0.0.log").read_text()
    assert "[trigflow] input parameter v" in log and log.strip().endswith("[]")
