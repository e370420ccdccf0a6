"""``tierctl helpdesk``: keep the helpdesk in step with the tiers; bring its CSAT in."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import click

from tierctl.cli.app import App
from tierctl.cli.survey_cmd import NowType, resolve_now

helpdesk_option = click.option("--helpdesk", "name", metavar="NAME", default=None,
                               help="The entry under helpdesks: (needed when there are several).")


@click.group()
def helpdesk() -> None:
    """Keep the helpdesk (Zendesk) in step with the tiers; import its satisfaction ratings."""


@helpdesk.command()
@helpdesk_option
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def sync(app: App, name: str | None, dry_run: bool, as_json: bool) -> None:
    """One SLA policy per tier (from response_targets) and every organisation
    tagged with its tier (from the customers source).

    Everything is planned first; a severity without a priority, a target the
    helpdesk cannot express or an account without an organisation stops the
    sync before anything is written, each listed on its own line. A second
    sync changes nothing.

    Exit code 0 in step or synced; 2 bad config or input (nothing written);
    2 also when the helpdesk refuses a call (what was done before it is
    listed; run again to finish).
    """
    from tierctl.helpdesk.instances import build_helpdesk
    from tierctl.helpdesk.sync import apply_sync, plan_sync

    config = app.config()
    desk = build_helpdesk(config, app.host, name)
    plan = plan_sync(config, app.host, desk)
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, **plan.as_dict()}, indent=2))
    else:
        for line in plan.lines():
            click.echo(("would " if dry_run else "") + line)
    if not dry_run and not plan.empty:
        apply_sync(desk, plan)
    if not as_json:
        click.echo(f"{desk.instance}: {'nothing to change' if plan.empty else 'would change' if dry_run else 'changed'}"
                   f" ({len(plan.policies)} SLA polic{'y' if len(plan.policies) == 1 else 'ies'}, {len(plan.tags)} "
                   f"organisation{'s' * (len(plan.tags) != 1)}; {plan.policies_in_step} policies and "
                   f"{plan.organizations_in_step} organisations already in step)")


@helpdesk.command("import-csat")
@helpdesk_option
@click.option("--since", type=NowType(), default=None,
              help="Import ratings created from this moment (default: where the last import stopped).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def import_csat_cmd(app: App, name: str | None, since: str | None, as_json: bool) -> None:
    """Import the helpdesk's good/bad satisfaction ratings, per tier (through
    each ticket's organisation), for tierctl report. Incremental: each run
    continues where the last stopped; importing again adds nothing twice.
    """
    from tierctl.helpdesk.csat import import_csat
    from tierctl.helpdesk.instances import build_helpdesk
    from tierctl.storage.opener import open_ledger

    config = app.config()
    desk = build_helpdesk(config, app.host, name)
    with open_ledger(config.storage.url, config.base_dir) as ledger:
        result = import_csat(config, app.host, desk, ledger, datetime.now(timezone.utc),
                             resolve_now(app, since) if since else None)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"{desk.instance}: {result.read} ratings read, {result.new} new, {result.updated} already kept "
               f"(updated); {result.no_organization} without an organisation and {result.no_tier} whose "
               "organisation has no tier left out")
