"""The ``ical`` meeting source: meetings from an iCalendar (.ics) export.

Configure it under ``sources:``::

    sources:
      meetings: {plugin: ical, path: meetings.ics}   # relative to the config file

Works with exports from Google Calendar, Outlook and Fastmail. Recurrence is
expanded by ``recurring_ical_events`` (RRULE, RDATE, EXDATE, moved occurrences
with RECURRENCE-ID, VTIMEZONE and Windows zone names). Times without a zone
(floating) and all-day events are read in the organisation's zone
(``organization.timezone``); all-day events start at 00:00 there. Every start
is returned as an aware datetime in that zone.

Times in UTC stay in UTC, also in a Google export with ``X-WR-TIMEZONE``: a
UTC series recurs at the same UTC time, as RFC 5545 says and as Google's own
overrides show (their RECURRENCE-ID is the UTC time of the occurrence they
replace). ``recurring_ical_events.of()`` would first rewrite every UTC value
into the X-WR-TIMEZONE zone (the ``x-wr-timezone`` package), turning the
series into a wall-clock one that moves by an hour at a DST change while the
overrides' RECURRENCE-IDs move differently, so a cancelled occurrence no
longer matches the one it cancels; tierctl therefore expands with
``CalendarQuery`` directly (tests/sources/test_source_ical_hostile.py keeps
a minimal reproduction).

Cancelled events and cancelled occurrences (``STATUS:CANCELLED``) are left out.

A series tierctl cannot expand safely is a skipped row with the line of its
UID and the reason, and the rest of the file is read: an RRULE without a
FREQ (``RRULE:@@@``), a TZID that is neither in the file's VTIMEZONEs nor a
known zone (``Mars/Olympus_Mons``), and a series denser than a meeting series
can be (more than one occurrence a day: ``FREQ=MINUTELY``, ``SECONDLY``,
``HOURLY`` under 24 hours, several BYHOUR/BYMINUTE/BYSECOND values). A daily
or weekly series without COUNT that started long ago is expanded from just
before the window, not from its DTSTART, so a series from 1970 costs what one
from last month does.

``occurrence_id`` is ``UID@<original start in UTC>``, e.g.
``abc123@2027-03-29T08:00:00Z``: the original start is the occurrence's
RECURRENCE-ID, so a moved occurrence keeps its id. All-day occurrences use
their date (``abc123@2027-03-29``), which does not depend on any zone.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from tierctl.errors import TierctlError
from tierctl.hookspecs import hookimpl
from tierctl.plugins.ical_prefilter import UNFOLD, nothing_to_parse
from tierctl.plugins.ical_prefilter import slim as _slim
from tierctl.records import Meeting, RowProblem
from tierctl.sources import MeetingSource, Report, SourceOptions

EXPORT_HINT = ("export the calendar again as an .ics file (Google Calendar: Settings > Import & export > Export; "
               "Outlook: File > Save Calendar; Fastmail: Settings > Calendars > Export)")


class IcalOptions(SourceOptions):
    """Options of the ``ical`` source."""

    path: str


class IcalMeetings(MeetingSource):
    """Meeting occurrences from an iCalendar file, recurrences expanded."""

    name = "ical"
    description = "Meetings from an iCalendar (.ics) export of Google Calendar, Outlook or Fastmail"
    Options = IcalOptions
    input_files = ("path",)

    @property
    def path(self) -> Path:
        return Path(self.base_dir) / self.options.path

    @property
    def worth_a_worker(self) -> bool:
        # Parsing and expanding costs about 0.5 ms per event icalendar reads and
        # ~15 us per plain one (ical_prefilter); a worker costs a fork, and its
        # meetings are copied back, so only big calendars get one.
        try:
            return self.path.stat().st_size > 2_000_000
        except OSError:
            return False

    def meetings(self, start: datetime, end: datetime, report: Report) -> Iterator[Meeting]:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(self.config.organization.timezone)
        start = start.replace(tzinfo=zone) if start.tzinfo is None else start.astimezone(zone)
        end = end.replace(tzinfo=zone) if end.tzinfo is None else end.astimezone(zone)
        if end <= start:
            return
        raw, calendars, attendees, found = self._read(start, end)
        shown = self.options.path
        lines = _UidLines(raw)
        for calendar in calendars:
            for component in _occurrences(calendar, start, end, shown, lines, report):
                meeting = _meeting(component, zone, attendees)
                if meeting is not None and start <= meeting.start < end:
                    found.append(meeting)
        found.sort(key=lambda m: (m.start, m.occurrence_id))
        yield from found

    def _read(self, start: datetime, end: datetime) -> tuple[bytes, list[Any], list[frozenset[str]], list[Meeting]]:
        """The raw file, its calendars (only events that may start in the window and are not simple),
        attendee sets, and the simple events' meetings in the window."""
        shown = self.options.path
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise TierctlError(f"{shown}: meetings file not found (looked for {self.path}); sources.meetings.path "
                               f"is relative to the config file's folder; {EXPORT_HINT}") from None
        except OSError as exc:
            raise TierctlError(f"{shown}: cannot read the meetings file: {exc.strerror or exc}") from None
        if b"BEGIN:VCALENDAR" not in raw[:4096].upper():
            raise TierctlError(f"{shown}: not an iCalendar file (it does not start with BEGIN:VCALENDAR); "
                               f"{EXPORT_HINT}")
        text, attendees, simple = _slim(raw.decode("utf-8-sig", "replace"), start, end)
        if nothing_to_parse(text):  # every event was simple or outside the window
            return raw, [], attendees, simple
        import icalendar

        try:
            calendars = icalendar.Calendar.from_ical(text, multiple=True)
        except Exception as exc:  # icalendar raises ValueError and friends on broken files
            raise TierctlError(f"{shown}: cannot parse the iCalendar file: {exc}; {EXPORT_HINT}") from None
        if not calendars:
            raise TierctlError(f"{shown}: no complete calendar in the file (is it cut off? it should end with "
                               f"END:VCALENDAR); {EXPORT_HINT}")
        return raw, calendars, attendees, simple


