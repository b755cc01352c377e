"""Parameter normalisation: flattened GET/v1 pairs and JSON bodies converge on one nested object."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from tencentcloud.common.abstract_client import AbstractClient

from trigflow.api.params import V1_COMMON_PARAMS, drop_nulls, parse_json_body, split_v1_common, unflatten
from trigflow.domain.errors import InvalidParameter

CAPTURED_GET = (
    "ProjectId=1460947878944567296&WorkflowExecutionId=d0bf&Filters.0.Name=TaskName&Filters.0.Values.0=s1"
    "&Filters.0.Values.1=a+b%26c%2F%E4%B8%AD&OrderFields.0.Name=CreateTime&OrderFields.0.Direction=DESC"
)


def sdk_flatten(params: dict[str, Any]) -> dict[str, str]:
    """The Python SDK's own flattening (used for GET and v1), values stringified as urlencode would."""
    flat = AbstractClient._format_params(AbstractClient.__new__(AbstractClient), None, params)
    return {k: str(v) for k, v in flat.items()}


# ------------------------------------------------------------------------------------------- unflatten


def test_captured_get_query() -> None:
    assert unflatten(parse_qsl(CAPTURED_GET, keep_blank_values=True)) == {
        "ProjectId": "1460947878944567296",
        "WorkflowExecutionId": "d0bf",
        "Filters": [{"Name": "TaskName", "Values": ["s1", "a b&c/中"]}],
        "OrderFields": [{"Name": "CreateTime", "Direction": "DESC"}],
    }


def test_indices_in_any_order() -> None:
    # Go sorts keys as strings, so A.10 arrives before A.2.
    pairs = [(f"A.{i}", str(i)) for i in sorted(range(12), key=str)]
    assert unflatten(pairs) == {"A": [str(i) for i in range(12)]}


def test_values_stay_strings_and_empty_values_survive() -> None:
    assert unflatten([("Page", "1"), ("All", "True"), ("Name", "")]) == {"Page": "1", "All": "True", "Name": ""}


def test_empty_input() -> None:
    assert unflatten([]) == {}


def test_nested_lists_of_lists() -> None:
    pairs = [("M.0.0", "a"), ("M.0.1", "b"), ("M.1.0", "c")]
    assert unflatten(pairs) == {"M": [["a", "b"], ["c"]]}


def test_round_trip_example_through_sdk_flattening() -> None:
    params: dict[str, Any] = {
        "ProjectId": "1",
        "Filters": [{"Name": "Status", "Values": ["RUNNING", "FAILED"]}, {"Name": "X", "Values": ["y"]}],
        "Obj": {"Inner": {"Deep": "v"}, "List": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]},
    }
    assert unflatten(sdk_flatten(params).items()) == params


def random_tree(rng: random.Random, depth: int = 0) -> Any:
    """A random non-empty parameter tree: empty containers cannot survive flattening, so none are made."""
    kind = rng.choice(["leaf", "leaf", "list", "dict"] if depth < 4 else ["leaf"])
    if kind == "list":
        return [random_tree(rng, depth + 1) for _ in range(rng.randint(1, 12))]
    if kind == "dict":
        return {rng.choice(NAMES): random_tree(rng, depth + 1) for _ in range(rng.randint(1, 4))}
    return "".join(rng.choice("ab 1.&=中") for _ in range(rng.randint(0, 4)))


NAMES = ["ProjectId", "Filters", "Name", "Values", "A", "B", "Obj", "Tag_1"]


@pytest.mark.parametrize("seed", range(50))
def test_round_trip_random_trees(seed: int) -> None:
    rng = random.Random(seed)
    params = {rng.choice(NAMES): random_tree(rng) for _ in range(rng.randint(1, 5))}
    flat = sdk_flatten(params)
    assert unflatten(flat.items()) == params
    shuffled = list(flat.items())
    rng.shuffle(shuffled)
    assert unflatten(shuffled) == params
    # and through the wire encoding a GET or v1 request really uses
    assert unflatten(parse_qsl(urlencode(flat), keep_blank_values=True)) == params


@pytest.mark.parametrize(
    ("pairs", "named"),
    [
        ([("A.0", "x"), ("A.2", "z")], "A.2"),  # gap
        ([("A.1", "x")], "A.1"),  # does not start at 0
        ([("A.0.B", "x"), ("A.1.B", "y"), ("A.3.B", "z")], "A.3"),
        ([("A.0", "x"), ("A.B", "y")], "A.B"),  # index then name
        ([("A.B", "y"), ("A.0", "x")], "A.0"),  # name then index
        ([("0", "x")], "0"),  # top-level index
        ([("A..B", "x")], "A..B"),
        ([(".A", "x")], ".A"),
        ([("A.", "x")], "A."),
        ([("", "x")], ""),
        ([("A.01", "x")], "A.01"),  # leading zero would alias index 1
        ([("A", "x"), ("A", "y")], "A"),  # duplicate
        ([("A", "x"), ("A.B", "y")], "A.B"),  # value, then children
        ([("A.B", "y"), ("A", "x")], "A"),  # children, then value
        ([("A.0", "x"), ("A.0.B", "y")], "A.0.B"),
    ],
)
def test_malformed_keys(pairs: list[tuple[str, str]], named: str) -> None:
    with pytest.raises(InvalidParameter) as exc:
        unflatten(pairs)
    assert exc.value.code == "InvalidParameter"
    assert repr(named) in exc.value.message


