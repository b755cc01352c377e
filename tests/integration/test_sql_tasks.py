"""SQL tasks (TaskTypeId 32) end to end: the official SDK against the session's real `trigflow up`, on real
PostgreSQL and MariaDB data sources (and SQLite, the embedded default's own). What the runner does inside
one attempt is proven in test_sql_runner.py; here: save-time refusals, the log through GetTaskInstanceLog,
outputs reaching a downstream shell task, data values bound (never pasted), and kill and execution timeout
cancelling the query on the database server, looked up in its own activity view."""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from tests.conftest import Server, make_client, start_server, wait_for
from tests.integration.helpers import (
    call,
    fails,
    get_run,
    new_task,
    new_workflow,
    start_run,
    submitted_task,
    task_states,
    typed_task_params,
    uid,
    wait_run,
)
from tests.integration.test_task_logs import whole_log

PG_SECRET = "pg-SqlTask-Secret-5z"  # trust authentication ignores it: it only has to stay out of every log
PG_PROPS = {"url": "jdbc:postgresql://127.0.0.1:5432/test", "username": "postgres", "password": PG_SECRET}
MY_PROPS = {"url": "jdbc:mariadb://127.0.0.1:3306/test", "username": "root", "password": ""}
CONFIG = "TriggerTaskConfiguration"


def data_source(client: Any, project_id: str, source_type: str, props: dict[str, Any]) -> str:
    params = {"ProjectId": project_id, "Name": f"sql_{source_type.lower()}_{uid()}", "Type": source_type,
              "ProdConProperties": json.dumps(props)}  # fmt: skip
    return str(call(client, "CreateDataSource", params).DataSourceId)


@pytest.fixture(scope="module")
def pg(client: Any, project_id: str) -> str:
    return data_source(client, project_id, "POSTGRE", PG_PROPS)


@pytest.fixture(scope="module")
def my(client: Any, project_id: str) -> str:
    return data_source(client, project_id, "MYSQL", MY_PROPS)


def task_params(project_id: str, wf: str, name: str, sql: str, source: str | None, **sched: Any) -> dict[str, Any]:
    return typed_task_params(project_id, wf, name, sql, 32, source, **sched)


def sql_task(client: Any, project_id: str, wf: str, name: str, sql: str, source: str, **sched: Any) -> str:
    return submitted_task(client, task_params(project_id, wf, name, sql, source, **sched))


def run_log(client: Any, project_id: str, run_id: str, name: str) -> str:
    brief = {t.TaskName: t for t in get_run(client, project_id, run_id).TriggerTaskRuns}[name]
    return whole_log(client, project_id, brief.ExecutionId)[0]


def task_run(client: Any, project_id: str, run_id: str, name: str) -> Any:
    return {t.TaskName: t for t in get_run(client, project_id, run_id).TriggerTaskRuns}[name]


