"""Touchpoint benchmarks (issue #15), printed as a table.

1. ``touchpoints plan`` over 1,000,000 contacts against ``survey plan`` over
   the same customers file, in the same run (target: at most 1.2 times).
   One contact in five has a phone number (checked with ``phonenumbers`` by
   the source, for both commands alike).
2. ``touchpoints send`` of SMS through the Twilio double, which enforces its
   rate (``per_second``) and answers 429 (error 20429) over it: the rate
   reached against the allowed rate (target: over 90%) and the number of 429s
   (target: 0).

Run: ``.venv/bin/python benchmarks/bench_touchpoints.py [--contacts N] [--sms N] [--rate R]``.
Data is generated into a temporary folder; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table import print_table  # benchmarks/table.py: run as scripts, this folder is on sys.path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the Twilio double lives with the tests

TIERCTL = [sys.executable, "-m", "tierctl"]

CONFIG = """\
version: 1
organization: {{name: Bench, timezone: Europe/Amsterdam}}
tiers:
  basic:
    name: Basic
    touch_model: tech-touch
    plans: [free, starter]
    surveys: [product-feedback]
    contact_cadence:
      active: {{every: 90d, channel: {channel}, automated: true, message: check-in}}
      onboarding: {{every: 1w, channel: email, automated: true, message: tip}}
  advanced: {{name: Advanced, touch_model: high-touch, plans: [enterprise], surveys: [product-feedback]}}
surveys:
  product-feedback:
    title: Quarterly product feedback
    trigger: {{every: quarter}}
    audience: all
    provider: box
messages:
  check-in: {{channel: {channel}, provider: {provider}, subject: "How are things at {{{{ account_name }}}}?",
             body: "Hello {{{{ first_name }}}}, this is your quarterly check-in."}}
  tip: {{channel: email, provider: box, subject: "Getting started", body: "A tip for {{{{ first_name }}}}."}}
throttle: {{per_contact: 30d, messages_per_week: 2}}
quiet_hours: {{start: "21:00", end: "08:00"}}
storage: {{url: "sqlite:///state.db"}}
sources:
  customers: {{plugin: csv, path: customers.csv}}
providers:
  box: {{plugin: outbox, dir: outbox, survey_url: "https://s.example/{{survey}}?i={{invite_id}}"}}
  texts: {{plugin: twilio, base_url: "{base}", account_sid: "{sid}", auth_token: "{token}",
          from_number: "+3197010200300", per_second: {rate}, timeout: 10}}
"""

HEADER = ["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role", "locale",
          "phone", "sms_opt_in", "timezone", "status_since"]


def generate(path: Path, contacts: int, per_account: int = 10, phones: int = 5, mixed: bool = True) -> None:
    plans = ["free", "starter", "enterprise"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(contacts):
            a = i // per_account
            phone = f"+316{10000000 + i % 89999999}" if i % phones == 0 else ""
            status = "onboarding" if mixed and a % 20 == 0 else "active"
            since = f"2026-{1 + a % 11:02d}-{1 + a % 28:02d}" if a % 4 or not mixed else ""
            w.writerow([f"acc{a}", f"Account {a}", plans[a % 3] if mixed else "free", status, f"c{i}@acc{a}.example",
                        f"Contact {i}", "user", "en", phone, "yes" if phone else "", "",
                        since if mixed else "2026-08-01"])


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def bench_plan(folder: Path, contacts: int, repeat: int) -> list[tuple[str, str, str]]:
    (folder / "tierctl.yaml").write_text(CONFIG.format(channel="email", provider="box", base="http://127.0.0.1:9",
                                                       sid="AC" + "0" * 32, token="x", rate=1))
    generate(folder / "customers.csv", contacts)
    now = ["--now", "2026-12-05T11:00:00Z", "--json"]
    survey, touch = [], []
    for _ in range(repeat):  # alternate, best of each: neither gets a warmer cache
        survey.append(timed(TIERCTL + ["-c", "tierctl.yaml", "survey", "plan", *now], folder))
        touch.append(timed(TIERCTL + ["-c", "tierctl.yaml", "touchpoints", "plan", *now], folder))
    s_wall, t_wall = min(w for w, _ in survey), min(w for w, _ in touch)
    s_sum = json.loads(survey[0][1].strip().splitlines()[-1])
    t_sum = json.loads(touch[0][1].strip().splitlines()[-1])
    ratio = t_wall / s_wall
    print(f"  survey plan: {s_sum['due']:,} due; touchpoints plan: {t_sum['due']:,} due, "
          f"{t_sum['deferred']:,} deferred", file=sys.stderr)
    return [
        (f"survey plan, {contacts:,} contacts (peer)", f"{s_wall:.2f} s", ""),
        (f"touchpoints plan, {contacts:,} contacts", f"{t_wall:.2f} s",
         f"{ratio:.2f}x survey plan: " + ("OK" if ratio <= 1.2 else "MISSED (<= 1.2x)")),
    ]


def bench_sms(folder: Path, messages: int, rate: float) -> list[tuple[str, str, str]]:
    from doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble

    with TwilioDouble(per_second=rate, record=True) as twilio:
        (folder / "tierctl.yaml").write_text(CONFIG.format(channel="sms", provider="texts", base=twilio.base_url,
                                                           sid=ACCOUNT_SID, token="${TWILIO_AUTH_TOKEN}", rate=rate))
        generate(folder / "customers.csv", messages, per_account=1, phones=1, mixed=False)
        env = {**os.environ, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
        wall, out = timed(TIERCTL + ["-c", "tierctl.yaml", "touchpoints", "send", "--now", "2026-12-05T11:00:00Z",
                                     "--message", "check-in", "--json"], folder, env)
        sent = json.loads(out)["sent"]
        times = sorted(r.received_at for r in twilio.requests)
        # The first second's burst is the bucket's depth; the sustained rate is measured after it.
        span = times[-1] - times[0]
        reached = (len(times) - max(1.0, rate)) / span if span > 0 else float("inf")
        limited = twilio.rate_limited
    share = reached / rate
    return [
        ("allowed rate (Twilio double, per_second)", f"{rate:g}/s", "peer"),
        (f"touchpoints send, {sent:,} SMS", f"{reached:.1f}/s",
         f"{share:.0%} of the allowed rate: " + ("OK" if share > 0.9 else "MISSED (> 90%)")),
        ("HTTP 429 answers", f"{limited}", "OK" if limited == 0 else "MISSED (0)"),
        ("wall time of the send", f"{wall:.1f} s", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--sms", type=int, default=600)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=2, help="Plan runs of each command (best is kept)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tierctl-bench-tp-") as tmp:
        plan_dir, sms_dir = Path(tmp) / "plan", Path(tmp) / "sms"
        plan_dir.mkdir()
        sms_dir.mkdir()
        rows += bench_plan(plan_dir, args.contacts, args.repeat)
        rows += bench_sms(sms_dir, args.sms, args.rate)
    print_table(rows, ("benchmark", "figure", "target"))


if __name__ == "__main__":
    main()
