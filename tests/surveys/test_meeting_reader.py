"""Where a plan reads its meetings: a big calendar in a worker while the contacts are read, unless
this process may use only one core (then a worker would only add its start-up)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from tierctl.records import Meeting
from tierctl.sources import MeetingSource
from tierctl.surveys import meeting_reader
from tierctl.util import forked

START = datetime(2027, 1, 4, 8, tzinfo=timezone.utc)


class BigCalendar(MeetingSource):
    """A source that says it is worth a worker, and records in which process it was read."""

    name = "big"
    worth_a_worker = True

    def __init__(self) -> None:
        self.read_in: list[int] = []

    def meetings(self, start, end, report):
        self.read_in.append(os.getpid())
        yield Meeting("m1@2027-01-04T08:00:00Z", "m1", start, start + timedelta(hours=1), "Review",
                      frozenset({"a@x.example"}))


def test_on_one_core_the_calendar_is_read_at_once_in_this_process(monkeypatch):
    monkeypatch.setattr(forked, "usable_cores", lambda: 1)
    source = BigCalendar()
    wait = meeting_reader.read_meetings(source, (START, START + timedelta(days=2)), lambda p: None, owner=source)
    assert source.read_in == [os.getpid()]  # read before the waiter is called, here
    found, problems = wait()
    assert [m.uid for m in found] == ["m1"] and problems == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the worker is a fork")
def test_with_a_second_core_a_big_calendar_is_read_in_a_fork(monkeypatch):
    monkeypatch.setattr(forked, "usable_cores", lambda: 2)
    monkeypatch.setattr(forked.threading, "active_count", lambda: 1)  # an earlier test's server thread
    source = BigCalendar()
    wait = meeting_reader.read_meetings(source, (START, START + timedelta(days=2)), lambda p: None, owner=source)
    found, problems = wait()
    assert source.read_in == []  # read in the fork, not here
    assert [m.uid for m in found] == ["m1"] and problems == []
