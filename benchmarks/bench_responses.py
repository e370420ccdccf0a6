"""Response benchmarks (issue: responses, metrics, report), printed as a table.

1. ``tierctl survey import`` of 1,000,000 responses from CSV (target < 20 s).
   Setup, not timed: the 1,000,000 matching ``sent`` invitations are written
   straight into a fresh ledger with ``executemany``, and the CSV is
   generated (``invite_id, submitted_at, nps, satisfaction, effort, next``).
   Then the same file again, as a daily cumulative export would be: nothing
   is added.
2. ``tierctl report --format json`` over those 1,000,000 responses, 3 tiers,
   8 quarters (3 scored questions each, free text on a third), read through
   the ledger's per-day metrics rollup (``tierctl.storage.metrics_sqlite``): wall
   time and peak memory of the CLI subprocess
   (``resource.getrusage(RUSAGE_CHILDREN)`` in a fresh parent per run, so
   each figure is that run's own); targets < 3 s and < 500 MiB. Then the
   HTML report, free text included.
3. pandas, as the peer to beat, on the same data: one SQL query loads
   ``(survey, tier, due_day, question, type, score)`` per answer into a
   DataFrame, then the same group-by (period from the due day; count per
   survey, tier, period, question, type and score). The group-by alone, and
   load + group-by. pandas is only for this row:
   ``.venv/bin/pip install pandas``; the row is skipped without it.
4. The same import keyed by ``contact_email`` instead of ``invite_id`` (the
   way in for tools that cannot carry the invite id), into a copy of the
   ledger as the setup left it.

Run: ``.venv/bin/python benchmarks/bench_responses.py [--responses N] [--keep DIR]``.
Needs about 3 GB of disk in the temporary folder for 1,000,000 responses.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table import print_table  # benchmarks/table.py: run as scripts, this folder is on sys.path

from tierctl.surveys.send_run import invite_id_at

TIERCTL = [sys.executable, "-m", "tierctl"]
TIERS = ["basic", "standard", "advanced"]
QUARTERS = [(year, q) for year in (2025, 2026) for q in (1, 2, 3, 4)]
IDEAS = ["Scheduled exports to SharePoint", "A Dutch version of the dashboard labels",
         "SAML single sign-on with group mapping, please.", "Faster CSV downloads", "Dark mode"]

CONFIG = """\
version: 1
organization: {name: Bench, timezone: Europe/Amsterdam}
tiers:
  basic: {name: Basic, touch_model: tech-touch, plans: [free], surveys: [product-feedback]}
  standard: {name: Standard, touch_model: low-touch, plans: [team], surveys: [product-feedback]}
  advanced: {name: Advanced, touch_model: high-touch, plans: [enterprise], surveys: [product-feedback]}
surveys:
  product-feedback:
    title: Quarterly product feedback
    questions:
      - {id: nps, type: nps, text: How likely are you to recommend us?}
      - {id: satisfaction, type: csat, text: How satisfied are you?}
      - {id: effort, type: ces, text: It is easy to get my work done.}
      - {id: next, type: text, text: What should we build next?}
benchmarks:
  - {metric: csat, value: 92.5, source: Benchmark over 45000 companies, year: 2018}
  - {metric: nps, value: 36, source: Published median}
