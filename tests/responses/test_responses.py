"""`tierctl survey import` end to end: real CSV files, a real SQLite ledger filled by `survey send`.

What is under test: every response is linked to its invitation (by invite id,
or by e-mail to the right period's invitation); answers are checked against
their questions and a bad row is reported with its line and skipped while the
good rows are kept; importing again adds nothing; the response_received hook
runs once per new response, and a failing plugin is reported, not fatal.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from project_fixtures import PROJECT_YAML, ROOT, ics_event, run_cli

from tierctl.responses import csv_import as response_import
from tierctl.config.loader import load_config
from tierctl.hookspecs import hookimpl
from tierctl.storage.opener import open_ledger
from tierctl.responses.csv_import import import_csv

QUESTIONS = """\
    questions:
      - {id: nps, type: nps, text: Would you recommend us?}
      - {id: effort, type: ces, text: We make it easy.}
      - {id: stars, type: rating, scale: [1, 10], text: How many stars?}
      - {id: plan, type: choice, choices: [Keep, Upgrade, Cancel], text: What will you do?}
      - {id: next, type: text, text: What should we build next?}
"""
YAML = PROJECT_YAML.replace("""    questions:
      - {id: nps, type: nps, text: Would you recommend us?}
""", QUESTIONS)
assert YAML != PROJECT_YAML
HEADER = ["invite_id", "submitted_at", "nps", "effort", "stars", "plan", "next"]
SEND_AT = "2027-01-04T09:00:00Z"  # 2027-Q1 of product-feedback is due for everyone


def contacts(n: int) -> list[list[str]]:
    return [[f"acc{i}", f"Account {i}", "starter", "active", f"p{i}@acc{i}.example", f"P {i}", "user", "en"]
            for i in range(n)]


IMPORT_AT = "2027-07-31T00:00:00Z"  # these tests' responses are from early 2027: import as if then


def invoke(config: Path, *args: str) -> tuple[int, str, str]:
    """``tierctl -c CONFIG survey ARGS`` as the console script runs it: (exit code, stdout, stderr)."""
    if args and args[0] == "import" and "--now" not in args:
        args = (*args, "--now", IMPORT_AT)
    return run_cli(["-c", str(config), "survey", *args], load_plugins=None)


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sent(config: Path, survey: str = "product-feedback") -> dict[str, str]:
    """contact e-mail -> invite id of the sent invitations (the latest per contact)."""
    with open_ledger(None, config.parent) as ledger:
        rows = sorted(ledger.invitations(state="sent", survey_id=survey), key=lambda r: r["due_at"])
    return {row["contact_email"]: row["invite_id"] for row in rows}


def stored(config: Path) -> dict[str, dict]:
    """invite id -> the stored response with its answers {question: (qtype, score, text)}."""
    con = sqlite3.connect(config.parent / ".tierctl" / "state.db")
    con.row_factory = sqlite3.Row
    out = {row["invite_id"]: dict(row) | {"answers": {}} for row in con.execute(
        "SELECT r.*, i.invite_id, i.survey_id, i.tier, i.account_id, i.contact_email, i.occasion, i.due_day "
        "FROM responses AS r JOIN invitations AS i ON i.id = r.invitation")}
    for row in con.execute("SELECT i.invite_id, a.question_id, q.qtype, a.value FROM answers AS a "
                           "JOIN invitations AS i ON i.id = a.invitation "
                           "JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id"):
        value = row["value"]
        scored = isinstance(value, (int, float))
        out[row["invite_id"]]["answers"][row["question_id"]] = (row["qtype"], value if scored else None,
                                                               None if scored else value)
    con.close()
    return out


@pytest.fixture
def sent_project(project):
    """A project whose 6 contacts were sent product-feedback for 2027-Q1: (config, email -> invite id)."""
    config = project(contacts(6), yaml=YAML)
    code, out, err = invoke(config, "send", "--now", SEND_AT)
    assert code == 0 and "sent 6 of 6 due" in out, err
    return config, sent(config)


def test_import_links_checks_and_stores_answers_then_a_reimport_adds_nothing(sent_project, tmp_path):
    config, ids = sent_project
    p0, p1, p2 = ids["p0@acc0.example"], ids["p1@acc1.example"], ids["p2@acc2.example"]
    path = write_csv(tmp_path / "export.csv", [
        [p0, "2027-01-05T10:00:00Z", "9", "6", "8", "Upgrade", "Dark mode"],
        [p1, "2027-01-06T11:30:00+01:00", "0", "", " ", "cancel", ""],  # blanks: not answered; a choice in any case
        [p2, "2027-01-07T08:00:00Z", "10", "7", "10", "", "Faster exports,\nand SSO"],
        [p0, "2027-01-09T10:00:00Z", "3", "1", "1", "Keep", "changed my mind"],  # a second response: the first stays
    ])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert (code, err) == (0, "")
    assert out == f"{path}: 3 added, 1 duplicate, 0 bad rows skipped (4 rows read).\n"
    rows = stored(config)
    assert set(rows) == {p0, p1, p2}
    first = rows[p0]
    assert first["response_id"] == f"import:{p0}" and first["source"] == "import"
    assert (first["survey_id"], first["tier"], first["account_id"], first["contact_email"], first["occasion"]) == \
        ("product-feedback", "basic", "acc0", "p0@acc0.example", "2027-Q1")
    # The quarter starts at midnight in Amsterdam, 2026-12-31T23:00Z: its local day is what reports group by.
    assert first["due_day"] == "2027-01-01"
    assert first["submitted_at"] == "2027-01-05T10:00:00.000000+00:00"
    assert first["answers"] == {"nps": ("nps", 9.0, None), "effort": ("ces", 6.0, None),
                                "stars": ("rating", 8.0, None), "plan": ("choice", None, "Upgrade"),
                                "next": ("text", None, "Dark mode")}
    assert rows[p1]["submitted_at"] == "2027-01-06T10:30:00.000000+00:00"
    assert rows[p1]["answers"] == {"nps": ("nps", 0.0, None), "plan": ("choice", None, "Cancel")}
    assert rows[p2]["answers"]["next"] == ("text", None, "Faster exports,\nand SSO")

    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback", "--json")
    assert code == 0
    assert '"added": 0, "duplicates": 4, "bad_rows": 0' in out
    assert stored(config) == rows


def test_every_kind_of_bad_row_is_reported_with_its_line_and_skipped(project, tmp_path):
    rows = [["big", "Big Co", "enterprise", "active", "kim@big.example", "Kim", "key-stakeholder", "en"],
            *contacts(2)]
    config = project(rows, [ics_event("review", "20270107T100000", ["kim@big.example"])], yaml=YAML)
    code, out, err = invoke(config, "send", "--now", "2027-01-05T09:00:00Z")
    assert code == 0, err
    ids = sent(config)
    meeting_invite = sent(config, "pre-meeting")["kim@big.example"]
    good, other = ids["p0@acc0.example"], ids["p1@acc1.example"]
    path = write_csv(tmp_path / "export.csv", [
        [good, "2027-01-05T10:00:00Z", "7", "", "", "", "ok"],                      # line 2: good
        ["no-such-invite", "2027-01-05T10:00:00Z", "7", "", "", "", ""],              # 3
        [meeting_invite, "2027-01-05T10:00:00Z", "7", "", "", "", ""],                # 4: another survey's
        [other, "2027-01-05T10:00:00Z", "11", "", "", "", ""],                        # 5: outside 0-10
        [other, "2027-01-05T10:00:00Z", "7.5", "0", "", "", ""],                      # 6: two problems
        [other, "2027-01-05T10:00:00Z", "", "", "11", "Maybe", ""],                   # 7: rating, choice
        [other, "05/01/2027 10:00", "7", "", "", "", ""],                             # 8: not ISO
        [other, "", "7", "", "", "", ""],                                             # 9: no date
        ["", "2027-01-05T10:00:00Z", "7", "", "", "", ""],                            # 10: no id
        [other, "2027-01-05T10:00:00Z", "", "", "", "", "   "],                       # 11: no answers
        [other, "2027-01-05"],                                                        # 12: too few columns
        [other, "2027-01-05T12:00:00Z", "6", "2", "3", "Keep", "kept"],               # 13: good
    ])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert code == 1  # rows were skipped: listed, and the run says so
    assert out == f"{path}: 2 added, 0 duplicates, 10 bad rows skipped (12 rows read).\n"
    lines = err.splitlines()
    assert lines == [
        f"{path}:3: unknown invite_id 'no-such-invite': no invitation with this id in the ledger",
        f"{path}:4: invite_id {meeting_invite!r} is an invitation of survey 'pre-meeting', not 'product-feedback'",
        f"{path}:5: column nps: '11' is outside the scale 0-10; nps answers are whole numbers from 0 to 10",
        f"{path}:6: column nps: '7.5' is not a whole number; nps answers are whole numbers from 0 to 10; "
        "column effort: '0' is outside the scale 1-7; ces answers are whole numbers from 1 to 7",
        f"{path}:7: column stars: '11' is outside the scale 1-10; rating answers are whole numbers from 1 to 10; "
        "column plan: 'Maybe' is not one of the choices 'Keep', 'Upgrade', 'Cancel'",
        f"{path}:8: submitted_at '05/01/2027 10:00' is not an ISO 8601 date or time; expected e.g. "
        "2026-11-24T10:15:00Z (without a zone: Europe/Amsterdam)",
        f"{path}:9: submitted_at is empty",
        f"{path}:10: empty invite_id: the response cannot be linked to an invitation",
        f"{path}:11: no answers: every question column is empty",
        f"{path}:12: has 2 fields, the header has 7: too few columns",
    ]
    assert set(stored(config)) == {good, other}
    assert stored(config)[other]["answers"]["plan"] == ("choice", None, "Keep")


def test_a_huge_bad_answer_is_shown_cut_with_its_length(sent_project, tmp_path):
    """A hostile export's 100 kB answer is named by its start and length, not echoed whole."""
    config, _ = sent_project
    ids = sent(config)
    invite = next(iter(ids.values()))
    huge = "9" * 50_000 + "x" * 50_000
    path = write_csv(tmp_path / "export.csv", [[invite, "2027-01-05T10:00:00Z", huge, "", "", "", ""],
                                               [invite, "2" * 100_000, "7", "", "", "", ""]])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 2 and all(len(line) < 500 for line in lines), [line[:200] for line in lines]
    assert f"column nps: '{'9' * 80}'... (100,000 characters) is not a number" in lines[0]
    assert f"submitted_at '{'2' * 80}'... (100,000 characters) is not an ISO 8601 date" in lines[1]


