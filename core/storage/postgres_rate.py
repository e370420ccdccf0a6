"""A provider's rate limit held across runners: one token bucket in the PostgreSQL ledger.

Each runner's own :class:`~tierctl.util.ratelimit.TokenBucket` would let
three runners call a platform three times as fast as it allows. A
:class:`SharedBucket` keeps the bucket in a row of ``rate_buckets``
instead: taking tokens locks the row (``SELECT ... FOR UPDATE``), refills
it by the database's clock (one clock for every machine), takes what is
there and commits; a runner that finds too few tokens sleeps for exactly
the missing time and tries again. The bucket starts full, at most one
second deep, like the local one.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from tierctl.storage.postgres_conn import connect

if TYPE_CHECKING:
    from tierctl.util.ratelimit import RateLimit


class SharedBucket:
    """Takes tokens from the database's bucket ``name`` (see the module docstring); thread-safe."""

    def __init__(self, libpq_url: str, shown: str, name: str, rate: "RateLimit",
                 sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self.per_second = rate.per_second
        self.capacity = max(1.0, min(float(rate.requests), self.per_second))
        self._conn: Any = connect(libpq_url, shown)
        self._sleep = sleep
        self._lock = threading.Lock()
        self.waited = 0.0
        self._conn.execute("INSERT INTO rate_buckets (name, tokens, updated_at) VALUES (%s, %s, clock_timestamp()) "
                           "ON CONFLICT (name) DO NOTHING", (name, self.capacity))

    def _take(self, want: float) -> float:
        """Take ``want`` tokens if there; else nothing. Returns the seconds to wait (0 when taken)."""
        with self._conn.transaction():
            tokens, elapsed = self._conn.execute(
                "SELECT tokens, EXTRACT(EPOCH FROM clock_timestamp() - updated_at) FROM rate_buckets "
                "WHERE name = %s FOR UPDATE", (self.name,)).fetchone()
            tokens = min(self.capacity, float(tokens) + max(0.0, float(elapsed)) * self.per_second)
            if tokens >= want:
                tokens -= want
                wait = 0.0
            else:
                wait = (want - tokens) / self.per_second
            self._conn.execute("UPDATE rate_buckets SET tokens = %s, updated_at = clock_timestamp() WHERE name = %s",
                               (tokens, self.name))
        return wait

    def acquire(self, n: float = 1.0) -> None:
        """Take ``n`` tokens, sleeping until they are available."""
        with self._lock:
            while n > 0:
                take = min(n, self.capacity)
                wait = self._take(take)
                if wait == 0.0:
                    n -= take
                    continue
                self.waited += wait
                self._sleep(wait)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
