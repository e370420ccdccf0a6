"""``tierctl touchpoints``: the contact moments a tier's cadence promises.

``plan``, ``send`` and ``status`` work like their ``survey`` namesakes (same
ledger, lock, exit codes and log formats) for the automated moments;
``due`` lists the manual ones per account manager.
"""

from __future__ import annotations

import json

import click

from tierctl.cli.app import App
from tierctl.cli.survey_cmd import now_option, resolve_now, run_send, send_options, show_plan, show_status

message_option = click.option("--message", "message", metavar="ID", default=None, help="Only this message.")


@click.group()
def touchpoints() -> None:
    """Automated contact moments (e-mail, SMS, WhatsApp) and the manual ones people owe."""


@touchpoints.command()
@now_option
@message_option
@click.option("--json", "as_json", is_flag=True, help="JSON lines: one object per item, then a summary.")
@click.pass_obj
def plan(app: App, now: str | None, message: str | None, as_json: bool) -> None:
    """Show which messages a send would send now, changing nothing.

    Lists each due message (as message:<id>) and each deferral (quiet hours,
    the fatigue cap) with its reason; skips (no consent, no phone, already
    sent) are counted by reason.
    """
    from tierctl.touchpoints.send_run import TouchpointRun

    show_plan(TouchpointRun(app.config(), app.host, resolve_now(app, now), message), as_json, app.leave_to_exit)


@touchpoints.command()
@now_option
@message_option
@send_options("messages")
@click.pass_obj
def send(app: App, now: str | None, message: str | None, dry_run: bool, limit: int | None,
         resend_unknown: bool, log_format: str, as_json: bool) -> None:
    """Send every automated contact moment that is due, each (message, contact, occasion) exactly once.

    Safe from cron: shares the survey sender's lock and ledger, so a repeated,
    overlapping or killed run never messages anyone twice. Exit 0 when all went
    out, 1 when some failed (listed), 2 on a config error, 3 when another send
    holds the lock.
    """
    from tierctl.cli.logs import setup_logging
    from tierctl.touchpoints.send_run import TouchpointRun

    config = app.config()
    setup_logging(log_format, redactor=config.redactor())
    run_send(TouchpointRun(config, app.host, resolve_now(app, now), message), dry_run, limit,
             resend_unknown, log_format, as_json, "touchpoints status")


@touchpoints.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def status(app: App, as_json: bool) -> None:
    """Counts per message and state, messages in doubt, and the last runs."""
    from tierctl.touchpoints.send_run import TouchpointRun

    show_status(TouchpointRun(app.config(), app.host), as_json, "message",
                lambda ledger_id: ledger_id.startswith("message:"), "tierctl touchpoints send --resend-unknown")


@touchpoints.command()
@now_option
@click.option("--owner", metavar="EMAIL", default=None, help="Only this account manager's moments.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "ics"]), default="table", show_default=True,
              help="A table, JSON, or an iCalendar feed of to-dos (VTODO).")
@click.pass_obj
def due(app: App, now: str | None, owner: str | None, fmt: str) -> None:
    """List the manual contact moments each account manager owes now (the customers' owner column).

    Automated moments are sent by `touchpoints send`; the rest (a monthly
    review, a call) are listed here until their occasion closes.
    """
    from tierctl.surveys.instances import build_customer_source
    from tierctl.touchpoints.due import due_moments, ics_feed, table_lines

    config = app.config()
    moment = resolve_now(app, now)
    problems: list = []
    moments = due_moments(config, build_customer_source(config, app.host), moment, owner, problems)
    for problem in problems[:200]:
        click.echo(f"skipped row: {problem}", err=True)
    if fmt == "json":
        click.echo(json.dumps([m.as_dict() for m in moments], indent=2))
    elif fmt == "ics":
        click.echo(ics_feed(moments, config.organization.name, moment).decode("utf-8"), nl=False)
    else:
        for line in table_lines(moments):
            click.echo(line)
        click.echo(f"{len(moments)} contact moment(s) due.")
