"""`survey plan` over a big customer file in two parts (a forked worker decides the second half):
the output must be byte for byte that of one pass, whatever the file holds at the cut."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tierctl.cli import cli
from tierctl.plugins import source_csv_split
from tierctl.plugins.source_csv import CsvCustomers
from tierctl.plugins.source_csv_split import CsvSplit, _line_break_after
from tierctl.surveys import plan_parts
from tierctl.util import forked

from project_fixtures import CUSTOMER_HEADER, ics_event

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the two-part plan needs os.fork")

NOW = "2027-01-04T08:00:00Z"
ACCOUNTS = 300


def rows(accounts: int = ACCOUNTS) -> list[list[str]]:
    """Accounts of five contacts; every seventh enterprise (its key stakeholder waits for meetings),
    every eleventh churned; a few bad rows throughout."""
    out = []
    for a in range(accounts):
        plan = "enterprise" if a % 7 == 0 else ("free", "starter")[a % 2]
        status = "churned" if a % 11 == 0 else "active"
        name = f"Äccount {a}" if a % 5 else f'Account "{a}", Ltd'
        for c in range(5):
            role = ("key-stakeholder", "admin", "user", "user", "user")[c]
            out.append([f"acc{a}", name, plan, status, f"c{c}@acc{a}.example", f"Contact {c}", role, "nl"])
        if a % 40 == 13:
            out.append([f"acc{a}", name, "platinum", "active", f"bad@acc{a}.example", "Bad", "user", "en"])
    return out


def meetings(accounts: int = ACCOUNTS) -> list[str]:
    # The attendee is a user; the account's key stakeholder is who gets the pre-meeting survey.
    return [ics_event(f"m{a}", f"202701{5 + a % 3:02d}T100000", [f"c2@acc{a}.example"])
            for a in range(0, accounts, 7)]


@pytest.fixture
def big_project(tmp_path: Path):
    def make(data: list[list[str]], raw_tail: str = "", events: list[str] = ()) -> Path:
        from project_fixtures import PROJECT_YAML, write_ics

        with (tmp_path / "customers.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(CUSTOMER_HEADER)
            writer.writerows(data)
            fh.write(raw_tail)
        write_ics(tmp_path / "meetings.ics", meetings() + list(events))
        config = tmp_path / "tierctl.yaml"
        config.write_text(PROJECT_YAML, encoding="utf-8")
        return config

    return make


@pytest.fixture
def parts(monkeypatch):
    """Run the plan in two parts (or, with ``parts.off()``, in one); records what ``fits`` said."""
    said: list[bool] = []
    real_fits = CsvSplit.fits

    def fits(self, handoff):
        said.append(real_fits(self, handoff))
        return said[-1]

    monkeypatch.setattr(CsvSplit, "fits", fits)
    outcomes: list[object] = []
    real_outcome = plan_parts.TailWorker.outcome

    def outcome(self):
        outcomes.append(real_outcome(self))
        return outcomes[-1]

    monkeypatch.setattr(plan_parts.TailWorker, "outcome", outcome)
    monkeypatch.setattr(forked, "usable_cores", lambda: 2)  # the split needs a second core
    _no_other_threads()  # ... and no other thread (an earlier test's server thread finishing)

    class Parts:
        fitted = said
        worked = outcomes

        def on(self):
            monkeypatch.setattr(CsvCustomers, "min_split_bytes", 0)

        def off(self):
            monkeypatch.setattr(CsvCustomers, "min_split_bytes", 1 << 60)

    return Parts()


def _no_other_threads(wait: float = 5.0) -> None:
    import threading
    import time

    deadline = time.monotonic() + wait
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    assert not others, f"threads left running by earlier tests (a plan does not fork beside them): {others}"


def plan(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-c", str(config), "survey", "plan", "--now", NOW, *args])
    # The CLI's main() turns a TierctlError into its message and exit 2; invoke() keeps the exception.
    error = f"\nerror: {result.exception}" if result.exception is not None else ""
    return result.exit_code, result.stdout, result.stderr + error


def prepare_ledger(config: Path) -> None:
    """Some contacts surveyed recently (the throttle defers them), one opted out, per half."""
    runner = CliRunner()
    sent = runner.invoke(cli, ["-c", str(config), "survey", "send", "--now", "2026-12-20T08:00:00Z",
                               "--limit", "40"])
    assert sent.exit_code == 0, sent.output
    for email in ("c3@acc2.example", f"c4@acc{ACCOUNTS - 3}.example"):
        out = runner.invoke(cli, ["-c", str(config), "contacts", "optout", email])
        assert out.exit_code == 0, out.output


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_two_parts_print_what_one_pass_prints(big_project, parts, as_json):
    config = big_project(rows())
    parts.off()
    prepare_ledger(config)
    flag = ["--json"] if as_json else []
    one = plan(config, *flag)
    parts.on()
    two = plan(config, *flag)
    assert parts.fitted == [True], "the worker's half was used"
    assert one[0] == two[0] == 0
    assert two[1] == one[1]
    assert two[2] == one[2]
    # The file has what makes the halves interact: problems in both, held contacts, deferrals.
    assert one[2].count("skipped row: customers.csv:") >= 6
    if as_json:
        summary = json.loads(one[1].splitlines()[-1])
        assert summary["deferred"] > 0 and summary["due"] > 0
        assert {"churned account", "product-feedback: opted out", "pre-meeting: role not in audience"} \
            <= set(summary["skipped"])
        assert any('"survey": "pre-meeting"' in line for line in one[1].splitlines())


def test_a_meeting_linked_by_the_second_half_to_an_account_of_the_first_is_planned_as_in_one_pass(
        big_project, parts, monkeypatch):
    """The first half's held-back contacts are decided early, with the meetings the first half
    links; a contact of the second half that links another meeting to one of their accounts makes
    that early plan wrong: it is dropped and made again."""
    undone = []
    real_undo = plan_parts.EarlyHeld.undo
    monkeypatch.setattr(plan_parts.EarlyHeld, "undo", lambda self: undone.append(1) or real_undo(self))
    data = rows()
    data.append(["acc7", "Äccount 7", "enterprise", "active", "late@acc7.example", "Late", "user", "nl"])
    config = big_project(data, events=[ics_event("late", "20270106T150000", ["late@acc7.example"])])
    parts.off()
    one = plan(config, "--json")
    parts.on()
    two = plan(config, "--json")
    assert parts.fitted == [True] and undone == [1]
    assert two == one
    assert one[1].count('"contact": "c0@acc7.example"') == 3, "a line for each meeting, and the quarterly survey"
    # Without that contact the early plan stands.
    undone.clear()
    config = big_project(rows())
    assert plan(config, "--json") == (parts.off() or plan(config, "--json"))
    assert undone == []


def test_a_person_in_both_halves_is_a_duplicate_as_in_one_pass(big_project, parts):
    data = rows()
    data.append(["late", "Late", "starter", "active", "c1@acc3.example", "Again", "user", "en"])
    config = big_project(data)
    parts.off()
    one = plan(config, "--json")
    parts.on()
    two = plan(config, "--json")
    assert parts.fitted == [False], "the worker's half was dropped and read here"
    assert two == one
    assert "duplicate contact: c1@acc3.example is listed on line 18" in one[2]


def test_a_quoted_value_across_the_cut_reads_as_in_one_pass(big_project, parts, monkeypatch):
    data = rows()
    config = big_project(data)
    text = (config.parent / "customers.csv").read_bytes()
    # Put a value with line breaks right across the point the file is cut at.
    middle = int(len(text) * source_csv_split.HEAD_SHARE)
    start = text.rfind(b"\n", 0, middle - 200) + 1
    row = b'acc9999,"Long ' + b"x" * 600 + b'\nline\nname",starter,active,multi@line.example,M,user,en\r\n'
    path = config.parent / "customers.csv"
    path.write_bytes(text[:start] + row + text[start:])
    begin, _ = _line_break_after(path, int(path.stat().st_size * source_csv_split.HEAD_SHARE), path.stat().st_size)
    assert start < begin < start + len(row) - 2, "the cut falls inside the quoted value"
    parts.off()
    one = plan(config, "--json")
    parts.on()
    two = plan(config, "--json")
    assert parts.fitted == [False]
    assert two == one
    assert '"contact": "multi@line.example"' in one[1]


def test_an_unreadable_second_half_fails_as_one_pass_does(big_project, parts):
    config = big_project(rows())
    path = config.parent / "customers.csv"
    path.write_bytes(path.read_bytes() + b"zz,Bad \xff name,starter,active,z@z.example,Z,user,en\r\n")
    parts.off()
    one = plan(config, "--json")
    parts.on()
    two = plan(config, "--json")
    assert parts.worked == [None], "the worker failed; this process read the half and met the error"
    assert one[0] == two[0] != 0
    assert two[2] == one[2]
    assert "customers.csv:1510:8: byte 0xff is not utf-8-sig text" in one[2]


def test_the_worker_half_is_redacted_like_the_rest(big_project, parts, monkeypatch):
    secret = "s3cr3t-account-token"
    monkeypatch.setenv("OUTBOX_TOKEN", secret)
    data = rows()
    data.append([secret, "Leaky", "starter", "active", "leak@leaky.example", "L", "user", "en"])
    config = big_project(data)
    config.write_text(config.read_text().replace(
        'survey_url: "https://survey.example/{survey}?id={invite_id}"',
        'survey_url: "https://survey.example/{survey}?id={invite_id}&t=${OUTBOX_TOKEN}"'))
    parts.on()
    code, out, err = plan(config, "--json")
    assert code == 0, err
    assert parts.fitted == [True]
    assert secret not in out
    assert '"account_id": "***"' in out


def test_the_cut_counts_lines_as_the_csv_reader_does(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"h1,h2\r\n" + b"a,b\r\n" * 10 + b"c,d\n" * 10)
    begin, lines = _line_break_after(path, 60, path.stat().st_size)
    assert path.read_bytes()[begin - 1:begin] == b"\n"
    assert lines == path.read_bytes()[:begin].count(b"\n")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        for _ in reader:
            if reader.line_num == lines:
                break
        assert next(reader) == list(path.read_bytes()[begin:].split(b"\r\n")[0].split(b"\n")[0].decode().split(","))
    path.write_bytes(b"h1,h2\r" + b"a,b\r" * 40)  # old Mac line ends: not cut
    assert _line_break_after(path, 60, path.stat().st_size) is None
    path.write_bytes(b"h1,h2\n" + b"a,b" * 40)  # no line break after the middle
    assert _line_break_after(path, 60, path.stat().st_size) is None


def test_a_big_calendar_read_in_a_forked_worker_gives_what_one_process_reads(big_project, monkeypatch):
    from tierctl.plugins.source_ical import IcalMeetings

    config = big_project(rows())
    one = plan(config, "--json")
    monkeypatch.setattr(IcalMeetings, "worth_a_worker", property(lambda self: True))
    monkeypatch.setattr(forked, "usable_cores", lambda: 2)
    forks = []
    real_fork = os.fork

    def fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    two = plan(config, "--json")
    assert forks, "the calendar was read in a fork"
    assert two == one
    # A calendar the worker cannot read fails as in one process (the error is raised here).
    (config.parent / "meetings.ics").write_text("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:nonsense\r\n")
    monkeypatch.setattr(IcalMeetings, "worth_a_worker", property(lambda self: False))
    alone = plan(config, "--json")
    monkeypatch.setattr(IcalMeetings, "worth_a_worker", property(lambda self: True))
    in_fork = plan(config, "--json")
    assert in_fork[0] == alone[0]
    assert in_fork[2] == alone[2]


def test_deferred_lines_are_what_json_dumps_writes(big_project, host):
    """The JSON-lines writer builds deferrals from cached pieces: the same text as json.dumps."""
    from datetime import datetime, timezone

    from tierctl.config.loader import load_config
    from tierctl.surveys.plan_lines import IsoCache, JsonLines, item_dict
    from tierctl.surveys.scheduler import Deferral
    from tierctl.surveys.send_run import SurveyRun

    config = big_project(rows())
    items = list(SurveyRun(load_config(config, host), host, datetime(2027, 1, 5, 8, tzinfo=timezone.utc)).plan()[1])
    deferrals = [i for i in items if isinstance(i, Deferral)]
    assert deferrals, "a key stakeholder's quarterly survey waits behind the pre-meeting survey"
    iso = IsoCache()
    line = JsonLines(iso)
    for item in items:
        assert line(item) == json.dumps(item_dict(item, iso)) + "\n"


def test_an_unreadable_big_calendar_fails_a_plan_in_two_parts_as_one_pass(big_project, parts, monkeypatch):
    """Every contact's line first, then the calendar's error: also when the first half's
    held-back contacts would be decided early."""
    from tierctl.plugins.source_ical import IcalMeetings

    config = big_project(rows())
    (config.parent / "meetings.ics").write_text("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:nonsense\r\n")
    monkeypatch.setattr(IcalMeetings, "worth_a_worker", property(lambda self: True))
    parts.off()
    one = plan(config, "--json")
    parts.on()
    two = plan(config, "--json")
    assert parts.fitted == [True]
    assert one[0] == two[0] != 0
    assert two == one
    assert one[1].count("\n") > 1000, "the contacts' lines come before the error"


@pytest.mark.slow
def test_a_killed_plan_leaves_nothing_behind(big_project, tmp_path):
    """The worker's lines and result are anonymous files: a plan killed mid-way (cron's timeout,
    a reboot) leaves no temporary folder or file, and its worker does not live on."""
    import signal
    import subprocess
    import sys
    import time

    config = big_project(rows(accounts=40_000))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = ("import sys; from tierctl.plugins.source_csv import CsvCustomers; CsvCustomers.min_split_bytes = 0; "
            "from tierctl.cli import main; sys.argv[0] = 'tierctl'; main()")
    proc = subprocess.Popen([sys.executable, "-c", code, "-c", str(config), "survey", "plan", "--now", NOW, "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 30
    while not (children := _children(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the worker is under way
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert children, "the plan had forked its worker when it was killed"
    deadline = time.monotonic() + 20
    while any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in children):
        assert time.monotonic() < deadline, "the worker outlived its plan by 20 s"
        time.sleep(0.1)
    assert list(scratch.iterdir()) == []


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return found


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="the system sets no CPU affinity")
def test_a_process_held_to_one_core_plans_in_one_pass():
    """Two parts need a second core this process may use (a container's limit, taskset), not
    merely one in the machine."""
    import subprocess
    import sys

    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from tierctl.util.forked import can_fork, usable_cores; print(usable_cores(), can_fork())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "False"]


QUICK_EXIT = """\
import atexit, sys
from tierctl.plugins.source_csv import CsvCustomers
import tierctl.surveys.plan_parts as plan_parts

CsvCustomers.min_split_bytes = 0
real = plan_parts.write_plan


class Sentinel:
    def __del__(self):
        print("plan memory freed", file=sys.stderr)


def write_plan(*args):
    return real(*args), Sentinel()  # freed with what the plan held


plan_parts.write_plan = write_plan
atexit.register(lambda: print("atexit handler ran", file=sys.stderr))
from tierctl.cli import main
sys.argv[0] = "tierctl"
main()
"""


@pytest.mark.parametrize("as_json, into", [(True, "file"), (False, "pipe"), (True, "appended file")])
def test_the_console_script_leaves_a_plans_memory_to_the_system(big_project, as_json, into, tmp_path):
    """Freeing a big plan's objects one by one at exit took a tenth of the run: the console
    script ends the process once the output is flushed and the atexit handlers ran. The output
    (into a file or a pipe, the worker's part copied by the kernel, the summary last) is what an
    in-process run prints."""
    import subprocess
    import sys

    config = big_project(rows())
    flags = ["--json"] if as_json else []
    command = [sys.executable, "-c", QUICK_EXIT, "-c", str(config), "survey", "plan", "--now", NOW, *flags]
    if into != "pipe":  # cron's `>> plan.log` opens it to append: the kernel copy refuses that
        out_file = tmp_path / "plan.out"
        out_file.write_text("earlier\n" if into == "appended file" else "", encoding="utf-8")
        with out_file.open("ab" if into == "appended file" else "wb") as out:
            proc = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
        printed = out_file.read_text(encoding="utf-8").removeprefix("earlier\n" if into == "appended file" else "")
    else:
        proc = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=120)
        printed = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "atexit handler ran" in proc.stderr
    assert "plan memory freed" not in proc.stderr
    code, stdout, _ = plan(config, *flags)  # in-process: the process goes on, and frees as usual
    assert code == 0
    assert printed == stdout
    if as_json:
        assert json.loads(stdout.splitlines()[-1])["type"] == "summary"
    else:
        assert "bad rows skipped." in stdout and stdout.count("\ndue ") > 100
