"""Branch nodes in RunGraph: unchosen targets are skipped, skips spread by the dependency rules, joins re-join.

This is where DolphinScheduler keeps fixing bugs (skips spreading past a join, a branch with no match leaving
its downstream hanging: apache/dolphinscheduler#14749, #15756, PR #14563, #16108), so besides the scenarios
below a property drives random DAGs with shared descendants (branch nodes, merge nodes, plain tasks with
several parents, every policy) in random orders, with restarts, and compares every end state with a
reference computed in topological order from the rules of docs/branch.md "How skips spread".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trigflow.domain import branch as br
from trigflow.domain.graph import Change, Control, Node, RunGraph
from trigflow.domain.merge import Condition as MergeCondition
from trigflow.domain.merge import MergeOutcome, accepted_states, evaluate
from trigflow.domain.policies import POLICIES, Decision, decide
from trigflow.domain.states import TASK_FAILED_LIKE, TASK_TERMINAL, RunEvent, TaskEvent, TaskState

S, E = TaskState, TaskEvent
_MERGE_EVENTS = {MergeOutcome.SUCCESS: E.MERGE_OK, MergeOutcome.FAILED: E.MERGE_FAIL}


def ex(task_id: str) -> str:
    return f"exec-{task_id}"


@dataclass
class Spec:
    """One task of a test DAG. Merge conditions name upstreams with their expectationState codes."""

    task_id: str
    upstream: tuple[str, ...] = ()
    policy: str = "ALL_SUCCESS"
    targets: frozenset[str] | None = None  # a branch node
    merge: tuple[tuple[tuple[str, tuple[int, ...]], ...], str] | None = None  # a merge node
    ok: bool = True  # tasks: the attempt exits 0; branch nodes: the conditions evaluate
    chosen: frozenset[str] = field(default_factory=frozenset)  # branch nodes: decide()'s answer


def merge_control(conditions: Sequence[tuple[str, Sequence[int]]], relation: str) -> Control:
    """What the merge task type gives RunGraph (tasktypes/merge.py): evaluate() mapped to events."""
    parsed = tuple(MergeCondition(u, accepted_states(codes)) for u, codes in conditions)
    return lambda states: _MERGE_EVENTS.get(evaluate(parsed, relation, states))


def nodes_of(specs: Sequence[Spec], states: dict[str, TaskState] | None = None) -> list[Node]:
    out = []
    for s in specs:
        n = Node(ex(s.task_id), s.task_id, (states or {}).get(s.task_id, S.PENDING), s.upstream, s.policy)
        n.branch = s.targets
        if s.merge is not None:
            n.control = merge_control(*s.merge)
        out.append(n)
    return out


def build(specs: Sequence[Spec], states: dict[str, TaskState] | None = None) -> RunGraph:
    return RunGraph("run-1", nodes_of(specs, states))


def task(t: str, *ups: str, policy: str = "ALL_SUCCESS") -> Spec:
    return Spec(t, ups, policy)


def branch(t: str, *targets: str, ups: tuple[str, ...] = ()) -> Spec:
    return Spec(t, ups, targets=frozenset(targets))


def merge(t: str, *conds: tuple[str, tuple[int, ...]], relation: str = "OR") -> Spec:
    return Spec(t, tuple(u for u, _ in conds), merge=(conds, relation))


DEFAULT = (2, 21)


def states(g: RunGraph) -> dict[str, TaskState]:
    return {t: n.state for t, n in g.nodes.items()}


def ready(g: RunGraph) -> list[str]:
    return [n.task_id for n in g.ready()]


def run_ok(g: RunGraph, t: str) -> list[Change]:
    assert g.apply(ex(t), E.DISPATCH)
    return g.apply(ex(t), E.EXIT_OK)


def run_fail(g: RunGraph, t: str) -> list[Change]:
    assert g.apply(ex(t), E.DISPATCH)
    return g.apply(ex(t), E.EXIT_FAIL)


def summary(changes: Sequence[Change]) -> list[tuple[str, TaskEvent, TaskState]]:
    return [(c.task_id, c.event, c.after) for c in changes]


# --- scenarios --------------------------------------------------------------------------------------------


def test_unchosen_target_and_what_only_it_leads_to_are_skipped() -> None:
    g = build([branch("b", "A", "B"), task("A", "b"), task("B", "b"), task("A2", "A"), task("B2", "B")])
    assert ready(g) == ["b"]  # the branch node is offered like a task: the caller evaluates its conditions
    changes = g.decide_branch(ex("b"), frozenset({"A"}))
    assert summary(changes) == [("b", E.BRANCH_OK, S.SUCCESS), ("B", E.SKIP, S.SKIP), ("B2", E.SKIP, S.SKIP)]
    assert ready(g) == ["A"]
    run_ok(g, "A")
    run_ok(g, "A2")
    assert g.rollup() is RunEvent.FINISH_OK


def test_no_condition_true_skips_every_target_and_the_run_still_ends() -> None:
    # DolphinScheduler #15756: no branch matched and the downstream never ran. Here everything ends.
    g = build([branch("b", "A", "B"), task("A", "b"), task("B", "b"), task("C", "A", "B"), task("D", "C")])
    g.decide_branch(ex("b"), frozenset())
    assert states(g) == {"b": S.SUCCESS, "A": S.SKIP, "B": S.SKIP, "C": S.SKIP, "D": S.SKIP}
    assert g.rollup() is RunEvent.FINISH_OK


def test_a_plain_join_with_a_skipped_parent_is_skipped_under_all_success() -> None:
    g = build([branch("b", "A", "B"), task("A", "b"), task("B", "b"), task("C", "A", "B")])
    g.decide_branch(ex("b"), frozenset({"A"}))
    assert g.nodes["C"].state is S.PENDING  # waits for A: a skip alone does not decide it while A runs
    assert summary(run_ok(g, "A"))[1:] == [("C", E.SKIP, S.SKIP)]


def test_a_plain_join_runs_with_a_policy_that_accepts_skips() -> None:
    # Airflow's none_failed_min_one_success is ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS here.
    for policy in ("ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS", "NONE_FAILED", "ONE_SUCCESS", "ALL_DONE"):
        g = build([branch("b", "A", "B"), task("A", "b"), task("B", "b"), task("C", "A", "B", policy=policy)])
        g.decide_branch(ex("b"), frozenset({"A"}))
        run_ok(g, "A")
        assert ready(g) == ["C"], policy


def test_merge_node_or_default_rejoins_as_soon_as_the_skip_is_known() -> None:
    # OR succeeds as soon as one condition holds (Q-M3, WeData's doc): the unchosen branch's 21 holds at once.
    g = build([branch("b", "A", "B"), task("A", "b"), task("B", "b"), merge("M", ("A", DEFAULT), ("B", DEFAULT)),
               task("P", "M")])  # fmt: skip
    changes = g.decide_branch(ex("b"), frozenset({"A"}))
    assert summary(changes)[1:] == [("B", E.SKIP, S.SKIP), ("M", E.MERGE_OK, S.SUCCESS)]
    assert ready(g) == ["A", "P"]


def test_merge_node_and_default_waits_for_the_chosen_path() -> None:
    specs = [branch("b", "A", "B"), task("A", "b"), task("B", "b"),
             merge("M", ("A", DEFAULT), ("B", DEFAULT), relation="AND"), task("P", "M")]  # fmt: skip
    g = build(specs)
    g.decide_branch(ex("b"), frozenset({"A"}))
    assert g.nodes["M"].state is S.PENDING and ready(g) == ["A"]
    assert summary(run_ok(g, "A"))[1:] == [("M", E.MERGE_OK, S.SUCCESS)]
    assert ready(g) == ["P"]
    g = build(specs)
    g.decide_branch(ex("b"), frozenset({"A"}))
    assert summary(run_fail(g, "A"))[1:] == [("M", E.MERGE_FAIL, S.FAILED), ("P", E.UPSTREAM_FAIL, S.UPSTREAM_FAILED)]


def test_the_common_part_after_the_first_join_is_not_skipped() -> None:
    # DolphinScheduler PR #14563: "only skip the non-common part before the first intersection".
    g = build([branch("b", "A", "B"), task("A", "b"), task("A1", "A"), task("B", "b"), task("B1", "B"),
               merge("X", ("A1", DEFAULT), ("B1", DEFAULT), relation="AND"),
               task("Y", "X"), task("Z", "Y", "b")])  # fmt: skip
    g.decide_branch(ex("b"), frozenset({"A"}))
    assert (g.nodes["B"].state, g.nodes["B1"].state) == (S.SKIP, S.SKIP)
    run_ok(g, "A")
    run_ok(g, "A1")
    run_ok(g, "Y")
    run_ok(g, "Z")
    assert all(s is not S.SKIP for t, s in states(g).items() if t not in ("B", "B1"))


def test_a_target_waits_for_the_decision_whatever_its_policy() -> None:
    g = build([task("P"), branch("b", "T", "M"), task("T", "b", "P", policy="ONE_SUCCESS"),
               merge("M", ("P", (2,)), ("b", DEFAULT))])  # fmt: skip
    run_ok(g, "P")  # T (ONE_SUCCESS) and M (OR, P holds) would both go now, before the branch decided
    assert (g.nodes["T"].state, g.nodes["M"].state) == (S.PENDING, S.PENDING)
    assert ready(g) == ["b"]
    assert summary(g.decide_branch(ex("b"), frozenset({"M"}))) == [
        ("b", E.BRANCH_OK, S.SUCCESS), ("T", E.SKIP, S.SKIP), ("M", E.MERGE_OK, S.SUCCESS)
    ]  # fmt: skip


def test_an_unchosen_merge_target_is_skipped_like_any_target() -> None:
    g = build([branch("b", "M"), merge("M", ("b", DEFAULT)), task("after", "M")])
    g.decide_branch(ex("b"), frozenset())
    assert states(g) == {"b": S.SUCCESS, "M": S.SKIP, "after": S.SKIP}


def test_a_downstream_no_condition_names_runs() -> None:
    g = build([branch("b", "A"), task("A", "b"), task("U", "b")])
    g.decide_branch(ex("b"), frozenset())
    assert g.nodes["A"].state is S.SKIP and ready(g) == ["U"]


def test_chosen_ids_that_are_not_targets_are_ignored() -> None:
    g = build([branch("b", "A", "ghost"), task("A", "b"), task("U", "b")])
    assert summary(g.decide_branch(ex("b"), frozenset({"U", "ghost", "nope"}))) == [
        ("b", E.BRANCH_OK, S.SUCCESS), ("A", E.SKIP, S.SKIP)
    ]  # fmt: skip


def test_a_branch_node_that_does_not_decide_passes_its_end_on_by_policy() -> None:
    specs = [task("up"), branch("b", "A", ups=("up",)), task("A", "b"), task("U", "b")]
    g = build(specs)
    assert g.apply(ex("up"), E.DISPATCH) and g.apply(ex("up"), E.EXIT_FAIL)
    assert states(g) == {"up": S.FAILED, "b": S.UPSTREAM_FAILED, "A": S.UPSTREAM_FAILED, "U": S.UPSTREAM_FAILED}
    g = build(specs)
    run_ok(g, "up")
    # A condition that cannot be evaluated: the node fails like a task that cannot be launched.
    changes = summary(g.apply(ex("b"), E.LAUNCH_FAIL))
    assert changes[0] == ("b", E.LAUNCH_FAIL, S.FAILED)
    assert set(changes[1:]) == {("A", E.UPSTREAM_FAIL, S.UPSTREAM_FAILED), ("U", E.UPSTREAM_FAIL, S.UPSTREAM_FAILED)}
    g = build([task("up"), branch("b", "A", ups=("up",)), task("A", "b"), task("other", policy="ALL_SUCCESS")])
    g.nodes["b"].policy = "ALL_FAILED"  # its own policy skips it: its targets are skipped by theirs
    run_ok(g, "up")
    assert (g.nodes["b"].state, g.nodes["A"].state) == (S.SKIP, S.SKIP)


def test_nested_branches() -> None:
    g = build([branch("b1", "b2", "X"), branch("b2", "C", ups=("b1",)), task("X", "b1"), task("C", "b2"),
               task("D", "C")])  # fmt: skip
    g.decide_branch(ex("b1"), frozenset({"X"}))
    assert states(g) == {"b1": S.SUCCESS, "b2": S.SKIP, "X": S.PENDING, "C": S.SKIP, "D": S.SKIP}


def test_decide_branch_refusals() -> None:
    g = build([branch("b", "A"), task("A", "b"), task("t")])
    assert g.decide_branch(ex("t"), frozenset()) == []  # not a branch node
    assert g.decide_branch("nope", frozenset()) == []
    assert g.apply(ex("b"), E.BRANCH_OK) == []  # only decide_branch, which also skips
    assert g.apply(ex("t"), E.BRANCH_OK) == []
    assert g.decide_branch(ex("b"), frozenset({"A"}))
    assert g.decide_branch(ex("b"), frozenset()) == []  # decided once
    assert g.nodes["A"].state is S.PENDING


def test_a_killed_target_stays_killed() -> None:
    g = build([branch("b", "A", "B"), task("A", "b"), task("B", "b")])
    assert g.apply(ex("B"), E.KILL)
    assert summary(g.decide_branch(ex("b"), frozenset())) == [("b", E.BRANCH_OK, S.SUCCESS), ("A", E.SKIP, S.SKIP)]
    assert g.nodes["B"].state is S.KILLED


def test_a_reload_keeps_the_gates_and_the_decision() -> None:
    specs = [task("P"), branch("b", "T", "A"), task("T", "b", "P", policy="ONE_SUCCESS"), task("A", "b")]
    g = build(specs)
    run_ok(g, "P")
    g = build(specs, states(g))  # restart before the decision: T still waits
    assert g.initial_changes() == [] and ready(g) == ["b"]
    g.decide_branch(ex("b"), frozenset({"A"}))
    g = build(specs, states(g))  # restart after it: the skip was persisted with the decision
    assert g.initial_changes() == [] and ready(g) == ["A"] and g.nodes["T"].state is S.SKIP


def test_partial_runs() -> None:
    # The target is not part of the run: nothing to skip. The branch node is not: its targets run.
    g = build([branch("b", "A", "gone"), task("A", "b")])
    changes = g.decide_branch(ex("b"), frozenset({"gone"}))
    assert summary(changes) == [("b", E.BRANCH_OK, S.SUCCESS), ("A", E.SKIP, S.SKIP)]
    g = build([task("A", "b"), task("B", "A")])
    assert ready(g) == ["A"]


# --- the property -----------------------------------------------------------------------------------------

EXPECTATIONS = [DEFAULT, DEFAULT, (2,), (21,), (4,), (2, 4), (2, 21, 4)]
# The default, the join policies, and the early ONE_* ones (they would start a target before its branch decided).
COMMON_POLICIES = ["ALL_SUCCESS", "ALL_SUCCESS", "ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS", "NONE_FAILED",
                   "ONE_SUCCESS", "ONE_SUCCESS", "ONE_DONE"]  # fmt: skip
JOIN_POLICIES = ("ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS", "NONE_FAILED")


@st.composite
def branch_dags(draw: st.DrawFn) -> list[Spec]:
    n = draw(st.integers(3, 11), label="tasks")
    specs: list[Spec] = []
    for i in range(n):
        t = f"t{i}"
        kind = "branch" if i == 0 else draw(st.sampled_from(["task"] * 5 + ["merge"] * 2 + ["branch"] * 2))
        earlier = [s.task_id for s in specs]
        if kind == "merge" or (earlier and draw(st.booleans())) or len(earlier) == 1:
            # Prefer several parents and recent ones, so descendants are shared.
            ups = draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=min(3, len(earlier)), unique=True))
        else:
            ups = []
        policy = draw(st.sampled_from(COMMON_POLICIES + list(POLICIES)), label=f"{t}.policy")
        ok = draw(st.integers(0, 5), label=f"{t}.ok") > 0
        spec = Spec(t, tuple(ups), policy, ok=ok)
        if kind == "merge":
            conds = tuple((u, draw(st.sampled_from(EXPECTATIONS))) for u in ups)
            spec.merge = (conds, draw(st.sampled_from(["OR", "OR", "AND"])))
        elif kind == "branch":
            spec.targets = frozenset()  # filled below, once its downstream tasks exist
        specs.append(spec)
    for s in specs:
        if s.targets is None:
            continue
        down = [d.task_id for d in specs if s.task_id in d.upstream]
        named = draw(st.lists(st.sampled_from(down), unique=True)) if down else []
        ghost = ["not_in_run"] if draw(st.integers(0, 4)) == 0 else []
        s.targets = frozenset(named + ghost)
        s.chosen = frozenset(draw(st.lists(st.sampled_from(sorted(s.targets)), unique=True)) if s.targets else [])
    return specs


def reference(specs: Sequence[Spec]) -> tuple[dict[str, TaskState], set[str]]:
    """End states by the rules of docs/branch.md, in topological order, and the targets skipped by a decision."""
    final: dict[str, TaskState] = {}
    forced: set[str] = set()
    for s in specs:  # parents come first
        ups = [final[u] for u in s.upstream]
        if s.task_id in forced:
            final[s.task_id] = S.SKIP  # an unchosen target: skipped whatever its policy or conditions
        elif s.merge is not None:
            conds = tuple(MergeCondition(u, accepted_states(codes)) for u, codes in s.merge[0])
            outcome = evaluate(conds, s.merge[1], dict(zip(s.upstream, ups, strict=True)))
            final[s.task_id] = {MergeOutcome.SUCCESS: S.SUCCESS, MergeOutcome.FAILED: S.FAILED}[outcome]
        else:
            d = decide(s.policy, ups)
            if d is Decision.RUN:
                final[s.task_id] = S.SUCCESS if s.ok else S.FAILED
                if s.targets is not None and s.ok:
                    down = {d.task_id for d in specs if s.task_id in d.upstream}
                    forced |= (s.targets & down) - s.chosen
            else:
                final[s.task_id] = {Decision.SKIP: S.SKIP, Decision.UPSTREAM_FAILED: S.UPSTREAM_FAILED}[d]
    return final, forced


def check_gates(g: RunGraph, specs: Sequence[Spec]) -> None:
    """While a branch node has not ended, each of its targets waits: only another branch node naming it may
    end it first, by not choosing it (no kills here)."""
    by_id = {s.task_id: s for s in specs}
    for s in specs:
        if s.targets is None or g.nodes[s.task_id].state in TASK_TERMINAL:
            continue
        for t in s.targets & set(g.nodes[s.task_id].downstream):
            if g.nodes[t].state is S.PENDING:
                continue
            skipped_by = [b for b in g.nodes[t].gates if g.nodes[b].state is S.SUCCESS and t not in by_id[b].chosen]
            assert g.nodes[t].state is S.SKIP and skipped_by, f"{t} moved before its branch node {s.task_id} decided"


@settings(max_examples=400, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(specs=branch_dags(), data=st.data())
def test_random_branch_runs_end_as_the_rules_say(specs: list[Spec], data: st.DataObject) -> None:
    by_id = {s.task_id: s for s in specs}
    g = build(specs)
    g.initial_changes()
    reloads = 0
    for _ in range(2 * len(specs) + 4):
        before = states(g)
        startable = ready(g)
        running = [t for t, st_ in before.items() if st_ is S.RUNNING]
        if not startable and not running:
            break
        moves = [("start", t) for t in startable] + [("finish", t) for t in running]
        if reloads < 3:
            moves.append(("reload", ""))
        move, t = data.draw(st.sampled_from(moves), label="move")
        if move == "reload":
            reloads += 1
            g = build(specs, before)
            assert g.initial_changes() == []  # the live graph was at its fixpoint: a restart changes nothing
        elif move == "start" and by_id[t].targets is not None:
            changes = g.decide_branch(ex(t), by_id[t].chosen) if by_id[t].ok else g.apply(ex(t), E.LAUNCH_FAIL)
            assert changes and changes[0].task_id == t
        elif move == "start":
            assert g.apply(ex(t), E.DISPATCH)
        else:
            assert g.apply(ex(t), E.EXIT_OK if by_id[t].ok else E.EXIT_FAIL)
        after = states(g)
        assert all(after[t] is s for t, s in before.items() if s in TASK_TERMINAL), "an end state moved"
        check_gates(g, specs)
    final = states(g)

    # (c) No hang: every task run ended, and the run rolls up.
    assert all(s in TASK_TERMINAL for s in final.values()), final
    assert g.rollup() is not None

    expected, forced = reference(specs)
    for s in specs:
        got, ups = final[s.task_id], [final[u] for u in s.upstream]
        if s.task_id in forced:
            assert got is S.SKIP
            continue
        if s.merge is not None:
            # (a) A join never skips (only a branch naming it can), and re-joins when a condition holds:
            # with OR as soon as one holds, with AND when all do. Default [2, 21] holds for ran-or-skipped.
            assert got in (S.SUCCESS, S.FAILED)
            holds = [final[u] in accepted_states(codes) for u, codes in s.merge[0]]
            assert (got is S.SUCCESS) == (any(holds) if s.merge[1] == "OR" else all(holds))
            if all(codes == DEFAULT for _, codes in s.merge[0]) and all(x in (S.SUCCESS, S.SKIP) for x in ups):
                assert got is S.SUCCESS
            continue
        # A skip always has a cause: a decision (above) or the task's own policy over its upstreams' ends.
        if got is S.SKIP:
            assert decide(s.policy, ups) is Decision.SKIP
        # (b) One chosen and one skipped parent, nothing failed: ALL_SUCCESS skips; the join policies run.
        mixed = S.SUCCESS in ups and S.SKIP in ups and all(x in (S.SUCCESS, S.SKIP) for x in ups)
        if mixed and s.policy == "ALL_SUCCESS":
            assert got is S.SKIP
        if mixed and s.policy in JOIN_POLICIES:
            assert got is (S.SUCCESS if s.ok else S.FAILED)
        # The chosen path is never skipped: all parents succeeded (or none) and the policy wants success.
        if all(x is S.SUCCESS for x in ups) and s.policy in ("ALL_SUCCESS", *JOIN_POLICIES, "ONE_SUCCESS"):
            assert got is not S.SKIP
    # Everything else, exactly: the end state of every task run is the reference's.
    assert final == expected
    if any(x in TASK_FAILED_LIKE for x in final.values()):
        assert g.rollup() is RunEvent.FINISH_FAIL


# --- docs/branch.md's example, decided by the pure parts -----------------------------------------------


def test_the_docs_example_ends_as_documented() -> None:
    conditions = br.parse_branch_conditions(
        '[{"condition": "${flag} == \'a\'", "taskId": "path_a", "description": "the A files"},'
        ' {"condition": "${flag} == \'b\' and ${rows} > 10", "taskId": "path_b"},'
        ' {"taskId": "fallback", "default": true, "description": "anything else"}]',
        "TriggerTaskConfiguration.TaskExtConfigurationList.branchConditions",
    )
    br.check_targets(conditions, {"path_a", "path_b", "fallback"}, "branchConditions")
    joined = tuple((t, DEFAULT) for t in ("after_a", "path_b", "fallback"))
    specs = [task("check"), Spec("route", ("check",), targets=br.targets(conditions)), task("path_a", "route"),
             task("after_a", "path_a"), task("path_b", "route"), task("fallback", "route"),
             merge("join", *joined, relation="AND"), task("publish", "join")]  # fmt: skip
    printed = []
    for values in ({"flag": "b", "rows": "12"}, {"flag": "a' or 'a' == 'a", "rows": "12"}):
        g = build(specs)
        while todo := g.ready():
            for n in todo:
                if n.branch is not None:
                    g.decide_branch(n.exec_id, br.decide(conditions, values))
                else:
                    run_ok(g, n.task_id)
        assert g.rollup() is RunEvent.FINISH_OK
        printed.append(" ".join(f"{t}={s}" for t, s in sorted(states(g).items())))
    assert printed == [  # the two lines docs/branch.md shows, without "run: SUCCESS"
        "after_a=SKIP check=SUCCESS fallback=SKIP join=SUCCESS path_a=SKIP path_b=SUCCESS publish=SUCCESS"
        " route=SUCCESS",
        "after_a=SKIP check=SUCCESS fallback=SUCCESS join=SUCCESS path_a=SKIP path_b=SKIP publish=SUCCESS"
        " route=SUCCESS",
    ]
