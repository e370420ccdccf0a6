"""The PostgreSQL ledger's own machinery against a real server: migrations, newer schemas, URLs
and passwords in messages, leases that lapse when their holder is killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tierctl.errors import LockHeldError, TierctlError
from tierctl.storage import ledger_postgres, postgres_schema
from tierctl.storage.opener import open_ledger
from tierctl.testing.ledger_contract import NOW, invitation
from tierctl.testing.postgres import with_search_path
from tierctl.testing.sockets import unused_port

SPAWN = multiprocessing.get_context("spawn")


def schema_of(url: str) -> str:
    return url.rpartition("search_path%3D")[2]


def raw(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def test_a_fresh_schema_is_migrated_once_by_concurrent_openers(tierctl_postgres_url: str, tmp_path: Path):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_it() -> None:
        try:
            barrier.wait()
            open_ledger(tierctl_postgres_url, tmp_path).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with raw(tierctl_postgres_url) as conn:
        assert conn.execute("SELECT version FROM tierctl_schema").fetchall() == [(postgres_schema.SCHEMA_VERSION,)]


def test_an_older_schema_upgrades_on_open_keeping_its_rows(tierctl_postgres_url: str, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ledger_postgres, "SCHEMA_VERSION", 1)
    monkeypatch.setattr(ledger_postgres, "MIGRATIONS", postgres_schema.MIGRATIONS[:1])
    with open_ledger(tierctl_postgres_url, tmp_path) as old:
        # A row as version 1 kept it (today's claim writes columns added since; a deferral does not).
        old.record_deferred([invitation(1)], {}, NOW, "mail", {})
    with raw(tierctl_postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('helpdesk_ratings')").fetchone() == (None,)
    monkeypatch.undo()
    with open_ledger(tierctl_postgres_url, tmp_path) as new:
        assert new.schema_version() == postgres_schema.SCHEMA_VERSION
        assert new.status_counts() == {"nps": {"deferred": 1}}
        assert new.helpdesk_rating_counts() == []
        assert new.invitations()[0]["locale"] == ""  # added by a later step, empty for older rows


def test_a_schema_from_a_newer_tierctl_is_refused(tierctl_postgres_url: str, tmp_path: Path):
    open_ledger(tierctl_postgres_url, tmp_path).close()
    with raw(tierctl_postgres_url) as conn:
        conn.execute("UPDATE tierctl_schema SET version = 99")
    with pytest.raises(TierctlError, match=r"schema version 99, written by a newer tierctl; this tierctl knows "
                                           rf"versions up to {postgres_schema.SCHEMA_VERSION}\. Upgrade tierctl") as caught:
        open_ledger(tierctl_postgres_url, tmp_path)
    assert caught.value.exit_code == 2


def test_tables_of_something_else_are_not_taken_for_a_ledger(tierctl_postgres_url: str, tmp_path: Path):
    with raw(tierctl_postgres_url) as conn:
        conn.execute(f'CREATE TABLE "{schema_of(tierctl_postgres_url)}".invitations (x int)')
    with pytest.raises(TierctlError, match="no tierctl_schema version"):
        open_ledger(tierctl_postgres_url, tmp_path)


def test_a_failing_migration_step_changes_nothing(tierctl_postgres_url: str, tmp_path: Path, monkeypatch):
    broken = [postgres_schema.MIGRATIONS[0],
              ("a broken step", ("CREATE TABLE fine (x int)", "CREATE TABLE broken (x no_such_type)"))]
    monkeypatch.setattr(ledger_postgres, "MIGRATIONS", broken)
    with pytest.raises(TierctlError, match=r"to schema version 2 \(a broken step\) failed: .*no_such_type.*left at "
                                           r"version 1"):
        open_ledger(tierctl_postgres_url, tmp_path)
    with raw(tierctl_postgres_url) as conn:
        assert conn.execute("SELECT version FROM tierctl_schema").fetchone() == (1,)
        assert conn.execute("SELECT to_regclass('fine')").fetchone() == (None,)


def test_unreachable_servers_and_bad_urls_are_clear_errors_without_the_password(tmp_path: Path):
    url = f"postgresql://tierctl:s3cret-pass@127.0.0.1:{unused_port()}/tierctl"
    with pytest.raises(TierctlError) as caught:
        open_ledger(url, tmp_path)
    message = str(caught.value)
    assert message.startswith("storage.url: cannot connect to the ledger database postgresql://tierctl:***@127.0.0.1:")
    assert "s3cret-pass" not in message and caught.value.exit_code == 2
    with pytest.raises(TierctlError, match="lease_seconds='0' .*expected a number of seconds from 1 to 86400"):
        open_ledger("postgresql://tierctl@127.0.0.1/db?lease_seconds=0", tmp_path)


def test_the_password_can_come_from_the_environment(tierctl_postgres: str, tmp_path: Path, monkeypatch):
    # libpq reads PGPASSWORD; the trust-auth test server accepts any, so this checks it is passed through.
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    with raw(tierctl_postgres) as conn:
        conn.execute('CREATE SCHEMA IF NOT EXISTS "envpass"')
    with open_ledger(with_search_path(tierctl_postgres, "envpass"), tmp_path) as ledger:
        assert "from-the-environment" not in repr(ledger) and ledger.status_counts() == {}


def hold_lock_then_wait(url: str, folder: str, ready, release) -> None:
    """Take the send lock and claim a batch as a runner, then wait (to be killed)."""
    with open_ledger(url, Path(folder)) as ledger:
        with ledger.lock("send"):
            run = ledger.begin_run("send", NOW)
            ledger.claim_batch([invitation(n) for n in range(3)], run, NOW, "mail", {})
            ready.set()
            release.wait(60)


@pytest.mark.slow
def test_a_killed_holders_leases_lapse_and_its_batch_becomes_unknown(tierctl_postgres_url: str, tmp_path: Path):
    url = tierctl_postgres_url + "&lease_seconds=1"
    open_ledger(url, tmp_path).close()
    ready, release = SPAWN.Event(), SPAWN.Event()
    holder = SPAWN.Process(target=hold_lock_then_wait, args=(url, str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with open_ledger(url, tmp_path) as ledger:
            time.sleep(1.5)  # longer than the lease: the live holder's heartbeat keeps it
            with pytest.raises(LockHeldError, match=f"pid {holder.pid} on .*lapses 1 s after its holder stops"):
                with ledger.lock("send"):
                    pass
            assert ledger.mark_stale_sending(NOW) == []  # a live runner's batch is its own business
            os.kill(holder.pid, signal.SIGKILL)
            holder.join(10)
            time.sleep(1.5)
            with ledger.lock("send"):  # lapsed: free
                stale = ledger.mark_stale_sending(NOW)
            assert sorted(row["invite_id"] for row in stale) == [f"inv-nps-{n}-2026-Q1" for n in range(3)]
            assert ledger.status_counts() == {"nps": {"unknown": 3}}
            assert ledger.recent_runs()[0]["status"] == "interrupted"
    finally:
        # (Never set the event after the kill: Event.set waits for its sleepers, and a killed one never wakes.)
        if holder.is_alive():
            holder.kill()
            holder.join(10)


def test_the_cli_says_what_is_wrong_with_an_unreachable_database(project, tmp_path: Path):
    from project_fixtures import run_cli

    config = project([["acc0", "Account 0", "starter", "active", "p0@acc0.example", "P 0", "user", "en"]])
    port = unused_port()
    config.write_text(config.read_text() + f'storage: {{url: "postgresql://tierctl:pw-123456@127.0.0.1:{port}/x"}}\n')
    code, out, err = run_cli(["-c", str(config), "survey", "send", "--now", "2027-01-04T09:00:00Z"], None)
    assert code == 2 and "Traceback" not in err
    assert f"cannot connect to the ledger database postgresql://tierctl:***@127.0.0.1:{port}/x" in err
    assert "pw-123456" not in err + out


def test_commands_that_only_read_create_no_tables_in_an_empty_database(project, tierctl_postgres_url: str):
    """report, survey status/plan, contacts suppressions and ledger check on an empty database behave as
    on a missing SQLite file (report: exit 2 'nothing sent yet'; ledger check: exit 2 'there is no ledger
    at'; status, plan, suppressions: empty), and the database stays empty."""
    from project_fixtures import run_cli

    config = project([["acc0", "Account 0", "starter", "active", "p0@acc0.example", "P 0", "user", "en"]])
    config.write_text(config.read_text() + f'storage: {{url: "{tierctl_postgres_url}"}}\n')

    def tables() -> list:
        with raw(tierctl_postgres_url) as conn:
            return conn.execute("SELECT table_name FROM information_schema.tables "
                                "WHERE table_schema = %s", (schema_of(tierctl_postgres_url),)).fetchall()

    for args, code_wanted, said in [
            (["report", "--format", "json"], 2, "nothing sent yet"),
            (["survey", "status"], 0, "product-feedback"),
            (["survey", "plan", "--now", "2027-01-04T09:00:00Z"], 0, "due"),
            (["contacts", "suppressions"], 0, "0 suppression(s)"),
            (["ledger", "check"], 2, "there is no ledger at")]:
        code, out, err = run_cli(["-c", str(config), *args], None)
        assert code == code_wanted, (args, out, err)
        assert said in out + err and "Traceback" not in err
        assert tables() == [], args
    # Opening read-only from Python says so too, and still creates nothing.
    with pytest.raises(TierctlError, match="there is no ledger at"):
        open_ledger(tierctl_postgres_url, Path("."), read_only=True)
    assert tables() == []
    # A command that writes creates them.
    assert run_cli(["-c", str(config), "contacts", "optout", "p0@acc0.example"], None)[0] == 0
    assert tables() != []
