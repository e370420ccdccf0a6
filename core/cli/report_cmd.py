"""``tierctl report``: survey metrics per tier and period."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierctl.cli.app import App

if TYPE_CHECKING:
    from tierctl.config.model import Config


@click.command()
@click.option("--survey", "survey", metavar="ID", default=None, help="Only this survey.")
@click.option("--tier", "tier", metavar="ID", default=None, help="Only this tier.")
@click.option("--period", "period", type=click.Choice(["month", "quarter", "half-year", "year"]), default="quarter",
              show_default=True, help="Group responses by the month, quarter, half-year or year they were due.")
@click.option("--language", "language", metavar="CODE", default=None,
              help="Write the report in this language (nl, de, en, ...). Default: organization.language.")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json", "csv"]), default="md", show_default=True,
              help="md for a ticket or wiki, html for people, json for tools, csv for spreadsheets.")
@click.option("-o", "--out", "out", metavar="PATH", default=None, help="Write to this file instead of stdout.")
@click.pass_obj
def report(app: App, survey: str | None, tier: str | None, period: str, fmt: str, out: str | None,
           language: str | None) -> None:
    """Survey metrics per tier and period: NPS, CSAT, CES, ratings, choices,
    response rate, with counts, trends and benchmarks.

    A figure without answers is left empty. The response rate counts
    delivered invitations only (failed, retry, deferred and unknown ones are
    left out, and the report says how many). The html page is
    self-contained: open it in any browser, mail it, print it.
    """
    from tierctl.errors import TierctlError
    from tierctl.util.files import atomic_write
    from tierctl.storage.opener import existing_ledger
    from tierctl.publish.report import NOTHING_SENT, build_report, check_scope, write_report
    from tierctl.config.localize import language_note, localize, output_language
    from tierctl.i18n import use_language

    config = app.config()
    language = output_language(config, language)
    note = language_note(config, language)
    if note:
        click.echo(f"tierctl: warning: {note}", err=True)
    config = localize(config, language)  # survey titles, tier names and questions in that language
    ledger = existing_ledger(config.storage.url, config.base_dir)
    if ledger is None:
        check_scope(config, None, survey, tier)
        raise TierctlError(NOTHING_SENT)
    with use_language(language):
        with ledger:
            result = build_report(config, ledger, period, survey, tier, with_text=fmt in ("md", "html"),
                                  helpdesk_counts=ledger.helpdesk_rating_counts(), language=language,
                                  helpdesk_benchmarks=_published_benchmarks(app, config))
        text = write_report(result, fmt, config, app.host)
    if result.stale_days:
        click.echo(f"tierctl: note: {result.stale_days} day(s) of responses were not in the metrics rollup "
                   "and were counted from the raw answers", err=True)
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, text.encode("utf-8"))
    except OSError as exc:
        raise TierctlError(f"cannot write the report to {out}: {exc.strerror or exc}; "
                           "choose another path with --out") from exc
    click.echo(f"report: {fmt} written to {target}", err=True)


def _published_benchmarks(app: App, config: "Config") -> dict[str, Any]:
    """Each configured helpdesk's own published CSAT (its plugin's ``csat_benchmark``)."""
    out = {}
    for name, entry in config.helpdesks.items():
        if entry.plugin in app.host.helpdesks:
            benchmark = getattr(app.host.helpdesks[entry.plugin], "csat_benchmark", None)
            if benchmark is not None:
                out[name] = benchmark
    return out
