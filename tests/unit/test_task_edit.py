"""Pure editing rules of task definitions: FieldToRemoveList parsing, keyed upserts/removals, owners, categories."""

from __future__ import annotations

import pytest

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.task_edit import (
    CONFIG,
    SCHEDULER,
    category_type_ids,
    check_unique_keys,
    join_owners,
    parse_removals,
    remove_keyed,
    upsert_keyed,
)

UP = "TaskSchedulerConfiguration/UpstreamDependencyConfigList"


def refused(fn: object, *args: object) -> str:
    with pytest.raises(InvalidParameterValue) as exc:
        fn(*args)  # type: ignore[operator]
    return exc.value.message


def test_removals_are_grouped_per_list_with_whitespace_trimmed() -> None:
    removals = parse_removals(
        [
            f" {UP} : 1 , 2 ",
            "TaskConfiguration / TaskSchedulingParameterList:p",
            f"{UP}:2,3",
            "TaskSchedulerConfiguration/TaskOutputRegistryList:t1",
        ]
    )
    by_field = {r.field: r for r in removals}
    assert [r.field for r in removals] == [
        "UpstreamDependencyConfigList",
        "TaskSchedulingParameterList",
        "TaskOutputRegistryList",
    ]
    up = by_field["UpstreamDependencyConfigList"]
    assert (up.section, up.key_field, up.keys) == (SCHEDULER, "TaskId", ("1", "2", "3"))
    assert (up.entry("1"), up.entry("2"), up.entry("3")) == ("FieldToRemoveList.0",) * 2 + ("FieldToRemoveList.2",)
    params = by_field["TaskSchedulingParameterList"]
    assert (params.section, params.key_field, params.keys) == (CONFIG, "ParamKey", ("p",))
    assert by_field["TaskOutputRegistryList"].key_field == "TablePhysicalId"


def test_param_lists_are_keyed_by_param_key() -> None:
    (out, inp) = parse_removals(
        ["TaskSchedulerConfiguration/ParamTaskOutList:o", "TaskSchedulerConfiguration/ParamTaskInList:i"]
    )
    assert (out.field, out.key_field, inp.field, inp.key_field) == (
        "ParamTaskOutList",
        "ParamKey",
        "ParamTaskInList",
        "ParamKey",
    )


def test_known_but_unsupported_paths_are_ignored() -> None:
    assert (
        parse_removals(
            [
                "TaskSchedulerConfiguration/EventListenerList:x",
                "TaskSchedulerConfiguration/DownStreamDependencyConfigList :y",
            ]
        )
        == []
    )


@pytest.mark.parametrize(
    ("entries", "mentions"),
    [
        ([f"{UP}:1", "Nope/List:1"], ("FieldToRemoveList.1", "Nope/List")),
        (["TriggerTaskSchedulerConfiguration/UpstreamDependencyConfigList:1"], ("FieldToRemoveList.0", "supported")),
        ([UP], ("FieldToRemoveList.0", "<Path>:<key1>,<key2>")),
        ([f"{UP}:"], ("FieldToRemoveList.0",)),
        ([f"{UP}: , ,"], ("FieldToRemoveList.0",)),
        ([":1"], ("FieldToRemoveList.0",)),
        (["taskschedulerconfiguration/upstreamdependencyconfiglist:1"], ("FieldToRemoveList.0",)),
    ],
)
def test_bad_removal_entries_are_refused_by_index(entries: list[str], mentions: tuple[str, ...]) -> None:
    message = refused(parse_removals, entries)
    for mention in mentions:
        assert mention in message


def test_upsert_replaces_in_place_and_appends_new_keys() -> None:
    existing = [{"ParamKey": "a", "ParamValue": "1"}, {"ParamKey": "b", "ParamValue": "1"}]
    new = [{"ParamKey": "b", "ParamValue": "2"}, {"ParamKey": "c", "ParamValue": "3"}]
    merged = upsert_keyed(existing, new, "ParamKey", "P")
    assert merged == [
        {"ParamKey": "a", "ParamValue": "1"},
        {"ParamKey": "b", "ParamValue": "2"},
        {"ParamKey": "c", "ParamValue": "3"},
    ]
    assert existing[1]["ParamValue"] == "1"  # inputs are not modified
    assert upsert_keyed([], new, "ParamKey", "P") == new
    assert upsert_keyed(existing, [], "ParamKey", "P") == existing


def test_upsert_refuses_a_key_twice_in_the_patch() -> None:
    message = refused(upsert_keyed, [], [{"TaskId": "1"}, {"TaskId": "1"}], "TaskId", "NewSetting.X.List")
    assert "NewSetting.X.List.1.TaskId" in message and "'1'" in message


def test_remove_reports_missing_keys() -> None:
    items = [{"TaskId": "1"}, {"TaskId": "2"}, {"TaskId": "3"}]
    assert remove_keyed(items, "TaskId", ["1", "3"]) == ([{"TaskId": "2"}], [])
    assert remove_keyed(items, "TaskId", ["2", "9"]) == ([{"TaskId": "1"}, {"TaskId": "3"}], ["9"])
    assert remove_keyed([], "TaskId", ["9"]) == ([], ["9"])


def test_unique_keys() -> None:
    check_unique_keys([{"ParamKey": "a"}, {"ParamKey": "b"}], "ParamKey", "L")
    assert "L.2.ParamKey" in refused(
        check_unique_keys, [{"ParamKey": "a"}, {"ParamKey": "b"}, {"ParamKey": "a"}], "ParamKey", "L"
    )


def test_owners_are_joined_like_wedata() -> None:
    assert join_owners(["1", " 2 ", "1"], "OwnerIds") == "1;2"
    assert "OwnerIds.1" in refused(join_owners, ["1", " "], "OwnerIds")
    assert "OwnerIds.0" in refused(join_owners, ["1;2"], "OwnerIds")
    assert "OwnerIds" in refused(join_owners, [], "OwnerIds")


def test_node_categories() -> None:
    assert category_type_ids(["GENERAL"], "T") >= {30, 35, 131, 140}
    assert category_type_ids(["dlc", "ETL"], "T") == {32, 46, 50, 139, 20, 25, 26}
    assert category_type_ids(["DATA_QUALITY"], "T") == set()
    assert "T.1" in refused(category_type_ids, ["GENERAL", "SPARK"], "T")
