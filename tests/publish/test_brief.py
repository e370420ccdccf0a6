"""`tierctl survey brief`: an account's pre-meeting answers for its next call, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from project_fixtures import PROJECT_YAML, ics_event, run_cli

YAML = PROJECT_YAML.replace("""      - {id: satisfaction, type: csat, text: How satisfied are you?}
""", """      - {id: agenda, type: text, text: What should we cover in our next call?}
      - {id: satisfaction, type: csat, text: How satisfied are you?}
      - {id: effort, type: ces, text: We make it easy.}
    throttle: exempt
""")
assert YAML != PROJECT_YAML

ROWS = [["ACC-1", "Northwind B.V.", "enterprise", "active", "marieke@northwind.example", "Marieke Dekker",
         "key-stakeholder", "nl"],
        ["ACC-1", "Northwind B.V.", "enterprise", "active", "joost@northwind.example", "Joost de Vries",
         "key-stakeholder", "nl"],
        ["ACC-1", "Northwind B.V.", "enterprise", "active", "it@northwind.example", "IT", "admin", "nl"],
        ["ACC-2", "Kestrel", "enterprise", "active", "noah@kestrel.example", "Noah", "key-stakeholder", "en"]]
# Monthly reviews on the first Thursday, 10:00 Amsterdam: 7 Jan and 4 Feb 2027.
EVENTS = [ics_event("review", "20270107T100000", ["marieke@northwind.example", "joost@northwind.example"],
                    rrule="FREQ=MONTHLY;BYDAY=1TH;COUNT=3")]


def tierctl(config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), *args], load_plugins=None)


@pytest.fixture
def account(project, tmp_path):
    """ACC-1's stakeholders surveyed before the 7 January and 4 February reviews; Marieke answered both."""
    config = project(ROWS, EVENTS, yaml=YAML)
    for moment in ("2027-01-05T09:00:00Z", "2027-02-02T09:00:00Z"):
        code, out, err = tierctl(config, "survey", "send", "--now", moment)
        assert code == 0, err
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "contact_email,submitted_at,agenda,satisfaction,effort\n"
        "marieke@northwind.example,2027-01-05T14:10:00,\"The export timeouts,\nand who owns SSO\",4,\n"
        "marieke@northwind.example,2027-02-03T08:00:00,Renewal,2,6\n", encoding="utf-8")
    code, out, err = tierctl(config, "survey", "import", str(answers), "--survey", "pre-meeting",
                             "--now", "2027-02-03T09:00:00Z")  # answered in early 2027
    assert (code, err) == (0, "") and "2 added" in out
    return config


def test_the_brief_for_the_next_meeting(account):
    code, out, err = tierctl(account, "survey", "brief", "ACC-1", "--now", "2027-01-06T12:00:00Z")
    assert (code, err) == (0, "")
    assert out == """\
# Northwind B.V. (ACC-1)

Meeting: Thu 7 Jan 2027, 10:00 (Europe/Amsterdam)
Survey: Before our account review (pre-meeting); sent to 2 stakeholders, 1 answered.

## Marieke Dekker <marieke@northwind.example>, key-stakeholder, answered Tue 5 Jan 2027, 14:10
- What should we cover in our next call?
  > The export timeouts,
  > and who owns SSO
- How satisfied are you?  CSAT 4/5
- We make it easy.  (no answer)

## Not answered
- Joost de Vries <joost@northwind.example>, key-stakeholder: sent Tue 5 Jan 2027, 10:00
"""


def test_a_meeting_by_date_or_time_and_the_account_by_name(account):
    code, out, _ = tierctl(account, "survey", "brief", "northwind b.v.", "--meeting", "2027-02-04",
                           "--now", "2027-01-06T12:00:00Z")
    assert code == 0
    assert "Meeting: Thu 4 Feb 2027, 10:00 (Europe/Amsterdam)" in out
    assert "- How satisfied are you?  CSAT 2/5\n- We make it easy.  CES 6/7\n" in out
    same = tierctl(account, "survey", "brief", "ACC-1", "--meeting", "2027-02-04T10:00")[1]  # local time
    assert same == out
    code, _, err = tierctl(account, "survey", "brief", "ACC-1", "--meeting", "2027-02-05")
    assert code == 2
    assert "ACC-1 has no surveyed meeting at 2027-02-05; its meetings with a pre-meeting survey: " \
           "Thu 7 Jan 2027, 10:00, Thu 4 Feb 2027, 10:00 (Europe/Amsterdam)" in err


