"""``tierctl survey import`` and ``tierctl survey collect``: bring responses in."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

import click

from tierctl.cli.app import App
from tierctl.cli.survey_cmd import NowType, resolve_now

#: Bad rows printed on stderr; the rest are counted.
SHOWN_PROBLEMS = 50
#: Files at least this big get a progress bar at a terminal, progress lines otherwise.
PROGRESS_BYTES = 8 * 1024 * 1024


def _open_ledger(app: App) -> Any:
    """The ledger; responses answer sent invitations, so a missing one is an error, not created."""
    from tierctl.errors import TierctlError
    from tierctl.storage.opener import existing_ledger

    config = app.config()
    ledger = existing_ledger(config.storage.url, config.base_dir, read_only=False, redact=config.redactor())
    if ledger is None:
        raise TierctlError("nothing sent yet: responses are linked to the invitations in the ledger "
                           f"({config.storage.url}), and there is none; run tierctl survey send first")
    return ledger


class _Problems:
    """Prints the first :data:`SHOWN_PROBLEMS` problems on stderr as they come, then counts."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, problem: Any) -> None:
        self.count += 1
        if self.count <= SHOWN_PROBLEMS:
            click.echo(str(problem), err=True)

    def close(self) -> None:
        if self.count > SHOWN_PROBLEMS:
            click.echo(f"... and {self.count - SHOWN_PROBLEMS} more", err=True)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--survey", "survey_id", metavar="ID", required=True, help="The survey these are responses to.")
@click.option("--encoding", default="utf-8-sig", show_default=True,
              help="The file's encoding, e.g. cp1252 for an Excel export on Windows.")
@click.option("--delimiter", default=",", show_default=True, help="The field separator, e.g. ';'.")
@click.option("--now", type=NowType(), default=None,
              help="Act as if it were this moment (responses after it are refused). Default: now.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout.")
@click.pass_obj
def import_responses(app: App, file: str, survey_id: str, encoding: str, delimiter: str, now: str | None,
                     as_json: bool) -> None:
    """Import responses from a CSV export of any survey tool.

    \b
    Columns (one row per response):
      invite_id      the id carried in the survey link (preferred), or
      contact_email  the address it was sent to: linked to the latest sent
                     invitation of the survey due before the response
      submitted_at   ISO 8601, e.g. 2026-11-24T10:15:00Z; without a zone it
                     is in organization.timezone; a date alone is midnight
      <question id>  one column per question of the survey; empty = not answered

    Each answer is checked against its question (nps 0-10, csat 1-5, ces
    1-7, rating within its scale, choice one of its choices). Bad rows
    (unknown invite id, an answer outside its scale, an unparsable date, ...)
    are listed as FILE:LINE: why on stderr and skipped; the good rows are
    kept. Importing the same file again adds nothing.

    A submitted_at more than 15 minutes after now is a bad row (a response
    cannot come from the future; --now sets now for a backfill).

    \b
    Exit codes: 0 every row imported (or there already); 1 the good rows
    were imported, but bad rows were skipped (listed) or a plugin's
    response_received hook failed (listed); 2 unreadable file, unknown
    survey or bad config (a file that turns out unreadable half-way keeps
    the rows stored before that point; import it again when fixed).
    """
    from tierctl.responses.csv_import import import_csv

    config = app.config()
    if len(delimiter) != 1:
        raise click.BadParameter(f"must be one character, got {delimiter!r}", param_hint="--delimiter")
    problems = _Problems()
    progress = _Progress(file)
    as_of = resolve_now(app, now) if now is not None else None
    with _open_ledger(app) as ledger:
        received = datetime.now(timezone.utc)
        run_id = ledger.begin_run("import", received)
        status = "failed"
        result = None
        try:
            result = import_csv(config, ledger, app.host, file, survey_id, received, problems,
                                encoding=encoding, delimiter=delimiter, progress=progress, as_of=as_of)
            status = "ok" if result.exit_code == 0 else "partial"
        finally:
            progress.close()
            ledger.finish_run(run_id, datetime.now(timezone.utc), status,
                              result.counts() if result is not None else {})
    problems.close()
    for warning in result.warnings:
        click.echo(f"tierctl: warning: {warning}", err=True)
    for message in result.hook_errors[:SHOWN_PROBLEMS]:
        click.echo(f"  error   {message}", err=True)
    if len(result.hook_errors) > SHOWN_PROBLEMS:
        click.echo(f"  ... and {len(result.hook_errors) - SHOWN_PROBLEMS} more hook errors", err=True)
    if as_json:
        click.echo(json.dumps({"file": file, "survey": survey_id, "rows": result.rows, "added": result.added,
                               "duplicates": result.duplicates, "bad_rows": result.bad_rows,
                               "warnings": result.warnings,
                               "problems": [{"file": p.file, "line": p.line, "message": p.message}
                                            for p in result.problems],
                               "hook_errors": result.hook_errors}))
    else:
        click.echo(f"{file}: {result.added} added, {result.duplicates} duplicate{'s' * (result.duplicates != 1)}, "
                   f"{result.bad_rows} bad row{'s' * (result.bad_rows != 1)} skipped "
                   f"({result.rows} row{'s' * (result.rows != 1)} read).")
    if result.exit_code:
        sys.exit(result.exit_code)