storage: {url: "sqlite:///state.db"}
"""


def generate(folder: Path, n: int, seed: int = 1) -> None:
    """The config, the ledger with ``n`` sent invitations (due over 8 quarters, 3 tiers), and responses.csv."""
    from tierctl.storage.opener import open_ledger

    (folder / "tierctl.yaml").write_text(CONFIG, encoding="utf-8")
    open_ledger("sqlite:///state.db", folder).close()  # created and migrated by tierctl itself
    rnd = random.Random(seed)
    start_ms = 1_750_000_000_000
    conn = sqlite3.connect(folder / "state.db", isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    batch: list[tuple] = []
    with (folder / "responses.csv").open("w", newline="", encoding="utf-8") as fh, \
            (folder / "responses_by_email.csv").open("w", newline="", encoding="utf-8") as by_email_fh:
        out, by_email = csv.writer(fh), csv.writer(by_email_fh)
        out.writerow(["invite_id", "submitted_at", "nps", "satisfaction", "effort", "next"])
        by_email.writerow(["contact_email", "submitted_at", "nps", "satisfaction", "effort", "next"])
        for i in range(n):
            tier = TIERS[i % 3]
            year, q = QUARTERS[(i // 3) % len(QUARTERS)]
            day = f"{year}-{3 * q - 2 + rnd.randrange(3):02d}-{1 + rnd.randrange(28):02d}"
            due = f"{day}T07:00:00.000000+00:00"
            invite_id = invite_id_at(start_ms + i // 50, rnd.getrandbits(72))  # like new_invite_id(), 50 a ms
            batch.append((invite_id, "product-feedback", f"c{i}@a{i // 10}.example", f"{year}-Q{q}", tier,
                          f"a{i // 10}", "mail", "sent", 1, due, due, due, due, due, due, 1, day))
            lift = i % 3
            answers = [f"{day}T15:30:00Z", min(10, rnd.randrange(11) + lift), min(5, rnd.randrange(1, 6) + lift // 2),
                       rnd.randrange(1, 8), rnd.choice(IDEAS) if rnd.random() < 0.3 else ""]
            out.writerow([invite_id, *answers])
            by_email.writerow([f"c{i}@a{i // 10}.example", *answers])
            if len(batch) == 50_000:
                _insert(conn, batch)
                batch = []
    _insert(conn, batch)
    conn.execute("COMMIT")
    conn.close()


def _insert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, account_id, provider, state, "
        "throttled, due_at, closes_at, created_at, updated_at, claimed_at, sent_at, attempts, due_day) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


MEASURE = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[2:], cwd=sys.argv[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall": wall, "peak_mib": peak, "code": proc.returncode, "stdout_bytes": len(proc.stdout),
                  "stdout_head": proc.stdout[:2000].decode("utf-8", "replace"),
                  "stderr": proc.stderr.decode("utf-8", "replace")[-2000:]}))
"""


