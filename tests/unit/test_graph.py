"""RunGraph: the live DAG of one run — readiness, cascades, late events, kills, partial runs and reloads."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trigflow.domain.graph import Change, Node, RunGraph
from trigflow.domain.policies import POLICIES, Decision, decide
from trigflow.domain.states import (
    TASK_FAILED_LIKE,
    TASK_TERMINAL,
    TASK_TRANSITIONS,
    RunEvent,
    TaskEvent,
    TaskState,
)

S, E = TaskState, TaskEvent
Spec = tuple[str, Sequence[str], str]  # task id, upstream task ids, policy


def ex(task_id: str) -> str:
    return f"exec-{task_id}"


def build(specs: Sequence[Spec], states: dict[str, TaskState] | None = None) -> RunGraph:
    states = states or {}
    return RunGraph(
        "run-1", [Node(ex(t), t, states.get(t, S.PENDING), tuple(ups), policy) for t, ups, policy in specs]
    )


def ids(nodes: Sequence[Node]) -> list[str]:
    return [n.task_id for n in nodes]


def state_map(g: RunGraph) -> dict[str, TaskState]:
    return {t: n.state for t, n in g.nodes.items()}


def summary(changes: Sequence[Change]) -> list[tuple[str, TaskEvent, TaskState, TaskState]]:
    return [(c.task_id, c.event, c.before, c.after) for c in changes]


def run_ok(g: RunGraph, task_id: str) -> None:
    assert g.apply(ex(task_id), E.DISPATCH)
    assert g.apply(ex(task_id), E.EXIT_OK)


def run_fail(g: RunGraph, task_id: str) -> list[Change]:
    assert g.apply(ex(task_id), E.DISPATCH)
    return g.apply(ex(task_id), E.EXIT_FAIL)


CHAIN: list[Spec] = [("a", [], "ALL_SUCCESS"), ("b", ["a"], "ALL_SUCCESS"), ("c", ["b"], "ALL_SUCCESS")]


def diamond(sink_policy: str = "ALL_SUCCESS") -> list[Spec]:
    return [
        ("a", [], "ALL_SUCCESS"),
        ("b", ["a"], "ALL_SUCCESS"),
        ("c", ["a"], "ALL_SUCCESS"),
        ("d", ["b", "c"], sink_policy),
    ]


# --- chains ------------------------------------------------------------------------------------------------


def test_chain_happy_path() -> None:
    g = build(CHAIN)
    assert g.initial_changes() == []
    assert ids(g.ready()) == ["a"]
    assert summary(g.apply(ex("a"), E.DISPATCH)) == [("a", E.DISPATCH, S.PENDING, S.RUNNING)]
    assert g.ready() == []
    assert g.rollup() is None
    assert summary(g.apply(ex("a"), E.EXIT_OK)) == [("a", E.EXIT_OK, S.RUNNING, S.SUCCESS)]
    assert ids(g.ready()) == ["b"]
    run_ok(g, "b")
    assert ids(g.ready()) == ["c"]
    run_ok(g, "c")
    assert g.ready() == []
    assert g.rollup() is RunEvent.FINISH_OK


def test_change_carries_exec_id() -> None:
    g = build(CHAIN)
    (ch,) = g.apply(ex("a"), E.DISPATCH)
    assert ch == Change(ex("a"), "a", E.DISPATCH, S.PENDING, S.RUNNING)


def test_chain_failure_cascades_transitively() -> None:
    g = build(CHAIN)
    changes = run_fail(g, "a")
    assert summary(changes) == [
        ("a", E.EXIT_FAIL, S.RUNNING, S.FAILED),
        ("b", E.UPSTREAM_FAIL, S.PENDING, S.UPSTREAM_FAILED),
        ("c", E.UPSTREAM_FAIL, S.PENDING, S.UPSTREAM_FAILED),
    ]
    assert g.ready() == []
    assert g.rollup() is RunEvent.FINISH_FAIL


def test_skip_propagates_through_all_success() -> None:
    g = build([("a", [], "ALL_SUCCESS"), ("b", ["a"], "ALL_FAILED"), ("c", ["b"], "ALL_SUCCESS"),
               ("d", ["c"], "ALL_SUCCESS")])  # fmt: skip
    g.apply(ex("a"), E.DISPATCH)
    changes = g.apply(ex("a"), E.EXIT_OK)
    assert summary(changes) == [
        ("a", E.EXIT_OK, S.RUNNING, S.SUCCESS),
        ("b", E.SKIP, S.PENDING, S.SKIP),
        ("c", E.SKIP, S.PENDING, S.SKIP),
        ("d", E.SKIP, S.PENDING, S.SKIP),
    ]
    assert g.rollup() is RunEvent.FINISH_OK  # Q-R1: skipped tasks do not fail the run


def test_skip_stops_at_a_policy_that_accepts_it() -> None:
    g = build([("a", [], "ALL_SUCCESS"), ("b", ["a"], "ALL_FAILED"), ("c", ["b"], "ALL_SKIPPED"),
               ("d", ["c"], "ALL_SUCCESS")])  # fmt: skip
    run_ok(g, "a")
    assert state_map(g) == {"a": S.SUCCESS, "b": S.SKIP, "c": S.PENDING, "d": S.PENDING}
    assert ids(g.ready()) == ["c"]
    run_ok(g, "c")
    assert ids(g.ready()) == ["d"]


def test_launch_fail_of_a_pending_task_cascades() -> None:
    g = build(CHAIN)
    changes = g.apply(ex("a"), E.LAUNCH_FAIL)
    assert [c.after for c in changes] == [S.FAILED, S.UPSTREAM_FAILED, S.UPSTREAM_FAILED]


def test_lost_process_fails_and_cascades() -> None:
    g = build(CHAIN)
    g.apply(ex("a"), E.DISPATCH)
    assert [c.after for c in g.apply(ex("a"), E.LOST)] == [S.FAILED, S.UPSTREAM_FAILED, S.UPSTREAM_FAILED]


# --- diamonds ----------------------------------------------------------------------------------------------


def test_diamond_ready_order_follows_insertion_order() -> None:
    g = build(diamond())
    run_ok(g, "a")
    assert ids(g.ready()) == ["b", "c"]
    g2 = build([diamond()[0], diamond()[2], diamond()[1], diamond()[3]])
    run_ok(g2, "a")
    assert ids(g2.ready()) == ["c", "b"]


def test_diamond_sink_waits_for_both_branches() -> None:
    g = build(diamond())
    run_ok(g, "a")
    run_ok(g, "b")
    assert ids(g.ready()) == ["c"]
    g.apply(ex("c"), E.DISPATCH)
    assert g.ready() == []
    g.apply(ex("c"), E.EXIT_OK)
    assert ids(g.ready()) == ["d"]


def test_diamond_failure_waits_for_other_branch_no_fail_fast() -> None:
    g = build(diamond())
    run_ok(g, "a")
    g.apply(ex("c"), E.DISPATCH)
    changes = run_fail(g, "b")
    assert summary(changes) == [("b", E.EXIT_FAIL, S.RUNNING, S.FAILED)]  # d still waits for c
    assert g.nodes["d"].state is S.PENDING
    changes = g.apply(ex("c"), E.EXIT_OK)
    assert summary(changes) == [
        ("c", E.EXIT_OK, S.RUNNING, S.SUCCESS),
        ("d", E.UPSTREAM_FAIL, S.PENDING, S.UPSTREAM_FAILED),
    ]
    assert g.rollup() is RunEvent.FINISH_FAIL


def test_diamond_skip_wins_over_failure_q_t6() -> None:
    specs = diamond()
    specs[2] = ("c", ["a"], "ALL_FAILED")  # will be skipped when a succeeds
    g = build(specs)
    run_ok(g, "a")
    assert g.nodes["c"].state is S.SKIP
    changes = run_fail(g, "b")
    assert summary(changes)[-1] == ("d", E.SKIP, S.PENDING, S.SKIP)
    assert g.rollup() is RunEvent.FINISH_FAIL  # b failed


def test_diamond_one_failed_handler_fires_early() -> None:
    g = build(diamond("ONE_FAILED"))
    run_ok(g, "a")
    g.apply(ex("c"), E.DISPATCH)
    run_fail(g, "b")
    assert ids(g.ready()) == ["d"]  # while c is still running
    run_ok(g, "d")
    g.apply(ex("c"), E.EXIT_OK)
    assert g.rollup() is RunEvent.FINISH_FAIL


def test_diamond_one_success_skips_when_none_succeed() -> None:
    g = build(diamond("ONE_SUCCESS"))
    run_ok(g, "a")
    run_fail(g, "b")
    assert g.nodes["d"].state is S.PENDING
    changes = run_fail(g, "c")
    assert summary(changes)[-1] == ("d", E.SKIP, S.PENDING, S.SKIP)


def test_failure_handler_branch() -> None:
    g = build([("a", [], "ALL_SUCCESS"), ("next", ["a"], "ALL_SUCCESS"), ("handler", ["a"], "ALL_FAILED")])
    changes = run_fail(g, "a")
    assert {c.task_id: c.after for c in changes[1:]} == {"next": S.UPSTREAM_FAILED}
    assert ids(g.ready()) == ["handler"]
    run_ok(g, "handler")
    assert g.rollup() is RunEvent.FINISH_FAIL  # Q-R1: any failure fails the run


def test_upstream_failed_counts_as_failed_downstream_q_t2() -> None:
    g = build([*CHAIN, ("h", ["c"], "ONE_FAILED")])
    run_fail(g, "a")
    assert g.nodes["c"].state is S.UPSTREAM_FAILED
    assert ids(g.ready()) == ["h"]


# --- wide fans ---------------------------------------------------------------------------------------------


def test_wide_fan_out_and_fan_in() -> None:
    width = 60
    kids = [f"k{i:03d}" for i in range(width)]
    g = build([("root", [], "ALL_SUCCESS"), *[(k, ["root"], "ALL_SUCCESS") for k in kids],
               ("sink", kids, "ALL_SUCCESS")])  # fmt: skip
    run_ok(g, "root")
    assert ids(g.ready()) == kids
    for k in kids[:-1]:
        run_ok(g, k)
        assert g.ready() == [] or ids(g.ready()) == kids[kids.index(k) + 1 :]
    assert g.nodes["sink"].state is S.PENDING
    run_ok(g, kids[-1])
    assert ids(g.ready()) == ["sink"]


def test_wide_fan_out_failure_marks_every_child() -> None:
    kids = [f"k{i:03d}" for i in range(40)]
    g = build([("root", [], "ALL_SUCCESS"), *[(k, ["root"], "ALL_SUCCESS") for k in kids]])
    changes = run_fail(g, "root")
    assert len(changes) == 41
    assert {c.task_id for c in changes[1:]} == set(kids)
    assert all(c.after is S.UPSTREAM_FAILED for c in changes[1:])


def test_many_roots_all_ready_at_once() -> None:
    roots = [f"r{i:02d}" for i in range(30)]
    g = build([(r, [], p) for r, p in zip(roots, POLICIES * 3, strict=False)])
    assert ids(g.ready()) == roots  # no upstream: runs whatever the policy


# --- kills and late events ---------------------------------------------------------------------------------


def test_exit_after_kill_is_refused() -> None:
    g = build(CHAIN)
    g.apply(ex("a"), E.DISPATCH)
    killed = g.apply(ex("a"), E.KILL)
    assert killed[0] == Change(ex("a"), "a", E.KILL, S.RUNNING, S.KILLED)
    before = state_map(g)
    for late in (E.EXIT_OK, E.EXIT_FAIL, E.LOST, E.LAUNCH_FAIL, E.KILL, E.DISPATCH):
        assert g.apply(ex("a"), late) == []
    assert state_map(g) == before


def test_single_kill_cascades_like_a_failure_under_all_success() -> None:
    g = build([*CHAIN, ("done", ["a"], "ALL_DONE")])
    g.apply(ex("a"), E.DISPATCH)
    changes = g.apply(ex("a"), E.KILL)
    assert summary(changes)[1:] == [
        ("b", E.UPSTREAM_FAIL, S.PENDING, S.UPSTREAM_FAILED),
        ("c", E.UPSTREAM_FAIL, S.PENDING, S.UPSTREAM_FAILED),
    ]
    assert ids(g.ready()) == ["done"]


def test_events_for_unknown_exec_ids_are_ignored() -> None:
    g = build(CHAIN)
    assert g.apply("no-such-exec", E.EXIT_OK) == []
    assert g.apply("a", E.DISPATCH) == []  # task id is not an exec id
    assert all(n.state is S.PENDING for n in g.nodes.values())


def test_events_not_in_table_are_refused() -> None:
    g = build(CHAIN)
    assert g.apply(ex("a"), E.EXIT_OK) == []  # not running yet
    assert g.apply(ex("a"), E.LOST) == []
    g.apply(ex("a"), E.DISPATCH)
    assert g.apply(ex("a"), E.DISPATCH) == []
    assert g.apply(ex("a"), E.SKIP) == []
    assert g.nodes["a"].state is S.RUNNING


def test_kill_all() -> None:
    g = build([*diamond(), ("e", [], "ALL_SUCCESS")])
    run_ok(g, "a")
    run_fail(g, "e")
    g.apply(ex("b"), E.DISPATCH)
    changes = g.kill_all()
    assert sorted(summary(changes)) == sorted([
        ("b", E.KILL, S.RUNNING, S.KILLED),
        ("c", E.KILL, S.PENDING, S.KILLED),
        ("d", E.KILL, S.PENDING, S.KILLED),
    ])  # fmt: skip
    assert state_map(g) == {"a": S.SUCCESS, "b": S.KILLED, "c": S.KILLED, "d": S.KILLED, "e": S.FAILED}
    assert g.ready() == []
    assert g.kill_all() == []
    assert g.apply(ex("b"), E.EXIT_OK) == []  # late exit after the kill
    assert g.apply(ex("b"), E.EXIT_FAIL) == []
    assert g.rollup() is RunEvent.FINISH_FAIL  # e failed before the kill


def test_kill_all_of_a_fresh_run() -> None:
    g = build(CHAIN)
    assert [c.after for c in g.kill_all()] == [S.KILLED] * 3
    assert g.rollup() is RunEvent.KILL


def test_kill_all_of_a_finished_run_changes_nothing() -> None:
    g = build(CHAIN)
    for t in "abc":
        run_ok(g, t)
    assert g.kill_all() == []
    assert g.rollup() is RunEvent.FINISH_OK


# --- partial runs (Q-R3) -----------------------------------------------------------------------------------


def test_edges_to_tasks_outside_the_run_are_dropped() -> None:
    g = build([("b", ["a-not-selected"], "ALL_SUCCESS"), ("c", ["b", "x-not-selected"], "ALL_SUCCESS")])
    assert g.nodes["b"].upstream == ()
    assert g.nodes["c"].upstream == ("b",)
    assert g.nodes["b"].downstream == ["c"]
    assert g.initial_changes() == []  # absent upstreams are not treated as SKIP
    assert ids(g.ready()) == ["b"]
    run_ok(g, "b")
    assert ids(g.ready()) == ["c"]


def test_only_outside_upstreams_with_any_policy_runs() -> None:
    g = build([(f"t{i}", ["outside"], p) for i, p in enumerate(POLICIES)])
    assert len(g.ready()) == len(POLICIES)


def test_empty_run() -> None:
    g = RunGraph("r", [])
    assert g.ready() == []
    assert g.initial_changes() == []
    assert g.kill_all() == []
    assert g.rollup() is RunEvent.FINISH_OK


# --- reload mid-run ----------------------------------------------------------------------------------------


def test_initial_changes_after_reload_with_failed_upstream() -> None:
    g = build([*CHAIN, ("h", ["a"], "ALL_FAILED")], {"a": S.FAILED})
    changes = g.initial_changes()
    assert sorted(summary(changes)) == [
        ("b", E.UPSTREAM_FAIL, S.PENDING, S.UPSTREAM_FAILED),
        ("c", E.UPSTREAM_FAIL, S.PENDING, S.UPSTREAM_FAILED),
    ]
    assert ids(g.ready()) == ["h"]
    assert g.initial_changes() == []  # idempotent


def test_initial_changes_after_reload_with_skipped_upstream() -> None:
    g = build(diamond(), {"a": S.SUCCESS, "b": S.SKIP, "c": S.RUNNING})
    assert g.initial_changes() == []  # d still waits for c
    g.apply(ex("c"), E.EXIT_OK)
    assert g.nodes["d"].state is S.SKIP
    g2 = build(diamond(), {"a": S.SUCCESS, "b": S.SKIP, "c": S.SUCCESS})
    assert summary(g2.initial_changes()) == [("d", E.SKIP, S.PENDING, S.SKIP)]
    assert g2.rollup() is RunEvent.FINISH_OK


def test_reload_of_running_graph_keeps_running_nodes() -> None:
    g = build(diamond(), {"a": S.SUCCESS, "b": S.RUNNING})
    assert g.initial_changes() == []
    assert ids(g.ready()) == ["c"]
    assert g.rollup() is None
    assert g.apply(ex("b"), E.LOST)[0].after is S.FAILED  # recovering server: the process is gone


def test_reload_of_finished_graph() -> None:
    g = build(CHAIN, {"a": S.SUCCESS, "b": S.FAILED, "c": S.UPSTREAM_FAILED})
    assert g.initial_changes() == []
    assert g.ready() == []
    assert g.rollup() is RunEvent.FINISH_FAIL


# --- property test -----------------------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> list[Spec]:
    n = draw(st.integers(1, 12))
    names = [f"t{i:02d}" for i in range(n)]
    specs: list[Spec] = []
    for i, name in enumerate(names):
        ups = draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=4)) if i else []
        if draw(st.integers(0, 9)) == 0:
            ups = [*ups, f"outside{i}"]  # a partial run: upstream not selected
        specs.append((name, ups, draw(st.sampled_from(POLICIES))))
    order = draw(st.permutations(range(n)))  # insertion order need not be topological
    return [specs[i] for i in order]


ACTIONS = (
    "dispatch", "dispatch", "dispatch", "exit_ok", "exit_ok", "exit_ok", "exit_fail", "exit_fail", "lost",
    "launch_fail", "kill", "late", "late", "any", "reload", "kill_all",
)  # fmt: skip


def assert_fixpoint(g: RunGraph) -> None:
    """No pending node is left whose decision is already SKIP or UPSTREAM_FAILED; ready() is exactly the RUN set."""
    decisions = {t: decide(n.policy, [g.nodes[u].state for u in n.upstream]) for t, n in g.nodes.items()}
    for t, n in g.nodes.items():
        if n.state is S.PENDING:
            assert decisions[t] in (Decision.WAIT, Decision.RUN), (t, decisions[t])
    order = list(g.nodes)
    assert ids(g.ready()) == [t for t in order if g.nodes[t].state is S.PENDING and decisions[t] is Decision.RUN]


def checked_apply(g: RunGraph, task_id: str, event: TaskEvent) -> list[Change]:
    before = state_map(g)
    changes = g.apply(ex(task_id), event)
    after = state_map(g)
    for t, s in before.items():
        if s in TASK_TERMINAL:
            assert after[t] is s, f"terminal {t} moved {s} -> {after[t]}"
    if before[task_id] in TASK_TERMINAL:
        assert changes == []
    changed = {t for t in before if before[t] is not after[t]}
    assert [c.task_id for c in changes] == list(dict.fromkeys(c.task_id for c in changes))  # no repeats
    assert {c.task_id for c in changes} == changed
    for i, c in enumerate(changes):
        assert c.exec_id == ex(c.task_id)
        assert (c.before, c.after) == (before[c.task_id], after[c.task_id])
        assert TASK_TRANSITIONS[(c.before, c.event)] is c.after
        if i == 0:
            assert (c.task_id, c.event) == (task_id, event)
        else:
            assert c.event in (E.SKIP, E.UPSTREAM_FAIL)
            assert c.before is S.PENDING
    assert_fixpoint(g)
    return changes


def reload(g: RunGraph, specs: Sequence[Spec]) -> RunGraph:
    states = state_map(g)
    g2 = build(specs, states)
    assert g2.initial_changes() == []  # the live graph was already at its fixpoint
    assert state_map(g2) == states
    return g2


def assert_rollup_consistent(g: RunGraph) -> None:
    states = list(state_map(g).values())
    event = g.rollup()
    assert event is not None
    if any(s in TASK_FAILED_LIKE for s in states):
        assert event is RunEvent.FINISH_FAIL
    elif S.KILLED in states:
        assert event is RunEvent.KILL
    else:
        assert event is RunEvent.FINISH_OK


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(specs=dags(), data=st.data())
def test_random_runs_always_end_consistently(specs: list[Spec], data: st.DataObject) -> None:
    g = build(specs)
    assert g.initial_changes() == []
    assert_fixpoint(g)
    tasks = list(g.nodes)
    for _ in range(data.draw(st.integers(0, 30), label="steps")):
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        running = [t for t in tasks if g.nodes[t].state is S.RUNNING]
        terminal = [t for t in tasks if g.nodes[t].state in TASK_TERMINAL]
        if action == "dispatch" and g.ready():
            checked_apply(g, data.draw(st.sampled_from(ids(g.ready()))), E.DISPATCH)
        elif action in ("exit_ok", "exit_fail", "lost") and running:
            event = {"exit_ok": E.EXIT_OK, "exit_fail": E.EXIT_FAIL, "lost": E.LOST}[action]
            checked_apply(g, data.draw(st.sampled_from(running)), event)
        elif action == "launch_fail" and (running or g.ready()):
            checked_apply(g, data.draw(st.sampled_from(running + ids(g.ready()))), E.LAUNCH_FAIL)
        elif action == "kill":
            checked_apply(g, data.draw(st.sampled_from(tasks)), E.KILL)
        elif action == "late" and terminal:
            t = data.draw(st.sampled_from(terminal))
            assert checked_apply(g, t, data.draw(st.sampled_from(list(TaskEvent)))) == []
        elif action == "any":
            checked_apply(g, data.draw(st.sampled_from(tasks)), data.draw(st.sampled_from(list(TaskEvent))))
        elif action == "reload":
            g = reload(g, specs)
        elif action == "kill_all":
            before = state_map(g)
            changes = g.kill_all()
            assert {c.task_id for c in changes} == {t for t, s in before.items() if s not in TASK_TERMINAL}
            assert all(c.after is S.KILLED and c.event is E.KILL for c in changes)
            assert all(g.nodes[t].state is s for t, s in before.items() if s in TASK_TERMINAL)
            assert all(n.state in TASK_TERMINAL for n in g.nodes.values())
            assert_fixpoint(g)
        assert (g.rollup() is None) == any(n.state not in TASK_TERMINAL for n in g.nodes.values())

    # Drain: dispatch whatever becomes ready and finish whatever runs, until nothing moves.
    for _ in range(2 * len(tasks) + 2):
        ready = ids(g.ready())
        running = [t for t in tasks if g.nodes[t].state is S.RUNNING]
        if not ready and not running:
            break
        for t in ready:
            if g.nodes[t].state is S.PENDING:  # an earlier exit in this round may have cascaded onto it
                checked_apply(g, t, E.DISPATCH)
        for t in [t for t in tasks if g.nodes[t].state is S.RUNNING]:
            ok = data.draw(st.booleans(), label="exit ok")
            checked_apply(g, t, E.EXIT_OK if ok else E.EXIT_FAIL)
    assert all(n.state in TASK_TERMINAL for n in g.nodes.values()), state_map(g)
    assert not any(n.state is S.RUNNING for n in g.nodes.values())
    assert_rollup_consistent(g)
    assert reload(g, specs).rollup() == g.rollup()