def test_more_than_fifty_bad_rows_are_counted_after_the_first_fifty(sent_project, tmp_path):
    config, _ = sent_project
    path = write_csv(tmp_path / "export.csv", [[f"nope-{i}", "2027-01-05", "1", "", "", "", ""] for i in range(60)])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert code == 1 and "0 added, 0 duplicates, 60 bad rows skipped" in out
    lines = err.splitlines()
    assert len(lines) == 51 and lines[-1] == "... and 10 more"
    assert lines[49].startswith(f"{path}:51: unknown invite_id 'nope-49'")


def test_email_only_rows_link_to_the_invitation_of_their_period(project, tmp_path):
    config = project(contacts(2), yaml=YAML)
    for moment in (SEND_AT, "2027-04-05T09:00:00Z"):  # 2027-Q1 and 2027-Q2
        assert invoke(config, "send", "--now", moment)[0] == 0
    with open_ledger(None, config.parent) as ledger:
        by_occasion = {(r["contact_email"], r["occasion"]): r["invite_id"] for r in ledger.invitations(state="sent")}
    header = ["Contact Email", "Submitted At", "nps"]  # header names are matched loosely
    path = write_csv(tmp_path / "by-email.csv", [
        ["P0@Acc0.example", "2027-02-10T10:00:00Z", "9"],  # during Q1 -> the Q1 invitation
        ["p0@acc0.example", "2027-05-10T10:00:00Z", "3"],  # during Q2 -> the Q2 invitation
        ["p1@acc1.example", "2026-12-01T10:00:00Z", "5"],  # before any: the latest (Q2)
        ["stranger@else.example", "2027-02-10T10:00:00Z", "5"],
    ], header=header)
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert code == 1 and "3 added, 0 duplicates, 1 bad row skipped" in out
    assert err == f"{path}:5: no sent invitation of survey 'product-feedback' to 'stranger@else.example'\n"
    rows = stored(config)
    assert rows[by_occasion[("p0@acc0.example", "2027-Q1")]]["answers"]["nps"][1] == 9
    assert rows[by_occasion[("p0@acc0.example", "2027-Q2")]]["answers"]["nps"][1] == 3
    assert rows[by_occasion[("p1@acc1.example", "2027-Q2")]]["due_day"] == "2027-04-01"
    # The e-mail rows got the id of their invitation: importing again adds nothing.
    assert "0 added, 3 duplicates" in invoke(config, "import", str(path), "--survey", "product-feedback")[1]


