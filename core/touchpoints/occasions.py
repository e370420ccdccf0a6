"""Occasions of a contact cadence: ``every: 90d`` counted from when the account's status began.

The n-th occasion (n >= 1) of a cadence opens ``n x every`` after the
status began and closes when the next one opens, so a customer active
since 1 March gets the 90-day check-in on 30 May, 28 August, ... Without a
``status_since`` an account gets a stable spread: its occasions are offset
by a hash of the account id, so a million accounts do not all fall due on
the same day, and each keeps its day from run to run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from tierctl.config.durations import Duration, shift

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

#: Where the stable spread counts from when an account has no status_since.
SPREAD_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Occasion:
    """One open occasion of a cadence: its label (part of the ledger key) and when it opens and closes."""

    label: str
    opens_at: datetime
    closes_at: datetime
    due_day: str


class OccasionClock:
    """Open occasions at one moment ``now``, with the parsing and arithmetic cached for a million contacts."""

    def __init__(self, now: datetime, tz: "ZoneInfo"):
        self.now = now
        self.tz = tz
        self._anchors: dict[str, datetime | None] = {}
        self._spread: dict[tuple[str, float], datetime] = {}
        self._open: dict[tuple[str, datetime, Duration], Occasion | None] = {}

    def anchor(self, status_since: str, account_id: str, every: Duration) -> datetime | None:
        """When the cadence counts from: ``status_since``, or the account's spread offset."""
        if status_since:
            found = self._anchors.get(status_since, False)
            if found is False:
                found = self._anchors[status_since] = _parse(status_since, self.tz)
            if found is not None:
                return found
        key = (account_id, every.approx_seconds)
        spread = self._spread.get(key)
        if spread is None:
            digest = hashlib.blake2b(account_id.encode(), digest_size=8).digest()
            offset = int.from_bytes(digest, "big") % max(1, int(every.approx_seconds))
            spread = self._spread[key] = SPREAD_EPOCH + timedelta(seconds=offset)
        return spread

    def open_occasion(self, status: str, anchor: datetime, every: Duration) -> Occasion | None:
        """The occasion open at ``now``, or None before the first one (less than ``every`` in the status)."""
        key = (status, anchor, every)
        found = self._open.get(key, False)
        if found is False:
            found = self._open[key] = self._compute(status, anchor, every)
        return found

    def _compute(self, status: str, anchor: datetime, every: Duration) -> Occasion | None:
        now = self.now
        if now < anchor:
            return None
        if not every.months:
            n = int((now - anchor).total_seconds() // every.seconds)
        else:
            n = ((now.year - anchor.year) * 12 + now.month - anchor.month) // every.months
            while n > 0 and _nth(anchor, every, n) > now:
                n -= 1
            while _nth(anchor, every, n + 1) <= now:
                n += 1
        if n < 1:
            return None
        opens, closes = _nth(anchor, every, n), _nth(anchor, every, n + 1)
        return Occasion(f"{status}:{opens.astimezone(timezone.utc):%Y-%m-%dT%H:%MZ}", opens, closes,
                        opens.astimezone(self.tz).date().isoformat())


def _nth(anchor: datetime, every: Duration, n: int) -> datetime:
    return shift(anchor, Duration(every.months * n, every.seconds * n))


def _parse(text: str, tz: "ZoneInfo") -> datetime | None:
    """An ISO date (midnight in the organisation's zone) or date-time (no zone: the organisation's)."""
    try:
        if "T" in text or " " in text:
            moment = datetime.fromisoformat(text)
            return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(timezone.utc)
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)
