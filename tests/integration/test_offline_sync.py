"""Offline sync tasks (TaskTypeId 26) end to end: the official SDK against the session's real `trigflow up`, copying
between real PostgreSQL and MariaDB data sources. What is checked is what lands in the databases (counts and
a checksum of every row on both sides, the target untouched after a failure or a kill), the save-time refusals,
the log through GetTaskInstanceLog and the outputs reaching a downstream shell task."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.integration.helpers import (
    call,
    fails,
    new_task,
    new_workflow,
    start_run,
    submitted_task,
    task_states,
    uid,
    wait_run,
)
from tests.integration.test_sql_tasks import (
    MY_PROPS,
    PG_PROPS,
    PG_SECRET,
    data_source,
    my_rows,
    pg_rows,
    run_log,
    task_run,
)
from tests.integration.test_task_logs import log_page

CONFIG = "TriggerTaskConfiguration"
EXT = f"{CONFIG}.TaskExtConfigurationList"
ROWS = 100_000
# The same shape in both databases: an id key, text with quotes and non-ASCII, exact decimals, timestamps, NULLs.
COLUMNS = {
    "pg": "id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount NUMERIC(12,2), created TIMESTAMP, note TEXT",
    "my": "id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount DECIMAL(12,2), created DATETIME, note TEXT",
}
FILL_PG = (
    "INSERT INTO {t} SELECT g, 'row ' || g || ' é''\"', g * 1.25, TIMESTAMP '2026-01-01' + g * INTERVAL '1 minute', "
    "CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END FROM generate_series({lo}, {hi}) g"
)


def new_table(prefix: str = "tf_sync") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def pg(client: Any, project_id: str) -> str:
    return data_source(client, project_id, "POSTGRE", PG_PROPS)


@pytest.fixture(scope="module")
def my(client: Any, project_id: str) -> str:
    return data_source(client, project_id, "MYSQL", MY_PROPS)


@pytest.fixture
def tables() -> Iterator[list[tuple[str, str]]]:
    """(database, table) pairs a test created, dropped afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for db, name in made:
        (pg_rows if db == "pg" else my_rows)(f"DROP TABLE IF EXISTS {name}")


def make(db: str, tables: list[tuple[str, str]], columns: str | None = None) -> str:
    t = new_table()
    tables.append((db, t))
    (pg_rows if db == "pg" else my_rows)(f"CREATE TABLE {t} ({columns or COLUMNS[db]})")
    return t


def rows_of(db: str, t: str) -> list[tuple[Any, ...]]:
    return (pg_rows if db == "pg" else my_rows)(f"SELECT id, name, amount, created, note FROM {t} ORDER BY id")


def checksum(rows: list[tuple[Any, ...]]) -> tuple[int, str]:
    """Count and a digest of every value, normalised so that PostgreSQL's and MariaDB's drivers agree."""

    def norm(v: Any) -> str:
        if isinstance(v, decimal.Decimal):
            return f"{v:.2f}"
        if isinstance(v, dt.datetime):
            return v.isoformat(sep=" ")
        return repr(v)

    digest = hashlib.sha256()
    for row in rows:
        digest.update("\x1f".join(norm(v) for v in row).encode() + b"\x1e")
    return len(rows), digest.hexdigest()


def sync_params(project_id: str, wf: str, name: str, source: str | None, target: str | None,
                **ext: Any) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {
        "TaskExtConfigurationList": [{"ParamKey": k, "ParamValue": str(v)} for k, v in ext.items()],
    }
    if source is not None:
        config["SourceServiceId"] = source
    if target is not None:
        config["TargetServiceId"] = target
    return {
        "ProjectId": project_id,
        "TriggerTaskBaseAttribute": {"TaskName": name, "TaskTypeId": "26", "WorkflowId": wf},
        CONFIG: config,
        "TriggerTaskSchedulerConfiguration": {"MaxRetryNumber": 0},
    }


