"""The work task types as a table for test_type_semantics.py: for each type, the configurations of the four
variants those tests need and a gate that holds a running task of that type until the test opens it.

A variant is a TriggerTaskConfiguration (with the type's data sources) plus a text its log must show:
- `gated`: waits at the gate, so a test can see a task of the type hold its resource-group slot;
- `broken`: version 1 of a task, failing the way that type fails (exit 3, bad SQL, a raising cell, a Spark
  analysis error, a sync into a missing table, a class that is not in the JAR);
- `fixed`: version 2, which works;
- `flaky`: fails its first attempt with a transient failure and succeeds on the retry.

The gates are what each backend offers: a file the task polls for (Shell, Python, SSH on the loopback sshd,
Notebook, PySpark), an advisory lock (SQL on PostgreSQL), a named lock (SQL on MariaDB), a table lock on the
source table (offline sync). `waiting()` counts the tasks held at the gate, read from the backend itself
(the marker files a task writes on reaching a closed gate, pg_stat_activity, the MariaDB process list,
pg_locks), never guessed from time.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pymysql

from tests.integration.test_notebook_tasks import cell, notebook
from tests.integration.test_sql_tasks import my_rows, pg_rows

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def ext_list(**keys: str) -> list[dict[str, str]]:
    return [{"ParamKey": k, "ParamValue": v} for k, v in keys.items()]


def short() -> str:
    return uuid.uuid4().hex[:10]


@dataclass
class Ctx:
    """What one test gives the cases: a private directory, the data-source ids the case needs (by fixture
    name), and clean-ups run after the test (tables, locks)."""

    tmp: Path
    sources: dict[str, str]
    cleanups: list[Callable[[], object]] = field(default_factory=list)

    def pg_table(self, columns: str, rows: str | None = None) -> str:
        name = f"tf_ts_{short()}"
        pg_rows(f"CREATE TABLE {name} ({columns})")
        self.cleanups.append(lambda: pg_rows(f"DROP TABLE IF EXISTS {name}"))
        if rows:
            pg_rows(f"INSERT INTO {name} VALUES {rows}")
        return name

    def my_table(self, columns: str, rows: str | None = None) -> str:
        name = f"tf_ts_{short()}"
        my_rows(f"CREATE TABLE {name} ({columns})")
        self.cleanups.append(lambda: my_rows(f"DROP TABLE IF EXISTS {name}"))
        if rows:
            my_rows(f"INSERT INTO {name} VALUES {rows}")
        return name


@dataclass(frozen=True)
class Variant:
    config: dict[str, Any]  # TriggerTaskConfiguration
    log: str  # what the attempt's log shows
    check: Callable[[], None] | None = None  # what must hold in the backend once it has run (and succeeded)


class Gate(Protocol):
    def waiting(self) -> int:
        """How many tasks are held at the gate now."""
        ...

    def open(self) -> None:
        """Let every task through, those held and those still to come."""
        ...


class FileGate:
    """Tasks write `started.<name>` and poll for `gate`: the test creates it to let them go."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / f"gate_{short()}"
        self.dir.mkdir()
        self.gate = self.dir / "gate"

    def started(self, name: str) -> Path:
        return self.dir / f"started.{name}"

    def waiting(self) -> int:
        return 0 if self.gate.exists() else len(list(self.dir.glob("started.*")))

    def open(self) -> None:
        self.gate.touch()


class PgAdvisoryGate:
    """The test holds advisory lock `key`; a task's `SELECT pg_advisory_lock(key)` waits for it."""

    def __init__(self, ctx: Ctx) -> None:
        self.key = random.randrange(1 << 30, 1 << 31)
        self.conn = psycopg.connect(PG_DSN, autocommit=True)
        self.conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
        ctx.cleanups.append(self.conn.close)

    def waiting(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND wait_event = 'advisory' "
            "AND query LIKE %s",
            (f"%pg_advisory_lock({self.key})%",),
        ).fetchone()
        return int(row[0]) if row else 0

    def open(self) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))


