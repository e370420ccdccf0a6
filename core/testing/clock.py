"""A controllable clock for tests: time passes only when the code under test sleeps."""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta, timezone

from tierctl.util.clock import RealClock

__all__ = ["FakeClock", "RealClock"]


class FakeClock:
    """A monotonic clock and ``sleep`` that never really wait.

    Pass ``clock.monotonic`` and ``clock.sleep`` where code takes a clock and a
    sleep function (such as :class:`tierctl.util.ratelimit.TokenBucket`); read
    :attr:`sleeps` and :attr:`slept` afterwards. :attr:`now` is the same
    moment as a timezone-aware UTC ``datetime`` (for ``--now``-style APIs).
    Thread-safe.
    """

    def __init__(self, start: datetime | None = None):
        self.start = start or datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
        if self.start.tzinfo is None:
            raise ValueError("FakeClock(start=...) needs a timezone-aware datetime")
        self._elapsed = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """Seconds since the clock started."""
        with self._lock:
            return self._elapsed

    __call__ = monotonic

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` at once (and remember the sleep)."""
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, got {seconds}")
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                # Like a real clock, a sleep always lets some time pass: a wait computed as a
                # rounding error (1e-17 s) must not leave the clock where it was, or a caller
                # that sleeps until "enough time has passed" would loop for ever.
                self._elapsed = max(self._elapsed + max(seconds, 1e-9), math.nextafter(self._elapsed, math.inf))

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without counting it as a sleep."""
        with self._lock:
            self._elapsed += seconds

    @property
    def slept(self) -> float:
        """Total seconds slept so far."""
        with self._lock:
            return sum(self.sleeps)

    @property
    def now(self) -> datetime:
        """The current moment as an aware UTC datetime."""
        return self.start + timedelta(seconds=self.monotonic())