def sync_task(client: Any, project_id: str, wf: str, name: str, source: str, target: str, *,
              upstream: list[str] | None = None, outputs: list[str] | None = None, **ext: Any) -> str:  # fmt: skip
    params = sync_params(project_id, wf, name, source, target, **ext)
    sched = params["TriggerTaskSchedulerConfiguration"]
    sched["UpstreamDependencyConfigList"] = [{"TaskId": u} for u in upstream or []]
    sched["ParamTaskOutList"] = [{"ParamKey": o, "ParamValue": ""} for o in outputs or []]
    return submitted_task(client, params)


# --- the copy itself ---------------------------------------------------------------------------------------


def test_100k_rows_postgres_to_mariadb_and_back_arrive_whole(
    client: Any, project_id: str, pg: str, my: str, tables: list[tuple[str, str]], tmp_path: Path
) -> None:
    src, mid, back = make("pg", tables), make("my", tables), make("pg", tables)
    pg_rows(FILL_PG.format(t=src, lo=1, hi=ROWS))
    got = tmp_path / "outputs"
    wf = new_workflow(client, project_id, f"sync_round_{uid()}")
    there = sync_task(client, project_id, wf, "there", pg, my, sourceTable=src, targetTable=mid,
                      outputs=["rowsRead", "rowsWritten", "rowsRejected"])  # fmt: skip
    again = sync_task(client, project_id, wf, "back", my, pg, sourceTable=mid, targetTable=back, upstream=[there])
    new_task(client, project_id, wf, "consumer", f"printf '%s %s %s\\n' \"${{r}}\" \"${{w}}\" \"${{j}}\" > {got}",
             upstream=[again],
             ParamTaskInList=[{"ParamKey": k, "ParamDesc": f"p.there.{v}", "FromTaskId": there, "FromParamKey": v}
                              for k, v in (("r", "rowsRead"), ("w", "rowsWritten"),
                                           ("j", "rowsRejected"))])  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=120)
    log = run_log(client, project_id, run_id, "there")
    assert task_states(data) == {"there": "SUCCESS", "back": "SUCCESS", "consumer": "SUCCESS"}, log
    expected = checksum(rows_of("pg", src))
    assert expected[0] == ROWS
    assert checksum(rows_of("my", mid)) == expected
    assert checksum(rows_of("pg", back)) == expected
    assert "done: 100,000 rows read, 100,000 written, 0 rejected" in log and "rows/s" in log
    assert "done: 100,000 rows read, 100,000 written, 0 rejected" in run_log(client, project_id, run_id, "back")
    assert got.read_text().split() == [str(ROWS), str(ROWS), "0"]
    assert PG_SECRET not in log
    run = task_run(client, project_id, run_id, "there")
    assert (run.TaskType, run.TaskTypeId) == ("OFFLINE_SYNC", 26)
    shown = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": there}).TriggerTaskConfiguration
    assert (shown.SourceServiceType, shown.TargetServiceType) == ("POSTGRE", "MYSQL")


def test_overwrite_replaces_the_target_rows(
    client: Any, project_id: str, pg: str, my: str, tables: list[tuple[str, str]]
) -> None:
    src, dst = make("pg", tables), make("my", tables)
    pg_rows(FILL_PG.format(t=src, lo=1, hi=500))
    my_rows(f"INSERT INTO {dst} (id, name) VALUES (1, 'stale'), (9999, 'gone')")
    wf = new_workflow(client, project_id, f"sync_over_{uid()}")
    sync_task(client, project_id, wf, "over", pg, my, sourceTable=src, targetTable=dst, writeMode="overwrite")
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=60)
    assert task_states(data) == {"over": "SUCCESS"}, run_log(client, project_id, run_id, "over")
    assert checksum(rows_of("my", dst)) == checksum(rows_of("pg", src))


