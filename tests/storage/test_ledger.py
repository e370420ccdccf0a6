"""The ledger against real SQLite files (and real processes for locks and concurrent claims)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ledger_helpers import NOW, claim_worker, db_url, invitation, lock_holder, open_worker
from tierctl.errors import EXIT_LOCKED, LockHeldError, TierctlError
from tierctl.storage import ledger_sqlite
from tierctl.storage.ledger import Ledger
from tierctl.storage.opener import DEFAULT_URL, ledger_exists, open_ledger
from tierctl.storage.ledger_sqlite import APPLICATION_ID, SCHEMA_VERSION, SqliteLedger
from tierctl.records import SendResult
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
    ("postgresql://db.example/tierctl", "postgresql backend is planned"),
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
    assert "postgresql is planned" in message
    assert "Set storage.url" in message and DEFAULT_URL in message
    assert caught.value.exit_code == 2


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
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
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
    steps = [*ledger_sqlite.MIGRATIONS,
             ("notes", ("CREATE TABLE notes (note_id TEXT PRIMARY KEY, invite_id TEXT)",)),
             ("invitation channel", ("ALTER TABLE invitations ADD COLUMN channel TEXT",
                                     "UPDATE invitations SET channel = 'email'"))]
    monkeypatch.setattr(ledger_sqlite, "MIGRATIONS", steps)
    for _ in range(2):
        with open_ledger(db_url(tmp_path), tmp_path) as ledger:
            assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 2
            assert ledger.conn.execute("SELECT invite_id, channel FROM invitations").fetchall() == \
                [("inv-nps-1-2026-Q1", "email")]


def test_a_failing_migration_step_changes_nothing(tmp_path: Path, monkeypatch):
    open_ledger(db_url(tmp_path), tmp_path).close()
    steps = [*ledger_sqlite.MIGRATIONS,
             ("half-done", ("CREATE TABLE notes (note_id TEXT PRIMARY KEY)",
                            "ALTER TABLE no_such_table ADD COLUMN x TEXT"))]
    monkeypatch.setattr(ledger_sqlite, "MIGRATIONS", steps)
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


def test_naive_datetimes_are_a_programming_error(ledger: Ledger):
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.begin_run("send", NOW.replace(tzinfo=None))


# -- claiming ---------------------------------------------------------------------------


def test_claim_inserts_sending_rows_and_a_key_is_claimed_only_once(ledger: Ledger):
    first = claim(ledger, [invitation(1), invitation(2)])
    assert [i.invite_id for i in first] == ["inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"]
    row = rows(ledger)["inv-nps-1-2026-Q1"]
    assert row["state"] == "sending" and row["attempts"] == 1 and row["provider"] == "outbox"
    assert row["created_at"] == row["claimed_at"] == row["updated_at"] == NOW
    assert row["sent_at"] is None and row["throttled"] is True
    # Same key, new invite id (a second run plans again): nothing to send.
    assert claim(ledger, [invitation(1, invite_id="another-id")]) == []
    # A key repeated within one batch is claimed once; other occasions and surveys are other keys.
    again = claim(ledger, [invitation(3), invitation(3, invite_id="dup"), invitation(1, occasion="2026-Q2"),
                           invitation(1, survey="ticket")])
    assert [i.invite_id for i in again] == ["inv-nps-3-2026-Q1", "inv-nps-1-2026-Q2", "inv-ticket-1-2026-Q1"]
    assert rows(ledger)["inv-ticket-1-2026-Q1"]["throttled"] is False
    assert len(rows(ledger)) == 5
    assert claim(ledger, []) == []


def test_deferred_and_retry_rows_are_taken_over_with_their_invite_id(ledger: Ledger):
    ledger.record_deferred([invitation(1)], {"inv-nps-1-2026-Q1": "surveyed 3 days ago"}, NOW, "outbox", THROTTLED)
    run = ledger.begin_run("send", NOW)
    ledger.claim_batch([invitation(2)], run, NOW, "outbox", THROTTLED)
    ledger.record_results([SendResult.failed("inv-nps-2-2026-Q1", "451 try later", retry=True)], NOW)

    later = NOW + timedelta(days=5)
    run2 = ledger.begin_run("send", later)
    fresh = [invitation(1, invite_id="new-1", closes_at=later + timedelta(days=9)), invitation(2, invite_id="new-2")]
    claimed = ledger.claim_batch(fresh, run2, later, "mail", THROTTLED)
    assert [i.invite_id for i in claimed] == ["inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"]
    assert claimed[0] == replace(fresh[0], invite_id="inv-nps-1-2026-Q1")  # everything else as planned now
    stored = rows(ledger)
    assert set(stored) == {"inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"}
    one, two = stored["inv-nps-1-2026-Q1"], stored["inv-nps-2-2026-Q1"]
    assert (one["state"], one["attempts"], one["run_id"], one["provider"]) == ("sending", 1, run2, "mail")
    assert (two["state"], two["attempts"], two["run_id"]) == ("sending", 2, run2)
    assert one["claimed_at"] == later and one["created_at"] == NOW
    assert one["closes_at"] == later + timedelta(days=9)
    assert one["reason"] is None and two["reason"] is None
    # Taken over once: a third claim gets nothing.
    assert ledger.claim_batch(fresh, run2, later, "mail", THROTTLED) == []


@pytest.mark.parametrize("outcome", ["sending", "sent", "failed", "unknown"])
def test_rows_that_may_have_gone_out_are_never_claimed_again(ledger: Ledger, outcome: str):
    claim(ledger, [invitation(1)])
    if outcome == "sent":
        ledger.record_results([SendResult.sent("inv-nps-1-2026-Q1")], NOW)
    elif outcome == "failed":
        ledger.record_results([SendResult.failed("inv-nps-1-2026-Q1", "550 no such user")], NOW)
    elif outcome == "unknown":
        ledger.mark_stale_sending(NOW)
    assert rows(ledger)["inv-nps-1-2026-Q1"]["state"] == outcome
    assert claim(ledger, [invitation(1, invite_id="x")], now=NOW + timedelta(days=1)) == []
    assert rows(ledger)["inv-nps-1-2026-Q1"]["state"] == outcome
    assert rows(ledger)["inv-nps-1-2026-Q1"]["attempts"] == 1


def test_record_results_state_transitions(ledger: Ledger):
    claim(ledger, [invitation(n) for n in range(4)])
    later = NOW + timedelta(minutes=1)
    changed = ledger.record_results([
        SendResult.sent("inv-nps-0-2026-Q1", "platform-0"),
        SendResult.sent("inv-nps-1-2026-Q1"),
        SendResult.failed("inv-nps-2-2026-Q1", "429 too many requests", retry=True),
        SendResult.failed("inv-nps-3-2026-Q1", "bounced", retry=False),
        SendResult.sent("no-such-invitation"),
    ], later)
    assert changed == 4
    stored = rows(ledger)
    assert [stored[f"inv-nps-{n}-2026-Q1"]["state"] for n in range(4)] == ["sent", "sent", "retry", "failed"]
    assert stored["inv-nps-0-2026-Q1"]["sent_at"] == later
    assert stored["inv-nps-0-2026-Q1"]["external_id"] == "platform-0"
    assert stored["inv-nps-1-2026-Q1"]["external_id"] is None
    assert stored["inv-nps-2-2026-Q1"]["reason"] == "429 too many requests"
    assert stored["inv-nps-2-2026-Q1"]["sent_at"] is None
    assert stored["inv-nps-3-2026-Q1"]["reason"] == "bounced"
    assert stored["inv-nps-3-2026-Q1"]["updated_at"] == later
    # Only 'sending' rows change: a late or repeated result cannot undo an outcome.
    assert ledger.record_results([SendResult.failed("inv-nps-0-2026-Q1", "late failure"),
                                  SendResult.sent("inv-nps-3-2026-Q1")], later) == 0
    assert rows(ledger)["inv-nps-0-2026-Q1"]["state"] == "sent"
    assert rows(ledger)["inv-nps-3-2026-Q1"]["state"] == "failed"
    assert ledger.record_results([], later) == 0


def test_record_deferred_stores_new_keys_updates_deferred_and_leaves_others(ledger: Ledger):
    claim(ledger, [invitation(1)])  # sending
    ledger.record_deferred([invitation(1, invite_id="d1"), invitation(2, invite_id="d2")],
                           {"d1": "throttled", "d2": "surveyed 2026-02-20"}, NOW, "outbox", THROTTLED)
    stored = rows(ledger)
    assert stored["inv-nps-1-2026-Q1"]["state"] == "sending" and stored["inv-nps-1-2026-Q1"]["reason"] is None
    assert "d1" not in stored
    assert (stored["d2"]["state"], stored["d2"]["reason"], stored["d2"]["attempts"]) == \
        ("deferred", "surveyed 2026-02-20", 0)
    assert stored["d2"]["claimed_at"] is None
    later = NOW + timedelta(days=1)
    ledger.record_deferred([invitation(2, invite_id="d2-again")], {}, later, "outbox", THROTTLED)
    stored = rows(ledger)
    assert "d2-again" not in stored
    assert (stored["d2"]["reason"], stored["d2"]["updated_at"], stored["d2"]["created_at"]) == \
        ("deferred", later, NOW)
    ledger.record_deferred([], {}, later, "outbox", THROTTLED)


# -- planning reads ---------------------------------------------------------------------


def test_known_keys_are_the_open_occasions_with_their_state(ledger: Ledger):
    closes = NOW + timedelta(days=1)
    claim(ledger, [invitation(1, closes_at=closes), invitation(2, closes_at=NOW - timedelta(seconds=1)),
                   invitation(3, closes_at=closes)])
    ledger.record_results([SendResult.sent("inv-nps-1-2026-Q1")], NOW)
    ledger.record_deferred([invitation(4, closes_at=closes)], {}, NOW, "outbox", THROTTLED)
    assert ledger.known_keys(NOW) == {
        ("nps", "contact1@example.com", "2026-Q1"): "sent",
        ("nps", "contact3@example.com", "2026-Q1"): "sending",
        ("nps", "contact4@example.com", "2026-Q1"): "deferred",
    }
    assert set(ledger.known_keys(closes)) == set(ledger.known_keys(NOW))  # closes_at itself is still open
    assert ledger.known_keys(closes + timedelta(microseconds=1)) == {}
    assert len(ledger.known_keys(NOW - timedelta(days=1))) == 4


def test_last_surveyed_counts_throttled_sends_that_may_have_gone_out(ledger: Ledger):
    t0 = NOW - timedelta(days=40)
    t1 = NOW - timedelta(days=10)
    t2 = NOW - timedelta(days=2)
    # a@: sent long ago and recently (the latest wins); b@: sent but before the window.
    claim(ledger, [invitation("a1", email="a@x.com", occasion="old"), invitation("b", email="b@x.com")], now=t0)
    ledger.record_results([SendResult.sent("inv-nps-a1-old"), SendResult.sent("inv-nps-b-2026-Q1")], t0)
    claim(ledger, [invitation("a2", email="a@x.com", survey="onboarding")], now=t1)
    ledger.record_results([SendResult.sent("inv-onboarding-a2-2026-Q1")], t1 + timedelta(minutes=1))
    # c@ is still sending, d@ unknown: both may have been surveyed, from when they were claimed.
    claim(ledger, [invitation("c", email="c@x.com"), invitation("d", email="d@x.com")], now=t2)
    ledger.mark_stale_sending(t2 + timedelta(hours=1))
    claim(ledger, [invitation("c", email="c@x.com", occasion="other")], now=t2)
    # Not counted: an exempt survey (ticket), failures, retries, deferrals.
    claim(ledger, [invitation("e", email="e@x.com", survey="ticket"), invitation("f", email="f@x.com"),
                   invitation("g", email="g@x.com")], now=t2)
    ledger.record_results([SendResult.sent("inv-ticket-e-2026-Q1"), SendResult.failed("inv-nps-f-2026-Q1", "bounced"),
                           SendResult.failed("inv-nps-g-2026-Q1", "timeout", retry=True)], t2)
    ledger.record_deferred([invitation("h", email="h@x.com")], {}, t2, "outbox", THROTTLED)

    since = NOW - timedelta(days=30)
    assert ledger.last_surveyed(since) == {
        "a@x.com": t1 + timedelta(minutes=1),
        "c@x.com": t2,
        "d@x.com": t2,
    }
    assert all(v.tzinfo is not None for v in ledger.last_surveyed(since).values())
    assert set(ledger.last_surveyed(t0)) == {"a@x.com", "b@x.com", "c@x.com", "d@x.com"}  # `since` is inclusive
    assert set(ledger.last_surveyed(t2 + timedelta(microseconds=1))) == set()


def test_a_deferral_sent_later_throttles_from_when_it_was_claimed(ledger: Ledger):
    ledger.record_deferred([invitation(1)], {}, NOW - timedelta(days=20), "outbox", THROTTLED)
    claim(ledger, [invitation(1)], now=NOW)
    assert ledger.last_surveyed(NOW - timedelta(days=1)) == {"contact1@example.com": NOW}


# -- dead runs ----------------------------------------------------------------------------


def test_stale_sending_becomes_unknown_and_can_be_requeued(ledger: Ledger):
    dead_run = ledger.begin_run("send", NOW)
    ledger.claim_batch([invitation(1), invitation(2)], dead_run, NOW, "outbox", THROTTLED)
    ledger.record_results([SendResult.sent("inv-nps-2-2026-Q1")], NOW)
    later = NOW + timedelta(hours=1)
    stale = ledger.mark_stale_sending(later)
    assert stale == [{"invite_id": "inv-nps-1-2026-Q1", "survey_id": "nps", "contact_email": "contact1@example.com",
                      "occasion": "2026-Q1", "run_id": dead_run}]
    row = rows(ledger)["inv-nps-1-2026-Q1"]
    assert (row["state"], row["updated_at"]) == ("unknown", later)
    assert "may or may not have gone out" in row["reason"]
    assert ledger.recent_runs()[0]["status"] == "interrupted"
    assert ledger.mark_stale_sending(later) == []
    assert ledger.requeue_unknown(later) == 1
    assert rows(ledger)["inv-nps-1-2026-Q1"]["state"] == "retry"
    assert ledger.requeue_unknown(later) == 0
    again = claim(ledger, [invitation(1, invite_id="new")], now=later)
    assert [i.invite_id for i in again] == ["inv-nps-1-2026-Q1"]
    assert rows(ledger)["inv-nps-1-2026-Q1"]["attempts"] == 2


# -- runs, listings, cursors -------------------------------------------------------------


def test_runs_are_recorded_newest_first(ledger: Ledger):
    first = ledger.begin_run("send", NOW)
    second = ledger.begin_run("pull", NOW + timedelta(minutes=5))
    ledger.finish_run(first, NOW + timedelta(minutes=1), "ok", {"sent": 3, "failed": 0})
    runs = ledger.recent_runs()
    assert [r["id"] for r in runs] == [second, first]
    assert runs[0]["status"] == "running" and runs[0]["finished_at"] is None and runs[0]["counts"] == {}
    assert runs[1] == {"id": first, "kind": "send", "pid": os.getpid(), "host": runs[1]["host"],
                       "started_at": NOW, "finished_at": NOW + timedelta(minutes=1), "status": "ok",
                       "counts": {"failed": 0, "sent": 3}}
    assert len(ledger.recent_runs(limit=1)) == 1
    with pytest.raises(ValueError, match="no run 999"):
        ledger.finish_run(999, NOW, "ok", {})


def test_status_counts_and_listings(ledger: Ledger):
    claim(ledger, [invitation(n) for n in range(3)] + [invitation(9, survey="onboarding")])
    ledger.record_results([SendResult.sent("inv-nps-0-2026-Q1")], NOW + timedelta(minutes=1))
    ledger.record_results([SendResult.failed("inv-nps-1-2026-Q1", "bounced")], NOW + timedelta(minutes=2))
    assert ledger.status_counts() == {"nps": {"sending": 1, "sent": 1, "failed": 1},
                                      "onboarding": {"sending": 1}}
    listed = ledger.invitations()
    assert [r["invite_id"] for r in listed[:2]] == ["inv-nps-1-2026-Q1", "inv-nps-0-2026-Q1"]  # latest first
    assert [r["invite_id"] for r in ledger.invitations(state="sending", survey_id="nps")] == ["inv-nps-2-2026-Q1"]
    assert len(ledger.invitations(limit=2)) == 2
    assert ledger.invitations(survey_id="nope") == []
    with pytest.raises(ValueError, match="unknown state 'lost'"):
        ledger.invitations(state="lost")


def test_pull_cursors(ledger: Ledger):
    assert ledger.get_cursor("typeform", "nps") is None
    ledger.set_cursor("typeform", "nps", "page-2", NOW)
    ledger.set_cursor("typeform", "nps", "page-3", NOW)
    ledger.set_cursor("typeform", "onboarding", "a", NOW)
    assert ledger.get_cursor("typeform", "nps") == "page-3"
    assert ledger.get_cursor("qualtrics", "nps") is None


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


def test_claiming_and_recording_20000_invitations_in_batches_of_100(ledger: Ledger):
    import secrets

    invitations = [invitation(n, invite_id=secrets.token_urlsafe(12), email=f"{secrets.token_hex(6)}@example.com")
                   for n in range(20_000)]
    run = ledger.begin_run("send", NOW)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(invitations), 100):
        claimed = ledger.claim_batch(invitations[start:start + 100], run, NOW, "outbox", THROTTLED)
        ledger.record_results([SendResult.sent(i.invite_id) for i in claimed], NOW)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    # Printed, not asserted (shared machines vary); expected well under 2 s.
    print(f"\nclaim_batch + record_results, 20,000 invitations in batches of 100: "
          f"{took:.2f} s ({cpu:.2f} s CPU)")
    assert ledger.status_counts() == {"nps": {"sent": 20_000}}


# -- responses (schema version 2) ----------------------------------------------------------------


def stored_response(invite_id: str, n: int = 1, *, response_id: str | None = None, survey: str = "nps",
                    answers: dict | None = None) -> StoredResponse:
    """A response as built by hand: without its invitation's key (the ledger looks it up)."""
    return StoredResponse(
        response_id or f"import:{invite_id}", invite_id, survey, "advanced", "2026-01-01", NOW + timedelta(days=n),
        "import", answers if answers is not None else {"score": 9, "comment": "=1+1"}, NOW + timedelta(days=30),
        {"score": "nps", "comment": "text"})


