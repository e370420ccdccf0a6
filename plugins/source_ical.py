"""The ``ical`` meeting source: meetings from an iCalendar (.ics) export.

Configure it under ``sources:``::

    sources:
      meetings: {plugin: ical, path: meetings.ics}   # relative to the config file

Works with exports from Google Calendar, Outlook and Fastmail. Recurrence is
expanded by ``recurring_ical_events`` (RRULE, RDATE, EXDATE, moved occurrences
with RECURRENCE-ID, VTIMEZONE and Windows zone names, Google's X-WR-TIMEZONE).
Times without a zone (floating) and all-day events are read in the
organisation's zone (``organization.timezone``); all-day events start at 00:00
there. Every start is returned as an aware datetime in that zone.

Cancelled events and cancelled occurrences (``STATUS:CANCELLED``) are left out.

``occurrence_id`` is ``UID@<original start in UTC>``, e.g.
``abc123@2027-03-29T08:00:00Z``: the original start is the occurrence's
RECURRENCE-ID, so a moved occurrence keeps its id. All-day occurrences use
their date (``abc123@2027-03-29``), which does not depend on any zone.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from tierctl.errors import TierctlError
from tierctl.hookspecs import hookimpl
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
        # Parsing and expanding costs about 0.5 ms per event; a worker process
        # costs about 0.5 s to start, so only big calendars get one.
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
        raw, calendars, attendees = self._read(start, end)
        shown = self.options.path
        lines = _UidLines(raw)
        found: list[Meeting] = []
        for calendar in calendars:
            for component in _occurrences(calendar, start, end, shown, lines, report):
                meeting = _meeting(component, zone, attendees)
                if meeting is not None and start <= meeting.start < end:
                    found.append(meeting)
        found.sort(key=lambda m: (m.start, m.occurrence_id))
        yield from found

    def _read(self, start: datetime, end: datetime) -> tuple[bytes, list[Any], list[frozenset[str]]]:
        """The raw file, its calendars (only events that may start in the window) and attendee sets."""
        import icalendar

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
        text, attendees = _slim(raw.decode("utf-8-sig", "replace"), start, end)
        try:
            calendars = icalendar.Calendar.from_ical(text, multiple=True)
        except Exception as exc:  # icalendar raises ValueError and friends on broken files
            raise TierctlError(f"{shown}: cannot parse the iCalendar file: {exc}; {EXPORT_HINT}") from None
        if not calendars:
            raise TierctlError(f"{shown}: no complete calendar in the file (is it cut off? it should end with "
                               f"END:VCALENDAR); {EXPORT_HINT}")
        return raw, calendars, attendees


# --- pre-filter ---------------------------------------------------------------
#
# icalendar spends ~30 microseconds on every content line, and exports are
# mostly history and detail (descriptions, alarms, attendee parameters). Before
# parsing, keep only the properties used here or by the recurrence expansion,
# and drop events that cannot start in the window. The filter is conservative:
# whatever it cannot judge from the text is kept, and recurrence is still
# expanded by recurring_ical_events. Attendees are collected here, once per
# event, and replaced by one X-TIERCTL-ATTENDEES line that indexes them.

_KEEP = frozenset({"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "EXRULE",
                   "RECURRENCE-ID", "SEQUENCE", "STATUS", "SUMMARY", "ATTENDEE"})
_SKIP = frozenset({"VALARM", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY"})
_UNFOLD = re.compile(r"\r?\n[ \t]")
_NAME = re.compile(r"[A-Za-z0-9-]+")
_VALUE = re.compile(r'(?:[^":]|"[^"]*")*:(.*)', re.S)  # the value after the parameters
_UNTIL = re.compile(r"UNTIL=(\d{8})", re.I)
# Any zone is within 14 hours of UTC, and floating times are read in one of them.
_MARGIN = timedelta(days=2)


def _slim(text: str, start: datetime, end: datetime) -> tuple[str, list[frozenset[str]]]:
    lo = (start - _MARGIN).strftime("%Y%m%d")
    hi = (end + _MARGIN).strftime("%Y%m%d")
    out: list[str] = []
    attendee_sets: list[frozenset[str]] = []
    known_sets: dict[frozenset[str], int] = {}
    people: set[str] = set()
    event: list[str] | None = None
    skipping = ""
    dtstart = recurrence_id = until = ""
    recurs = keep_always = False
    for line in _UNFOLD.sub("", text).split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        if skipping:
            if line.upper() == skipping:
                skipping = ""
            continue
        name_match = _NAME.match(line)
        name = name_match.group().upper() if name_match else ""
        if name in ("BEGIN", "END"):
            component = line[len(name) + 1:].strip().upper()
            if name == "BEGIN" and component in _SKIP:
                skipping = "END:" + component
                continue
            if component == "VEVENT":
                if name == "BEGIN":
                    event = [line]
                    dtstart = recurrence_id = until = ""
                    recurs = keep_always = False
                    people = set()
                    continue
                if event is not None:
                    if _may_start_in(lo, hi, dtstart, recurrence_id, until, recurs, keep_always):
                        group = frozenset(people)
                        if group not in known_sets:
                            known_sets[group] = len(attendee_sets)
                            attendee_sets.append(group)
                        event.append(f"X-TIERCTL-ATTENDEES:{known_sets[group]}")
                        event.append(line)
                        out.extend(event)
                    event = None
                    continue
        if event is None:
            out.append(line)
            continue
        if name not in _KEEP:
            continue
        if name in ("DTSTART", "RECURRENCE-ID", "ATTENDEE"):
            value_match = _VALUE.match(line, len(name))
            value = value_match.group(1).strip() if value_match else ""
            if name == "DTSTART":
                dtstart = value[:8]
            elif name == "RECURRENCE-ID":
                recurrence_id = value[:8]
                keep_always = keep_always or "RANGE=" in line[:len(line) - len(value)].upper()
            else:
                # Rooms and resources (urn:uuid:...) are not people to survey.
                if value[:7].lower() == "mailto:" and value[7:].strip():
                    people.add(value[7:].strip().lower())
                continue
        elif name == "RRULE":
            recurs = True
            found = _UNTIL.search(line)
            rule_until = found.group(1) if found else "open"  # COUNT or no end: judged by the expansion
            until = "open" if "open" in (until, rule_until) else max(until, rule_until)
        elif name in ("RDATE", "EXRULE"):
            keep_always = True
        event.append(line)
    if event is not None:  # a file cut off inside an event: let the parser say so
        out.extend(event)
    return "\r\n".join(out) + "\r\n", attendee_sets


def _may_start_in(lo: str, hi: str, dtstart: str, recurrence_id: str, until: str, recurs: bool,
                  keep_always: bool) -> bool:
    """Whether an event, judged from its raw text, may have an occurrence starting in [lo, hi]."""
    if keep_always or not (len(dtstart) == 8 and dtstart.isdigit()):
        return True
    if recurrence_id:
        # A moved occurrence: keep it if it moves into or out of the window.
        return lo <= dtstart <= hi or not recurrence_id.isdigit() or lo <= recurrence_id <= hi
    if recurs:
        return dtstart <= hi and (until == "open" or until >= lo)
    return lo <= dtstart <= hi


def _occurrences(calendar: Any, start: datetime, end: datetime, shown: str, lines: "_UidLines",
                 report: Report) -> list[Any]:
    """Occurrences overlapping [start, end); a broken series is reported and skipped."""
    import recurring_ical_events

    events = calendar.walk("VEVENT")
    bad = [event for event in events if "DTSTART" not in event or _broken(event)]
    for event in bad:
        uid = str(event.get("UID", ""))
        why = "has no DTSTART" if "DTSTART" not in event else f"cannot be read: {_broken(event)}"
        report(RowProblem(shown, lines.find(uid), f"event {uid or '(no UID)'} {why}; skipped"))
    if bad:
        calendar = _without(calendar, {id(e) for e in bad})
    try:
        return recurring_ical_events.of(calendar).between(start, end)
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
            out.extend(recurring_ical_events.of(single).between(start, end))
        except Exception as exc:
            report(RowProblem(shown, lines.find(uid), f"event {uid or '(no UID)'} cannot be expanded: {exc}; "
                              "skipped"))
    return out


def _broken(event: Any) -> str:
    """The parse error of DTSTART/DTEND/RRULE/RECURRENCE-ID, if icalendar recorded one."""
    for name, error in getattr(event, "errors", ()) or ():
        if str(name).upper() in ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
            return f"{name}: {error}"
    return ""


def _without(calendar: Any, drop: set[int]) -> Any:
    keep = [c for c in calendar.subcomponents if id(c) not in drop]
    return _calendar_like(calendar, keep)


def _calendar_like(calendar: Any, subcomponents: list[Any]) -> Any:
    import icalendar

    copy = icalendar.Calendar()
    for key, value in calendar.items():
        copy[key] = value
    copy.subcomponents = list(subcomponents)
    return copy


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
                value = _UNFOLD.sub("", match.group(1)).strip()
                self._lines.setdefault(value, text.count("\n", 0, match.start()) + 1)
        return self._lines.get(uid, 0)


@hookimpl
def register_sources(register):
    register("ical", IcalMeetings)
