"""Quiet hours: no SMS or WhatsApp at night in the contact's own time zone.

A message that falls in the quiet hours is *deferred* until they end, not
dropped: the next run after that sends it (while its occasion is open).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from tierctl.config.model import QuietHours

#: The channels quiet hours hold back (an e-mail waits in the inbox; a phone buzzes).
QUIET_CHANNELS = frozenset({"sms", "whatsapp"})


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class QuietClock:
    """Whether ``now`` is quiet in a time zone, and until when; one answer per zone and run."""

    def __init__(self, quiet: "QuietHours | None", now: datetime, default_zone: str):
        self.quiet = quiet
        self.now = now
        self.default_zone = default_zone
        self._cache: dict[str, datetime | None] = {}
        if quiet is not None:
            self.start, self.end = _minutes(quiet.start), _minutes(quiet.end)

    def until(self, zone: str) -> datetime | None:
        """When the quiet hours end (UTC) if ``now`` is inside them in ``zone`` ('' = the organisation's), else None."""
        if self.quiet is None:
            return None
        zone = zone or self.default_zone
        if zone in self._cache:
            return self._cache[zone]
        local = self.now.astimezone(ZoneInfo(zone))
        t = local.hour * 60 + local.minute
        start, end = self.start, self.end
        inside = start <= t < end if start < end else (t >= start or t < end)
        ends = None
        if inside and start != end:
            ends = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
            if ends <= local:
                ends = (ends + timedelta(days=1)).replace(tzinfo=local.tzinfo)
            ends = ends.astimezone(timezone.utc)
        self._cache[zone] = ends
        return ends
