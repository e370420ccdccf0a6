"""``tierctl diff`` benchmark (issue: change review), printed as a table.

A git repository with the survey benchmark's customers (default 100,000 contacts, 10,000
accounts) and meetings; the branch moves a plan to another tier and tightens a target, so
every part of the review runs: both versions rendered, every account placed twice, 30
days of daily survey plans per version, capacity per version. Beside it, in the same run:
one ``survey plan`` and one ``render`` of the same project (what a reviewer would
otherwise run by hand, twice each), and a diff that only renames a tier (no plan,
survey or capacity work).

The issue sets no speed target; the figures say what a CI job pays.

Run: ``.venv/bin/python benchmarks/bench_diff.py [--contacts N] [--days N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_survey import TIERCTL, child_run, generate  # benchmarks/ is on sys.path when run as a script
from table import print_table

CONFIG = """\
version: 1
organization: {name: Bench, timezone: Europe/Amsterdam}
tiers:
  basic: {name: Basic, touch_model: tech-touch, plans: [free, starter], surveys: [product-feedback],
          response_targets: {urgent: 1 business day}, agent_time_cap: 30m/month}
  standard: {name: Standard, touch_model: low-touch, plans: [team], surveys: [product-feedback],
             response_targets: {urgent: 4h}, agent_time_cap: 2h/month}
  advanced: {name: Advanced, touch_model: high-touch, plans: [enterprise], surveys: [pre-meeting, product-feedback],
             response_targets: {urgent: 1h}, agent_time_cap: 10h/month,
             contact_cadence: {active: {every: 1mo, channel: video}}}
surveys:
  pre-meeting: {title: Before our call, trigger: {before_meeting: 3d}, audience: [key-stakeholder], provider: box,
                throttle: exempt}
  product-feedback: {title: Quarterly product feedback, trigger: {every: quarter}, audience: all, provider: box}
throttle: {per_contact: 30d}
sources:
  customers: {plugin: csv, path: customers.csv}
  meetings: {plugin: ical, path: meetings.ics}
providers:
  box: {plugin: outbox, dir: outbox, survey_url: "https://s.example/{survey}?i={invite_id}"}
render:
  website: {format: html, out: build/site}
  sales: {format: markdown, out: build/sales}
owners:
  tiers.*.response_targets: [legal]
  tiers.*.plans: [sales-ops]
"""
NOW = "2026-11-23T08:00:00Z"


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=b@example.com", "-c", "user.name=bench", *args], cwd=folder, check=True,
                   capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--meetings", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tierctl-bench-diff-") as tmp:
        folder = Path(tmp)
        (folder / "tierctl.yaml").write_text(CONFIG)
        generate(folder, args.contacts, args.meetings)
        git(folder, "init", "-q")
        git(folder, "add", "tierctl.yaml", "customers.csv", "meetings.ics")
        git(folder, "commit", "-qm", "tiers")
        cli = TIERCTL + ["-c", "tierctl.yaml"]
        plan, _, _ = child_run(cli + ["survey", "plan", "--now", NOW, "--json"], folder)
        render, _, _ = child_run(cli + ["render", "--out", str(folder / "peer")], folder)
        text = CONFIG
        (folder / "tierctl.yaml").write_text(text.replace("name: Basic,", "name: Essentials,"))
        rename, _, _ = child_run(cli + ["diff", "--now", NOW], folder)
        moved = text.replace("plans: [team]", "plans: [team, starter]").replace("plans: [free, starter]",
                                                                               "plans: [free]")
        (folder / "tierctl.yaml").write_text(moved.replace("urgent: 4h", "urgent: 2h"))
        full, peak, proc = child_run(cli + ["diff", "--now", NOW, "--days", str(args.days), "--format", "json"],
                                     folder)
        moves = __import__("json").loads(proc.stdout)["accounts"]["moves"]
    print(f"  {args.contacts:,} contacts, {args.meetings:,} weekly meetings; the branch moves "
          f"{sum(m['accounts'] for m in moves):,} accounts", file=sys.stderr)
    print_table([
        ("survey plan, once (peer)", f"{plan:.2f} s", ""),
        ("render, once (peer)", f"{render:.2f} s", ""),
        ("by hand: 2 x (plan + render) (peer)", f"{2 * (plan + render):.2f} s", ""),
        ("tierctl diff, a tier renamed (pages only)", f"{rename:.2f} s", ""),
        (f"tierctl diff, plan moved + target tightened ({args.days} daily plans x 2)", f"{full:.2f} s",
         f"{full / (2 * (plan + render)):.1f}x the by-hand peer"),
        ("tierctl diff peak memory", f"{peak:.0f} MiB", ""),
    ], header=("what", "time", "note"))


if __name__ == "__main__":
    main()
