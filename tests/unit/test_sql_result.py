"""A streamed result reduced to what a SQL task keeps of it (trigflow.domain.sql_result): the digest gives the
outputs `output_values` gives over all the rows, whatever the chunks, and refuses exactly the values over the
limit, keeping no more than it must."""

from __future__ import annotations

import decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.sql_outputs import output_values
from trigflow.domain.sql_result import OutputOver, ResultDigest

_CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True), st.text(max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=2), st.binary(max_size=4),
)  # fmt: skip
_ROWS = st.lists(st.lists(_CELLS, min_size=1, max_size=4).map(tuple), max_size=12)
_SPECS = st.one_of(
    st.builds(lambda n, m: f"$[{n}][{m}]", st.integers(0, 13), st.integers(0, 4)),
    st.builds(lambda n: f"$[{n}][*]", st.integers(0, 13)),
    st.builds(lambda m: f"$[*][{m}]", st.integers(0, 4)),
    st.just("$[*][*]"),
    st.just("not an address"),
)


def _feed(digest: ResultDigest, rows: list[tuple[object, ...]], cuts: list[int]) -> None:
    at = 0
    for cut in sorted(c % (len(rows) + 1) for c in cuts):
        digest.add(rows[at:cut] if cut > at else [])
        at = max(at, cut)
    digest.add(rows[at:])


@settings(max_examples=300, deadline=None)
@given(_ROWS, st.lists(_SPECS, min_size=1, max_size=5), st.lists(st.integers(0, 20), max_size=4),
       st.integers(0, 400), st.integers(0, 5))  # fmt: skip
def test_property_digest_equals_the_whole_result_and_refuses_exactly_what_is_over(
    rows: list[tuple[object, ...]], specs: list[str], cuts: list[int], max_chars: int, preview: int
) -> None:
    declared = [{"ParamKey": f"o{i}", "ParamValue": s} for i, s in enumerate(specs)]
    digest = ResultDigest(declared, preview_rows=preview, max_chars=max_chars)
    _feed(digest, rows, cuts)
    values, over = digest.values()
    whole = output_values(declared, rows)
    assert digest.count == len(rows)
    assert digest.preview == rows[:preview]
    assert values == {k: v for k, v in whole.items() if len(v) <= max_chars}
    assert sorted(o.key for o in over) == sorted(k for k, v in whole.items() if len(v) > max_chars)


def test_a_column_over_the_limit_keeps_nothing_and_says_where_it_went_over() -> None:
    digest = ResultDigest([{"ParamKey": "ids", "ParamValue": "$[*][0]"}, {"ParamKey": "c", "ParamValue": "$[5][1]"}],
                          preview_rows=2, max_chars=20)  # fmt: skip
    for start in range(0, 10_000, 100):
        digest.add([(i, f"r{i}") for i in range(start, start + 100)])
    values, over = digest.values()
    assert values == {"c": "r5"}
    # "[0, 1, 2, 3, 4, 5, 6]" is 21 characters: the 7th row made it too long
    assert over == [OutputOver("ids", "$[*][0]", 7)]
    assert digest.count == 10_000 and digest.preview == [(0, "r0"), (1, "r1")]
    assert all(not out.pieces for out in digest._lists.values())  # what it built is dropped
    assert set(digest._rows) == {5}  # of all the rows, only the one an address names


def test_one_cell_over_the_limit_is_refused_too() -> None:
    digest = ResultDigest([{"ParamKey": "big", "ParamValue": "$[0][0]"}], preview_rows=0, max_chars=5)
    digest.add([("123456",), (decimal.Decimal(1),)])
    assert digest.values() == ({}, [OutputOver("big", "$[0][0]", 2)])


def test_no_rows_no_declared_outputs() -> None:
    digest = ResultDigest([], preview_rows=20, max_chars=10)
    digest.add([])
    assert digest.values() == ({}, []) and digest.count == 0