def test_validate_refuses_a_question_type_that_differs_from_the_stored_answers(sent_project, tmp_path):
    config, ids = sent_project
    assert "agree with the answers in the ledger" in run_cli(["-c", str(config), "validate"], load_plugins=None)[1]
    path = write_csv(tmp_path / "one.csv", [[ids["p0@acc0.example"], "2027-01-05T10:00:00Z", "9", "", "7", "", ""]])
    assert invoke(config, "import", str(path), "--survey", "product-feedback")[0] == 0
    text = config.read_text()
    changed = text.replace("{id: stars, type: rating, scale: [1, 10]", "{id: stars, type: nps")
    assert changed != text
    config.write_text(changed)
    line = next(n for n, row in enumerate(changed.splitlines(), 1) if "{id: stars, type: nps" in row)
    code, out, err = run_cli(["-c", str(config), "validate"], load_plugins=None)
    assert code == 2 and out == ""
    assert err.startswith(f"{config}:{line}:")
    assert ("surveys.product-feedback.questions[2].type: question 'stars' is now of type 'nps', but the ledger "
            "holds answers to it as type 'rating'") in err and "Give the changed question a new id" in err
    # An import says the same before it reads a row, and stores nothing.
    more = write_csv(tmp_path / "more.csv", [[ids["p1@acc1.example"], "2027-01-05T10:00:00Z", "7", "", "", "", ""]])
    code, out, import_err = invoke(config, "import", str(more), "--survey", "product-feedback")
    assert code == 2 and import_err == err and len(stored(config)) == 1
    # A question with no answers yet (nps here was answered, effort was not) may still change.
    config.write_text(text.replace("{id: effort, type: ces", "{id: effort, type: rating, scale: [1, 7]"))
    code, out, err = run_cli(["-c", str(config), "validate", "--json"], load_plugins=None)
    assert code == 0 and json.loads(out)["checked_against_ledger"] is True, err


