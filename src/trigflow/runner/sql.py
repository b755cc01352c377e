"""The SQL task runner (TaskTypeId 32): the task's script on its data source, statement by statement.

`run(workload, log, outputs_path, cancel)` (the signature of `trigflow.runner.base`):

* **One session per attempt.** It connects once to the workload's `dataSource` (the connection dict of
  `trigflow.domain.datasources.Connection`: `type`, `driver`, `host`, `port`, `database`, `path`, `username`,
  `password`, `options`) in autocommit mode, as `psql` and `mysql` do, so a script's own `BEGIN`/`COMMIT` are
  its transactions. By `driver` (else `type`): `postgresql` / POSTGRE (psycopg), `mysql`, `mariadb` / MYSQL
  (PyMySQL), `sqlite` / SQLITE (sqlite3, the file in `path`), `duckdb` / DUCKDB (duckdb, the file in `path`).
  `options` are the JDBC URL's query parameters; the ones with a driver equivalent are passed on
  (`sql_backends._PG_OPTIONS`, `_MYSQL_OPTIONS`), the others are named in the log and ignored.
* **Statements in order**, split by `trigflow.domain.sql_script` for the data source's dialect. For each the
  log gets its number, line and first line, then the first rows of its result as a table (bounded by
  `limits.sqlLogRows` rows, default 20, and `limits.sqlLogCellChars` characters a cell, default 80; the log
  says what was cut) and its outcome: rows returned or affected, and the time it took.
* **Rows are streamed** (`sql_backends`): a result of any size passes through in chunks and only its digest
  is kept (`trigflow.domain.sql_result.ResultDigest`): the exact row count, the log table's rows, and what the
  declared outputs address. The digest of a result is dropped as soon as a later statement returns rows.
* **Outputs.** The last statement that returned rows is the task's result. Each entry of `config.outputs`
  (the task's `ParamTaskOutList`, `[{ParamKey, ParamValue}]`, the run spec's `outputs`; a list or its JSON
  text, since ADR 0004's `config` is key -> string) whose `ParamValue` is an address (`$[0][1]`,
  `$[0][*]`, `$[*][1]`, `$[*][*]`: `trigflow.domain.sql_outputs`) is written to `outputs_path` as a
  `name=value` line. A value longer than `limits.maxParamChars` (the server's `--max-param-size`, default
  1 Mi characters: no downstream task could take it) fails the attempt (exit 1) with a line naming the output.
* **Data values are bound**, never pasted: `config.bindings` (`[{placeholder, value}]`, list or JSON text,
  produced by `trigflow.domain.sql_binding.render_sql` with the script in `code`) become the driver's
  parameters: psycopg binds them on the server for SELECT/INSERT/UPDATE/DELETE/MERGE/VALUES/WITH/TABLE/CALL,
  and quotes them on the client for other statements (PostgreSQL cannot take parameters in `SET`, most DDL,
  ...), escaped by libpq for the live connection; PyMySQL quotes them on the client for the connection's
  escaping mode; sqlite3 and DuckDB bind.
* **Cancel.** When `cancel` is set (SIGTERM: a kill or an execution timeout), the running query is cancelled
  on the database server, not only abandoned: PostgreSQL through the protocol's cancel request
  (`Connection.cancel_safe`, what `pg_cancel_backend` does), MySQL/MariaDB with `KILL QUERY <connection id>`
  from a second connection, SQLite and DuckDB with `interrupt()`. The attempt then exits 143 with a
  `[trigflow] cancelled` line.
* **Errors.** A failing statement ends the attempt (exit 1) with the database's message in the log; later
  statements do not run. A connection failure exits 1 likewise. The password never reaches the log: every
  line is written through `runner.base.redact` with the data source's secrets, whatever a driver puts in its
  messages.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

from trigflow.domain.sql_binding import bind_statement
from trigflow.domain.sql_outputs import format_output_file, render_table
from trigflow.domain.sql_result import ResultDigest
from trigflow.domain.sql_script import Statement, split_statements
from trigflow.runner.base import (
    KEY_CODE,
    KEY_CONFIG,
    KEY_DATA_SOURCE,
    KEY_LIMITS,
    LIMIT_MAX_PARAM_CHARS,
    redact,
    secrets_of,
)
from trigflow.runner.sql_backends import BACKENDS, Backend, backend_class, file_of

__all__ = ["EXIT_CANCELLED", "EXIT_FAILED", "run"]

EXIT_FAILED = 1
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell task killed by SIGTERM reports

CONFIG_BINDINGS = "bindings"
CONFIG_OUTPUTS = "outputs"
LIMIT_LOG_ROWS = "sqlLogRows"
LIMIT_LOG_CELL = "sqlLogCellChars"
DEFAULT_LOG_ROWS = 20
DEFAULT_LOG_CELL = 80
DEFAULT_PARAM_CHARS = 1 << 20  # the server's default (trigflow.domain.params, not imported: ~10 ms)
_FIRST_LINE_CHARS = 200
_WATCH_POLL_S = 0.5
_RECANCEL_S = 1.0


class _Masked:
    """Writes lines to the log with the data source's secrets redacted."""

    def __init__(self, log: TextIO, secrets: list[str]) -> None:
        self._log = log
        self._secrets = secrets

    def line(self, text: str) -> None:
        self._log.write(redact(text, self._secrets) + "\n")
        self._log.flush()