def test_upsert_by_primary_key_updates_and_inserts(
    client: Any, project_id: str, pg: str, my: str, tables: list[tuple[str, str]]
) -> None:
    src, dst = make("my", tables), make("pg", tables)
    pg_rows(f"INSERT INTO {dst} (id, name) SELECT g, 'old' FROM generate_series(1, 50) g")
    my_rows(f"INSERT INTO {src} (id, name, amount) SELECT seq, 'new', seq FROM seq_26_to_100")
    wf = new_workflow(client, project_id, f"sync_upsert_{uid()}")
    sync_task(client, project_id, wf, "up", my, pg, sourceTable=src, targetTable=dst, writeMode="upsert",
              primaryKey="id", columns="id, name, amount", batchSize=20)  # fmt: skip
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=60)
    log = run_log(client, project_id, run_id, "up")
    assert task_states(data) == {"up": "SUCCESS"}, log
    assert "upsert: 50 rows inserted, 25 updated" in log
    got = dict(pg_rows(f"SELECT id, name FROM {dst}"))
    assert len(got) == 100
    assert {got[i] for i in range(1, 26)} == {"old"} and {got[i] for i in range(26, 101)} == {"new"}


def test_incremental_where_binds_the_parameter_never_pastes_it(
    client: Any, project_id: str, pg: str, my: str, tables: list[tuple[str, str]]
) -> None:
    src, dst = make("pg", tables), make("my", tables)
    pg_rows(FILL_PG.format(t=src, lo=1, hi=100))
    wf = new_workflow(client, project_id, f"sync_where_{uid()}")
    sync_task(client, project_id, wf, "inc", pg, my, sourceTable=src, targetTable=dst, where="id > ${since}")
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "since", "ParamValue": "90"}])
    data = wait_run(client, project_id, run_id, timeout=60)
    log = run_log(client, project_id, run_id, "inc")
    assert task_states(data) == {"inc": "SUCCESS"}, log
    assert [r[0] for r in my_rows(f"SELECT id FROM {dst} ORDER BY id")] == list(range(91, 101))
    assert f'read: SELECT * FROM "{src}" WHERE id > %s (with 1 bound values)' in log
    # The next increment: a value that would widen the condition if it were pasted is a bound string instead.
    run_id = start_run(client, project_id, wf, AdvancedParams=[{"ParamKey": "since", "ParamValue": "0 OR 1=1"}])
    data = wait_run(client, project_id, run_id, timeout=60)
    log = run_log(client, project_id, run_id, "inc")
    assert task_states(data) == {"inc": "FAILED"}
    assert "invalid input syntax for type bigint" in log and "0 OR 1=1" in log
    assert my_rows(f"SELECT count(*) FROM {dst}")[0][0] == 10


def test_rejected_rows_are_counted_and_over_the_limit_fail_the_copy_untouched(
    client: Any, project_id: str, pg: str, my: str, tables: list[tuple[str, str]]
) -> None:
    src = make("pg", tables)
    pg_rows(FILL_PG.format(t=src, lo=1, hi=1000))
    pg_rows(f"UPDATE {src} SET name = repeat('x', 40) WHERE id IN (5, 500, 999)")  # too long for the target
    narrow = COLUMNS["my"].replace("VARCHAR(64)", "VARCHAR(20)")
    ok, over = make("my", tables, narrow), make("my", tables, narrow)
    wf = new_workflow(client, project_id, f"sync_reject_{uid()}")
    # Read in id order (the UPDATE moved those rows to the end of the table), so a row's number is its id.
    sync_task(client, project_id, wf, "ok", pg, my, sourceQuery=f"SELECT * FROM {src} ORDER BY id", targetTable=ok,
              maxRejected=3, batchSize=100)  # fmt: skip
    sync_task(client, project_id, wf, "over", pg, my, sourceTable=src, targetTable=over, maxRejected=2)
    run_id = start_run(client, project_id, wf)
    data = wait_run(client, project_id, run_id, timeout=60)
    assert task_states(data) == {"ok": "SUCCESS", "over": "FAILED"}
    log = run_log(client, project_id, run_id, "ok")
    for n in (5, 500, 999):
        assert f"rejected row {n}: (1406) Data too long for column 'name'" in log
    assert "done: 1,000 rows read, 997 written, 3 rejected" in log
    assert sorted(set(range(1, 1001)) - {r[0] for r in my_rows(f"SELECT id FROM {ok}")}) == [5, 500, 999]
    over_log = run_log(client, project_id, run_id, "over")
    assert "3 rows rejected, more than maxRejected 2; the target was rolled back" in over_log
    assert my_rows(f"SELECT count(*) FROM {over}")[0][0] == 0


