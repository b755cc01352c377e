"""The offline-sync runner (TaskTypeId 26): copy the rows of the source's table or query into the target's table.

`run(workload, log, outputs_path, cancel)` (the signature of `trigflow.runner.base`):

* **Two sessions.** `dataSource` is read, `targetDataSource` written (connection dicts of
  `trigflow.domain.datasources.Connection`; POSTGRE, MYSQL, SQLITE or DUCKDB on either side). The plan is the
  workload's `config` (the task's TaskExtConfigurationList, parsed by `trigflow.domain.offline_sync.parse_plan`,
  the save path's rules); `code` is the source text (the `where` condition or the query) with its data values
  as placeholders and `config.bindings` their values, bound by the source's driver, never pasted.
* **Reading** goes through a server-side cursor (runner/sync_backends.py), `batchSize` rows at a time.
* **Writing**: one transaction on the target for the whole copy, committed only when every row was read and
  at most `maxRejected` were rejected; a failure, a kill or a timeout rolls all of it back, so a retry of an
  `append` never duplicates rows. `overwrite` first deletes the target's rows in that transaction (readers
  keep seeing the old rows until the commit). `upsert` inserts or updates by `primaryKey`; the inserted count
  is what the target gained (`SELECT count(*)` before and after, in the transaction), the rest were updated.
* **Rejected rows**: a batch that fails on its data (a constraint, a value the column cannot hold) is rolled
  back to its savepoint and written row by row; each row that fails is rejected, the first
  `REJECTS_LOGGED` are logged with their number in the read and the database's message, and the copy fails
  as soon as more than `maxRejected` were rejected. Any other error (no such table, a lost connection) fails
  the copy at once. DuckDB has no savepoints: there a failing batch fails the copy.
* **Log**: the plan, a progress line at most every `PROGRESS_EVERY_S` seconds (rows read, written, rejected,
  rows/s) and a summary. **Outputs** (`name=value` lines in `outputs_path`, docs/parameters.md): `rowsRead`,
  `rowsWritten`, `rowsRejected`, and for upsert `rowsInserted`, `rowsUpdated`.
* **Cancel** (SIGTERM: a kill or an execution timeout): the running statement is cancelled on both servers
  (trigflow.runner.sql's watcher: PostgreSQL's cancel request, `KILL QUERY`, `interrupt()`), the target's
  transaction is rolled back, both sessions are closed, and the attempt exits 143.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.offline_sync import (
    OVERWRITE,
    UPSERT,
    SyncPlan,
    count_statement,
    delete_statement,
    parse_plan,
    quote_table,
    select_statement,
    source_text,
    target_columns,
)
from trigflow.domain.sql_binding import bind_statement
from trigflow.domain.sql_outputs import format_output_file
from trigflow.runner.base import KEY_CODE, KEY_CONFIG, KEY_DATA_SOURCE, KEY_TARGET_DATA_SOURCE, secrets_of
from trigflow.runner.sql import CONFIG_BINDINGS, EXIT_CANCELLED, EXIT_FAILED, _entries, _Masked, _watch, _where
from trigflow.runner.sql_backends import Backend
from trigflow.runner.sync_backends import Reader, Row, Writer, reader_for, writer_for

__all__ = ["run"]

REJECTS_LOGGED = 10
PROGRESS_EVERY_S = 2.0


class _Cancelled(Exception):
    pass


class _TooManyRejected(Exception):
    pass


@dataclass
class _Counts:
    read: int = 0
    written: int = 0
    rejected: int = 0
    inserted: int | None = None
    started: float = field(default_factory=time.perf_counter)

    def rate(self) -> str:
        took = max(time.perf_counter() - self.started, 1e-9)
        return f"{self.written / took:,.0f} rows/s"

    def line(self) -> str:
        return f"{self.read:,} rows read, {self.written:,} written, {self.rejected:,} rejected"


class _Both(Backend):
    """Both sessions as one for the SQL runner's cancel watcher: a cancel reaches each of them."""

    def __init__(self, *backends: Backend) -> None:
        super().__init__({})
        self.backends = backends

    def cancel(self) -> None:
        failed: Exception | None = None
        for b in self.backends:
            try:
                b.cancel()
            except Exception as e:  # the other session must still be cancelled
                failed = failed or e
        if failed is not None:
            raise failed


