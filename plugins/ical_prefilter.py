"""The ``ical`` source's pre-filter: what of a calendar export icalendar must still parse.

icalendar spends ~30 microseconds on every content line, and exports are
mostly history and detail (descriptions, alarms, attendee parameters). Before
parsing, keep only the properties used by the source or by the recurrence
expansion, and drop events that cannot start in the window. The filter is
conservative: whatever it cannot judge from the text is kept, and recurrence
is still expanded by recurring_ical_events. Attendees are collected here,
once per event, and replaced by one X-TIERCTL-ATTENDEES line that indexes
them. Simple events (:mod:`tierctl.plugins.ical_simple`) are expanded here
and left out of the text.

Two readers give the same answer. The general one is a state machine over
every line. The fast one takes an event as a whole (from ``BEGIN:VEVENT`` to
the next ``END:VEVENT``) when each of its lines is one it knows (the
properties of a simple event, attendees, alarms, common detail and ``X-``
lines, all as exporters write them: upper case, one line ending) and parses
its properties in the same pass; it hands the general reader anything else,
so an event is always judged by the same rules (``tests/sources/
test_ical_prefilter.py`` compares the two on generated events).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from tierctl.plugins.ical_simple import SIMPLE_PROPERTIES
from tierctl.records import Meeting

KEEP = frozenset({"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "EXRULE",
                  "RECURRENCE-ID", "SEQUENCE", "STATUS", "SUMMARY", "ATTENDEE"})
_SKIP = frozenset({"VALARM", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY"})
UNFOLD = re.compile(r"\r?\n[ \t]")
_FOLD = re.compile(r"\n[ \t]")
_NAME = re.compile(r"[A-Za-z0-9-]+")
_VALUE = re.compile(r'(?:[^":]|"[^"]*")*:(.*)', re.S)  # the value after the parameters
_UNTIL = re.compile(r"UNTIL=(\d{8})", re.I)
# Any zone is within 14 hours of UTC, and floating times are read in one of them.
_MARGIN = timedelta(days=2)
#: Properties the fast reader drops, as the general one does (they are not in KEEP), besides X- ones.
_DETAIL = frozenset({"DTSTAMP", "CREATED", "LAST-MODIFIED", "DESCRIPTION", "LOCATION", "ORGANIZER", "TRANSP",
                     "CLASS", "PRIORITY", "URL", "CATEGORIES", "COMMENT", "CONTACT", "GEO", "RESOURCES",
                     "ATTACH", "RELATED-TO", "CONFERENCE", "COLOR"})
_DROP, _SIMPLE, _ATTENDEE = 0, 1, 2
#: What the fast reader does with a line, by its name as written (other names: see fast_event).
_KINDS = {**dict.fromkeys(_DETAIL, _DROP), **dict.fromkeys(SIMPLE_PROPERTIES, _SIMPLE), "ATTENDEE": _ATTENDEE}
#: Calendar properties icalendar reads without fail (see :func:`nothing_to_parse`).
_HEADER = re.compile(r"(?:VERSION|PRODID|CALSCALE|METHOD|X-[A-Z0-9-]+):[^\x00-\x1f\x7f\"\\;,:]*")


def unfold(text: str) -> str:
    """``text`` with folded lines joined: ``UNFOLD.sub("", text)``, but scanning for a newline first
    (a regex that may start at every ``\\r`` is several times slower on a big file)."""
    parts = []
    last = 0
    for fold in _FOLD.finditer(text):
        at = fold.start()
        if at and text[at - 1] == "\r":
            at -= 1
        parts.append(text[last:at])
        last = fold.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def nothing_to_parse(text: str) -> bool:
    """Whether ``text`` (as :func:`slim` leaves it) is one calendar of plain properties and nothing else,
    which icalendar would read as one calendar without events: then it need not be imported or run."""
    lines = text.split("\r\n")
    if len(lines) < 3 or lines[0] != "BEGIN:VCALENDAR" or lines[-2:] != ["END:VCALENDAR", ""]:
        return False
    return all(_HEADER.fullmatch(line) for line in lines[1:-2])


def slim(text: str, start: datetime, end: datetime) -> tuple[str, list[frozenset[str]], list[Meeting]]:
    """The text icalendar must parse, its attendee sets, and the meetings of simple events
    (:mod:`tierctl.plugins.ical_simple`), which are left out of that text."""
    state = _Slim(start, end)
    text = unfold(text)
    eol = "\r\n" if "\r\n" in text else "\n"
    begin, stop = "BEGIN:VEVENT" + eol, eol + "END:VEVENT"
    begins, stops = _Finder(text, begin), _Finder(text, stop)
    pos, size = 0, len(text)
    while pos < size:
        at = begins.next(pos)
        while at > 0 and text[at - 1] != "\n":  # not at the start of a line
            at = begins.next(at + 1)
        if at < 0:
            state.lines(text[pos:].split("\n"))
            break
        if at > pos:
            state.lines(text[pos:at].split("\n"))
        pos = at + len(begin)
        if not state.skipping:
            body_end = stops.next(pos - len(eol))
            after = body_end + len(stop)
            following = begins.next(pos)
            # Another BEGIN:VEVENT before the END (an event cut off): the general reader's, line by line.
            if body_end >= 0 and not 0 <= following < body_end and (after == size or text.startswith(eol, after)):
                if state.fast_event(text[pos:body_end] if body_end > pos else "", eol):
                    pos = after + len(eol)
                    continue
        state.line(begin[:-len(eol)])
    return state.finish()


class _Finder:
    """Where ``needle`` is next in ``text`` from a position on, for positions that only grow: each part of
    the text is searched once (a search per event from its start would be quadratic in a file of many
    BEGIN lines and one END)."""

    def __init__(self, text: str, needle: str):
        self.text, self.needle = text, needle
        self.since, self.found = 0, self.text.find(needle)

    def next(self, start: int) -> int:
        if start < self.since or (self.found != -1 and self.found < start):
            self.since, self.found = start, self.text.find(self.needle, start)
        return self.found


class _Slim:
    """The state of one pre-filter pass: what is kept so far, the simple events' meetings, and the
    general reader's place in the file."""

    def __init__(self, start: datetime, end: datetime):
        from tierctl.plugins import ical_simple

        self.simple_module = ical_simple  # looked up per read: tests replace its functions
        self.start, self.end = start, end
        self.lo = (start - _MARGIN).strftime("%Y%m%d")
        self.hi = (end + _MARGIN).strftime("%Y%m%d")
        self.out: list[str] = []
        self.attendee_sets: list[frozenset[str]] = []
        self.known_sets: dict[frozenset[str], int] = {}
        # Simple events: UID -> (their place in out, their lines, their meetings, their zone); kept out of
        # the text unless the UID turns out to have overrides, or the file defines the event's zone itself.
        self.simple: dict[str, tuple[int, list[str], list[Meeting], str]] = {}
        self.general_uids: set[str] = set()
        self.file_zones: set[str] = set()
        self.timings: dict[tuple, Any] = {}
        self.in_zone = False
        self.skipping = ""
        # The event being read by the general reader.
        self.event: list[str] | None = None
        self.people: set[str] = set()
        self.dtstart = self.recurrence_id = self.until = ""
        self.recurs = self.keep_always = False

    def lines(self, lines: list[str]) -> None:
        for line in lines:
            self.line(line.rstrip("\r"))

    def line(self, line: str) -> None:
        """The general reader: one unfolded line."""
        if not line:
            return
        if self.skipping:
            if line.upper() == self.skipping:
                self.skipping = ""
            return
        name_match = _NAME.match(line)
        name = name_match.group().upper() if name_match else ""
        if name in ("BEGIN", "END"):
            component = line[len(name) + 1:].strip().upper()
            if name == "BEGIN" and component in _SKIP:
                self.skipping = "END:" + component
                return
            if component == "VEVENT":
                if name == "BEGIN":
                    self.event = [line]
                    self.dtstart = self.recurrence_id = self.until = ""
                    self.recurs = self.keep_always = False
                    self.people = set()
                    return
                if self.event is not None:
                    event, self.event = self.event, None
                    self.end_event(event, line, self.people, self.dtstart, self.recurrence_id, self.until,
                                   self.recurs, self.keep_always, None)
                    return
            elif component == "VTIMEZONE":
                self.in_zone = name == "BEGIN"
        event = self.event
        if event is None:
            if self.in_zone and name == "TZID":
                self.file_zones.add(line.partition(":")[2].strip())
            self.out.append(line)
            return
        if name not in KEEP:
            return
        if name in ("DTSTART", "RECURRENCE-ID", "ATTENDEE"):
            value_match = _VALUE.match(line, len(name))
            value = value_match.group(1).strip() if value_match else ""
            if name == "DTSTART":
                self.dtstart = value[:8]
            elif name == "RECURRENCE-ID":
                self.recurrence_id = value[:8]
                self.keep_always = self.keep_always or "RANGE=" in line[:len(line) - len(value)].upper()
            else:
                # Rooms and resources (urn:uuid:...) are not people to survey.
                if value[:7].lower() == "mailto:" and value[7:].strip():
                    self.people.add(value[7:].strip().lower())
                return
        elif name == "RRULE":
            self.recurs = True
            self.until = _until(self.until, line)
        elif name in ("RDATE", "EXRULE"):
            self.keep_always = True
        event.append(line)

    def fast_event(self, body: str, eol: str) -> bool:
        """The fast reader: one event's text between its BEGIN and END lines. False when it is not
        one the fast reader knows (the general reader then reads it, line by line)."""
        lines = body.split(eol) if body else []
        # In a file of CRLF lines, a bare LF or CR inside the event is read line by line (the general
        # reader splits at LF and strips CRs at the end). A file of LF lines has no CR before an LF.
        if eol == "\r\n" and (body.count("\n") != len(lines) - 1 or body.count("\r") != len(lines) - 1):
            return False
        kept = ["BEGIN:VEVENT"]
        seen: dict[str, tuple[str, str]] = {}
        people: set[str] = set()
        dtstart = until = ""
        alarm = recurs = False
        plain = '"' not in body and "\\" not in body
        for line in lines:
            if alarm:
                if line.upper() == "END:VALARM":
                    alarm = False
                continue
            head, sep, value = line.partition(":")
            name = head.partition(";")[0]
            kind = _KINDS.get(name)
            if kind == _DROP:
                continue
            if kind == _SIMPLE:
                if not sep or name in seen or not plain and ('"' in line or "\\" in line):
                    return False
                value = value.strip()
                seen[name] = (head[len(name) + 1:], value)
                if name == "DTSTART":
                    dtstart = value[:8]
                elif name == "RRULE":
                    recurs = True
                    until = _until(until, line)
                kept.append(line)
            elif kind == _ATTENDEE:
                if '"' in head:  # a quoted parameter may hold a colon
                    value_match = _VALUE.match(line, 8)
                    value = value_match.group(1) if value_match else ""
                value = value.strip()
                if value[:7].lower() == "mailto:":
                    address = value[7:].strip()
                    if address:
                        people.add(address.lower())
            elif name[:2] == "X-":
                continue
            elif line == "BEGIN:VALARM":
                alarm = True
            else:
                return False
        if alarm:
            return False
        self.event = None  # a BEGIN:VEVENT starts a new event, also inside an unfinished one
        self.end_event(kept, "END:VEVENT", people, dtstart, "", until, recurs, False, seen)
        return True

    def end_event(self, event: list[str], end_line: str, people: set[str], dtstart: str, recurrence_id: str,
                  until: str, recurs: bool, keep_always: bool, seen: dict[str, tuple[str, str]] | None) -> None:
        """An event read to its END line: expanded here, kept for icalendar, or dropped."""
        if not _may_start_in(self.lo, self.hi, dtstart, recurrence_id, until, recurs, keep_always):
            self.general_uids.add(_uid_of(event))
            return
        group = frozenset(people)
        index = self.known_sets.get(group)
        if index is None:
            index = self.known_sets[group] = len(self.attendee_sets)
            self.attendee_sets.append(group)
        simple = self.simple_module
        parsed = simple.parse_simple(event[1:]) if seen is None else simple.simple_event(seen)
        expanded = None if parsed is None or parsed.uid in self.simple or parsed.uid in self.general_uids \
            else simple.occurrences(parsed, self.start, self.end, self.start.tzinfo, group, self.timings)
        event.append(f"X-TIERCTL-ATTENDEES:{index}")
        event.append(end_line)
        if expanded is not None:
            self.simple[parsed.uid] = (len(self.out), event, expanded, parsed.tzid)
            self.out.append("")
        else:
            self.general_uids.add(parsed.uid if parsed is not None else _uid_of(event))
            self.out.extend(event)

    def finish(self) -> tuple[str, list[frozenset[str]], list[Meeting]]:
        out = self.out
        if self.event is not None:  # a file cut off inside an event: let the parser say so
            out.extend(self.event)
        meetings: list[Meeting] = []
        for uid, (place, lines, expanded_meetings, tzid) in self.simple.items():
            if uid in self.general_uids or tzid in self.file_zones:
                out[place] = "\r\n".join(lines)  # the general way after all
            else:
                meetings.extend(expanded_meetings)
        return "\r\n".join(line for line in out if line) + "\r\n", self.attendee_sets, meetings


def _until(until: str, rule_line: str) -> str:
    """The latest UNTIL date so far (``"open"``: some rule has none) after the RRULE line ``rule_line``."""
    found = _UNTIL.search(rule_line)
    rule_until = found.group(1) if found else "open"  # COUNT or no end: judged by the expansion
    return "open" if "open" in (until, rule_until) else max(until, rule_until)


def _uid_of(lines: list[str]) -> str:
    """The UID value among an event's lines (as written), or ""."""
    for line in lines:
        if line[:3].upper() == "UID" and line[3:4] in (":", ";"):
            return line.partition(":")[2].strip()
    return ""


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
