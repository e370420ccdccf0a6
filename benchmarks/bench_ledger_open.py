"""Opening the ledger: the cheap check every command pays, on a ledger of 1,000,000 invitations.

Every open checks that the ledger is whole (its schema against the one the
migrations build, the first and last row of each table). Printed beside the
floor measured in the same run (a bare ``sqlite3.connect`` reading the
schema version) and beside the full check (``tierctl ledger check``,
SQLite's ``integrity_check``) and ``tierctl ledger backup``, which read
every page.

Target: the open with its check within 10 ms of the floor.

Run: ``.venv/bin/python benchmarks/bench_ledger_open.py [--invitations 1000000] [--runs 20]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table import print_table  # noqa: E402

from tierctl.storage.opener import backup_ledger, check_ledger, open_ledger  # noqa: E402

TARGET_S = 0.010


def build(folder: Path, n: int) -> str:
    """A ledger with ``n`` sent invitations and a response to every tenth; returns its URL."""
    url = f"sqlite:///{folder}/state.db"
    open_ledger(url, folder).close()
    con = sqlite3.connect(folder / "state.db", isolation_level=None)
    con.execute("BEGIN")
    con.execute("INSERT INTO runs (kind, pid, host, started_at, status) VALUES ('send', 1, 'h', "
                "'2027-01-01T00:00:00.000000+00:00', 'done')")
    ts = "2027-01-01T09:00:00.000000+00:00"
    con.executemany(
        "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, account_id, provider, state, "
        "throttled, due_at, closes_at, created_at, updated_at, sent_at, attempts, run_id, due_day) "
        "VALUES (?, 'nps', ?, '2027-Q1', 'basic', ?, 'mail', 'sent', 1, ?, ?, ?, ?, ?, 1, 1, '2027-01-01')",
        ((f"i{i:018d}", f"c{i}@example.com", f"a{i // 5}", ts, ts, ts, ts, ts) for i in range(n)))
    con.executemany("INSERT INTO responses (invitation, response_id, source, submitted_at, received_at) "
                    "VALUES (?, ?, 'import', ?, ?)", ((i + 1, f"import:{i}", ts, ts) for i in range(0, n, 10)))
    con.execute("COMMIT")
    con.close()
    return url


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invitations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        url = build(folder, args.invitations)
        size_mb = (folder / "state.db").stat().st_size / 1e6
        print(f"ledger: {args.invitations:,} invitations, {size_mb:.0f} MB, built in "
              f"{time.perf_counter() - start:.1f} s")

        def floor() -> None:
            con = sqlite3.connect(f"file:{folder / 'state.db'}?mode=ro", uri=True)
            con.execute("PRAGMA user_version").fetchone()
            con.close()

        def checked_open(read_only: bool) -> None:
            open_ledger(url, folder, read_only=read_only).close()

        floor_s = timed(floor, args.runs)
        ro_s = timed(lambda: checked_open(True), args.runs)
        rw_s = timed(lambda: checked_open(False), args.runs)
        full_s = timed(lambda: check_ledger(url, folder), 1)
        backup_s = timed(lambda: backup_ledger(url, folder, folder / "copy.db"), 1)
        worst = max(ro_s, rw_s) - floor_s
        print_table([
            ("floor: sqlite3.connect + user_version", f"{floor_s * 1000:.2f} ms", "peer/floor"),
            ("open read-only, with the check", f"{ro_s * 1000:.2f} ms", ""),
            ("open read-write, with the check", f"{rw_s * 1000:.2f} ms", ""),
            ("the check's cost over the floor", f"{worst * 1000:.2f} ms",
             f"target < {TARGET_S * 1000:.0f} ms: {'met' if worst < TARGET_S else 'MISSED'}"),
            ("ledger check (integrity_check, every page)", f"{full_s:.2f} s", "on demand"),
            ("ledger backup (online backup API)", f"{backup_s:.2f} s", "on demand"),
        ], header=("what", "median", "target"))


if __name__ == "__main__":
    main()
