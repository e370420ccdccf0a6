"""Property test: random mutations of valid .ics files never crash tierctl.

For each mutated calendar, ``survey send`` (in process, outbox provider, real SQLite ledger) exits 0 or 2,
never with a traceback, within 5 s; on exit 2 nothing was written (no mail, no invitation in the ledger),
on exit 0 every mail written is recorded as sent. The source itself is also driven directly, more often:
it returns meetings and skipped rows, or raises TierctlError, and nothing else. A fixed seed and a
bounded number of examples keep CI time fixed.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutations import mutate
from project_fixtures import PROJECT_YAML, run_cli, write_customers
from test_source_ical import make_config

from tierctl.errors import TierctlError
from tierctl.plugins.source_ical import IcalMeetings, IcalOptions

DATA = Path(__file__).resolve().parents[1] / "data"
SEEDS = [DATA / "ical" / name for name in ("weekly_amsterdam.ics", "google_x_wr_timezone.ics",
                                          "outlook_windows_tzid.ics", "single_events.ics")]
SEEDS += sorted((DATA / "hostile").glob("*.ics"))
AMS = ZoneInfo("Europe/Amsterdam")
PROFILE = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

FRAGMENTS = ["", ":", ";", "TZID=Mars/Olympus_Mons", "RRULE:FREQ=SECONDLY", "RRULE:@@@", "DTSTART:",
             "DTSTART:99999999T999999Z", "DTSTART:19000101T000000Z", "BEGIN:VEVENT", "END:VEVENT",
             "END:VCALENDAR", "BEGIN:VTIMEZONE", "RECURRENCE-ID:20270405T090000Z", "STATUS:CANCELLED",
             "EXDATE:garbage", "RDATE;VALUE=PERIOD:20270101T000000Z/PT1H", "DURATION:-P1D", "COUNT=-1",
             "UNTIL=00000000", "\x00", "\ufeff", "é", " ", "\t", "=", "\"", "X-WR-TIMEZONE:Nowhere/Land",
             "RRULE:FREQ=DAILY;INTERVAL=0", "RRULE:FREQ=YEARLY;BYSETPOS=-400", "DTEND;VALUE=DATE:20270101"]


def _digits(draw, lines: list[bytes], i: int) -> list[bytes]:
    """Dates and times with some digits changed (month 13, hour 99, year 0000)."""
    lines[i] = bytes(draw(st.sampled_from(b"0123456789")) if 48 <= c <= 57 and draw(st.booleans()) else c
                     for c in lines[i])
    return lines


@st.composite
def mutated(draw) -> bytes:
    seed = SEEDS[draw(st.integers(0, len(SEEDS) - 1))].read_bytes()
    return mutate(draw, seed, [f.encode("utf-8") for f in FRAGMENTS], extra={"digits": _digits}, most=6)


@pytest.fixture(scope="module")
def source_config(tmp_path_factory):
    return make_config(tmp_path_factory.mktemp("ical-config"))


@settings(max_examples=200, **PROFILE)
@given(data=mutated())
def test_the_source_returns_rows_or_a_clear_error(source_config, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("m")
    (folder / "m.ics").write_bytes(data)
    problems = []
    started = time.perf_counter()
    try:
        found = list(IcalMeetings(IcalOptions(path="m.ics"), source_config, folder).meetings(
            datetime(2027, 1, 1, tzinfo=AMS), datetime(2027, 7, 1, tzinfo=AMS), problems.append))
    except TierctlError as exc:
        assert "m.ics" in str(exc)
        found = []
    assert time.perf_counter() - started < 5
    for meeting in found:
        assert meeting.start.tzinfo is not None and meeting.occurrence_id
    for problem in problems:
        assert problem.file == "m.ics" and problem.message


CUSTOMERS = [["h1", "Harbor & Finch", "enterprise", "active", "olivia.hart@harborfinch.example", "Olivia",
              "key-stakeholder", "en"],
             ["n1", "Northwind", "enterprise", "active", "joost.van.leeuwen@northwind.example", "Joost",
              "key-stakeholder", "en"]]


@settings(max_examples=25, **PROFILE)
@given(data=mutated())
def test_survey_send_exits_0_or_2_and_never_writes_half(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("p")
    write_customers(folder / "customers.csv", CUSTOMERS)
    (folder / "meetings.ics").write_bytes(data)
    (folder / "tierctl.yaml").write_text(PROJECT_YAML)
    started = time.perf_counter()
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "survey", "send", "--now", "2027-03-20T09:00:00Z"],
                             load_plugins=None)
    assert time.perf_counter() - started < 5
    assert code in (0, 2), out + err
    assert "Traceback" not in out + err
    mails = list((folder / "outbox").glob("*.eml")) if (folder / "outbox").exists() else []
    ledger = folder / ".tierctl" / "state.db"
    sent = 0
    if ledger.exists():
        with sqlite3.connect(ledger) as conn:
            sent = conn.execute("SELECT COUNT(*) FROM invitations WHERE state = 'sent'").fetchone()[0]
            pending = conn.execute("SELECT COUNT(*) FROM invitations WHERE state IN ('sending', 'unknown')"
                                   ).fetchone()[0]
        assert pending == 0
    if code == 2:
        assert mails == [] and sent == 0, out + err
    else:
        assert len(mails) == sent
