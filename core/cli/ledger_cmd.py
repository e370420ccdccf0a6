"""``tierctl ledger``: check the ledger fully, back it up while cron runs, copy it between backends."""

from __future__ import annotations

import json
import sys

import click

from tierctl.cli.app import App
from tierctl.cli.lazy_group import LazyGroup


@click.group(cls=LazyGroup)
def ledger() -> None:
    """Check, back up and copy the ledger (the record of every invitation and response)."""


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


@ledger.command()
@click.option("--to", "to_url", metavar="URL", required=True,
              help="The ledger to copy into: a new sqlite:///file.db, or an empty PostgreSQL database "
                   "(postgresql://user@host/db).")
@click.option("--from", "from_url", metavar="URL", default=None,
              help="Copy from this ledger instead of the config's storage.url.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-table counts and checksums as JSON.")
@click.pass_obj
def copy(app: App, to_url: str, from_url: str | None, as_json: bool) -> None:
    """Copy the ledger into another one, between backends, without loss.

    Every invitation, run, pull cursor, question, response and answer is
    copied with its keys; the metrics rollup is rebuilt at the target. Then
    both ledgers are read again and each table's row count and SHA-256 are
    compared and printed. Exit 0 when every table matches, 1 when one does
    not, 2 when the target is not empty or cannot be opened. Stop senders
    first: what is written during the copy is not copied.
    """
    from tierctl.storage.copying import copy_ledger
    from tierctl.storage.opener import existing_ledger, open_ledger

    config = app.config()
    source_url = from_url or config.storage.url
    source = existing_ledger(source_url, config.base_dir)
    if source is None:
        from tierctl.errors import TierctlError

        raise TierctlError(f"there is no ledger at {source_url!r} to copy; nothing was sent from here yet")
    with source, open_ledger(to_url, config.base_dir) as target:
        checks = copy_ledger(source, target)
        where = target.location()
    ok = all(c.ok for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": ok, "to": where, "tables": [
            {"table": c.table, "source_rows": c.source_rows, "target_rows": c.target_rows,
             "source_sha256": c.source_sha256, "target_sha256": c.target_sha256, "ok": c.ok} for c in checks]},
            indent=2))
    else:
        click.echo(f"{'table':<12} {'rows':>10} {'copied':>10}  sha256 (source)   sha256 (target)   ok")
        for c in checks:
            click.echo(f"{c.table:<12} {c.source_rows:>10} {c.target_rows:>10}  {c.source_sha256[:16]}  "
                       f"{c.target_sha256[:16]}  {'yes' if c.ok else 'NO'}")
        click.echo(f"copied into {where}: " + ("every table matches." if ok else "some tables differ (above)."))
    if not ok:
        sys.exit(1)
