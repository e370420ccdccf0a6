"""Who is due for which survey when: the scheduler and `survey plan`/`send` on real files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from tierctl.cli import cli
from tierctl.config.loader import load_config
from tierctl.surveys.scheduler import Deferral
from tierctl.surveys.send_run import SurveyRun

from project_fixtures import PROJECT_YAML, ics_event

UTC = timezone.utc

ROWS = [
    ["a1", "Alpha BV", "enterprise", "active", "Kim@Alpha.example", "Kim", "key-stakeholder", "en"],
    ["a1", "Alpha BV", "enterprise", "active", "lee@alpha.example", "Lee", "user", "en"],
    ["b1", "Beta", "starter", "active", "bo@beta.example", "Bo", "admin", "nl"],
    ["c1", "Gone Inc", "starter", "churned", "cy@gone.example", "Cy", "admin", "en"],
]


def plan_items(config_path: Path, host, now: datetime, ledger=None):
    config = load_config(config_path, host)
    scheduler, items = SurveyRun(config, host, now).plan(ledger)
    return list(items), scheduler.summary


def test_quarterly_survey_goes_to_every_live_contact_once_per_quarter(project, host):
    config = project(ROWS)
    items, summary = plan_items(config, host, datetime(2027, 1, 4, 9, tzinfo=UTC))
    due = sorted((i.survey_id, i.contact_email, i.occasion) for i in items)
    assert due == [("product-feedback", "bo@beta.example", "2027-Q1"),
                   ("product-feedback", "kim@alpha.example", "2027-Q1"),
                   ("product-feedback", "lee@alpha.example", "2027-Q1")]
    assert summary.skipped["churned account"] == 1
    # The quarter is a calendar quarter in the organisation's zone.
    inv = items[0]
    assert inv.due_at == datetime(2026, 12, 31, 23, tzinfo=UTC)  # 2027-01-01 00:00 Amsterdam
    assert inv.closes_at == datetime(2027, 3, 31, 22, tzinfo=UTC)  # 2027-04-01 00:00 CEST


def test_pre_meeting_survey_goes_to_the_accounts_stakeholders_attending_or_not(project, host):
    # Only Lee attends; the survey goes to Kim, the account's key stakeholder.
    events = [ics_event("rev-1", "20270110T100000", ["LEE@alpha.example", "agent@acme.example"])]
    config = project(ROWS, events)
    two_days_before = datetime(2027, 1, 8, 9, tzinfo=UTC)
    items, _ = plan_items(config, host, two_days_before)
    pre = [i for i in items if not isinstance(i, Deferral) and i.survey_id == "pre-meeting"]
    assert [(i.contact_email, i.account_id) for i in pre] == [("kim@alpha.example", "a1")]
    # Kim's quarterly survey waits for the throttle; Lee (a user) still gets it.
    assert [(i.invitation.survey_id, i.invitation.contact_email) for i in items if isinstance(i, Deferral)] == \
        [("product-feedback", "kim@alpha.example")]
    assert pre[0].occasion.startswith("meeting:rev-1@")
    assert pre[0].meeting_start == datetime(2027, 1, 10, 9, tzinfo=UTC)
    # Five days before, it is not yet due; after the meeting started, too late.
    for moment in (datetime(2027, 1, 5, 9, tzinfo=UTC), datetime(2027, 1, 10, 9, 30, tzinfo=UTC)):
        items, _ = plan_items(config, host, moment)
        assert not [i for i in items if not isinstance(i, Deferral) and i.survey_id == "pre-meeting"]


def test_two_surveys_due_together_respect_the_per_contact_throttle(project, host):
    events = [ics_event("rev-1", "20270103T100000", ["kim@alpha.example"])]
    config = project(ROWS, events)
    items, summary = plan_items(config, host, datetime(2027, 1, 1, 12, tzinfo=UTC))
    kim = [i for i in items if (i.invitation if isinstance(i, Deferral) else i).contact_email == "kim@alpha.example"]
    # The meeting closes first, so the pre-meeting survey goes; the quarterly one waits.
    assert [type(i).__name__ for i in kim] == ["Invitation", "Deferral"]
    assert kim[0].survey_id == "pre-meeting"
    assert kim[1].invitation.survey_id == "product-feedback"
    assert kim[1].until == datetime(2027, 1, 31, 12, tzinfo=UTC)
    assert summary.deferred == 1


def test_a_source_that_lists_a_person_twice_gets_them_one_survey_the_throttle_holds_the_other(project, host):
    """The plan notes no send for a contact it decides once only when the source promises one
    contact per address (the csv source does); any other source's repeat meets the throttle."""
    from tierctl.sources import CustomerSource
    from tierctl.surveys.scheduler import Scheduler

    config = load_config(project(ROWS), host)
    csv_contacts = list(SurveyRun(config, host, datetime(2027, 1, 4, tzinfo=UTC)).scheduler(None).customers
                        .contacts(lambda p: None))
    bo = next(c for c in csv_contacts if c.email == "bo@beta.example")

    class Twice(CustomerSource):
        def contacts(self, report):
            yield bo
            yield bo

    items = list(Scheduler(config, datetime(2027, 1, 4, tzinfo=UTC), Twice(None, config, config.base_dir)).plan())
    assert [type(i).__name__ for i in items] == ["Invitation", "Deferral"]
    assert items[1].reason.startswith("throttle: contacted")


