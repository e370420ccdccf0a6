"""``tierctl contacts``: opt-outs (suppressions) and erasure of a person's data."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from tierctl.cli.app import App


def _ledger(app: App) -> Any:
    from tierctl.storage.opener import open_ledger

    config = app.config()
    return open_ledger(config.storage.url, config.base_dir)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@click.group()
def contacts() -> None:
    """Opt-outs and erasure: who must never be surveyed again, and forgetting a person."""
    from tierctl.cli.logs import setup_logging

    setup_logging("plain")


_CHANNEL = click.option("--channel", type=click.Choice(["email", "sms", "whatsapp"]), default="email",
                        show_default=True, help="sms or whatsapp: ADDRESS is a phone number (E.164), and only "
                                                "texts on that channel stop.")


def _shown(address: str, channel: str) -> str:
    """The address as the opt-out/opt-in line shows it: an e-mail address as stored, a number with its channel."""
    return address.strip().lower() if channel == "email" else f"{address.strip()} ({channel})"


@contacts.command()
@click.argument("email", metavar="ADDRESS")
@click.option("--survey", "survey_id", metavar="ID", help="Only this survey (default: every survey).")
@click.option("--reason", metavar="TEXT", help="Why, for the record (e.g. 'asked by phone').")
@_CHANNEL
@click.pass_obj
def optout(app: App, email: str, survey_id: str | None, reason: str | None, channel: str) -> None:
    """Never survey ADDRESS (an e-mail address) again (for one survey, or all); queued invitations
    are cancelled. With --channel sms/whatsapp: never text the number ADDRESS on that channel."""
    from tierctl.surveys.suppressions import check_survey, opt_out

    check_survey(app.config(), survey_id)
    with _ledger(app) as ledger:
        added = opt_out(ledger, email, survey_id, "manual", reason, _now(), channel)
    scope = f"survey {survey_id}" if survey_id else "all surveys"
    click.echo(f"{'opted out' if added else 'already opted out'}: {_shown(email, channel)} ({scope})")


@contacts.command()
@click.argument("email", metavar="ADDRESS")
@click.option("--survey", "survey_id", metavar="ID", help="Only this survey's suppression (default: all of them).")
@_CHANNEL
@click.pass_obj
def optin(app: App, email: str, survey_id: str | None, channel: str) -> None:
    """Lift ADDRESS's opt-outs (the person asked to be surveyed again), or a number's on --channel."""
    from tierctl.surveys.suppressions import opt_in

    with _ledger(app) as ledger:
        lifted = opt_in(ledger, email, survey_id, channel)
    click.echo(f"lifted {lifted} suppression(s) of {_shown(email, channel)}")


@contacts.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def suppressions(app: App, as_json: bool) -> None:
    """Every suppressed address or number: channel, scope, source, reason and when."""
    from tierctl.storage.opener import existing_ledger

    config = app.config()
    # Only reads: no ledger yet means no suppressions, and none is created.
    ledger = existing_ledger(config.storage.url, config.base_dir)
    rows = []
    if ledger is not None:
        with ledger:
            rows = ledger.suppressions()
    if as_json:
        click.echo(json.dumps([{k: v for k, v in r.items() if k != "address_hash"} for r in rows],
                              default=str, indent=2))
        return
    for r in rows:
        click.echo(f"{r['created_at'].isoformat(timespec='seconds')}  {r.get('channel', 'email'):<8} "
                   f"{r['address'] or '(forgotten)':<36} {r['survey_id'] or 'all surveys':<20} {r['source']:<8} "
                   f"{r['reason'] or ''}".rstrip())
    click.echo(f"{len(rows)} suppression(s)")


@contacts.command("import-suppressions")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def import_suppressions_cmd(app: App, file: Path) -> None:
    """Suppress every address in FILE.csv (e.g. a mail platform's unsubscribe export).

    The address column is named email, "Email Address", address, contact_email
    or recipient; optional survey and reason columns. Bad rows are listed.
    """
    from tierctl.surveys.suppressions import import_suppressions

    config = app.config()
    with _ledger(app) as ledger:
        result = import_suppressions(config, ledger, file, _now())
    for problem in result.problems[:50]:
        click.echo(f"skipped row: {problem}", err=True)
    click.echo(f"{result.added} new suppression(s), {result.existing} already recorded, "
               f"{len(result.problems)} bad row(s)")
    if result.exit_code:
        sys.exit(result.exit_code)


@contacts.command()
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def forget(app: App, email: str, yes: bool) -> None:
    """Erase EMAIL's personal data (address, free-text answers), keeping anonymous counts.

    Scores and choices stay counted under a pseudonym, so reports do not
    change; an opt-out stays honoured by the address's hash.
    """
    from tierctl.surveys.suppressions import check_address, forget as forget_contact

    address = check_address(email)
    if not yes and sys.stdin.isatty():
        click.confirm(f"Erase {address} from the ledger? This cannot be undone", abort=True)
    with _ledger(app) as ledger:
        counts = forget_contact(ledger, address, _now())
    click.echo(f"forgot {address}: {counts['invitations']} invitation(s) pseudonymised, "
               f"{counts['text_answers']} free-text answer(s) erased, "
               f"{counts['suppressions']} suppression(s) kept by hash only")
