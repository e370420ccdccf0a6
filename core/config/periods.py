"""Calendar periods (month, quarter, half-year, year) in the organisation's time zone.

A periodic survey's occasion is the period it belongs to, labelled
``2027-01``, ``2027-Q1``, ``2027-H1`` or ``2027``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

_MONTHS = {"month": 1, "quarter": 3, "half-year": 6, "year": 12}


@dataclass(frozen=True)
class Period:
    """One calendar period: its label and its [start, end) as aware datetimes."""

    kind: str
    label: str
    start: datetime
    end: datetime


def period_containing(moment: datetime, kind: str, tz: tzinfo) -> Period:
    """The period of ``kind`` that contains ``moment`` (read in zone ``tz``)."""
    size = _MONTHS[kind]
    local = moment.astimezone(tz)
    first_month = (local.month - 1) // size * size + 1
    start = datetime(local.year, first_month, 1, tzinfo=tz)
    end_month = first_month + size
    end = datetime(local.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1, tzinfo=tz)
    index = (first_month - 1) // size + 1
    label = {"month": f"{local.year}-{first_month:02d}", "quarter": f"{local.year}-Q{index}",
             "half-year": f"{local.year}-H{index}", "year": f"{local.year}"}[kind]
    return Period(kind, label, start, end)


#: The periods reports group by.
PERIOD_KINDS = ("month", "quarter", "half-year", "year")
#: Periods per year, by kind.
_PER_YEAR = {"month": 12, "quarter": 4, "half-year": 2, "year": 1}


def period_of(day: str, kind: str) -> str:
    """The label of the ``kind`` period containing ``day`` (``YYYY-MM-DD``): ``2027-01``, ``2027-Q1``,
    ``2027-H1``, ``2027``."""
    if kind == "month":
        return day[:7]
    if kind == "quarter":
        return f"{day[:4]}-Q{(int(day[5:7]) + 2) // 3}"
    if kind == "half-year":
        return f"{day[:4]}-H{(int(day[5:7]) + 5) // 6}"
    if kind == "year":
        return day[:4]
    raise ValueError(f"unknown period {kind!r}; periods are {', '.join(PERIOD_KINDS)}")


def _parse(label: str, kind: str) -> tuple[int, int]:
    """``(year, index)``: the month (1-12), quarter (1-4), half (1-2) or 1 for a year."""
    if kind == "month":
        return int(label[:4]), int(label[5:7])
    if kind in ("quarter", "half-year"):
        return int(label[:4]), int(label[6:])
    return int(label), 1


def _label(year: int, index: int, kind: str) -> str:
    if kind == "month":
        return f"{year:04d}-{index:02d}"
    if kind == "quarter":
        return f"{year:04d}-Q{index}"
    if kind == "half-year":
        return f"{year:04d}-H{index}"
    return f"{year:04d}"


def shift_period(label: str, kind: str, by: int) -> str:
    """The period ``by`` periods after (negative: before) ``label``."""
    year, index = _parse(label, kind)
    size = _PER_YEAR[kind]
    n = year * size + (index - 1) + by
    return _label(n // size, n % size + 1, kind) if kind != "year" else _label(n, 1, kind)


def previous_period(label: str, kind: str) -> str:
    """The calendar period before ``label``: ``2027-Q1`` -> ``2026-Q4``."""
    return shift_period(label, kind, -1)


def period_days(label: str, kind: str) -> tuple[str, str]:
    """``(first day, first day of the next period)`` as ``YYYY-MM-DD``: a half-open range of due days."""
    year, index = _parse(label, kind)
    months = 12 // _PER_YEAR[kind]
    first_month = months * (index - 1) + 1
    start = f"{year:04d}-{first_month:02d}-01"
    nxt_year, nxt_index = _parse(shift_period(label, kind, 1), kind)
    nxt_month = months * (nxt_index - 1) + 1
    return start, f"{nxt_year:04d}-{nxt_month:02d}-01"


def period_range(first: str, last: str, kind: str) -> list[str]:
    """Every period from ``first`` to ``last`` inclusive, in order."""
    out, label = [], first
    while label <= last:
        out.append(label)
        label = shift_period(label, kind, 1)
    return out
