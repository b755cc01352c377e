"""Pure helpers of fix-and-rerun (issue 12): the `trigflow.rerun.versions` switch, keeping it out of run
parameters, and when a submit has nothing new to freeze."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.service.reruns import LATEST, ORIGINAL, VERSIONS_KEY, _refusals, apply_run_params, versions_choice
from trigflow.service.runs import run_time_params
from trigflow.service.tasks import SNAPSHOT_KEYS, unchanged_since_submit


def entry(key: str, value: Any) -> dict[str, Any]:
    return {"ParamKey": key, "ParamValue": value}


@pytest.mark.parametrize(
    ("advanced", "expected"),
    [
        (None, LATEST),
        ([], LATEST),
        ([entry("color", "red")], LATEST),
        ([entry(VERSIONS_KEY, "latest")], LATEST),
        ([entry("color", "red"), entry(VERSIONS_KEY, "original")], ORIGINAL),
    ],
)
def test_versions_choice(advanced: Any, expected: str) -> None:
    assert versions_choice(advanced) == expected


@pytest.mark.parametrize("value", ["Original", "LATEST", "", None, 1, "newest"])
def test_versions_choice_refuses_unknown_values_by_name(value: Any) -> None:
    with pytest.raises(InvalidParameterValue) as e:
        versions_choice([entry("x", "1"), entry(VERSIONS_KEY, value)])
    assert "AdvancedParams.1.ParamValue" in str(e.value) and VERSIONS_KEY in str(e.value)
    assert "'latest'" in str(e.value) and "'original'" in str(e.value)


def test_versions_choice_refuses_the_switch_twice() -> None:
    with pytest.raises(InvalidParameterValue) as e:
        versions_choice([entry(VERSIONS_KEY, "latest"), entry(VERSIONS_KEY, "latest")])
    assert "AdvancedParams.1.ParamKey" in str(e.value) and "AdvancedParams.0" in str(e.value)


keys = st.sampled_from(["a", "b", "color", VERSIONS_KEY])
values = st.one_of(st.none(), st.text(max_size=5))


@given(
    advanced=st.lists(st.tuples(keys, values), max_size=6),
    params=st.dictionaries(keys, values, max_size=4),
)
def test_apply_run_params_is_run_time_params_without_the_switch(
    advanced: list[tuple[str, Any]], params: dict[str, Any]
) -> None:
    """Whatever the request, the switch never becomes, overwrites or removes a run parameter, and every
    other entry is applied as a new run's AdvancedParams are."""
    got = dict(params)
    names = apply_run_params([entry(k, v) for k, v in advanced], got, 1000)
    expected = dict(params)
    expected_names = run_time_params([entry(k, v) for k, v in advanced if k != VERSIONS_KEY], expected, 1000)
    assert (got, names) == (expected, expected_names)
    assert VERSIONS_KEY not in names


def test_apply_run_params_keeps_request_indexes_in_messages() -> None:
    with pytest.raises(InvalidParameterValue) as e:
        apply_run_params([entry(VERSIONS_KEY, "latest"), entry("v", "x" * 11)], {}, 10)
    assert "AdvancedParams.1.ParamValue" in str(e.value)


SNAPSHOT = {
    "name": "load",
    "description": None,
    "task_type_id": 30,
    "owner_uin": "100000000001",
    "config": {"CodeContent": "cHJpbnQoMSk=", "TaskSchedulingParameterList": [entry("a", "1"), entry("b", "2")]},
    "scheduler": {"MaxRetryNumber": 0, "UpstreamDependencyConfigList": [{"TaskId": "t1"}]},
    "upstream": ["t1"],
    "folder_path": None,
}


def task_row(**changes: Any) -> dict[str, Any]:
    """A task row as the store returns it: the snapshot's keys plus bookkeeping a submit never compares."""
    return {**copy.deepcopy(SNAPSHOT), "task_id": "t2", "version_no": 7, "update_ms": 123, **changes}


def test_nothing_new_compares_contents_not_save_numbers() -> None:
    submitted = {**SNAPSHOT, "save_version_no": 3}  # frozen at save 3; saves 4..7 changed nothing
    assert set(SNAPSHOT) == set(SNAPSHOT_KEYS)
    assert unchanged_since_submit(task_row(), submitted)
    assert unchanged_since_submit(task_row(update_ms=999, version_no=8), submitted)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "load2"},
        {"description": ""},  # empty is not absent
        {"owner_uin": "100000000002"},
        {"folder_path": "/a"},
        {"upstream": []},
        {"config": {**SNAPSHOT["config"], "CodeContent": "cHJpbnQoMik="}},
        {"config": {**SNAPSHOT["config"], "TaskSchedulingParameterList": [entry("b", "2"), entry("a", "1")]}},
        {"config": {**SNAPSHOT["config"], "ResourceGroup": "rg"}},
        {"scheduler": {**SNAPSHOT["scheduler"], "MaxRetryNumber": 1}},
    ],
)
def test_any_changed_value_is_new(changes: dict[str, Any]) -> None:
    assert not unchanged_since_submit(task_row(**changes), SNAPSHOT)


def test_a_snapshot_missing_a_key_is_not_current() -> None:
    """A SUBMIT frozen before a snapshot key existed differs from a task that has a value for it."""
    old = {k: v for k, v in SNAPSHOT.items() if k != "folder_path"}
    assert unchanged_since_submit(task_row(), old)  # folder_path None either way
    assert not unchanged_since_submit(task_row(folder_path="/f"), old)


def test_refusals_name_tasks_and_reasons() -> None:
    latest = {t: {"task_name": f"n{t}"} for t in ("1", "2", "3")}
    version: dict[str, Any] = {"snapshot": {}}
    assert _refusals(["1", "2"], latest, {"1": version, "2": version}, {"1", "2"}) is None
    desc = _refusals(["1", "2", "3"], latest, {"1": version, "2": version}, {"1"})
    assert desc is not None
    redo, gone = desc.split("; ", 1)
    assert redo == "AllowRedoType refused 1 of 3 tasks: 2 (n2)"
    assert gone.startswith("1 of 3 tasks have no submitted version any more") and "3 (n3)" in gone
    assert f"{VERSIONS_KEY}={ORIGINAL}" in gone
