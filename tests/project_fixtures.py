"""Builders for small, real project folders (config, customers.csv, meetings.ics)."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from tierctl.cli import main


ROOT = Path(__file__).resolve().parent.parent

CUSTOMER_HEADER = ["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role",
                   "locale"]

# Three tiers as in the example config, two survey programmes, an outbox.
PROJECT_YAML = """\
version: 1
organization: {name: Acme, timezone: Europe/Amsterdam}
tiers:
  basic:
    name: Basic
    touch_model: tech-touch
    plans: [free, starter]
    surveys: [product-feedback]
  advanced:
    name: Advanced
    touch_model: high-touch
    plans: [enterprise]
    surveys: [pre-meeting, product-feedback]
surveys:
  pre-meeting:
    title: Before our account review
    trigger: {before_meeting: 3d}
    audience: [key-stakeholder]
    provider: mail
    questions:
      - {id: satisfaction, type: csat, text: How satisfied are you?}
  product-feedback:
    title: Quarterly product feedback
    trigger: {every: quarter}
    audience: all
    provider: mail
    questions:
      - {id: nps, type: nps, text: Would you recommend us?}
throttle: {per_contact: 30d}
sources:
  customers: {plugin: csv, path: customers.csv}
  meetings: {plugin: ical, path: meetings.ics}
providers:
  mail: {plugin: outbox, dir: outbox, survey_url: "https://survey.example/{survey}?id={invite_id}"}
render:
  website: {format: html, out: build/site}
"""

EMPTY_ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nEND:VCALENDAR\r\n"


def write_customers(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CUSTOMER_HEADER)
        writer.writerows(rows)


def ics_event(uid: str, start: str, attendees: list[str], summary: str = "Account review",
              rrule: str | None = None, tzid: str = "Europe/Amsterdam") -> str:
    """One VEVENT; ``start`` like 20270105T100000 (local time in ``tzid``)."""
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T000000Z", f"DTSTART;TZID={tzid}:{start}",
             "DURATION:PT1H", f"SUMMARY:{summary}"]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += [f"ATTENDEE;CN=x:mailto:{a}" for a in attendees]
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


def write_ics(path: Path, events: list[str]) -> None:
    body = "\r\n".join(events)
    path.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
                    + (body + "\r\n" if body else "") + "END:VCALENDAR\r\n", encoding="utf-8")


def run_cli(args: list[str], load_plugins: str | None = "html,markdown,filters",
            env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    """Run ``tierctl.cli.main`` in-process as the console script does: (exit code, stdout, stderr)."""
    runner = CliRunner()
    full_env = {"TIERCTL_LOAD_PLUGINS": load_plugins, "TIERCTL_DEBUG": None, **(env or {})}
    with runner.isolation(env=full_env) as (out, err, _):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()
