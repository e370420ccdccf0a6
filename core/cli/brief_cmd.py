"""``tierctl survey brief``: an account's pre-meeting answers, for the agent before the call."""

from __future__ import annotations

import json

import click

from tierctl.cli.app import App
from tierctl.cli.survey_cmd import NowType, now_option, resolve_now


@click.command()
@click.argument("account")
@click.option("--meeting", type=NowType(), default=None,
              help="The meeting's start (ISO; without a zone: organization.timezone), or its date. "
                   "Default: the next meeting at or after now.")
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the brief as JSON, for tools.")
@click.option("--language", "language", metavar="CODE", default=None,
              help="Write the brief in this language (nl, de, en, ...). Default: organization.language.")
@click.pass_obj
def brief(app: App, account: str, meeting: str | None, now: str | None, as_json: bool,
          language: str | None) -> None:
    """What ACCOUNT's stakeholders answered before its next call.

    ACCOUNT is an account id (or an account's exact name). Shows the
    meeting's time, who got the pre-meeting survey, who answered when and
    what (each answer with its question; scores with their scale, e.g.
    CSAT 4/5), and who has not answered yet.

    Exit code 0 (also when nothing was sent yet: the brief says so); 2 for
    an unknown account or meeting, or a bad config. The contact moments an
    account manager owes (reviews, calls) are listed by `tierctl touchpoints
    due --owner EMAIL`.
    """
    from tierctl.config.localize import language_note, localize, output_language
    from tierctl.i18n import _, use_language
    from tierctl.publish.brief import build_brief
    from tierctl.storage.opener import existing_ledger

    config = app.config()
    language = output_language(config, language)
    note = language_note(config, language)
    if note:
        click.echo(f"tierctl: warning: {note}", err=True)
    config = localize(config, language)  # survey titles and questions in that language
    # Reading only: a missing ledger (nothing sent yet) is not created.
    ledger = existing_ledger(config.storage.url, config.base_dir)
    with use_language(language):
        try:
            result = build_brief(config, ledger, app.host, account, resolve_now(app, now), meeting)
        finally:
            if ledger is not None:
                ledger.close()
        if as_json:
            click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        else:
            click.echo(result.text(), nl=False)
            if any(not c.automated for t in config.tiers.values() for c in t.contact_cadence.values()):
                click.echo(_("Contact moments owed to this and other accounts: %(command)s") % {
                    "command": "tierctl touchpoints due --owner EMAIL"})
