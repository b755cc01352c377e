"""ExtraInfo's catchUpMaxFires (domain/schedule.catch_up_max_fires): checked at save, read totally later."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.schedule import MAX_CATCH_UP, catch_up_max_fires, compile_trigger

TRIGGER = {"TriggerMode": "TIME_TRIGGER", "ConfigMode": "CRON_EXPRESSION", "CrontabExpression": "0 0 * * * ? *"}
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@given(value=_json)
def test_catch_up_is_an_integer_in_range_or_refused_naming_the_key(value: Any) -> None:
    text = json.dumps({"catchUpMaxFires": value, "other": value})
    if type(value) is int and 0 <= value <= MAX_CATCH_UP:
        assert catch_up_max_fires({"ExtraInfo": text}, "T.0") == value
    else:
        with pytest.raises(InvalidParameterValue, match=r"T\.0\.ExtraInfo\.catchUpMaxFires"):
            catch_up_max_fires({"ExtraInfo": text}, "T.0")


@pytest.mark.parametrize("extra", [None, "", "not json", "[1, 2]", '"x"', '{"other": 1e400}', "{" * 100_000])
def test_extra_info_without_the_key_is_opaque(extra: str | None) -> None:
    assert catch_up_max_fires({"ExtraInfo": extra}) == 0


@pytest.mark.parametrize("literal", ["1e400", "9" * 5000, "-1", "101", "2.5", "true", '"3"'])
def test_compile_refuses_it_at_save_and_the_scheduler_reading_a_stored_row_does_not(literal: str) -> None:
    config = {**TRIGGER, "ExtraInfo": f'{{"catchUpMaxFires": {literal}}}'}
    with pytest.raises(InvalidParameterValue, match=r"ExtraInfo\.catchUpMaxFires"):
        compile_trigger(config, "UTC", path="TriggerWorkflowSchedulerConfigurations.0")
    assert compile_trigger(config, "UTC", strict=False).cron is not None


def test_extra_info_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidParameterValue, match="ExtraInfo must be a string"):
        catch_up_max_fires({"ExtraInfo": 5})
