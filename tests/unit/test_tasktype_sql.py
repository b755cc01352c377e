"""The SQL task type (tasktypes/sql.py) and its parameter path (service/attempt_params.py), without a server:
what a run freezes, how data values become bindings for the data source's dialect, and that the resolve-time
check refuses exactly what some dialect would refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain.params import Data
from trigflow.domain.sql_binding import UnsafeSqlPlacement, render_sql
from trigflow.domain.sql_script import DIALECTS
from trigflow.runner import base as wl
from trigflow.service.attempt_params import DEFAULT_LIMITS, ParameterRefused, resolve_attempt
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.process import Attempt
from trigflow.tasktypes.sql import SQL, SQL_DIALECT, check_placements, display_text

PG = {"type": "POSTGRE", "driver": "postgresql", "host": "h", "port": 5432, "database": "d", "username": "u",
      "password": "pw-secret", "options": {}}  # fmt: skip
MY = {**PG, "type": "MYSQL", "driver": "mariadb", "port": 3306}


def row(
    code: str, params: dict[str, str], data: list[str], outputs: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    sched = {"ParamTaskOutList": outputs or []}
    spec = {**SQL.freeze(code, {"x": "1"}, {"SourceServiceId": "7"}), **run_spec.common(sched, [], data)}
    return {"spec": spec, "run_params": json.dumps(params), "schedule_ms": 0, "timezone": "UTC"}


def attempt(code: str, segments: Any, data_source: dict[str, Any] | None) -> Attempt:
    return Attempt(attempt_id="a", env={}, cwd="/tmp", log_path="/tmp/a.log", outputs_path="/tmp/a.outputs",
                   code=code, params={}, data_source=data_source, segments=segments)  # fmt: skip


def test_registered_as_a_runner_on_one_sql_data_source() -> None:
    assert TASK_TYPES[32] is SQL and SQL.holds_slot and SQL.dialect == SQL_DIALECT
    (use,) = SQL.sources
    assert (use.field, use.required, use.single) == ("SourceServiceId", True, True)
    assert set(use.allowed_types) == {"POSTGRE", "MYSQL", "SQLITE", "DUCKDB"}
    assert TASK_TYPES.of_spec(row("SELECT 1", {}, [])["spec"]) is SQL
    assert run_spec.source_service_id(row("SELECT 1", {}, [])["spec"]) == "7"


def test_data_is_kept_as_segments_and_bound_for_the_data_sources_dialect() -> None:
    r = row("SELECT * FROM t_${day} WHERE name = '${who}' AND k = ${who}", {"day": "20261203", "who": "o'x"},
            ["who"], [{"ParamKey": "first", "ParamValue": "$[0][1]"}])  # fmt: skip
    prepared = resolve_attempt(r, {}, DEFAULT_LIMITS, SQL_DIALECT)
    assert prepared.code == "SELECT * FROM t_20261203 WHERE name = '${who}' AND k = ${who}"  # trusted pasted
    assert prepared.segments is not None and "o'x" not in "".join(s for s in prepared.segments if isinstance(s, str))
    doc = SQL.workload(r["spec"], attempt(prepared.code, prepared.segments, PG))
    assert "o'x" not in doc[wl.KEY_CODE] and "t_20261203" in doc[wl.KEY_CODE]
    bindings = json.loads(doc[wl.KEY_CONFIG]["bindings"])
    assert [b["value"] for b in bindings] == ["o'x", "o'x"]
    assert all(b["placeholder"] in doc[wl.KEY_CODE] for b in bindings)
    assert json.loads(doc[wl.KEY_CONFIG]["outputs"]) == [{"ParamKey": "first", "ParamValue": "$[0][1]"}]
    assert doc[wl.KEY_CONFIG]["x"] == "1"


def test_a_part_literal_is_concatenated_per_dialect() -> None:
    segments = ["SELECT 'day_", Data("d", "1"), "'"]
    pg = SQL.workload(row("", {}, [])["spec"], attempt("", segments, PG))[wl.KEY_CODE]
    my = SQL.workload(row("", {}, [])["spec"], attempt("", segments, MY))[wl.KEY_CODE]
    assert "||" in pg and my.startswith("SELECT CONCAT(")


def test_without_data_values_the_code_is_sent_as_is_with_no_bindings() -> None:
    r = row("SELECT 1; -- ${nothing}", {}, [])
    prepared = resolve_attempt(r, {}, DEFAULT_LIMITS, SQL_DIALECT)
    doc = SQL.workload(r["spec"], attempt(prepared.code, prepared.segments, PG))
    assert json.loads(doc[wl.KEY_CONFIG]["bindings"]) == []
    assert doc[wl.KEY_CONFIG]["outputs"] == "[]"


def test_an_ext_key_named_bindings_never_reaches_the_runner() -> None:
    spec = SQL.freeze("SELECT 1", {"bindings": '[{"placeholder": "1", "value": "x"}]'}, {"SourceServiceId": "7"})
    doc = SQL.workload(spec, attempt("SELECT 1", None, PG))
    assert doc[wl.KEY_CONFIG]["bindings"] == "[]"


@pytest.mark.parametrize("code", ["SELECT * FROM tbl_${v}", 'SELECT "${v}"', "DO $$ BEGIN PERFORM ${v}; END $$"])
def test_an_unbindable_placement_fails_the_attempt_unsafe_parameter(code: str) -> None:
    with pytest.raises(ParameterRefused, match=r"^UnsafeParameter: .*\$\{v\}"):
        resolve_attempt(row(code, {"v": "x"}, ["v"]), {}, DEFAULT_LIMITS, SQL_DIALECT)


def test_with_the_driver_known_the_check_is_that_dialects() -> None:
    r = row('SELECT "${v}"', {"v": "x"}, ["v"])
    assert resolve_attempt(r, {}, DEFAULT_LIMITS, SQL_DIALECT, sql_dialect="mysql").segments is not None


def test_display_text_shows_references_not_values() -> None:
    assert display_text(["a ", Data("v", "secret value"), " b"]) == "a ${v} b"


_pieces = st.lists(
    st.one_of(
        st.sampled_from(["SELECT ", "'", '"', "`", "$$", "x_", " ", "--", "\n", "/*", "*/", "\\", "E'", ";", "/*!"]),
        st.builds(Data, st.just("v"), st.text(max_size=5)),
    ),
    max_size=12,
)


@given(_pieces)
def test_the_resolve_time_check_refuses_iff_some_dialect_refuses_then_every_driver_renders(pieces: list[Any]) -> None:
    refused = []
    for name in DIALECTS:
        try:
            render_sql(pieces, name)
        except UnsafeSqlPlacement:
            refused.append(name)
    try:
        check_placements(pieces)
    except UnsafeSqlPlacement:
        assert refused
        return
    assert not refused
    for ds in (PG, MY, {**PG, "driver": "sqlite"}, {**PG, "driver": "duckdb"}):
        doc = SQL.workload(row("", {}, [])["spec"], attempt(display_text(pieces), pieces, ds))
        rendered = render_sql(pieces, str(ds["driver"]))  # what ran is the driver's rendering, not the fallback
        assert (doc[wl.KEY_CODE], json.loads(doc[wl.KEY_CONFIG]["bindings"])) == (rendered.text, rendered.bindings)


@given(_pieces, st.sampled_from([*DIALECTS, "oracle", None]))
def test_with_a_driver_the_check_refuses_exactly_what_that_dialect_refuses(pieces: list[Any], driver: Any) -> None:
    """The engine passes the data source's driver: the check is then that dialect's rendering (an unknown
    driver, or none, falls back to the strictest of all, never to an error other than the refusal)."""
    names = [driver] if driver in DIALECTS else list(DIALECTS)
    refused = False
    for name in names:
        try:
            render_sql(pieces, name)
        except UnsafeSqlPlacement:
            refused = True
    try:
        check_placements(pieces, driver)
    except UnsafeSqlPlacement:
        assert refused
        return
    assert not refused


def test_a_postgresql_quoted_name_is_refused_naming_the_parameter_with_its_driver_known() -> None:
    r = row('SELECT "${v}"', {"v": "x"}, ["v"])
    with pytest.raises(
        ParameterRefused, match=r"^UnsafeParameter: a data value cannot be a quoted SQL name \(\$\{v\}\)$"
    ):
        resolve_attempt(r, {}, DEFAULT_LIMITS, SQL_DIALECT, sql_dialect="postgresql")
