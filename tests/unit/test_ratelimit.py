"""Token-bucket limiter: driven by a fake clock so every assertion is exact and nothing sleeps."""

from __future__ import annotations

import logging
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trigflow.api.logthrottle import LogThrottle
from trigflow.api.ratelimit import FailureThrottle, RateLimiter


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


# ------------------------------------------------------------------------ failed authentications per address


def test_failure_throttle_blocks_an_address_after_its_budget_and_refills_per_minute() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(3, clock=clock)
    assert not throttle.blocked("10.0.0.1") and len(throttle) == 0  # a good client costs no state
    assert [throttle.record_failure("10.0.0.1") for _ in range(3)] == [False, False, True]
    assert throttle.blocked("10.0.0.1")
    assert not throttle.blocked("10.0.0.2")  # per address
    clock.advance(19.9)  # 3 per minute: one failure back every 20 s
    assert throttle.blocked("10.0.0.1")
    clock.advance(0.1)
    assert not throttle.blocked("10.0.0.1")
    assert throttle.record_failure("10.0.0.1")  # the refilled one is spent at once
    assert throttle.blocked("10.0.0.1")
    clock.advance(60)
    assert not throttle.blocked("10.0.0.1") and len(throttle) == 0  # fully refilled: forgotten


def test_failure_throttle_memory_is_bounded() -> None:
    throttle = FailureThrottle(5, clock=FakeClock(), max_addresses=100)
    for i in range(1000):
        throttle.record_failure(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle) == 100


@given(st.lists(st.tuples(st.sampled_from(["fail", "check"]), st.floats(0, 30)), max_size=60))
def test_failure_throttle_never_allows_more_than_budget_plus_refill(steps: list[tuple[str, float]]) -> None:
    """Property: failures accepted (checked while not blocked) never exceed per_minute + elapsed refill."""
    clock = FakeClock()
    throttle = FailureThrottle(4, clock=clock)
    accepted, elapsed = 0, 0.0
    for op, dt in steps:
        clock.advance(dt)
        elapsed += dt
        if op == "fail" and not throttle.blocked("a"):
            throttle.record_failure("a")
            accepted += 1
    assert accepted <= 4 + elapsed * 4 / 60 + 1e-6


def test_failure_throttle_refuses_a_zero_budget() -> None:
    with pytest.raises(ValueError):
        FailureThrottle(0)


# ---------------------------------------------------------------------------------------------- log lines


def record(msg: str, *args: object, name: str = "uvicorn.error", level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_log_throttle_limits_each_template_and_reports_what_it_suppressed() -> None:
    clock = FakeClock()
    throttle = LogThrottle(rate=2, burst=3, clock=clock)
    passed = [throttle.filter(record("closing connection from %s", f"10.0.0.{i}")) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7  # one template, whatever the arguments
    assert throttle.filter(record("another template %s", "x"))  # templates have their own buckets
    clock.advance(0.5)
    after = record("closing connection from %s", "10.0.0.99")
    assert throttle.filter(after) and after.getMessage() == "closing connection from 10.0.0.99"  # untouched
    assert [s.getMessage() for s in throttle.summaries] == [
        "7 similar messages suppressed (uvicorn.error WARNING: 'closing connection from %s')"
    ]
    clock.advance(0.5)
    assert throttle.filter(record("closing connection from %s", "10.0.0.100"))
    assert len(throttle.summaries) == 1  # nothing more was suppressed


def test_log_throttle_bounds_preformatted_messages_globally() -> None:
    clock = FakeClock()
    throttle = LogThrottle(rate=1, burst=2, clock=clock)
    passed = sum(throttle.filter(record(f"unique message {i}")) for i in range(1000))
    assert passed == 20  # the global bucket: ten templates' burst
    assert len(throttle._buckets) <= 2_000


def test_log_throttle_writes_its_summary_line_to_its_handler_just_before_the_line_that_passes() -> None:
    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    handler = Collect()
    clock = FakeClock()
    handler.addFilter(LogThrottle(rate=1, burst=1, clock=clock, handler=handler))
    for text in ("x", "y", "z"):
        handler.handle(record("100%% of %s", text))
    clock.advance(1)
    handler.handle(record("100%% of %s", "w"))
    assert handler.lines == [
        "100% of x",
        "2 similar messages suppressed (uvicorn.error WARNING: '100%% of %s')",
        "100% of w",
    ]
