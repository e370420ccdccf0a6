"""The ledger against real SQLite files (and real processes for locks and concurrent claims)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from ledger_helpers import NOW, claim_worker, db_url, invitation, lock_holder, open_worker
from tierctl.errors import EXIT_LOCKED, LockHeldError, TierctlError
from tierctl.storage import sqlite_responses, sqlite_schema
from tierctl.storage.ledger import Ledger
from tierctl.testing.ledger_contract import stored_response
from tierctl.storage.opener import DEFAULT_URL, ledger_exists, open_ledger
from tierctl.storage.ledger_sqlite import SqliteLedger
from tierctl.storage.sqlite_schema import APPLICATION_ID, SCHEMA_VERSION
from tierctl.records import StoredResponse

SPAWN = multiprocessing.get_context("spawn")
THROTTLED = {"nps": True, "onboarding": True, "ticket": False}


@pytest.fixture
def ledger(tmp_path: Path):
    with open_ledger(db_url(tmp_path), tmp_path) as opened:
        yield opened


def claim(ledger: Ledger, invitations, now=NOW, run_id=None, provider="outbox"):
    run_id = run_id or ledger.begin_run("send", now)
    return ledger.claim_batch(list(invitations), run_id, now, provider, THROTTLED)


def rows(ledger: Ledger, **filters) -> dict[str, dict]:
    return {row["invite_id"]: row for row in ledger.invitations(**filters)}


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# -- opening, URLs and migrations -----------------------------------------------------------


def test_default_url_is_relative_to_the_config_folder_and_kept_out_of_git(tmp_path: Path):
    with open_ledger(None, tmp_path) as ledger:
        assert isinstance(ledger, SqliteLedger)
        assert ledger.path == tmp_path / ".tierctl" / "state.db"
    assert DEFAULT_URL == "sqlite:///.tierctl/state.db"
    assert (tmp_path / ".tierctl" / "state.db").is_file()
    assert (tmp_path / ".tierctl" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_relative_and_absolute_sqlite_urls(tmp_path: Path):
    with open_ledger("sqlite:///var/deep/ledger.db", tmp_path) as ledger:
        assert ledger.path == tmp_path / "var" / "deep" / "ledger.db"
    elsewhere = tmp_path / "abs"
    elsewhere.mkdir()
    with open_ledger(f"sqlite:///{elsewhere}/x.db", Path("/nonexistent")) as ledger:
        assert ledger.path == elsewhere / "x.db"
    assert (elsewhere / "x.db").is_file()


def test_absolute_url_into_a_missing_folder_is_an_error_not_a_mkdir(tmp_path: Path):
    with pytest.raises(TierctlError, match=r"storage\.url: the folder .*missing.* does not exist"):
        open_ledger(f"sqlite:///{tmp_path}/missing/x.db", tmp_path)
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("url, says", [
    ("mysql://db.example/tierctl", "unsupported scheme 'mysql'"),
    ("oracle://db.example/tierctl", "installed backends: postgres, postgresql, sqlite"),
    (".tierctl/state.db", "not a URL"),
    ("sqlite://host/state.db", "three slashes"),
    ("sqlite:///", "must name a database file"),
])
def test_unsupported_urls_explain_what_is_supported(tmp_path: Path, url: str, says: str):
    with pytest.raises(TierctlError) as caught:
        open_ledger(url, tmp_path)
    message = str(caught.value)
    assert message.startswith("storage.url: ")
    assert says in message
    assert repr(url) in message
    assert "sqlite:///relative/path.db" in message and "sqlite:////absolute/path.db" in message
    assert "postgresql://user@host:5432/dbname" in message
    assert "Set storage.url" in message and DEFAULT_URL in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("url", [
    "mysql://bob:s3cretpw@db.example/tierctl",  # an unsupported scheme: the URL is shown, masked
    "postgresql://bob:s3cretpw@db.example:notaport/tierctl",  # urllib raised ValueError (a traceback)
    "postgresql://bob:s3cretpw@[::1/tierctl",
])
def test_a_malformed_or_unsupported_url_is_a_clear_error_that_never_shows_the_password(tmp_path: Path, url: str):
    for attempt in (lambda: open_ledger(url, tmp_path), lambda: ledger_exists(url, tmp_path)):
        with pytest.raises(TierctlError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith("storage.url: ") and caught.value.exit_code == 2
        assert "s3cretpw" not in message and "bob:***@" in message, message


def test_ledger_exists_answers_without_creating_anything(tmp_path: Path):
    assert ledger_exists(None, tmp_path) is False
    assert not (tmp_path / ".tierctl").exists()
    open_ledger(None, tmp_path).close()
    assert ledger_exists(None, tmp_path) is True
    assert ledger_exists(f"sqlite:///{tmp_path}/.tierctl/state.db", Path("/elsewhere")) is True
    with pytest.raises(TierctlError, match="storage.url: unsupported scheme 'mysql'"):
        ledger_exists("mysql://db/x", tmp_path)


def test_fresh_database_is_migrated_and_reopening_changes_nothing(tmp_path: Path):
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        claim(ledger, [invitation(1)])
    con = raw(tmp_path / "state.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"invitations", "runs", "cursors", "responses", "answers", "questions", "answer_day_counts",
            "response_day_counts"} <= tables
    schema_before = sorted(con.execute("SELECT type, name, sql FROM sqlite_master"))
    con.close()
    for _ in range(2):
        with open_ledger(db_url(tmp_path), tmp_path) as ledger:
            assert list(rows(ledger)) == ["inv-nps-1-2026-Q1"]
    con = raw(tmp_path / "state.db")
    assert sorted(con.execute("SELECT type, name, sql FROM sqlite_master")) == schema_before
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_wal_busy_timeout_and_foreign_keys(ledger: SqliteLedger):
    assert ledger.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    assert ledger.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # WAL is a property of the file: another connection sees it too.
    assert raw(ledger.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        ledger.claim_batch([invitation(1)], 999, NOW, "outbox", {})


def test_later_migration_steps_are_applied_once_each_in_order(tmp_path: Path, monkeypatch):
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        claim(ledger, [invitation(1)])
    steps = [*sqlite_schema.MIGRATIONS,
             ("notes", ("CREATE TABLE notes (note_id TEXT PRIMARY KEY, invite_id TEXT)",)),
             ("invitation channel", ("ALTER TABLE invitations ADD COLUMN channel TEXT",
                                     "UPDATE invitations SET channel = 'email'"))]
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", steps)
    for _ in range(2):
        with open_ledger(db_url(tmp_path), tmp_path) as ledger:
            assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 2
            assert ledger.conn.execute("SELECT invite_id, channel FROM invitations").fetchall() == \
                [("inv-nps-1-2026-Q1", "email")]


def test_a_failing_migration_step_changes_nothing(tmp_path: Path, monkeypatch):
    open_ledger(db_url(tmp_path), tmp_path).close()
    steps = [*sqlite_schema.MIGRATIONS,
             ("half-done", ("CREATE TABLE notes (note_id TEXT PRIMARY KEY)",
                            "ALTER TABLE no_such_table ADD COLUMN x TEXT"))]
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", steps)
    with pytest.raises(TierctlError, match=rf"to schema version {SCHEMA_VERSION + 1} \(half-done\) failed: "
                                           rf"no such table: no_such_table; the ledger was left at version "
                                           rf"{SCHEMA_VERSION}"):
        open_ledger(db_url(tmp_path), tmp_path)
    con = raw(tmp_path / "state.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchall() == []


def test_database_from_a_newer_tierctl_is_refused(tmp_path: Path):
    open_ledger(db_url(tmp_path), tmp_path).close()
    raw(tmp_path / "state.db").execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(TierctlError) as caught:
        open_ledger(db_url(tmp_path), tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "state.db") in message
    assert f"schema version {SCHEMA_VERSION + 1}, written by a newer tierctl" in message
    assert f"knows versions up to {SCHEMA_VERSION}" in message
    assert "Upgrade tierctl" in message


def test_files_that_are_not_tierctl_ledgers_are_refused(tmp_path: Path):
    other = tmp_path / "other.db"
    raw(other).execute("CREATE TABLE notes (body TEXT)")
    with pytest.raises(TierctlError, match="not a tierctl ledger"):
        open_ledger("sqlite:///other.db", tmp_path)
    assert raw(other).execute("PRAGMA user_version").fetchone()[0] == 0  # untouched
    (tmp_path / "text.db").write_text("hello, I am not a database at all\n" * 100)
    with pytest.raises(TierctlError, match="the ledger is damaged: .*text.db: SQLite: file is not a database; restore it"):
        open_ledger("sqlite:///text.db", tmp_path)


def test_several_processes_creating_the_same_ledger_at_once(tmp_path: Path):
    barrier, results = SPAWN.Barrier(4), SPAWN.Queue()
    workers = [SPAWN.Process(target=open_worker, args=(str(tmp_path), barrier, results)) for _ in range(4)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert outcomes == [("ok", SCHEMA_VERSION)] * 4


# -- claiming ---------------------------------------------------------------------------


# -- planning reads ---------------------------------------------------------------------


# -- dead runs ----------------------------------------------------------------------------


# -- runs, listings, cursors -------------------------------------------------------------


def test_a_closed_ledger_cannot_be_used(tmp_path: Path):
    ledger = open_ledger(db_url(tmp_path), tmp_path)
    ledger.close()
    ledger.close()
    with pytest.raises(RuntimeError, match="closed"):
        ledger.status_counts()


# -- several processes --------------------------------------------------------------------


def test_two_processes_claiming_the_same_keys_claim_each_exactly_once(tmp_path: Path):
    open_ledger(db_url(tmp_path), tmp_path).close()  # created up front; creation races have their own test
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    workers = [SPAWN.Process(target=claim_worker, args=(str(tmp_path), 200, 7, reverse, barrier, results))
               for reverse in (False, True)]
    for w in workers:
        w.start()
    outcomes = dict(results.get(timeout=120) for _ in workers)
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    claimed = [key for keys in outcomes.values() for key in keys]
    assert len(claimed) == 200
    assert {k[:3] for k in claimed} == {("nps", f"contact{n}@example.com", "2026-Q1") for n in range(200)}
    # What each process was told it may send is what the ledger holds, under that process's invite id.
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        assert {(r["survey_id"], r["contact_email"], r["occasion"], r["invite_id"])
                for r in ledger.invitations()} == set(claimed)
        assert ledger.status_counts() == {"nps": {"sending": 200}}


def test_the_lock_names_its_holder_in_another_process(tmp_path: Path):
    open_ledger(db_url(tmp_path), tmp_path).close()
    ready, release = SPAWN.Event(), SPAWN.Event()
    holder = SPAWN.Process(target=lock_holder, args=(str(tmp_path), "send", 0, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with open_ledger(db_url(tmp_path), tmp_path) as ledger:
            with pytest.raises(LockHeldError) as caught:
                with ledger.lock("send"):
                    pytest.fail("the lock was taken twice")
            message = str(caught.value)
            assert f"pid {holder.pid} on " in message and " since 20" in message
            assert "released automatically when that process ends" in message
            assert caught.value.exit_code == EXIT_LOCKED == 3
            with ledger.lock("pull"):  # another name is another lock
                pass
    finally:
        release.set()
        holder.join(timeout=60)
    assert holder.exitcode == 0
    with open_ledger(db_url(tmp_path), tmp_path) as ledger, ledger.lock("send"):
        pass


def test_a_killed_holder_leaves_the_lock_free_and_its_batch_unknown(tmp_path: Path):
    open_ledger(db_url(tmp_path), tmp_path).close()
    ready, release = SPAWN.Event(), SPAWN.Event()
    holder = SPAWN.Process(target=lock_holder, args=(str(tmp_path), "send", 3, ready, release))
    holder.start()
    assert ready.wait(60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(timeout=60)
    assert holder.exitcode == -signal.SIGKILL
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        started = time.monotonic()
        with ledger.lock("send"):
            assert time.monotonic() - started < 1
            stale = ledger.mark_stale_sending(NOW + timedelta(minutes=5))
        assert [s["invite_id"] for s in stale] == [f"inv-nps-{n}-2026-Q1" for n in range(3)]
        assert ledger.status_counts() == {"nps": {"unknown": 3}}


def test_the_lock_is_released_at_the_end_of_the_block(ledger: SqliteLedger):
    with ledger.lock():
        with pytest.raises(LockHeldError, match=f"pid {os.getpid()} "):
            with ledger.lock():  # flock is per open file: not re-entrant, even in one process
                pass
    with ledger.lock():
        pass
    with pytest.raises(ValueError, match="bad lock name"):
        with ledger.lock("../../etc/passwd"):
            pass
    assert ledger.lock_path("send") == ledger.path.with_name("state.db.send.lock")


# -- speed ----------------------------------------------------------------------------------


# -- responses (schema version 2) ----------------------------------------------------------------


def ids(responses: list[StoredResponse]) -> list[str]:
    return [r.response_id for r in responses]


@pytest.mark.parametrize("sql, params, probe", [
    (sqlite_responses._ANSWERABLE_SQL, ("nps",), "USING INDEX sqlite_autoindex_invitations_1 (invite_id=?)"),
    (sqlite_responses._CONTACTS_SQL, ("nps",), "USING INDEX sqlite_autoindex_invitations_2 (survey_id=? AND contact_email=?)"),
    (sqlite_responses._LOOKUP_SQL, (), "USING INDEX sqlite_autoindex_invitations_1 (invite_id=?)"),
    (sqlite_responses._FETCHED_SQL, (), "USING INDEX responses_fetched (response_id=?)"),
    (sqlite_responses._ANSWERS_OF_SQL, (), "SEARCH a USING PRIMARY KEY (invitation=?)"),
], ids=["answerable", "contacts", "lookup", "fetched", "answers"])
def test_lookups_by_many_keys_probe_the_index_of_their_key(ledger: Ledger, sql: str, params: tuple, probe: str):
    """Each statement run with an IN list of _IDS_PER_QUERY keys must look each key up in its index.
    With that many values SQLite may prefer an index on survey_id, which reads the whole survey for
    every query: a million-row import then never ends (it did, by contact_email)."""
    in_ = ", ".join("?" * sqlite_responses._IDS_PER_QUERY)
    plan = [row[3] for row in ledger.conn.execute(
        f"EXPLAIN QUERY PLAN {sql.format(in_=in_)}", (*params, *map(str, range(sqlite_responses._IDS_PER_QUERY))))]
    assert any(probe in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan


def test_add_responses_stores_values_with_their_sqlite_types_and_folds_the_rollup(ledger: Ledger):
    """The SQLite side of the contract's check (LedgerContract): what the rows hold, as SQLite sees it."""
    claim(ledger, [invitation(n) for n in range(4)])
    ledger.add_responses([stored_response("inv-nps-0-2026-Q1", 0), stored_response("inv-nps-1-2026-Q1", 1),
                          stored_response("inv-nps-2-2026-Q1", 2, answers={"score": 5})])
    con = raw(ledger.path)
    assert con.execute(
        "SELECT r.response_id, a.question_id, q.qtype, a.value, typeof(a.value) FROM answers AS a "
        "JOIN responses AS r ON r.invitation = a.invitation JOIN invitations AS i ON i.id = a.invitation "
        "JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id ORDER BY 1, 2"
    ).fetchall() == [("import:inv-nps-0-2026-Q1", "comment", "text", "=1+1", "text"),
                     ("import:inv-nps-0-2026-Q1", "score", "nps", 9, "integer"),
                     ("import:inv-nps-1-2026-Q1", "comment", "text", "=1+1", "text"),
                     ("import:inv-nps-1-2026-Q1", "score", "nps", 9, "integer"),
                     ("import:inv-nps-2-2026-Q1", "score", "nps", 5, "integer")]
    assert con.execute("SELECT r.submitted_at, r.received_at, r.source FROM responses AS r JOIN invitations AS i "
                       "ON i.id = r.invitation WHERE i.invite_id = ?", ("inv-nps-2-2026-Q1",)).fetchone() == \
        ("2026-03-04T09:00:00.000000+00:00", "2026-04-01T09:00:00.000000+00:00", "import")
    # The metrics rollup counted exactly what was stored.
    assert con.execute("SELECT responses FROM response_day_counts").fetchall() == [(3,)]
    assert con.execute("SELECT score, n FROM answer_day_counts WHERE question_id = 'score' ORDER BY 1").fetchall() \
        == [(5.0, 1), (9.0, 2)]
    with pytest.raises(ValueError, match="no invitation 'no-such-invitation' in the ledger"):
        ledger.add_responses([stored_response("no-such-invitation", 9)])
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):  # the schema refuses it too
        ledger.add_responses([stored_response("inv-nps-3-2026-Q1", 3)._replace(invitation=10_000)])


