"""Offline sync's pure parts: the configuration rules (domain/offline_sync.py `parse_plan`), the statements per
dialect, the type's freeze (the source text is the run's code) and the target connection in the workload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.offline_sync import (
    DEFAULT_BATCH_SIZE,
    SyncPlan,
    copy_statement,
    count_statement,
    delete_statement,
    insert_statement,
    parse_plan,
    quote_name,
    select_statement,
    source_text,
    target_columns,
)
from trigflow.runner import base as wl
from trigflow.tasktypes import TASK_TYPES
from trigflow.tasktypes.base import Paths
from trigflow.tasktypes.process import Attempt

PATH = "TriggerTaskConfiguration.TaskExtConfigurationList"
OK = {"sourceTable": "orders", "targetTable": "public.orders_copy"}


def refused(ext: dict[str, Any]) -> str:
    with pytest.raises(InvalidParameterValue) as e:
        parse_plan(ext, PATH)
    return e.value.message


def test_defaults() -> None:
    plan = parse_plan(OK, PATH)
    assert plan == SyncPlan(target_table=("public", "orders_copy"), source_table=("orders",))
    assert (plan.write_mode, plan.batch_size, plan.max_rejected, plan.columns) == ("append", DEFAULT_BATCH_SIZE, 0, ())


def test_every_key_parsed() -> None:
    ext = {"where": " id > ${since} ", "writeMode": "UPSERT", "primaryKey": "id, region",
           "columns": "id, region, name:full_name", "batchSize": "200", "maxRejected": "7"}  # fmt: skip
    plan = parse_plan({**OK, **ext}, PATH)
    assert plan.where == "id > ${since}" and plan.write_mode == "upsert"
    assert plan.primary_key == ("id", "region")
    assert plan.columns == (("id", "id"), ("region", "region"), ("name", "full_name"))
    assert (plan.batch_size, plan.max_rejected) == (200, 7)


@pytest.mark.parametrize(
    ("ext", "key", "words"),
    [
        ({"targetTable": "t"}, "sourceTable", "exactly one"),
        ({**OK, "sourceQuery": "SELECT 1"}, "sourceQuery", "exactly one"),
        ({"sourceTable": "s"}, "targetTable", "required"),
        ({**OK, "targetTable": "a.b.c"}, "targetTable", "schema.name"),
        ({**OK, "targetTable": "1abc"}, "targetTable", "not starting with a digit"),
        ({**OK, "sourceTable": 'x"; DROP'}, "sourceTable", "letters"),
        ({**OK, "writeMode": "replace"}, "writeMode", "append, overwrite, upsert"),
        ({**OK, "writeMode": "upsert"}, "primaryKey", "required"),
        ({**OK, "primaryKey": "id,id"}, "primaryKey", "twice"),
        ({**OK, "columns": "a:x, b:x"}, "columns", "twice"),
        ({**OK, "columns": "a:"}, "columns", "letters"),
        ({**OK, "primaryKey": "id", "columns": "name"}, "primaryKey", "not written"),
        ({**OK, "batchSize": "100001"}, "batchSize", "1-100000"),
        ({**OK, "batchSize": "five"}, "batchSize", "integer"),
        ({**OK, "maxRejected": "-3"}, "maxRejected", "integer"),
        ({"sourceQuery": "UPDATE t SET a = 1", "targetTable": "t"}, "sourceQuery", "SELECT"),
        ({"sourceQuery": "SELECT 1; DROP TABLE t", "targetTable": "t"}, "sourceQuery", "one statement"),
        ({**OK, "where": "1 = 1; DROP TABLE t"}, "where", "one statement"),
    ],
)
def test_refusals_name_the_key(ext: dict[str, Any], key: str, words: str) -> None:
    message = refused(ext)
    assert f"{PATH}.{key}" in message and words in message


def test_a_semicolon_inside_a_literal_or_comment_is_one_statement() -> None:
    plan = parse_plan({"sourceQuery": "SELECT ';' AS x -- a; b\n", "targetTable": "t", "where": "x <> ';'"}, PATH)
    assert plan.source_query is not None and plan.where == "x <> ';'"


def test_source_text_is_the_where_or_the_query() -> None:
    assert source_text(parse_plan(OK, PATH)) == ""
    assert source_text(parse_plan({**OK, "where": "id > ${n}"}, PATH)) == "id > ${n}"
    query = {"sourceQuery": "SELECT * FROM t -- all", "targetTable": "u"}
    assert source_text(parse_plan(query, PATH)) == "SELECT * FROM t -- all"
    wrapped = source_text(parse_plan({**query, "where": "id > 1"}, PATH))
    assert wrapped == "SELECT * FROM (\nSELECT * FROM t -- all\n) trigflow_src WHERE id > 1"  # the comment ends


@given(st.text(min_size=1, max_size=20))
def test_a_quoted_name_is_one_identifier_in_every_dialect(name: str) -> None:
    for dialect, q in (("postgresql", '"'), ("mysql", "`"), ("sqlite", '"'), ("duckdb", '"')):
        quoted = quote_name(name, dialect)
        inner = quoted[1:-1]
        assert quoted[0] == quoted[-1] == q
        assert inner.replace(q + q, "").count(q) == 0  # every quote inside is doubled
        assert inner.replace(q + q, q) == name


def test_select_per_dialect() -> None:
    plan = parse_plan({**OK, "columns": "id, name:full"}, PATH)
    assert select_statement(plan, "", "postgresql") == 'SELECT "id", "name" FROM "orders"'
    assert select_statement(plan, "id > %s", "mysql") == "SELECT `id`, `name` FROM `orders` WHERE id > %s"
    query = parse_plan({"sourceQuery": "SELECT 1 AS id", "targetTable": "t"}, PATH)
    assert select_statement(query, "SELECT 1 AS id", "sqlite") == "SELECT 1 AS id"


def test_insert_and_upsert_per_dialect() -> None:
    cols = ["id", "name"]
    t = ("s", "t")
    assert insert_statement("postgresql", t, cols, "append") == 'INSERT INTO "s"."t" ("id", "name") VALUES (%s, %s)'
    assert insert_statement("sqlite", t, cols, "overwrite") == 'INSERT INTO "s"."t" ("id", "name") VALUES (?, ?)'
    assert insert_statement("postgresql", t, cols, "upsert", ["id"]) == (
        'INSERT INTO "s"."t" ("id", "name") VALUES (%s, %s) ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name"'
    )
    assert insert_statement("duckdb", ("t",), cols, "upsert", ["ID"]).endswith(
        'VALUES (?, ?) ON CONFLICT ("ID") DO UPDATE SET "name" = excluded."name"'
    )
    assert insert_statement("mysql", ("t",), cols, "upsert", ["id"]) == (
        "INSERT INTO `t` (`id`, `name`) VALUES (%s, %s) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)"
    )
    # Only key columns written: a conflicting row stays as it is.
    assert insert_statement("postgresql", t, ["id"], "upsert", ["id"]).endswith('ON CONFLICT ("id") DO NOTHING')
    assert insert_statement("mariadb", t, ["id"], "upsert", ["id"]).endswith("ON DUPLICATE KEY UPDATE `id` = `id`")


def test_pymysql_turns_the_upsert_into_multi_row_inserts() -> None:
    from pymysql.cursors import RE_INSERT_VALUES

    text = insert_statement("mysql", ("t",), ["id", "name"], "upsert", ["id"])
    m = RE_INSERT_VALUES.match(text)
    assert m is not None and m.group(3).startswith(" ON DUPLICATE KEY UPDATE")


def test_copy_delete_count() -> None:
    assert copy_statement(("t",), ["id", "a b"]) == 'COPY "t" ("id", "a b") FROM STDIN'
    assert delete_statement("mysql", ("db", "t")) == "DELETE FROM `db`.`t`"
    assert count_statement("postgresql", ("t",)) == 'SELECT count(*) FROM "t"'


def test_target_columns() -> None:
    every = parse_plan(OK, PATH)
    assert target_columns(every, ["a", "b"]) == ([0, 1], ["a", "b"])
    table = parse_plan({**OK, "columns": "a:x, b"}, PATH)
    assert target_columns(table, ["a", "b"]) == ([0, 1], ["x", "b"])
    query = parse_plan({"sourceQuery": "SELECT 1", "targetTable": "t", "columns": "B:y, c"}, PATH)
    assert target_columns(query, ["c", "b", "z"]) == ([1, 0], ["y", "c"])
    with pytest.raises(ValueError, match="no column 'c'"):
        target_columns(query, ["b"])


def test_the_type_validates_freezes_and_hands_both_connections(tmp_path: Path) -> None:
    sync = TASK_TYPES[26]
    assert [u.field for u in sync.sources] == ["SourceServiceId", "TargetServiceId"]
    assert all(u.required and u.single for u in sync.sources)
    with pytest.raises(InvalidParameterValue, match=r"Task\.TriggerTaskConfiguration\.TaskExtConfigurationList\.w"):
        sync.validate({}, {**OK, "writeMode": "x"}, Paths("Task."), [])
    with pytest.raises(InvalidParameterValue, match=r"^TriggerTaskConfiguration\.TargetServiceId"):
        sync.validate({"SourceServiceId": "4", "TargetServiceId": "4"}, {"sourceTable": "T", "targetTable": "t"},
                      Paths(), [])  # fmt: skip
    assert sync.validate({"SourceServiceId": "4", "TargetServiceId": "5"}, OK, Paths(), []) == []
    spec = sync.freeze("ignored", {**OK, "where": "d = '${day}'"}, {"SourceServiceId": "4", "TargetServiceId": "5"})
    assert (spec["code"], spec["source_service_id"], spec["target_service_id"]) == ("d = '${day}'", "4", "5")
    source = {"type": "POSTGRE", "driver": "postgresql", "password": "src-secret"}
    target = {"type": "MYSQL", "driver": "mariadb", "password": "tgt-secret"}
    attempt = Attempt(attempt_id="e", env={}, cwd=str(tmp_path), log_path="l", outputs_path="o", code=spec["code"],
                      params={}, data_source=source, target_data_source=target)  # fmt: skip
    launch = sync.launch(spec, attempt)  # type: ignore[attr-defined]
    doc = json.loads(launch.script)
    assert (doc[wl.KEY_DATA_SOURCE], doc[wl.KEY_TARGET_DATA_SOURCE]) == (source, target)
    assert sorted(wl.secrets_of(doc)) == ["src-secret", "tgt-secret"]
    assert "tgt-secret" not in json.dumps(dict(launch.env)) and "tgt-secret" not in " ".join(launch.argv)