def _where(ds: Mapping[str, Any]) -> str:
    kind = str(ds.get("type") or ds.get("driver") or "").upper()
    if kind in ("SQLITE", "DUCKDB"):
        return f"{kind} {file_of(ds)}"
    return f"{kind} {ds.get('host')}:{ds.get('port')}/{ds.get('database') or ''} as {ds.get('username') or ''}"


def _entries(config: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """A list of objects from `config[key]`: a list, or its JSON text (the ADR's config is key -> string)."""
    value = config.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return []
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def _limit(limits: Mapping[str, Any], key: str, default: int) -> int:
    value = limits.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


@contextlib.contextmanager
def _watch(cancel: threading.Event, backend: Backend, out: _Masked) -> Iterator[threading.Event]:
    """A thread that cancels the running statement on the server as soon as `cancel` is set.

    It is not joined (an idle watcher notices the end within `_WATCH_POLL_S`); the lock keeps it from
    cancelling on a session that the attempt has already finished with. The main thread checks `cancel`
    before each statement, so no statement starts after the cancel was seen.
    """
    done = threading.Event()
    fired = threading.Event()
    lock = threading.Lock()

    def watcher() -> None:
        while not cancel.wait(_WATCH_POLL_S):
            if done.is_set():
                return
        out.line("[trigflow] cancel requested: cancelling the running statement on the database server")
        fired.set()
        # Repeated until the attempt ends: a cancel that reaches the server just before a statement starts
        # (or between two) finds nothing to cancel, and the statement would then run to its end.
        while True:
            with lock:
                if done.is_set():
                    return
                try:
                    backend.cancel()
                except Exception as e:  # the session may be gone already; the main thread reports the outcome
                    out.line(f"[trigflow] cancelling on the server failed: {backend.describe_error(e)}")
            if done.wait(_RECANCEL_S):
                return

    threading.Thread(target=watcher, name="sql-cancel", daemon=True).start()
    try:
        yield fired
    finally:
        with lock:
            done.set()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run(workload: Mapping[str, Any], log: TextIO, outputs_path: str | None, cancel: threading.Event) -> int:
    """Run the SQL task of `workload` (module docstring); the exit code of the attempt."""
    ds = workload.get(KEY_DATA_SOURCE) or {}
    out = _Masked(log, secrets_of(workload))
    if not isinstance(ds, Mapping) or not ds:
        out.line("[trigflow] a SQL task needs a data source (TriggerTaskConfiguration.SourceServiceId)")
        return EXIT_FAILED
    chosen = backend_class(ds)
    if chosen is None:
        out.line(f"[trigflow] data source type {ds.get('type')!r} cannot run SQL "
                 f"(known: {', '.join(sorted(BACKENDS))})")  # fmt: skip
        return EXIT_FAILED
    config = workload.get(KEY_CONFIG) or {}
    limits = workload.get(KEY_LIMITS) or {}
    backend = chosen(ds)
    statements = split_statements(str(workload.get(KEY_CODE) or ""), backend.dialect)
    out.line(f"[trigflow] SQL on {_where(ds)}: {_plural(len(statements), 'statement')}")
    if cancel.is_set():
        out.line("[trigflow] cancelled before connecting")
        return EXIT_CANCELLED
    try:
        backend.connect()
    except Exception as e:
        out.line(f"[trigflow] cannot connect to {_where(ds)}: {backend.describe_error(e)}")
        return EXIT_FAILED
    if backend.ignored_options:
        out.line(f"[trigflow] connection options without a driver equivalent, ignored: "
                 f"{', '.join(backend.ignored_options)}")  # fmt: skip
    try:
        with _watch(cancel, backend, out) as fired:
            return _run_statements(backend, statements, config, limits, out, outputs_path, cancel, fired)
    finally:
        with contextlib.suppress(Exception):
            backend.close()


def _run_statements(
    backend: Backend,
    statements: Sequence[Statement],
    config: Mapping[str, Any],
    limits: Mapping[str, Any],
    out: _Masked,
    outputs_path: str | None,
    cancel: threading.Event,
    fired: threading.Event,
) -> int:
    bindings = [
        {"placeholder": b["placeholder"], "value": b["value"]}
        for b in _entries(config, CONFIG_BINDINGS)
        if isinstance(b.get("placeholder"), str) and isinstance(b.get("value"), str)
    ]
    log_rows = _limit(limits, LIMIT_LOG_ROWS, DEFAULT_LOG_ROWS)
    log_cell = max(_limit(limits, LIMIT_LOG_CELL, DEFAULT_LOG_CELL), 4)
    max_chars = _limit(limits, LIMIT_MAX_PARAM_CHARS, DEFAULT_PARAM_CHARS)
    declared = _entries(config, CONFIG_OUTPUTS)
    last: tuple[int, ResultDigest] | None = None
    n = len(statements)
    started = time.perf_counter()
    for k, stmt in enumerate(statements, 1):
        first = stmt.first_line
        if len(first) > _FIRST_LINE_CHARS:
            first = first[: _FIRST_LINE_CHARS - 1] + "…"
        if cancel.is_set():
            out.line(f"[trigflow] cancelled before statement {k}/{n} (line {stmt.line}): {first}")
            return EXIT_CANCELLED
        out.line(f"[trigflow] statement {k}/{n} (line {stmt.line}): {first}")
        bound = bind_statement(stmt.text, backend.dialect, bindings, backend.style)
        digest: ResultDigest | None = None

        def open_digest(_columns: list[str]) -> ResultDigest:
            nonlocal digest, last
            last = None  # this statement's rows replace the previous result: its digest goes now
            digest = ResultDigest(declared, preview_rows=log_rows, max_chars=max_chars)
            return digest

        t0 = time.perf_counter()
        try:
            result = backend.execute(bound.text, bound.params, open_digest)
        except Exception as e:
            took = _ms(time.perf_counter() - t0)
            if fired.is_set() or cancel.is_set():
                out.line(f"[trigflow] cancelled: statement {k}/{n} was cancelled on the server after {took} "
                         f"({backend.describe_error(e)})")  # fmt: skip
                return EXIT_CANCELLED
            out.line(f"[trigflow] statement {k}/{n} failed after {took}: {backend.describe_error(e)}")
            return EXIT_FAILED
        took = _ms(time.perf_counter() - t0)
        if cancel.is_set():  # a statement the server ended early without an error (MariaDB's SLEEP)
            out.line(f"[trigflow] cancelled: statement {k}/{n} was cancelled on the server after {took}")
            return EXIT_CANCELLED
        if result.columns is None or digest is None:
            out.line(f"[trigflow] statement {k}/{n}: {_plural(result.count, 'row')} affected in {took}")
            continue
        for line in render_table(result.columns, digest.preview, max_rows=log_rows, max_cell=log_cell,
                                 total_rows=digest.count):  # fmt: skip
            out.line(line)
        out.line(f"[trigflow] statement {k}/{n}: {_plural(result.count, 'row')} returned in {took}")
        last = (k, digest)
    out.line(f"[trigflow] {_plural(n, 'statement')} done in {_ms(time.perf_counter() - started)}")
    return _write_outputs(declared, last, out, outputs_path, max_chars)


def _write_outputs(
    declared: Sequence[Mapping[str, Any]],
    last: tuple[int, ResultDigest] | None,
    out: _Masked,
    outputs_path: str | None,
    max_chars: int,
) -> int:
    digest = last[1] if last is not None else ResultDigest(declared, preview_rows=0, max_chars=max_chars)
    values, over = digest.values()
    if over:
        k = last[0] if last is not None else 0
        for o in over:
            out.line(f"[trigflow] output parameter {o.key} ({o.spec}) of statement {k}'s result would be longer "
                     f"than {max_chars} characters, the limit of one parameter value (trigflow up "
                     f"--max-param-size), after {_plural(o.rows, 'row')}; no output is written")  # fmt: skip
        out.line(f"[trigflow] failed: output {', '.join(o.key for o in over)} over the parameter size limit")
        return EXIT_FAILED
    if not values:
        return 0
    if last is None:
        out.line("[trigflow] outputs: no statement returned rows; addressed outputs are empty")
    else:
        out.line(f"[trigflow] outputs from the result of statement {last[0]}: {', '.join(values)}")
    if outputs_path is None:
        out.line("[trigflow] outputs: no output file given; values not written")
        return 0
    with open(outputs_path, "a", encoding="utf-8") as f:
        f.write(format_output_file(values))
    return 0
