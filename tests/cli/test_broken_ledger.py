"""A ledger that is emptied, foreign, missing a table, damaged or read-only, through every command.

A ledger taken for a new one makes `survey send` survey everyone again, so every
command refuses such a file with exit 2, the path and what to do, and never a
traceback; a new ledger is announced; `ledger check` and `ledger backup` work.
"""

from __future__ import annotations

import ctypes
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from project_fixtures import ics_event
from project_fixtures import run_cli as _run_cli

NOW = "2027-01-02T09:00:00+00:00"
RESPONSES = "invite_id,submitted_at,nps\n"


def run_cli(args: list[str]) -> tuple[int, str, str]:
    return _run_cli(args, load_plugins=None)  # every installed plugin: csv, ical, outbox


def customers(n: int = 40) -> list[list[str]]:
    return [[f"acc{i // 4}", f"Account {i // 4}", "enterprise" if i % 2 else "starter", "active",
             f"p{i}@acc{i // 4}.example", f"P {i}", "key-stakeholder", "en"] for i in range(n)]


@pytest.fixture
def sent(project) -> Path:
    """A project whose ledger holds a send run; returns the config path."""
    config = project(customers(), [ics_event("m1", "20270104T100000", ["p1@acc0.example"])])
    code, out, err = run_cli(["-c", str(config), "survey", "send", "--now", NOW])
    assert code == 0, err
    return config


def commands(config: Path) -> dict[str, list[str]]:
    """Every command that opens the ledger, as a user runs it."""
    (config.parent / "responses.csv").write_text(RESPONSES, encoding="utf-8")
    c = ["-c", str(config)]
    return {
        "status": [*c, "survey", "status"],
        "send": [*c, "survey", "send", "--now", NOW],
        "plan": [*c, "survey", "plan", "--now", NOW],
        "report": [*c, "report"],
        "brief": [*c, "survey", "brief", "acc0", "--now", NOW],
        "import": [*c, "survey", "import", str(config.parent / "responses.csv"), "--survey", "product-feedback"],
        "collect": [*c, "survey", "collect"],
        "validate": [*c, "validate"],
    }


def db(config: Path) -> Path:
    return config.parent / ".tierctl" / "state.db"


def assert_refused(config: Path, *needles: str, names: list[str] | None = None) -> None:
    before = db(config).read_bytes()
    for name, args in commands(config).items():
        if names is not None and name not in names:
            continue
        code, out, err = run_cli(args)
        assert code == 2, (name, code, out, err)
        assert "Traceback" not in err, (name, err)
        for needle in needles:
            assert needle in err, (name, needle, err)
    assert db(config).read_bytes() == before  # nothing was written into it


def test_a_new_ledger_is_announced(project) -> None:
    config = project(customers(4))
    code, out, err = run_cli(["-c", str(config), "survey", "send", "--now", NOW])
    assert code == 0, err
    assert f"new ledger at {db(config)}" in err
    code, out, err = run_cli(["-c", str(config), "survey", "send", "--now", NOW])
    assert "new ledger" not in err


def test_an_emptied_ledger_is_never_taken_for_a_new_one(sent: Path) -> None:
    db(sent).write_bytes(b"")
    for leftover in db(sent).parent.glob("state.db-*"):
        leftover.unlink()
    assert_refused(sent, str(db(sent)), "empty file (0 bytes)", "restore it from a backup")
    assert db(sent).stat().st_size == 0


def test_a_database_of_another_program_is_never_initialised(sent: Path) -> None:
    db(sent).unlink()
    other = sqlite3.connect(db(sent))
    other.execute("PRAGMA journal_mode = WAL")
    other.close()  # an empty SQLite database, not made by tierctl
    assert_refused(sent, str(db(sent)), "not a tierctl ledger")


@pytest.mark.parametrize("table", ["invitations", "runs", "responses", "answers", "questions",
                                   "response_day_counts"])
def test_a_missing_table_stops_every_command_with_exit_2(sent: Path, table: str) -> None:
    con = sqlite3.connect(db(sent))
    con.execute(f"DROP TABLE {table}")
    con.commit()
    con.close()
    assert_refused(sent, "the ledger is damaged", f"the table {table!r} is missing", "restore it from a backup")


def test_a_missing_column_or_index_is_damage_too(sent: Path) -> None:
    con = sqlite3.connect(db(sent))
    con.execute("DROP INDEX invitations_state")
    con.commit()
    con.close()
    assert_refused(sent, "the index 'invitations_state'", names=["status", "report"])