class MyNamedLockGate:
    """The test holds MariaDB's named lock `name`; a task's `SELECT GET_LOCK(name, ...)` waits for it."""

    def __init__(self, ctx: Ctx) -> None:
        self.name = f"tf_gate_{short()}"
        self.conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                                    autocommit=True)  # fmt: skip
        self._one("SELECT GET_LOCK(%s, 0)", self.name)
        ctx.cleanups.append(self.conn.close)

    def _one(self, sql: str, *args: Any) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0]

    def waiting(self) -> int:
        return int(self._one("SELECT count(*) FROM information_schema.processlist WHERE id <> connection_id() "
                             "AND state = 'User lock' AND info LIKE %s", f"%{self.name}%"))  # fmt: skip

    def open(self) -> None:
        self._one("SELECT RELEASE_LOCK(%s)", self.name)


class PgTableLockGate:
    """The test holds an ACCESS EXCLUSIVE lock on a PostgreSQL table (in an open transaction); a sync reading
    it waits for the lock."""

    def __init__(self, ctx: Ctx, table: str) -> None:
        self.table = table
        self.conn = psycopg.connect(PG_DSN)
        self.conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        ctx.cleanups.append(self.conn.close)

    def waiting(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", (self.table,)
        ).fetchone()
        return int(row[0]) if row else 0

    def open(self) -> None:
        self.conn.commit()


# --- the cases -------------------------------------------------------------------------------------------------