class _Progress:
    """A progress bar on stderr at a terminal for big files; plain lines on stderr otherwise."""

    def __init__(self, file: str):
        import os

        try:
            size = os.path.getsize(file)
        except OSError:
            size = 0
        self.enabled = size >= PROGRESS_BYTES
        self.interactive = sys.stderr.isatty()
        self.bar: Any = None
        self.done = 0
        self.last_line = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.interactive:
            if self.bar is None:
                self.bar = click.progressbar(length=total, label="Importing", file=sys.stderr)
                self.bar.__enter__()
            self.bar.update(done - self.done)
        else:
            import time

            if time.monotonic() - self.last_line >= 5:
                self.last_line = time.monotonic()
                click.echo(f"importing: {done * 100 // max(total, 1)}% of {total // 1024 // 1024} MiB", err=True)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command()
@click.option("--since", type=NowType(), default=None,
              help="Fetch responses since this ISO time instead of since the stored position "
                   "(without a zone: organization.timezone).")
@click.option("--survey", "survey_id", metavar="ID", default=None, help="Only this survey.")
@click.option("--now", type=NowType(), default=None,
              help="Act as if it were this moment (responses after it are refused). Default: now.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout.")
@click.pass_obj
def collect(app: App, since: str | None, survey_id: str | None, now: str | None, as_json: bool) -> None:
    """Fetch new responses from every provider that can fetch them.

    Each provider is asked for what is new since its stored position (kept
    per provider and survey in the state database); responses already
    stored are recognised by their id and skipped, so overlapping fetches
    are harmless. Providers that cannot fetch (smtp, outbox) are skipped
    with a note: import their responses with `tierctl survey import`.

    \b
    Exit codes: 0 done; 1 bad responses were skipped (listed), or a
    provider or a plugin hook failed (named; the other providers were
    still asked); 2 bad config; 3 another collect is running.
    """
    from tierctl.responses.collect import collect as collect_responses

    config = app.config()
    moment = resolve_now(app, since) if since is not None else None
    problems = _Problems()
    with _open_ledger(app) as ledger:
        received = datetime.now(timezone.utc)
        run_id = ledger.begin_run("collect", received)
        status, result = "failed", None
        try:
            result = collect_responses(config, ledger, app.host, since=moment, now=received, survey=survey_id,
                                       report=problems, as_of=resolve_now(app, now) if now is not None else None)
            status = "ok" if result.exit_code == 0 else "partial"
        finally:
            ledger.finish_run(run_id, datetime.now(timezone.utc), status,
                              result.counts() if result is not None else {})
    problems.close()
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for message in result.errors:
        click.echo(f"  error   {message}", err=True)
    for message in result.hook_errors[:SHOWN_PROBLEMS]:
        click.echo(f"  error   {message}", err=True)
    if as_json:
        click.echo(json.dumps({"added": result.added, "duplicates": result.duplicates, "bad": result.bad,
                               "fetches": [f.as_dict() for f in result.fetches],
                               "notes": result.notes, "errors": result.errors, "problems": result.problems,
                               "hook_errors": result.hook_errors}))
    else:
        for f in result.fetches:
            click.echo(f"{f.provider} {f.survey_id}: {f.added} added, {f.duplicates} duplicates, {f.bad} bad"
                       + (" (failed)" if f.error else ""))
        click.echo(f"collected {result.added} new response{'s' * (result.added != 1)} from "
                   f"{len({f.provider for f in result.fetches})} provider(s); {result.duplicates} already stored, "
                   f"{result.bad} bad.")
    if result.exit_code:
        sys.exit(result.exit_code)
