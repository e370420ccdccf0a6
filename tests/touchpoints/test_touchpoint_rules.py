"""The rules behind the touchpoint plan: occasions, quiet hours, the fatigue cap, manual moments, config and rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from tp_fixtures import contact, project_yaml, tp, write_project

from tierctl.config.durations import Duration
from tierctl.config.model import QuietHours, Throttle
from tierctl.surveys.fatigue import Fatigue
from tierctl.touchpoints.occasions import OccasionClock
from tierctl.surveys.quiet import QuietClock
from tierctl.touchpoints.texts import pick_language

UTC = timezone.utc
AMS = ZoneInfo("Europe/Amsterdam")


def test_occasions_count_from_status_since_and_the_first_comes_after_one_interval():
    every = Duration.parse("90d")
    clock = OccasionClock(datetime(2026, 12, 5, 11, tzinfo=UTC), AMS)
    anchor = clock.anchor("2026-08-01", "A1", every)
    assert anchor == datetime(2026, 7, 31, 22, tzinfo=UTC)  # midnight in Amsterdam
    occ = clock.open_occasion("active", anchor, every)
    assert (occ.label, occ.opens_at, occ.closes_at, occ.due_day) == (
        "active:2026-10-29T22:00Z", datetime(2026, 10, 29, 22, tzinfo=UTC), datetime(2027, 1, 27, 22, tzinfo=UTC),
        "2026-10-29")
    young = clock.anchor("2026-11-20", "A2", every)
    assert clock.open_occasion("active", young, every) is None


def test_monthly_cadence_uses_calendar_months():
    every = Duration.parse("1mo")
    clock = OccasionClock(datetime(2027, 3, 1, 12, tzinfo=UTC), UTC)
    occ = clock.open_occasion("active", clock.anchor("2026-12-31", "A", every), every)
    assert (occ.opens_at, occ.closes_at) == (datetime(2027, 2, 28, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC))


def test_without_status_since_accounts_get_a_stable_spread():
    every = Duration.parse("90d")
    now = datetime(2026, 12, 5, tzinfo=UTC)
    first = OccasionClock(now, UTC)
    again = OccasionClock(now + timedelta(days=1), UTC)
    anchors = {first.anchor("", f"A{i}", every) for i in range(200)}
    assert len(anchors) > 150, "accounts are spread over the interval"
    assert first.anchor("", "A7", every) == again.anchor("", "A7", every), "the same every run"
    opens = {first.open_occasion("active", first.anchor("", f"A{i}", every), every).opens_at.date()
             for i in range(200)}
    assert len(opens) > 60


def test_quiet_hours_over_midnight_in_the_contacts_zone():
    quiet = QuietHours(start="21:00", end="08:00")
    at = QuietClock(quiet, datetime(2026, 12, 5, 21, 30, tzinfo=UTC), "Europe/Amsterdam")
    assert at.until("") == datetime(2026, 12, 6, 7, tzinfo=UTC)  # 22:30 -> 08:00 Amsterdam
    assert at.until("America/New_York") is None  # 16:30 there
    assert at.until("Asia/Tokyo") == datetime(2026, 12, 5, 23, tzinfo=UTC)  # 06:30 -> 08:00 Tokyo
    early = QuietClock(quiet, datetime(2026, 12, 5, 20, 30, tzinfo=UTC), "UTC")
    assert early.until("Asia/Tokyo") == datetime(2026, 12, 5, 23, tzinfo=UTC)  # 05:30 -> 08:00 Tokyo
    assert QuietClock(None, datetime(2026, 12, 5, 23, tzinfo=UTC), "UTC").until("") is None


def test_quiet_hours_within_one_day():
    quiet = QuietHours(start="12:00", end="13:30")
    assert QuietClock(quiet, datetime(2026, 12, 5, 12, 15, tzinfo=UTC), "UTC").until("") == \
        datetime(2026, 12, 5, 13, 30, tzinfo=UTC)
    assert QuietClock(quiet, datetime(2026, 12, 5, 13, 30, tzinfo=UTC), "UTC").until("") is None


def test_fatigue_cap_per_contact_window_and_per_week():
    now = datetime(2026, 12, 5, tzinfo=UTC)
    window = Fatigue(Throttle(per_contact=Duration.parse("30d")), now, {"a@x": now - timedelta(days=10)})
    held = window.hold("a@x")
    assert held is not None and held[0] == now + timedelta(days=20)
    assert window.hold("b@x") is None
    window.note("b@x")
    assert window.hold("b@x") is not None, "this run counts too"
    week = Fatigue(Throttle(messages_per_week=2), now, {}, {"a@x": [now - timedelta(days=1), now - timedelta(days=3)],
                                                            "b@x": [now - timedelta(days=8)]})
    until, reason = week.hold("a@x")
    assert until == now - timedelta(days=3) + timedelta(days=7) and "at most 2" in reason
    assert week.hold("b@x") is None
    week.note("b@x")
    assert week.hold("b@x") is None
    week.note("b@x")
    assert week.hold("b@x") is not None


def test_language_pick_falls_back_to_the_organisations_then_the_plain_text():
    texts = {"en": "Hello", "nl": "Hallo", "": "Hi"}
    assert pick_language(texts, "nl-BE", "en") == "Hallo"
    assert pick_language(texts, "de", "en") == "Hello"
    assert pick_language({"": "Hi"}, "de", "en") == "Hi"


def test_due_lists_manual_moments_per_owner_as_table_json_and_ics(tmp_path):
    rows = [contact(1, plan="gold", owner="kim@acme.example", status_since="2026-10-10"),
            contact(2, plan="gold", owner="lee@acme.example", status_since="2026-11-01"),
            contact(3, plan="gold", status="at-risk", owner="kim@acme.example", status_since="2026-11-25"),
            contact(4)]  # basic: automated only, never listed
    config = write_project(tmp_path, rows, project_yaml())
    code, out, _ = tp(config, "due", "--now", "2026-12-05T11:00:00Z")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["kim@acme.example", "A3", "gold", "phone"]
    assert lines[2].split()[:4] == ["kim@acme.example", "A1", "gold", "account-review"]
    assert lines[3].split()[:4] == ["lee@acme.example", "A2", "gold", "account-review"]
    assert lines[-1] == "3 contact moment(s) due."
    code, out, _ = tp(config, "due", "--now", "2026-12-05T11:00:00Z", "--owner", "LEE@acme.example", "--format", "json")
    [only] = json.loads(out)
    assert only["account_id"] == "A2" and only["due_by"] == "2026-12-31T23:00:00+00:00"
    code, out, _ = tp(config, "due", "--now", "2026-12-05T11:00:00Z", "--format", "ics")
    from icalendar import Calendar

    todos = [c for c in Calendar.from_ical(out).walk("VTODO")]
    assert len(todos) == 3
    assert {str(t["uid"]) for t in todos} >= {"A1/active:2026-11-09T22:00Z@tierctl"}
    assert all(str(t["status"]) == "NEEDS-ACTION" for t in todos)


@pytest.mark.parametrize("change, expected", [
    (("message: check-in}", "message: check-inn}"), "message 'check-inn' is not defined under messages: "
                                                    "(did you mean 'check-in'?)"),
    (("active: {every: 90d, channel: email, automated: true", "active: {every: 90d, channel: email, automated: false"),
     "only an automated contact moment sends a message"),
    (("active: {every: 90d, channel: email", "active: {every: 90d, channel: sms"), "differs from message 'check-in'"),
    (("provider: mail\n    subject: {en", "provider: post\n    subject: {en"), "provider 'post' is not defined"),
    (("body: \"Tip of the week", "body: \"{{ first_name }"), "template error"),
])
def test_config_mistakes_in_messages_are_errors_with_their_line(tmp_path, change, expected):
    yaml = project_yaml().replace(*change)
    config = write_project(tmp_path, [contact(1)], yaml)
    code, out, err = tp(config, "plan", "--now", "2026-12-05T11:00:00Z")
    assert code == 2 and expected in err and "tierctl.yaml:" in err and "Traceback" not in err


def test_whatsapp_message_without_an_approved_template_is_a_config_error(tmp_path):
    yaml = project_yaml("whatsapp", "texts")
    config = write_project(tmp_path, [contact(1)], yaml)
    code, _, err = tp(config, "plan")
    assert code == 2 and "a whatsapp message needs template" in err


def test_bad_phone_consent_zone_and_date_are_bad_rows_with_their_line(tmp_path):
    rows = [contact(1, phone="0612345678"), contact(2, phone="+3161"), contact(3, sms_opt_in="maybe"),
            contact(4, timezone="Mars/Olympus"), contact(5, status_since="last week"), contact(6, phone="+31 6 1234 5606")]
    config = write_project(tmp_path, rows, project_yaml())
    code, out, err = tp(config, "plan", "--now", "2026-12-05T11:00:00Z")
    assert code == 0
    assert "customers.csv:2: phone '0612345678' is not a valid international number" in err
    assert "customers.csv:3: phone '+3161' is not a valid international number" in err
    assert "customers.csv:4: sms_opt_in 'maybe' is not yes or no" in err
    assert "customers.csv:5: timezone 'Mars/Olympus' is not an IANA time zone" in err
    assert "customers.csv:6: status_since 'last week' is not an ISO date" in err
    assert "1 due" in out  # +31 6 1234 5606 is valid, written with spaces; it is kept as E.164


def test_survey_brief_points_to_touchpoints_due():
    from click.testing import CliRunner

    from tierctl.cli import cli

    result = CliRunner().invoke(cli, ["survey", "brief", "--help"])
    assert "touchpoints due" in result.output


@pytest.mark.parametrize("command", ["plan", "due"])
def test_status_since_near_the_calendars_ends_is_a_bad_row(tmp_path, command):
    # Occasions are counted from status_since in months: from year 1 (or to year 9999) that overflowed.
    rows = [contact(1, status_since="0001-01-01"), contact(2, status_since="9999-12-31T23:59:59"),
            contact(3, status_since="2026-03-01")]
    config = write_project(tmp_path, rows, project_yaml())
    code, out, err = tp(config, command, "--now", "2026-12-05T11:00:00Z")
    assert code == 0, err
    assert "customers.csv:2: status_since '0001-01-01' is outside the years 1900 to 9000" in err
    assert "customers.csv:3: status_since '9999-12-31T23:59:59' is outside the years 1900 to 9000" in err
    assert "Traceback" not in err
