"""The offline-sync runner (trigflow.runner.offline_sync) on local SQLite and DuckDB files, called directly with a
workload: the backends the SDK tests do not cover (PostgreSQL and MariaDB are in test_offline_sync.py)."""

from __future__ import annotations

import io
import sqlite3
import threading
from pathlib import Path
from typing import Any

import duckdb

from trigflow.domain.params import parse_output_file
from trigflow.runner import offline_sync


def source(kind: str, path: Path) -> dict[str, Any]:
    return {"type": kind, "driver": kind.lower(), "path": str(path), "options": {}}


def copy(src: dict[str, Any], dst: dict[str, Any], tmp_path: Path, code: str = "",
         bindings: list[dict[str, str]] | None = None, **config: str) -> tuple[int, str, dict[str, str]]:  # fmt: skip
    out = tmp_path / "outputs"
    out.write_text("")
    log = io.StringIO()
    workload = {"taskTypeId": 26, "code": code, "config": {**config, "bindings": bindings or []}, "dataSource": src,
                "targetDataSource": dst}  # fmt: skip
    rc = offline_sync.run(workload, log, str(out), threading.Event())
    names = ["rowsRead", "rowsWritten", "rowsRejected", "rowsInserted", "rowsUpdated"]
    return rc, log.getvalue(), parse_output_file(out.read_text(), names)


def test_sqlite_to_duckdb_upsert_then_back_with_a_bound_where(tmp_path: Path) -> None:
    lite, duck = tmp_path / "a.sqlite", tmp_path / "b.duckdb"
    with sqlite3.connect(lite) as c:
        c.execute("CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT)")
        c.executemany("INSERT INTO src VALUES (?, ?)", [(i, f"new {i}") for i in range(1, 21)])
    d = duckdb.connect(str(duck))
    d.execute("CREATE TABLE dst (id INTEGER PRIMARY KEY, name VARCHAR)")
    d.execute("INSERT INTO dst SELECT i, 'old' FROM range(1, 11) t(i)")
    d.close()
    rc, log, outputs = copy(source("SQLITE", lite), source("DUCKDB", duck), tmp_path, sourceTable="src",
                            targetTable="dst", writeMode="upsert", primaryKey="id", batchSize="7")  # fmt: skip
    assert rc == 0, log
    assert outputs == {"rowsRead": "20", "rowsWritten": "20", "rowsRejected": "0", "rowsInserted": "10",
                       "rowsUpdated": "10"}  # fmt: skip
    d = duckdb.connect(str(duck))
    assert d.execute("SELECT count(*), count(*) FILTER (name LIKE 'new%') FROM dst").fetchone() == (20, 20)
    d.close()
    with sqlite3.connect(lite) as c:
        c.execute("CREATE TABLE back (id INTEGER PRIMARY KEY, name TEXT)")
    rc, log, outputs = copy(source("DUCKDB", duck), source("SQLITE", lite), tmp_path, code="id > __trigflow_bind_0__",
                            bindings=[{"placeholder": "__trigflow_bind_0__", "value": "15"}], sourceTable="dst",
                            targetTable="back", where="id > ${since}")  # fmt: skip
    assert rc == 0, log
    with sqlite3.connect(lite) as c:
        assert [r[0] for r in c.execute("SELECT id FROM back ORDER BY id")] == [16, 17, 18, 19, 20]


def test_sqlite_rejects_rows_row_by_row_and_the_limit_rolls_back(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    with sqlite3.connect(a) as c:
        c.execute("CREATE TABLE src (id INTEGER, name TEXT)")
        c.executemany("INSERT INTO src VALUES (?, ?)", [(i, None if i % 10 == 0 else "x") for i in range(1, 51)])
    with sqlite3.connect(b) as c:
        c.execute("CREATE TABLE dst (id INTEGER, name TEXT NOT NULL)")
    rc, log, outputs = copy(source("SQLITE", a), source("SQLITE", b), tmp_path, targetTable="dst",
                            sourceQuery="SELECT * FROM src ORDER BY id", maxRejected="5", batchSize="8")  # fmt: skip
    assert rc == 0, log
    assert outputs["rowsRejected"] == "5" and outputs["rowsWritten"] == "45", log
    assert "rejected row 10: NOT NULL constraint failed: dst.name" in log
    rc, log, _ = copy(source("SQLITE", a), source("SQLITE", b), tmp_path, sourceTable="src", targetTable="dst",
                      writeMode="overwrite", maxRejected="4")  # fmt: skip
    assert rc == 1 and "more than maxRejected 4; the target was rolled back" in log
    with sqlite3.connect(b) as c:  # the overwrite's DELETE was rolled back with it
        assert c.execute("SELECT count(*) FROM dst").fetchone() == (45,)


def test_a_missing_target_table_fails_without_rejecting_and_names_the_error(tmp_path: Path) -> None:
    a = tmp_path / "a.sqlite"
    with sqlite3.connect(a) as c:
        c.execute("CREATE TABLE src (id INTEGER)")
        c.execute("INSERT INTO src VALUES (1)")
    rc, log, _ = copy(source("SQLITE", a), source("SQLITE", a), tmp_path, sourceTable="src", targetTable="nope",
                      maxRejected="100")  # fmt: skip
    assert rc == 1 and "failed while writing the target: no such table: nope" in log