@pytest.mark.slow
def test_random_bytes_over_any_page_are_exit_2_or_unnoticed_never_a_traceback(sent: Path) -> None:
    path = db(sent)
    pristine = path.read_bytes()
    page = 4096
    pages = len(pristine) // page
    assert pages >= 10
    rnd = random.Random(7)
    args = commands(sent)
    damaged_found = 0
    for n in range(pages):
        data = bytearray(pristine)
        data[n * page:(n + 1) * page] = rnd.randbytes(page)
        path.write_bytes(bytes(data))
        for name in ("status", "report", "plan"):
            code, out, err = run_cli(args[name])
            assert code in (0, 2), (n, name, err)
            assert "Traceback" not in err, (n, name, err)
            if code == 2:
                assert "restore it from a backup" in err or "not a tierctl ledger" in err, (n, name, err)
        code, out, err = run_cli(["-c", str(sent), "ledger", "check"])
        assert code == 2, (n, out, err)  # the full check finds every damaged page
        assert "restore it from a backup" in err
        damaged_found += 1
    assert damaged_found == pages


def test_ledger_check_says_whole_and_backup_copies_a_whole_ledger(sent: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(["-c", str(sent), "ledger", "check"])
    assert (code, out) == (0, "the ledger is whole: every page and every table checked.\n"), err
    dest = tmp_path / "backups"
    dest.mkdir()
    code, out, err = run_cli(["-c", str(sent), "ledger", "backup", str(dest)])
    assert code == 0, err
    copies = list(dest.glob("state-*.db"))
    assert len(copies) == 1 and f"ledger backed up to {copies[0]}" in out
    original = sqlite3.connect(db(sent))
    copy = sqlite3.connect(copies[0])
    query = "SELECT invite_id, state FROM invitations ORDER BY id"
    assert copy.execute(query).fetchall() == original.execute(query).fetchall() != []
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # A damaged ledger is restored by copying the backup over it.
    db(sent).write_bytes(b"")
    assert run_cli(["-c", str(sent), "survey", "status"])[0] == 2
    db(sent).write_bytes(copies[0].read_bytes())
    assert run_cli(["-c", str(sent), "survey", "status"])[0] == 0
    code, out, err = run_cli(["-c", str(sent), "ledger", "backup", str(tmp_path / "no" / "such" / "x.db")])
    assert code == 2 and "does not exist" in err


def test_backup_while_a_writer_holds_a_transaction_is_consistent(sent: Path, tmp_path: Path) -> None:
    writer = sqlite3.connect(db(sent), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE invitations SET reason = 'in flight'")
    code, out, err = run_cli(["-c", str(sent), "ledger", "backup", str(tmp_path / "copy.db")])
    writer.execute("COMMIT")
    writer.close()
    assert code == 0, err
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT COUNT(*) FROM invitations WHERE reason = 'in flight'").fetchone()[0] == 0


def test_ledger_check_on_a_missing_ledger_says_so(project) -> None:
    config = project(customers(2))
    code, out, err = run_cli(["-c", str(config), "ledger", "check"])
    assert code == 2 and "there is no ledger at" in err


def test_listing_suppressions_creates_no_ledger(project) -> None:
    config = project(customers(2))
    code, out, err = run_cli(["-c", str(config), "contacts", "suppressions"])
    assert code == 0 and "0 suppression(s)" in out
    assert not db(config).exists()


@pytest.mark.slow
def test_read_only_commands_work_on_a_read_only_ledger(sent: Path) -> None:
    """status, report, brief and plan open the ledger read-only: a ledger file in a folder this
    user cannot write still serves them, and send says what is wrong instead of a traceback."""
    if os.geteuid() == 0:
        try:
            subprocess.run(["true"], preexec_fn=_drop_override_rights, check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"running as root without CAP_SETPCAP: file permissions cannot be made to apply ({exc})")
    os.chmod(db(sent), 0o444)
    os.chmod(db(sent).parent, 0o555)
    try:
        args = commands(sent)
        for name in ("status", "report", "brief", "plan"):
            proc = _run_without_write_rights(args[name])
            assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
        proc = _run_without_write_rights(args["send"])
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "writable" in proc.stderr
    finally:
        os.chmod(db(sent).parent, 0o755)
        os.chmod(db(sent), 0o644)


def _run_without_write_rights(args: list[str]) -> subprocess.CompletedProcess:
    """tierctl in a child process that file permissions apply to, even when the tests run as root
    (as in CI): root's rights to override them are dropped from the child's capability set."""
    return subprocess.run([sys.executable, "-m", "tierctl", *args], capture_output=True, text=True, timeout=60,
                          preexec_fn=_drop_override_rights if os.geteuid() == 0 else None)


def _drop_override_rights() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
