"""Result rows as a log table and as WeData output parameters (trigflow.domain.sql_outputs)."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.params import parse_output_file
from trigflow.domain.sql_outputs import (
    Address,
    address_value,
    cell_text,
    format_output_file,
    output_values,
    parse_address,
    render_table,
)

ROWS = [
    (1, "a", None, decimal.Decimal("12.50"), True),
    (2, "ü\nx", 3.5, decimal.Decimal("1E+3"), dt.date(2026, 1, 2)),
]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("$[0][1]", Address(0, 1)),
        ("$[0][*]", Address(0, None)),
        ("$[*][1]", Address(None, 1)),
        ("$[*][*]", Address(None, None)),
        ("$[3]", Address(3, None)),
        ("$[*]", Address(None, None)),
        (" $[ 10 ][ 2 ] ", Address(10, 2)),
    ],
)
def test_addresses_as_wedata_spells_them(text: str, address: Address) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["", "0", "${x}", "$[a][0]", "$[-1][0]", "$[0][1][2]", "$[0]x", "[0][1]", "$(0)"])
def test_other_values_are_not_addresses(text: str) -> None:
    assert parse_address(text) is None


def test_values_of_each_address() -> None:
    assert address_value(ROWS, Address(0, 1)) == "a"
    assert address_value(ROWS, Address(0, 2)) == ""  # NULL
    assert address_value(ROWS, Address(0, 4)) == "true"
    assert address_value(ROWS, Address(1, 1)) == "ü x"  # a line break cannot cross the output file's line
    assert address_value(ROWS, Address(1, 4)) == "2026-01-02"
    assert address_value(ROWS, Address(0, None)) == '[1, "a", null, 12.50, true]'
    assert address_value(ROWS, Address(None, 3)) == "[12.50, 1E+3]"
    assert json.loads(address_value(ROWS, Address(None, None))) == [
        [1, "a", None, 12.5, True],
        [2, "ü\nx", 3.5, 1000, "2026-01-02"],
    ]
    # out of range: empty text for a cell, [] for a row, null for a missing column in a row
    assert address_value(ROWS, Address(5, 0)) == ""
    assert address_value(ROWS, Address(0, 9)) == ""
    assert address_value(ROWS, Address(5, None)) == "[]"
    assert address_value([(1,), (2, 3)], Address(None, 1)) == "[null, 3]"
    assert address_value([], Address(None, 0)) == "[]"


def test_cell_text_of_types() -> None:
    assert cell_text(b"abc") == "abc"
    assert cell_text(b"\xff\x00") == "0xff00"
    assert cell_text(dt.datetime(2026, 12, 3, 10, 0, 0)) == "2026-12-03 10:00:00"
    assert cell_text(False) == "false"
    assert address_value([(float("nan"), decimal.Decimal("NaN"))], Address(0, None)) == '["nan", "NaN"]'


def test_output_values_take_only_addressed_declarations() -> None:
    declared = [
        {"ParamKey": "first", "ParamValue": "$[0][0]"},
        {"ParamKey": "names", "ParamValue": "$[*][1]"},
        {"ParamKey": "plain", "ParamValue": "0"},  # a default, not an address: the server's business
        {"ParamKey": "", "ParamValue": "$[0][0]"},
    ]
    assert output_values(declared, ROWS) == {"first": "1", "names": '["a", "ü\\nx"]'}


def test_table_is_bounded_and_says_what_it_cut() -> None:
    lines = render_table(["id", "name"], [(i, "x" * i) for i in range(1, 6)], max_rows=2, max_cell=4, total_rows=5)
    assert lines == [
        "| id | name |",
        "|----|------|",
        "| 1  | x    |",
        "| 2  | xx   |",
        "(first 2 of 5 rows shown)",
    ]
    lines = render_table(["c"], [("abcdef",), (None,)], max_rows=5, max_cell=4)
    assert lines == ["| c    |", "|------|", "| abc… |", "| NULL |", "(cells cut at 4 characters)"]
    assert render_table(["a"], [], max_rows=5, max_cell=10) == ["| a |", "|---|"]


_CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.decimals(allow_nan=False, allow_infinity=False, places=3),
)  # fmt: skip
_ROWS = st.lists(st.lists(_CELLS, min_size=1, max_size=4).map(tuple), max_size=5)


@settings(max_examples=200, deadline=None)
@given(_ROWS, st.integers(0, 5), st.integers(0, 4))
def test_property_outputs_survive_the_output_file_and_lists_are_json(
    rows: list[tuple[object, ...]], n: int, m: int
) -> None:
    declared = [
        {"ParamKey": "cell", "ParamValue": f"$[{n}][{m}]"},
        {"ParamKey": "row", "ParamValue": f"$[{n}][*]"},
        {"ParamKey": "col", "ParamValue": f"$[*][{m}]"},
        {"ParamKey": "all", "ParamValue": "$[*][*]"},
    ]
    values = output_values(declared, rows)
    # every value reads back from the file exactly, and no cell can set another output
    assert parse_output_file(format_output_file(values), ["cell", "row", "col", "all", "other"]) == values
    assert json.loads(values["col"]) == [_json_of(r[m]) if m < len(r) else None for r in rows]
    assert len(json.loads(values["all"])) == len(rows)
    assert json.loads(values["row"]) == ([_json_of(v) for v in rows[n]] if n < len(rows) else [])


def _json_of(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, decimal.Decimal):
        return json.loads(str(value))
    return cell_text(value)