def test_times_without_a_zone_are_in_the_organisation_zone(sent_project, tmp_path):
    config, ids = sent_project
    p0, p1, p2 = ids["p0@acc0.example"], ids["p1@acc1.example"], ids["p2@acc2.example"]
    path = write_csv(tmp_path / "times.csv", [
        [p0, "2027-07-01 10:00", "1", "", "", "", ""],     # summer: CEST, UTC+2
        [p1, "2027-01-11", "1", "", "", "", ""],           # a date alone: local midnight
        [p2, "2027-01-12T10:00:00-05:00", "1", "", "", "", ""],
    ])
    assert invoke(config, "import", str(path), "--survey", "product-feedback")[0] == 0
    rows = stored(config)
    assert rows[p0]["submitted_at"] == "2027-07-01T08:00:00.000000+00:00"
    assert rows[p1]["submitted_at"] == "2027-01-10T23:00:00.000000+00:00"
    assert rows[p2]["submitted_at"] == "2027-01-12T15:00:00.000000+00:00"


def test_formula_like_text_is_stored_verbatim(sent_project, tmp_path):
    config, ids = sent_project
    texts = ['=HYPERLINK("http://evil.example","click")', "+31 20 123 4567", "-1 for the new UI", "@SUM(A1:A9)",
             "'quoted", "<b>bold</b>"]
    emails = sorted(ids)
    path = write_csv(tmp_path / "formulas.csv",
                     [[ids[email], "2027-01-05T10:00:00Z", "5", "", "", "", text] for email, text in zip(emails, texts)])
    assert invoke(config, "import", str(path), "--survey", "product-feedback")[0] == 0
    rows = stored(config)
    assert [rows[ids[email]]["answers"]["next"][2] for email in emails] == texts


