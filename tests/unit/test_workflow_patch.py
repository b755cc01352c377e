"""FieldToRemoveList parsing and merge-by-key of UpdateTriggerWorkflowPartially (domain/workflow_patch.py)."""

from __future__ import annotations

from typing import Any

import pytest

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.workflow_patch import (
    GENERAL,
    PARAMS,
    TRIGGERS,
    parse_workflow_removals,
    patch_collection,
)

NONE = parse_workflow_removals([])


def refused(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidParameterValue) as exc:
        fn(*args, **kwargs)
    return exc.value.message


def test_parse_collections_keys_and_whitespace() -> None:
    r = parse_workflow_removals(
        ["WorkflowParams:k1, k2", "TriggerWorkflowSchedulerConfigurations :t-1", " GeneralTaskParams : SPARK_SQL "]
    )
    assert dict(r.of(PARAMS)) == {"k1": 0, "k2": 0}
    assert dict(r.of(TRIGGERS)) == {"t-1": 1}
    assert dict(r.of(GENERAL)) == {"SPARK_SQL": 2}
    assert r.of("Other") == {}


def test_parse_keeps_the_first_entry_naming_a_key() -> None:
    r = parse_workflow_removals(["WorkflowParams:a", "WorkflowParams:b,a"])
    assert dict(r.of(PARAMS)) == {"a": 0, "b": 1}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("WorkflowParams", ("FieldToRemoveList.0", "<Collection>:<key>")),
        ("Tasks:1", ("FieldToRemoveList.0", "'Tasks'", "WorkflowParams")),
        ("WorkflowParams:", ("FieldToRemoveList.0", "empty ParamKey")),
        ("WorkflowParams:a,,b", ("FieldToRemoveList.0", "empty ParamKey")),
        ("GeneralTaskParams: ", ("empty Type",)),
    ],
)
def test_parse_refusals_name_the_entry(entry: str, words: tuple[str, ...]) -> None:
    message = refused(parse_workflow_removals, [entry])
    for word in words:
        assert word in message


def test_params_upsert_in_place_and_append_new_keys() -> None:
    stored = [{"ParamKey": "a", "ParamValue": "1"}, {"ParamKey": "b", "ParamValue": "2"}]
    out = patch_collection(
        PARAMS, stored, [{"ParamKey": "c", "ParamValue": "3"}, {"ParamKey": "a", "ParamValue": "9"}], NONE,
        sent_path="NewSetting.WorkflowParams",
    )  # fmt: skip
    assert out.items == [
        {"ParamKey": "a", "ParamValue": "9"},
        {"ParamKey": "b", "ParamValue": "2"},
        {"ParamKey": "c", "ParamValue": "3"},
    ]
    assert out.origins == [1, None, 0]
    assert stored[0]["ParamValue"] == "1"  # inputs are not modified


def test_removal_then_nothing_sent() -> None:
    stored = [{"ParamKey": "a", "ParamValue": "1"}, {"ParamKey": "b", "ParamValue": "2"}]
    out = patch_collection(PARAMS, stored, None, parse_workflow_removals(["WorkflowParams:a"]), sent_path="x")
    assert out.items == [{"ParamKey": "b", "ParamValue": "2"}] and out.origins == [None]


def test_unknown_removed_key_names_the_entry() -> None:
    removals = parse_workflow_removals(["GeneralTaskParams:SPARK_SQL", "WorkflowParams:a,zz"])
    message = refused(patch_collection, PARAMS, [{"ParamKey": "a"}], [], removals, sent_path="x")
    assert "FieldToRemoveList.1" in message and "'zz'" in message and "ParamKey" in message


def test_key_both_removed_and_sent_is_refused() -> None:
    removals = parse_workflow_removals(["WorkflowParams:a"])
    message = refused(
        patch_collection, PARAMS, [{"ParamKey": "a"}], [{"ParamKey": "a", "ParamValue": "2"}], removals,
        sent_path="NewSetting.WorkflowParams",
    )  # fmt: skip
    assert "NewSetting.WorkflowParams.0.ParamKey" in message and "FieldToRemoveList.0" in message


def test_duplicated_sent_key_is_refused() -> None:
    message = refused(
        patch_collection, GENERAL, [], [{"Type": "SPARK_SQL"}, {"Type": "SPARK_SQL"}], NONE,
        sent_path="NewSetting.GeneralTaskParams",
    )  # fmt: skip
    assert "NewSetting.GeneralTaskParams.1.Type" in message and "duplicated" in message


def test_general_params_need_a_type() -> None:
    message = refused(patch_collection, GENERAL, [], [{"Value": "x"}], NONE, sent_path="NewSetting.GeneralTaskParams")
    assert "NewSetting.GeneralTaskParams.0.Type" in message


def test_triggers_merge_fields_by_trigger_id_and_add_new_ones() -> None:
    stored = [
        {"TriggerId": "t1", "CycleType": "DAY_CYCLE", "CrontabExpression": "0 0 1 * * ? *"},
        {"TriggerId": "t2", "CycleType": "HOUR_CYCLE"},
    ]
    sent = [{"CycleType": "MINUTE_CYCLE"}, {"TriggerId": "t1", "CrontabExpression": "0 0 2 * * ? *"}]
    out = patch_collection(TRIGGERS, stored, sent, NONE, sent_path="NewSetting.T")
    assert out.items == [
        {"TriggerId": "t1", "CycleType": "DAY_CYCLE", "CrontabExpression": "0 0 2 * * ? *"},
        {"TriggerId": "t2", "CycleType": "HOUR_CYCLE"},
        {"CycleType": "MINUTE_CYCLE"},
    ]
    assert out.origins == [1, None, 0]


def test_unknown_trigger_id_is_refused_and_removal_works() -> None:
    stored = [{"TriggerId": "t1"}, {"TriggerId": "t2"}]
    message = refused(patch_collection, TRIGGERS, stored, [{"TriggerId": "t9"}], NONE, sent_path="NewSetting.T")
    assert "NewSetting.T.0.TriggerId" in message and "'t9'" in message
    removals = parse_workflow_removals(["TriggerWorkflowSchedulerConfigurations : t2"])
    assert patch_collection(TRIGGERS, stored, [], removals, sent_path="x").items == [{"TriggerId": "t1"}]
