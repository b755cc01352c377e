"""Token-bucket limiter: driven by a fake clock so every assertion is exact and nothing sleeps."""

from __future__ import annotations

import threading

import pytest

from trigflow.api.ratelimit import RateLimiter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drain(limiter: RateLimiter, key: str = "k", action: str = "A", attempts: int = 1000) -> int:
    return sum(limiter.allow(key, action) for _ in range(attempts))


def test_default_is_20_per_second_with_one_second_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    assert (limiter.rate, limiter.burst) == (20.0, 20)
    assert drain(limiter) == 20
    assert not limiter.allow("k", "A")
    clock.advance(0.05)
    assert limiter.allow("k", "A")
    assert not limiter.allow("k", "A")


def test_sustained_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=4, burst=4, clock=clock)
    drain(limiter)
    allowed = 0
    for _ in range(40):  # 10 seconds in quarter-second steps
        clock.advance(0.25)
        allowed += drain(limiter, attempts=3)
    assert allowed == 40


def test_refill_is_capped_at_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=2, burst=3, clock=clock)
    assert drain(limiter) == 3
    clock.advance(100)
    assert drain(limiter) == 3


def test_buckets_are_per_key_and_action() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1, burst=2, clock=clock)
    assert drain(limiter, "alice", "ListX") == 2
    assert drain(limiter, "alice", "GetX") == 2
    assert drain(limiter, "bob", "ListX") == 2
    assert not limiter.allow("alice", "ListX")


def test_fractional_rate_defaults_to_burst_one() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=0.5, clock=clock)
    assert limiter.burst == 1
    assert drain(limiter) == 1
    clock.advance(1.0)
    assert not limiter.allow("k", "A")
    clock.advance(1.0)
    assert limiter.allow("k", "A")


def test_backwards_clock_adds_no_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1, burst=1, clock=clock)
    assert limiter.allow("k", "A")
    clock.advance(-50)
    assert not limiter.allow("k", "A")
    clock.advance(50.5)
    assert not limiter.allow("k", "A")  # still only 0.5 s after the last real refill point
    clock.advance(0.5)
    assert limiter.allow("k", "A")


def test_idle_buckets_are_evicted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=10, burst=10, clock=clock)
    for i in range(100):
        limiter.allow(f"user{i}", "A")
    assert len(limiter) == 100
    clock.advance(1.0)  # every bucket has refilled completely: they carry no state any more
    limiter.allow("fresh", "A")
    assert len(limiter) == 1


def test_recently_used_buckets_are_kept() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1, burst=2, clock=clock)
    drain(limiter, "busy")
    limiter.allow("idle", "A")
    clock.advance(1.5)
    drain(limiter, "busy")  # used again: moves to the back
    clock.advance(1.0)
    limiter.allow("other", "A")
    assert len(limiter) == 2  # "idle" refilled (2.5 s ≥ 2 s) and was dropped; "busy" kept its state
    assert drain(limiter, "busy") == 1


def test_hard_cap_on_bucket_count() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=1, burst=1, clock=clock, max_buckets=3)
    for i in range(10):
        assert limiter.allow(f"u{i}", "A")
    assert len(limiter) == 3
    assert not limiter.allow("u9", "A")  # the most recent buckets survive with their state


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_per_second": 0},
        {"rate_per_second": -1},
        {"rate_per_second": float("inf")},
        {"rate_per_second": float("nan")},
        {"burst": 0},
        {"max_buckets": 0},
    ],
)
def test_invalid_configuration(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


def test_concurrent_callers_never_exceed_the_burst() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=50, clock=FakeClock())
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        local = [limiter.allow("shared", "A") for _ in range(100)]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800
    assert sum(results) == 50
