"""Task parameters (trigflow.domain.params): time expressions, substitution, layering, outputs and inputs."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.params import (
    MAX_DEPTH,
    OUTPUT_FILE_ENV,
    OUTPUT_MARKER,
    Data,
    ExpansionTooLarge,
    Substitution,
    baseline_for,
    evaluate_time_expression,
    join_segments,
    legacy_data_names,
    merge_params,
    parse_output_file,
    parse_outputs,
    resolve_inputs,
    substitute,
)

CST = timezone(timedelta(hours=8))
NY = ZoneInfo("America/New_York")
# The worked examples' baseline (P65172): 20210710080000, UTC+8.
DOC = datetime(2021, 7, 10, 8, 0, 0, tzinfo=CST)


def ev(expr: str, baseline: datetime = DOC) -> str | None:
    return evaluate_time_expression(expr, baseline)


# ------------------------------------------------------------------------------------ worked examples


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dt=${yyyyMMdd-1M}", "dt=20210610"),
        ("dt=${yyyyMMdd-1d}", "dt=20210709"),
        ("time=${yyyyMMddHHmmss-3h}", "time=20210710050000"),
        ("ti=${yyyyMMddHHmmss-25m}", "ti=20210710073500"),
        ("${timestamp}", "1625875200"),
    ],
)
def test_worked_examples_of_p65172(text: str, expected: str) -> None:
    assert substitute(text, {}, DOC) == (expected, [])


def test_doc_timestamp_ms_example() -> None:
    # P65172's `${timestamp_ms}=1698508800000` is midnight 2023-10-29 in UTC+8.
    assert ev("timestamp_ms", datetime(2023, 10, 29, tzinfo=CST)) == "1698508800000"
    assert ev("timestamp_ms", baseline_for(1698508800000, "Asia/Shanghai")) == "1698508800000"


# ------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("yyyyMMdd", "20210710"),
        ("yyyy-MM-dd", "2021-07-10"),
        ("HH:mm:ss", "08:00:00"),
        ("yyyyMMddHHmmss", "20210710080000"),
        ("yyyy-MM-dd HH:mm:ss", "2021-07-10 08:00:00"),
        ("yy", "21"),
        ("yyMMdd", "210710"),
        ("yyyy/MM", "2021/07"),
        ("yyyy_MM_dd", "2021_07_10"),
        ("dd.MM.yyyy", "10.07.2021"),
        ("yyyy年MM月dd日", "2021年07月10日"),  # non-ASCII literals are separators too
        ("yyyymmdd", "20210010"),  # case-sensitive, as in SimpleDateFormat: mm is the minute
        ("MMMM", "0707"),
        ("yyyyyy", "202121"),  # greedy: yyyy then yy
    ],
)
def test_formats(expr: str, expected: str) -> None:
    assert ev(expr) == expected


def test_format_fields_are_zero_padded() -> None:
    b = datetime(2009, 1, 2, 3, 4, 5, tzinfo=CST)
    assert ev("yyyy-yy-MM-dd HH:mm:ss", b) == "2009-09-01-02 03:04:05"
    assert ev("yyyy", datetime(5, 1, 1, tzinfo=CST)) == "0005"


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "biz_date",
        "address",  # contains `dd` but also letters
        "HOME",
        "YYYY",
        "DD",
        "hh",  # 12-hour clock is not a documented token
        "yyy",
        "yyyyMMdd1",  # digits are never literals
        "yyyyMMdd-1",  # offsets need a unit
        "yyyyMMdd-1s",  # no seconds unit
        "yyyyMMdd-1x",
        "yyyyMMdd - 1d",
        "yyyyMMdd-1d-",
        "-1d",  # offsets without a format
        "yyyyMMddT",
        "yyyy$MM",
        "timestamp-1d",  # timestamp arithmetic is unit-less
        "timestamps",
        "timestamp_s",
        "TIMESTAMP",
        "x:-yyyy",
    ],
)
def test_not_time_expressions(expr: str) -> None:
    assert ev(expr) is None


def test_naive_baseline_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate_time_expression("yyyyMMdd", datetime(2021, 7, 10))


# ------------------------------------------------------------------------------------------- offsets


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("yyyyMMdd+1y", "20220710"),
        ("yyyyMMdd-1Y", "20200710"),
        ("yyyyMMdd+1M", "20210810"),
        ("yyyyMMdd-13M", "20200610"),
        ("yyyyMMdd+1w", "20210717"),
        ("yyyyMMdd-2W", "20210626"),
        ("yyyyMMdd+1d", "20210711"),
        ("yyyyMMdd-10D", "20210630"),
        ("yyyyMMddHHmmss+1H", "20210710090000"),
        ("yyyyMMddHHmmss-9h", "20210709230000"),
        ("yyyyMMddHHmmss+90m", "20210710093000"),
        ("yyyyMMdd+0d", "20210710"),
        ("yyyyMMdd-007d", "20210703"),
        ("yyyy-MM-dd-1d", "2021-07-09"),  # `-` is both a separator and an offset sign
        ("HH:mm-30m", "07:30"),
    ],
)
def test_every_unit(expr: str, expected: str) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("yyyyMMdd-1M+2d", "20210612"),
        ("yyyyMMddHHmm-1d-3h+15m", "202107090515"),
        ("yyyyMMdd+1y-1y", "20210710"),
        ("yyyyMMdd-1w-1d", "20210702"),
    ],
)
def test_chained_offsets(expr: str, expected: str) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize(
    ("baseline", "expr", "expected"),
    [
        (datetime(2021, 3, 31, tzinfo=CST), "yyyyMMdd-1M", "20210228"),
        (datetime(2024, 3, 31, tzinfo=CST), "yyyyMMdd-1M", "20240229"),  # leap year
        (datetime(2021, 1, 31, tzinfo=CST), "yyyyMMdd+1M", "20210228"),
        (datetime(2021, 5, 31, tzinfo=CST), "yyyyMMdd-1M", "20210430"),
        (datetime(2024, 2, 29, tzinfo=CST), "yyyyMMdd+1y", "20250228"),
        (datetime(2024, 2, 29, tzinfo=CST), "yyyyMMdd-4y", "20200229"),
        (datetime(2000, 2, 29, tzinfo=CST), "yyyyMMdd+100y", "21000228"),  # 2100 is not a leap year
        (datetime(2024, 2, 28, tzinfo=CST), "yyyyMMdd+1d", "20240229"),
        (datetime(2023, 2, 28, tzinfo=CST), "yyyyMMdd+1d", "20230301"),
        (datetime(2024, 3, 1, tzinfo=CST), "yyyyMMdd-1d", "20240229"),
        # clamping happens per step, so a chain is order-dependent
        (datetime(2021, 3, 31, tzinfo=CST), "yyyyMMdd-1M+1M", "20210328"),
        (datetime(2021, 3, 31, tzinfo=CST), "yyyyMMdd+1M-1M", "20210330"),
    ],
)
def test_month_end_clamping_and_leap_years(baseline: datetime, expr: str, expected: str) -> None:
    assert ev(expr, baseline) == expected


@pytest.mark.parametrize(
    ("baseline", "expr", "expected"),
    [
        (datetime(2021, 1, 1, tzinfo=CST), "yyyyMMdd-1d", "20201231"),
        (datetime(2020, 12, 31, tzinfo=CST), "yyyyMMdd+1d", "20210101"),
        (datetime(2021, 1, 15, tzinfo=CST), "yyyyMMdd-1M", "20201215"),
        (datetime(2020, 12, 15, tzinfo=CST), "yyyyMMdd+1M", "20210115"),
        (datetime(2021, 1, 3, tzinfo=CST), "yyyyMMdd-1w", "20201227"),
        (datetime(2021, 1, 1, 0, 10, tzinfo=CST), "yyyyMMddHHmm-25m", "202012312345"),
        (datetime(2020, 12, 31, 23, 0, tzinfo=CST), "yyyyMMddHH+1h", "2021010100"),
        (datetime(2021, 7, 10, tzinfo=CST), "yyyyMM-7M", "202012"),
        (datetime(2021, 7, 10, tzinfo=CST), "yyyyMM+6M", "202201"),
        (datetime(2021, 7, 10, tzinfo=CST), "yyyyMM-19M", "201912"),
    ],
)
def test_year_boundaries(baseline: datetime, expr: str, expected: str) -> None:
    assert ev(expr, baseline) == expected


@pytest.mark.parametrize(
    "expr",
    [
        "yyyy+8000y",
        "yyyy-2021y",
        "yyyyMMdd-" + "9" * 30 + "d",
        "yyyyMMdd+" + "9" * 5000 + "m",  # too long for int()
        "timestamp+" + "9" * 5000,
    ],
)
def test_out_of_range_is_not_evaluated(expr: str) -> None:
    assert ev(expr) is None
    text, warnings = substitute("${" + expr + "}", {}, DOC)
    assert text == "${" + expr + "}"
    assert len(warnings) == 1
    assert "out of range" in warnings[0]


# ------------------------------------------------------------------------------------------------ DST


def test_days_move_the_wall_clock_and_hours_move_the_instant() -> None:
    # 2024-03-10 is the spring-forward day in New York: it has only 23 hours.
    b = datetime(2024, 3, 10, 12, 0, tzinfo=NY)
    assert ev("yyyyMMddHHmm-1d", b) == "202403091200"
    assert ev("yyyyMMddHHmm-24H", b) == "202403091100"
    assert ev("yyyyMMddHHmm-1w", b) == "202403031200"
    assert ev("yyyyMMddHHmm-1M", b) == "202402101200"
    assert ev("HH:mm-12h", b) == "23:00"  # 12 elapsed hours back crosses the missing hour


def test_wall_time_in_a_dst_gap_is_pushed_past_the_gap() -> None:
    b = datetime(2024, 3, 11, 2, 30, tzinfo=NY)
    assert ev("yyyyMMddHHmm-1d", b) == "202403100330"
    # minutes cross the gap on the instant timeline: 03:10 EDT is 01:10 EST + 60 minutes
    assert ev("HH:mm-10m", datetime(2024, 3, 10, 3, 0, tzinfo=NY)) == "01:50"


def test_ambiguous_wall_time_takes_the_earlier_instant() -> None:
    b = datetime(2024, 11, 4, 1, 30, tzinfo=NY)  # EST
    assert ev("yyyyMMddHHmm-1d", b) == "202411030130"
    # 01:30 on the fall-back day is taken as EDT, so one elapsed hour later is 01:30 EST
    assert ev("yyyyMMddHHmm-1d+1H", b) == "202411030130"
    assert ev("yyyyMMddHHmm-1d+2H", b) == "202411030230"


def test_timestamp_is_independent_of_the_zone() -> None:
    ms = 1710086400000  # 2024-03-10 16:00 UTC
    assert ev("timestamp", baseline_for(ms, "America/New_York")) == "1710086400"
    assert ev("timestamp", baseline_for(ms, "UTC+8")) == "1710086400"


# ------------------------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("timestamp", "1625875200"),
        ("timestamp-86400", "1625788800"),
        ("timestamp+3600-60", "1625878740"),
        ("timestamp_ms", "1625875200000"),
        ("timestamp_ms+1000", "1625875201000"),
        ("timestamp_ms-86400000-1", "1625788799999"),
        ("timestamp-1625875201", "-1"),
    ],
)
def test_timestamp_arithmetic(expr: str, expected: str) -> None:
    assert ev(expr) == expected


def test_timestamp_rounds_down_to_the_second() -> None:
    b = baseline_for(1625875200999, "UTC+8")
    assert ev("timestamp", b) == "1625875200"
    assert ev("timestamp_ms", b) == "1625875200999"
    assert len(ev("timestamp", b) or "") == 10
    assert len(ev("timestamp_ms", b) or "") == 13
    before_epoch = baseline_for(-1, "UTC")
    assert ev("timestamp", before_epoch) == "-1"
    assert ev("timestamp_ms", before_epoch) == "-1"


# ---------------------------------------------------------------------------------- format property

_DIRECTIVES = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_SEPARATORS = ["-", "/", ":", " ", "_", ".", ",", "年"]


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    parts=st.lists(st.sampled_from([*_DIRECTIVES, *_SEPARATORS]), min_size=1, max_size=10).filter(
        lambda ps: (
            any(p in _DIRECTIVES for p in ps)
            # `yy` directly before another year token would read as one longer token
            and not any(a == "yy" and b.startswith("y") for a, b in itertools.pairwise(ps))
        )
    ),
    baseline=st.datetimes(
        min_value=datetime(1000, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.sampled_from([CST, UTC, NY, ZoneInfo("Asia/Kolkata")]),
    ),
)
def test_format_tokens_match_strftime(parts: list[str], baseline: datetime) -> None:
    expr = "".join(parts)
    expected = baseline.strftime("".join(_DIRECTIVES.get(p, p) for p in parts))
    assert evaluate_time_expression(expr, baseline) == expected


# --------------------------------------------------------------------------------------- substitution


def test_user_parameters_and_time_expressions_side_by_side() -> None:
    text = "INSERT INTO t PARTITION (dt='${yyyyMMdd-1d}') SELECT * FROM s WHERE region='${region}'"
    assert substitute(text, {"region": "ap-guangzhou"}, DOC) == (
        "INSERT INTO t PARTITION (dt='20210709') SELECT * FROM s WHERE region='ap-guangzhou'",
        [],
    )


def test_user_parameter_wins_over_a_time_expression() -> None:
    params = {"yyyyMMdd": "19990101"}
    assert substitute("${yyyyMMdd} ${yyyyMMdd-1d}", params, DOC) == ("19990101 20210709", [])


def test_parameter_values_are_substituted_recursively() -> None:
    params = {
        "biz_date": "${yyyyMMdd-1d}",
        "base": "/data/${env}",
        "env": "prod",
        "path": "${base}/${biz_date}/part-${hour}",
        "hour": "${HH-1h}",
    }
    assert substitute("ls ${path}", params, DOC) == ("ls /data/prod/20210709/part-07", [])


def test_parameter_values_are_plain_text_outside_tokens() -> None:
    assert substitute("${p}", {"p": "yyyyMMdd-1d"}, DOC) == ("yyyyMMdd-1d", [])


def test_a_parameter_may_shadow_and_refer_to_its_builtin() -> None:
    assert substitute("${yyyyMMdd}", {"yyyyMMdd": "${yyyyMMdd}"}, DOC) == ("20210710", [])
    assert substitute("${yyyyMMdd}", {"yyyyMMdd": "d${yyyyMMdd-1d}"}, DOC) == ("d20210709", [])
    assert substitute("${timestamp}", {"timestamp": "${timestamp}000"}, DOC) == ("1625875200000", [])


def test_cycles_are_left_as_written_with_a_warning() -> None:
    text, warnings = substitute("x=${a}", {"a": "<${b}>", "b": "[${a}]"}, DOC)
    assert text == "x=<[${a}]>"
    assert warnings == ["parameter cycle a -> b -> a; ${a} left as is"]

    text, warnings = substitute("${self}", {"self": "again ${self}"}, DOC)
    assert text == "again ${self}"
    assert warnings == ["parameter cycle self -> self; ${self} left as is"]


def test_cycle_results_depend_on_where_they_are_entered() -> None:
    # Memoisation must not leak a stack-dependent value: each entry point sees its own cycle.
    params = {"a": "A${b}", "b": "B${a}"}
    text, warnings = substitute("${a}|${b}|${a}", params, DOC)
    assert text == "AB${a}|BA${b}|AB${a}"
    assert warnings == ["parameter cycle a -> b -> a; ${a} left as is", "parameter cycle b -> a -> b; ${b} left as is"]

    # Shadowing resolves through the stack too: `d` means the built-in only while `yyyyMMdd` is expanding.
    params = {"d": "${yyyyMMdd}", "yyyyMMdd": "${d}"}
    text, warnings = substitute("${yyyyMMdd}|${d}", params, DOC)
    assert text == "20210710|${d}"
    assert warnings == ["parameter cycle d -> yyyyMMdd -> d; ${d} left as is"]


def test_nesting_depth_is_bounded() -> None:
    deep = {f"p{i}": f"${{p{i + 1}}}" for i in range(MAX_DEPTH + 4)} | {f"p{MAX_DEPTH + 4}": "end"}
    text, warnings = substitute("${p0}", deep, DOC)
    assert text == f"${{p{MAX_DEPTH}}}"
    assert len(warnings) == 1
    assert "deeper than" in warnings[0]

    shallow = {f"p{i}": f"${{p{i + 1}}}" for i in range(MAX_DEPTH - 1)} | {f"p{MAX_DEPTH - 1}": "end"}
    assert substitute("${p0}", shallow, DOC) == ("end", [])


def test_fan_out_is_memoised() -> None:
    params = {f"a{i}": f"${{a{i + 1}}}${{a{i + 1}}}" for i in range(12)} | {"a12": "x"}
    started = time.perf_counter()
    text, warnings = substitute("${a0}", params, DOC)
    assert text == "x" * 4096
    assert warnings == []
    assert time.perf_counter() - started < 0.5


def test_expansion_size_is_bounded() -> None:
    params = {f"a{i}": f"${{a{i + 1}}}${{a{i + 1}}}" for i in range(14)} | {"a14": "x" * 100}
    text, warnings = substitute("${a0}", params, DOC)
    assert text == "${a0}"
    assert warnings == ["parameter ${a0} expands to more than 1048576 characters; left as is"]


def test_cycle_tainted_fan_out_is_bounded() -> None:
    # Every value depends on the cycle through `z`, so nothing can be memoised; the budget stops it.
    params = {f"a{i}": f"${{a{i + 1}}}${{a{i + 1}}}${{z}}" for i in range(15)} | {"a15": "x", "z": "${a0}"}
    started = time.perf_counter()
    _, warnings = substitute("${a0}", params, DOC)
    assert any("parameter expansions" in w for w in warnings)
    assert time.perf_counter() - started < 1.5


def test_escapes() -> None:
    assert substitute("$${yyyyMMdd}", {}, DOC) == ("${yyyyMMdd}", [])
    assert substitute("$${p} ${p}", {"p": "v"}, DOC) == ("${p} v", [])
    assert substitute("$${HOME}", {}, DOC) == ("${HOME}", [])  # escaped tokens are not reported
    assert substitute("$$${p}", {"p": "v"}, DOC) == ("$${p}", [])  # only the `$` before `${` is consumed
    assert substitute("cost $5, pid $$, $${", {}, DOC) == ("cost $5, pid $$, $${", [])


def test_escaped_values_are_not_rescanned() -> None:
    params = {"p": "$${q}", "q": "never"}
    assert substitute("${p}", params, DOC) == ("${q}", [])
    params = {"p": "${yyyy}"}  # a value's replacement is final, too
    assert substitute("$${p}${p}", params, DOC) == ("${p}2021", [])


def test_unknown_tokens_are_left_untouched_and_reported_once() -> None:
    text = 'echo "${HOME} ${HOME} ${x:-default} ${#arr[@]} ${} ${yyyyMMdd-1}" ${unclosed'
    out, warnings = substitute(text, {}, DOC)
    assert out == text
    assert warnings == [
        "unknown parameter ${HOME} left as is",
        "unknown parameter ${x:-default} left as is",
        "unknown parameter ${#arr[@]} left as is",
        "unknown parameter ${} left as is",
        "unknown parameter ${yyyyMMdd-1} left as is",
    ]


def test_unknown_tokens_inside_values_are_reported() -> None:
    assert substitute("${p}", {"p": "${missing}/${yyyy}"}, DOC) == (
        "${missing}/2021",
        ["unknown parameter ${missing} left as is"],
    )


def test_nested_braces_only_match_the_inner_token() -> None:
    assert substitute("${a${b}}", {"b": "B"}, DOC) == ("${aB}", [])


def test_substitution_without_tokens_is_identity() -> None:
    assert substitute("", {"a": "1"}, DOC) == ("", [])
    assert substitute("plain $text {braces}", {"text": "no"}, DOC) == ("plain $text {braces}", [])


def test_names_are_exact() -> None:
    out, warnings = substitute("${ p }", {"p": "v"}, DOC)
    assert out == "${ p }"
    assert warnings == ["unknown parameter ${ p } left as is"]


# --------------------------------------------------------------------------------------- merge_params


def test_merge_params_precedence() -> None:
    project = {"a": "project", "b": "project", "c": "project", "d": "project", "e": "project"}
    workflow = {"b": "workflow", "c": "workflow", "d": "workflow", "e": "workflow"}
    task = {"c": "task", "d": "task", "e": "task"}
    run: dict[str, str | None] = {"d": "run", "e": "run"}
    upstream = {"e": "upstream"}
    assert merge_params(project, workflow, task, run, upstream) == {
        "a": "project",
        "b": "workflow",
        "c": "task",
        "d": "run",
        "e": "upstream",
    }


def test_merge_params_none_does_not_override_but_empty_does() -> None:
    merged = merge_params({"a": "1", "b": "2"}, {"a": None, "b": "", "c": None})
    assert merged == {"a": "1", "b": ""}


def test_merge_params_edge_cases() -> None:
    assert merge_params() == {}
    layer = {"a": "1"}
    merged = merge_params(layer, {"a": "2"})
    assert layer == {"a": "1"}  # inputs are not mutated
    assert merged is not layer


# -------------------------------------------------------------------------------------------- outputs


def test_output_convention_names() -> None:
    assert OUTPUT_MARKER == "##wedata_output"
    assert OUTPUT_FILE_ENV == "WEDATA_OUTPUT_FILE"


def test_parse_outputs() -> None:
    log = "\n".join(
        [
            "starting",
            "##wedata_output rows=10",
            "##wedata_output rows=42",  # last one wins
            "##wedata_output url=http://h/x?a=1&b=2",  # values may contain `=`
            "##wedata_output   spaced  =  kept verbatim  ",
            "\t##wedata_output\tindented=yes",
            "##wedata_output undeclared=1",
            "##wedata_outputglued=1",  # marker must be followed by whitespace
            "say ##wedata_output mid=1",  # marker must start the line
            "##wedata_output noequals",
            "##wedata_output =nokey",
            "##WEDATA_OUTPUT rows=0",  # case-sensitive
            "##wedata_output empty=",
            "done",
        ]
    )
    declared = ["rows", "url", "spaced", "indented", "glued", "mid", "noequals", "empty", "never"]
    assert parse_outputs(log, declared) == {
        "rows": "42",
        "url": "http://h/x?a=1&b=2",
        "spaced": "  kept verbatim  ",
        "indented": "yes",
        "empty": "",
    }


def test_parse_outputs_line_endings() -> None:
    log = "##wedata_output a=1\r\n##wedata_output b=x\x0cy\u2028z\r\n##wedata_output c=3"
    assert parse_outputs(log, ["a", "b", "c"]) == {"a": "1", "b": "x\x0cy\u2028z", "c": "3"}
    assert parse_outputs("", ["a"]) == {}
    assert parse_outputs("##wedata_output a=1", []) == {}


def test_parse_output_file() -> None:
    text = "# written by the task\n\nrows=10\n  rows =11\nurl=a=b\r\nundeclared=1\nnoequals\n=x\nlast=\n"
    assert parse_output_file(text, ["rows", "url", "last", "noequals"]) == {"rows": "11", "url": "a=b", "last": ""}
    # the stdout marker means nothing in the file
    assert parse_output_file("##wedata_output rows=1", ["rows"]) == {}


# --------------------------------------------------------------------------------------------- inputs


def test_resolve_inputs() -> None:
    outputs = {"t1": {"pp_out": "v1", "other": "o"}, "t2": {}}
    inputs = [
        {"ParamKey": "a", "FromTaskId": "t1", "FromParamKey": "pp_out", "Type": "TASK", "ParamDesc": "p.t1.pp_out"},
        {"ParamKey": "b", "FromTaskId": "t1", "FromParamKey": "other"},  # Type defaults to TASK
        {"ParamKey": "c", "FromTaskId": "t2", "FromParamKey": "pp_out", "Type": "task"},
        {"ParamKey": "d", "FromTaskId": "t9", "FromParamKey": "pp_out"},
        {"ParamKey": "e", "FromTaskId": "t1", "FromParamKey": "x", "Type": "CONSTANT"},
    ]
    values, warnings = resolve_inputs(inputs, outputs)
    assert values == {"a": "v1", "b": "o", "c": "", "d": ""}
    assert warnings == [
        "input parameter c: upstream task t2 produced no output pp_out; using an empty value",
        "input parameter d: upstream task t9 has no successful run in this execution; using an empty value",
    ]


def test_resolve_inputs_edge_cases() -> None:
    assert resolve_inputs([], {"t1": {"a": "1"}}) == ({}, [])
    inputs = [
        {"ParamKey": "k", "FromTaskId": "t1", "FromParamKey": "a"},
        {"ParamKey": "k", "FromTaskId": "t1", "FromParamKey": "b"},  # a later entry for the same key wins
        {"ParamKey": "", "FromTaskId": "t1", "FromParamKey": "a"},
    ]
    values, warnings = resolve_inputs(inputs, {"t1": {"a": "1", "b": "2"}})
    assert values == {"k": "2"}
    assert warnings == ["input parameter without ParamKey (from t1.a) ignored"]


# ------------------------------------------------------------------------------------------- baseline


def test_baseline_for_iana_zone() -> None:
    b = baseline_for(1625875200000, "Asia/Shanghai")
    assert b == DOC
    assert b.utcoffset() == timedelta(hours=8)
    assert (b.year, b.month, b.day, b.hour) == (2021, 7, 10, 8)


def test_baseline_for_follows_dst() -> None:
    summer = baseline_for(int(datetime(2024, 3, 10, 16, tzinfo=UTC).timestamp() * 1000), "America/New_York")
    winter = baseline_for(int(datetime(2024, 3, 10, 6, tzinfo=UTC).timestamp() * 1000), "America/New_York")
    assert (summer.hour, summer.utcoffset()) == (12, timedelta(hours=-4))
    assert (winter.hour, winter.utcoffset()) == (1, timedelta(hours=-5))


@pytest.mark.parametrize(
    ("name", "offset"),
    [
        ("UTC+8", timedelta(hours=8)),
        ("UTC-05:30", -timedelta(hours=5, minutes=30)),
        ("GMT+8", timedelta(hours=8)),  # as users mean it, not POSIX's inverted sign
        ("UTC+0530", timedelta(hours=5, minutes=30)),
        ("UTC+08:00", timedelta(hours=8)),
        ("utc+8", timedelta(hours=8)),
        (" UTC+8 ", timedelta(hours=8)),
        ("UTC", timedelta(0)),
        ("GMT", timedelta(0)),
        ("UTC-0", timedelta(0)),
        ("UTC+18", timedelta(hours=18)),
        ("Etc/GMT+8", timedelta(hours=-8)),  # the IANA name keeps its POSIX meaning
        ("Asia/Kolkata", timedelta(hours=5, minutes=30)),
    ],
)
def test_baseline_for_zone_forms(name: str, offset: timedelta) -> None:
    b = baseline_for(1625875200000, name)
    assert b.utcoffset() == offset
    assert b.timestamp() == 1625875200


def test_baseline_for_keeps_milliseconds() -> None:
    assert baseline_for(1625875200123, "UTC").microsecond == 123000
    assert baseline_for(-1, "UTC") == datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus",
        "",
        "   ",
        "UTC+19",
        "UTC+5:60",
        "UTC+",
        "UTC+8h",
        "asia/shanghai",
        "../etc/passwd",
        "/etc/localtime",
        "America",
        "zone.tab",
    ],
)
def test_baseline_for_unknown_zone(name: str) -> None:
    with pytest.raises(InvalidParameterValue) as err:
        baseline_for(0, name)
    assert err.value.code == "InvalidParameterValue"


# ------------------------------------------------------------------------------ data and the expansion budget


def test_data_is_a_segment_and_never_scanned() -> None:
    params = {"v": "${secret}", "secret": "hunter2", "wrap": "<${v}>"}
    sub = Substitution(params, DOC, data={"v"})
    assert sub.segments("a ${v} b") == ["a ", Data("v", "${secret}"), " b"]
    assert sub.segments("${wrap}") == ["<", Data("v", "${secret}"), ">"]  # a trusted value referring to data
    assert sub.value_of("v") == "${secret}"
    assert sub.value_of("wrap") == "<${secret}>"
    assert "hunter2" not in join_segments(sub.segments("${v}${wrap}"))


def test_data_wins_over_a_time_expression_of_the_same_name() -> None:
    sub = Substitution({"yyyyMMdd": "${yyyy}"}, DOC, data={"yyyyMMdd"})
    assert sub.segments("${yyyyMMdd}") == [Data("yyyyMMdd", "${yyyy}")]


def test_trusted_values_keep_the_recursive_rules() -> None:
    sub = Substitution({"biz_date": "${yyyyMMdd-1d}", "path": "/in/${biz_date}/${f}", "f": "x"}, DOC, data={"f"})
    assert sub.segments("${path}") == ["/in/", "20210709", "/", Data("f", "x")]
    assert sub.value_of("path") == "/in/20210709/x"


def test_expansion_budget_is_checked_before_joining() -> None:
    params = {f"a{i}": f"${{a{i + 1}}}${{a{i + 1}}}" for i in range(20)} | {"a20": "x" * 1000}
    sub = Substitution(params, DOC, limit=1 << 20)
    started = time.perf_counter()
    with pytest.raises(ExpansionTooLarge, match="1048576"):
        sub.segments("${a10}\n" * 2000)  # 2 GB if it were built
    assert time.perf_counter() - started < 0.5


def test_expansion_budget_is_shared_by_code_and_values() -> None:
    sub = Substitution({"p": "${q}${q}", "q": "x" * 600}, DOC, limit=2000)
    assert len(join_segments(sub.segments("${p}"))) == 1200
    with pytest.raises(ExpansionTooLarge):
        sub.value_of("p")  # 1200 more: over the attempt's 2000


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_data_value_comes_back_unchanged(text: str, value: str) -> None:
    assume(not text.endswith("$"))  # "$" + "${v}" is the escape "$${v}", a literal, not a reference
    sub = Substitution({"v": value}, DOC, data={"v"})
    segments = sub.segments(text + "${v}")
    assert segments[-1] == Data("v", value)


def test_legacy_rows_treat_file_arrival_paths_as_data() -> None:
    assert legacy_data_names({"file_arrival_paths": "[]", "x": "1"}) == {"file_arrival_paths"}
    assert legacy_data_names({"x": "1"}) == set()


def test_code_without_tokens_costs_nothing() -> None:
    sub = Substitution({f"p{i}": "v" for i in range(50)}, DOC)
    code = "true\n" * 100
    for _ in range(3):
        assert sub.text(code) is code  # no copy, no tokenising: the fast path (speed lives in bench/)
