"""``tierctl plugins``: what is installed and what each plugin registers."""

from __future__ import annotations

import json

import click

from .app import App


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def plugins(app: App, as_json: bool) -> None:
    """List plugins with their distribution, version, hooks and registrations."""
    host = app.host
    infos = host.describe()
    if as_json:
        click.echo(json.dumps({"plugins": [i.as_dict() for i in infos], "errors": host.errors}, indent=2))
        return
    for info in infos:
        origin = f"{info.distribution} {info.version}" if info.distribution else info.module
        click.echo(f"{info.name}  ({origin})")
        if info.error:
            click.echo(f"    FAILED: {info.error}")
            continue
        click.echo(f"    hooks: {', '.join(info.hooks) or '-'}")
        for kind, names in sorted(info.registers.items()):
            click.echo(f"    {kind}: {', '.join(sorted(names))}")
    for message in host.errors:
        click.echo(f"error: {message}", err=True)
