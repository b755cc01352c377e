"""Offline sync rows/s, PostgreSQL -> MariaDB and MariaDB -> PostgreSQL, against a hand-written copy loop.

For each direction, `ROWS` rows (id, text, decimal, timestamp, nullable text) are copied N times each way,
alternated so the machine's noise hits both alike:

* `trigflow run-attempt` on a workload file: the whole worker-side process an offline-sync attempt is
  (Python start-up, both connections, the log, the one-transaction copy);
* the runner's `run()` in-process (the same copy without the process start-up);
* the baseline, in-process: what one writes by hand with the same drivers and batch size: a psycopg named
  cursor and PyMySQL executemany (PG -> MariaDB), a PyMySQL SSCursor and psycopg COPY (MariaDB -> PG), one
  transaction, no row-level rejection, no log.

Prints the median rows/s of each and the ratio trigflow / baseline (1.0 = as fast as the hand-written loop).
Needs PostgreSQL on 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306 (db `test`, trust / root without password).
Usage: `.venv/bin/python bench/offline_sync_bench.py [N] [ROWS]`.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pymysql
import pymysql.cursors

from trigflow.runner import offline_sync

PG = {"type": "POSTGRE", "driver": "postgresql", "host": "127.0.0.1", "port": 5432, "database": "test",
      "username": "postgres", "password": None, "path": None, "options": {}}  # fmt: skip
MY = {"type": "MYSQL", "driver": "mariadb", "host": "127.0.0.1", "port": 3306, "database": "test",
      "username": "root", "password": None, "path": None, "options": {}}  # fmt: skip
BATCH = 5000
COLS = "id, name, amount, created, note"
PG_DDL = "id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount NUMERIC(12,2), created TIMESTAMP, note TEXT"
MY_DDL = "id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount DECIMAL(12,2), created DATETIME, note TEXT"


def pg_conn() -> psycopg.Connection[Any]:
    return psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres")


def my_conn() -> pymysql.Connection[Any]:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test")


def pg_sql(text: str) -> None:
    with pg_conn() as c:
        c.execute(text)


def my_sql(text: str) -> None:
    c = my_conn()
    try:
        with c.cursor() as cur:
            cur.execute(text)
        c.commit()
    finally:
        c.close()


def baseline_pg_to_my(src: str, dst: str) -> None:
    with pg_conn() as pg:
        cur = pg.cursor(name="bench")
        cur.execute(f"SELECT {COLS} FROM {src}")
        my = my_conn()
        try:
            with my.cursor() as out:
                insert = f"INSERT INTO {dst} ({COLS}) VALUES (%s, %s, %s, %s, %s)"
                while rows := cur.fetchmany(BATCH):
                    out.executemany(insert, rows)
            my.commit()
        finally:
            my.close()


def baseline_my_to_pg(src: str, dst: str) -> None:
    my = my_conn()
    try:
        cur = my.cursor(pymysql.cursors.SSCursor)
        cur.execute(f"SELECT {COLS} FROM {src}")
        with pg_conn() as pg, pg.cursor() as out:
            while rows := cur.fetchmany(BATCH):
                with out.copy(f"COPY {dst} ({COLS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
    finally:
        my.close()


def in_process(source: dict[str, Any], target: dict[str, Any], src: str, dst: str) -> Callable[[], None]:
    doc = {"taskTypeId": 26, "code": "", "dataSource": source, "targetDataSource": target,
           "config": {"sourceTable": src, "targetTable": dst, "batchSize": str(BATCH)}}  # fmt: skip
    return lambda: offline_sync.run(doc, io.StringIO(), None, threading.Event()) and None


def runner(source: dict[str, Any], target: dict[str, Any], src: str, dst: str) -> Callable[[], None]:
    doc = {"taskTypeId": 26, "code": "", "params": {}, "dataSource": source, "targetDataSource": target,
           "config": {"sourceTable": src, "targetTable": dst, "batchSize": str(BATCH)}, "limits": {}}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as wl:
        json.dump(doc, wl)

    def go() -> None:
        subprocess.run([sys.executable, "-m", "trigflow.runner", wl.name], check=True, stdout=subprocess.DEVNULL)

    return go


def main(n: int, rows: int) -> None:
    tag = uuid.uuid4().hex[:8]
    pg_src, pg_dst, my_src, my_dst = (f"bench_sync_{k}_{tag}" for k in ("pgsrc", "pgdst", "mysrc", "mydst"))
    pg_sql(f"CREATE TABLE {pg_src} ({PG_DDL})")
    pg_sql(f"INSERT INTO {pg_src} SELECT g, 'row ' || g, g * 1.25, TIMESTAMP '2026-01-01' + g * INTERVAL '1 minute', "
           f"CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END FROM generate_series(1, {rows}) g")  # fmt: skip
    pg_sql(f"CREATE TABLE {pg_dst} ({PG_DDL})")
    my_sql(f"CREATE TABLE {my_src} ({MY_DDL})")
    my_sql(f"CREATE TABLE {my_dst} ({MY_DDL})")
    baseline_pg_to_my(pg_src, my_src)  # the MariaDB source, filled by the baseline once
    try:
        directions = {
            "PG -> MariaDB": (runner(PG, MY, pg_src, my_dst), in_process(PG, MY, pg_src, my_dst),
                              lambda: baseline_pg_to_my(pg_src, my_dst), lambda: my_sql(f"DELETE FROM {my_dst}")),
            "MariaDB -> PG": (runner(MY, PG, my_src, pg_dst), in_process(MY, PG, my_src, pg_dst),
                              lambda: baseline_my_to_pg(my_src, pg_dst), lambda: pg_sql(f"TRUNCATE {pg_dst}")),
        }  # fmt: skip
        for name, (ours, inside, bare, empty) in directions.items():
            times: dict[str, list[float]] = {"trigflow run-attempt": [], "runner run() in-process": [],
                                             "baseline loop": []}  # fmt: skip
            for _ in range(n):
                for label, f in (("trigflow run-attempt", ours), ("runner run() in-process", inside),
                                 ("baseline loop", bare)):  # fmt: skip
                    empty()
                    t = time.perf_counter()
                    f()
                    times[label].append(time.perf_counter() - t)
            rates = {label: rows / statistics.median(xs) for label, xs in times.items()}
            for label, rate in rates.items():
                print(f"{name:14s} {label:24s} {rate:10,.0f} rows/s  (median of {n}, {rows:,} rows)")
            base = rates["baseline loop"]
            print(f"{name:14s} ratio run-attempt / baseline: {rates['trigflow run-attempt'] / base:.2f}, "
                  f"in-process / baseline: {rates['runner run() in-process'] / base:.2f}")  # fmt: skip
    finally:
        for t in (pg_src, pg_dst):
            pg_sql(f"DROP TABLE IF EXISTS {t}")
        for t in (my_src, my_dst):
            my_sql(f"DROP TABLE IF EXISTS {t}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
