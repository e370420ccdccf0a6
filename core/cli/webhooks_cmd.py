"""``tierctl webhooks``: register or check the platforms' webhooks pointing at ``tierctl serve``."""

from __future__ import annotations

import json
import sys

import click

from tierctl.cli.app import App


@click.group()
def webhooks() -> None:
    """Point the survey platforms' webhooks at tierctl serve (serve.webhook_secrets names the platforms)."""


def _run(app: App, register: bool, as_json: bool) -> None:
    from contextlib import nullcontext

    from tierctl.storage.opener import existing_ledger, open_ledger
    from tierctl.web.registration import webhook_lines

    config = app.config()
    # The ledger keeps the platforms' subscription ids: register writes them; check only reads, and
    # creates no ledger (a new one would hide a lost ledger from the next send's warning).
    ledger = (open_ledger(config.storage.url, config.base_dir) if register
              else existing_ledger(config.storage.url, config.base_dir))
    with ledger if ledger is not None else nullcontext():
        lines = webhook_lines(config, app.host, register, ledger)
    if as_json:
        click.echo(json.dumps([{"provider": l.instance, "survey": l.survey_id, "url": l.url, "state": l.state}
                               for l in lines], indent=2))
    else:
        for l in lines:
            click.echo(f"{l.instance:<14} {l.survey_id:<22} {l.state}  ({l.url})")
        if not lines:
            click.echo("no webhooks to register: name a platform's secret under serve.webhook_secrets")
    if not all(l.ok for l in lines):
        sys.exit(1)


@webhooks.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def register(app: App, as_json: bool) -> None:
    """Create or update each survey's webhook through the platform's API, then check it.

    Typeform, SurveyMonkey and Qualtrics have such an API."""
    _run(app, True, as_json)


@webhooks.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def check(app: App, as_json: bool) -> None:
    """Check that each survey's webhook points at this server and is on (exit 1 when one is not)."""
    _run(app, False, as_json)