def ids(responses: list[StoredResponse]) -> list[str]:
    return [r.response_id for r in responses]


def test_claims_and_deferrals_store_the_local_due_day(ledger: Ledger):
    claim(ledger, [replace(invitation(1), due_day="2026-03-03"), invitation(2)])  # 2: no due_day given
    ledger.record_deferred([replace(invitation(3), due_day="2026-03-04")], {}, NOW, "outbox", THROTTLED)
    stored = rows(ledger)
    assert stored["inv-nps-1-2026-Q1"]["due_day"] == "2026-03-03"
    assert stored["inv-nps-2-2026-Q1"]["due_day"] == NOW.date().isoformat()  # the UTC day, as migrated rows
    assert stored["inv-nps-3-2026-Q1"]["due_day"] == "2026-03-04"
    run = ledger.begin_run("send", NOW)
    ledger.claim_batch([replace(invitation(3, invite_id="x"), due_day="2026-03-05")], run, NOW, "outbox", THROTTLED)
    assert rows(ledger)["inv-nps-3-2026-Q1"]["due_day"] == "2026-03-05"  # taken over with today's plan


def test_lookups_for_linking_responses(ledger: Ledger):
    claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(3)]
          + [invitation(0, occasion="2026-Q2", closes_at=NOW + timedelta(days=90))])
    ledger.record_results([SendResult.sent(f"inv-nps-{n}-2026-Q1") for n in (0, 1)]
                          + [SendResult.sent("inv-nps-0-2026-Q2")], NOW)
    found = ledger.lookup_invitations(["inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1", "nope", "inv-nps-1-2026-Q1"])
    assert set(found) == {"inv-nps-1-2026-Q1", "inv-nps-2-2026-Q1"}
    link = found["inv-nps-1-2026-Q1"]
    assert link._asdict() == {
        "key": link.key, "invite_id": "inv-nps-1-2026-Q1", "survey_id": "nps",
        "contact_email": "contact1@example.com", "occasion": "2026-Q1", "tier": "advanced", "account_id": "acct-1",
        "state": "sent", "due_day": "2026-03-02", "due_at": "2026-03-02T09:00:00.000000+00:00"}
    assert isinstance(link.key, int) and link.key != found["inv-nps-2-2026-Q1"].key
    assert found["inv-nps-2-2026-Q1"].state == "sending"
    # By e-mail: only sent invitations of that survey, in due order.
    by_email = ledger.invitations_for_contacts("nps", ["contact0@example.com", "contact2@example.com", "x@y.z"])
    assert list(by_email) == ["contact0@example.com"]
    q1, q2 = by_email["contact0@example.com"]
    assert (q1.invite_id, q2.invite_id) == ("inv-nps-0-2026-Q1", "inv-nps-0-2026-Q2")
    link = ledger.lookup_invitations([q1.invite_id])[q1.invite_id]
    assert q1._asdict() == {"key": link.key, "invite_id": link.invite_id, "tier": link.tier,
                            "due_day": link.due_day, "due_at": link.due_at}
    assert ledger.invitations_for_contacts("other", ["contact0@example.com"]) == {}
    big = [f"id-{n}" for n in range(25_000)] + ["inv-nps-0-2026-Q1"]  # more than one query's worth
    assert list(ledger.lookup_invitations(big)) == ["inv-nps-0-2026-Q1"]


