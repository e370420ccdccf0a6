"""SurveyMonkey send benchmark (issue: survey-provider plugins), printed as a table.

5,000 invitations through the ``surveymonkey`` provider and the real engine
(``SurveyRun.send``: plan, ledger claims, batches) against the SurveyMonkey
API double on 127.0.0.1 (``tests/doubles/surveymonkey.py``). The double
ENFORCES a per-minute request limit (429, error 1040, no ``Retry-After``) and
the provider is configured with the same limit (default 1,200/min, so the run
takes seconds; ``--rpm 120`` is SurveyMonkey's real private-app limit and
takes over a minute, crossing the double's minute window).

Printed: the 429s the double gave (target: 0), the API requests the send
made (bulk batching: about 3 per 100 invitations), and the achieved request
rate as a share of the allowed one (target: above 90%). The engine's token
bucket starts with one second's worth of requests, which a run of a few
seconds can spend at once; the rate is therefore shown over the whole send
and over its paced part (after the first second), and the target applies to
the paced part.

Run: ``.venv/bin/python benchmarks/bench_surveymonkey.py [--invitations N] [--rpm N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from table import print_table  # benchmarks/table.py: run as scripts, this folder is on sys.path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the API double is test infrastructure

TOKEN = "bench-sm-token-0123456789abcdef"
SM_SURVEY = "405123456"
CONFIG = """\
version: 1
organization: {{name: Bench, timezone: Europe/Amsterdam}}
tiers:
  basic: {{name: Basic, touch_model: tech-touch, plans: [free, starter], surveys: [product-feedback]}}
surveys:
  product-feedback:
    title: Quarterly product feedback
    trigger: {{every: quarter}}
    audience: all
    provider: monkey
    questions:
      - {{id: nps, type: nps, text: How likely are you to recommend us?}}
storage: {{url: "sqlite:///state.db"}}
sources:
  customers: {{plugin: csv, path: customers.csv}}
providers:
  monkey: {options}
"""


def generate(folder: Path, contacts: int, per_account: int = 10) -> None:
    with (folder / "customers.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role",
                    "locale"])
        for n in range(contacts):
            a = n // per_account
            w.writerow([f"acc{a}", f"Account {a}", "starter", "active", f"c{n % per_account}@acc{a}.example",
                        f"Contact {n}", "user", "en"])


def bench(invitations: int, rpm: int, minute_seconds: float) -> list[tuple[str, str, str]]:
    from doubles.surveymonkey import SurveyMonkeyDouble

    from tierctl.config.loader import load_config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.surveys.send_run import SurveyRun

    with tempfile.TemporaryDirectory(prefix="tierctl-bench-sm-") as tmp, \
            SurveyMonkeyDouble(token=TOKEN, minute_limit=rpm, day_limit=1_000_000,
                               minute_seconds=minute_seconds) as sm:
        folder = Path(tmp)
        sm.add_survey(SM_SURVEY, {"812001": ("How likely are you to recommend us?", [str(n) for n in range(11)])})
        options = {"plugin": "surveymonkey", "token": "${SM_TOKEN}", "base_url": sm.base_url,
                   "surveys": {"product-feedback": SM_SURVEY}, "requests_per_minute": rpm,
                   "requests_per_day": 1_000_000}
        (folder / "tierctl.yaml").write_text(CONFIG.format(options=json.dumps(options)))
        generate(folder, invitations)
        os.environ["SM_TOKEN"] = TOKEN
        host = PluginHost.load()
        config = load_config(folder / "tierctl.yaml", host)
        run = SurveyRun(config, host, datetime(2027, 1, 4, 8, tzinfo=timezone.utc))
        ledger = run.open_ledger()
        t0 = time.perf_counter()
        report = run.send(ledger)
        wall = time.perf_counter() - t0
        ledger.close()

        if report.sent != invitations or report.provider_errors:
            raise SystemExit(f"sent {report.sent} of {invitations}: {report.provider_errors[:3]} "
                             f"{[f.reason for f in report.failures[:3]]}")
        delivered = sm.delivered()
        assert len(delivered) == invitations and set(delivered.values()) == {1}, "someone was invited twice"
        times = sorted(r.received_at for r in sm.requests)
        requests = sm.accepted
        span = times[-1] - times[0]
        allowed = rpm / 60.0  # requests per second
        overall = (len(times) - 1) / span if span > 0 else float("inf")
        paced = [t for t in times if t >= times[0] + 1.0]
        steady = (len(paced) - 1) / (paced[-1] - paced[0]) if len(paced) > 2 else overall
        busiest = sm.max_requests_in(minute_seconds)
        names = {"POST /v3/surveys/{id}/collectors": "collector", "POST /v3/collectors/{id}/messages": "messages",
                 "POST /v3/collectors/{id}/messages/{id}/recipients/bulk": "bulk adds",
                 "POST /v3/collectors/{id}/messages/{id}/send": "sends"}
        calls = {names.get(k, k): v for k, v in sm.calls.items()}

    share = steady / allowed
    return [
        (f"survey send, {invitations:,} invitations through surveymonkey (engine + ledger)", f"{wall:.2f} s",
         f"sent {report.sent:,}, each address once"),
        ("429 answers from the double", f"{sm.rate_limited}", "OK" if sm.rate_limited == 0 else "MISSED (0)"),
        ("API requests", f"{requests:,}", f"{requests / invitations * 100:.1f} per 100 invitations: "
                                          + ", ".join(f"{v} {k}" for k, v in calls.items())),
        (f"busiest {minute_seconds:g}-second window (limit {rpm:,})", f"{busiest:,}",
         "OK" if busiest <= rpm else "MISSED"),
        ("request rate, whole send (first to last request)", f"{overall * 60:,.0f}/min",
         f"{overall / allowed:.0%} of {rpm:,}/min (the bucket's first-second burst included)"),
        ("request rate, paced part (after the first second)", f"{steady * 60:,.0f}/min",
         f"{share:.0%} of {rpm:,}/min: " + ("OK" if share > 0.9 else "MISSED (> 90%)")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invitations", type=int, default=5_000)
    parser.add_argument("--rpm", type=int, default=1_200, help="requests per minute: the double's and the provider's")
    parser.add_argument("--minute-seconds", type=float, default=60.0,
                        help="length of the double's rate window (SurveyMonkey: 60)")
    args = parser.parse_args()
    rows = bench(args.invitations, args.rpm, args.minute_seconds)
    print_table(rows, ("measure", "figure", "target"))


if __name__ == "__main__":
    os.environ.setdefault("TIERCTL_LOAD_PLUGINS", "csv,surveymonkey")
    main()
