"""Who gets which contact-moment message now: the touchpoint plan.

For each contact, the tier's ``contact_cadence`` entry for the account's
status decides: an automated entry with a ``message`` has an open occasion
(:mod:`tierctl.touchpoints.occasions`); the message is then

* **due**: send now (an :class:`~tierctl.records.Invitation` whose
  ``survey_id`` is ``message:<id>``: messages share the survey ledger, its
  exactly-once key and the fatigue cap);
* **deferred**: quiet hours in the contact's time zone, or the fatigue cap;
* **skipped**: no consent for SMS/WhatsApp, no phone, first occasion not
  yet reached, already sent; counted by reason.

It changes nothing; ``touchpoints send`` hands the plan to the ledger and
the providers.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Iterator
from zoneinfo import ZoneInfo

from tierctl.records import Contact, Invitation, RowProblem
from tierctl.sources import CustomerSource
from tierctl.storage.ledger import ALL_SURVEYS, OPTED_OUT, phone_suppression_key, suppression_key
from tierctl.surveys.fatigue import Fatigue
from tierctl.surveys.plan_records import CONSENT, FINAL_STATES, Deferral, PlanSummary
from tierctl.touchpoints.occasions import OccasionClock
from tierctl.surveys.quiet import QUIET_CHANNELS, QuietClock

if TYPE_CHECKING:
    from tierctl.config.model import Config

#: Ledger ``survey_id`` of a message's deliveries: ``message:<id>`` (a survey id is a slug, never has ':').
MESSAGE_PREFIX = "message:"


def ledger_id(message_id: str) -> str:
    """The ledger's ``survey_id`` for a message."""
    return MESSAGE_PREFIX + message_id


class TouchpointPlanner:
    """Builds the touchpoint plan for one moment ``now``.

    ``known`` maps (``message:<id>``, contact e-mail, occasion) to its ledger
    state; ``last`` and ``week`` feed the fatigue cap
    (:class:`~tierctl.surveys.fatigue.Fatigue`), shared with surveys.
    """

    max_problems = 200

    def __init__(self, config: "Config", now: datetime, customers: CustomerSource,
                 known: dict[tuple[str, str, str], str] | None = None,
                 last: dict[str, datetime] | None = None, week: dict[str, list[datetime]] | None = None,
                 only_message: str | None = None, suppressed: dict[str, frozenset[str]] | None = None):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.config = config
        self.now = now
        self.customers = customers
        self.known = known or {}
        #: Opt-outs (:meth:`~tierctl.storage.ledger.Ledger.suppressed`): an unsubscribe from every survey
        #: (``*``) or from this message (``message:<id>``) stops the message too.
        self.suppressed = suppressed or {}
        self.fatigue = Fatigue(config.throttle, now, last, week)
        self.summary = PlanSummary()
        tz = ZoneInfo(config.organization.timezone)
        self.clock = OccasionClock(now, tz)
        self.quiet = QuietClock(config.quiet_hours, now, config.organization.timezone)
        # (tier, status) -> (message id, ledger id, channel, every, throttled): the automated, messaged moments.
        self.moments: dict[tuple[str, str], tuple[str, str, str, object, bool]] = {}
        for tier_id, tier in config.tiers.items():
            for status, cadence in tier.contact_cadence.items():
                if cadence.automated and cadence.message and (only_message in (None, cadence.message)):
                    message = config.messages[cadence.message]
                    self.moments[(tier_id, status)] = (cadence.message, ledger_id(cadence.message),
                                                       message.channel, cadence.every,
                                                       message.throttle != "exempt")

    def report(self, problem: RowProblem) -> None:
        self.summary.problem_count += 1
        if len(self.summary.problems) < self.max_problems:
            self.summary.problems.append(problem)

    def plan(self) -> Iterator[Invitation | Deferral]:
        """Yield due messages and deferrals, one pass over the contacts; skips are counted in ``summary``."""
        moments = self.moments
        for contact in self.customers.contacts(self.report):
            self.summary.contacts += 1
            moment = moments.get((contact.tier, contact.status))
            if moment is None:
                continue  # nothing automated for this tier and status
            item = self._decide(contact, *moment)
            if item is not None:
                yield item

    def _decide(self, contact: Contact, message_id: str, key: str, channel: str, every, throttled: bool
                ) -> Invitation | Deferral | None:
        skipped = self.summary.skipped
        anchor = self.clock.anchor(contact.status_since, contact.account_id, every)
        occasion = self.clock.open_occasion(contact.status, anchor, every)
        if occasion is None:
            skipped[f"{message_id}: first occasion not reached yet"] += 1
            return None
        email = contact.email
        state = self.known.get((key, email, occasion.label)) if self.known else None
        if state in FINAL_STATES:
            skipped[f"{message_id}: already {state}"] += 1
            return None
        if self.suppressed:
            scopes = self.suppressed.get(suppression_key(email))
            if scopes is not None and (ALL_SURVEYS in scopes or key in scopes):
                skipped[f"{message_id}: {OPTED_OUT}"] += 1
                return None
        if channel != "email":
            if not contact.phone:
                skipped[f"{message_id}: no phone number"] += 1
                return None
            if channel == "sms" and not contact.sms_opt_in or channel == "whatsapp" and not contact.whatsapp_opt_in:
                skipped[f"{message_id}: no {channel} consent"] += 1
                return None
            if self.suppressed and phone_suppression_key(channel, contact.phone) in self.suppressed:
                skipped[f"{message_id}: {OPTED_OUT}"] += 1  # the number replied STOP on this channel
                return None
        invitation = Invitation(
            "", key, message_id, contact.tier, contact.account_id, contact.account_name, email, contact.name,
            contact.role, contact.locale, occasion.label, occasion.opens_at, occasion.closes_at, (), "", None,
            occasion.due_day, contact.phone, CONSENT[contact.sms_opt_in, contact.whatsapp_opt_in],
            contact.timezone)
        if channel in QUIET_CHANNELS:
            until = self.quiet.until(contact.timezone)
            if until is not None:
                self.summary.deferred += 1
                return Deferral(invitation, until, f"quiet hours until {until.isoformat()} "
                                                   f"({contact.timezone or self.config.organization.timezone})")
        if throttled and self.fatigue.active:
            held = self.fatigue.take(email)
            if held is not None:
                self.summary.deferred += 1
                until, reason = held
                return Deferral(invitation, until, reason)
        self.summary.due += 1
        return invitation