def pg_rows(sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        cur = conn.execute(sql, args or None)
        return list(cur.fetchall()) if cur.description is not None else []


def my_rows(sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())
    finally:
        conn.close()


def table() -> str:
    return f"tf_sql_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def tables() -> Iterator[list[tuple[str, str]]]:
    """(database, table) pairs a test created, dropped afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for db, name in made:
        (pg_rows if db == "pg" else my_rows)(f"DROP TABLE IF EXISTS {name}")


# --- save time ------------------------------------------------------------------------------------------


def test_source_service_id_is_required_known_and_of_a_sql_type(client: Any, project_id: str, pg: str) -> None:
    wf = new_workflow(client, project_id, f"sql_save_{uid()}")
    field = f"{CONFIG}.SourceServiceId"
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "none", "SELECT 1", None),
          "InvalidParameterValue", field, "required")  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "unknown", "SELECT 1", "987654321"),
          "InvalidParameterValue", field, "987654321")  # fmt: skip
    ssh = data_source(client, project_id, "SSH", {"host": "127.0.0.1", "port": 22, "username": "u", "password": "p"})
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "ssh", "SELECT 1", ssh),
          "InvalidParameterValue", field, "SSH")  # fmt: skip
    fails(client, "CreateTriggerTask", task_params(project_id, wf, "two", "SELECT 1", f"{pg};{pg}"),
          "InvalidParameterValue", field)  # fmt: skip
    task_id = sql_task(client, project_id, wf, "ok", "SELECT 1", pg)
    fails(client, "UpdateTriggerTaskPartially",
          {"ProjectId": project_id, "TaskId": task_id, "NewSetting": {CONFIG: {"SourceServiceId": ssh}}},
          "InvalidParameterValue", f"NewSetting.{field}", "SSH")  # fmt: skip
    got = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": task_id})
    assert got.TriggerTaskBaseAttribute.TaskTypeId == 32
    assert got.TriggerTaskConfiguration.SourceServiceType == "POSTGRE"


# --- running ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("db", ["pg", "my"])
def test_create_insert_select_logs_each_statement_and_the_result(
    client: Any, project_id: str, pg: str, my: str, tables: list[tuple[str, str]], db: str
) -> None:
    t = table()
    tables.append((db, t))
    sql = (f"CREATE TABLE {t} (id INT, name VARCHAR(20));\n"
           f"INSERT INTO {t} VALUES (1, 'alpha'), (2, 'beta');\n"
           f"SELECT id, name FROM {t} ORDER BY id;\n")  # fmt: skip
    wf = new_workflow(client, project_id, f"sql_basic_{uid()}")
    sql_task(client, project_id, wf, "q", sql, pg if db == "pg" else my)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    log = run_log(client, project_id, run_id, "q")
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", log
    assert "statement 1/3 (line 1): CREATE TABLE" in log
    assert "statement 2/3: 2 rows affected" in log
    assert "statement 3/3: 2 rows returned" in log
    lines = log.splitlines()
    header = next(i for i, line in enumerate(lines) if "id" in line and "name" in line and "|" in line)
    table_text = "\n".join(lines[header : header + 5])
    assert "alpha" in table_text and "beta" in table_text
    assert "3 statements done" in log
    assert PG_SECRET not in log
    run = task_run(client, project_id, run_id, "q")
    assert (run.TaskType, run.TaskTypeId) == ("DLC_SQL", 32)


def test_outputs_reach_a_downstream_shell_task(
    client: Any, project_id: str, pg: str, tmp_path: Path, tables: list[tuple[str, str]]
) -> None:
    got = tmp_path / "got"
    wf = new_workflow(client, project_id, f"sql_out_{uid()}")
    q = sql_task(client, project_id, wf, "q",
                 "SELECT 1 AS id, 'first' AS name UNION ALL SELECT 2, 'se''cond' ORDER BY id", pg,
                 ParamTaskOutList=[{"ParamKey": "cell", "ParamValue": "$[0][1]"},
                                   {"ParamKey": "ids", "ParamValue": "$[*][0]"},
                                   {"ParamKey": "rows", "ParamValue": "$[*][*]"}])  # fmt: skip
    new_task(client, project_id, wf, "consumer", f"printf '%s\\n' \"${{c}}\" \"${{i}}\" \"${{r}}\" > {got}",
             upstream=[q],
             ParamTaskInList=[
                 {"ParamKey": "c", "ParamDesc": "p.q.cell", "FromTaskId": q, "FromParamKey": "cell"},
                 {"ParamKey": "i", "ParamDesc": "p.q.ids", "FromTaskId": q, "FromParamKey": "ids"},
                 {"ParamKey": "r", "ParamDesc": "p.q.rows", "FromTaskId": q, "FromParamKey": "rows"},
             ])  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", run_log(client, project_id, run_id, "q")
    cell, ids, rows = got.read_text().splitlines()
    assert cell == "first"
    assert json.loads(ids) == [1, 2]
    assert json.loads(rows) == [[1, "first"], [2, "se'cond"]]


def test_a_failing_statement_fails_the_task_with_the_database_message(
    client: Any, project_id: str, pg: str, my: str, server: Server
) -> None:
    missing = table()
    wf = new_workflow(client, project_id, f"sql_fail_{uid()}")
    sql_task(client, project_id, wf, "pgq", f"SELECT 1;\nSELECT * FROM {missing};\nSELECT 3;", pg)
    sql_task(client, project_id, wf, "myq", f"SELECT * FROM {missing}", my)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"pgq": "FAILED", "myq": "FAILED"}
    pg_log = run_log(client, project_id, run_id, "pgq")
    assert f'relation "{missing}" does not exist' in pg_log
    assert "statement 2/3 failed" in pg_log and "statement 3/3" not in pg_log
    my_log = run_log(client, project_id, run_id, "myq")
    assert f"test.{missing}' doesn't exist" in my_log
    for text in (pg_log, my_log, server.output()):
        assert PG_SECRET not in text


def test_an_upstream_value_is_bound_never_pasted(
    client: Any, project_id: str, pg: str, my: str, tmp_path: Path, tables: list[tuple[str, str]]
) -> None:
    evil = "x'; DROP TABLE {t}; --"
    wf = new_workflow(client, project_id, f"sql_bind_{uid()}")
    names = {}
    for db, source in (("pg", pg), ("my", my)):
        t = table()
        tables.append((db, t))
        (pg_rows if db == "pg" else my_rows)(f"CREATE TABLE {t} (name VARCHAR(100))")
        (pg_rows if db == "pg" else my_rows)(f"INSERT INTO {t} VALUES (%s), ('other')", evil.format(t=t))
        names[db] = t
        value = evil.format(t=t)
        producer = new_task(client, project_id, wf, f"emit_{db}", f"printf 'v=%s\\n' {json.dumps(value)} "
                            '>> "$WEDATA_OUTPUT_FILE"', ParamTaskOutList=[{"ParamKey": "v", "ParamValue": ""}])
        # The value in code position and as a whole string literal: both become bound parameters.
        sql = f"SELECT count(*) FROM {t} WHERE name = ${{v}};\nSELECT name FROM {t} WHERE name = '${{v}}';"
        sql_task(client, project_id, wf, f"q_{db}", sql, source, upstream=[producer],
                 ParamTaskInList=[{"ParamKey": "v", "ParamDesc": f"p.emit_{db}.v", "FromTaskId": producer,
                                   "FromParamKey": "v"}],
                 ParamTaskOutList=[{"ParamKey": "found", "ParamValue": "$[0][0]"}])  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", run_log(client, project_id, run_id, "q_pg")
    for db, t in names.items():
        log = run_log(client, project_id, run_id, f"q_{db}")
        assert "statement 1/2: 1 row returned" in log and "DROP" in log  # the row was found, literally
        assert (pg_rows if db == "pg" else my_rows)(f"SELECT count(*) FROM {t}")[0][0] == 2  # the table survives


def test_a_value_that_would_name_a_table_fails_the_attempt_unsafe(client: Any, project_id: str, pg: str) -> None:
    wf = new_workflow(client, project_id, f"sql_unsafe_{uid()}")
    sql_task(client, project_id, wf, "q", "SELECT * FROM tbl_${v}", pg)
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "v", "ParamValue": "x"}])
    data = wait_run(client, project_id, run_id)
    run = task_run(client, project_id, run_id, "q")
    assert data.TriggerWorkflowRun.ExecutionState == "FAILED"
    assert run.ErrorCodeStr is not None and run.ErrorCodeStr.startswith("UnsafeParameter:"), run.ErrorCodeStr
    assert "${v}" in run.ErrorCodeStr


def test_double_quotes_follow_the_data_source_dialect(client: Any, project_id: str, pg: str, my: str,
                                                      tmp_path: Path) -> None:  # fmt: skip
    """The placement check is the data source's own dialect (looked up before parameters are resolved): in
    MySQL `"${v}"` is a string literal, so the upstream value is bound and comes back exactly; in PostgreSQL it
    is a quoted name, which no value may be, so that attempt is refused naming the parameter."""
    value = "a\"b'c \\ ${x} %s"
    got = tmp_path / "got"
    wf = new_workflow(client, project_id, f"sql_dq_{uid()}")
    emit = new_task(client, project_id, wf, "emit", f"printf 'v=%s\\n' {shlex.quote(value)} >> \"$WEDATA_OUTPUT_FILE\"",
                    ParamTaskOutList=[{"ParamKey": "v", "ParamValue": ""}])  # fmt: skip
    inputs = [{"ParamKey": "v", "ParamDesc": "p.emit.v", "FromTaskId": emit, "FromParamKey": "v"}]
    q_my = sql_task(client, project_id, wf, "q_my", 'SELECT "${v}" AS v', my, upstream=[emit],
                    ParamTaskInList=inputs,
                    ParamTaskOutList=[{"ParamKey": "got", "ParamValue": "$[0][0]"}])  # fmt: skip
    new_task(client, project_id, wf, "consumer", f"printf '%s' \"${{g}}\" > {got}", upstream=[q_my],
             ParamTaskInList=[{"ParamKey": "g", "ParamDesc": "p.q_my.got", "FromTaskId": q_my,
                               "FromParamKey": "got"}])  # fmt: skip
    sql_task(client, project_id, wf, "q_pg", 'SELECT "${v}"', pg, upstream=[emit], ParamTaskInList=inputs)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"emit": "SUCCESS", "q_my": "SUCCESS", "consumer": "SUCCESS", "q_pg": "FAILED"}, (
        run_log(client, project_id, run_id, "q_my"))  # fmt: skip
    assert got.read_text() == value
    assert "statement 1/1: 1 row returned" in run_log(client, project_id, run_id, "q_my")
    error = task_run(client, project_id, run_id, "q_pg").ErrorCodeStr
    assert error == "UnsafeParameter: a data value cannot be a quoted SQL name (${v})", error


@pytest.mark.parametrize("kind", ["SQLITE", "DUCKDB"])
def test_local_files_run_on_the_embedded_default(client: Any, project_id: str, tmp_path: Path, kind: str) -> None:
    source = data_source(client, project_id, kind, {"path": str(tmp_path / f"local.{kind.lower()}")})
    wf = new_workflow(client, project_id, f"sql_lite_{uid()}")
    sql_task(client, project_id, wf, "q",
             "CREATE TABLE t (id INTEGER, name TEXT);\nINSERT INTO t VALUES (1, 'a'), (2, 'b');\n"
             "SELECT name FROM t WHERE id = ${want};", source,
             ParamTaskOutList=[{"ParamKey": "name", "ParamValue": "$[0][0]"}])  # fmt: skip
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "want", "ParamValue": "2"}])
    data = wait_run(client, project_id, run_id)
    log = run_log(client, project_id, run_id, "q")
    assert data.TriggerWorkflowRun.ExecutionState == "SUCCESS", log
    assert kind in log and "statement 3/3: 1 row returned" in log
    assert "outputs from the result of statement 3: name" in log


# --- kill and timeout cancel the query on the server -----------------------------------------------------


def pg_active(marker: str) -> list[tuple[Any, ...]]:
    return pg_rows("SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND query NOT LIKE %s",
                   f"%{marker}%", "%pg_stat_activity%")  # fmt: skip


def my_active(marker: str) -> list[tuple[Any, ...]]:
    return my_rows("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s AND INFO NOT LIKE %s",
                   f"%{marker}%", "%PROCESSLIST%")  # fmt: skip


SLEEPERS = {
    "pg": ("SELECT pg_sleep(60), '{marker}'", pg_active),
    "my": ("SELECT SLEEP(60), '{marker}'", my_active),
    # rows streaming to the runner the whole time (endless results: only a cancel ends them)
    "pg-stream": ("SELECT generate_series(1, 1000000000000), '{marker}'", pg_active),
    "my-stream": ("SELECT seq, '{marker}' FROM seq_1_to_1000000000000", my_active),
}


@pytest.mark.parametrize("db", ["pg", "my", "pg-stream", "my-stream"])
def test_kill_cancels_the_query_on_the_server(client: Any, project_id: str, pg: str, my: str, db: str) -> None:
    marker = f"tf_kill_{uuid.uuid4().hex[:10]}"
    sql, active = SLEEPERS[db]
    wf = new_workflow(client, project_id, f"sql_kill_{uid()}")
    sql_task(client, project_id, wf, "sleeper", sql.format(marker=marker), pg if db.startswith("pg") else my)
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: active(marker), timeout=20, what=f"{marker} running on the server")
    res = call(client, "KillTriggerWorkflowRuns",
               {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]})  # fmt: skip
    assert [r.OpStatus for r in res] == [True]
    wait_for(lambda: not active(marker), timeout=5, what=f"{marker} gone from the server")
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"sleeper": "KILLED"}
    # Not asserted: the runner's own "cancelled" line. With the session server's 1 s kill grace a loaded
    # machine can SIGKILL the runner before it writes it (seen once for MariaDB, whose KILL QUERY needs a
    # second connection); what the issue asks, the query gone from the server, is checked above.


SMALL_PARAM_CHARS = 100_000


@pytest.fixture(scope="module")
def slow_minutes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server whose minute is 2 s, so ExecutionTTLMinute 1 fires after the query reached the database, and
    whose parameter values are at most SMALL_PARAM_CHARS long."""
    extra = ["--rate-limit", "1000", "--kill-grace", "1", "--minute-seconds", "2",
             "--max-param-size", str(SMALL_PARAM_CHARS)]  # fmt: skip
    srv = start_server(tmp_path_factory.mktemp("trigflow_ttl"), extra=extra)
    yield make_client(srv.endpoint)
    srv.stop()


@pytest.mark.parametrize("db", ["pg", "my"])
def test_execution_timeout_cancels_the_query_on_the_server(slow_minutes: Any, db: str) -> None:
    client = slow_minutes
    project_id = str(call(client, "ListProjects", {}).Items[0].ProjectId)
    source = data_source(client, project_id, "POSTGRE" if db == "pg" else "MYSQL", PG_PROPS if db == "pg" else MY_PROPS)
    marker = f"tf_ttl_{uuid.uuid4().hex[:10]}"
    sql, active = SLEEPERS[db]
    wf = new_workflow(client, project_id, f"sql_ttl_{uid()}")
    sql_task(client, project_id, wf, "sleeper", sql.format(marker=marker), source, ExecutionTTLMinute=1)
    run_id = start_run(client, project_id, wf)
    wait_for(lambda: active(marker), timeout=20, what=f"{marker} running on the server")
    data = wait_run(client, project_id, run_id, timeout=20)
    assert task_states(data) == {"sleeper": "FAILED"}
    assert str(task_run(client, project_id, run_id, "sleeper").ErrorCodeStr).startswith("ExecutionTimeout")
    wait_for(lambda: not active(marker), timeout=5, what=f"{marker} gone from the server")
    wait_for(lambda: "was cancelled on the server" in run_log(client, project_id, run_id, "sleeper"),
             timeout=10, what="the runner's cancel lines in the log")  # fmt: skip


def test_a_list_output_is_bounded_by_the_servers_parameter_size(
    client: Any, project_id: str, pg: str, slow_minutes: Any, tmp_path: Path
) -> None:
    """`$[*][0]` over 30,000 rows is 240,000 characters: a downstream task takes it under the default
    --max-param-size (1 Mi), while a server started with 100,000 fails the SQL task naming the output."""
    sql = "SELECT g FROM generate_series(100000, 129999) g"
    outputs = [{"ParamKey": "ids", "ParamValue": "$[*][0]"}]
    wf = new_workflow(client, project_id, f"sql_big_{uid()}")
    q = sql_task(client, project_id, wf, "q", sql, pg, ParamTaskOutList=outputs)
    got = tmp_path / "got"
    new_task(client, project_id, wf, "consumer", f"printf '%s' \"${{i}}\" > {got}", upstream=[q],
             ParamTaskInList=[{"ParamKey": "i", "ParamDesc": "p.q.ids", "FromTaskId": q,
                               "FromParamKey": "ids"}])  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"q": "SUCCESS", "consumer": "SUCCESS"}, run_log(client, project_id, run_id, "q")
    assert json.loads(got.read_text()) == list(range(100000, 130000))

    small = slow_minutes
    small_project = str(call(small, "ListProjects", {}).Items[0].ProjectId)
    source = data_source(small, small_project, "POSTGRE", PG_PROPS)
    wf = new_workflow(small, small_project, f"sql_big_{uid()}")
    sql_task(small, small_project, wf, "q", sql, source, ParamTaskOutList=outputs)
    run_id = start_run(small, small_project, wf)
    data = wait_run(small, small_project, run_id)
    log = run_log(small, small_project, run_id, "q")
    assert task_states(data) == {"q": "FAILED"}, log
    assert (f"output parameter ids ($[*][0]) of statement 1's result would be longer than {SMALL_PARAM_CHARS} "
            "characters, the limit of one parameter value (trigflow up --max-param-size), after 12501 rows"
            ) in log  # fmt: skip
    assert "statement 1/1: 30000 rows returned" in log
