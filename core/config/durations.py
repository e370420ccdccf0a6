"""Durations, agent-time caps and response targets as written in the config.

``30m 4h 7d 2w 1mo 3mo 1y`` are durations. Months and years are calendar
units, so a :class:`Duration` keeps months apart from seconds. Response
targets also accept ``N business hours|days`` and ``best effort``; agent time
caps are ``<duration>/<week|month|quarter|year>``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from tierctl.i18n import _, ngettext

_UNITS = {  # unit -> (months, seconds)
    "s": (0, 1), "sec": (0, 1), "second": (0, 1), "seconds": (0, 1),
    "m": (0, 60), "min": (0, 60), "minute": (0, 60), "minutes": (0, 60),
    "h": (0, 3600), "hour": (0, 3600), "hours": (0, 3600),
    "d": (0, 86400), "day": (0, 86400), "days": (0, 86400),
    "w": (0, 604800), "week": (0, 604800), "weeks": (0, 604800),
    "mo": (1, 0), "month": (1, 0), "months": (1, 0),
    "q": (3, 0), "quarter": (3, 0), "quarters": (3, 0),
    "y": (12, 0), "year": (12, 0), "years": (12, 0),
}
_PART = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*([a-z]+)\s*", re.I)
_BUSINESS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*business\s+(hour|hours|day|days)\s*$", re.I)

DURATION_HELP = "a duration such as 30m, 4h, 7d, 2w, 1mo, 3mo or 1y"
CAP_PERIODS = ("week", "month", "quarter", "year")
# Average lengths, for comparing caps across periods and for capacity plans.
_MONTHS_PER = {"week": 12 / 52, "month": 1, "quarter": 3, "year": 12}
_AVG_MONTH_SECONDS = 365.2425 * 86400 / 12


@dataclass(frozen=True)
class Duration:
    """A length of time: calendar ``months`` plus exact ``seconds``."""

    months: int = 0
    seconds: float = 0
    text: str = ""

    @classmethod
    def parse(cls, value: object) -> "Duration":
        """A duration as written in the config; negative lengths are refused."""
        duration = cls._parse(value)
        if duration.negative:
            raise ValueError(f"{duration.text!r} is negative; expected {DURATION_HELP}")
        return duration

    @classmethod
    def _parse(cls, value: object) -> "Duration":
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
        text = str(value).strip()
        if isinstance(value, int) or text.isdigit():
            raise ValueError(f"{text!r} has no unit; expected {DURATION_HELP}")
        pos, months, seconds = 0, 0, 0.0
        while pos < len(text):
            m = _PART.match(text, pos)
            if not m or m.group(2).lower() not in _UNITS:
                raise ValueError(f"cannot read {text!r} as a duration; expected {DURATION_HELP}")
            number, unit = float(m.group(1)), m.group(2).lower()
            mo, sec = _UNITS[unit]
            if mo and number != int(number):
                raise ValueError(f"{text!r}: months and years must be whole numbers")
            months += int(number) * mo
            seconds += number * sec
            pos = m.end()
        if not text:
            raise ValueError(f"empty duration; expected {DURATION_HELP}")
        return cls(months, seconds, text)

    @property
    def negative(self) -> bool:
        return self.months < 0 or self.seconds < 0

    @property
    def approx_seconds(self) -> float:
        """Length in seconds, counting a month as an average month."""
        return self.months * _AVG_MONTH_SECONDS + self.seconds

    def unit_count(self) -> tuple[float, str] | None:
        """``(2, "week")`` for 2w: the largest whole unit that expresses it, or None when mixed."""
        if self.months and not self.seconds:
            return (self.months // 12, "year") if self.months % 12 == 0 else (self.months, "month")
        if not self.months:
            s = self.seconds
            for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
                if s and s % size == 0:
                    return int(s // size), unit
            if s % 3600 == 0 or s >= 3600:
                return round(s / 3600, 2), "hour"
            return round(s / 60, 2), "minute"
        return None

    def human(self) -> str:
        """A readable form in the current language: ``30 minutes``, ``2 uur``, ``1 Monat``."""
        counted = self.unit_count()
        return self.text if counted is None else count_of(*counted)

    def every(self) -> str:
        """How often, in the current language: ``every week``, ``elke 2 weken``, ``alle 3 Monate``."""
        counted = self.unit_count()
        if counted is None:
            return _("every %(duration)s") % {"duration": self.text}
        n, unit = counted
        forms = {
            "year": ngettext("every year", "every %(num)s years", n),
            "month": ngettext("every month", "every %(num)s months", n),
            "week": ngettext("every week", "every %(num)s weeks", n),
            "day": ngettext("every day", "every %(num)s days", n),
            "hour": ngettext("every hour", "every %(num)s hours", n),
            "minute": ngettext("every minute", "every %(num)s minutes", n),
        }
        return forms[unit] % {"num": _number(n)}

    def __str__(self) -> str:
        return self.text


def _number(n: float) -> str:
    n = int(n) if float(n).is_integer() else n
    if isinstance(n, int):
        return str(n)
    from tierctl.i18n.formatting import format_number

    return format_number(n)


def count_of(n: float, unit: str) -> str:
    """``2 hours``, ``1 werkdag``, ``1,5 Stunden``: a number of ``unit`` in the current language."""
    forms = {
        "year": lambda: ngettext("%(num)s year", "%(num)s years", n),
        "month": lambda: ngettext("%(num)s month", "%(num)s months", n),
        "week": lambda: ngettext("%(num)s week", "%(num)s weeks", n),
        "day": lambda: ngettext("%(num)s day", "%(num)s days", n),
        "hour": lambda: ngettext("%(num)s hour", "%(num)s hours", n),
        "minute": lambda: ngettext("%(num)s minute", "%(num)s minutes", n),
        "business day": lambda: ngettext("%(num)s business day", "%(num)s business days", n),
        "business hour": lambda: ngettext("%(num)s business hour", "%(num)s business hours", n),
    }
    return forms[unit]() % {"num": _number(n)}


@dataclass(frozen=True)
class TimeCap:
    """Agent time per account per period, e.g. ``2h/month``."""

    amount: Duration
    per: str
    text: str = ""

    @classmethod
    def parse(cls, value: object) -> "TimeCap":
        if isinstance(value, TimeCap):
            return value
        if not isinstance(value, str) or "/" not in value:
            raise ValueError(f"expected <duration>/<{'|'.join(CAP_PERIODS)}> such as 2h/month, got {value!r}")
        amount_text, per = (part.strip() for part in value.split("/", 1))
        per = per.lower()
        if per not in CAP_PERIODS:
            raise ValueError(f"period {per!r} is not one of {', '.join(CAP_PERIODS)} (as in 2h/month)")
        amount = Duration._parse(amount_text)
        if amount.negative:
            raise ValueError(f"{value!r} is negative; an agent-time cap must be zero or more, such as 30m/{per}")
        if amount.months:
            raise ValueError(f"{value!r}: express agent time in minutes, hours or days, such as 10h/{per}")
        return cls(amount, per, value.strip())

    @property
    def hours_per_month(self) -> float:
        return self.amount.seconds / 3600 / _MONTHS_PER[self.per]

    def human(self) -> str:
        amount = self.amount.human()
        return {"week": _("%(amount)s per week"), "month": _("%(amount)s per month"),
                "quarter": _("%(amount)s per quarter"), "year": _("%(amount)s per year")}[self.per] % {"amount": amount}

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ResponseTarget:
    """A first-response target: clock time, business time, or best effort."""

    kind: str  # "clock" | "business" | "best_effort"
    duration: Duration | None
    text: str = ""

    @classmethod
    def parse(cls, value: object) -> "ResponseTarget":
        if isinstance(value, ResponseTarget):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a response target such as 4h, 1 business day or best effort, got {value!r}")
        text = value.strip()
        if text.lower().replace("-", " ") in ("best effort", "no guarantee"):
            return cls("best_effort", None, text)
        m = _BUSINESS.match(text)
        if m:
            number, unit = float(m.group(1)), m.group(2).lower()
            if not number:
                raise ValueError(f"{text!r}: a response target must be more than zero, such as 4 business hours")
            seconds = number * (3600 if unit.startswith("hour") else 86400)
            return cls("business", Duration(0, seconds, text), text)
        try:
            duration = Duration._parse(text)
        except ValueError:
            raise ValueError(f"cannot read {text!r} as a response target; expected a duration (4h, 2d), "
                             "N business hours|days, or best effort") from None
        if duration.negative or not duration.approx_seconds:
            raise ValueError(f"{text!r}: a response target must be more than zero, such as 4h, "
                             "1 business day or best effort")
        return cls("clock", duration, text)

    @property
    def sort_seconds(self) -> float:
        """For ordering targets: business days count as 24h, best effort last."""
        return float("inf") if self.duration is None else self.duration.approx_seconds

    def human(self) -> str:
        if self.kind == "best_effort":
            return _("Best effort")
        assert self.duration is not None
        if self.kind == "business":
            # As written: 24 business hours is not 1 business day.
            m = _BUSINESS.match(self.text)
            assert m is not None
            unit = "hour" if m.group(2).lower().startswith("hour") else "day"
            return count_of(float(m.group(1)), f"business {unit}")
        return self.duration.human()

    def __str__(self) -> str:
        return self.text


def shift(moment: datetime, duration: Duration, sign: int = 1) -> datetime:
    """``moment`` plus (or, with ``sign=-1``, minus) a Duration; months are calendar months."""
    if duration.months:
        month = moment.month - 1 + sign * duration.months
        year = moment.year + month // 12
        month = month % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        moment = moment.replace(year=year, month=month, day=day)
    return moment + sign * timedelta(seconds=duration.seconds)
