"""``tierctl ledger``: check the ledger fully, and back it up while cron runs."""

from __future__ import annotations

import json
import sys

import click

from tierctl.cli.app import App
from tierctl.cli.lazy_group import LazyGroup


@click.group(cls=LazyGroup)
def ledger() -> None:
    """Check and back up the ledger (the record of every invitation and response)."""


@ledger.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def check(app: App, as_json: bool) -> None:
    """Read every page of the ledger and check it is a whole tierctl ledger.

    Every command already checks the ledger cheaply when it opens it; this
    reads all of it (SQLite's integrity_check), which takes a while on a big
    ledger. Exit 0 when it is whole, 2 when it is damaged (restore it from a
    backup: see "Backups" in the README).
    """
    from tierctl.storage.opener import check_ledger
    from tierctl.storage.sqlite_checks import RESTORE_ADVICE

    config = app.config()
    problems = check_ledger(config.storage.url, config.base_dir)
    if as_json:
        click.echo(json.dumps({"ok": not problems, "problems": problems}, indent=2))
    elif problems:
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        click.echo(f"the ledger is damaged ({len(problems)} problem(s) above); {RESTORE_ADVICE}", err=True)
    else:
        click.echo("the ledger is whole: every page and every table checked.")
    if problems:
        sys.exit(2)


@ledger.command()
@click.argument("dest", type=click.Path(path_type=str))
@click.pass_obj
def backup(app: App, dest: str) -> None:
    """Copy the ledger to DEST (a file, or a folder for a time-stamped file).

    Uses SQLite's online backup API: safe while `survey send` runs from
    cron; the copy is one moment of the ledger, checked, and written whole
    or not at all.
    """
    from pathlib import Path

    from tierctl.storage.opener import backup_ledger

    config = app.config()
    written = backup_ledger(config.storage.url, config.base_dir, Path(dest))
    click.echo(f"ledger backed up to {written}")
