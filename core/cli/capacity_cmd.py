"""``tierctl plan``: plan the team behind the tiers (``tierctl plan capacity``)."""

from __future__ import annotations

import json

import click

from tierctl.cli.app import App


@click.group()
def plan() -> None:
    """Plan the team behind the tiers."""


@plan.command()
@click.option("--agents", type=click.IntRange(min=0), default=None,
              help="Agents in the team; without it, the report says how many are needed.")
@click.option("--hours-per-agent", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Agent hours each agent gives the tiers in a month.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def capacity(app: App, agents: int | None, hours_per_agent: float, as_json: bool) -> None:
    """Agent hours each tier needs a month, against the team's capacity.

    From the customers source (churned accounts left out), each tier's
    contact_cadence (a contact takes its duration; default 30m, or nothing
    when automated) and agent_time_cap (accounts x cap). A tier needs its
    caps' hours, or its planned contacts' when they are more or there is no
    cap. Warns, per tier, when a planned contact does not fit in the
    per-account cap, and when the total is more than the team has.

    Exit code 0, also with warnings (they are printed); 2 on a bad config or
    an unreadable customers source.
    """
    from tierctl.publish.capacity import format_hours, format_number, plan_capacity

    config = app.config()
    result = plan_capacity(config, app.host, agents, hours_per_agent)
    for problem in result.problems:
        click.echo(f"skipped row: {problem}", err=True)
    if result.bad_rows > len(result.problems):
        click.echo(f"... and {result.bad_rows - len(result.problems)} more skipped rows", err=True)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"Agent hours a month per tier ({sum(t.accounts for t in result.tiers)} live accounts; "
               f"{result.churned_accounts} churned left out)\n")
    click.echo(f"{'tier':<16}{'accounts':>9}{'cap/account':>13}{'planned':>10}{'caps allow':>12}{'needed':>10}")
    for t in result.tiers:
        cap = "-" if t.cap_hours_per_account is None else format_hours(t.cap_hours_per_account)
        allow = "no cap" if t.cap_hours is None else format_hours(t.cap_hours)
        click.echo(f"{t.name[:15]:<16}{t.accounts:>9}{cap:>13}{format_hours(t.planned_hours):>10}{allow:>12}"
                   f"{format_hours(t.needed_hours):>10}")
        for c in t.contacts:
            click.echo(f"    {c.describe()}")
        for status, n in t.unplanned.items():
            click.echo(f"    {status}: {n} account{'s' * (n != 1)}, no planned contact")
    click.echo(f"{'total':<16}{sum(t.accounts for t in result.tiers):>9}{'':>13}"
               f"{format_hours(result.planned_hours):>10}{'':>12}{format_hours(result.needed_hours):>10}")
    click.echo("")
    if result.capacity_hours is None:
        click.echo(f"needed: {format_hours(result.needed_hours)} a month = {format_number(result.agents_needed)} agents at "
                   f"{format_number(hours_per_agent)} h (pass --agents N to compare with your team)")
    else:
        share = f" ({result.needed_hours / result.capacity_hours:.0%} of it)" if result.capacity_hours else ""
        click.echo(f"capacity: {agents} agent{'s' * (agents != 1)} x {format_number(hours_per_agent)} h = "
                   f"{format_hours(result.capacity_hours)} a month; needed {format_hours(result.needed_hours)}{share}")
    if result.mixed_status_accounts:
        click.echo(f"note: {result.mixed_status_accounts} account(s) have contacts with different statuses; each "
                   "counts once, in the status that needs most attention (at-risk, onboarding, active)")
    for warning in result.warnings:
        click.echo(f"warning: {warning}")