def _expand(calendar: Any, start: datetime, end: datetime) -> list[Any]:
    """recurring_ical_events without its X-WR-TIMEZONE rewrite (see the module docstring)."""
    import recurring_ical_events

    return list(recurring_ical_events.CalendarQuery(calendar).between(start, end))


def _occurrences(calendar: Any, start: datetime, end: datetime, shown: str, lines: "_UidLines",
                 report: Report) -> list[Any]:
    """Occurrences overlapping [start, end); a broken series is reported and skipped."""
    events = calendar.walk("VEVENT")
    reasons = {id(event): _unusable(event) for event in events}
    for event in events:
        if not reasons[id(event)]:
            _start_near(event, start)
            reasons[id(event)] = _too_old(event, start)
    bad = [event for event in events if reasons[id(event)]]
    bad_uids = {str(event.get("UID", "")) for event in bad}
    # An override of a skipped series is skipped with it (it would otherwise stand alone).
    bad += [event for event in events if not reasons[id(event)] and "RECURRENCE-ID" in event
            and str(event.get("UID", "")) in bad_uids]
    for event in bad:
        if reasons[id(event)]:
            uid = str(event.get("UID", ""))
            report(RowProblem(shown, lines.find(uid), f"event {uid or '(no UID)'} {reasons[id(event)]}; skipped"))
    if bad:
        calendar = _without(calendar, {id(e) for e in bad})
    try:
        return _expand(calendar, start, end)
    except Exception:
        pass
    # Some series is broken in a way only the expansion finds (a bad RRULE, an
    # end before the start): expand series by series and report the bad ones.
    out = []
    by_uid: dict[str, list[Any]] = {}
    for event in calendar.walk("VEVENT"):
        by_uid.setdefault(str(event.get("UID", "")), []).append(event)
    zones = calendar.walk("VTIMEZONE")
    for uid, series in by_uid.items():
        single = _calendar_like(calendar, zones + series)
        try:
            out.extend(_expand(single, start, end))
        except Exception as exc:
            report(RowProblem(shown, lines.find(uid), f"event {uid or '(no UID)'} cannot be expanded: {exc}; "
                              "skipped"))
    return out


_DATED = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")
_SECONDS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600}
_FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
#: A series that started longer ago than this before the window is expanded from near the window.
_REBASE_AFTER = timedelta(days=400)


