"""``tierctl helpdesk sync`` and ``import-csat`` benchmark (issue: Zendesk), printed as a table.

Against the Zendesk double on 127.0.0.1 (tests/doubles/zendesk.py): a first sync of N
organisations (default 5,000: 50 pages read, 3 policies created, N organisations tagged),
a second sync (reads only, nothing to change), and an import of 20,000 ratings. Beside
them, in the same run, the floors: a bare ``requests`` session making the same calls
(the same pages, the same PUTs; the same rating pages) with nothing planned, checked or stored.

Run: ``.venv/bin/python benchmarks/bench_zendesk.py [--organizations N] [--ratings N]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the double lives with the tests

from doubles.zendesk import EMAIL, TOKEN, ZendeskDouble  # noqa: E402
from table import print_table  # noqa: E402

CONFIG = """\
version: 1
organization: {{name: Bench, timezone: Europe/Amsterdam}}
tiers:
  basic: {{name: Basic, touch_model: tech-touch, plans: [free, starter], response_targets: {{urgent: 1 business day}}}}
  standard: {{name: Standard, touch_model: low-touch, plans: [team], response_targets: {{urgent: 4h, normal: 8h}}}}
  advanced: {{name: Advanced, touch_model: high-touch, plans: [enterprise], response_targets: {{urgent: 1h}}}}
sources:
  customers: {{plugin: csv, path: customers.csv}}
storage: {{url: "sqlite:///state.db"}}
helpdesks:
  zendesk: {{plugin: zendesk, base_url: "{url}", email: {email}, token: {token}}}
"""
PLANS = ["free", "starter", "team", "enterprise"]
#: The double's rate limit is lifted: the benchmark measures tierctl's own cost. (At Zendesk's
#: Enterprise limit, 700 calls a minute, a first sync of N organisations takes about N / 700 minutes,
#: waiting Retry-After; the tests check that it does.)
UNLIMITED = 10**9


def floor(url: str, organizations: int) -> float:
    """The same HTTP calls as a first sync, from a bare requests session."""
    import requests

    session = requests.Session()
    session.auth = (f"{EMAIL}/token", TOKEN)
    t0 = time.perf_counter()
    session.get(f"{url}/api/v2/slas/policies", timeout=30).json()
    ids = []
    page = session.get(f"{url}/api/v2/organizations", params={"page[size]": 100}, timeout=30).json()
    while True:
        ids += [o["id"] for o in page["organizations"]]
        if not page["meta"]["has_more"]:
            break
        page = session.get(page["links"]["next"], timeout=30).json()
    for n in range(3):
        session.post(f"{url}/api/v2/slas/policies", timeout=30, json={"sla_policy": {
            "title": f"p{n}", "filter": {"all": [], "any": []}, "policy_metrics": []}})
    for org_id in ids[:organizations]:
        session.put(f"{url}/api/v2/organizations/{org_id}", json={"organization": {"tags": ["x"]}},
                    timeout=30).raise_for_status()
    return time.perf_counter() - t0


def floor_ratings(url: str) -> float:
    """Paging through every received rating from a bare requests session."""
    import requests

    session = requests.Session()
    session.auth = (f"{EMAIL}/token", TOKEN)
    t0 = time.perf_counter()
    page = session.get(f"{url}/api/v2/satisfaction_ratings", params={"page[size]": 100, "score": "received"},
                       timeout=30).json()
    while page["meta"]["has_more"]:
        page = session.get(page["links"]["next"], timeout=30).json()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organizations", type=int, default=5_000)
    parser.add_argument("--ratings", type=int, default=20_000)
    args = parser.parse_args()
    from tierctl.config.loader import load_config
    from tierctl.helpdesk.csat import import_csat
    from tierctl.helpdesk.instances import build_helpdesk
    from tierctl.helpdesk.sync import apply_sync, plan_sync
    from tierctl.host.plugin_host import PluginHost
    from tierctl.storage.opener import open_ledger

    n = args.organizations
    with tempfile.TemporaryDirectory(prefix="tierctl-bench-zd-") as tmp, ZendeskDouble(record=False, limit_per_minute=UNLIMITED) as zd, \
            ZendeskDouble(record=False, limit_per_minute=UNLIMITED) as bare:
        folder = Path(tmp)
        with (folder / "customers.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role",
                        "locale"])
            for a in range(n):
                w.writerow([f"acc{a}", f"Account {a}", PLANS[a % 4], "active", f"c@acc{a}.example", "C", "admin", "en"])
        for a in range(n):
            zd.add_organization(f"Account {a}", f"acc{a}")
            bare.add_organization(f"Account {a}", f"acc{a}")
        start = datetime(2026, 10, 1, tzinfo=timezone.utc)
        org_ids = sorted(zd.organizations)
        bare_ids = sorted(bare.organizations)
        for r in range(args.ratings):
            zd.add_rating(org_ids[r % n], "good" if r % 7 else "bad", start + timedelta(minutes=r))
            bare.add_rating(bare_ids[r % n], "good" if r % 7 else "bad", start + timedelta(minutes=r))
        (folder / "tierctl.yaml").write_text(CONFIG.format(url=zd.url, email=EMAIL, token=TOKEN))
        host = PluginHost.load()
        config = load_config(folder / "tierctl.yaml", host)
        desk = build_helpdesk(config, host)

        t0 = time.perf_counter()
        plan = plan_sync(config, host, desk)
        apply_sync(desk, plan)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = plan_sync(config, host, desk)
        second = time.perf_counter() - t0
        assert again.empty, again.lines()[:3]
        with open_ledger(config.storage.url, config.base_dir) as ledger:
            t0 = time.perf_counter()
            result = import_csat(config, host, desk, ledger, datetime.now(timezone.utc))
            imported = time.perf_counter() - t0
        base = floor(bare.url, n)
        base_ratings = floor_ratings(bare.url)
    print(f"  {n:,} organisations, {len(plan.tags):,} tagged, {len(plan.policies)} policies; "
          f"{result.new:,} ratings imported", file=sys.stderr)
    print_table([
        (f"bare requests: the first sync's calls ({n // 100 + 1} pages, {n:,} PUTs) (floor)", f"{base:.2f} s", ""),
        (f"helpdesk sync, first run ({n:,} organisations tagged)", f"{first:.2f} s", f"{first / base:.2f}x the floor"),
        ("helpdesk sync, second run (nothing to change)", f"{second:.2f} s", ""),
        (f"bare requests: paging through {result.new:,} ratings (floor)", f"{base_ratings:.2f} s", ""),
        (f"helpdesk import-csat, {result.new:,} ratings", f"{imported:.2f} s",
         f"{imported / base_ratings:.2f}x the floor; {result.new / imported:,.0f} ratings/s"),
    ], header=("what", "time", "note"))


if __name__ == "__main__":
    main()
