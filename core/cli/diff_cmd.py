"""``tierctl diff``: what a change to the tier file does, for a reviewer."""

from __future__ import annotations

import json

import click

from tierctl.cli.app import App
from tierctl.cli.survey_cmd import now_option, resolve_now


@click.command()
@click.option("--against", "against", default="HEAD", show_default=True, metavar="GIT_REF|OLD.yaml",
              help="Compare with the config at this git ref (read with git show; nothing is checked out) "
                   "or with this file.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True,
              help="text for a terminal, md for a pull-request comment, json for tools.")
@click.option("--accounts", "with_accounts", is_flag=True, help="List every account that moves tier.")
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True,
              help="How far ahead to compare the survey invitations the plan sends.")
@now_option
@click.option("--check-owners", "approvers", metavar="APPROVERS", default=None,
              help="Comma-separated people or teams who approved; exit 1 when an owner of a changed field "
                   "is not among them.")
@click.pass_obj
def diff(app: App, against: str, fmt: str, with_accounts: bool, days: int, now: str | None,
         approvers: str | None) -> int:
    """Review a change to the tier file: the tier fields that changed (in
    words), the pages and sales sheets whose content changes, the accounts
    and contacts that move tier, the survey invitations newly due or no
    longer sent, the agent hours per tier, and the owners (owners:) who must
    approve.

    Exit code 0; 1 with --check-owners when an owner has not approved; 2 when
    either version does not load.
    """
    from tierctl.diff.formats import diff_markdown, diff_text
    from tierctl.diff.old_version import load_old_config
    from tierctl.diff.review import review_change

    import tempfile
    from pathlib import Path

    config = app.config()
    names = None if approvers is None else [a for a in (p.strip() for p in approvers.split(",")) if a]
    with tempfile.TemporaryDirectory(prefix="tierctl-diff-") as scratch:  # the old templates, at a git ref
        old, label, old_to_render = load_old_config(config, against, app.host, Path(scratch))
        result = review_change(old, config, app.host, label, resolve_now(app, now), days, names, old_to_render)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(with_accounts), indent=2, ensure_ascii=False))
    elif fmt == "md":
        click.echo(diff_markdown(result, with_accounts), nl=False)
    else:
        click.echo(diff_text(result, with_accounts), nl=False)
    if result.missing:
        click.echo("tierctl: owners who have not approved: " + ", ".join(result.missing), err=True)
        return 1
    return 0