def test_unknown_columns_are_one_warning_and_a_header_without_needed_columns_is_exit_2(sent_project, tmp_path):
    config, ids = sent_project
    path = write_csv(tmp_path / "extra.csv", [[ids["p0@acc0.example"], "2027-01-05", "x", "y", "8"]],
                     header=["invite_id", "submitted_at", "nsp", "respondent", "nps"])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert code == 0 and "1 added" in out
    assert err == (f"tierctl: warning: {path}:1: columns 'nsp' (did you mean 'nps'?), 'respondent' are not a "
                   "question of survey 'product-feedback' and are ignored; its questions are nps, effort, stars, "
                   "plan, next\n")
    bad = write_csv(tmp_path / "bad-header.csv", [["x", "1"]], header=["invite_id", "score"])
    code, out, err = invoke(config, "import", str(bad), "--survey", "product-feedback")
    assert code == 2 and out == ""
    assert f"tierctl: error: {bad}:1: the header lacks submitted_at, a column for at least one question" in err
    code, _, err = invoke(config, "import", str(tmp_path / "missing.csv"), "--survey", "product-feedback")
    assert code == 2 and "missing.csv: file not found" in err
    code, _, err = invoke(config, "import", str(path), "--survey", "product-feedbak")
    assert code == 2 and "no survey 'product-feedbak' (did you mean 'product-feedback'?)" in err


def test_encodings_and_delimiters(sent_project, tmp_path):
    config, ids = sent_project
    path = tmp_path / "excel.csv"
    path.write_bytes(f"invite_id;submitted_at;nps;next\r\n{ids['p0@acc0.example']};2027-01-05;9;Caf\xe9\r\n"
                     .encode("cp1252"))
    code, _, err = invoke(config, "import", str(path), "--survey", "product-feedback", "--delimiter", ";")
    assert code == 2 and "is not utf-8-sig" in err and "--encoding" in err
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback", "--delimiter", ";",
                            "--encoding", "cp1252")
    assert code == 0 and "1 added" in out, err
    assert stored(config)[ids["p0@acc0.example"]]["answers"]["next"][2] == "Café"


