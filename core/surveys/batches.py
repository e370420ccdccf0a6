"""The batch-send loop: claim a batch in the ledger, pace, call the provider, record what it did.

:func:`send_batches` is the one loop that hands invitations to a provider:
``tierctl survey send`` (:mod:`tierctl.surveys.send_run`) and the test kit
(:class:`tierctl.testing.Engine`) both run it, so a provider's contract
tests exercise the code that sends in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Iterator, Sequence

from tierctl.http import MaybeSent
from tierctl.providers import Provider, ProviderError
from tierctl.records import Invitation, SendResult

if TYPE_CHECKING:
    from tierctl.storage.ledger import Ledger
    from tierctl.surveys.breaker import Breaker


@dataclass
class BatchOutcome:
    """What happened to one claimed batch.

    ``results`` are the provider's results for the claimed invitations, as
    recorded in the ledger; ``returned`` is everything ``send`` returned;
    ``missing`` are claimed ids without a result (they stay ``sending`` and
    become ``unknown`` at the next run). When the provider raised:
    ``error`` is a :class:`ProviderError` (the batch is recorded ``retry``)
    or a :class:`MaybeSent` (recorded ``unknown``), and ``crash`` any other
    exception (a provider bug; the batch stays ``sending``). After an
    outcome with ``error`` or ``crash`` the loop stops; ``left_after`` counts
    the invitations it did not reach; ``offered`` is the batch's size before
    the ledger refused what was already sent or on its way.
    """

    claimed: list[Invitation]
    offered: int = 0
    results: list[SendResult] = field(default_factory=list)
    returned: list[SendResult] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)
    error: ProviderError | MaybeSent | None = None
    crash: Exception | None = None
    left_after: int = 0
    #: Why the engine's breaker stopped this provider before this (empty) batch; see tierctl.surveys.breaker.
    tripped: str = ""

    @property
    def stopped(self) -> bool:
        return self.error is not None or self.crash is not None or bool(self.tripped)


def sent_texts(provider: Provider, claimed: list[Invitation], results: list[SendResult]
               ) -> list[tuple[str, str, str, str, str]]:
    """``(invite_id, external_id, channel, phone, locale)`` of the texts (SMS, WhatsApp) a text
    provider accepted in a batch; empty for e-mail providers."""
    from tierctl.surveys.quiet import QUIET_CHANNELS

    if provider.channel not in QUIET_CHANNELS:
        return []
    by_id = {i.invite_id: i for i in claimed}
    channel_for = getattr(provider, "channel_for", None)
    texts = []
    for result in results:
        invitation = by_id.get(result.invite_id)
        if result.ok and result.external_id and invitation is not None:
            channel = channel_for(invitation) if channel_for is not None else provider.channel
            texts.append((invitation.invite_id, result.external_id, channel, invitation.phone, invitation.locale))
    return texts


def send_batches(provider: Provider, invitations: Sequence[Invitation], ledger: "Ledger", run_id: int,
                 now: datetime, throttled: dict[str, bool] | None = None,
                 breaker: "Breaker | None" = None) -> Iterator[BatchOutcome]:
    """Send ``invitations`` through ``provider`` a batch (``provider.batch_size``) at a time.

    Each batch is claimed in the ledger (``sending``) *before* the provider
    is called, and its results recorded after; a batch the ledger refuses
    (already sent or on its way) is skipped. Yields one :class:`BatchOutcome`
    per batch sent and stops after a batch whose ``send`` raised. With a
    ``breaker`` (:class:`tierctl.surveys.breaker.Breaker`), batches are
    probe-sized while the provider has not delivered, and when the breaker
    opens a last, empty outcome with ``tripped`` ends the loop (the rest is
    not claimed: the next run plans it again).
    """
    from tierctl.providers import clock_of

    full = max(1, provider.batch_size)
    items = list(invitations)
    start = 0
    while start < len(items):
        if breaker is not None and breaker.open:
            yield BatchOutcome([], 0, left_after=len(items) - start, tripped=breaker.reason)
            return
        size = breaker.batch_size(full) if breaker is not None else full
        batch = items[start:start + size]
        start += len(batch)
        left_after = len(items) - start
        claimed = ledger.claim_batch(batch, run_id, now, provider.instance, throttled or {})
        if not claimed:
            continue
        provider.pace_batch(len(claimed))
        outcome = BatchOutcome(claimed, len(batch), left_after=left_after)
        began = clock_of(provider).monotonic()
        try:
            outcome.returned = list(provider.send(claimed))
        except ProviderError as exc:
            # Nothing of this batch went out, and it is not the invitations' fault (a revoked
            # token, a wrong URL): keep them for the next run, which succeeds once it is fixed.
            outcome.error = exc
            outcome.results = [SendResult.failed(i.invite_id, str(exc), retry=True) for i in claimed]
        except MaybeSent as exc:
            # The request went out and no answer came: never resent automatically.
            outcome.error = exc
            outcome.results = [SendResult.maybe_sent(i.invite_id, str(exc)) for i in claimed]
        except Exception as exc:  # a provider bug: the batch stays 'sending', 'unknown' at the next run
            outcome.crash = exc
            yield outcome
            return
        else:
            wanted = {i.invite_id for i in claimed}
            outcome.results = [r for r in outcome.returned if r.invite_id in wanted]
            outcome.missing = wanted - {r.invite_id for r in outcome.results}
        ledger.record_results(outcome.results, now)
        texts = sent_texts(provider, claimed, outcome.results)
        if texts:  # kept for delivery receipts and replies (tierctl serve's /hooks/<provider>)
            ledger.record_texts(texts, now)
        if breaker is not None:
            breaker.record(outcome.results, clock_of(provider).monotonic() - began)
        yield outcome
        if outcome.stopped:
            return
