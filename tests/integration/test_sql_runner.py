"""The SQL runner (trigflow.runner.sql) against real databases: PostgreSQL and MariaDB on this machine, SQLite
and DuckDB files. Cancellation is checked on the server's own activity views, not only on the exit code."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trigflow.domain.params import Data, parse_output_file
from trigflow.domain.sql_binding import render_sql
from trigflow.runner import sql

PG: dict[str, Any] = {"type": "POSTGRE", "driver": "postgresql", "host": "127.0.0.1", "port": 5432,
                      "database": "test", "username": "postgres", "password": None, "options": {}}  # fmt: skip
MY: dict[str, Any] = {"type": "MYSQL", "driver": "mariadb", "host": "127.0.0.1", "port": 3306,
                      "database": "test", "username": "root", "password": None, "options": {}}  # fmt: skip
OUTPUTS = [
    {"ParamKey": "first", "ParamValue": "$[0][1]"},
    {"ParamKey": "row", "ParamValue": "$[1][*]"},
    {"ParamKey": "ids", "ParamValue": "$[*][0]"},
    {"ParamKey": "plain", "ParamValue": "7"},
]


def run_sql(
    ds: dict[str, Any],
    code: str,
    tmp_path: Path,
    *,
    cancel: threading.Event | None = None,
    bindings: list[dict[str, str]] | None = None,
    limits: dict[str, int] | None = None,
    log: io.StringIO | None = None,
    as_text: bool = False,
) -> tuple[int, str, dict[str, str]]:
    out_file = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
    out_file.write_text("")
    config: dict[str, Any] = {"outputs": OUTPUTS, "bindings": bindings or []}
    if as_text:  # ADR 0004's config is key -> string: the lists may arrive as JSON text
        config = {k: json.dumps(v) for k, v in config.items()}
    workload = {"taskTypeId": 32, "code": code, "params": {}, "dataSource": ds, "limits": limits or {},
                "config": config}  # fmt: skip
    log = log if log is not None else io.StringIO()
    rc = sql.run(workload, log, str(out_file), cancel or threading.Event())
    return rc, log.getvalue(), parse_output_file(out_file.read_text(), [o["ParamKey"] for o in OUTPUTS])


def wait_for(what: str, check: Callable[[], bool], deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def pg_table() -> Iterator[str]:
    name = f"tf_sql_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as c:
        c.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def my_table() -> Iterator[str]:
    name = f"tf_sql_{uuid.uuid4().hex[:8]}"
    yield name
    c = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
    with c.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    c.close()


def _file_ds(kind: str, path: Path) -> dict[str, Any]:
    return {"type": kind, "driver": kind.lower(), "host": None, "port": None, "database": None, "path": str(path),
            "username": None, "password": None, "options": {}}  # fmt: skip


SCRIPT = """-- a script as a user writes it
CREATE TABLE {t} (id INT, name VARCHAR(40));
INSERT INTO {t} VALUES (1, 'a;b'), (2, 'it''s'), (3, 'c -- not a comment');
/* a comment; with a semicolon */
SELECT id, name FROM {t} ORDER BY id;
UPDATE {t} SET name = 'z' WHERE id = 3;
"""


def _check_script_log(rc: int, log: str, outputs: dict[str, str]) -> None:
    assert rc == 0, log
    assert "4 statements" in log
    assert "statement 1/4 (line 2): CREATE TABLE" in log
    assert "statement 2/4: 3 rows affected in" in log
    assert "statement 3/4 (line 5): SELECT id, name FROM" in log
    assert "| 1  | a;b                |" in log and "| 2  | it's               |" in log
    assert "statement 3/4: 3 rows returned in" in log
    assert "statement 4/4: 1 row affected in" in log
    assert "outputs from the result of statement 3: first, row, ids" in log
    # the UPDATE after the SELECT does not replace the result; `plain` is not an address
    assert outputs == {"first": "a;b", "row": '[2, "it\'s"]', "ids": "[1, 2, 3]"}


def test_postgresql_script_statement_by_statement(tmp_path: Path, pg_table: str) -> None:
    _check_script_log(*run_sql(PG, SCRIPT.format(t=pg_table), tmp_path))


def test_mariadb_script_statement_by_statement(tmp_path: Path, my_table: str) -> None:
    _check_script_log(*run_sql(MY, SCRIPT.format(t=my_table), tmp_path))


@pytest.mark.parametrize("kind", ["SQLITE", "DUCKDB"])
def test_file_databases_script_statement_by_statement(tmp_path: Path, kind: str) -> None:
    _check_script_log(*run_sql(_file_ds(kind, tmp_path / "db.file"), SCRIPT.format(t="t"), tmp_path, as_text=True))


def test_one_session_and_dollar_quoted_bodies_on_postgresql(tmp_path: Path) -> None:
    code = """
    CREATE TEMP TABLE s (v text);
    DO $$ BEGIN INSERT INTO s VALUES ('in; a body'); END $$;
    SET application_name = 'tf-session';
    SELECT v, current_setting('application_name') FROM s;
    """
    rc, log, outputs = run_sql(PG, code, tmp_path)
    assert rc == 0, log
    assert outputs["first"] == "tf-session" and outputs["ids"] == '["in; a body"]'


def test_log_table_is_bounded_and_says_so(tmp_path: Path) -> None:
    code = "SELECT g, repeat('x', 100) FROM generate_series(1, 50) g"
    rc, log, outputs = run_sql(PG, code, tmp_path, limits={"sqlLogRows": 3, "sqlLogCellChars": 10})
    assert rc == 0
    assert "| 3 | xxxxxxxxx… |" in log and "| 4 |" not in log
    assert "(first 3 of 50 rows shown; cells cut at 10 characters)" in log
    assert json.loads(outputs["ids"]) == list(range(1, 51))  # outputs are not bounded by the log's limit


@pytest.mark.parametrize("ds", [PG, MY], ids=["postgresql", "mariadb"])
def test_failing_statement_stops_the_attempt_with_the_database_message(tmp_path: Path, ds: dict[str, Any]) -> None:
    rc, log, outputs = run_sql(ds, "SELECT 1; SELECT * FROM no_such_table_tf; SELECT 3", tmp_path)
    assert rc == sql.EXIT_FAILED
    assert "statement 2/3 failed after" in log and "no_such_table_tf" in log
    assert "statement 3/3" not in log and outputs == {}


SECRET = "s3cret-Pa55word-" + uuid.uuid4().hex


@pytest.mark.parametrize(
    "ds",
    [
        {**PG, "port": 1, "password": SECRET},  # nothing listens: connection refused
        {**MY, "username": "tf_nobody", "password": SECRET},  # access denied
        {**MY, "port": 1, "password": SECRET},
    ],
    ids=["pg-refused", "mariadb-denied", "mariadb-refused"],
)
def test_password_never_in_the_log_on_connection_failure(tmp_path: Path, ds: dict[str, Any]) -> None:
    rc, log, _ = run_sql(ds, "SELECT 1", tmp_path)
    assert rc == sql.EXIT_FAILED and "cannot connect to" in log
    assert SECRET not in log


def test_password_never_in_the_log_even_when_the_database_echoes_it(tmp_path: Path) -> None:
    # PostgreSQL's trust auth accepts any password, so the session opens with it; a result and an error
    # message that carry it are redacted
    ds = {**PG, "password": SECRET}
    rc, log, _ = run_sql(ds, f"SELECT '{SECRET}' AS echoed; SELECT CAST('{SECRET}' AS INT)", tmp_path)
    assert rc == sql.EXIT_FAILED and "invalid input syntax" in log
    assert SECRET not in log and "| ***" in log


def test_data_values_are_bound_not_pasted(tmp_path: Path, pg_table: str, my_table: str) -> None:
    evil = "x'); DROP TABLE {t}; --"
    for ds, table, dialect in ((PG, pg_table, "postgresql"), (MY, my_table, "mysql")):
        value = evil.format(t=table)
        rendered = render_sql([
            f"CREATE TABLE {table} (v VARCHAR(200));\n"
            f"INSERT INTO {table} VALUES ('", Data("v", value), "');\n"
            f"INSERT INTO {table} VALUES ('pre ", Data("v", value), " 100%');\n"
            f"SELECT v FROM {table} WHERE v LIKE '%' ORDER BY v", ], dialect)  # fmt: skip
        assert value not in rendered.text
        rc, log, outputs = run_sql(ds, rendered.text, tmp_path, bindings=rendered.bindings, as_text=ds is MY)
        assert rc == 0, log
        assert json.loads(outputs["ids"]) == sorted([f"pre {value} 100%", value])


def test_postgresql_binds_on_the_client_where_the_server_takes_no_parameters(tmp_path: Path, pg_table: str) -> None:
    value = "it's a 'comment'; DROP TABLE x"
    rendered = render_sql([
        f"CREATE TABLE {pg_table} (a int);\nCOMMENT ON TABLE {pg_table} IS '", Data("c", value), "';\n"
        f"SELECT 0, obj_description('{pg_table}'::regclass)", ], "postgresql")  # fmt: skip
    rc, log, outputs = run_sql(PG, rendered.text, tmp_path, bindings=rendered.bindings)
    assert rc == 0, log
    assert outputs["first"] == value


# ------------------------------------------------------------------------------------------ cancel


def _run_in_thread(
    ds: dict[str, Any], code: str, tmp_path: Path, log: io.StringIO | None = None
) -> tuple[threading.Event, Callable[[], Any]]:
    cancel = threading.Event()
    result: dict[str, Any] = {}

    def target() -> None:
        result["r"] = run_sql(ds, code, tmp_path, cancel=cancel, log=log)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def finish() -> Any:
        thread.join(timeout=15)
        assert not thread.is_alive(), "the runner did not return after cancel"
        return result["r"]

    return cancel, finish


def _pg_sleepers(marker: str) -> list[tuple[str, str]]:
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as c:
        rows = c.execute(
            "SELECT state, query FROM pg_stat_activity WHERE application_name = %s AND state = 'active'", [marker]
        ).fetchall()
    return [(str(s), str(q)) for s, q in rows]


def test_cancel_stops_the_query_on_postgresql(tmp_path: Path) -> None:
    marker = f"tf-cancel-{uuid.uuid4().hex[:8]}"
    ds = {**PG, "options": {"ApplicationName": marker}}
    cancel, finish = _run_in_thread(ds, "SELECT 1; SELECT pg_sleep(30); SELECT 'never'", tmp_path)
    wait_for("pg_sleep to run on the server", lambda: any("pg_sleep" in q for _, q in _pg_sleepers(marker)))
    started = time.monotonic()
    cancel.set()
    wait_for("the server to stop running pg_sleep", lambda: not _pg_sleepers(marker), deadline_s=5)
    rc, log, _ = finish()
    assert time.monotonic() - started < 5
    assert rc == sql.EXIT_CANCELLED
    assert "[trigflow] cancelled: statement 2/3 was cancelled on the server" in log
    assert "statement 3/3" not in log


def _my_sleepers(marker: str) -> list[str]:
    c = pymysql.connect(host="127.0.0.1", user="root", database="test")
    try:
        with c.cursor() as cur:
            cur.execute("SELECT INFO FROM information_schema.PROCESSLIST WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
                        [f"%{marker}%"])  # fmt: skip
            return [str(r[0]) for r in cur.fetchall()]
    finally:
        c.close()


def test_cancel_stops_the_query_on_mariadb(tmp_path: Path) -> None:
    marker = f"tf-cancel-{uuid.uuid4().hex[:8]}"
    cancel, finish = _run_in_thread(MY, f"SELECT 1; SELECT SLEEP(30), '{marker}'; SELECT 'never'", tmp_path)
    wait_for("SLEEP to run on the server", lambda: bool(_my_sleepers(marker)))
    cancel.set()
    wait_for("the server to stop running SLEEP", lambda: not _my_sleepers(marker), deadline_s=5)
    rc, log, _ = finish()
    assert rc == sql.EXIT_CANCELLED
    assert "[trigflow] cancelled: statement 2/3 was cancelled on the server" in log
    assert "statement 3/3" not in log


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("SQLITE", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"),
        ("DUCKDB", "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = hash(a.range) % 7"),
    ],
)
def test_cancel_interrupts_file_databases(tmp_path: Path, kind: str, code: str) -> None:
    log = io.StringIO()
    cancel, finish = _run_in_thread(_file_ds(kind, tmp_path / "db.file"), code, tmp_path, log)
    # no activity view in a file database: the log line written just before the statement starts will do
    # (the runner repeats its interrupt while the attempt lasts, so one landing just before the start is fine)
    wait_for("the statement to start", lambda: "statement 1/1 (line 1)" in log.getvalue())
    started = time.monotonic()
    cancel.set()
    rc, log, _ = finish()
    assert time.monotonic() - started < 5
    assert rc == sql.EXIT_CANCELLED and "[trigflow] cancelled: statement 1/1" in log


def test_sigterm_to_run_attempt_cancels_on_the_server(tmp_path: Path) -> None:
    """The worker-side process path: SIGTERM (a kill or a timeout) sets `cancel`, the query stops there."""
    marker = f"tf-sigterm-{uuid.uuid4().hex[:8]}"
    workload = tmp_path / "workload.json"
    workload.write_text(json.dumps({"taskTypeId": 32, "code": "SELECT pg_sleep(30)", "params": {},
                                    "dataSource": {**PG, "options": {"ApplicationName": marker}},
                                    "outputsPath": None, "limits": {}, "config": {}}))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "trigflow.cli", "run-attempt", str(workload)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(sql.__file__).parents[2])})  # fmt: skip
    try:
        wait_for("pg_sleep to run on the server", lambda: bool(_pg_sleepers(marker)), deadline_s=20)
        proc.send_signal(signal.SIGTERM)
        wait_for("the server to stop running pg_sleep", lambda: not _pg_sleepers(marker), deadline_s=5)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "[trigflow] cancelled: statement 1/1 was cancelled on the server" in out


_VALUES = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=24)


@pytest.mark.parametrize(("ds", "dialect"), [(PG, "postgresql"), (MY, "mysql")], ids=["postgresql", "mariadb"])
def test_property_any_data_value_comes_back_as_itself(tmp_path: Path, ds: dict[str, Any], dialect: str) -> None:
    """Whatever a value holds (quotes, backslashes, %, comment markers, any character), it is a value."""

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_VALUES, _VALUES)
    def check(v: str, w: str) -> None:
        rendered = render_sql(["SELECT 0, '", Data("v", v), "' UNION ALL SELECT 1, 'x", Data("w", w),
                               "%' ORDER BY 1 -- ", Data("v", v), "\n"], dialect)  # fmt: skip
        rc, log, outputs = run_sql(ds, rendered.text, tmp_path, bindings=rendered.bindings)
        assert rc == 0, log
        assert json.loads(outputs["row"]) == [1, f"x{w}%"]
        assert outputs["first"] == " ".join(v.replace("\r\n", "\n").replace("\r", "\n").split("\n"))

    check()


def test_jdbc_url_options_reach_the_driver_or_are_named_as_ignored(tmp_path: Path) -> None:
    ds = {**PG, "options": {"currentSchema": "information_schema", "ApplicationName": "tf-opts", "loggerLevel": "x"}}
    rc, log, outputs = run_sql(ds, "SELECT 0, current_schema() UNION ALL SELECT 1, current_setting('application_name')",
                               tmp_path)  # fmt: skip
    assert rc == 0, log
    assert outputs["first"] == "information_schema" and outputs["row"] == '[1, "tf-opts"]'
    assert "connection options without a driver equivalent, ignored: loggerLevel" in log


def test_cancel_before_the_attempt_connects_runs_nothing(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    rc, log, _ = run_sql(_file_ds("SQLITE", tmp_path / "db"), "CREATE TABLE t (a INT)", tmp_path, cancel=cancel)
    assert rc == sql.EXIT_CANCELLED and "cancelled before connecting" in log
    assert not (tmp_path / "db").exists()


# ------------------------------------------------------------------------------------------ streaming


# Starts the runner and reports its exit code and peak RSS. Linux carries a process's peak RSS across exec, so
# a runner spawned by pytest itself would report at least pytest's own size: this small process is between.
_MEASURE = """
import json, os, sys
pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "trigflow.runner", sys.argv[1]], os.environ)
_, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]), file=sys.stderr)
"""


def _runner_process(
    tmp_path: Path, ds: dict[str, Any], code: str, outputs: list[dict[str, str]]
) -> tuple[int, int, str]:
    """(exit code, peak RSS in KiB, log) of one `python -m trigflow.runner` process (what a SQL task runs)."""
    workload = tmp_path / f"workload-{uuid.uuid4().hex[:6]}.json"
    out_file = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
    workload.write_text(json.dumps({"taskTypeId": 32, "code": code, "params": {}, "dataSource": ds, "limits": {},
                                    "outputsPath": str(out_file), "config": {"outputs": outputs}}))  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(workload)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(sql.__file__).parents[2])})  # fmt: skip
    rc, peak = json.loads(done.stderr.strip().splitlines()[-1])
    return int(rc), int(peak), done.stdout + (out_file.read_text() if out_file.exists() else "")


@pytest.mark.parametrize(
    ("ds", "code", "rows"),
    [
        (PG, "SELECT g, repeat('x', 100) FROM generate_series(1, {n}) g", 3_000_000),
        # PyMySQL parses rows in Python (~5 us each): fewer, wider rows keep the test short for as many bytes
        (MY, "SELECT seq, REPEAT('x', 300) FROM seq_1_to_{n}", 600_000),
    ],
    ids=["postgresql", "mariadb"],
)
def test_a_huge_result_streams_through_the_runner_in_bounded_memory(
    tmp_path: Path, ds: dict[str, Any], code: str, rows: int
) -> None:
    """Hundreds of MB of rows pass through a runner whose peak memory stays that of a one-row SELECT: the
    drivers stream (nothing buffers the result whole), the log keeps its 20 rows and the exact count, and an
    output still addresses the last row."""
    outputs = [{"ParamKey": "last", "ParamValue": f"$[{rows - 1}][0]"}, {"ParamKey": "first", "ParamValue": "$[0]"}]
    rc, baseline, log = _runner_process(tmp_path, ds, code.format(n=1), outputs)
    assert rc == 0, log
    rc, peak, log = _runner_process(tmp_path, ds, code.format(n=rows), outputs)
    assert rc == 0, log
    # the result is 200+ MB; buffered it took 300-400 MB here, streamed the runner grows by a few MB at most
    assert peak < baseline * 1.3, f"peak RSS {peak} KiB against {baseline} KiB for one row"
    assert f"statement 1/1: {rows} rows returned in" in log
    assert f"(first 20 of {rows} rows shown; cells cut at 80 characters)" in log
    assert f"last={rows}\n" in log and 'first=[1, "xxx' in log


def test_a_list_output_over_the_parameter_limit_fails_naming_it(tmp_path: Path) -> None:
    code = "SELECT g, 'x' FROM generate_series(1, 100000) g"
    rc, log, outputs = run_sql(PG, code, tmp_path, limits={"maxParamChars": 1000})
    assert rc == sql.EXIT_FAILED
    assert (
        "output parameter ids ($[*][0]) of statement 1's result would be longer than 1000 characters, the limit "
        "of one parameter value (trigflow up --max-param-size), after 222 rows; no output is written"
    ) in log
    assert "statement 1/1: 100000 rows returned in" in log  # the count stays exact
    assert outputs == {}


def test_only_the_last_result_feeds_the_outputs(tmp_path: Path) -> None:
    """An earlier result too large for a list output is only logged and counted; the last one is the result."""
    code = "SELECT g FROM generate_series(1, 100000) g; SELECT 1 AS id, 'one' UNION ALL SELECT 2, 'two'; SET x.y = 1"
    rc, log, outputs = run_sql(PG, code, tmp_path, limits={"maxParamChars": 1000})
    assert rc == 0, log
    assert "statement 1/3: 100000 rows returned" in log and "statement 3/3: 0 rows affected" in log
    assert outputs == {"first": "one", "row": '[2, "two"]', "ids": "[1, 2]"}


def _pg_running_for(marker: str, seconds: float) -> bool:
    with psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True) as c:
        return bool(
            c.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND state = 'active' "
                "AND now() - query_start > make_interval(secs => %s)",
                [marker, seconds],
            ).fetchall()
        )


def _my_running_for(marker: str, seconds: int) -> bool:
    c = pymysql.connect(host="127.0.0.1", user="root", database="test")
    try:
        with c.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.PROCESSLIST WHERE INFO LIKE %s AND ID <> CONNECTION_ID() "
                        "AND TIME_MS >= %s", [f"%{marker}%", seconds * 1000])  # fmt: skip
            return bool(cur.fetchall())
    finally:
        c.close()


def test_cancel_stops_a_streaming_query_on_postgresql(tmp_path: Path) -> None:
    marker = f"tf-stream-{uuid.uuid4().hex[:8]}"
    ds = {**PG, "options": {"ApplicationName": marker}}
    # in the select list generate_series is computed row by row as the rows are sent (in FROM it is
    # materialised first): rows flow to the runner from the start
    cancel, finish = _run_in_thread(ds, "SELECT generate_series(1, 1000000000000), 'x'", tmp_path)
    wait_for("rows to stream for a second", lambda: _pg_running_for(marker, 1.0), deadline_s=20)
    cancel.set()
    wait_for("the server to stop the query", lambda: not _pg_sleepers(marker), deadline_s=5)
    rc, log, _ = finish()
    assert rc == sql.EXIT_CANCELLED
    assert "[trigflow] cancelled: statement 1/1 was cancelled on the server" in log


def test_cancel_stops_a_streaming_query_on_mariadb(tmp_path: Path) -> None:
    marker = f"tf_stream_{uuid.uuid4().hex[:8]}"
    cancel, finish = _run_in_thread(MY, f"SELECT seq, '{marker}' FROM seq_1_to_1000000000000", tmp_path)
    wait_for("rows to stream for a second", lambda: _my_running_for(marker, 1), deadline_s=20)
    cancel.set()
    wait_for("the server to stop the query", lambda: not _my_sleepers(marker), deadline_s=5)
    rc, log, _ = finish()
    assert rc == sql.EXIT_CANCELLED
    assert "[trigflow] cancelled: statement 1/1 was cancelled on the server" in log
