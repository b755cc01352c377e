"""Pure helpers of run reads (issue 12 point 5): resolved WorkflowParams and bounded output values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from trigflow.service.run_reads import (
    OUTPUT_TOTAL_CHARS,
    OUTPUT_VALUE_CHARS,
    bounded_outputs,
    extensions_with_outputs,
    resolved_run_params,
)

# 2026-12-03 00:30 in Shanghai is still 2026-12-02 in UTC: the zone decides the day.
SCHEDULE_MS = int(datetime(2026, 12, 2, 16, 30, tzinfo=UTC).timestamp() * 1000)


def resolve(params: dict[str, str | None], data: set[str] | None = frozenset(), tz: str = "Asia/Shanghai") -> object:
    return json.loads(resolved_run_params(json.dumps(params), SCHEDULE_MS, tz, data))


def test_time_expressions_are_evaluated_at_the_schedule_time_in_the_run_zone() -> None:
    assert resolve({"d": "${yyyyMMdd-1d}"}) == {"d": "20261202"}
    assert resolve({"d": "${yyyyMMdd-1d}"}, tz="UTC") == {"d": "20261201"}


def test_trusted_values_resolve_recursively_and_data_is_never_expanded() -> None:
    params = {"biz": "${yyyyMMdd}", "path": "/in/${biz}/${asked}", "asked": "${biz}", "secret": "s3cr3t"}
    assert resolve(params, data={"asked"}) == {
        "biz": "20261203", "path": "/in/20261203/${biz}", "asked": "${biz}", "secret": "s3cr3t",
    }  # fmt: skip


def test_unknown_names_escapes_and_nulls_stay_as_written() -> None:
    assert resolve({"h": "${HOME}", "e": "$${yyyyMMdd}", "n": None}) == {"h": "${HOME}", "e": "${yyyyMMdd}", "n": None}


def test_a_run_stored_before_provenance_keeps_file_arrival_paths_as_data() -> None:
    assert resolve({"file_arrival_paths": '["${yyyyMMdd}.csv"]'}, data=None) == {
        "file_arrival_paths": '["${yyyyMMdd}.csv"]'
    }


def test_nothing_to_resolve_returns_the_stored_text_itself() -> None:
    text = '{"a": "x"}'
    assert resolved_run_params(text, SCHEDULE_MS, "Asia/Shanghai", set()) is text


def test_past_the_read_budget_the_parameters_show_as_defined() -> None:
    doubling = {"a0": "x" * 1000, **{f"a{i}": f"${{a{i - 1}}}${{a{i - 1}}}" for i in range(1, 25)}}
    text = json.dumps(doubling)
    assert resolved_run_params(text, SCHEDULE_MS, "Asia/Shanghai", set()) == text
    assert resolved_run_params(json.dumps({"d": "${yyyyMMdd}"}), SCHEDULE_MS, "Nowhere/Zone", set()) == (
        '{"d": "${yyyyMMdd}"}'
    )


def test_outputs_join_the_extensions_as_json_text() -> None:
    ext = extensions_with_outputs('{"runPriority":"6"}', json.dumps({"total_amount": "42"}))
    assert json.loads(ext) == {"runPriority": "6", "taskOutputs": '{"total_amount":"42"}'}


def test_a_cut_value_is_named_with_its_full_length() -> None:
    ext = json.loads(extensions_with_outputs("{}", json.dumps({"big": "x" * 5000, "small": "1"})))
    assert json.loads(ext["taskOutputs"]) == {"big": "x" * OUTPUT_VALUE_CHARS, "small": "1"}
    assert json.loads(ext["taskOutputsTruncated"]) == {"big": 5000}


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=6000), max_size=8))
def test_bounds_hold_and_uncut_values_are_exact(outputs: dict[str, str]) -> None:
    shown, cut = bounded_outputs(outputs)
    assert shown.keys() == outputs.keys()
    assert sum(len(v) for v in shown.values()) <= OUTPUT_TOTAL_CHARS
    for name, value in shown.items():
        assert len(value) <= OUTPUT_VALUE_CHARS and outputs[name].startswith(value)
        assert (name in cut) == (value != outputs[name])
        if name in cut:
            assert cut[name] == len(outputs[name])
