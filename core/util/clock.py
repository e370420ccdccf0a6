"""The real clock, in the shape the test kit's ``FakeClock`` has: ``monotonic()``, ``sleep(s)``, ``now``.

Providers wait and read the time through the clock bound to them
(:meth:`tierctl.providers.Provider.sleep`, :meth:`~tierctl.providers.Provider.now`),
so the same code runs on this clock in tierctl and on a fake one in tests.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class RealClock:
    """Wall-clock time and real sleeps."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (no wait for zero or less)."""
        if seconds > 0:
            time.sleep(seconds)

    @property
    def now(self) -> datetime:
        """The current moment as an aware UTC datetime."""
        return datetime.now(timezone.utc)


REAL_CLOCK = RealClock()
