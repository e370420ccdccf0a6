"""``tierctl validate``: check the config and say what it defines."""

from __future__ import annotations

import json

import click

from .app import App


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def validate(app: App, as_json: bool) -> None:
    """Check the config file; list every problem with its line, or summarise it."""
    config = app.config()
    summary = {
        "config": config.path,
        "valid": True,
        "tiers": list(config.tiers),
        "surveys": list(config.surveys),
        "providers": list(config.providers),
        "render_targets": list(config.render.targets),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    def count(n: int, what: str) -> str:
        return f"{n} {what}" + ("" if n == 1 else "s")

    click.echo(f"{config.path}: valid. {count(len(config.tiers), 'tier')} ({', '.join(config.tiers)}), "
               f"{count(len(config.surveys), 'survey')}, {count(len(config.render.targets), 'render target')}.")
