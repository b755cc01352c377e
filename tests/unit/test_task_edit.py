"""Pure editing rules of task definitions: FieldToRemoveList parsing, keyed upserts/removals, owners, categories."""

from __future__ import annotations

import pytest

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.keyed_patch import patch_list
from trigflow.domain.task_edit import (
    CONFIG,
    LIST_KEYS,
    REMOVAL_PATHS,
    SCHEDULER,
    category_type_ids,
    check_unique_keys,
    join_owners,
    parse_task_removals,
)

UP = "TaskSchedulerConfiguration/UpstreamDependencyConfigList"


def refused(fn: object, *args: object) -> str:
    with pytest.raises(InvalidParameterValue) as exc:
        fn(*args)  # type: ignore[operator]
    return exc.value.message


def test_removals_are_grouped_per_list_with_whitespace_trimmed() -> None:
    removals = parse_task_removals(
        [
            f" {UP} : 1 , 2 ",
            "TaskConfiguration / TaskSchedulingParameterList:p",
            f"{UP}:2,3",
            "TaskSchedulerConfiguration/TaskOutputRegistryList:t1",
        ]
    )
    assert dict(removals.of((SCHEDULER, "UpstreamDependencyConfigList"))) == {"1": 0, "2": 0, "3": 2}
    assert dict(removals.of((CONFIG, "TaskSchedulingParameterList"))) == {"p": 1}
    assert dict(removals.of((SCHEDULER, "TaskOutputRegistryList"))) == {"t1": 3}
    assert removals.entry(2) == f"FieldToRemoveList.2 '{UP}:2,3'"


def test_each_removable_list_has_its_natural_key() -> None:
    assert {path: LIST_KEYS[target] for path, target in REMOVAL_PATHS.items()} == {
        "TaskConfiguration/TaskSchedulingParameterList": "ParamKey",
        UP: "TaskId",
        "TaskSchedulerConfiguration/ParamTaskOutList": "ParamKey",
        "TaskSchedulerConfiguration/ParamTaskInList": "ParamKey",
        "TaskSchedulerConfiguration/TaskOutputRegistryList": "TablePhysicalId",
    }


def test_known_but_unsupported_paths_are_ignored() -> None:
    removals = parse_task_removals(
        [
            "TaskSchedulerConfiguration/EventListenerList:x",
            "TaskSchedulerConfiguration/DownStreamDependencyConfigList :y",
        ]
    )
    assert removals.keys == {}


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
    message = refused(parse_task_removals, entries)
    for mention in mentions:
        assert mention in message


def test_task_lists_patch_like_workflow_lists() -> None:
    """Upsert in place by key, append new keys, refuse a key sent twice or a removal of a missing key."""
    existing = [{"ParamKey": "a", "ParamValue": "1"}, {"ParamKey": "b", "ParamValue": "1"}]
    new = [{"ParamKey": "b", "ParamValue": "2"}, {"ParamKey": "c", "ParamValue": "3"}]
    none = parse_task_removals([])
    merged = patch_list(existing, new, "ParamKey", {}, none, sent_path="P", what="L").items
    assert merged == [
        {"ParamKey": "a", "ParamValue": "1"},
        {"ParamKey": "b", "ParamValue": "2"},
        {"ParamKey": "c", "ParamValue": "3"},
    ]
    assert existing[1]["ParamValue"] == "1"  # inputs are not modified
    twice = [{"TaskId": "1"}, {"TaskId": "1"}]
    message = refused(lambda: patch_list([], twice, "TaskId", {}, none, sent_path="NewSetting.X.List", what="L"))
    assert "NewSetting.X.List.1.TaskId" in message and "'1'" in message
    removals = parse_task_removals([f"{UP}:1,9"])
    gone = removals.of((SCHEDULER, "UpstreamDependencyConfigList"))
    items = [{"TaskId": "1"}, {"TaskId": "2"}]
    message = refused(lambda: patch_list(items, None, "TaskId", gone, removals, sent_path="S", what="the list"))
    assert "FieldToRemoveList.0" in message and "'9'" in message
    ok = parse_task_removals([f"{UP}:1"])
    upstreams = ok.of((SCHEDULER, "UpstreamDependencyConfigList"))
    kept = patch_list(items, None, "TaskId", upstreams, ok, sent_path="S", what="L")
    assert kept.items == [{"TaskId": "2"}]


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
