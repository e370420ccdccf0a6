"""``tierctl render``: publish the tier pages."""

from __future__ import annotations

import json

import click

from tierctl.cli.app import App


@click.command()
@click.option("-t", "--target", "targets", multiple=True, metavar="NAME",
              help="Render only this target (repeatable). Default: every target under render:.")
@click.option("-o", "--out", "out", metavar="DIR", help="Write here instead of the target's out: folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_obj
def render(app: App, targets: tuple[str, ...], out: str | None, as_json: bool) -> None:
    """Render the support-plan website and the sales sheets."""
    from tierctl.publish.headlines import headlines_for
    from tierctl.publish.render_engine import render_targets

    config = app.config()
    # The survey figures pages publish (show_metrics) are read before rendering and passed in.
    headlines = headlines_for(config, targets or None)
    results = render_targets(config, app.host, only=targets or None, out_override=out, headlines=headlines)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    for r in results:
        total = len(r.written) + len(r.unchanged)
        note = f"{len(r.written)} written, {len(r.unchanged)} unchanged"
        if r.removed:
            note += f", {len(r.removed)} stale removed"
        click.echo(f"{r.target}: {total} files in {r.out_dir} ({note})")
