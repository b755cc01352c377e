"""What each task type costs over its bare equivalent, measured in one run (the figures of issue 9's note).

For every type this runs a one-task workflow through the real API of its own `trigflow up` (SQLite, fresh
data dir) and, in alternation with it, the same work done directly (a `bash -c`, a `psql -c`, ...): the ratio
of the medians is what trigflow adds (engine, process isolation, the worker-side runner, the driver's
connect), next to what the work itself costs. The task's time is the server's own: the run's CreateTime to
its ExecutionEndTime. Alternating the two ways, round by round, keeps a noisy shared machine from favouring
one of them; compare ratios, not absolute figures.

    python bench/task_types_bench.py [--repeat 9] [--only shell,sql_pg,...]

Needs PostgreSQL (127.0.0.1:5432, trust, db `test`) and MariaDB (127.0.0.1:3306, root, no password) for
the SQL rows; a row whose backend is missing is reported as skipped, not guessed.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tencentcloud.wedata.v20250806 import models
from tests.conftest import make_client, start_server
from tests.integration.helpers import call, new_workflow, start_run, wait_run


@dataclass
class Case:
    """One type: how to make its task (TaskTypeId, code, configuration) and the bare command it compares with."""

    name: str
    type_id: str
    code: str
    bare: list[str]
    source: dict[str, Any] | None = None  # CreateDataSource Type + ProdConProperties, when the type needs one
    ext: dict[str, str] = field(default_factory=dict)
    needs: Callable[[], str | None] = lambda: None  # why it cannot run here, or None


def _which(cmd: str) -> Callable[[], str | None]:
    return lambda: None if shutil.which(cmd) else f"{cmd} not found"


def _sqlite_file() -> str:
    path = Path(tempfile.mkdtemp(prefix="tt-bench-sqlite-")) / "bench.db"
    subprocess.run(["python3", "-c", f"import sqlite3; sqlite3.connect({str(path)!r}).close()"], check=True)
    return str(path)


def cases() -> list[Case]:
    sqlite_path = _sqlite_file()
    return [
        Case("shell", "35", "true", ["bash", "-c", "true"]),
        Case("python", "30", "pass", ["python3", "-c", "pass"]),  # the interpreter Python tasks run by default
        Case(
            "sql_pg",
            "32",
            "SELECT 1",
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atqc", "SELECT 1"],
            {
                "Type": "POSTGRE",
                "ProdConProperties": {
                    "url": "jdbc:postgresql://127.0.0.1:5432/test",
                    "username": "postgres",
                    "password": "",
                },
            },
            needs=_which("psql"),
        ),
        Case(
            "sql_mariadb",
            "32",
            "SELECT 1",
            ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-u", "root", "-N", "-e", "SELECT 1"],
            {
                "Type": "MYSQL",
                "ProdConProperties": {"url": "jdbc:mariadb://127.0.0.1:3306/test", "username": "root", "password": ""},
            },
            needs=_which("mariadb"),
        ),
        Case(
            "sql_sqlite",
            "32",
            "SELECT 1",
            [sys.executable, "-c", f"import sqlite3; sqlite3.connect({sqlite_path!r}).execute('SELECT 1').fetchall()"],
            {"Type": "SQLITE", "ProdConProperties": {"path": sqlite_path}},
        ),
    ]


def make_task(client: Any, project_id: str, case: Case) -> str:
    wf = new_workflow(client, project_id, f"bench_{case.name}_{time.monotonic_ns()}")
    config: dict[str, Any] = {"CodeContent": base64.b64encode(case.code.encode()).decode()}
    if case.source is not None:
        ds = call(client, "CreateDataSource", {
            "ProjectId": project_id, "Name": f"bench_{case.name}_{time.monotonic_ns()}", "Type": case.source["Type"],
            "ProdConProperties": json.dumps(case.source["ProdConProperties"])})  # fmt: skip
        config["SourceServiceId"] = str(ds.DataSourceId)
    if case.ext:
        config["TaskExtConfigurationList"] = [{"ParamKey": k, "ParamValue": v} for k, v in case.ext.items()]
    task = call(client, "CreateTriggerTask", {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": case.name, "TaskTypeId": case.type_id, "WorkflowId": wf},
        "TriggerTaskConfiguration": config,
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0, "UpstreamDependencyConfigList": []},
    })  # fmt: skip
    call(client, "SubmitTriggerTask", {"ProjectId": project_id, "TaskId": str(task.TaskId), "VersionRemark": "b"})
    return wf


def run_task(client: Any, project_id: str, wf: str) -> float:
    run = wait_run(client, project_id, start_run(client, project_id, wf), timeout=300, poll=0.02).TriggerWorkflowRun
    assert run.ExecutionState == "SUCCESS", run.ExecutionState
    return (int(run.ExecutionEndTime) - int(run.CreateTime)) / 1000


def run_bare(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--only", default="", help="comma-separated case names")
    args = ap.parse_args()
    only = {n for n in args.only.split(",") if n}
    chosen = [c for c in cases() if not only or c.name in only]
    with tempfile.TemporaryDirectory(prefix="tt-bench-") as tmp:
        server = start_server(Path(tmp) / "data", extra=["--rate-limit", "100000"])
        try:
            client = make_client(server.endpoint)
            project_id = str(client.ListProjects(models.ListProjectsRequest()).Data.Items[0].ProjectId)
            print(f"{'type':<14}{'task ms':>10}{'bare ms':>10}{'ratio':>8}   (medians of {args.repeat}, alternated)")
            for case in chosen:
                why = case.needs()
                if why:
                    print(f"{case.name:<14}{'skipped: ' + why:>28}")
                    continue
                wf = make_task(client, project_id, case)
                run_task(client, project_id, wf)  # warm: the first run pays imports and the data source's first connect
                run_bare(case.bare)
                task_s, bare_s = [], []
                for _ in range(args.repeat):
                    task_s.append(run_task(client, project_id, wf))
                    bare_s.append(run_bare(case.bare))
                t, b = statistics.median(task_s), statistics.median(bare_s)
                print(f"{case.name:<14}{t * 1000:>10.1f}{b * 1000:>10.1f}{t / b:>8.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