def test_exempt_surveys_ignore_the_throttle(project, host):
    config = project(ROWS, yaml=PROJECT_YAML.replace("    audience: all\n", "    audience: all\n    throttle: exempt\n"))
    loaded = load_config(config, host)
    run = SurveyRun(loaded, host, datetime(2027, 1, 4, tzinfo=UTC))
    scheduler = run.scheduler(None)
    scheduler.last_surveyed = {"bo@beta.example": datetime(2026, 12, 20, tzinfo=UTC)}
    items = list(scheduler.plan())
    assert all(not isinstance(i, Deferral) for i in items), "an exempt survey ignores the throttle"


def test_survey_plan_json_lines_and_summary(project, host):
    config = project(ROWS)
    result = CliRunner().invoke(cli, ["-c", str(config), "survey", "plan", "--now", "2027-01-04T09:00:00Z",
                                      "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["type"] for line in lines] == ["due", "due", "due", "summary"]
    # Lee is a user at an advanced account: not in the pre-meeting audience.
    assert lines[-1]["due"] == 3
    assert lines[-1]["skipped"] == {"churned account": 1, "pre-meeting: role not in audience": 1}
    assert {line["occasion"] for line in lines[:-1]} == {"2027-Q1"}


def test_bad_rows_are_reported_and_the_good_rows_planned(project, host):
    rows = ROWS + [["d1", "Delta", "platinum", "active", "di@delta.example", "Di", "admin", "en"],
                   ["e1", "Eps", "starter", "active", "not-an-email", "Ed", "admin", "en"]]
    config = project(rows)
    result = CliRunner().invoke(cli, ["-c", str(config), "survey", "plan", "--now", "2027-01-04T09:00:00Z"])
    assert result.exit_code == 0
    assert "customers.csv:6:" in result.output and "platinum" in result.output
    assert "customers.csv:7:" in result.output
    assert "3 due" in result.output


def test_waves_spread_a_period_over_days_deterministically(project, host):
    yaml = PROJECT_YAML.replace("trigger: {every: quarter}", "trigger: {every: quarter, spread: 10d}")
    rows = [["b1", "Beta", "starter", "active", f"p{i}@beta.example", "P", "user", "en"] for i in range(60)]
    config = project(rows, yaml=yaml)
    day1, _ = plan_items(config, host, datetime(2027, 1, 1, 12, tzinfo=UTC))
    day11, _ = plan_items(config, host, datetime(2027, 1, 11, 12, tzinfo=UTC))
    assert 0 < len(day1) < 30, "only the first wave is due on day one"
    assert len(day11) == 60
    again, _ = plan_items(config, host, datetime(2027, 1, 1, 12, tzinfo=UTC))
    assert [i.contact_email for i in again] == [i.contact_email for i in day1]


def test_unknown_survey_option_is_a_clear_error(project):
    config = project(ROWS)
    result = CliRunner().invoke(cli, ["-c", str(config), "survey", "plan", "--survey", "product-feedbak"])
    assert result.exit_code != 0
    assert "did you mean 'product-feedback'" in str(result.exception) + result.output


def test_plan_json_lines_match_json_dumps_exactly(project, host):
    """The fast JSON-lines writer must produce what json.dumps would, escapes included."""
    from tierctl.surveys.plan_lines import IsoCache as _IsoCache, JsonLines as _JsonLines, item_dict as _item_dict

    rows = [["a\"1", 'Quote "BV"', "starter", "active", "zoë@alpha.example", "Zoë \\ K", "ädmin\t", "en"]]
    config = project(rows)
    items, _ = plan_items(config, host, datetime(2027, 1, 4, 9, tzinfo=UTC))
    iso = _IsoCache()
    line = _JsonLines(iso)
    assert items
    for item in items:
        assert line(item) == json.dumps(_item_dict(item, iso)) + "\n"
        assert json.loads(line(item))["contact"] == item.contact_email


def test_plan_json_lines_name_each_items_own_account_when_accounts_alternate(project, host):
    """The writer encodes an account's id once for its run of contacts; a change of account,
    also back to an earlier one, must show in the very next line."""
    from tierctl.surveys.plan_lines import IsoCache as _IsoCache, JsonLines as _JsonLines, item_dict as _item_dict

    rows = [["a\"1", "One", "starter", "active", "ann@one.example", "Ann", "user", "en"],
            ["a\"1", "One", "starter", "active", "bob@one.example", "Bob", "user", "en"],
            ["b2", "Two", "starter", "active", "cy@two.example", "Cy", "user", "en"],
            ["a\"1", "One", "starter", "active", "dee@one.example", "Dee", "user", "en"]]
    config = project(rows)
    items, _ = plan_items(config, host, datetime(2027, 1, 4, 9, tzinfo=UTC))
    iso = _IsoCache()
    line = _JsonLines(iso)
    assert [json.loads(line(item))["account_id"] for item in items] == ['a"1', 'a"1', "b2", 'a"1']
    for item in items:
        assert line(item) == json.dumps(_item_dict(item, iso)) + "\n"