def test_a_version_1_ledger_upgrades_keeping_its_invitations(tmp_path: Path, monkeypatch):
    # A ledger as tierctl with only the first migration left it.
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:1])
    with open_ledger(db_url(tmp_path), tmp_path) as old:
        assert old.conn.execute("PRAGMA user_version").fetchone()[0] == 1
        run = old.begin_run("send", NOW)
        old.conn.execute(
            "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, account_id, provider, "
            "state, throttled, due_at, closes_at, created_at, updated_at, sent_at, attempts, run_id) VALUES "
            "('old-1', 'nps', 'a@example.com', '2026-Q1', 'basic', 'acct-1', 'mail', 'sent', 1, "
            "'2025-12-31T23:00:00.000000+00:00', '2026-03-31T22:00:00.000000+00:00', ?, ?, ?, 1, ?)",
            (NOW.isoformat(), NOW.isoformat(), NOW.isoformat(), run))
    monkeypatch.undo()
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        [row] = ledger.invitations()
        assert (row["invite_id"], row["state"], row["due_day"]) == ("old-1", "sent", "2025-12-31")  # UTC day
        assert ledger.recent_runs()[0]["id"] == 1
        assert ledger.add_responses([stored_response("old-1", 1)])[0].invite_id == "old-1"
        indexes = {r[0] for r in ledger.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"responses_fetched", "invitations_account", "invitations_group"} <= indexes


