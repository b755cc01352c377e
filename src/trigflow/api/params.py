"""Turn the three wire forms of action parameters into one nested JSON-like object.

TC3 POST sends a JSON body; TC3 GET and legacy v1 send flattened `A.0.B=value` pairs (protocol.md §2).
Everything downstream (schema validation, coercion, dispatch) sees only the nested form, so this module
is where the forms converge. It is deliberately strict about structure (gaps, conflicts, duplicates),
because a silently "repaired" key would validate against a shape the client never sent, and lenient
about values: flattened values stay strings for the schema layer to coerce.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from trigflow.domain.errors import InvalidParameter

__all__ = ["V1_COMMON_PARAMS", "drop_nulls", "parse_json_body", "split_v1_common", "unflatten"]

# Common parameters of the legacy v1 form (protocol §2.3); everything else is an action parameter.
V1_COMMON_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "Region",
        "Timestamp",
        "Nonce",
        "SecretId",
        "SignatureMethod",
        "Signature",
        "Token",
        "Language",
        "RequestClient",
    }
)

# Canonical array index: "0" or no leading zero, so "01" cannot alias "1".
_INDEX_RE = re.compile(r"0|[1-9][0-9]*")
_DIGITS_RE = re.compile(r"[0-9]+")


class _Branch:
    """An interior node while unflattening; whether it becomes a list or a dict is fixed by the first
    child segment seen, so a later conflicting segment can be refused with the key that caused it."""

    __slots__ = ("children", "is_list", "path")

    def __init__(self, path: str, is_list: bool | None = None) -> None:
        self.path = path
        self.is_list = is_list
        self.children: dict[str | int, _Branch | str] = {}


def _malformed(key: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"malformed parameter key {key!r}: {why}")


def _segment(key: str, seg: str) -> str | int:
    if not seg:
        raise _malformed(key, "empty path segment")
    if _DIGITS_RE.fullmatch(seg):
        if not _INDEX_RE.fullmatch(seg):
            raise _malformed(key, f"array index {seg!r} has a leading zero")
        return int(seg)
    return seg


def _child_path(parent: str, seg: str | int) -> str:
    return f"{parent}.{seg}" if parent else str(seg)


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build nested dicts/lists from flattened `Parent.0.Child=value` pairs.

    Numeric segments are 0-based list indices, in any arrival order (Go sorts keys, so `A.10` may come
    before `A.2`). Refused with `InvalidParameter` naming the key: empty segments, leading-zero indices,
    a top-level index, gaps in an array, indices and names mixed under one parent, a key given both a
    value and children, and a key given twice.
    """
    root = _Branch("", is_list=False)
    for key, value in pairs:
        segments = [_segment(key, s) for s in key.split(".")]
        node = root
        for pos, seg in enumerate(segments):
            seg_is_index = isinstance(seg, int)
            if node.is_list is None:
                node.is_list = seg_is_index
            elif node.is_list != seg_is_index:
                if node is root:
                    raise _malformed(key, "a top-level parameter name cannot be an array index")
                kind = "array indices" if node.is_list else "field names"
                raise _malformed(key, f"{node.path!r} already holds {kind}; indices and names cannot be mixed")
            existing = node.children.get(seg)
            if pos == len(segments) - 1:
                if isinstance(existing, _Branch):
                    raise _malformed(key, "the key has a value and also nested keys")
                if existing is not None:
                    raise _malformed(key, "the key is given more than once")
                node.children[seg] = value
            else:
                if isinstance(existing, str):
                    path = _child_path(node.path, seg)
                    raise _malformed(key, f"{path!r} is a value and cannot have children")
                if existing is None:
                    existing = _Branch(_child_path(node.path, seg))
                    node.children[seg] = existing
                node = existing
    result = _build(root)
    assert isinstance(result, dict)
    return result


def _build(node: _Branch) -> dict[str, Any] | list[Any]:
    def value_of(child: _Branch | str) -> Any:
        return _build(child) if isinstance(child, _Branch) else child

    if not node.is_list:
        return {str(k): value_of(v) for k, v in node.children.items()}
    size = len(node.children)
    for expected in range(size):
        if expected not in node.children:
            # The highest index present proves a gap below it; name it so the client can find the key.
            highest = max(int(k) for k in node.children)
            raise _malformed(_child_path(node.path, highest), f"array {node.path!r} has no element at index {expected}")
    return [value_of(node.children[i]) for i in range(size)]


def drop_nulls(value: Any) -> Any:
    """Remove `null` object members and `null` array elements, recursively.

    The SDKs omit unset fields, but explicit nulls occur (`"ProjectIds": [null]` in an official
    example), and api-notes say to treat them exactly like absent, so validation never sees them.
    """
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last duplicate silently; a signed body that means two things is refused.
    obj: dict[str, Any] = {}
    for key, val in pairs:
        if key in obj:
            raise InvalidParameter(f"the JSON body repeats the key {key!r}")
        obj[key] = val
    return obj


def _reject_constant(name: str) -> Any:
    raise InvalidParameter(f"the JSON body contains {name}, which is not valid JSON")


# No wire integer is wider than uint64 (20 digits): a longer literal is refused while parsing, before
# Python's int-string conversion limit (4,300 digits) turns it into a ValueError nobody expects.
MAX_INTEGER_DIGITS = 40


def _parse_int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        raise InvalidParameter(
            f"the JSON body holds an integer of {digits} digits; integers have at most 20 (int64/uint64)"
        )
    return int(literal)


def _parse_float(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):  # 1e400: not representable; it would become an unserialisable infinity
        raise InvalidParameter(f"the JSON body holds a number out of range: {literal[:40]}")
    return number


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Parse a TC3 POST body: strict UTF-8 JSON whose top level is an object, nulls dropped.

    A zero-length body counts as `{}`: an action without parameters has nothing to send, and some HTTP
    clients omit the body rather than sending `{}`. Whitespace-only or any other non-object input is
    `InvalidParameter`, as are duplicate keys, the non-standard `NaN`/`Infinity` constants, integers
    longer than MAX_INTEGER_DIGITS and numbers that overflow a float (`1e400`).
    """
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParameter(f"the request body is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
        if not isinstance(data, dict):
            raise InvalidParameter(
                f"the request body must be a JSON object holding the action parameters, not {_kind(data)}"
            )
        cleaned = drop_nulls(data)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidParameter("the request body is nested too deeply") from None
    except ValueError as exc:  # any other conversion the decoder could not make: a bad body, not a bug
        raise InvalidParameter(f"the request body holds a value that cannot be read: {str(exc)[:100]}") from None
    assert isinstance(cleaned, dict)
    if _SURROGATE_ESCAPE.search(text) is not None:
        _refuse_lone_surrogates(cleaned)
    return cleaned


# `\ud800`-`\udfff` escapes: a valid pair decodes to one astral character, a lone half stays a surrogate
# that no UTF-8 database column or response can hold, so it is refused here, at the edge.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _refuse_lone_surrogates(data: dict[str, Any]) -> None:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameter(
            "the request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff); strings must be Unicode text"
        ) from None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def split_v1_common(params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Separate v1 common parameters (signing, routing, locale) from the flattened action parameters.

    v1 mixes both in one form; the action layer must only see its own parameters, otherwise `Nonce` or
    `Signature` would be reported as unknown parameters.
    """
    common: dict[str, str] = {}
    action_params: dict[str, str] = {}
    for key, value in params.items():
        (common if key in V1_COMMON_PARAMS else action_params)[key] = value
    return common, action_params