def test_answerable_invitations_are_the_handed_out_ones_of_the_survey(ledger: Ledger):
    claim(ledger, [replace(invitation(n), due_day="2026-03-02") for n in range(2)]
          + [invitation(3, survey="ticket")])
    ledger.record_deferred([invitation(4)], {}, NOW, "outbox", THROTTLED)
    ledger.record_results([SendResult.sent("inv-nps-0-2026-Q1")], NOW)
    asked = ["inv-nps-0-2026-Q1", "inv-nps-1-2026-Q1", "inv-ticket-3-2026-Q1", "inv-nps-4-2026-Q1", "nope",
             "inv-nps-0-2026-Q1"]
    refs = ledger.answerable_invitations("nps", asked)
    links = ledger.lookup_invitations(asked)
    # Sent or still sending: answerable. Another survey's, deferred (never sent) or unknown: absent.
    assert refs == {i: (links[i].key, i, "advanced", "2026-03-02", links[i].due_at)
                       for i in ("inv-nps-0-2026-Q1", "inv-nps-1-2026-Q1")}
    assert (refs["inv-nps-0-2026-Q1"].tier, refs["inv-nps-0-2026-Q1"].due_day) == ("advanced", "2026-03-02")
    # The interface's own answer (from lookup_invitations, for other backends) is the same.
    assert Ledger.answerable_invitations(ledger, "nps", asked) == refs


