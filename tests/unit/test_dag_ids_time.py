"""Static DAG checks, identifier formats and wire time formats."""

from __future__ import annotations

import itertools
import re
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from trigflow.domain.dag import find_cycle, topological_order
from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.ids import (
    StampAllocator,
    new_project_id,
    new_secret_id,
    new_secret_key,
    new_uin,
    new_uuid,
    stamp_ms,
)
from trigflow.domain.timefmt import cost_seconds, ms_str, parse_time_filter, parse_wall_time, wall_time

CST = timezone(timedelta(hours=8))
# 2025-12-04 11:40:01.234 UTC+8
T0 = int(datetime(2025, 12, 4, 11, 40, 1, 234000, tzinfo=CST).timestamp() * 1000)


# --- find_cycle / topological_order ------------------------------------------------------------------------


def _is_cycle(upstream: dict[str, list[str]], cycle: list[str]) -> bool:
    if len(cycle) < 2 or cycle[0] != cycle[-1]:
        return False
    return all(b in upstream[a] for a, b in itertools.pairwise(cycle))


@pytest.mark.parametrize(
    "upstream",
    [
        {},
        {"a": []},
        {"a": [], "b": ["a"], "c": ["b"]},
        {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]},
        {"b": ["a"], "a": []},
        {"a": ["outside"], "b": ["a", "gone"]},  # edges to unknown ids are ignored
    ],
)
def test_no_cycle(upstream: dict[str, list[str]]) -> None:
    assert find_cycle(upstream) is None


@pytest.mark.parametrize(
    "upstream",
    [
        {"a": ["a"]},
        {"a": ["b"], "b": ["a"]},
        {"a": [], "b": ["a", "d"], "c": ["b"], "d": ["c"]},
        {"x": [], "y": ["x"], "a": ["c"], "b": ["a"], "c": ["b"]},
        {"a": ["b", "outside"], "b": ["c"], "c": ["a"]},
    ],
)
def test_cycle_found(upstream: dict[str, list[str]]) -> None:
    cycle = find_cycle(upstream)
    assert cycle is not None
    assert _is_cycle(upstream, cycle), cycle
    assert len(set(cycle)) == len(cycle) - 1  # a simple cycle


def test_self_loop_cycle_shape() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_long_chain_no_recursion_problem() -> None:
    n = 500
    upstream = {f"t{i:04d}": ([f"t{i - 1:04d}"] if i else []) for i in range(n)}
    assert find_cycle(upstream) is None
    assert topological_order(upstream) == sorted(upstream)


def test_very_long_chain_visited_from_its_end() -> None:
    """Deeper than the recursion limit, visited from the downstream end (the search must be iterative)."""
    n = sys.getrecursionlimit() + 500
    upstream = {f"t{i:05d}": ([f"t{i - 1:05d}"] if i else []) for i in reversed(range(n))}
    assert find_cycle(upstream) is None
    upstream["t00000"] = [f"t{n - 1:05d}"]  # close the loop: a cycle through every task
    cycle = find_cycle(upstream)
    assert cycle is not None and len(cycle) == n + 1
    assert _is_cycle(upstream, cycle)


def _respects_edges(upstream: dict[str, list[str]], order: list[str]) -> bool:
    pos = {t: i for i, t in enumerate(order)}
    return all(pos[u] < pos[t] for t, ups in upstream.items() for u in ups if u in upstream)


def test_topological_order_diamond_ties_by_id() -> None:
    upstream = {"d": ["b", "c"], "c": ["a"], "b": ["a"], "a": []}
    assert topological_order(upstream) == ["a", "b", "c", "d"]


def test_topological_order_is_stable_and_respects_edges() -> None:
    upstream = {"z": [], "m": ["z"], "a": ["m", "outside"], "k": [], "b": ["k", "z"]}
    order = topological_order(upstream)
    assert sorted(order) == sorted(upstream)
    assert _respects_edges(upstream, order)
    assert order == ["k", "z", "b", "m", "a"]  # smallest ready id first
    assert topological_order(dict(reversed(list(upstream.items())))) == order


def test_topological_order_appends_cycle_members_sorted() -> None:
    upstream = {"a": [], "c": ["b"], "b": ["c"], "d": ["a"]}
    assert topological_order(upstream) == ["a", "d", "b", "c"]


def test_topological_order_empty() -> None:
    assert topological_order({}) == []


# --- identifiers -------------------------------------------------------------------------------------------


def test_project_id_is_19_digits() -> None:
    for _ in range(500):
        pid = new_project_id()
        assert re.fullmatch(r"[1-9]\d{18}", pid), pid


def test_uuid_uin_and_keys() -> None:
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", new_uuid())
    assert new_uuid() != new_uuid()
    assert re.fullmatch(r"[1-9]\d{11}", new_uin())
    assert re.fullmatch(r"AKID[A-Za-z0-9]{32}", new_secret_id())
    assert re.fullmatch(r"[A-Za-z0-9]{32}", new_secret_key())


def test_stamp_is_utc_plus_8() -> None:
    assert stamp_ms(T0) == "20251204114001234"
    assert stamp_ms(0) == "19700101080000000"
    assert stamp_ms(T0 - 234) == "20251204114001000"


def test_task_id_is_17_digit_stamp() -> None:
    a = StampAllocator()
    assert a.task_id(T0) == "20251204114001234"
    assert re.fullmatch(r"\d{17}", a.task_id(T0))


def test_task_ids_strictly_increase_within_one_ms() -> None:
    a = StampAllocator()
    got = [a.task_id(T0) for _ in range(1500)]  # crosses a second boundary
    assert got == sorted(got)
    assert len(set(got)) == len(got)
    assert got[1] == "20251204114001235"
    assert got[766] == "20251204114002000"
    assert all(len(t) == 17 for t in got)