def test_batches_link_and_deduplicate_across_their_boundaries(sent_project, tmp_path, host, monkeypatch):
    monkeypatch.setattr(response_import, "BATCH_SIZE", 2)
    config, ids = sent_project
    emails = sorted(ids)
    rows = [[ids[e], "2027-01-05T10:00:00Z", str(n), "", "", "", ""] for n, e in enumerate(emails)]
    rows.insert(4, [ids[emails[0]], "2027-01-06T10:00:00Z", "10", "", "", "", ""])  # a later batch repeats one
    rows.insert(2, ["nope", "2027-01-06T10:00:00Z", "10", "", "", "", ""])
    path = write_csv(tmp_path / "batches.csv", rows)
    cfg = load_config(config, host)
    with open_ledger(cfg.storage.url, cfg.base_dir) as ledger:
        result = import_csv(cfg, ledger, host, path, "product-feedback", datetime(2027, 1, 8, tzinfo=timezone.utc))
    assert (result.added, result.duplicates, result.bad_rows, result.rows) == (6, 1, 1, 8)
    assert [(p.line, p.message.split(":")[0]) for p in result.problems] == [(4, "unknown invite_id 'nope'")]
    assert stored(config)[ids[emails[0]]]["answers"]["nps"][1] == 0


class Recorder:
    """A plugin that records each response_received call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []

    @hookimpl
    def response_received(self, response, invitation):
        self.calls.append((response.response_id, dict(response.answers), invitation))


class Alarm:
    """A plugin whose hook fails on detractors."""

    @hookimpl
    def response_received(self, response):
        if response.answers.get("nps", 10) <= 6:
            raise RuntimeError("pager is down")


def test_the_hook_runs_once_per_new_response_and_a_failing_plugin_is_reported(sent_project, tmp_path, host):
    config, ids = sent_project
    recorder, alarm = Recorder(), Alarm()
    host.pm.register(recorder, name="recorder")
    host.pm.register(alarm, name="alarm")
    p0, p1, p2 = ids["p0@acc0.example"], ids["p1@acc1.example"], ids["p2@acc2.example"]
    path = write_csv(tmp_path / "hook.csv", [
        [p0, "2027-01-05T10:00:00Z", "9", "", "", "", ""],
        [p1, "2027-01-05T10:00:00Z", "2", "", "", "", ""],
        [p2, "2027-01-05T10:00:00Z", "4", "", "", "", ""],
        ["nope", "2027-01-05T10:00:00Z", "4", "", "", "", ""],
    ])
    cfg = load_config(config, host)
    now = datetime(2027, 1, 8, tzinfo=timezone.utc)
    with open_ledger(cfg.storage.url, cfg.base_dir) as ledger:
        result = import_csv(cfg, ledger, host, path, "product-feedback", now)
        assert (result.added, result.bad_rows, result.exit_code) == (3, 1, 1)
        # The alarm failed twice; the recorder still saw every new response, and all were stored.
        assert sorted(result.hook_errors) == [
            f"plugin 'alarm' failed in response_received for response import:{p}: RuntimeError: pager is down"
            for p in sorted([p1, p2])]
        assert sorted(call[0] for call in recorder.calls) == sorted(f"import:{p}" for p in (p0, p1, p2))
        call = next(c for c in recorder.calls if c[0] == f"import:{p1}")
        assert call[1] == {"nps": 2}
        assert call[2] == {"invite_id": p1, "survey_id": "product-feedback", "tier": "basic", "account_id": "acc1",
                           "contact_email": "p1@acc1.example", "occasion": "2027-Q1", "due_day": "2027-01-01"}
        assert (call[2].tier, call[2].invite_id, call[2]["account_id"]) == ("basic", p1, "acc1")  # typed, and a dict
        again = import_csv(cfg, ledger, host, path, "product-feedback", now)
        assert (again.added, again.duplicates, again.hook_errors) == (0, 3, [])
    assert len(recorder.calls) == 3  # not called again for what was stored already
    assert len(stored(config)) == 3


def test_example_responses_import_after_the_example_send(tmp_path, monkeypatch):
    """The README's sequence on a fresh copy of the example, run from its folder."""
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.example.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    config = Path("config.example.yaml")
    code, out, err = invoke(config, "send", "--now", "2026-11-23T08:00:00Z")
    assert code == 0 and "sent 22 of 22 due" in out, err
    code, out, err = invoke(config, "import", "examples/responses.csv", "--survey", "product-feedback")
    assert (code, err) == (0, "")
    assert out == "examples/responses.csv: 17 added, 0 duplicates, 0 bad rows skipped (17 rows read).\n"
    rows = stored(config)
    nps = sorted(int(r["answers"]["nps"][1]) for r in rows.values())
    promoters, detractors = sum(n >= 9 for n in nps), sum(n <= 6 for n in nps)
    assert promoters >= 4 and detractors >= 4 and len(nps) - promoters - detractors >= 4
    assert all(r["submitted_at"] > "2026-11-23" for r in rows.values())
    assert sum(1 for r in rows.values() if "next" in r["answers"]) >= 12
    assert invoke(config, "import", "examples/responses.csv", "--survey", "product-feedback")[1].startswith(
        "examples/responses.csv: 0 added, 17 duplicates")



