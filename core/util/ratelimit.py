"""Rate limits: the ``RateLimit`` a provider declares, and the token bucket that holds it to that rate."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` calls per ``per_seconds``; the engine paces ``send`` to it."""

    requests: int
    per_seconds: float = 1.0

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds

    @classmethod
    def from_per_second(cls, rate: float) -> "RateLimit":
        """``per_second`` option -> limit: ``5`` is 5 per second, ``0.5`` one per 2 seconds."""
        if rate >= 1 and float(rate).is_integer():
            return cls(int(rate), 1.0)
        return cls(1, 1.0 / rate)


class TokenBucket:
    """Allows ``rate.requests`` per ``rate.per_seconds`` on average.

    The bucket starts full with one period's worth of tokens at most one
    second deep, so a burst never exceeds what the platform would accept in
    a second. Thread-safe: concurrent senders share one bucket.
    """

    def __init__(self, rate: RateLimit, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.per_second = rate.per_second
        self.capacity = max(1.0, min(float(rate.requests), self.per_second))
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self, n: float = 1.0) -> None:
        """Take ``n`` tokens, sleeping until they are available."""
        while n > 0:
            take = min(n, self.capacity)
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.per_second)
                self._last = now
                if self._tokens >= take:
                    self._tokens -= take
                    n -= take
                    continue
                wait = (take - self._tokens) / self.per_second
            self.waited += wait
            self._sleep(wait)