def test_json_for_tools(account):
    code, out, _ = tierctl(account, "survey", "brief", "ACC-1", "--now", "2027-02-02T12:00:00Z", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["meeting"]["start"] == "2027-02-04T09:00:00+00:00"
    assert doc["meeting"]["occasion"].startswith("meeting:review@")
    assert doc["answered"] == ["marieke@northwind.example"] and doc["not_answered"] == ["joost@northwind.example"]
    marieke = next(s for s in doc["invited"] if s["email"] == "marieke@northwind.example")
    assert marieke["submitted_at"] == "2027-02-03T07:00:00+00:00"
    assert [(a["question_id"], a["score"], a["display"]) for a in marieke["answers"]] == [
        ("agenda", None, "Renewal"), ("satisfaction", 2.0, "CSAT 2/5"), ("effort", 6.0, "CES 6/7")]
    assert doc["other_meetings"] == ["2027-01-07T09:00:00+00:00"]


def test_no_upcoming_meeting_and_nothing_sent_yet(account, project):
    code, out, _ = tierctl(account, "survey", "brief", "ACC-1", "--now", "2027-03-01T12:00:00Z")
    assert code == 0
    assert "no upcoming meeting of ACC-1 has a pre-meeting survey; the last was Thu 4 Feb 2027, 10:00 " \
           "(Europe/Amsterdam): see it with --meeting 2027-02-04" in out
    code, out, _ = tierctl(account, "survey", "brief", "ACC-2")
    assert code == 0
    assert out.startswith("# Kestrel (ACC-2)\n\nno pre-meeting survey (pre-meeting) has been sent to ACC-2's")


def test_unknown_account_suggests_one(account):
    code, out, err = tierctl(account, "survey", "brief", "ACC-11")
    assert (code, out) == (2, "")
    assert err == ("tierctl: error: no account 'ACC-11' in the customers source or the ledger (did you mean "
                   "'ACC-1', Northwind B.V.?); give an account id (such as 'ACC-1') or an account's exact name\n")
    code, _, err = tierctl(account, "survey", "brief", "Northwnd B.V.")
    assert code == 2 and "(did you mean 'ACC-1', Northwind B.V.?)" in err


def test_brief_before_any_send_creates_no_state(project, tmp_path):
    config = project(ROWS, EVENTS, yaml=YAML)
    code, out, _ = tierctl(config, "survey", "brief", "ACC-1")
    assert code == 0 and "has been sent to ACC-1's stakeholders yet" in out
    assert not (tmp_path / ".tierctl").exists()


def test_the_brief_in_dutch(account):
    code, out, err = tierctl(account, "survey", "brief", "ACC-1", "--now", "2027-01-06T12:00:00Z", "--language", "nl")
    assert (code, err) == (0, "")
    assert "Gesprek: do 7 jan 2027, 10:00 (Europe/Amsterdam)" in out
    assert "; verstuurd naar 2 belanghebbenden, 1 beantwoord." in out
    assert "key-stakeholder, beantwoord op di 5 jan 2027, 14:10" in out
    assert "- We make it easy.  (geen antwoord)" in out
    assert "## Niet beantwoord" in out and "verstuurd op di 5 jan 2027, 10:00" in out
    code, out, err = tierctl(account, "survey", "brief", "ACC-1", "--language", "nl-")
    assert code == 2 and "is not a language code" in err


def test_the_briefs_notes_and_scores_in_dutch_and_german(account):
    code, out, err = tierctl(account, "survey", "brief", "ACC-1", "--now", "2027-03-01T12:00:00Z", "--language", "nl")
    assert (code, err) == (0, "")
    assert "geen komend gesprek met ACC-1 heeft een vragenlijst vooraf; het laatste was do 4 feb 2027, 10:00 " \
           "(Europe/Amsterdam): bekijk het met --meeting 2027-02-04." in out
    assert "no upcoming meeting" not in out
    code, out, err = tierctl(account, "survey", "brief", "ACC-2", "--language", "de")
    assert code == 0 and "noch keine Umfrage vor dem Termin (pre-meeting)" in out and "has been sent" not in out
    code, out, err = tierctl(account, "survey", "brief", "ACC-1", "--meeting", "2027-02-04", "--language", "nl")
    assert "## Niet beantwoord" in out and "CES 6/7" in out


def test_a_rating_and_an_unreached_stakeholder_in_dutch():
    from tierctl.i18n import use_language
    from tierctl.publish.brief import BriefAnswer, Brief, Stakeholder

    brief = Brief("ACC-9", "Noordwind", "Europe/Amsterdam")
    with use_language("nl"):
        assert BriefAnswer("q", "Hoe?", "rating", 7, scale=(2, 10)).display() == "beoordeling 7 (2-10)"
        from datetime import datetime, timezone
        brief.meeting_start = datetime(2027, 2, 4, 9, tzinfo=timezone.utc)
        brief.stakeholders = [Stakeholder("a@x.example", "An", "", "s", "failed", "i1", None, "bounced")]
        assert "- An <a@x.example>: niet bereikt (mislukt: bounced)" in brief.text()
