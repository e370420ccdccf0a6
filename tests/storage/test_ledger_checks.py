"""The SQLite ledger's checks on open, its full check and its backup (tierctl.storage.sqlite_checks)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ledger_helpers import NOW, db_url, invitation
from tierctl.errors import EXIT_CONFIG, LedgerDamagedError
from tierctl.storage import sqlite_schema
from tierctl.storage.opener import backup_ledger, check_ledger, open_ledger, storage_error
from tierctl.storage.sqlite_checks import expected_schema


def test_the_schema_constant_is_what_the_migrations_build():
    built = expected_schema(list(sqlite_schema.MIGRATIONS))  # a fresh list: worked out in memory
    assert built.version == sqlite_schema.SCHEMA.version == sqlite_schema.SCHEMA_VERSION
    assert built.tables == sqlite_schema.SCHEMA.tables
    assert built.indexes == sqlite_schema.SCHEMA.indexes
    assert built.rowid == sqlite_schema.SCHEMA.rowid


def test_a_new_ledger_is_created_whole_and_says_so(tmp_path: Path):
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        assert ledger.created is True
        assert ledger.location() == str(tmp_path / "state.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]  # no temporary file left behind
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        assert ledger.created is False
    con = sqlite3.connect(tmp_path / "state.db")
    assert con.execute("PRAGMA freelist_count").fetchone()[0] == 0


@pytest.mark.parametrize("content", [b"", b"\0" * 4096])
def test_an_existing_file_is_never_initialised(tmp_path: Path, content: bytes):
    (tmp_path / "state.db").write_bytes(content)
    with pytest.raises(LedgerDamagedError) as caught:
        open_ledger(db_url(tmp_path), tmp_path)
    assert str(tmp_path / "state.db") in str(caught.value) and "restore it from a backup" in str(caught.value)
    assert caught.value.exit_code == EXIT_CONFIG
    assert (tmp_path / "state.db").read_bytes() == content


def test_a_missing_table_is_found_on_open_read_only_or_not(tmp_path: Path):
    open_ledger(db_url(tmp_path), tmp_path).close()
    con = sqlite3.connect(tmp_path / "state.db")
    con.execute("DROP TABLE questions")
    con.commit()
    for read_only in (False, True):
        with pytest.raises(LedgerDamagedError, match="the ledger is damaged: .*the table 'questions' is missing"):
            open_ledger(db_url(tmp_path), tmp_path, read_only=read_only)
    problems = check_ledger(db_url(tmp_path), tmp_path)
    assert any("the table 'questions' is missing" in p for p in problems)


def test_a_sqlite_error_mid_use_becomes_the_damaged_message(tmp_path: Path):
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        ledger.conn.execute("DROP TABLE runs")
        with pytest.raises(LedgerDamagedError, match="the ledger is damaged: .*no such table: runs; restore"):
            ledger.recent_runs()
    assert storage_error(sqlite3.DatabaseError("database disk image is malformed")).exit_code == EXIT_CONFIG
    assert storage_error(sqlite3.OperationalError("database is locked")).exit_code == 3
    assert storage_error(sqlite3.IntegrityError("UNIQUE constraint failed")) is None
    assert storage_error(ValueError("x")) is None


def test_an_older_ledger_opened_read_only_is_upgraded_first(tmp_path: Path, monkeypatch):
    open_ledger(db_url(tmp_path), tmp_path).close()
    steps = [*sqlite_schema.MIGRATIONS, ("notes", ("CREATE TABLE notes (body TEXT)",))]
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", steps)
    with open_ledger(db_url(tmp_path), tmp_path, read_only=True) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == len(steps)


def test_backup_is_a_whole_copy(tmp_path: Path):
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        run = ledger.begin_run("send", NOW)
        ledger.claim_batch([invitation(i) for i in range(50)], run, NOW, "outbox", {"nps": True})
    written = backup_ledger(db_url(tmp_path), tmp_path, tmp_path / "copy.db")
    assert written == tmp_path / "copy.db"
    with open_ledger(f"sqlite:///{written}", tmp_path, read_only=True) as copy:
        assert len(copy.invitations()) == 50
        assert copy.check() == []


def test_opening_a_sqlite_ledger_reads_no_installed_metadata(tmp_path: Path, monkeypatch):
    """The check on every open must stay cheap: finding tierctl's own backend scans no entry points
    (that scan alone took ~15 ms, ten times the rest of the open)."""
    import importlib.metadata

    open_ledger(db_url(tmp_path), tmp_path).close()

    def no_scan(*args, **kwargs):
        raise AssertionError("entry points were scanned to open a sqlite ledger")

    monkeypatch.setattr(importlib.metadata, "entry_points", no_scan)
    open_ledger(db_url(tmp_path), tmp_path, read_only=True).close()
