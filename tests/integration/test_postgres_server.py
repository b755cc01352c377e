"""The same server on PostgreSQL: `trigflow up --db postgresql+psycopg://...` runs workflows end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import make_client, pg_schema, start_server
from tests.integration.helpers import call, new_task, new_workflow, start_run, task_states, wait_run


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throw-away schema, so runs on a shared database never collide."""
    with pg_schema("tf_srv") as url:
        yield url


def test_workflow_runs_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    server = start_server(tmp_path / "data", db_url=pg_url)
    try:
        client = make_client(server.endpoint)
        project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(client, project_id, "pg_wf")
        a = new_task(client, project_id, wf, "a", "echo a")
        new_task(client, project_id, wf, "b", "exit 1", upstream=[a])
        new_task(client, project_id, wf, "c", "print('c')", upstream=[a], type_id="30")
        data = wait_run(client, project_id, start_run(client, project_id, wf))
        assert task_states(data) == {"a": "SUCCESS", "b": "FAILED", "c": "SUCCESS"}
        assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
        listed = call(client, "ListTriggerWorkflowRuns", {"ProjectId": project_id})
        assert listed.TotalCount == 1
    finally:
        server.stop()
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM task_runs")).scalar_one() == 3
    engine.dispose()


def test_concurrent_partial_updates_of_one_workflow_lose_nothing(tmp_path: Path, pg_url: str) -> None:
    """Read-modify-write of definitions is serialised on PostgreSQL too: 12 clients add 60 parameters to the
    same workflow at once (each a read, a merge, a write back), and every parameter is there afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    server = start_server(tmp_path / "data", db_url=pg_url, extra=["--rate-limit", "1000"])
    try:
        clients = [make_client(server.endpoint) for _ in range(12)]
        project_id = str(call(clients[0], "ListProjects", {}).Items[0].ProjectId)
        wf = new_workflow(clients[0], project_id, "pg_edits")
        edits = 60

        def add_param(i: int) -> None:
            setting = {"WorkflowParams": [{"ParamKey": f"k{i}", "ParamValue": str(i)}]}
            edit = {"ProjectId": project_id, "WorkflowId": wf, "NewSetting": setting}
            call(clients[i % len(clients)], "UpdateTriggerWorkflowPartially", edit)

        with ThreadPoolExecutor(len(clients)) as pool:
            list(pool.map(add_param, range(edits)))
        got = call(clients[0], "GetTriggerWorkflow", {"ProjectId": project_id, "WorkflowId": wf})
        assert {p.ParamKey for p in got.WorkflowParams or []} == {f"k{i}" for i in range(edits)}
    finally:
        server.stop()


def test_installations_in_two_schemas_of_one_database_each_have_an_active_scheduler(tmp_path: Path) -> None:
    """The leader lock is per installation (schema), not per PostgreSQL database: two trigflow installations
    sharing the database `test` both run their workflows."""
    with pg_schema("tf_one") as one, pg_schema("tf_two") as two:
        servers = [
            start_server(tmp_path / "one", db_url=one),
            start_server(tmp_path / "two", db_url=two),
        ]
        try:
            for server in servers:
                client = make_client(server.endpoint)
                project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
                wf = new_workflow(client, project_id, "per_schema")
                new_task(client, project_id, wf, "t", "true")
                state = wait_run(client, project_id, start_run(client, project_id, wf)).TriggerWorkflowRun
                assert state.ExecutionState == "SUCCESS"
        finally:
            for server in servers:
                server.stop()
