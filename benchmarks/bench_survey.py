"""Survey-engine benchmarks (issue: survey programmes), printed as a table.

1. ``survey plan`` over 1,000,000 contacts (100,000 accounts) and 20,000
   weekly recurring meetings: wall time and peak memory of the CLI process
   (targets: < 15 s, < 1 GiB), beside the time to merely read the CSV.
2. ``survey send`` of 20,000 invitations through the ``webhook`` provider to a
   local HTTP server, against a bare concurrent ``requests`` loop posting the
   same number of bodies to the same server in the same run (target: >= 80%).

Run: ``.venv/bin/python benchmarks/bench_survey.py [--contacts N] [--invitations N]``.
Data is generated into a temporary folder; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table import print_table  # benchmarks/table.py: run as scripts, this folder is on sys.path

HERE = Path(__file__).resolve().parent
TIERCTL = [sys.executable, "-m", "tierctl"]

CONFIG = """\
version: 1
organization: {{name: Bench, timezone: Europe/Amsterdam}}
tiers:
  basic: {{name: Basic, touch_model: tech-touch, plans: [free, starter], surveys: [product-feedback]}}
  standard: {{name: Standard, touch_model: low-touch, plans: [team], surveys: [product-feedback]}}
  advanced: {{name: Advanced, touch_model: high-touch, plans: [enterprise], surveys: [pre-meeting, product-feedback]}}
surveys:
  pre-meeting:
    title: Before our call
    trigger: {{before_meeting: 3d}}
    audience: [key-stakeholder]
    provider: {provider}
  product-feedback:
    title: Quarterly product feedback
    trigger: {{every: quarter}}
    audience: all
    provider: {provider}
throttle: {{per_contact: 30d}}
storage: {{url: "sqlite:///state.db"}}
sources:
  customers: {{plugin: csv, path: customers.csv}}
  meetings: {{plugin: ical, path: meetings.ics}}
providers:
  hook: {{plugin: webhook, url: "http://127.0.0.1:{port}/invitations", secret: bench-secret-0123456789, concurrency: 8}}
  box: {{plugin: outbox, dir: outbox, survey_url: "https://s.example/{{survey}}?i={{invite_id}}"}}