@pytest.mark.parametrize("sql, params, probe", [
    (ledger_sqlite._ANSWERABLE_SQL, ("nps",), "USING INDEX sqlite_autoindex_invitations_1 (invite_id=?)"),
    (ledger_sqlite._CONTACTS_SQL, ("nps",), "USING INDEX sqlite_autoindex_invitations_2 (survey_id=? AND contact_email=?)"),
    (ledger_sqlite._LOOKUP_SQL, (), "USING INDEX sqlite_autoindex_invitations_1 (invite_id=?)"),
    (ledger_sqlite._FETCHED_SQL, (), "USING INDEX responses_fetched (response_id=?)"),
    (ledger_sqlite._ANSWERS_OF_SQL, (), "SEARCH a USING PRIMARY KEY (invitation=?)"),
], ids=["answerable", "contacts", "lookup", "fetched", "answers"])
def test_lookups_by_many_keys_probe_the_index_of_their_key(ledger: Ledger, sql: str, params: tuple, probe: str):
    """Each statement run with an IN list of _IDS_PER_QUERY keys must look each key up in its index.
    With that many values SQLite may prefer an index on survey_id, which reads the whole survey for
    every query: a million-row import then never ends (it did, by contact_email)."""
    in_ = ", ".join("?" * ledger_sqlite._IDS_PER_QUERY)
    plan = [row[3] for row in ledger.conn.execute(
        f"EXPLAIN QUERY PLAN {sql.format(in_=in_)}", (*params, *map(str, range(ledger_sqlite._IDS_PER_QUERY))))]
    assert any(probe in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan


def test_add_responses_keeps_the_first_response_per_invitation(ledger: Ledger):
    claim(ledger, [invitation(n) for n in range(4)])
    first = [stored_response("inv-nps-0-2026-Q1", 0), stored_response("inv-nps-1-2026-Q1", 1),
             stored_response("inv-nps-1-2026-Q1", 1, response_id="typeform:abc")]  # a second answer to 1
    added = ledger.add_responses(first)
    assert ids(added) == ids(first[:2])
    links = ledger.lookup_invitations(["inv-nps-0-2026-Q1", "inv-nps-1-2026-Q1"])
    assert [r.invitation for r in added] == [links["inv-nps-0-2026-Q1"].key, links["inv-nps-1-2026-Q1"].key]
    again = [stored_response("inv-nps-0-2026-Q1", 0, answers={"score": 0}),     # the same response id
             stored_response("inv-nps-1-2026-Q1", 1, response_id="typeform:x"),  # another id, answered invitation
             stored_response("inv-nps-2-2026-Q1", 2, answers={"score": 5})]
    assert ids(ledger.add_responses(again)) == ids(again[2:])
    assert ledger.add_responses(again) == []
    assert ledger.add_responses([]) == []
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


def test_responses_for_an_account(ledger: Ledger):
    # The ticket survey went to the same contact of account 1 (the response's account is the invitation's).
    claim(ledger, [invitation(1), replace(invitation(2, survey="ticket", email="contact1@example.com"),
                                          account_id="acct-1")])
    ledger.add_responses([stored_response("inv-ticket-2-2026-Q1", 2, survey="ticket"),
                          stored_response("inv-nps-1-2026-Q1", 1)])
    found = ledger.responses_for_account("acct-1")
    assert [r["response_id"] for r in found] == ["import:inv-nps-1-2026-Q1", "import:inv-ticket-2-2026-Q1"]
    assert found[0]["submitted_at"] == NOW + timedelta(days=1)
    assert found[0]["answers"] == {"score": {"qtype": "nps", "score": 9, "text": None},
                                   "comment": {"qtype": "text", "score": None, "text": "=1+1"}}
    assert found[0]["invite_id"] == "inv-nps-1-2026-Q1" and found[0]["source"] == "import"
    assert [r["survey_id"] for r in ledger.responses_for_account("acct-1", "ticket")] == ["ticket"]
    assert ledger.responses_for_account("acct-9") == []
    assert ledger.account_ids() == {"acct-1"}
    assert [r["invite_id"] for r in ledger.invitations_for_account("acct-1", ["nps"])] == ["inv-nps-1-2026-Q1"]
    assert ledger.invitations_for_account("acct-1", []) == []


def test_a_version_1_ledger_upgrades_keeping_its_invitations(tmp_path: Path, monkeypatch):
    # A ledger as tierctl with only the first migration left it.
    monkeypatch.setattr(ledger_sqlite, "MIGRATIONS", ledger_sqlite.MIGRATIONS[:1])
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
    monkeypatch.setattr(ledger_sqlite, "MIGRATIONS", ledger_sqlite.MIGRATIONS[:3])
    with open_ledger(db_url(tmp_path), tmp_path) as old:
        claim(old, [invitation(n) for n in range(3)])
        old.record_results([SendResult.sent(f"inv-nps-{n}-2026-Q1") for n in range(3)], NOW)
        at = NOW.isoformat(timespec="microseconds")
        old.conn.execute("BEGIN IMMEDIATE")
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
        for statement in ledger_sqlite.MIGRATIONS[2][1][2:]:  # version 3's own backfill of the rollup
            old.conn.execute(statement)
        old.conn.execute("COMMIT")
    monkeypatch.undo()
    with open_ledger(db_url(tmp_path), tmp_path) as ledger:
        assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
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


def test_a_question_whose_type_changed_is_refused(ledger: Ledger):
    claim(ledger, [invitation(n) for n in range(2)])
    ledger.add_responses([stored_response("inv-nps-0-2026-Q1", 0)])
    changed = stored_response("inv-nps-1-2026-Q1", 1)._replace(question_types={"score": "rating", "comment": "text"})
    with pytest.raises(TierctlError, match=r"surveys\.nps\.questions: question 'score' is now of type 'rating', "
                                           r"but the ledger holds answers to it as type 'nps'.*new id"):
        ledger.add_responses([changed])
    assert len(ledger.responses_for_account("acct-1")) == 0  # nothing of the batch was stored
