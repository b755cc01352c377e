"""Per-(caller, action) token buckets approximating Tencent Cloud's default 20 requests/second limit.

protocol.md §7: each action defaults to 20 req/s, scope presumably per account and action; over the
limit the front door answers `RequestLimitExceeded` (HTTP 200). A token bucket lets short bursts through
while bounding the sustained rate, which is how the cloud limit behaves from a client's point of view.

Memory is bounded two ways: a bucket idle long enough to have refilled completely is indistinguishable
from a new one, so it is dropped without any behavioural change; and a hard cap on the number of
buckets evicts the least recently used one, which can only make the limiter more lenient, never refuse
a caller wrongly.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureThrottle", "RateLimiter"]

# Clock arithmetic in floats loses a few ulps (1000.05 - 1000 < 0.05), which would refuse a request that
# arrives exactly when its token is due; a nano-token of slack is far below any observable rate change.
_EPSILON = 1e-9


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """Thread-safe token-bucket limiter keyed by (key, action).

    `rate_per_second` tokens are added continuously up to `burst` (default: the rate rounded up, at
    least 1, i.e. one second's worth). `clock` is injectable so tests need no sleeps; it should be
    monotonic, and a clock that steps backwards is treated as no time passing.
    """

    def __init__(
        self,
        rate_per_second: float = 20,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_buckets: int = 100_000,
    ) -> None:
        if not rate_per_second > 0 or math.isinf(rate_per_second):
            raise ValueError("rate_per_second must be a positive finite number")
        if burst is None:
            burst = max(1, math.ceil(rate_per_second))
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = burst
        self.max_buckets = max_buckets
        self._clock = clock
        # Time for an empty bucket to refill completely; after that idle time a bucket carries no state.
        self._idle_after = burst / self.rate
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, action: str) -> bool:
        """Take one token for (key, action); False means the caller should get `RequestLimitExceeded`."""
        with self._lock:
            now = self._clock()
            self._evict_idle(now)
            bucket_key = (key, action)
            bucket = self._buckets.get(bucket_key)
            if bucket is None:
                bucket = _Bucket(float(self.burst), now)
                self._buckets[bucket_key] = bucket
                while len(self._buckets) > self.max_buckets:
                    self._buckets.popitem(last=False)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.updated = max(bucket.updated, now)
                self._buckets.move_to_end(bucket_key)
            if bucket.tokens >= 1.0 - _EPSILON:
                bucket.tokens -= 1.0
                return True
            return False

    def _evict_idle(self, now: float) -> None:
        # Buckets are kept in last-use order, so the idle ones sit at the front: amortised O(1) per call.
        while self._buckets:
            oldest_key, oldest = next(iter(self._buckets.items()))
            if now - oldest.updated < self._idle_after:
                break
            del self._buckets[oldest_key]

    def __len__(self) -> int:
        """Number of live buckets, exposed so tests and metrics can confirm memory stays bounded."""
        with self._lock:
            return len(self._buckets)


class FailureThrottle:
    """Per-client-address budget of failed authentications (issue 11, finding 7).

    Each address may fail `per_minute` times in a burst, refilled at `per_minute` per minute. While its
    budget is empty, `blocked` is true and the front door answers `RequestLimitExceeded` without
    looking at the request at all, so guessing secrets or replaying stale captures costs the server
    one dict lookup per attempt and the attacker a sustained `per_minute` tries a minute. Requests that
    authenticate cost nothing here: an address only gets a bucket once it has failed.

    Called from the event loop only (the front door's cheap checks run there), so no lock. Memory is
    bounded like RateLimiter's: a refilled bucket carries no state and is dropped; past `max_addresses`
    the oldest is evicted, which can only make the throttle more lenient.
    """

    def __init__(
        self, per_minute: int, clock: Callable[[], float] = time.monotonic, *, max_addresses: int = 100_000
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refill(self, bucket: _Bucket, now: float) -> None:
        bucket.tokens = min(float(self.per_minute), bucket.tokens + max(0.0, now - bucket.updated) * self.rate)
        bucket.updated = max(bucket.updated, now)

    def blocked(self, address: str) -> bool:
        """True while `address` has no failure left; the request must then not be checked at all."""
        bucket = self._buckets.get(address)
        if bucket is None:
            return False
        self._refill(bucket, self._clock())
        if bucket.tokens >= float(self.per_minute) - _EPSILON:
            del self._buckets[address]  # fully refilled: indistinguishable from a fresh address
            return False
        return bucket.tokens < 1.0 - _EPSILON

    def record_failure(self, address: str) -> bool:
        """Spend one failure of `address`; True when this failure used up its budget (log it once)."""
        now = self._clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = _Bucket(float(self.per_minute), now)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._refill(bucket, now)
            self._buckets.move_to_end(address)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        return bucket.tokens < 1.0 - _EPSILON

    def __len__(self) -> int:
        return len(self._buckets)
