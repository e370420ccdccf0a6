"""Simple series worked out by arithmetic (tierctl.plugins.ical_simple) give exactly the meetings
icalendar and recurring_ical_events give, across zones, intervals, ends and daylight-saving changes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tierctl.plugins import ical_simple, source_ical
from tierctl.plugins.source_ical import IcalMeetings, IcalOptions

from test_source_ical import make_config

ZONES = ["", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo",
         "Europe/London"]
# Windows around daylight-saving changes (Europe, the US, Lord Howe's half hour) and plain weeks.
WINDOWS = [(datetime(2026, 3, 26), 4), (datetime(2026, 3, 6), 4), (datetime(2026, 10, 23), 4),
           (datetime(2026, 10, 30), 4), (datetime(2026, 4, 3), 3), (datetime(2026, 11, 20), 7),
           (datetime(2027, 1, 4), 3), (datetime(2026, 7, 1), 14)]


def _moment(when: datetime, zone: str) -> str:
    return when.strftime("%Y%m%dT%H%M%S") + ("Z" if not zone else "")


def random_event(rnd: random.Random, n: int) -> list[str]:
    zone = rnd.choice(ZONES)
    start = datetime(2025, 1, 1) + timedelta(days=rnd.randrange(800), minutes=15 * rnd.randrange(96))
    lines = ["BEGIN:VEVENT", f"UID:ev-{n}@test", "DTSTAMP:20260101T000000Z",
             f"DTSTART{';TZID=' + zone if zone else ''}:{_moment(start, zone)}"]
    length = timedelta(minutes=rnd.choice([15, 30, 60, 90, 600]))
    ending = rnd.randrange(3)
    if ending == 0:
        lines.append(f"DTEND{';TZID=' + zone if zone else ''}:{_moment(start + length, zone)}")
    elif ending == 1:
        lines.append(f"DURATION:PT{length.seconds // 3600}H{length.seconds % 3600 // 60}M")
    if rnd.random() < 0.85:
        rule = f"RRULE:FREQ={rnd.choice(['DAILY', 'WEEKLY', 'WEEKLY'])}"
        if rnd.random() < 0.4:
            rule += f";INTERVAL={rnd.randrange(1, 4)}"
        if rnd.random() < 0.3:
            until = start + timedelta(days=rnd.randrange(30, 700))
            rule += f";UNTIL={until.strftime('%Y%m%dT%H%M%S')}Z"
        if rnd.random() < 0.1:
            rule += ";WKST=MO"
        lines.append(rule)
    lines.append(f"SUMMARY:Meeting {n}")
    if rnd.random() < 0.1:
        lines.append("STATUS:CANCELLED")
    lines += [f"ATTENDEE;CN=Someone:mailto:c{n % 7}@acc{n}.example", "END:VEVENT"]
    return lines


def write_calendar(folder: Path, events: list[list[str]]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for event in events:
        lines += event
    lines.append("END:VCALENDAR")
    (folder / "cal.ics").write_text("\r\n".join(lines) + "\r\n")
    return "cal.ics"


def both_ways(config, folder: Path, monkeypatch, start: datetime, end: datetime):
    source = IcalMeetings(IcalOptions(path="cal.ics"), config, folder)
    fast_problems: list = []
    fast = list(source.meetings(start, end, fast_problems.append))
    with monkeypatch.context() as m:
        m.setattr(ical_simple, "simple_event", lambda properties: None)  # both readers decide through it
        general_problems: list = []
        general = list(source.meetings(start, end, general_problems.append))
    return fast, general, fast_problems, general_problems


@pytest.mark.parametrize("org_zone", ["Europe/Amsterdam", "America/Los_Angeles"])
def test_simple_series_give_the_same_meetings_both_ways(tmp_path, monkeypatch, org_zone):
    config = make_config(tmp_path, org_zone)
    rnd = random.Random(14)
    write_calendar(tmp_path, [random_event(rnd, n) for n in range(400)])
    zone = ZoneInfo(org_zone)
    compared = 0
    for first, days in WINDOWS:
        start = first.replace(tzinfo=zone)
        fast, general, fast_problems, general_problems = both_ways(config, tmp_path, monkeypatch, start,
                                                                  start + timedelta(days=days))
        assert fast_problems == general_problems == []
        assert fast == general
        assert [(m.start.isoformat(), m.end.isoformat() if m.end else None) for m in fast] == \
               [(m.start.isoformat(), m.end.isoformat() if m.end else None) for m in general]
        compared += len(fast)
    assert compared > 300



@pytest.mark.parametrize("org_zone", ["Europe/Amsterdam", "America/Los_Angeles"])
def test_events_sharing_a_slot_keep_their_own_ends_and_rules(tmp_path, monkeypatch, org_zone):
    """Occurrences are worked out once per start, length and rule (ical_simple.occurrences' cache): events in
    the same few slots with different lengths, intervals, UNTILs, zones and states give what icalendar gives."""
    config = make_config(tmp_path, org_zone)
    rnd = random.Random(5)
    events = []
    for n in range(300):
        zone = rnd.choice(["", "Europe/Amsterdam", "America/New_York"])
        start = datetime(2026, 3, 2 + rnd.randrange(3), 9 + rnd.randrange(2))
        rule = f"RRULE:FREQ={rnd.choice(['DAILY', 'WEEKLY'])}"
        rule += rnd.choice(["", ";INTERVAL=2", ";UNTIL=20261104T000000Z", ";UNTIL=20261106T100000Z"])
        events.append(["BEGIN:VEVENT", f"UID:slot-{n}", f"DTSTART{';TZID=' + zone if zone else ''}:"
                       f"{_moment(start, zone)}", f"DURATION:PT{rnd.choice([30, 60])}M", rule,
                       f"SUMMARY:Slot {n}", *(["STATUS:CANCELLED"] if n % 17 == 0 else []),
                       f"ATTENDEE:mailto:c{n % 3}@x.example", "END:VEVENT"])
    write_calendar(tmp_path, events)
    start = datetime(2026, 11, 2, tzinfo=ZoneInfo(org_zone))
    fast, general, fast_problems, general_problems = both_ways(config, tmp_path, monkeypatch, start,
                                                              start + timedelta(days=7))
    assert fast_problems == general_problems == []
    assert fast == general and len(fast) > 500
    assert [(m.start.isoformat(), m.end.isoformat()) for m in fast] == \
           [(m.start.isoformat(), m.end.isoformat()) for m in general]


DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def counted_event(rnd: random.Random, n: int) -> list[str]:
    """A series as Google and Outlook write them: COUNT, BYDAY (the start's day, another, two), WKST."""
    zone = rnd.choice(ZONES)
    start = datetime(rnd.choice([2025, 2026, 2026, 2026, 2015, 1700]), 1, 1) + timedelta(
        days=rnd.randrange(365), minutes=15 * rnd.randrange(96))
    rule = f"RRULE:FREQ={rnd.choice(['DAILY', 'WEEKLY', 'WEEKLY'])}"
    if rnd.random() < 0.3:
        rule += f";INTERVAL={rnd.randrange(1, 4)}"
    ending = rnd.randrange(4)
    if ending == 0:
        rule += f";COUNT={rnd.randrange(1, 120)}"
    elif ending == 1:
        rule += f";COUNT={rnd.randrange(1, 4000)}"
    elif ending == 2:
        rule += f";UNTIL={(start + timedelta(days=rnd.randrange(30, 700))).strftime('%Y%m%dT%H%M%S')}Z"
    byday = rnd.randrange(5)
    if byday in (0, 1):
        rule += f";BYDAY={DAYS[start.weekday()]}"
    elif byday == 2:
        rule += f";BYDAY={DAYS[(start.weekday() + rnd.randrange(1, 7)) % 7]}"
    elif byday == 3:
        rule += f";BYDAY={DAYS[start.weekday()]},{DAYS[(start.weekday() + 2) % 7]}"
    if rnd.random() < 0.3:
        rule += f";WKST={rnd.choice(['MO', 'SU', 'XX'])}"
    return ["BEGIN:VEVENT", f"UID:counted-{n}@test", f"DTSTART{';TZID=' + zone if zone else ''}:{_moment(start, zone)}",
            f"DURATION:PT{rnd.choice([30, 60])}M", rule, f"SUMMARY:Series {n}", "END:VEVENT"]


@pytest.mark.parametrize("org_zone", ["Europe/Amsterdam", "America/Los_Angeles"])
def test_counted_series_and_one_byday_give_the_same_meetings_both_ways(tmp_path, monkeypatch, org_zone):
    config = make_config(tmp_path, org_zone)
    rnd = random.Random(9)
    events = [counted_event(rnd, n) for n in range(200)]
    # Series whose COUNT ends in or next to each window, and one counted from 1700 (too far to count to).
    for w, (first, days) in enumerate(WINDOWS):
        for count in (9, 10, 11, 10 + days, 11 + days):
            events.append(["BEGIN:VEVENT", f"UID:ends-{w}-{count}", "DTSTART;TZID=Europe/Amsterdam:"
                           f"{_moment(first - timedelta(days=10) + timedelta(hours=9), 'x')}",
                           f"RRULE:FREQ=DAILY;COUNT={count}", "END:VEVENT"])
    events.append(["BEGIN:VEVENT", "UID:since-1700", "DTSTART:17000105T090000Z", "RRULE:FREQ=DAILY;COUNT=5",
                   "END:VEVENT"])
    write_calendar(tmp_path, events)
    zone = ZoneInfo(org_zone)
    compared = simple = 0
    for first, days in WINDOWS:
        start = first.replace(tzinfo=zone)
        fast, general, fast_problems, general_problems = both_ways(config, tmp_path, monkeypatch, start,
                                                                  start + timedelta(days=days))
        assert [(p.line, p.message) for p in fast_problems] == [(p.line, p.message) for p in general_problems]
        assert fast == general
        assert [(m.start.isoformat(), m.end.isoformat()) for m in fast] == \
               [(m.start.isoformat(), m.end.isoformat()) for m in general]
        compared += len(fast)
        text = (tmp_path / "cal.ics").read_text()
        simple += len(source_ical._slim(text, start, start + timedelta(days=days))[2])
    assert compared > 100 and simple > compared // 2  # most went the arithmetic way

def test_simple_events_skip_icalendar_and_the_rest_do_not(tmp_path):
    """Only what the arithmetic can do is taken from the text: overrides of a UID, EXDATEs, a zone
    the file defines itself and floating times go to icalendar."""
    zone = ZoneInfo("Europe/Amsterdam")
    start, end = datetime(2026, 11, 23, tzinfo=zone), datetime(2026, 11, 27, tzinfo=zone)
    simple = ["BEGIN:VEVENT", "UID:plain", "DTSTART;TZID=Europe/Amsterdam:20261102T100000", "DURATION:PT1H",
              "RRULE:FREQ=WEEKLY", "SUMMARY:Review", "ATTENDEE:mailto:a@x.example", "END:VEVENT"]
    moved = ["BEGIN:VEVENT", "UID:series", "DTSTART:20261102T100000Z", "RRULE:FREQ=WEEKLY", "END:VEVENT",
             "BEGIN:VEVENT", "UID:series", "RECURRENCE-ID:20261123T100000Z", "DTSTART:20261124T100000Z",
             "END:VEVENT"]
    excluded = ["BEGIN:VEVENT", "UID:exdate", "DTSTART:20261102T100000Z", "RRULE:FREQ=WEEKLY",
                "EXDATE:20261123T100000Z", "END:VEVENT"]
    floating = ["BEGIN:VEVENT", "UID:floating", "DTSTART:20261124T100000", "END:VEVENT"]
    own_zone = ["BEGIN:VTIMEZONE", "TZID:Europe/London", "BEGIN:STANDARD", "DTSTART:19701025T020000",
                "TZOFFSETFROM:+0100", "TZOFFSETTO:+0000", "END:STANDARD", "END:VTIMEZONE",
                "BEGIN:VEVENT", "UID:zoned", "DTSTART;TZID=Europe/London:20261124T100000", "END:VEVENT"]
    text = "\r\n".join(["BEGIN:VCALENDAR", *simple, *moved, *excluded, *floating, *own_zone, "END:VCALENDAR"])
    left, _, meetings = source_ical._slim(text, start, end)
    assert [m.occurrence_id for m in meetings] == ["plain@2026-11-23T09:00:00Z"]
    assert meetings[0].attendees == frozenset({"a@x.example"}) and meetings[0].summary == "Review"
    assert "UID:plain" not in left
    for uid in ("series", "exdate", "floating", "zoned"):
        assert f"UID:{uid}" in left


def test_a_big_calendar_of_simple_series_needs_no_icalendar(tmp_path, monkeypatch):
    """20,000 weekly meetings (the survey plan benchmark's calendar) are expanded without icalendar."""
    config = make_config(tmp_path)
    events = []
    for m in range(2000):
        events.append(["BEGIN:VEVENT", f"UID:meeting-{m}@bench", "DTSTAMP:20261101T000000Z",
                       f"DTSTART;TZID=Europe/Amsterdam:202611{1 + m % 7:02d}T{9 + m % 8:02d}0000", "DURATION:PT1H",
                       "RRULE:FREQ=WEEKLY", "SUMMARY:Account review", f"ATTENDEE:mailto:c1@acc{m}.example",
                       "END:VEVENT"])
    write_calendar(tmp_path, events)
    expanded: list = []
    real_expand = source_ical._expand
    monkeypatch.setattr(source_ical, "_expand", lambda cal, s, e: expanded.extend(real_expand(cal, s, e)) or [])
    zone = ZoneInfo("Europe/Amsterdam")
    source = IcalMeetings(IcalOptions(path="cal.ics"), config, tmp_path)
    found = list(source.meetings(datetime(2026, 11, 23, 9, tzinfo=zone), datetime(2026, 11, 26, 9, tzinfo=zone),
                                 print))
    assert expanded == [] and len(found) == 2000 * 3 // 7 + 1