def _connection(workload: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    ds = workload.get(key)
    return ds if isinstance(ds, Mapping) and ds else None


def run(workload: Mapping[str, Any], log: TextIO, outputs_path: str | None, cancel: threading.Event) -> int:
    """Run the copy of `workload` (module docstring); the exit code of the attempt."""
    out = _Masked(log, secrets_of(workload))
    source_ds = _connection(workload, KEY_DATA_SOURCE)
    target_ds = _connection(workload, KEY_TARGET_DATA_SOURCE)
    if source_ds is None or target_ds is None:
        missing = "SourceServiceId" if source_ds is None else "TargetServiceId"
        out.line(f"[trigflow] an offline sync needs two data sources; TriggerTaskConfiguration.{missing} gave none")
        return EXIT_FAILED
    reader, writer = reader_for(source_ds), writer_for(target_ds)
    if reader is None or writer is None:
        bad = source_ds if reader is None else target_ds
        out.line(f"[trigflow] data source type {bad.get('type')!r} cannot take part in an offline sync")
        return EXIT_FAILED
    config = workload.get(KEY_CONFIG) or {}
    try:
        plan = parse_plan(config, "TaskExtConfigurationList")
    except InvalidParameterValue as e:
        out.line(f"[trigflow] {e.message}")
        return EXIT_FAILED
    bindings = [
        {"placeholder": b["placeholder"], "value": b["value"]}
        for b in _entries(config, CONFIG_BINDINGS)
        if isinstance(b.get("placeholder"), str) and isinstance(b.get("value"), str)
    ]
    code = str(workload.get(KEY_CODE) or "")
    if plan.source_query is not None and not code.strip():  # a query's text is never empty: not frozen with it
        code = source_text(plan)
    select = select_statement(plan, code, reader.dialect)
    bound = bind_statement(select, reader.dialect, bindings, reader.style)
    target_name = quote_table(plan.target_table, writer.dialect)
    out.line(f"[trigflow] offline sync: {_where(source_ds)} -> {_where(target_ds)} table {target_name}, "
             f"writeMode {plan.write_mode}, batchSize {plan.batch_size}, maxRejected {plan.max_rejected}")  # fmt: skip
    out.line(f"[trigflow] read: {bound.text}" + (f" (with {len(bound.params)} bound values)" if bound.params else ""))
    opened: list[Backend] = []
    try:
        sides: tuple[tuple[str, Backend, Mapping[str, Any]], ...] = (("source", reader, source_ds),
                                                                     ("target", writer, target_ds))  # fmt: skip
        for side, backend, ds in sides:
            if cancel.is_set():
                out.line("[trigflow] cancelled before connecting")
                return EXIT_CANCELLED
            try:
                backend.connect()
            except Exception as e:
                out.line(f"[trigflow] cannot connect to the {side} {_where(ds)}: {backend.describe_error(e)}")
                return EXIT_FAILED
            opened.append(backend)
        with _watch(cancel, _Both(reader, writer), out) as fired:
            return _copy(plan, reader, writer, bound.text, bound.params, out, outputs_path, cancel, fired)
    finally:
        for session in reversed(opened):
            with contextlib.suppress(Exception):
                session.close()


def _copy(
    plan: SyncPlan,
    reader: Reader,
    writer: Writer,
    select: str,
    params: list[str] | None,
    out: _Masked,
    outputs_path: str | None,
    cancel: threading.Event,
    fired: threading.Event,
) -> int:
    counts = _Counts()
    stage = "reading the source"
    try:
        reader.open(select, params)
        indexes, columns = target_columns(plan, reader.columns)
        stage = "preparing the target"
        writer.prepare(plan.target_table, columns, plan.write_mode, plan.primary_key)
        writer.begin()
        if plan.write_mode == OVERWRITE:
            writer.statement(delete_statement(writer.dialect, plan.target_table))
        before = writer.scalar(count_statement(writer.dialect, plan.target_table)) if plan.write_mode == UPSERT else 0
        out.line(f"[trigflow] columns: {', '.join(columns)}")
        whole = indexes == list(range(len(reader.columns)))
        last_line = time.perf_counter()
        while True:
            if cancel.is_set():
                raise _Cancelled
            stage = "reading the source"
            rows = reader.fetch(plan.batch_size)
            if not rows:
                break
            first = counts.read + 1
            counts.read += len(rows)
            batch = [writer.adapt(r if whole else [r[i] for i in indexes]) for r in rows]
            if cancel.is_set():
                raise _Cancelled
            stage = "writing the target"
            _write_batch(writer, batch, first, plan.max_rejected, counts, out)
            if time.perf_counter() - last_line >= PROGRESS_EVERY_S:
                last_line = time.perf_counter()
                out.line(f"[trigflow] progress: {counts.line()} ({counts.rate()})")
        stage = "committing the target"
        if plan.write_mode == UPSERT:
            counts.inserted = writer.scalar(count_statement(writer.dialect, plan.target_table)) - before
        if cancel.is_set():
            raise _Cancelled
        writer.commit()
    except _Cancelled:
        return _cancelled(writer, counts, out, stage, None)
    except _TooManyRejected:
        _rollback(writer)
        out.line(f"[trigflow] failed: {counts.rejected:,} rows rejected, more than maxRejected {plan.max_rejected}; "
                 f"the target was rolled back ({counts.line()})")  # fmt: skip
        return EXIT_FAILED
    except Exception as e:
        if fired.is_set() or cancel.is_set():
            return _cancelled(writer, counts, out, stage, e)
        failing: Backend = writer if stage != "reading the source" else reader
        out.line(f"[trigflow] failed while {stage}: {failing.describe_error(e)}; the target was rolled back "
                 f"({counts.line()})")  # fmt: skip
        _rollback(writer)
        return EXIT_FAILED
    took = time.perf_counter() - counts.started
    out.line(f"[trigflow] done: {counts.line()} in {took:.2f} s ({counts.rate()})")
    values = {"rowsRead": str(counts.read), "rowsWritten": str(counts.written), "rowsRejected": str(counts.rejected)}
    if counts.inserted is not None:
        inserted = max(min(counts.inserted, counts.written), 0)
        values |= {"rowsInserted": str(inserted), "rowsUpdated": str(counts.written - inserted)}
        out.line(f"[trigflow] upsert: {inserted:,} rows inserted, {counts.written - inserted:,} updated")
    if outputs_path is not None:
        with open(outputs_path, "a", encoding="utf-8") as f:
            f.write(format_output_file(values))
    return 0


def _write_batch(writer: Writer, batch: Sequence[Row], first: int, max_rejected: int, counts: _Counts,
                 out: _Masked) -> None:  # fmt: skip
    """One batch in its savepoint; on a data error, row by row, rejecting the rows that fail."""
    if not writer.savepoints:
        writer.bulk(batch)
        counts.written += len(batch)
        return
    writer.savepoint()
    try:
        writer.bulk(batch)
    except Exception as e:
        if not writer.is_row_error(e):
            raise
        writer.rollback_to()
    else:
        writer.release()
        counts.written += len(batch)
        return
    for k, row in enumerate(batch):
        writer.savepoint(row=True)
        try:
            writer.one(row)
        except Exception as e:
            if not writer.is_row_error(e):
                raise
            writer.rollback_to(row=True)
            counts.rejected += 1
            if counts.rejected <= REJECTS_LOGGED:
                out.line(f"[trigflow] rejected row {first + k:,}: {writer.describe_error(e)}")
            if counts.rejected > max_rejected:
                raise _TooManyRejected from None
        else:
            writer.release(row=True)
            counts.written += 1
    writer.release()


def _rollback(writer: Writer) -> None:
    with contextlib.suppress(Exception):
        writer.rollback()


def _cancelled(writer: Writer, counts: _Counts, out: _Masked, stage: str, error: BaseException | None) -> int:
    detail = f" ({writer.describe_error(error)})" if error is not None else ""
    _rollback(writer)
    out.line(f"[trigflow] cancelled while {stage}{detail}; the target was rolled back ({counts.line()})")
    return EXIT_CANCELLED