def test_a_version_3_ledger_upgrades_keeping_responses_answers_and_rollup(tmp_path: Path, monkeypatch):
    from tierctl.storage.metrics_sqlite import SqliteMetrics

    # A ledger as tierctl 3 left it: text keys, facts copied into responses, a type per answer.
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:3])
    with open_ledger(db_url(tmp_path), tmp_path) as old:
        at = NOW.isoformat(timespec="microseconds")
        old.conn.execute("BEGIN IMMEDIATE")
        # Sent invitations as version 3 stored them (today's claim writes columns added since).
        old.conn.executemany(
            "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, account_id, provider, "
            "state, throttled, due_at, closes_at, created_at, updated_at, claimed_at, sent_at, attempts, due_day) "
            "VALUES (?, 'nps', ?, '2026-Q1', 'advanced', ?, 'outbox', 'sent', 1, ?, ?, ?, ?, ?, ?, 1, ?)",
            [(f"inv-nps-{n}-2026-Q1", f"contact{n}@example.com", f"acct-{n}", at,
              (NOW + timedelta(days=30)).isoformat(timespec="microseconds"), at, at, at, at, at[:10])
             for n in range(3)])
        for n, answers in ((0, [("score", "nps", 9.0, None), ("plan", "choice", None, "Pro"),
                                ("comment", "text", None, "Faster exports")]),
                           (2, [("score", "nps", 3.0, None), ("comment", "text", None, "")])):
            response_id = f"import:inv-nps-{n}-2026-Q1"
            old.conn.execute(
                "INSERT INTO responses (response_id, invite_id, survey_id, tier, account_id, contact_email, "
                "occasion, due_day, submitted_at, source, received_at) VALUES (?, ?, 'nps', 'advanced', ?, ?, "
                "'2026-Q1', ?, ?, 'import', ?)",
                (response_id, f"inv-nps-{n}-2026-Q1", f"acct-{n}", f"contact{n}@example.com", at[:10], at, at))
            old.conn.executemany("INSERT INTO answers (response_id, question_id, qtype, score, text) "
                                 "VALUES (?, ?, ?, ?, ?)", [(response_id, *a) for a in answers])
        for statement in sqlite_schema.MIGRATIONS[2][1][2:]:  # version 3's own backfill of the rollup
            old.conn.execute(statement)
        old.conn.execute("COMMIT")
    monkeypatch.undo()
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        assert [r["invite_id"] for r in ledger.invitations(state="sent")] == sorted(
            f"inv-nps-{n}-2026-Q1" for n in range(3))
        [first] = ledger.responses_for_account("acct-0")
        assert first["response_id"] == "import:inv-nps-0-2026-Q1" and first["submitted_at"] == NOW
        assert first["answers"] == {"comment": {"qtype": "text", "score": None, "text": "Faster exports"},
                                    "plan": {"qtype": "choice", "score": None, "text": "Pro"},
                                    "score": {"qtype": "nps", "score": 9, "text": None}}
        [third] = ledger.responses_for_account("acct-2")
        assert third["answers"]["comment"]["text"] == ""  # kept as it was; not counted as an answer
        rolled, raw = SqliteMetrics(ledger.conn), SqliteMetrics(ledger.conn, use_rollup=False)
        assert rolled.rollup_in_step()
        counts = list(rolled.answer_counts("quarter", None, None))
        assert counts == list(raw.answer_counts("quarter", None, None))
        assert sorted((c[3], c[-1]) for c in counts) == [("comment", 1), ("plan", 1), ("score", 1), ("score", 1)]
        # New responses go on from here, and the rollup stays in step.
        ledger.add_responses([stored_response("inv-nps-1-2026-Q1", 1)])
        assert SqliteMetrics(ledger.conn).rollup_in_step()