def test_task_ids_increase_even_if_the_clock_goes_back() -> None:
    a = StampAllocator()
    first = a.task_id(T0)
    assert a.task_id(T0 - 60_000) > first
    assert a.task_id(T0 + 10) == stamp_ms(T0 + 10)  # catches up with a later clock


def test_task_ids_unique_across_threads() -> None:
    a = StampAllocator()
    out: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [a.task_id(T0) for _ in range(200)]
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 1600


def test_job_id_format() -> None:
    a = StampAllocator()
    j1, j2 = a.job_id(T0), a.job_id(T0 + 500)
    assert re.fullmatch(r"68\d{17}", j1)
    assert j1 == "6820251204114001000"
    assert j2 == "6820251204114001001"
    assert a.job_id(T0 + 1000) == "6820251204114002000"  # a new second restarts the sequence


def test_job_ids_unique_and_increasing_within_one_second() -> None:
    """Past 999 in one second the stamp moves ahead a second, so a wide fan dispatched at once never repeats."""
    a = StampAllocator()
    jobs = [a.job_id(T0) for _ in range(2500)]
    assert len(set(jobs)) == len(jobs)
    assert jobs == sorted(jobs)
    assert all(re.fullmatch(r"68\d{17}", j) for j in jobs)
    assert jobs[999] == "6820251204114001999"
    assert jobs[1000] == "6820251204114002000"
    assert jobs[2499] == "6820251204114003499"
    later = a.job_id(T0 + 1000)  # the real clock reaches a second already used: no repeat
    assert later > jobs[-1]
    assert a.job_id(T0 - 5000) > later  # nor when the clock goes back


def test_version_id_format() -> None:
    a = StampAllocator()
    task_id = a.task_id(T0)
    v1 = a.version_id(task_id, T0)
    v2 = a.version_id(task_id, T0)
    assert re.fullmatch(r"\d{17}_\d{17}", v1)
    assert v1.startswith(task_id + "_")
    assert v1 == "20251204114001234_20251204114001235"
    assert v2 == "20251204114001234_20251204114001236"
    assert v1 < v2


# --- time formats ------------------------------------------------------------------------------------------


def test_ms_str() -> None:
    assert ms_str(None) is None
    assert ms_str(T0) == str(T0)
    assert ms_str(0) == "0"


def test_wall_time_is_utc_plus_8() -> None:
    assert wall_time(None) is None
    assert wall_time(T0) == "2025-12-04 11:40:01"
    assert wall_time(0) == "1970-01-01 08:00:00"


@pytest.mark.parametrize("ms", [0, 1, 999, 1000, T0, T0 + 999, 4102444799000, 946684800000])
def test_wall_time_round_trip(ms: int) -> None:
    text = wall_time(ms)
    assert text is not None
    assert parse_wall_time(text, "X") == ms - ms % 1000  # second resolution
    assert wall_time(parse_wall_time(text, "X")) == text


def test_parse_wall_time() -> None:
    assert parse_wall_time("2025-12-04 11:40:01", "CreateTime") == T0 - 234
    assert parse_wall_time("  2025-12-04 11:40:01\n", "CreateTime") == T0 - 234
    assert parse_wall_time("1970-01-01 08:00:00", "X") == 0


@pytest.mark.parametrize(
    "text",
    ["", " ", "2025-12-04", "2025-12-04T11:40:01", "2025-12-04 11:40", "2025-13-04 11:40:01",
     "2025-02-30 00:00:00", "2025-12-04 24:00:00", "2025-12-04 11:40:01.123", "yesterday",
     "2025-12-04 11:40:01+08:00"],
)  # fmt: skip
def test_parse_wall_time_errors(text: str) -> None:
    with pytest.raises(InvalidParameterValue) as ei:
        parse_wall_time(text, "ModifyTime[0]")
    assert ei.value.code == "InvalidParameterValue"
    assert "ModifyTime[0]" in ei.value.message
    assert "yyyy-MM-dd HH:mm:ss" in ei.value.message


def test_parse_time_filter_forms() -> None:
    assert parse_time_filter(str(T0), "F") == T0  # epoch ms
    assert parse_time_filter(str(T0 // 1000), "F") == T0 - 234  # epoch seconds
    assert parse_time_filter(f" {T0} ", "F") == T0
    assert parse_time_filter("2025-12-04 11:40:01", "F") == T0 - 234
    assert parse_time_filter("1000000000000", "F") == 10**12  # the boundary counts as ms
    assert parse_time_filter("999999999999", "F") == 999999999999000
    assert parse_time_filter("0", "F") == 0


@pytest.mark.parametrize("text", ["", "-1", "1.5", "12abc", "abc", "2025/12/04 11:40:01"])
def test_parse_time_filter_errors(text: str) -> None:
    with pytest.raises(InvalidParameterValue) as ei:
        parse_time_filter(text, "Filters.ScheduleTimeGreaterEqual")
    assert "Filters.ScheduleTimeGreaterEqual" in ei.value.message


@pytest.mark.parametrize("text", ["²", "١٢٣٤", "１２３"])
def test_parse_time_filter_non_ascii_digits_are_invalid(text: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse_time_filter(text, "F")


def test_cost_seconds() -> None:
    assert cost_seconds(None, None, T0) is None
    assert cost_seconds(None, T0, T0) is None
    assert cost_seconds(T0, T0 + 1499, T0 + 10**6) == "1"
    assert cost_seconds(T0, T0 + 1500, 0) == "2"
    assert cost_seconds(T0, None, T0 + 18565_000) == "18565"  # live while waiting (semantics §3.4)
    assert cost_seconds(T0, T0, T0) == "0"
