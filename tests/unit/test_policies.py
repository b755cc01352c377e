"""The 12 DependencyTriggerPolicy rules against an independent oracle written from semantics.md §4.2.

The oracle below is a row-by-row transcription of the §4.2 table (with decisions.md Q-T2 and Q-T6), using the
table's own positive sets ("all SUCCESS or SKIP", "all in {SUCCESS, FAILED, upstream-failed}") rather than the
implementation's counters. KILLED is ours (Q-K1): it is terminal (Q-R1) but neither SUCCESS, SKIP nor failed-like.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from trigflow.domain.policies import POLICIES, Decision, decide
from trigflow.domain.states import TaskState

S = TaskState
D = Decision

UNIVERSE = (S.PENDING, S.RUNNING, S.SUCCESS, S.FAILED, S.SKIP, S.UPSTREAM_FAILED, S.KILLED)
TERMINAL = {S.SUCCESS, S.FAILED, S.SKIP, S.UPSTREAM_FAILED, S.KILLED}
FAILED_LIKE = {S.FAILED, S.UPSTREAM_FAILED}  # Q-T1 / Q-T2: upstream-failed counts as failed everywhere

MULTISETS = [c for n in (1, 2, 3) for c in itertools.combinations_with_replacement(UNIVERSE, n)]


def oracle(policy: str, ups: Sequence[TaskState]) -> Decision:
    if policy not in POLICIES:
        raise ValueError(policy)
    if not ups:
        return D.RUN  # "A task with no upstream passes immediately"
    all_terminal = all(s in TERMINAL for s in ups)
    any_success = any(s == S.SUCCESS for s in ups)
    any_failed = any(s in FAILED_LIKE for s in ups)
    any_terminal = any(s in TERMINAL for s in ups)

    # Rows evaluated "as soon as one upstream ...".
    if policy == "ONE_FAILED":
        if any_failed:
            return D.RUN
        return D.SKIP if all_terminal else D.WAIT
    if policy == "ONE_SUCCESS":
        if any_success:
            return D.RUN
        return D.SKIP if all_terminal else D.WAIT
    if policy == "ONE_DONE":
        return D.RUN if any_terminal else D.WAIT

    # Every other row is evaluated only when all upstreams are terminal (no fail-fast).
    if not all_terminal:
        return D.WAIT
    if policy == "ALL_SUCCESS":
        if all(s == S.SUCCESS for s in ups):
            return D.RUN
        return D.SKIP if S.SKIP in ups else D.UPSTREAM_FAILED  # Q-T6: skip wins over failure
    if policy == "ALL_FAILED":
        return D.RUN if all(s in FAILED_LIKE for s in ups) else D.SKIP
    if policy == "ALL_DONE":
        return D.RUN
    if policy == "ALL_DONE_AT_LEAST_ONE_SUCCESS":
        return D.RUN if any_success else D.SKIP
    if policy == "ALL_SKIPPED":
        return D.RUN if all(s == S.SKIP for s in ups) else D.SKIP
    if policy == "NONE_FAILED":
        return D.RUN if all(s in {S.SUCCESS, S.SKIP} for s in ups) else D.UPSTREAM_FAILED
    if policy == "ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS":
        # "no failure" read as NONE_FAILED's positive set (all SUCCESS or SKIP): a KILLED upstream does not pass.
        return D.RUN if (all(s in {S.SUCCESS, S.SKIP} for s in ups) and any_success) else D.SKIP
    if policy == "NONE_SKIPPED":
        return D.RUN if all(s in {S.SUCCESS, S.FAILED, S.UPSTREAM_FAILED} for s in ups) else D.SKIP
    if policy == "ALL_DONE_AT_LEAST_ONE_FAILED":
        return D.RUN if any_failed else D.SKIP
    raise AssertionError(f"oracle misses {policy}")


def test_policy_list() -> None:
    assert len(POLICIES) == 12
    assert len(set(POLICIES)) == 12
    assert set(POLICIES) == {
        "ALL_SUCCESS", "ALL_FAILED", "ALL_DONE", "ALL_DONE_AT_LEAST_ONE_SUCCESS", "ALL_SKIPPED", "ONE_FAILED",
        "ONE_SUCCESS", "ONE_DONE", "NONE_FAILED", "ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS", "NONE_SKIPPED",
        "ALL_DONE_AT_LEAST_ONE_FAILED",
    }  # fmt: skip


def test_enumeration_size() -> None:
    assert len(MULTISETS) == 7 + 28 + 84


@pytest.mark.parametrize("policy", POLICIES)
def test_policy_matches_oracle_exhaustively(policy: str) -> None:
    mismatches = []
    for ms in MULTISETS:
        want = oracle(policy, ms)
        for perm in set(itertools.permutations(ms)):  # the decision must not depend on upstream order
            got = decide(policy, list(perm))
            if got != want:
                mismatches.append((perm, got, want))
    assert mismatches == []


@pytest.mark.parametrize("policy", ["NONE_FAILED", "NONE_SKIPPED", "ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS"])
def test_killed_upstream_never_satisfies_a_positive_set(policy: str) -> None:
    """A KILLED upstream is neither SUCCESS, SKIP nor failed-like: rules listing allowed states reject it."""
    assert decide(policy, [S.KILLED]) is {"NONE_FAILED": D.UPSTREAM_FAILED}.get(policy, D.SKIP)
    assert decide(policy, [S.SUCCESS, S.KILLED]) is not D.RUN
    assert decide(policy, [S.SKIP, S.KILLED]) is not D.RUN
    assert decide("ALL_DONE", [S.KILLED]) is D.RUN
    assert decide("ONE_DONE", [S.KILLED, S.PENDING]) is D.RUN


@pytest.mark.parametrize("policy", POLICIES)
def test_no_upstream_runs_at_once(policy: str) -> None:
    assert decide(policy, []) is D.RUN


def test_all_success_skip_wins_over_failed_q_t6() -> None:
    assert decide("ALL_SUCCESS", [S.SKIP, S.FAILED]) is D.SKIP
    assert decide("ALL_SUCCESS", [S.FAILED, S.SKIP]) is D.SKIP
    assert decide("ALL_SUCCESS", [S.UPSTREAM_FAILED, S.SKIP, S.SUCCESS]) is D.SKIP
    assert decide("ALL_SUCCESS", [S.SUCCESS, S.FAILED]) is D.UPSTREAM_FAILED
    assert decide("ALL_SUCCESS", [S.SUCCESS, S.UPSTREAM_FAILED]) is D.UPSTREAM_FAILED
    assert decide("ALL_SUCCESS", [S.SUCCESS, S.SUCCESS]) is D.RUN


def test_all_success_waits_for_every_upstream_no_fail_fast() -> None:
    assert decide("ALL_SUCCESS", [S.FAILED, S.RUNNING]) is D.WAIT
    assert decide("ALL_SUCCESS", [S.SKIP, S.PENDING]) is D.WAIT
    assert decide("NONE_FAILED", [S.FAILED, S.RUNNING]) is D.WAIT


def test_upstream_failed_counts_as_failed_q_t2() -> None:
    assert decide("ONE_FAILED", [S.UPSTREAM_FAILED, S.PENDING]) is D.RUN
    assert decide("ONE_FAILED", [S.UPSTREAM_FAILED, S.RUNNING, S.SUCCESS]) is D.RUN
    assert decide("ALL_DONE_AT_LEAST_ONE_FAILED", [S.UPSTREAM_FAILED, S.SUCCESS]) is D.RUN
    assert decide("ALL_FAILED", [S.UPSTREAM_FAILED, S.FAILED]) is D.RUN
    assert decide("NONE_FAILED", [S.UPSTREAM_FAILED, S.SUCCESS]) is D.UPSTREAM_FAILED
    assert decide("ALL_DONE_NONE_FAILED_AT_LEAST_ONE_SUCCESS", [S.UPSTREAM_FAILED, S.SUCCESS]) is D.SKIP
    assert decide("NONE_SKIPPED", [S.UPSTREAM_FAILED, S.SUCCESS]) is D.RUN


def test_one_policies_fire_early() -> None:
    assert decide("ONE_SUCCESS", [S.SUCCESS, S.PENDING, S.RUNNING]) is D.RUN
    assert decide("ONE_DONE", [S.SKIP, S.PENDING]) is D.RUN
    assert decide("ONE_DONE", [S.KILLED, S.RUNNING]) is D.RUN
    assert decide("ONE_FAILED", [S.SUCCESS, S.PENDING]) is D.WAIT
    assert decide("ONE_SUCCESS", [S.FAILED, S.RUNNING]) is D.WAIT
    assert decide("ONE_DONE", [S.PENDING, S.RUNNING]) is D.WAIT
    # all terminal and the trigger never happened
    assert decide("ONE_FAILED", [S.SUCCESS, S.SKIP]) is D.SKIP
    assert decide("ONE_SUCCESS", [S.FAILED, S.SKIP]) is D.SKIP


@pytest.mark.parametrize("policy", POLICIES)
def test_only_all_success_and_none_failed_produce_upstream_failed(policy: str) -> None:
    outcomes = {decide(policy, list(ms)) for ms in MULTISETS}
    if policy in {"ALL_SUCCESS", "NONE_FAILED"}:
        assert D.UPSTREAM_FAILED in outcomes
    else:
        assert D.UPSTREAM_FAILED not in outcomes
    assert D.RUN in outcomes


@pytest.mark.parametrize("ups", [[], [S.SUCCESS], [S.FAILED, S.SKIP], [S.KILLED], [S.RUNNING], [S.PENDING, S.FAILED]])
def test_unknown_policy_raises(ups: list[TaskState]) -> None:
    with pytest.raises(ValueError, match="NOT_A_POLICY"):
        decide("NOT_A_POLICY", ups)


@pytest.mark.parametrize("policy", ["all_done", "", " ALL_DONE", "ALL_SUCCESS "])
def test_policy_names_are_exact(policy: str) -> None:
    with pytest.raises(ValueError):
        decide(policy, [S.SUCCESS])