class TypeCase:
    """One work type (and backend). `needs` names the data-source fixtures; `partial_rerun` picks
    ExecuteType 2 with TaskIds = the task (else ExecuteType 1) for its fix-and-rerun."""

    id: str
    type_id: int
    needs: tuple[str, ...] = ()
    partial_rerun: bool = False
    points: frozenset[str] = frozenset({"groups", "rerun", "retry", "partial"})
    timeout: float = 60  # seconds for one run of the case

    def config(self, ctx: Ctx, code: str) -> dict[str, Any]:
        return {"CodeContent": b64(code)}

    def gate(self, ctx: Ctx) -> Gate:
        return FileGate(ctx.tmp)

    def gated(self, ctx: Ctx, gate: Gate, name: str) -> Variant:
        raise NotImplementedError

    def broken(self, ctx: Ctx) -> Variant:
        raise NotImplementedError

    def fixed(self, ctx: Ctx) -> Variant:
        raise NotImplementedError

    def flaky(self, ctx: Ctx) -> tuple[Variant, str]:
        """The flaky variant (its log is the successful retry's) and what the failed first attempt logs."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.id


class ShellCase(TypeCase):
    def __init__(self, type_id: int, partial_rerun: bool = False, source: str | None = None, ident: str = "") -> None:
        self.type_id, self.partial_rerun = type_id, partial_rerun
        self.id = ident or f"shell{type_id}"
        self.needs = (source,) if source else ()
        self.source = source

    def config(self, ctx: Ctx, code: str) -> dict[str, Any]:
        config = {"CodeContent": b64(code)}
        if self.source:
            config["SourceServiceId"] = ctx.sources[self.source]
        return config

    def gated(self, ctx: Ctx, gate: Gate, name: str) -> Variant:
        assert isinstance(gate, FileGate)
        code = f"touch {gate.started(name)}; while [ ! -e {gate.gate} ]; do sleep 0.02; done; echo gated {name} done"
        return Variant(self.config(ctx, code), f"gated {name} done")

    def broken(self, ctx: Ctx) -> Variant:
        return Variant(self.config(ctx, "echo 'v1 is broken' >&2; exit 3"), "v1 is broken")

    def fixed(self, ctx: Ctx) -> Variant:
        return Variant(self.config(ctx, "echo 'v2 works'"), "v2 works")

    def flaky(self, ctx: Ctx) -> tuple[Variant, str]:
        flag = ctx.tmp / f"flag_{short()}"
        code = (f"if [ ! -e {flag} ]; then touch {flag}; echo 'transient failure' >&2; exit 3; fi\n"
                "echo 'second attempt works'")  # fmt: skip
        return Variant(self.config(ctx, code), "second attempt works"), "transient failure"


def py_gated(gate: Gate, name: str) -> str:
    assert isinstance(gate, FileGate)
    return (f"import os, time\nopen({str(gate.started(name))!r}, 'w').close()\n"
            f"while not os.path.exists({str(gate.gate)!r}):\n    time.sleep(0.02)\n"
            f"print('gated {name} done')\n")  # fmt: skip


def py_flaky(ctx: Ctx) -> str:
    flag = str(ctx.tmp / f"flag_{short()}")
    return (f"import os\nif not os.path.exists({flag!r}):\n    open({flag!r}, 'w').close()\n"
            "    raise RuntimeError('transient failure')\nprint('second attempt', 'works')\n")  # fmt: skip


class PythonCase(TypeCase):
    id, type_id = "python30", 30
    partial_rerun = True

    def gated(self, ctx: Ctx, gate: Gate, name: str) -> Variant:
        return Variant(self.config(ctx, py_gated(gate, name)), f"gated {name} done")

    def broken(self, ctx: Ctx) -> Variant:
        return Variant(self.config(ctx, "raise RuntimeError('v1 is broken')\n"), "RuntimeError: v1 is broken")

    def fixed(self, ctx: Ctx) -> Variant:
        return Variant(self.config(ctx, "print('v2 works')\n"), "v2 works")

    def flaky(self, ctx: Ctx) -> tuple[Variant, str]:
        return Variant(self.config(ctx, py_flaky(ctx)), "second attempt works"), "RuntimeError: transient failure"


class NotebookCase(PythonCase):
    """The Python codes, each as the one cell of a notebook on a local kernel."""

    id, type_id = "notebook132", 132

    def config(self, ctx: Ctx, code: str) -> dict[str, Any]:
        return {"CodeContent": b64(notebook(cell(code)))}


class SqlCase(TypeCase):
    """SQL (32) on PostgreSQL or MariaDB: bad SQL (a missing table) fails v1; the transient failure is a key
    conflict that the attempt itself removes (an autocommitted counter row), so the retry succeeds."""

    type_id = 32

    def __init__(self, db: str, partial_rerun: bool) -> None:
        self.db, self.partial_rerun = db, partial_rerun
        self.id = f"sql32_{db}"
        self.needs = (f"{db}_source",)

    def config(self, ctx: Ctx, code: str) -> dict[str, Any]:
        return {"CodeContent": b64(code), "SourceServiceId": ctx.sources[self.needs[0]]}

    def gate(self, ctx: Ctx) -> Gate:
        return PgAdvisoryGate(ctx) if self.db == "pg" else MyNamedLockGate(ctx)

    def gated(self, ctx: Ctx, gate: Gate, name: str) -> Variant:
        if isinstance(gate, PgAdvisoryGate):
            sql = f"SELECT pg_advisory_lock({gate.key});\nSELECT pg_advisory_unlock({gate.key}) AS released"
        else:
            assert isinstance(gate, MyNamedLockGate)
            sql = f"SELECT GET_LOCK('{gate.name}', 120);\nSELECT RELEASE_LOCK('{gate.name}') AS released"
        return Variant(self.config(ctx, sql), "statement 2/2: 1 row returned")

    def broken(self, ctx: Ctx) -> Variant:
        missing = f"tf_missing_{short()}"
        return Variant(self.config(ctx, f"SELECT * FROM {missing}"), missing)

    def fixed(self, ctx: Ctx) -> Variant:
        return Variant(self.config(ctx, "SELECT 'v2 works' AS result"), "v2 works")

    def flaky(self, ctx: Ctx) -> tuple[Variant, str]:
        table = ctx.pg_table if self.db == "pg" else ctx.my_table
        attempts, once = table("k INT"), table("k INT PRIMARY KEY", "(1)")
        sql = (f"INSERT INTO {attempts} VALUES (1);\nINSERT INTO {once} SELECT count(*) FROM {attempts};\n"
               "SELECT 'second attempt works' AS result")  # fmt: skip
        rows = pg_rows if self.db == "pg" else my_rows

        def check() -> None:  # two attempts ran, the first one's conflict was the only failure
            assert rows(f"SELECT count(*) FROM {attempts}")[0][0] == 2
            assert sorted(r[0] for r in rows(f"SELECT k FROM {once}")) == [1, 2]

        failure = "duplicate key value" if self.db == "pg" else "Duplicate entry '1'"
        return Variant(self.config(ctx, sql), "second attempt works", check), failure


ROWS = "(1, 'tea'), (2, 'cake'), (3, 'jam')"
SYNC_DONE = "done: 3 rows read, 3 written, 0 rejected"


def landed(rows: Callable[[str], list[tuple[Any, ...]]], table: str) -> None:
    """The three source rows are in the target once: a failed attempt left nothing behind."""
    assert rows(f"SELECT id, item FROM {table} ORDER BY id") == [(1, "tea"), (2, "cake"), (3, "jam")]


class SyncCase(TypeCase):
    """Offline sync (26) between PostgreSQL and MariaDB: v1 writes into a table that does not exist; the
    transient failure is a PostgreSQL target whose statement trigger refuses the first insert only (a
    sequence counts, and sequences are not rolled back with the failed copy)."""

    id, type_id = "sync26", 26
    needs = ("pg_source", "my_source")

    def sync(self, ctx: Ctx, source: str, target: str, **ext: str) -> dict[str, Any]:
        return {"SourceServiceId": ctx.sources[source], "TargetServiceId": ctx.sources[target],
                "TaskExtConfigurationList": ext_list(**ext)}  # fmt: skip

    def gate(self, ctx: Ctx) -> Gate:
        return PgTableLockGate(ctx, ctx.pg_table("id INT PRIMARY KEY, item TEXT", ROWS))

    def gated(self, ctx: Ctx, gate: Gate, name: str) -> Variant:
        assert isinstance(gate, PgTableLockGate)
        target = ctx.my_table("id INT, item VARCHAR(20)")
        return Variant(self.sync(ctx, "pg_source", "my_source", sourceTable=gate.table, targetTable=target),
                       SYNC_DONE)  # fmt: skip

    def broken(self, ctx: Ctx) -> Variant:
        source, missing = ctx.pg_table("id INT PRIMARY KEY, item TEXT", ROWS), f"tf_missing_{short()}"
        return Variant(self.sync(ctx, "pg_source", "my_source", sourceTable=source, targetTable=missing), missing)

    def fixed(self, ctx: Ctx) -> Variant:
        source = ctx.pg_table("id INT PRIMARY KEY, item TEXT", ROWS)
        target = ctx.my_table("id INT PRIMARY KEY, item VARCHAR(20)")
        return Variant(self.sync(ctx, "pg_source", "my_source", sourceTable=source, targetTable=target), SYNC_DONE,
                       lambda: landed(my_rows, target))  # fmt: skip

    def flaky(self, ctx: Ctx) -> tuple[Variant, str]:
        source = ctx.my_table("id INT PRIMARY KEY, item VARCHAR(20)", ROWS)
        target = ctx.pg_table("id INT PRIMARY KEY, item TEXT")
        seq, fn = f"{target}_seq", f"{target}_once"
        pg_rows(f"CREATE SEQUENCE {seq}")
        ctx.cleanups.append(lambda: pg_rows(f"DROP SEQUENCE IF EXISTS {seq}"))
        pg_rows(f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF nextval('{seq}') = 1 THEN RAISE EXCEPTION 'transient failure' USING ERRCODE = '55000'; END IF; "
                "RETURN NULL; END $$")  # fmt: skip
        ctx.cleanups.append(lambda: pg_rows(f"DROP FUNCTION IF EXISTS {fn}() CASCADE"))
        pg_rows(f"CREATE TRIGGER {fn} BEFORE INSERT ON {target} FOR EACH STATEMENT EXECUTE FUNCTION {fn}()")
        return Variant(self.sync(ctx, "my_source", "pg_source", sourceTable=source, targetTable=target),
                       SYNC_DONE, lambda: landed(pg_rows, target)), "transient failure"  # fmt: skip


SPARK_FAILS = """from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
spark.sql("SELECT * FROM {view}").show()
"""
SPARK_WORKS = """from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
print("v2 works", spark.range(10).count())
spark.stop()
"""


class PySparkCase(TypeCase):
    """PySpark (50) on a `local[1]` Spark data source. A SparkSession costs ~15 s of JVM work here, so only the
    fix-and-rerun's two versions make one (a real analysis error, then a real job); the gated and flaky
    scripts are spark-submit's driver without a session, which is what the slot and the retry are about."""

    id, type_id = "pyspark50", 50
    needs = ("spark_source",)
    partial_rerun = True
    points = frozenset({"groups", "rerun", "retry"})  # the partial run's Spark case is the JAR's
    timeout = 240

    def config(self, ctx: Ctx, code: str) -> dict[str, Any]:
        return {"CodeContent": b64(code), "SourceServiceId": ctx.sources["spark_source"]}

    def gated(self, ctx: Ctx, gate: Gate, name: str) -> Variant:
        return Variant(self.config(ctx, py_gated(gate, name)), f"gated {name} done")

    def broken(self, ctx: Ctx) -> Variant:
        view = f"tf_missing_{short()}"
        return Variant(self.config(ctx, SPARK_FAILS.format(view=view)), view)

    def fixed(self, ctx: Ctx) -> Variant:
        return Variant(self.config(ctx, SPARK_WORKS), "v2 works 10")

    def flaky(self, ctx: Ctx) -> tuple[Variant, str]:
        return Variant(self.config(ctx, py_flaky(ctx)), "second attempt works"), "RuntimeError: transient failure"