# --- kill -------------------------------------------------------------------------------------------------


def pg_sessions(app: str) -> list[tuple[Any, ...]]:
    return pg_rows("SELECT pid, state FROM pg_stat_activity WHERE application_name = %s", app)


def my_sessions(marker: str) -> list[tuple[Any, ...]]:
    return my_rows("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s AND INFO NOT LIKE %s",
                   f"%{marker}%", "%PROCESSLIST%")  # fmt: skip


@pytest.mark.parametrize("source_db", ["pg", "my"])
def test_kill_mid_copy_cancels_on_the_server_and_leaves_the_target_untouched(
    client: Any, project_id: str, tables: list[tuple[str, str]], source_db: str
) -> None:
    marker = f"tf_sync_kill_{uuid.uuid4().hex[:8]}"
    # Each source row costs a millisecond on the server, so the copy is reading when the kill comes.
    if source_db == "pg":
        source = data_source(client, project_id, "POSTGRE",
                             {**PG_PROPS, "url": f"{PG_PROPS['url']}?ApplicationName={marker}"})  # fmt: skip
        target = data_source(client, project_id, "MYSQL", MY_PROPS)
        dst = make("my", tables)
        ext = {"sourceQuery": "SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 1000000) g "
                              "WHERE pg_sleep(0.001) IS NOT NULL"}  # fmt: skip

        def reading() -> bool:
            return any(state == "active" for _, state in pg_sessions(marker))

        def gone() -> bool:
            return not pg_sessions(marker)
    else:
        source = data_source(client, project_id, "MYSQL", MY_PROPS)
        target = data_source(client, project_id, "POSTGRE", PG_PROPS)
        src = make("my", tables, "id BIGINT PRIMARY KEY, name VARCHAR(64)")
        my_rows(f"INSERT INTO {src} SELECT seq, MD5(seq) FROM seq_1_to_100000")
        dst = make("pg", tables)
        ext = {"sourceQuery": f"SELECT id, name FROM {src} /* {marker} */ WHERE SLEEP(0.001) = 0"}

        def reading() -> bool:
            return bool(my_sessions(marker))

        def gone() -> bool:
            return not my_sessions(marker)

    wf = new_workflow(client, project_id, f"sync_kill_{uid()}")
    sync_task(client, project_id, wf, "copy", source, target, targetTable=dst, batchSize=50, **ext)
    run_id = start_run(client, project_id, wf)
    kill = {"ProjectId": project_id, "WorkflowId": wf, "WorkflowExecutionIdList": [run_id]}
    try:
        wait_for(reading, timeout=20, what=f"{marker} reading on the source server")
        key = task_run(client, project_id, run_id, "copy").ExecutionId
        # The first page of the running attempt's log: rows are already in the target's open transaction.
        wait_for(lambda: "progress:" in log_page(client, project_id, key).LogInfo, timeout=20,
                 what="rows already written in the target's transaction")  # fmt: skip
        res = call(client, "KillTriggerWorkflowRuns", kill)
        assert [r.OpStatus for r in res] == [True]
        wait_for(gone, timeout=10, what=f"{marker} gone from the source server")
    finally:  # a copy left running would hold the target table's lock past the test
        call(client, "KillTriggerWorkflowRuns", kill)
    data = wait_run(client, project_id, run_id)
    assert task_states(data) == {"copy": "KILLED"}
    assert (pg_rows if source_db == "my" else my_rows)(f"SELECT count(*) FROM {dst}")[0][0] == 0


# --- save time --------------------------------------------------------------------------------------------


