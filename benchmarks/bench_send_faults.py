"""Sending under faults (issue #10): how long ``survey send`` spends on a provider that keeps failing.

The issue measured, before any breaker: every request answered 429 with
``Retry-After: 1`` made 300 invitations take over 300 s (1476 requests), and
requests that time out 151 s. This runs ``survey send`` in process, through
the ``webhook`` provider at its default retries (4) and concurrency (8),
against a local HTTP server, for 300 invitations:

* **healthy**: every request answered 200 (the floor);
* **no breaker**: both breakers switched off (the engine's and
  ``tierctl.http``'s per-host one), measured on a sample and scaled to 300
  invitations: the issue's figure, reproduced;
* **defaults**: tierctl as shipped (engine breaker: 20 failures in a row or
  120 s of failing sends; ``tierctl.http``: 5 failed requests in a row to a
  host);
* **engine breaker only**: ``tierctl.http``'s breaker switched off, so the
  engine's (which works for any provider, HTTP or not) is what stops it.

Scenarios: 429 with ``Retry-After: 1``; answers slower than the webhook's
``timeout`` (1 s here). Target: with the defaults, a failing provider costs a
run well under the 120 s bound, and the run exits 1 with one line saying why.

Run: ``.venv/bin/python benchmarks/bench_send_faults.py [--invitations 300] [--sample 24]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner
from table import print_table  # benchmarks/table.py: run as scripts, this folder is on sys.path

from tierctl.cli import cli
from tierctl.testing.http_double import HttpServer, Reply

CONFIG = """\
version: 1
organization: {{name: Bench, timezone: Europe/Amsterdam}}
tiers:
  basic: {{name: Basic, touch_model: tech-touch, plans: [starter], surveys: [product-feedback]}}
surveys:
  product-feedback:
    title: Quarterly product feedback
    trigger: {{every: quarter}}
    audience: all
    provider: hook
sources:
  customers: {{plugin: csv, path: customers.csv}}
providers:
  hook: {{plugin: webhook, url: "{url}/hook", secret: bench-secret-0123456789, timeout: 1}}
"""


def project(folder: Path, url: str, invitations: int) -> Path:
    folder.mkdir(parents=True)
    with (folder / "customers.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role",
                         "locale"])
        writer.writerows([f"a{i}", f"Account {i}", "starter", "active", f"p{i}@a{i}.example", f"P {i}", "user",
                          "en"] for i in range(invitations))
    (folder / "tierctl.yaml").write_text(CONFIG.format(url=url))
    return folder / "tierctl.yaml"


def send(config: Path, *args: str) -> tuple[float, int, str]:
    runner = CliRunner()
    started = time.perf_counter()
    result = runner.invoke(cli, ["-c", str(config), "survey", "send", "--now", "2027-01-04T09:00:00Z", *args])
    elapsed = time.perf_counter() - started
    errors = [line.strip() for line in (result.stderr or "").splitlines() if line.startswith("  error")]
    return elapsed, result.exit_code, errors[0] if errors else ""


def run(name: str, reply: Reply, invitations: int, breakers: bool, root: Path,
        http_breaker: bool = True) -> tuple[float, int, int, str]:
    from tierctl.plugins import provider_webhook

    client = provider_webhook._WebhookClient
    saved = client.breaker_failures
    if not breakers or not http_breaker:
        client.breaker_failures = 10 ** 9
    try:
        with HttpServer(reply, record=False) as server:
            config = project(root / name, server.url, invitations)
            extra = [] if breakers else ["--breaker-failures", str(10 ** 9), "--max-failure-wait", "1e9"]
            elapsed, code, why = send(config, *extra)
            return elapsed, server.count, code, why
    finally:
        client.breaker_failures = saved


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invitations", type=int, default=300)
    parser.add_argument("--sample", type=int, default=24, help="invitations measured without breakers, then scaled")
    args = parser.parse_args()
    n, sample = args.invitations, args.sample
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        elapsed, requests, code, _ = run("healthy", Reply(200, b"{}"), n, True, root)
        rows.append(("healthy (floor)", f"{n}", f"{elapsed:.1f} s", f"{requests}", f"exit {code}", ""))
        for label, reply in (("429 Retry-After: 1", Reply(429, b"slow down", {"Retry-After": "1"})),
                             ("answers after the 1 s timeout", Reply(200, b"{}", delay=1.5))):
            elapsed, requests, code, _ = run(f"off-{len(rows)}", reply, sample, False, root)
            scale = n / sample
            rows.append((f"{label}, no breaker", f"{n}", f"~{elapsed * scale:.0f} s", f"~{requests * scale:.0f}",
                         f"exit {code}", f"scaled from {sample} invitations ({elapsed:.1f} s)"))
            elapsed, requests, code, why = run(f"on-{len(rows)}", reply, n, True, root)
            rows.append((f"{label}, defaults", f"{n}", f"{elapsed:.1f} s", f"{requests}", f"exit {code}",
                         ("target < 120 s: " + ("met" if elapsed < 120 else "MISSED")) + f"; {why[:110]}"))
            elapsed, requests, code, why = run(f"engine-{len(rows)}", reply, n, True, root, http_breaker=False)
            rows.append((f"{label}, engine breaker only", f"{n}", f"{elapsed:.1f} s", f"{requests}", f"exit {code}",
                         ("target < 120 s: " + ("met" if elapsed < 120 else "MISSED")) + f"; {why[:110]}"))
    print_table(rows, ("scenario", "invitations", "time", "requests", "exit", "note"))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main_()
