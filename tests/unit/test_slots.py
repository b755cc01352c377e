"""Resource-group slot bookkeeping (domain/slots.py): priority, FIFO, capacity, stale entries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.slots import GroupQueues


def test_priority_first_then_first_come_first_served() -> None:
    q = GroupQueues()
    q.push("late-6", "g", 6, 1)
    q.push("early-6", "g", 6, 0)
    q.push("p5", "g", 5, 9)
    q.push("p4", "g", 4, 9)
    q.push("also-early-6", "g", 6, 0)
    assert list(q.startable(lambda _g: None)) == ["p4", "p5", "early-6", "also-early-6", "late-6"]


def test_capacity_is_rechecked_after_each_start() -> None:
    q = GroupQueues()
    for i in range(5):
        q.push(f"t{i}", "g", 6, i)
    started = []
    for exec_id in q.startable(lambda _g: 2):
        q.take("g")
        started.append(exec_id)
    assert started == ["t0", "t1"]
    assert q.in_use() == {"g": 2} and q.waiting() == {"t2", "t3", "t4"}
    q.release("g")
    for exec_id in q.startable(lambda _g: 2):
        q.take("g")
        started.append(exec_id)
    assert started == ["t0", "t1", "t2"] and q.waiting() == {"t3", "t4"}


def test_discarded_and_duplicate_entries_are_never_started() -> None:
    q = GroupQueues()
    assert q.push("a", "g", 6, 0) and not q.push("a", "g", 6, 1)
    q.push("b", "g", 6, 0)
    q.discard("a")
    assert not q.is_waiting("a") and q.is_waiting("b")
    assert list(q.startable(lambda _g: None)) == ["b"]
    assert q.waiting() == set()


def test_a_start_that_takes_no_slot_does_not_use_capacity() -> None:
    """A RunWorkflow node (no process) is started without `take`: the group's capacity is not spent."""
    q = GroupQueues()
    for i in range(3):
        q.push(f"t{i}", "g", 6, i)
    assert list(q.startable(lambda _g: 1)) == ["t0", "t1", "t2"]


def test_release_never_goes_below_zero() -> None:
    q = GroupQueues()
    q.release("g")
    assert q.in_use() == {}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(st.sampled_from(["push", "discard", "start", "release"]), st.integers(0, 7), st.sampled_from("ab")),
        max_size=60,
    ),
    st.integers(1, 3),
)
def test_never_more_running_than_capacity_and_nothing_started_twice(ops: list[tuple[str, int, str]], cap: int) -> None:
    q = GroupQueues()
    running: dict[str, set[str]] = {"a": set(), "b": set()}
    started: set[str] = set()
    group_of: dict[str, str] = {}
    for op, n, group in ops:
        exec_id = f"e{n}"
        if op == "push" and exec_id not in started:
            group_of.setdefault(exec_id, group)
            q.push(exec_id, group_of[exec_id], n % 3 + 4, n)
        elif op == "discard":
            q.discard(exec_id)
        elif op == "start":
            for e in q.startable(lambda _g: cap):
                assert e not in started
                started.add(e)
                running[group_of[e]].add(e)
                q.take(group_of[e])
        elif op == "release" and running[group]:
            running[group].pop()
            q.release(group)
        for g in "ab":
            assert len(running[g]) <= cap
            assert q.in_use().get(g, 0) == len(running[g])
