"""A small touchpoints project: a tech-touch tier with a 90-day check-in, SMS and WhatsApp providers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from project_fixtures import run_cli

HEADER = ["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role", "locale",
          "phone", "sms_opt_in", "whatsapp_opt_in", "timezone", "owner", "status_since"]

YAML = """\
version: 1
organization: {name: Acme, timezone: Europe/Amsterdam, language: en}
tiers:
  basic:
    name: Basic
    touch_model: tech-touch
    plans: [free]
    contact_cadence:
      onboarding: {every: 1w, channel: CHANNEL_ONB, automated: true, message: welcome-tip}
      active: {every: 90d, channel: CHANNEL, automated: true, message: check-in}
  gold:
    name: Gold
    touch_model: high-touch
    plans: [gold]
    contact_cadence:
      active: {every: 1mo, channel: meeting, meeting: account-review}
      at-risk: {every: 1w, channel: phone}
messages:
  check-in:
    channel: CHANNEL
    provider: PROVIDER
    subject: {en: "How is {{ account_name }} doing?", nl: "Hoe gaat het met {{ account_name }}?"}
    body: {en: "Hello {{ first_name }}, your quarterly check-in from {{ org_name }}.", nl: "Hallo {{ first_name }}, uw kwartaalcheck van {{ org_name }}."}
    TEMPLATE
  welcome-tip:
    channel: CHANNEL_ONB
    provider: PROVIDER_ONB
    subject: "Getting started"
    body: "Tip of the week for {{ first_name }} at {{ account_name }}."
THROTTLE
quiet_hours: {start: "21:00", end: "08:00"}
sources:
  customers: {plugin: csv, path: customers.csv}
providers:
  mail: {plugin: outbox, dir: outbox, survey_url: "https://survey.example/{survey}?id={invite_id}"}
  texts: {plugin: twilio, base_url: "BASE", account_sid: "SID", auth_token: "${TWILIO_AUTH_TOKEN:-unset}", from_number: "+3197010200300", whatsapp_from: "+3197010200301", per_second: 200, max_retries: 2, backoff_factor: 0.01, timeout: 5}
"""


def project_yaml(channel: str = "email", provider: str = "mail", base: str = "http://127.0.0.1:9",
                 sid: str = "AC" + "0" * 32,
                 onboarding: str = "email", throttle: str = "", template: str = "") -> str:
    return (YAML.replace("CHANNEL_ONB", onboarding).replace("PROVIDER_ONB", "mail" if onboarding == "email" else "texts")
            .replace("CHANNEL", channel).replace("PROVIDER", provider).replace("BASE", base).replace("SID", sid)
            .replace("THROTTLE", throttle).replace("TEMPLATE", template))


def write_project(folder: Path, rows: list[dict[str, str]], yaml: str) -> Path:
    with open(folder / "customers.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow([row.get(h, "") for h in HEADER])
    config = folder / "tierctl.yaml"
    config.write_text(yaml, encoding="utf-8")
    return config


def contact(i: int, **values: str) -> dict[str, str]:
    row = {"account_id": f"A{i}", "account_name": f"Account {i}", "plan": "free", "status": "active",
           "contact_email": f"c{i}@a{i}.example", "contact_name": f"Kim Contact{i}", "role": "admin",
           "locale": "en", "phone": f"+316123456{i:02d}", "sms_opt_in": "yes", "whatsapp_opt_in": "yes",
           "status_since": "2026-08-01"}
    row.update(values)
    return row


def tp(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``tierctl -c CONFIG touchpoints ARGS`` as the console script runs it (errors become exit codes)."""
    return run_cli(["-c", str(config), "touchpoints", *args], load_plugins=None, env=env)


def status_counts(config: Path) -> dict:
    code, out, _ = tp(config, "status", "--json")
    assert code == 0
    return json.loads(out)
