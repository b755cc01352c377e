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
