"""The send engine's circuit breaker: stop sending through a provider that keeps failing.

It works for every provider, HTTP or not, from what every provider already
gives the engine: per-invitation :class:`~tierctl.records.SendResult` s
(``ok``, ``retry``, ``unknown``) and the time each ``send`` call took. It
opens, for the rest of the run, when

* ``failures`` invitations in a row failed *temporarily* (``retry=True``:
  429, 5xx, timeouts, an unreachable host) with no success in between; or
* the run has spent ``max_wait`` seconds in ``send`` calls through this
  provider that delivered nothing (all temporary failures).

Permanent failures (a bounced address) are the invitation's fault, not the
provider's, and neither count nor reset. ``tierctl.http``'s per-host
breaker protects one endpoint inside a provider; this one bounds what a
whole run spends on a provider, whatever it talks to.

While a provider is failing the engine offers it small batches
(:attr:`Breaker.probe_size`), so the time bound is overshot by at most one
small batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # `tierctl survey --help` reads this module's defaults: keep it light
    from tierctl.records import SendResult

#: Defaults of ``tierctl survey send --breaker-failures`` and ``--max-failure-wait``.
DEFAULT_FAILURES = 20
DEFAULT_MAX_WAIT = 120.0
#: Batch size offered to a provider first in a run and after a batch that delivered nothing.
PROBE_SIZE = 10


@dataclass
class Breaker:
    """One provider's breaker for one run. Feed it with :meth:`record`; read :attr:`reason`."""

    provider: str
    failures: int = DEFAULT_FAILURES
    max_wait: float = DEFAULT_MAX_WAIT
    probe_size: int = PROBE_SIZE
    in_a_row: int = 0
    waited: float = 0.0
    reason: str = ""  # why it opened; "" while closed
    failing: bool = True  # offer a probe-sized batch next (first batch of the run, or after a failing one)
    last_failure: str = ""

    @property
    def open(self) -> bool:
        return bool(self.reason)

    def batch_size(self, full: int) -> int:
        """How many invitations to offer next: a probe while the provider is unproven or failing."""
        return max(1, min(full, self.probe_size) if self.failing else full)

    def record(self, results: Sequence[SendResult], elapsed: float) -> None:
        """Count one ``send`` call's results, which took ``elapsed`` seconds."""
        temporary = [r for r in results if not r.ok and r.retry and not getattr(r, "unknown", False)]
        delivered = any(r.ok for r in results)
        for r in results:
            if r.ok:
                self.in_a_row = 0
            elif r.retry and not getattr(r, "unknown", False):
                self.in_a_row += 1
                self.last_failure = r.reason or self.last_failure
        if temporary and not delivered:
            self.waited += elapsed
            self.failing = True
        elif delivered:
            self.failing = False
        if self.reason:
            return
        last = f" (last: {_short(self.last_failure)})" if self.last_failure else ""
        if self.in_a_row >= self.failures:
            self.reason = (f"provider {self.provider}: stopped for this run after {self.in_a_row} temporary failures "
                           f"in a row{last}")
        elif self.waited >= self.max_wait:
            self.reason = (f"provider {self.provider}: stopped for this run after waiting {self.waited:.0f} s on "
                           f"failing sends (bound: --max-failure-wait {self.max_wait:g}){last}")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