def test_import_before_any_send_is_an_error_and_creates_no_ledger(project, tmp_path):
    config = project(contacts(1), yaml=YAML)
    path = write_csv(tmp_path / "early.csv", [["x", "2027-01-05", "9", "", "", "", ""]])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert (code, out) == (2, "")
    assert "tierctl: error: nothing sent yet" in err and "run tierctl survey send first" in err
    assert not (tmp_path / ".tierctl").exists()


def test_an_import_whose_every_row_is_bad_exits_1_and_a_clean_one_0(sent_project, tmp_path):
    config, ids = sent_project
    bad = write_csv(tmp_path / "bad.csv", [["nope-1", "2027-01-05", "1", "", "", "", ""],
                                           [ids["p0@acc0.example"], "yesterday", "1", "", "", "", ""]])
    code, out, err = invoke(config, "import", str(bad), "--survey", "product-feedback", "--json")
    assert code == 1 and json.loads(out)["bad_rows"] == 2 and json.loads(out)["added"] == 0
    good = write_csv(tmp_path / "good.csv", [[ids["p0@acc0.example"], "2027-01-05", "1", "", "", "", ""]])
    assert invoke(config, "import", str(good), "--survey", "product-feedback")[0] == 0
    assert invoke(config, "import", str(good), "--survey", "product-feedback")[0] == 0  # duplicates are fine
    help_text = run_cli(["survey", "import", "--help"])[1]
    assert "1 the good rows" in help_text and "were imported, but bad rows were skipped" in help_text


def test_a_response_from_the_future_is_a_bad_row_with_its_line(sent_project, tmp_path):
    config, ids = sent_project
    p0, p1, p2 = ids["p0@acc0.example"], ids["p1@acc1.example"], ids["p2@acc2.example"]
    path = write_csv(tmp_path / "future.csv", [
        [p0, "9999-12-31T00:00:00Z", "9", "", "", "", ""],      # line 2: far future
        [p1, "2027-07-31T00:10:00Z", "9", "", "", "", ""],      # 3: 10 minutes ahead: clock skew, kept
        [p2, "2027-07-31T01:00:00Z", "9", "", "", "", ""],      # 4: an hour ahead
    ])
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert code == 1 and "1 added, 0 duplicates, 2 bad rows skipped" in out
    assert err.splitlines() == [
        f"{path}:2: submitted_at 9999-12-31T00:00:00+00:00 is in the future (now is 2027-07-31T00:00:00+00:00); "
        "a response cannot have been given yet: check the column and its time zone",
        f"{path}:4: submitted_at 2027-07-31T01:00:00+00:00 is in the future (now is 2027-07-31T00:00:00+00:00); "
        "a response cannot have been given yet: check the column and its time zone"]
    assert set(stored(config)) == {p1}
    # Without --now, now is the real clock: 9999 is refused all the same.
    code, out, err = run_cli(["-c", str(config), "survey", "import", str(path), "--survey", "product-feedback"],
                             load_plugins=None)
    assert code == 1 and f"{path}:2: submitted_at 9999-12-31" in err
