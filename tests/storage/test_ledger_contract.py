"""The ledger contract (tierctl.testing.LedgerContract) against both built-in backends.

SQLite on a file per test; PostgreSQL on a real server started once per
session (``tierctl_postgres``), with an empty schema per test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tierctl.storage.ledger import Ledger
from tierctl.testing.ledger_contract import LedgerContract


class TestSqliteLedger(LedgerContract):
    @pytest.fixture
    def ledger_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path.resolve()}/state.db"


class TestPostgresLedger(LedgerContract):
    @pytest.fixture
    def ledger_url(self, tierctl_postgres_url: str) -> str:
        return tierctl_postgres_url

    def runs_died(self, ledger: Ledger) -> None:
        # As if their processes had been killed: nobody renews their leases, which have lapsed.
        ledger._heartbeat.runs.clear()  # type: ignore[attr-defined]
        ledger.conn.execute(  # type: ignore[attr-defined]
            "UPDATE runs SET lease_until = clock_timestamp() - interval '1 second' WHERE finished_at IS NULL")
