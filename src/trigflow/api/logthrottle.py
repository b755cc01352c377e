"""A logging filter that keeps any client from filling the disk through the server's log.

Every log line a request can provoke (an invalid HTTP request, a refused signature, a closed slow
connection, a client that went away) is written once per event, so a client that provokes events in
a loop writes the log as fast as it can send: the probe of issue 11 grew it by 533 MB in 15 s. The
filter gives each message *template* (logger, level and the unformatted message, so "%s closed" with
a million different addresses is one template) a token bucket: `rate` lines per second, bursts of up
to `burst`. Lines beyond it are dropped and counted; just before the next line of that template that
passes, a line of its own (logger `trigflow.logthrottle`) says "N similar messages suppressed" and
names the template, so the operator still sees that, and how much, happened, and every line that is
written stays exactly as its code wrote it.
A global bucket (ten templates' worth) bounds messages whose text is built before logging, each of
which would otherwise be a template of its own.

Install it on the handlers (not the loggers): a handler sees the records of every logger that
propagates to it, uvicorn's and asyncio's included. One throttle per handler, which it writes its
summaries to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["LogThrottle", "install"]

_MAX_TEMPLATES = 2_000


class _Bucket:
    __slots__ = ("suppressed", "tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated
        self.suppressed = 0


def _take(bucket: _Bucket, now: float, rate: float, burst: float) -> bool:
    bucket.tokens = min(burst, bucket.tokens + max(0.0, now - bucket.updated) * rate)
    bucket.updated = max(bucket.updated, now)
    if bucket.tokens >= 1.0:
        bucket.tokens -= 1.0
        return True
    return False


class LogThrottle(logging.Filter):
    """Per-template token bucket over log records; `clock` is injectable so tests need no sleeps."""

    def __init__(
        self,
        rate: float = 20.0,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        handler: logging.Handler | None = None,
    ) -> None:
        super().__init__()
        self.handler = handler  # where summaries go; None: they are only counted (tests read `summaries`)
        self.summaries: list[logging.LogRecord] = []
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1, round(rate * 5)))
        self._clock = clock
        self._buckets: dict[tuple[str, int, str], _Bucket] = {}
        self._global = _Bucket(self.burst * 10, clock())
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_TEMPLATES:
                    self._buckets.clear()  # only ever makes the filter more lenient, never wrong
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            if not _take(bucket, now, self.rate, self.burst) or not _take(
                self._global, now, self.rate * 10, self.burst * 10
            ):
                bucket.suppressed += 1
                return False
            suppressed, bucket.suppressed = bucket.suppressed, 0
        if suppressed:
            summary = logging.LogRecord(
                "trigflow.logthrottle",
                logging.WARNING,
                __file__,
                0,
                "%d similar messages suppressed (%s %s: %r)",
                (suppressed, record.name, record.levelname, str(record.msg)[:200]),
                None,
            )
            if self.handler is not None:
                self.handler.handle(summary)  # re-enters this filter under its own template: no loop
            else:
                self.summaries.append(summary)
        return True


def install(rate: float) -> list[LogThrottle]:
    """Attach a throttle to every handler of the root logger (created by logging.basicConfig)."""
    throttles = []
    for handler in logging.getLogger().handlers:
        throttle = LogThrottle(rate, handler=handler)
        handler.addFilter(throttle)
        throttles.append(throttle)
    return throttles