def test_bad_configurations_are_refused_at_save_naming_the_field(client: Any, project_id: str, pg: str,
                                                                 my: str) -> None:  # fmt: skip
    wf = new_workflow(client, project_id, f"sync_save_{uid()}")
    ok = {"sourceTable": "src", "targetTable": "dst"}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"targetTable": "dst"}, f"{EXT}.sourceTable", "exactly one"),
        ({**ok, "sourceQuery": "SELECT 1"}, f"{EXT}.sourceQuery", "exactly one"),
        ({"sourceTable": "src"}, f"{EXT}.targetTable", "required"),
        ({**ok, "writeMode": "merge"}, f"{EXT}.writeMode", "append, overwrite, upsert"),
        ({**ok, "writeMode": "upsert"}, f"{EXT}.primaryKey", "required when writeMode is upsert"),
        ({**ok, "targetTable": "dst; DROP TABLE x"}, f"{EXT}.targetTable", "letters, digits and _"),
        ({**ok, "sourceTable": "a.b.c"}, f"{EXT}.sourceTable", "schema.name"),
        ({**ok, "columns": "id, na-me"}, f"{EXT}.columns", "letters, digits and _"),
        ({**ok, "columns": "id, name:id"}, f"{EXT}.columns", "twice"),
        ({**ok, "writeMode": "upsert", "primaryKey": "id", "columns": "name"}, f"{EXT}.primaryKey", "not written"),
        ({**ok, "batchSize": "0"}, f"{EXT}.batchSize", "1-100000"),
        ({**ok, "batchSize": "1000000"}, f"{EXT}.batchSize", "1-100000"),
        ({**ok, "maxRejected": "-1"}, f"{EXT}.maxRejected", "integer"),
        ({"sourceQuery": "DELETE FROM src", "targetTable": "dst"}, f"{EXT}.sourceQuery", "SELECT"),
        ({"sourceQuery": "SELECT 1; SELECT 2", "targetTable": "dst"}, f"{EXT}.sourceQuery", "one statement"),
        ({**ok, "where": "id > 1; DELETE FROM src"}, f"{EXT}.where", "one statement"),
    ]
    for ext, field, words in cases:
        fails(client, "CreateTriggerTask", sync_params(project_id, wf, f"bad_{uid()}", pg, my, **ext),
              "InvalidParameterValue", field, words)  # fmt: skip
    fails(client, "CreateTriggerTask", sync_params(project_id, wf, "no_target", pg, None, **ok),
          "InvalidParameterValue", f"{CONFIG}.TargetServiceId", "required")  # fmt: skip
    fails(client, "CreateTriggerTask", sync_params(project_id, wf, "no_source", None, my, **ok),
          "InvalidParameterValue", f"{CONFIG}.SourceServiceId", "required")  # fmt: skip
    ssh = data_source(client, project_id, "SSH", {"host": "127.0.0.1", "port": 22, "username": "u", "password": "p"})
    fails(client, "CreateTriggerTask", sync_params(project_id, wf, "ssh", pg, ssh, **ok),
          "InvalidParameterValue", f"{CONFIG}.TargetServiceId", "SSH")  # fmt: skip
    fails(client, "CreateTriggerTask", sync_params(project_id, wf, "self", pg, pg, sourceTable="t", targetTable="T"),
          "InvalidParameterValue", f"{CONFIG}.TargetServiceId", "source table")  # fmt: skip
    task_id = str(call(client, "CreateTriggerTask", sync_params(project_id, wf, "good", pg, my, **ok)).TaskId)
    fails(client, "UpdateTriggerTaskPartially",
          {"ProjectId": project_id, "TaskId": task_id, "NewSetting": {CONFIG: {"TaskExtConfigurationList": [
              {"ParamKey": "sourceTable", "ParamValue": "src"}, {"ParamKey": "targetTable", "ParamValue": "dst"},
              {"ParamKey": "writeMode", "ParamValue": "upsert"}]}}},
          "InvalidParameterValue", f"NewSetting.{EXT}.primaryKey")  # fmt: skip
    got = call(client, "GetTriggerTask", {"ProjectId": project_id, "TaskId": task_id})
    assert got.TriggerTaskBaseAttribute.TaskTypeId == 26
    assert got.TriggerTaskConfiguration.TargetServiceId == my
