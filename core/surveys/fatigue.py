"""The fatigue cap: how often one person may hear from us, across surveys and messages.

``throttle: {per_contact: 30d, messages_per_week: 2}`` holds a survey
invitation or a contact-moment message back (it is *deferred*, not dropped)
when the contact got one within ``per_contact``, or already got
``messages_per_week`` in the last 7 days. What counts is what the ledger
holds (sent, being sent, or in doubt, of throttled surveys and messages)
plus what this run has decided to send.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tierctl.config.durations import shift

if TYPE_CHECKING:
    from tierctl.config.model import Throttle

WEEK = timedelta(days=7)


class Fatigue:
    """Decides, contact by contact, whether one more survey or message may go out now.

    ``last`` maps a contact e-mail to when it last got something that counts
    (:meth:`tierctl.storage.ledger.Ledger.last_surveyed`); ``week`` to the
    times of what it got in the last 7 days (only needed with
    ``messages_per_week``).
    """

    __slots__ = ("now", "window", "per_week", "last", "week", "this_run", "_windows")

    def __init__(self, throttle: "Throttle | None", now: datetime, last: dict[str, datetime] | None = None,
                 week: dict[str, list[datetime]] | None = None):
        self.now = now
        self.window = throttle.per_contact if throttle else None
        self.per_week = throttle.messages_per_week if throttle else None
        self.last = last or {}
        self.week = week or {}
        self.this_run: dict[str, int] = {}
        # Last contact -> (until, reason): a plan defers many contacts last contacted at one
        # moment (this run's, or one earlier send's).
        self._windows: dict[tuple[datetime, object], tuple[datetime, str]] = {}

    @property
    def active(self) -> bool:
        return self.window is not None or self.per_week is not None

    def hold(self, email: str) -> tuple[datetime, str] | None:
        """``(until, reason)`` when ``email`` must wait, else None (then call :meth:`note` if it is sent)."""
        sent_now = self.this_run.get(email, 0)
        if self.window is not None:
            last = self.now if sent_now else self.last.get(email)
            if last is not None:
                key = (last, last.tzinfo)  # one instant in two zones is written two ways
                held = self._windows.get(key)
                if held is None:
                    until = shift(last, self.window)
                    held = (until, f"throttle: contacted {last.isoformat()}, next allowed {until.isoformat()}")
                    if len(self._windows) >= 4096:
                        self._windows.clear()
                    self._windows[key] = held
                if self.now < held[0]:
                    return held
        if self.per_week is not None:
            recent = [t for t in self.week.get(email, ()) if t > self.now - WEEK]
            if len(recent) + sent_now >= self.per_week:
                # The oldest that counts must leave the 7 days first (or, if this run filled the
                # week, a week from now).
                times = sorted(recent) + [self.now] * sent_now
                until = times[len(times) - self.per_week] + WEEK
                return until, (f"throttle: {len(times)} surveys or messages in the last 7 days (at most "
                               f"{self.per_week}), next allowed {until.isoformat()}")
        return None

    def take(self, email: str) -> tuple[datetime, str] | None:
        """:meth:`hold`, and :meth:`note` when nothing holds ``email`` back: one call per decision.

        A contact this run has not sent to, without a recent contact in the ledger, is
        answered without working out any window (most contacts of a big plan)."""
        this_run = self.this_run
        if email in this_run or email in self.last or self.per_week is not None:
            held = self.hold(email)
            if held is not None:
                return held
        this_run[email] = this_run.get(email, 0) + 1
        return None

    def note(self, email: str) -> None:
        """This run sends ``email`` one more survey or message."""
        self.this_run[email] = self.this_run.get(email, 0) + 1