def measure(folder: Path, *args: str) -> dict:
    """Run the CLI in a fresh parent process, so its RUSAGE_CHILDREN peak is this run's alone."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(folder), *TIERCTL, "-c", "tierctl.yaml", *args],
                          stdout=subprocess.PIPE, check=True)
    return json.loads(proc.stdout)


def pandas_groupby(folder: Path) -> tuple[float, float, int] | None:
    """(group-by seconds, load + group-by seconds, groups), or None without pandas."""
    try:
        import pandas as pd
    except ImportError:
        return None
    conn = sqlite3.connect(folder / "state.db")
    start = time.perf_counter()
    df = pd.read_sql_query(
        "SELECT i.survey_id, i.tier, i.due_day, a.question_id, q.qtype, a.value AS score FROM answers AS a "
        "JOIN invitations AS i ON i.id = a.invitation "
        "JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id "
        "WHERE q.qtype <> 'text'", conn)
    loaded = time.perf_counter()
    month = df["due_day"].str.slice(5, 7).astype(int)
    df["period"] = df["due_day"].str.slice(0, 4) + "-Q" + ((month + 2) // 3).astype(str)
    counts = df.groupby(["survey_id", "tier", "period", "question_id", "qtype", "score"], sort=False).size()
    done = time.perf_counter()
    conn.close()
    return done - loaded, done - start, len(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="Work in DIR and keep it (default: a temporary folder).")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tierctl-bench-responses-"))
    folder.mkdir(parents=True, exist_ok=True)
    n = args.responses
    rows: list[tuple[str, str, str, str]] = []
    try:
        print(f"setting up {n:,} sent invitations and {n:,} CSV rows in {folder} ...", flush=True)
        start = time.perf_counter()
        generate(folder, n)
        shutil.copyfile(folder / "state.db", folder / "state.setup.db")  # for the import by e-mail
        # The setup leaves ~1 GB of written pages for the kernel to flush; without this,
        # the import's own writes queue behind them and the setup's I/O is timed as the import's.
        os.sync()
        print(f"  setup took {time.perf_counter() - start:.1f} s", flush=True)

        imp = measure(folder, "survey", "import", "responses.csv", "--survey", "product-feedback")
        if imp["code"] != 0:
            print(imp["stderr"], file=sys.stderr)
            raise SystemExit(f"survey import failed with exit code {imp['code']}")
        stored = sqlite3.connect(folder / "state.db").execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        answers = sqlite3.connect(folder / "state.db").execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        rows.append((f"survey import, {n:,} responses from CSV", f"{imp['wall']:.1f} s",
                     f"{imp['peak_mib']:.0f} MiB", f"< 20 s; {stored:,} responses, {answers:,} answers stored"))

        # A daily export is often cumulative: importing it again must add nothing, quickly.
        again = measure(folder, "survey", "import", "responses.csv", "--survey", "product-feedback")
        _check_code(again)
        if f"0 added, {n} duplicates" not in again["stdout_head"]:
            raise SystemExit("importing the file again added something: " + again["stdout_head"][-500:])
        rows.append(("the same file again (all duplicates)", f"{again['wall']:.1f} s", f"{again['peak_mib']:.0f} MiB",
                     "adds nothing"))

        # The import keeps the ledger's metrics rollup (migration 3) up to date,
        # so the report reads counts per survey, tier and day, not every answer.
        fast = [measure(folder, "report", "--format", "json") for _ in range(3)]
        for run in fast:
            _check_report(run, n)
            if "not in the metrics rollup" in run["stderr"]:
                raise SystemExit("the rollup was out of step: " + run["stderr"])
        best = min(fast, key=lambda r: r["wall"])
        rows.append(("report --format json, 3 tiers, 8 quarters", f"{best['wall']:.2f} s",
                     f"{max(r['peak_mib'] for r in fast):.0f} MiB", "< 3 s, < 500 MiB (best of 3)"))
        html = measure(folder, "report", "--format", "html")
        _check_code(html)
        rows.append(("report --format html (+ free text)", f"{html['wall']:.2f} s", f"{html['peak_mib']:.0f} MiB",
                     f"{html['stdout_bytes'] / 1024:.0f} KiB page"))

        peer = pandas_groupby(folder)
        if peer is None:
            rows.append(("pandas group-by", "skipped", "", "pandas is not installed: pip install pandas"))
        else:
            group_s, total_s, groups = peer
            rows.append(("pandas: the same group-by, in memory", f"{group_s:.2f} s", "", f"{groups:,} groups"))
            rows.append(("pandas: one SQL load + the group-by", f"{total_s:.2f} s", "", ""))

        os.replace(folder / "state.setup.db", folder / "state.db")
        for journal in ("state.db-wal", "state.db-shm"):
            (folder / journal).unlink(missing_ok=True)
        os.sync()
        imp = measure(folder, "survey", "import", "responses_by_email.csv", "--survey", "product-feedback")
        _check_code(imp)
        if f"{n} added" not in imp["stdout_head"]:
            raise SystemExit("the import by e-mail did not add every row: " + imp["stdout_head"][-500:])
        rows.append((f"survey import by contact_email, {n:,} rows", f"{imp['wall']:.1f} s",
                     f"{imp['peak_mib']:.0f} MiB", "< 20 s"))
    finally:
        print()
        print_table(rows)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def _check_code(run: dict) -> None:
    if run["code"] != 0:
        raise SystemExit(f"tierctl failed ({run['code']}): {run['stderr']}")


def _check_report(run: dict, n: int) -> None:
    _check_code(run)
    head = run["stdout_head"]
    if '"schema": "tierctl-report/1"' not in head:
        raise SystemExit("the report is not the JSON expected: " + head[:300])


if __name__ == "__main__":
    main()
