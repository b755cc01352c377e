"""Data values in SQL become bound parameters (trigflow.domain.sql_binding), checked on an in-memory SQLite."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.params import Data, Segment
from trigflow.domain.sql_binding import UnsafeSqlPlacement, bind_statement, render_sql
from trigflow.domain.sql_script import split_statements


def segs(*parts: str | tuple[str, str]) -> list[Segment]:
    return [p if isinstance(p, str) else Data(p[0], p[1]) for p in parts]


def run_sqlite(segments: list[Segment]) -> list[tuple[object, ...]]:
    rendered = render_sql(segments, "sqlite")
    conn = sqlite3.connect(":memory:")
    rows: list[tuple[object, ...]] = []
    for stmt in split_statements(rendered.text, "sqlite"):
        bound = bind_statement(stmt.text, "sqlite", rendered.bindings, "qmark")
        cur = conn.execute(bound.text, bound.params or ())
        rows = cur.fetchall()
    return rows


def test_trusted_only_is_unchanged() -> None:
    assert render_sql(["select '${x}'"], "postgresql").text == "select '${x}'"


def test_each_context() -> None:
    r = render_sql(segs("select ", ("x", "1"), ", '", ("d", "day"), "', 'a_", ("d", "day"), "_b' -- ", ("x", "1"),
                        "\n"), "postgresql")  # fmt: skip
    p0, p1, p2 = (b["placeholder"] for b in r.bindings)  # one per reference; the comment's is not bound
    assert r.text == f"select {p0}, {p1}, ('a_' || {p2} || '_b') -- ${{x}}\n"
    assert [b["value"] for b in r.bindings] == ["1", "day", "day"]
    m = render_sql(segs("select 'a_", ("d", "v"), "'"), "mysql")
    assert m.text == f"select CONCAT('a_', {m.bindings[0]['placeholder']})"


@pytest.mark.parametrize(
    ("parts", "dialect", "message"),
    [
        (("select * from tbl_", ("t", "x")), "postgresql", "part of a SQL name"),
        (('select "', ("c", "x"), '"'), "postgresql", "quoted SQL name"),
        (("select `", ("c", "x"), "`"), "mysql", "quoted SQL name"),
        (("do $$ begin perform '", ("v", "x"), "'; end $$"), "postgresql", "dollar-quoted"),
        (("/*!40101 SET @a='", ("v", "x"), "' */"), "mysql", "/*!"),
        (("select 'a\\", ("v", "x"), "'"), "mysql", "backslash"),
    ],
)
def test_refused_places_name_the_parameter(
    parts: tuple[str | tuple[str, str], ...], dialect: str, message: str
) -> None:
    with pytest.raises(UnsafeSqlPlacement, match=message) as info:
        render_sql(segs(*parts), dialect)
    assert "${" in str(info.value)


def test_placeholder_base_avoids_the_code() -> None:
    r = render_sql(segs("select '__trigflow_bind_0__', ", ("x", "v")), "sqlite")
    assert r.bindings[0]["placeholder"].startswith("__trigflow_bind_x")
    assert run_sqlite(segs("select '__trigflow_bind_0__', ", ("x", "v"))) == [("__trigflow_bind_0__", "v")]


def test_format_style_doubles_percent_only_with_parameters() -> None:
    r = render_sql(segs("select '%' || ", ("x", "v"), " where a like 'b%'"), "postgresql")
    bound = bind_statement(r.text, "postgresql", r.bindings, "format")
    assert bound.text == "select '%%' || %s where a like 'b%%'" and bound.params == ["v"]
    plain = bind_statement("select '%'", "postgresql", r.bindings, "format")
    assert plain.text == "select '%'" and plain.params is None


_VALUES = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(_VALUES, _VALUES)
def test_property_a_data_value_is_only_ever_a_value(v: str, w: str) -> None:
    # whole literal, code position, part of a literal, and a comment: the row is the values, whatever they hold
    rows = run_sqlite(segs("select '", ("v", v), "', ", ("w", w), ", 'pre ", ("v", v), " post' -- ", ("w", w), "\n"))
    assert rows == [(v, w, f"pre {v} post")]
