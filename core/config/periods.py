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