"""

PLANS = ["free", "starter", "team", "enterprise"]
ROLES = ["key-stakeholder", "admin", "user", "user", "user", "user", "user", "user", "user", "user"]


def generate(folder: Path, contacts: int, meetings: int, per_account: int = 10) -> None:
    accounts = contacts // per_account
    with (folder / "customers.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role",
                    "locale"])
        for a in range(accounts):
            plan = "enterprise" if a < meetings else PLANS[a % 3]
            for c in range(per_account):
                w.writerow([f"acc{a}", f"Account {a}", plan, "active", f"c{c}@acc{a}.example", f"Contact {c}",
                            ROLES[c], "en"])
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN"]
    for m in range(meetings):
        day = 1 + m % 7
        lines += ["BEGIN:VEVENT", f"UID:meeting-{m}@bench", "DTSTAMP:20261101T000000Z",
                  f"DTSTART;TZID=Europe/Amsterdam:202611{day:02d}T{9 + m % 8:02d}0000", "DURATION:PT1H",
                  "RRULE:FREQ=WEEKLY", "SUMMARY:Account review", f"ATTENDEE:mailto:c1@acc{m}.example",
                  "ATTENDEE:mailto:agent@acme.example", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    (folder / "meetings.ics").write_text("\r\n".join(lines) + "\r\n")


def child_run(cmd: list[str], cwd: Path, **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``cmd``; return wall seconds and the peak RSS (MiB) of that child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    # ru_maxrss of children is the max over all children so far; the plan run is the largest.
    return wall, max(before, peak) / 1024, proc


def bench_plan(folder: Path, contacts: int, meetings: int) -> list[tuple[str, str, str]]:
    (folder / "tierctl.yaml").write_text(CONFIG.format(provider="box", port=0))
    t0 = time.perf_counter()
    generate(folder, contacts, meetings)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    with (folder / "customers.csv").open(newline="") as fh:
        rows = sum(1 for _ in csv.reader(fh)) - 1
    floor = time.perf_counter() - t0
    wall, peak, proc = child_run(TIERCTL + ["-c", "tierctl.yaml", "survey", "plan", "--now", "2026-11-23T08:00:00Z",
                                            "--json"], folder)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  generated {rows:,} contacts, {meetings:,} meetings in {gen:.1f}s; plan: {summary['due']:,} due, "
          f"{summary['deferred']:,} deferred", file=sys.stderr)
    return [
        ("read the CSV only (floor)", f"{floor:.2f} s", ""),
        (f"survey plan, {rows:,} contacts + {meetings:,} meetings", f"{wall:.2f} s",
         "OK" if wall < 15 else "MISSED (< 15 s)"),
        ("survey plan peak memory", f"{peak:.0f} MiB", "OK" if peak < 1024 else "MISSED (< 1 GiB)"),
    ]


def bench_send(folder: Path, invitations: int) -> list[tuple[str, str, str]]:
    import concurrent.futures

    import requests

    sink = subprocess.Popen([sys.executable, str(HERE / "http_sink.py")], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())
        url = f"http://127.0.0.1:{port}/invitations"
        # Baseline: a bare concurrent requests loop, 8 threads sharing one pooled session.
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=8)
        session.mount("http://", adapter)
        body = json.dumps({"invite_id": "x" * 16, "survey": "product-feedback", "contact": {"email": "a@b.c"}}).encode()

        def bare_loop() -> float:
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: session.post(url, data=body, timeout=10).status_code, range(invitations)))
            return time.perf_counter() - t0

        # Timed before and after tierctl, best of the two: the baseline gets every advantage.
        bare_runs = [bare_loop()]

        send_dir = folder / "send"
        send_dir.mkdir()
        (send_dir / "tierctl.yaml").write_text(CONFIG.format(provider="hook", port=port))
        generate(send_dir, invitations, 0, per_account=10)
        wall, _, proc = child_run(TIERCTL + ["-c", "tierctl.yaml", "survey", "send", "--now", "2027-01-04T08:00:00Z",
                                             "--json"], send_dir)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        # The engine's own send time, measured in-process (no interpreter start-up).
        inproc = _send_in_process(folder / "inproc", port, invitations)
        bare_runs.append(bare_loop())
        bare = min(bare_runs)
        ratio = (invitations / inproc) / (invitations / bare)
    finally:
        sink.terminate()
        sink.wait()
    return [
        (f"bare requests loop, {invitations:,} POSTs, 8 threads (best of 2)", f"{invitations / bare:,.0f} req/s", ""),
        (f"tierctl survey send (CLI, incl. start-up and plan), sent {out['sent']:,}", f"{invitations / wall:,.0f} inv/s",
         ""),
        ("tierctl send engine in-process (ledger + webhook)", f"{invitations / inproc:,.0f} inv/s",
         f"{ratio:.0%} of bare: " + ("OK" if ratio >= 0.8 else "MISSED (>= 80%)")),
    ]


def _send_in_process(folder: Path, port: int, invitations: int) -> float:
    from datetime import datetime, timezone

    from tierctl.config.loader import load_config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.surveys.send_run import SurveyRun

    folder.mkdir()
    (folder / "tierctl.yaml").write_text(CONFIG.format(provider="hook", port=port))
    generate(folder, invitations, 0, per_account=10)
    host = PluginHost.load()
    config = load_config(folder / "tierctl.yaml", host)
    run = SurveyRun(config, host, datetime(2027, 1, 4, 8, tzinfo=timezone.utc))
    ledger = run.open_ledger()
    t0 = time.perf_counter()
    report = run.send(ledger)
    elapsed = time.perf_counter() - t0
    ledger.close()
    if report.sent != invitations:
        raise SystemExit(f"in-process send sent {report.sent} of {invitations}: {report.provider_errors[:3]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--meetings", type=int, default=20_000)
    parser.add_argument("--invitations", type=int, default=20_000)
    parser.add_argument("--skip-plan", action="store_true")
    parser.add_argument("--skip-send", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tierctl-bench-") as tmp:
        folder = Path(tmp)
        if not args.skip_plan:
            rows += bench_plan(folder, args.contacts, args.meetings)
        if not args.skip_send:
            rows += bench_send(folder, args.invitations)
    print_table(rows, ("measure", "figure", "target"))


if __name__ == "__main__":
    os.environ.setdefault("TIERCTL_LOAD_PLUGINS", "csv,ical,outbox,webhook")
    main()
