"""Simple calendar series expanded by arithmetic, without parsing them with icalendar.

Most events in a calendar export are plain: a UID, a start in a named zone
(or UTC), an end or a duration, a summary, and at most a daily or weekly
rule with an interval and an end date. icalendar and recurring_ical_events
cost about half a millisecond for each such event (20,000 recurring
meetings: ten seconds); their occurrences are a start plus whole days, so
this module works them out directly: a few microseconds each.

Anything else goes the general way (``source_ical``), judged from the text
before anything is parsed: parameters other than ``TZID``, quoted or
escaped values, floating or all-day times, BY... rule parts (but one BYDAY
on the start's weekday in a weekly rule), a COUNT from over ten years before
the window, RDATE,
EXDATE, EXRULE, RECURRENCE-ID, a UID that appears twice (overrides), a zone
the file defines itself (VTIMEZONE) or that is not a known zone name, and
any occurrence in the window whose start or end is in a daylight-saving
gap or fold, or whose meeting spans a change of offset.
``tests/sources/test_ical_simple.py`` checks that both ways give the same
meetings.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, NamedTuple

from tierctl.records import Meeting

_MOMENT = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)")
_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
#: The properties a simple event may have (each once).
SIMPLE_PROPERTIES = frozenset({"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "SUMMARY", "STATUS", "SEQUENCE"})
_STEP_DAYS = {"DAILY": 1, "WEEKLY": 7}
_RULE_PARTS = frozenset({"FREQ", "INTERVAL", "UNTIL", "COUNT", "WKST", "BYDAY"})
_WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
#: A series with a COUNT that started longer ago than this before the window goes the general way
#: (which judges how far it must count: source_ical._too_old).
_COUNT_HORIZON = timedelta(days=3650)


class SimpleEvent(NamedTuple):
    """An event this module can expand: its start as wall-clock time in ``tzid`` ("" is UTC).

    A named tuple: one is made for every plain event of a calendar, three times faster than a frozen
    dataclass."""

    uid: str
    summary: str
    tzid: str
    start: datetime
    length: timedelta
    step_days: int  # 0: it does not repeat
    interval: int
    until: datetime | None  # UTC, inclusive
    cancelled: bool
    count: int | None = None  # the number of occurrences (COUNT), or None


@lru_cache(maxsize=256)
def known_zone(name: str) -> Any:
    """The ZoneInfo called ``name``, or None."""
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name) if name and ".." not in name and not name.startswith("/") else None
    except (ValueError, OSError, LookupError):
        return None


@lru_cache(maxsize=4096)
def _moment(value: str) -> tuple[datetime, bool] | None:
    # Cached: an export repeats the same few starts and ends (a weekly slot) thousands of times.
    match = _MOMENT.fullmatch(value)
    if match is None:
        return None
    try:
        return datetime(*(int(g) for g in match.groups()[:6])), bool(match.group(7))
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _duration(value: str) -> timedelta | None:
    match = _DURATION.fullmatch(value)
    if match is None or value in ("P", "PT"):
        return None
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


@lru_cache(maxsize=1024)
def _rule(value: str) -> tuple[int, int, datetime | None, int | None, int | None] | None:
    """(days per step, interval, UNTIL in UTC or None, COUNT or None, BYDAY's weekday or None) of a
    simple RRULE value, or None.

    BYDAY may name one day, in a weekly rule: when that is the start's weekday (see :func:`_timing`) the
    rule repeats as it would without it, whatever WKST says (Google and Outlook write it so)."""
    parts = {}
    for part in value.upper().split(";"):
        key, sep, text = part.partition("=")
        if not sep or key in parts or key not in _RULE_PARTS:
            return None
        parts[key] = text
    step_days = _STEP_DAYS.get(parts.get("FREQ", ""), 0)
    if not step_days or parts.get("WKST", "MO") not in _WEEKDAYS:
        return None
    interval, until, count, weekday = 1, None, None, None
    if "COUNT" in parts:
        if "UNTIL" in parts or not parts["COUNT"].isdigit() or not 1 <= int(parts["COUNT"]) <= 10_000:
            return None
        count = int(parts["COUNT"])
    if "BYDAY" in parts:
        weekday = _WEEKDAYS.get(parts["BYDAY"])
        if weekday is None or step_days != 7:
            return None
    if "INTERVAL" in parts:
        if not parts["INTERVAL"].isdigit() or not 1 <= int(parts["INTERVAL"]) <= 1000:
            return None
        interval = int(parts["INTERVAL"])
    if "UNTIL" in parts:
        found = _moment(parts["UNTIL"])
        if found is None or not found[1]:
            return None  # a date or a floating UNTIL: the general way
        until = found[0].replace(tzinfo=timezone.utc)
    return step_days, interval, until, count, weekday


def properties(lines: list[str]) -> dict[str, tuple[str, str]] | None:
    """``{NAME: (parameters, value)}`` of an event's property lines, if each is one a simple event may
    have, once, without quotes or escapes; else None."""
    seen: dict[str, tuple[str, str]] = {}
    for line in lines:
        if '"' in line or "\\" in line:
            return None
        head, sep, value = line.partition(":")
        if not sep:
            return None
        name, _, params = head.partition(";")
        name = name.upper()
        if name not in SIMPLE_PROPERTIES or name in seen:
            return None
        seen[name] = (params, value.strip())
    return seen


def parse_simple(lines: list[str]) -> SimpleEvent | None:
    """The event whose property lines (unfolded, without BEGIN/END) are ``lines``, if it is simple."""
    seen = properties(lines)
    return None if seen is None else simple_event(seen)


def simple_event(seen: dict[str, tuple[str, str]]) -> SimpleEvent | None:
    """The event with the properties ``seen`` (as :func:`properties` gives them), if it is simple."""
    uid, start = seen.get("UID"), seen.get("DTSTART")
    if uid is None or start is None or not uid[1]:
        return None
    for name, (params, _) in seen.items():
        if params and name != "DTSTART" and name != "DTEND":
            return None
    timing = _timing(start, seen.get("DTEND"), seen.get("DURATION"), seen.get("RRULE"))
    if timing is None:
        return None
    summary, status = seen.get("SUMMARY"), seen.get("STATUS")
    tzid, first, length, step_days, interval, until, count = timing
    return SimpleEvent(uid[1], summary[1] if summary else "", tzid, first, length, step_days, interval, until,
                       status is not None and status[1].upper() == "CANCELLED", count)


Property = tuple[str, str]  # (parameters, value)


@lru_cache(maxsize=4096)
def _timing(start_property: Property, end_property: Property | None, duration: Property | None,
            rule: Property | None) -> tuple[str, datetime, timedelta, int, int, datetime | None, int | None] | None:
    """(zone, wall-clock start, length, days per step, interval, UNTIL, COUNT) of a simple event's DTSTART, DTEND,
    DURATION and RRULE (parameters and value), or None. Cached: a calendar has few distinct slots."""
    start_params, start_text = start_property
    start = _moment(start_text)
    tzid = start_params[5:] if start_params[:5].upper() == "TZID=" else None
    if start is None or tzid is None and start_params or start[1] != (tzid is None):
        return None  # a UTC start has no parameters and ends in Z; a zoned one has TZID and no Z
    tzid = tzid or ""
    if tzid and known_zone(tzid) is None:
        return None
    length = timedelta(0)  # no end and no duration: recurring_ical_events ends it where it starts
    if end_property is not None:
        if duration is not None:
            return None
        end_params, end_text = end_property
        end = _moment(end_text)
        if end is None or end_params != start_params or end[1] != start[1] or end[0] < start[0]:
            return None
        length = end[0] - start[0]
    elif duration is not None:
        found = _duration(duration[1])
        if found is None:
            return None
        length = found
    step_days, interval, until, count = 0, 1, None, None
    if rule is not None:
        parsed = _rule(rule[1])
        if parsed is None:
            return None
        step_days, interval, until, count, weekday = parsed
        if weekday is not None and weekday != start[0].weekday():
            return None  # a weekly rule on another day than the start's: the general way
    return tzid, start[0], length, step_days, interval, until, count


def _placed(wall: datetime, zone: Any) -> datetime | None:
    """``wall`` in ``zone``, or None in a daylight-saving gap or fold (left to the general way)."""
    aware = wall.replace(tzinfo=zone)
    if zone is not timezone.utc and aware.replace(fold=1).utcoffset() != aware.utcoffset():
        return None
    return aware


#: What an event's occurrences in one window are, apart from its UID, summary and attendees: for each,
#: (its start in UTC as written in occurrence ids, its start and its end in the organisation's zone).
Timings = tuple[tuple[str, datetime, datetime], ...]


def occurrences(event: SimpleEvent, start: datetime, end: datetime, org_zone: Any,
                attendees: frozenset[str], timings: dict[tuple, Timings | None] | None = None
                ) -> list[Meeting] | None:
    """The event's meetings starting in ``[start, end)``, or None if one needs the general way.

    ``timings``: a cache shared by the events of one read (one window and zone): many events share
    a start, a length and a rule (a weekly slot), so their occurrences are worked out once."""
    if event.cancelled:
        return []
    key = (event.tzid, event.start, event.length, event.step_days, event.interval, event.until, event.count)
    found = timings.get(key, False) if timings is not None else False
    if found is False:
        found = _timings(event, start, end, org_zone)
        if timings is not None:
            timings[key] = found
    if found is None:
        return None
    uid, summary = event.uid, event.summary
    return [Meeting(f"{uid}@{moment}", uid, at, finish, summary, attendees) for moment, at, finish in found]


def _timings(event: SimpleEvent, start: datetime, end: datetime, org_zone: Any) -> Timings | None:
    zone = known_zone(event.tzid) if event.tzid else timezone.utc
    # The window as wall-clock time in the event's zone, a day wider (offsets differ by under a day).
    lo = start.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    hi = end.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    walls = []
    if event.step_days == 0:
        if lo <= event.start <= hi:
            walls.append(event.start)
    else:
        if event.count is not None and lo - event.start > _COUNT_HORIZON:
            return None
        step = timedelta(days=event.step_days * event.interval)
        k = max(0, -((event.start - lo) // step))  # the first repetition not before lo
        if event.count is not None:
            hi = min(hi, event.start + (event.count - 1) * step)  # the last of COUNT repetitions
        wall = event.start + k * step
        while wall <= hi:
            walls.append(wall)
            wall += step
    found = []
    for wall in walls:
        aware = _placed(wall, zone)
        if aware is None:
            return None
        utc = aware.astimezone(timezone.utc)
        if event.until is not None and utc > event.until:
            break
        at = aware.astimezone(org_zone)
        if not start <= at < end:
            continue
        finish = _placed(wall + event.length, zone)
        if finish is None or finish.utcoffset() != aware.utcoffset():
            return None  # the meeting spans a change of offset
        found.append((f"{utc:%Y-%m-%dT%H:%M:%SZ}", at, finish.astimezone(org_zone)))
    return tuple(found)
