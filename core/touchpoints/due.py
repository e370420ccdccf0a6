"""Manual contact moments: what each account manager owes now (``tierctl touchpoints due``).

Cadence entries that are not automated (a monthly personal review, a
quarterly business review) are for people: tierctl lists them, never
sends them. Each account with such an entry for its status has one open
occasion (counted like the automated ones, from ``status_since``), owed by
the account's ``owner`` (the customers column) until the occasion closes.
The list comes as a table, JSON, or an iCalendar feed of to-dos (VTODO)
that a calendar or task app can subscribe to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Iterator
from zoneinfo import ZoneInfo

from tierctl.records import RowProblem
from tierctl.sources import CustomerSource
from tierctl.touchpoints.occasions import OccasionClock

if TYPE_CHECKING:
    from tierctl.config.model import Config


@dataclass(frozen=True, slots=True)
class DueMoment:
    """One manual contact moment an owner owes an account."""

    owner: str
    account_id: str
    account_name: str
    tier: str
    status: str
    channel: str
    kind: str  # the cadence's meeting kind, else its channel
    every: str
    occasion: str
    opens_at: datetime
    due_by: datetime  # when the occasion closes

    def as_dict(self) -> dict[str, str]:
        return {"owner": self.owner, "account_id": self.account_id, "account_name": self.account_name,
                "tier": self.tier, "status": self.status, "channel": self.channel, "kind": self.kind,
                "every": self.every, "occasion": self.occasion, "opens_at": self.opens_at.isoformat(),
                "due_by": self.due_by.isoformat()}


def due_moments(config: "Config", customers: CustomerSource, now: datetime, owner: str | None = None,
                problems: list[RowProblem] | None = None) -> list[DueMoment]:
    """The manual moments open at ``now``, one per account, ordered by owner then due date."""
    clock = OccasionClock(now, ZoneInfo(config.organization.timezone))
    manual = {(tier_id, status): cadence for tier_id, tier in config.tiers.items()
              for status, cadence in tier.contact_cadence.items() if not cadence.automated}
    wanted = owner.strip().lower() if owner else None
    seen: dict[str, DueMoment] = {}
    report = problems.append if problems is not None else (lambda p: None)
    for contact in customers.contacts(report):
        cadence = manual.get((contact.tier, contact.status))
        if cadence is None:
            continue
        previous = seen.get(contact.account_id)
        if previous is not None:
            if previous.owner or not contact.owner:
                continue  # an account's first row with an owner names it
        if wanted is not None and contact.owner != wanted:
            continue
        anchor = clock.anchor(contact.status_since, contact.account_id, cadence.every)
        occasion = clock.open_occasion(contact.status, anchor, cadence.every)
        if occasion is None:
            continue
        seen[contact.account_id] = DueMoment(
            contact.owner, contact.account_id, contact.account_name, contact.tier, contact.status,
            cadence.channel, cadence.meeting or cadence.channel, cadence.every.text, occasion.label,
            occasion.opens_at, occasion.closes_at)
    return sorted(seen.values(), key=lambda m: (m.owner, m.due_by, m.account_id))


def ics_feed(moments: list[DueMoment], organization: str, now: datetime) -> bytes:
    """The moments as an iCalendar feed of to-dos: one VTODO each, a stable UID per occasion."""
    from icalendar import Calendar, Todo, vCalAddress

    cal = Calendar()
    cal.add("prodid", "-//tierctl//touchpoints due//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{organization}: contact moments due")
    for m in moments:
        todo = Todo()
        todo.add("uid", f"{m.account_id}/{m.occasion}@tierctl")
        todo.add("dtstamp", now)
        todo.add("dtstart", m.opens_at)
        todo.add("due", m.due_by)
        todo.add("summary", f"{m.kind}: {m.account_name} ({m.tier})")
        todo.add("description", f"{m.channel} contact every {m.every} while the account is {m.status} "
                                f"(account {m.account_id}).")
        todo.add("status", "NEEDS-ACTION")
        if m.owner:
            attendee = vCalAddress(f"mailto:{m.owner}")
            todo.add("organizer", attendee)
        cal.add_component(todo)
    return cal.to_ical()


def table_lines(moments: list[DueMoment]) -> Iterator[str]:
    """The moments as fixed-width lines under a header."""
    yield f"{'owner':<28} {'account':<14} {'tier':<10} {'kind':<18} {'every':<6} due by"
    for m in moments:
        yield (f"{m.owner or '(no owner)':<28} {m.account_id:<14} {m.tier:<10} {m.kind:<18} {m.every:<6} "
               f"{m.due_by.date().isoformat()}")