def _unusable(event: Any) -> str:
    """Why this event cannot be used (worded for the skipped row), or ``""``."""
    if "DTSTART" not in event:
        return "has no DTSTART"
    broken = _broken(event)
    if broken:
        return f"cannot be read: {broken}"
    for name in ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
        if isinstance(event.get(name), list):
            return f"has {len(event.get(name))} {name} lines; an event has one"
    ends = _ends_before_start(event)
    if ends:
        return ends
    for name in _DATED:
        for prop in _values(event.get(name)):
            zone = prop.params.get("TZID") if hasattr(prop, "params") else None
            values = [d for d in (getattr(prop, "dts", None) or [prop])]
            if zone and any(isinstance(getattr(v, "dt", None), datetime) and v.dt.tzinfo is None
                            for v in values):
                return (f"{name} has the time zone TZID={zone}, which is not defined in the file (VTIMEZONE) "
                        "and is not a known zone")
    for rule in _values(event.get("RRULE")):
        freq = (rule.get("FREQ") or [""])[0] if hasattr(rule, "get") else ""
        text = rule.to_ical().decode("utf-8", "replace") if hasattr(rule, "to_ical") else str(rule)
        if str(freq).upper() not in _FREQS:
            return f"has an RRULE without a valid FREQ ({text or 'empty'}): cannot tell when it repeats"
        interval = (rule.get("INTERVAL") or [1])[0]
        if not isinstance(interval, int) or interval < 1:
            # INTERVAL=0 never moves on: the expansion would repeat its first date without end.
            return (f"has an RRULE with INTERVAL={interval} (RRULE:{text}): it never moves on to a next date; "
                    "export it again")
        seconds = _SECONDS.get(str(freq).upper())
        per_day = 1
        for part in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            per_day *= max(1, len(rule.get(part) or []))
        if (seconds is not None and seconds * max(1, int(interval)) < 86400) or per_day > 1:
            return (f"repeats more than once a day (RRULE:{text}), more often than a meeting series can; "
                    "if it is a real meeting, export it again with a daily or weekly rule")
    return ""


def _ends_before_start(event: Any) -> str:
    """``"ends before it starts (...)"`` for a DTEND before DTSTART or a negative DURATION, else ``""``."""
    begin = getattr(event.get("DTSTART"), "dt", None)
    finish = getattr(event.get("DTEND"), "dt", None)
    duration = getattr(event.get("DURATION"), "dt", None)
    if isinstance(duration, timedelta) and duration < timedelta(0):
        return f"ends before it starts (DURATION {duration})"
    if begin is None or finish is None:
        return ""
    try:
        if isinstance(begin, datetime) != isinstance(finish, datetime):
            return ""  # a date beside a time: judged when the occurrence is read
        if isinstance(begin, datetime) and (begin.tzinfo is None) != (finish.tzinfo is None):
            return ""
        if finish < begin:
            return f"ends before it starts (DTEND {finish} is before DTSTART {begin})"
    except TypeError:
        return ""
    return ""


def _values(prop: Any) -> list[Any]:
    if prop is None:
        return []
    return list(prop) if isinstance(prop, list) else [prop]


def _start_near(event: Any, start: datetime) -> None:
    """Move an old daily or weekly series' DTSTART (and DTEND) forward by whole intervals to just
    before ``start``: the same occurrences from there on, without iterating over decades.

    Anything unexpected leaves the event as it is (the expansion then judges it)."""
    try:
        _move_start(event, start)
    except (TypeError, ValueError, AttributeError, OverflowError, KeyError):
        pass


def _first_moment(event: Any) -> datetime:
    """DTSTART as an aware datetime (a date at 00:00 UTC, a floating time as UTC: close enough to judge age)."""
    first = event["DTSTART"].dt
    if not isinstance(first, datetime):
        return datetime.combine(first, time(0), timezone.utc)
    return first.replace(tzinfo=timezone.utc) if first.tzinfo is None else first


