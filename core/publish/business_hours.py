""""Business hours" in words, in the current language: days, times, zone and holidays.

``Monday to Friday, 09:00–17:00 (Europe/Amsterdam); closed on Dutch public holidays``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierctl.i18n import _
from tierctl.i18n.formatting import day_names, format_date, format_list

if TYPE_CHECKING:
    from tierctl.config.model import Config

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def business_hours_lines(config: "Config") -> list[str]:
    """What business hours are, as lines for a page; [] when the config does not say."""
    hours = config.organization.business_hours
    if hours is None:
        return []
    names = day_names()
    indexes = sorted({_DAYS.index(d) for d in hours.days})
    if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        days = _("%(first)s to %(last)s") % {"first": names[indexes[0]], "last": names[indexes[-1]]}
    else:
        days = format_list([names[i] for i in indexes])
    days = days[:1].upper() + days[1:]
    zone = hours.timezone or config.organization.timezone
    lines = [_("%(days)s, %(start)s–%(end)s (%(zone)s time).") % {"days": days, "start": hours.start,
                                                                   "end": hours.end, "zone": zone}]
    if hours.holidays:
        lines.append(_("Closed on %(holidays)s.") % {"holidays": hours.holidays})
    if hours.closed_on:
        lines.append(_("Also closed on %(days)s.") % {"days": format_list([format_date(d) for d in hours.closed_on])})
    return lines
