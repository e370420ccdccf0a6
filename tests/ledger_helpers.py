"""Invitations for ledger tests, and the code child processes run (importable under 'spawn')."""

from __future__ import annotations

import os
from pathlib import Path

from tierctl.storage.opener import open_ledger
from tierctl.testing.ledger_contract import NOW, invitation  # noqa: F401 (re-exported for the tests)

def db_url(folder: Path) -> str:
    return f"sqlite:///{Path(folder).resolve()}/state.db"


def claim_worker(folder: str, count: int, batch: int, reverse: bool, barrier, results) -> None:
    """Claim ``count`` keys in batches (optionally in reverse order) and report the claimed keys."""
    keys = list(range(count))
    if reverse:
        keys.reverse()
    # Each process makes its own invite ids, as two independent runs would.
    invitations = [invitation(n, invite_id=f"pid{os.getpid()}-{n}") for n in keys]
    with open_ledger(db_url(Path(folder)), Path(folder)) as ledger:
        run_id = ledger.begin_run("send", NOW)
        barrier.wait()
        claimed = []
        for start in range(0, len(invitations), batch):
            got = ledger.claim_batch(invitations[start:start + batch], run_id, NOW, "outbox", {"nps": True})
            claimed.extend((i.survey_id, i.contact_email, i.occasion, i.invite_id) for i in got)
    results.put((os.getpid(), claimed))


def open_worker(folder: str, barrier, results) -> None:
    """Open (and so create and migrate) the same fresh ledger as other processes at once."""
    barrier.wait()
    try:
        with open_ledger(db_url(Path(folder)), Path(folder)) as ledger:
            version = ledger.conn.execute("PRAGMA user_version").fetchone()[0]
        results.put(("ok", version))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def lock_holder(folder: str, name: str, claim: int, ready, release) -> None:
    """Take the named lock, claim ``claim`` invitations (left ``sending``), say so, and hold
    the lock until released (or killed)."""
    with open_ledger(db_url(Path(folder)), Path(folder)) as ledger:
        with ledger.lock(name):
            if claim:
                run_id = ledger.begin_run("send", NOW)
                ledger.claim_batch([invitation(n) for n in range(claim)], run_id, NOW, "outbox", {})
            ready.set()
            release.wait(60)
