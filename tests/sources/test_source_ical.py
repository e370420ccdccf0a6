"""The ``ical`` meeting source, on hand-written .ics files in tests/data/ical/."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tierctl.config.loader import load_config
from tierctl.errors import TierctlError
from tierctl.plugins.source_ical import IcalMeetings, IcalOptions
from tierctl.host.plugin_host import PluginHost
from tierctl.records import Meeting, RowProblem

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "ical"
AMS = ZoneInfo("Europe/Amsterdam")
UTC = timezone.utc

CONFIG = """\
version: 1
organization: {{name: Test Org, timezone: {zone}}}
tiers:
  advanced: {{name: Advanced, touch_model: high-touch, plans: [enterprise]}}
"""


def make_config(folder: Path, zone: str = "Europe/Amsterdam"):
    path = folder / f"tierctl-{zone.replace('/', '-')}.yaml"
    path.write_text(CONFIG.format(zone=zone), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


def meetings(config, name: str, start: datetime, end: datetime, base: Path = DATA
             ) -> tuple[list[Meeting], list[RowProblem]]:
    problems: list[RowProblem] = []
    source = IcalMeetings(IcalOptions(path=name), config, base)
    return list(source.meetings(start, end, problems.append)), problems


def at(*args, tz=AMS) -> datetime:
    return datetime(*args, tzinfo=tz)


# --- recurrence ---------------------------------------------------------------

def test_weekly_series_keeps_local_time_across_the_dst_change(config):
    found, problems = meetings(config, "weekly_amsterdam.ics", at(2027, 3, 14), at(2027, 4, 1))
    assert problems == []
    assert [m.start for m in found] == [at(2027, 3, 15, 10), at(2027, 3, 22, 10), at(2027, 3, 29, 10)]
    # Same wall-clock time, different UTC offset after 2027-03-28.
    assert [m.start.utcoffset() for m in found] == [timedelta(hours=1), timedelta(hours=1), timedelta(hours=2)]
    assert [m.start.astimezone(UTC).hour for m in found] == [9, 9, 8]
    assert [m.occurrence_id for m in found] == ["weekly-sync-7f3a@google.com@2027-03-15T09:00:00Z",
                                                "weekly-sync-7f3a@google.com@2027-03-22T09:00:00Z",
                                                "weekly-sync-7f3a@google.com@2027-03-29T08:00:00Z"]
    assert all(m.end - m.start == timedelta(minutes=45) for m in found)
    assert all(m.uid == "weekly-sync-7f3a@google.com" and not m.all_day for m in found)


def test_exdate_rdate_moved_and_cancelled_occurrences(config):
    found, _ = meetings(config, "weekly_amsterdam.ics", at(2027, 4, 1), at(2027, 6, 1))
    starts = [m.start for m in found]
    assert at(2027, 4, 5, 10) not in starts          # EXDATE
    assert at(2027, 4, 7, 10) in starts              # RDATE (a Wednesday)
    assert at(2027, 4, 12, 10) not in starts         # moved away ...
    assert at(2027, 4, 13, 14) in starts             # ... to here
    assert at(2027, 4, 19, 10) not in starts         # cancelled occurrence
    assert starts == [at(2027, 4, 7, 10), at(2027, 4, 13, 14), at(2027, 4, 26, 10), at(2027, 5, 3, 10),
                      at(2027, 5, 10, 10)]          # UNTIL includes 05-10 and ends there
    moved = found[1]
    assert moved.occurrence_id == "weekly-sync-7f3a@google.com@2027-04-12T08:00:00Z"
    assert moved.summary == "Northwind migration sync (moved: Easter Monday)"
    assert moved.end == at(2027, 4, 13, 14, 45)
    # The moved occurrence has its own attendees.
    assert "joost.van.leeuwen@northwind.example" in moved.attendees
    assert "joost.van.leeuwen@northwind.example" not in found[0].attendees


def test_occurrence_ids_are_stable_across_runs_and_windows(config):
    wide, _ = meetings(config, "weekly_amsterdam.ics", at(2027, 3, 1), at(2027, 6, 1))
    again, _ = meetings(config, "weekly_amsterdam.ics", at(2027, 3, 1), at(2027, 6, 1))
    narrow, _ = meetings(config, "weekly_amsterdam.ics", at(2027, 4, 13), at(2027, 4, 14))
    assert [m.occurrence_id for m in wide] == [m.occurrence_id for m in again]
    assert [m.occurrence_id for m in narrow] == ["weekly-sync-7f3a@google.com@2027-04-12T08:00:00Z"]
    assert len({m.occurrence_id for m in wide}) == len(wide)


def test_google_utc_series_stays_utc_under_x_wr_timezone(config):
    # A UTC series recurs at the same UTC time (RFC 5545; Google's overrides use the UTC time too), so it
    # moves from 10:00 to 11:00 in Amsterdam at the DST change. See test_source_ical_hostile.py.
    found, _ = meetings(config, "google_x_wr_timezone.ics", at(2027, 3, 1), at(2027, 5, 1))
    assert [m.start for m in found] == [at(2027, 3, 22, 10), at(2027, 3, 29, 11), at(2027, 4, 5, 11)]
    assert found[0].attendees == frozenset({"olivia.hart@harborfinch.example"})  # unfolded across lines


def test_outlook_export_with_windows_time_zone_name(config):
    found, problems = meetings(config, "outlook_windows_tzid.ics", at(2027, 3, 1), at(2027, 5, 1))
    assert problems == []
    assert [m.start for m in found] == [at(2027, 3, 11, 14), at(2027, 4, 8, 14)]
    assert [m.start.astimezone(UTC).hour for m in found] == [13, 12]
    assert found[0].summary == "Account review: Brightwater Energie"
    assert found[0].attendees == frozenset({"jana.mueller@brightwater.example", "t.schneider@brightwater.example",
                                            "lars.deboer@acme.example"})


# --- single events ----------------------------------------------------------

def single(config, start=at(2027, 3, 10), end=at(2027, 3, 14)) -> dict[str, Meeting]:
    found, problems = meetings(config, "single_events.ics", start, end)
    assert problems == []
    return {m.uid: m for m in found}


def test_utc_event(config):
    m = single(config)["utc-event-1"]
    assert m.start == datetime(2027, 3, 10, 15, tzinfo=UTC)
    assert m.start.tzinfo is not None and m.start.utcoffset() == timedelta(hours=1)  # shown in the org zone
    assert m.occurrence_id == "utc-event-1@2027-03-10T15:00:00Z"


def test_floating_event_is_read_in_the_organisation_zone(config, tmp_path):
    m = single(config)["floating-event-1"]
    assert m.start == at(2027, 3, 11, 9, 30)
    assert m.occurrence_id == "floating-event-1@2027-03-11T08:30:00Z"
    new_york = make_config(tmp_path, "America/New_York")
    m = single(new_york, at(2027, 3, 10, tz=UTC), at(2027, 3, 14, tz=UTC))["floating-event-1"]
    assert m.start == datetime(2027, 3, 11, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    assert m.start.astimezone(UTC).hour == 14


def test_all_day_event_starts_at_midnight_in_the_organisation_zone(config):
    m = single(config)["all-day-1"]
    assert m.all_day
    assert m.start == at(2027, 3, 12, 0, 0) and m.start.tzinfo is not None
    assert m.end == at(2027, 3, 13, 0, 0)
    assert m.occurrence_id == "all-day-1@2027-03-12"


def test_cancelled_event_is_left_out(config):
    assert "cancelled-1" not in single(config)


def test_duration_instead_of_dtend_and_an_event_without_attendees(config):
    m = single(config)["duration-1"]
    assert m.end - m.start == timedelta(hours=1, minutes=30)
    assert m.attendees == frozenset()


def test_attendees_are_lower_cased_without_mailto_whatever_its_case(config):
    m = single(config)["utc-event-1"]
    assert m.attendees == frozenset({"jana.mueller@brightwater.example", "t.schneider@brightwater.example"})
    weekly, _ = meetings(config, "weekly_amsterdam.ics", at(2027, 3, 15), at(2027, 3, 16))
    # MAILTO: in capitals and mixed-case addresses; the room (urn:uuid:) is not an attendee.
    assert weekly[0].attendees == frozenset({"sanne.jansen@acme.example", "marieke.dekker@northwind.example"})


def test_window_includes_its_start_and_excludes_its_end(config):
    start = datetime(2027, 3, 10, 15, tzinfo=UTC)     # utc-event-1 starts exactly here
    end = at(2027, 3, 11, 9, 30)                        # floating-event-1 starts exactly here
    assert set(single(config, start, end)) == {"utc-event-1"}


def test_an_event_that_started_before_the_window_is_not_in_it(config):
    # before-window-1 runs 2027-03-09 23:00 to 03:00 local: it overlaps the window but starts before it.
    found = single(config, at(2027, 3, 10), at(2027, 3, 10, 12))
    assert "before-window-1" not in found
    assert "before-window-1" in single(config, at(2027, 3, 9), at(2027, 3, 10))


def test_results_are_sorted_by_start(config):
    found, _ = meetings(config, "single_events.ics", at(2027, 3, 1), at(2027, 4, 1))
    assert [m.start for m in found] == sorted(m.start for m in found)


def test_narrow_windows_agree_with_one_wide_window(config):
    # The text pre-filter drops events before parsing; it must never drop one that belongs.
    for name in ("weekly_amsterdam.ics", "single_events.ics", "outlook_windows_tzid.ics",
                 "google_x_wr_timezone.ics"):
        wide, _ = meetings(config, name, at(2027, 1, 1), at(2028, 1, 1))
        day = at(2027, 3, 1)
        pieces: list[Meeting] = []
        while day < at(2027, 6, 1):
            pieces += meetings(config, name, day, day + timedelta(days=1))[0]
            day += timedelta(days=1)
        assert pieces == [m for m in wide if at(2027, 3, 1) <= m.start < at(2027, 6, 1)], name


def test_quoted_attendee_parameters_alarms_and_todos(config, tmp_path):
    (tmp_path / "odd.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n"
        "BEGIN:VTODO\r\nUID:todo-1\r\nDTSTART:20270310T090000Z\r\nSUMMARY:Not a meeting\r\nEND:VTODO\r\n"
        "BEGIN:VEVENT\r\nUID:quoted-1\r\nDTSTART:20270310T090000Z\r\nDTEND:20270310T100000Z\r\n"
        "SUMMARY:Review\\, with a comma\r\n"
        'ATTENDEE;CN="Smith: John";DELEGATED-FROM="mailto:boss@x.example":mailto:John.Smith@X.example\r\n'
        "ATTENDEE;CN=Nobody:invalid:nomail\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nATTENDEE:mailto:alarm@x.example\r\n"
        "END:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", encoding="utf-8")
    found, problems = meetings(config, "odd.ics", at(2027, 3, 1), at(2027, 4, 1), tmp_path)
    assert problems == []
    assert [(m.uid, m.summary, m.attendees) for m in found] == [
        ("quoted-1", "Review, with a comma", frozenset({"john.smith@x.example"}))]


def test_history_is_skipped_but_long_running_series_are_kept(config, tmp_path):
    events = [
        ("old-single", "DTSTART:20200101T090000Z", ""),
        ("ended-series", "DTSTART:20200106T090000Z", "RRULE:FREQ=WEEKLY;UNTIL=20210101T000000Z"),
        ("open-series", "DTSTART:20200106T090000Z", "RRULE:FREQ=WEEKLY"),
        ("counted-series", "DTSTART:20270101T090000Z", "RRULE:FREQ=WEEKLY;COUNT=20"),
        ("future-series", "DTSTART:20280101T090000Z", "RRULE:FREQ=WEEKLY"),
    ]
    body = "".join(f"BEGIN:VEVENT\r\nUID:{uid}\r\n{start}\r\n{rule + chr(13) + chr(10) if rule else ''}"
                   f"SUMMARY:{uid}\r\nEND:VEVENT\r\n" for uid, start, rule in events)
    (tmp_path / "history.ics").write_text(f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n",
                                          encoding="utf-8")
    found, _ = meetings(config, "history.ics", at(2027, 3, 1), at(2027, 3, 8), tmp_path)
    assert sorted(m.uid for m in found) == ["counted-series", "open-series"]
    # 2020-01-06 was a Monday: the open series still meets every Monday at 10:00 in Amsterdam.
    assert {m.start for m in found if m.uid == "open-series"} == {at(2027, 3, 1, 10)}


# --- problems ---------------------------------------------------------------

def test_a_broken_series_is_reported_and_the_rest_kept(config):
    found, problems = meetings(config, "broken_series.ics", at(2027, 3, 1), at(2027, 4, 1))
    assert [m.uid for m in found] == ["good-1", "good-2"]
    # Line numbers are physical lines; the first UID is folded over two lines.
    assert [(p.file, p.line) for p in problems] == [("broken_series.ics", 13), ("broken_series.ics", 22)]
    assert "bad-rrule-0400" in problems[0].message and "8F90" in problems[0].message
    assert "RRULE" in problems[0].message
    assert "no-start-1" in problems[1].message and "DTSTART" in problems[1].message


def test_missing_file_is_an_error_that_says_what_to_do(config, tmp_path):
    with pytest.raises(TierctlError) as exc:
        meetings(config, "nowhere.ics", at(2027, 3, 1), at(2027, 4, 1), tmp_path)
    assert "nowhere.ics" in str(exc.value) and "not found" in str(exc.value)
    assert "export the calendar" in str(exc.value)


@pytest.mark.parametrize("name, says", [("not_a_calendar.ics", "not an iCalendar file"),
                                        ("truncated.ics", "cut off")])
def test_unparsable_file_is_an_error_naming_the_file(config, name, says):
    with pytest.raises(TierctlError) as exc:
        meetings(config, name, at(2027, 3, 1), at(2027, 4, 1))
    assert name in str(exc.value) and says in str(exc.value)
    assert "export the calendar again" in str(exc.value)


def test_garbage_inside_a_calendar_is_an_error_or_a_reported_event(config, tmp_path):
    text = (DATA / "single_events.ics").read_text(encoding="utf-8")
    (tmp_path / "odd.ics").write_text(text.replace("DTSTART:20270310T150000Z", "DTSTART:tomorrow"),
                                      encoding="utf-8")
    found, problems = meetings(config, "odd.ics", at(2027, 3, 10), at(2027, 3, 14), tmp_path)
    assert "utc-event-1" not in {m.uid for m in found}
    assert "floating-event-1" in {m.uid for m in found}
    assert len(problems) == 1 and problems[0].line == 5 and "utc-event-1" in problems[0].message


def test_an_empty_or_reversed_window_yields_nothing(config):
    assert meetings(config, "single_events.ics", at(2027, 3, 12), at(2027, 3, 12))[0] == []
    assert meetings(config, "single_events.ics", at(2027, 3, 14), at(2027, 3, 10))[0] == []


def test_registered_as_plugin_ical():
    host = PluginHost.load(only=["ical"])
    assert host.sources["ical"] is IcalMeetings
    assert IcalMeetings.kind == "meetings"


# --- the example calendar -----------------------------------------------------

def test_example_calendar_has_upcoming_account_reviews_with_customer_attendees(config):
    found, problems = meetings(config, "examples/meetings.ics", at(2026, 11, 23), at(2027, 12, 31), ROOT)
    assert problems == []
    reviews = [m for m in found if m.summary.startswith("Account review")]
    assert {m.summary for m in reviews} == {"Account review: Northwind Logistics",
                                            "Account review: Brightwater Energie",
                                            "Account review: Harbor & Finch"}
    assert reviews[0].start < at(2026, 11, 30)  # one right after "today", 2026-11-23
    # Monthly to the end of 2027: Northwind minus its EXDATE, Brightwater (one moved), Harbor & Finch
    # also on 2026-11-26.
    count = {s: sum(m.summary == s for m in reviews) for s in {m.summary for m in reviews}}
    assert count == {"Account review: Northwind Logistics": 12, "Account review: Brightwater Energie": 13,
                     "Account review: Harbor & Finch": 14}
    assert not any(m.summary.startswith("Upgrade call") for m in found)  # cancelled
    moved = [m for m in reviews if m.occurrence_id.endswith("@2026-12-10T13:00:00Z")]
    assert [m.start for m in moved] == [at(2026, 12, 11, 9, 30)]
    with (ROOT / "examples" / "customers.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    enterprise = {r["account_id"] for r in rows if r["plan"] == "enterprise"}
    account_of = {r["contact_email"].lower(): r["account_id"] for r in rows}
    for m in reviews:
        accounts = {account_of[a] for a in m.attendees if a in account_of}
        assert len(accounts) == 1 and accounts <= enterprise, m
        assert any(a.endswith("@acme.example") for a in m.attendees)
        stakeholders = {r["contact_email"].lower() for r in rows
                        if r["account_id"] in accounts and r["role"] == "key-stakeholder"}
        assert stakeholders <= m.attendees


def test_the_source_reads_a_copy_relative_to_base_dir(config, tmp_path):
    (tmp_path / "cal").mkdir()
    shutil.copy(DATA / "single_events.ics", tmp_path / "cal" / "team.ics")
    found, _ = meetings(config, "cal/team.ics", at(2027, 3, 10), at(2027, 3, 14), tmp_path)
    assert "utc-event-1" in {m.uid for m in found}
