"""Workflow concurrency bookkeeping (domain/concurrency.py): limit, FIFO, skipping, nested runs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.concurrency import Verdict, WorkflowQueue


def test_fifo_up_to_the_limit_then_wait() -> None:
    q = WorkflowQueue(max_concurrent=2, queuing=True)
    for r in ("r1", "r2", "r3"):
        q.wait(r)
    assert q.drain(lambda _r: False) == [("r1", Verdict.ADMIT), ("r2", Verdict.ADMIT)]
    assert list(q.queue) == ["r3"] and q.admitted == {"r1", "r2"}
    assert q.drain(lambda _r: False) == []
    q.forget("r1")
    assert q.drain(lambda _r: False) == [("r3", Verdict.ADMIT)]


def test_without_queueing_over_the_limit_is_skipped() -> None:
    q = WorkflowQueue(max_concurrent=1, queuing=False)
    for r in ("r1", "r2", "r3"):
        q.wait(r)
    assert q.drain(lambda _r: False) == [("r1", Verdict.ADMIT), ("r2", Verdict.SKIP), ("r3", Verdict.SKIP)]
    assert not q.queue


def test_nested_runs_bypass_the_limit_and_do_not_count() -> None:
    q = WorkflowQueue(max_concurrent=1, queuing=True)
    q.holds("parent", nested=False)
    q.wait("child")
    q.wait("other")
    assert q.drain(lambda r: r == "child") == [("child", Verdict.ADMIT)]
    assert q.admitted == {"parent"} and list(q.queue) == ["other"]


def test_runs_that_no_longer_wait_are_dropped() -> None:
    q = WorkflowQueue(max_concurrent=5, queuing=True)
    for r in ("gone", "r2"):
        q.wait(r)
    assert q.drain(lambda r: None if r == "gone" else False) == [("r2", Verdict.ADMIT)]
    q.wait("r3")
    q.forget("r3")
    assert not q.queue


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(st.sampled_from(["wait", "nested", "end", "drain"]), st.integers(0, 9)), max_size=80),
    st.integers(1, 3),
    st.booleans(),
)
def test_never_over_the_limit_and_first_come_first_served(
    ops: list[tuple[str, int]], limit: int, queuing: bool
) -> None:
    q = WorkflowQueue(max_concurrent=limit, queuing=queuing)
    nested: dict[str, bool] = {}
    running: set[str] = set()
    ended: set[str] = set()
    order: list[str] = []
    for op, n in ops:
        run = f"r{n}"
        if op in ("wait", "nested") and run not in nested:
            nested[run] = op == "nested"
            order.append(run)
            q.wait(run)
        elif op == "end" and run in nested and run not in ended:
            ended.add(run)
            running.discard(run)
            q.forget(run)
        elif op == "drain":
            done = running | ended
            decided = q.drain(lambda r, done=done: None if r in done else nested[r])
            admitted = [r for r, v in decided if v is Verdict.ADMIT]
            skipped = {r for r, v in decided if v is Verdict.SKIP}
            assert [r for r in order if r in {d for d, _ in decided}] == [d for d, _ in decided]  # FIFO
            assert not skipped or not queuing  # with queueing, runs wait instead
            assert not any(nested[r] for r in skipped)  # nested runs are never held back
            running |= set(admitted)
            ended |= skipped
        assert len({r for r in running if not nested[r]}) <= limit
        assert q.admitted == {r for r in running if not nested[r]}