def test_huge_index_is_a_gap_not_an_allocation() -> None:
    with pytest.raises(InvalidParameter):
        unflatten([("A.999999999999", "x")])


# -------------------------------------------------------------------------------------- parse_json_body


def test_json_object() -> None:
    body = json.dumps({"ProjectId": "1", "PageNumber": 2, "All": True, "Ids": ["a"]}).encode()
    assert parse_json_body(body) == {"ProjectId": "1", "PageNumber": 2, "All": True, "Ids": ["a"]}


def test_python_escaped_and_raw_utf8_bodies_are_equal() -> None:
    python_style = json.dumps({"Name": "中文"}).encode()  # \\u escapes, ", " separators
    go_style = json.dumps({"Name": "中文"}, ensure_ascii=False, separators=(",", ":")).encode()
    assert b"\\u" in python_style
    assert parse_json_body(python_style) == parse_json_body(go_style) == {"Name": "中文"}


def test_nulls_dropped_recursively() -> None:
    body = b'{"A": null, "B": {"C": null, "D": 1}, "ProjectIds": [null], "L": [1, null, {"E": null}, [null]]}'
    assert parse_json_body(body) == {"B": {"D": 1}, "ProjectIds": [], "L": [1, {}, []]}


def test_drop_nulls_leaves_scalars() -> None:
    assert drop_nulls("x") == "x"
    assert drop_nulls(0) == 0
    assert drop_nulls(False) is False


def test_empty_body_is_an_empty_object() -> None:
    assert parse_json_body(b"") == {}
    assert parse_json_body(b"{}") == {}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[]", "an array"),
        (b'"x"', "a string"),
        (b"1", "a number"),
        (b"true", "a boolean"),
        (b"null", "null"),
        (b"   ", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b'{"A": 1,}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"A": "\xc3"}', "not valid UTF-8"),
        (b'{"A": 1, "A": 2}', "repeats the key 'A'"),
        (b'{"A": NaN}', "NaN"),
        (b'{"A": -Infinity}', "-Infinity"),
        (b"[" * 100_000 + b"]" * 100_000, ""),
    ],
)
def test_bad_bodies(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidParameter) as exc:
        parse_json_body(body)
    assert fragment in exc.value.message


def test_deeply_nested_object_is_refused_cleanly() -> None:
    with pytest.raises(InvalidParameter):
        parse_json_body(b'{"A": ' + b'{"A": ' * 100_000 + b"1" + b"}" * 100_001)


# ------------------------------------------------------------------------------------- split_v1_common


def test_split_v1_common() -> None:
    form = {
        "Action": "KillTriggerWorkflowRuns",
        "Version": "2025-08-06",
        "Region": "ap-guangzhou",
        "Timestamp": "1767225600",
        "Nonce": "42",
        "SecretId": "AKID",
        "SignatureMethod": "HmacSHA256",
        "Signature": "sig",
        "Token": "t",
        "Language": "zh-CN",
        "RequestClient": "SDK_PYTHON_3.1.195",
        "ProjectId": "1",
        "Filters.0.Name": "TaskName",
    }
    common, action_params = split_v1_common(form)
    assert set(common) == V1_COMMON_PARAMS
    assert action_params == {"ProjectId": "1", "Filters.0.Name": "TaskName"}
    assert form["Signature"] == "sig"  # input untouched


def test_split_v1_common_is_case_sensitive() -> None:
    common, action_params = split_v1_common({"action": "x", "Action": "Y"})
    assert common == {"Action": "Y"}
    assert action_params == {"action": "x"}


def test_lone_surrogate_escapes_are_refused_and_pairs_are_kept() -> None:
    """A lone `\\ud800` is valid JSON but not Unicode: no UTF-8 column or response could hold it."""
    assert parse_json_body(b'{"Name": "\\ud83d\\ude00"}') == {"Name": "\U0001f600"}
    for body in (b'{"Name": "a\\ud800b"}', b'{"\\udc00": 1}', b'{"L": [{"X": "\\uDBFF"}]}'):
        with pytest.raises(InvalidParameter, match="surrogate"):
            parse_json_body(body)


# --- numbers JSON can write but Python cannot hold (issue 11: a 5,000-digit integer was an InternalError)


@pytest.mark.parametrize(
    "literal", ["9" * 5000, "-" + "9" * 5000, "1" * 41, "1e400", "-1e400", "1" * 400 + "e0", "1.5e308" + "0" * 3]
)
def test_numbers_too_big_to_hold_are_invalid_parameter(literal: str) -> None:
    with pytest.raises(InvalidParameter, match="the JSON body holds"):
        parse_json_body(f'{{"PageNumber": {literal}}}'.encode())


@pytest.mark.parametrize("literal", ["9" * 40, "-" + "9" * 40, "1.7976931348623157e308", "1e-400", "0.5"])
def test_big_but_representable_numbers_parse_for_the_wire_to_judge(literal: str) -> None:
    assert parse_json_body(f'{{"PageNumber": {literal}}}'.encode())["PageNumber"] == json.loads(literal)