def _move_start(event: Any, start: datetime) -> None:
    rules = _values(event.get("RRULE"))
    if not rules or "RECURRENCE-ID" in event or "EXRULE" in event:
        return
    days = 1
    for rule in rules:
        freq = str((rule.get("FREQ") or [""])[0]).upper()
        if freq not in ("DAILY", "WEEKLY") or rule.get("COUNT"):
            return  # COUNT counts from DTSTART; monthly and yearly series are cheap to expand anyway
        days = math.lcm(days, max(1, int((rule.get("INTERVAL") or [1])[0])) * (7 if freq == "WEEKLY" else 1))
    first_moment = _first_moment(event)
    late = start.astimezone(timezone.utc) - _REBASE_AFTER
    if first_moment >= late:
        return
    step = timedelta(days=days)
    shift = step * ((late - first_moment) // step)
    if not shift:
        return
    # Adding to an aware datetime keeps its wall-clock time and zone, as the rule expands. RDATEs are
    # absolute and stay; the ones before the new DTSTART are long before the window.
    event["DTSTART"].dt = event["DTSTART"].dt + shift
    if "DTEND" in event:
        event["DTEND"].dt = event["DTEND"].dt + shift


#: A series that would still be iterated over more periods than this to reach the window is skipped.
_MAX_PERIODS = 100_000
_PERIOD = {"DAILY": timedelta(days=1), "WEEKLY": timedelta(days=7), "MONTHLY": timedelta(days=28),
           "YEARLY": timedelta(days=365)}


def _too_old(event: Any, start: datetime) -> str:
    """Why expanding this series up to ``start`` would take too long (after :func:`_start_near`), or ``""``."""
    try:
        first_moment = _first_moment(event)
        for rule in _values(event.get("RRULE")):
            period = _PERIOD.get(str((rule.get("FREQ") or [""])[0]).upper())
            if period is None:
                continue
            periods = (start.astimezone(timezone.utc) - first_moment) / (
                period * max(1, int((rule.get("INTERVAL") or [1])[0])))
            if periods > _MAX_PERIODS:
                return (f"starts on {first_moment.date().isoformat()}, {int(periods):,} repetitions before the "
                        "dates planned, too many to expand; export it again from a recent date")
    except (TypeError, ValueError, AttributeError, OverflowError, KeyError):
        return ""
    return ""


def _broken(event: Any) -> str:
    """The parse error of DTSTART/DTEND/RRULE/RECURRENCE-ID, if icalendar recorded one."""
    for name, error in getattr(event, "errors", ()) or ():
        if str(name).upper() in ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
            return f"{name}: {error}"
    return ""


def _without(calendar: Any, drop: set[int]) -> Any:
    """A copy of ``calendar`` without the components in ``drop``, at any depth (a file may nest calendars)."""
    keep = []
    for component in calendar.subcomponents:
        if id(component) in drop:
            continue
        if any(id(c) in drop for c in component.walk()):
            inner = copy.copy(component)
            inner.subcomponents = _without(component, drop).subcomponents
            component = inner
        keep.append(component)
    return _calendar_like(calendar, keep)


def _calendar_like(calendar: Any, subcomponents: list[Any]) -> Any:
    import icalendar

    like = icalendar.Calendar()
    for key, value in calendar.items():
        like[key] = value
    like.subcomponents = list(subcomponents)
    return like


def _meeting(component: Any, zone: Any, attendee_sets: list[frozenset[str]]) -> Meeting | None:
    """A Meeting from one expanded occurrence, or None if it is cancelled."""
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return None
    dtstart = component["DTSTART"].dt
    all_day = not isinstance(dtstart, datetime)
    start = _aware(dtstart, zone)
    dtend = component.get("DTEND")
    end = _aware(dtend.dt, zone) if dtend is not None else (start + timedelta(days=1) if all_day else None)
    if end is not None and end < start:
        end = None
    uid = str(component.get("UID", "")).strip()
    summary = str(component.get("SUMMARY", "")).strip()
    original = component.get("RECURRENCE-ID")
    original = original.dt if original is not None else dtstart
    if not uid:
        # No UID (rare, not valid iCalendar): derive one that is stable for the same event.
        uid = "nouid-" + hashlib.sha1(f"{summary}|{_moment(original, zone)}".encode()).hexdigest()[:16]
    return Meeting(occurrence_id=f"{uid}@{_moment(original, zone)}", uid=uid, start=start, end=end,
                   summary=summary, attendees=attendee_sets[int(component.get("X-TIERCTL-ATTENDEES", 0))]
                   if attendee_sets else frozenset(), all_day=all_day)


def _aware(value: date | datetime, zone: Any) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), zone)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value.astimezone(zone)


def _moment(value: date | datetime, zone: Any) -> str:
    """The original start as used in occurrence ids: UTC ISO, or the date of an all-day event."""
    if not isinstance(value, datetime):
        return value.isoformat()
    return _aware(value, zone).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _UidLines:
    """Line numbers of UIDs in the raw file, looked up only when a problem is reported."""

    _UID = re.compile(r"^UID(?:;[^:\r\n]*)?:((?:[^\r\n]|\r?\n[ \t])*)", re.I | re.M)

    def __init__(self, raw: bytes):
        self.raw = raw
        self._lines: dict[str, int] | None = None

    def find(self, uid: str) -> int:
        """The physical line of the event's UID (long UIDs are folded over several lines), or 0."""
        if self._lines is None:
            self._lines = {}
            text = self.raw.decode("utf-8-sig", "replace")
            for match in self._UID.finditer(text):
                value = UNFOLD.sub("", match.group(1)).strip()
                self._lines.setdefault(value, text.count("\n", 0, match.start()) + 1)
        return self._lines.get(uid, 0)


@hookimpl
def register_sources(register):
    register("ical", IcalMeetings)