class JarCase(TypeCase):
    """DLC Spark (46), for the fix-and-rerun and the partial run (its retry is in test_spark_tasks.py): v1
    names a main class the JAR does not have, v2 the one it has. The JAR's main starts no SparkContext, so
    each attempt is a JVM start."""

    id, type_id = "spark46", 46
    needs = ("spark_source", "hello_jar")
    points = frozenset({"rerun", "partial"})
    timeout = 240

    def jar(self, ctx: Ctx, main: str) -> dict[str, Any]:
        return {"CodeContent": "", "SourceServiceId": ctx.sources["spark_source"],
                "TaskExtConfigurationList": ext_list(jarPath=ctx.sources["hello_jar"], mainClass=main)}  # fmt: skip

    def broken(self, ctx: Ctx) -> Variant:
        return Variant(self.jar(ctx, "tf.Missing"), "tf.Missing")

    def fixed(self, ctx: Ctx) -> Variant:
        return Variant(self.jar(ctx, "tf.Hello"), "hello from the jar")


CASES: list[TypeCase] = [
    ShellCase(35),
    ShellCase(38, partial_rerun=True),
    PythonCase(),
    ShellCase(133, source="ssh_source", ident="ssh133"),
    SqlCase("pg", partial_rerun=False),
    SqlCase("my", partial_rerun=True),
    NotebookCase(),
    SyncCase(),
    PySparkCase(),
    JarCase(),
]


def cases(point: str) -> list[TypeCase]:
    return [c for c in CASES if point in c.points]


def spark_props() -> str:
    return json.dumps({"master": "local[1]", "conf": {"spark.sql.shuffle.partitions": "1"}})
