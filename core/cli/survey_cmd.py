"""``tierctl survey``: plan, send and inspect survey invitations."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Callable

import click

from tierctl.cli.app import App
from tierctl.cli.lazy_group import LazyGroup
from tierctl.surveys.breaker import DEFAULT_FAILURES, DEFAULT_MAX_WAIT

log = logging.getLogger("tierctl.send")


class NowType(click.ParamType):
    """An ISO date or date-time; without a zone it is read in the organisation's zone."""

    name = "ISO"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO date or date-time such as 2027-01-05 or "
                      "2027-01-05T09:00:00+01:00", param, ctx)
        # Schedules reach years around the moment (windows, cadences, zones); near the calendar's
        # ends that arithmetic overflows.
        if not 1900 <= moment.year <= 9000:
            self.fail(f"{value!r} is outside the years 1900 to 9000", param, ctx)
        return str(value)


def resolve_now(app: App, value: str | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo(app.config().organization.timezone))
    return moment.astimezone(timezone.utc)


def _not_nan(ctx: Any, param: Any, value: float) -> float:
    # FloatRange lets nan through (it compares as neither below nor above the minimum): no bound at all.
    if value != value:
        raise click.BadParameter("nan is not a number of seconds", ctx, param)
    return value


now_option = click.option("--now", type=NowType(), default=None,
                          help="Act as if it were this moment (test a schedule, backfill). Default: now.")
survey_option = click.option("--survey", "survey", metavar="ID", default=None, help="Only this survey.")


@click.group(cls=LazyGroup, lazy_commands={
    "import": "tierctl.cli.responses_cmd:import_responses",
    "collect": "tierctl.cli.responses_cmd:collect",
    "brief": "tierctl.cli.brief_cmd:brief",
})
def survey() -> None:
    """Plan and send survey invitations; bring responses in."""


@survey.command()
@now_option
@survey_option
@click.option("--json", "as_json", is_flag=True, help="JSON lines: one object per item, then a summary.")
@click.pass_obj
def plan(app: App, now: str | None, survey: str | None, as_json: bool) -> None:
    """Show what a send would do now, changing nothing.

    Lists each due invitation (survey, tier, account, contact, occasion, due
    time) and each deferral with its reason; skips are counted by reason.
    """
    from tierctl.surveys.send_run import SurveyRun

    show_plan(SurveyRun(app.config(), app.host, resolve_now(app, now), survey), as_json, app.leave_to_exit)


def show_plan(run: Any, as_json: bool, leave_to_exit: Callable[..., None] | None = None) -> None:
    """Print a run's plan (``survey plan``, ``touchpoints plan``): a line per item, then counts.

    ``leave_to_exit`` is given the plan's working memory (:meth:`App.leave_to_exit
    <tierctl.cli.app.App.leave_to_exit>`)."""
    from tierctl.surveys.plan_lines import plan_lines
    from tierctl.surveys.plan_parts import write_plan

    write = sys.stdout.write
    ledger = _existing_ledger(run)
    try:
        scheduler = run.scheduler(ledger)
        held = write_plan(scheduler, plan_lines(as_json), sys.stdout)
        if leave_to_exit is not None:
            leave_to_exit(scheduler, held)
    finally:
        if ledger is not None:
            ledger.close()
    summary = scheduler.summary
    if not as_json:
        for survey_id, email in summary.opted_out:
            write(f"skipped   {survey_id:<18} {email:<32} opted out\n")
    for problem in summary.problems:
        click.echo(f"skipped row: {problem}", err=True)
    if summary.problem_count > len(summary.problems):
        click.echo(f"... and {summary.problem_count - len(summary.problems)} more skipped rows", err=True)
    if as_json:
        click.echo(json.dumps({"type": "summary", "now": run.now.isoformat(), "contacts": summary.contacts,
                               "due": summary.due, "deferred": summary.deferred,
                               "skipped": dict(summary.skipped), "bad_rows": summary.problem_count}))
        return
    click.echo(f"{run.now.isoformat()}: {summary.contacts} contacts, {summary.due} due, "
               f"{summary.deferred} deferred, {summary.problem_count} bad rows skipped.")
    for reason, count in sorted(summary.skipped.items()):
        click.echo(f"  skipped {count:>7}  {reason}")


def send_options(noun: str) -> Any:
    """The options ``survey send`` and ``touchpoints send`` share; ``noun`` is what they send."""
    options = [
        click.option("--dry-run", is_flag=True, help="Count what would be sent; send and record nothing."),
        click.option("--limit", type=click.IntRange(min=0), default=None, help=f"Send at most N {noun} this run."),
        click.option("--resend-unknown", is_flag=True,
                     help=f"Resend {noun} a killed run left in doubt (they may reach people twice)."),
        click.option("--log-format", type=click.Choice(["plain", "json"]), default="plain", show_default=True,
                     help="Log lines for cron (plain) or log shippers (json)."),
        click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout."),
    ]

    def apply(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


@survey.command()
@now_option
@survey_option
@send_options("invitations")
@click.option("--max-failure-wait", type=click.FloatRange(min=0), callback=_not_nan, default=DEFAULT_MAX_WAIT,
              show_default=True,
              metavar="SECONDS", help="Stop sending through a provider once this run has spent this long on "
                                      "sends that delivered nothing (the rest is left for the next run).")
@click.option("--breaker-failures", type=click.IntRange(min=1), default=DEFAULT_FAILURES, show_default=True,
              metavar="N", help="Stop sending through a provider after N temporary failures in a row.")
@click.pass_obj
def send(app: App, now: str | None, survey: str | None, dry_run: bool, limit: int | None,
         resend_unknown: bool, log_format: str, as_json: bool, max_failure_wait: float,
         breaker_failures: int) -> None:
    """Send every survey invitation that is due, each exactly once.

    Safe to run from cron as often as you like: a repeated, overlapping or
    killed run never surveys anyone twice. Exit 0 when all went out, 1 when
    some failed (listed), 2 on a config error, 3 when another send holds the
    lock.
    """
    from tierctl.cli.logs import setup_logging
    from tierctl.surveys.send_run import SurveyRun

    config = app.config()
    setup_logging(log_format, redactor=config.redactor())
    run = SurveyRun(config, app.host, resolve_now(app, now), survey)
    run.max_failure_wait, run.breaker_failures = max_failure_wait, breaker_failures
    run_send(run, dry_run, limit, resend_unknown, log_format, as_json, "survey status")


def run_send(run: Any, dry_run: bool, limit: int | None, resend_unknown: bool, log_format: str, as_json: bool,
             status_command: str) -> None:
    """Send what a run has due and print the outcome; exits 1 when some failed (``survey send``,
    ``touchpoints send``)."""
    ledger = run.open_ledger()
    if ledger.created:
        log.warning("new ledger at %s: nothing was sent from here before. If there was a ledger, stop and "
                    "restore it from a backup, or everything due is sent again", ledger.location())
    bar = None
    interactive = sys.stderr.isatty() and log_format == "plain" and not as_json

    def progress(n: int, total: int) -> None:
        nonlocal bar
        if interactive:
            if bar is None:
                bar = click.progressbar(length=total, label="Sending", file=sys.stderr)
                bar.__enter__()
            bar.update(n)
        else:
            progress.done = getattr(progress, "done", 0) + n  # type: ignore[attr-defined]
            log.info("sent batch: %d/%d", progress.done, total)  # type: ignore[attr-defined]

    def on_failure(f: Any) -> None:
        inv = f.invitation
        # Words follow the state the invitation is left in (retry, failed, unknown).
        if getattr(f, "needs_fix", False):
            after = " (not sent; queued until the provider's settings are fixed)"
        elif f.retry:
            after = " (will retry next run)"
        elif getattr(f, "unknown", False):
            after = " (may have been delivered: unknown, not resent; see --resend-unknown)"
        else:
            after = ""
        log.warning("failed: %s to %s (%s): %s%s", inv.survey_id, inv.contact_email, inv.occasion, f.reason, after)

    try:
        report = run.send(ledger, dry_run=dry_run, limit=limit, resend_unknown=resend_unknown,
                          progress=progress, on_failure=on_failure)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
        ledger.close()
    summary = report.summary
    if summary is not None:
        for problem in summary.problems:
            log.warning("skipped row: %s", problem)
    if as_json:
        click.echo(json.dumps({"now": report.now.isoformat(), "dry_run": report.dry_run, "run_id": report.run_id,
                               **report.counts(), "provider_errors": report.provider_errors,
                               "failures": [{"invite_id": f.invitation.invite_id, "survey": f.invitation.survey_id,
                                             "contact": f.invitation.contact_email, "reason": f.reason,
                                             "retry": f.retry} for f in report.failures]}))
    else:
        verb, sent = ("would send", report.due - report.not_sent) if dry_run else ("sent", report.sent)
        click.echo(f"{report.now.isoformat()}: {verb} {sent} of {report.due} due, "
                   f"{len(report.failures)} failed, {report.deferred} deferred"
                   + (f", {report.not_sent} left for the next run" if report.not_sent else "")
                   + (f", {report.elsewhere} sent by other runners" if report.elsewhere else "")
                   + (f", {len(report.unknown_found)} in doubt from a stopped run (see {status_command})"
                      if report.unknown_found else "") + ".")
        for f in report.failures:
            inv = f.invitation
            click.echo(f"  failed  {inv.survey_id} {inv.contact_email} {inv.occasion}: {f.reason}", err=True)
        for survey_id, email in (summary.opted_out if summary is not None else ()):
            click.echo(f"  skipped {survey_id} {email}: opted out")
        for message in report.provider_errors:
            click.echo(f"  error   {message}", err=True)
    if report.exit_code:
        sys.exit(report.exit_code)


@survey.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def status(app: App, as_json: bool) -> None:
    """Counts per survey and state, invitations in doubt, and the last runs."""
    from tierctl.surveys.send_run import SurveyRun

    show_status(SurveyRun(app.config(), app.host), as_json, "survey",
                lambda survey_id: not survey_id.startswith("message:"), "tierctl survey send --resend-unknown")


def show_status(run: Any, as_json: bool, noun: str, mine: Any, resend: str) -> None:
    """Counts per survey (or message) and state, those in doubt, the last runs; ``mine(ledger_id)``
    picks the rows this command owns."""
    ledger = _existing_ledger(run)
    if ledger is None:
        counts, unknown, runs, suppressions, deliveries, undelivered = {}, [], [], [], {}, []
    else:
        try:
            counts, unknown, runs = ledger.status_counts(), ledger.invitations(state="unknown"), \
                ledger.recent_runs(10)
            suppressions = ledger.suppressions()
            deliveries = ledger.delivery_counts()
            undelivered = [t for t in ledger.undelivered_texts(200) if mine(t["survey_id"])][:20]
        finally:
            ledger.close()
    counts = {k: v for k, v in counts.items() if mine(k)}
    deliveries = {k: v for k, v in deliveries.items() if mine(k)}
    unknown = [row for row in unknown if mine(row.get("survey_id", ""))]
    if as_json:
        click.echo(json.dumps({"counts": counts, "delivery": deliveries, "undelivered_texts": undelivered,
                               "unknown": unknown, "runs": runs,
                               "suppressions": _suppression_counts(suppressions)}, default=str, indent=2))
        return
    states = ["deferred", "sending", "sent", "retry", "failed", "unknown"]
    click.echo(f"{noun:<30}" + "".join(f"{s:>10}" for s in states))
    ids = set(run.config.surveys) if noun == "survey" else {f"message:{m}" for m in run.config.messages}
    for survey_id in sorted(ids | set(counts)):
        row = counts.get(survey_id, {})
        click.echo(f"{survey_id:<30}" + "".join(f"{row.get(s, 0):>10}" for s in states))
    if deliveries:  # texts whose platform reported back (a failed text is not resent: see README)
        click.echo("\ntexts by delivery receipt:")
        receipts = ["delivered", "read", "undelivered", "failed"]
        for survey_id, row in sorted(deliveries.items()):
            click.echo(f"  {survey_id:<28}" + "".join(f"{row.get(s, 0):>8} {s}" for s in receipts))
        if undelivered:
            click.echo("  not delivered, and not resent (check these contacts' numbers; newest first):")
            for t in undelivered:
                code = f" error {t['error_code']}" if t["error_code"] else ""
                click.echo(f"    {t['survey_id']}  {t['contact_email']}  {t['channel']} {t['delivery']}{code}")
    scopes = _suppression_counts(suppressions)
    click.echo(f"\nsuppressions (opted out): {scopes['all_surveys']} of all surveys"
               + "".join(f", {n} of {sid}" for sid, n in sorted(scopes["by_survey"].items()))
               + "".join(f", {n} {channel} number(s)" for channel, n in sorted(scopes["by_channel"].items()))
               + " (tierctl contacts suppressions)")
    if unknown:
        click.echo(f"\n{len(unknown)} in doubt (a run stopped while sending them); they are not "
                   f"resent unless you run `{resend}`:")
        for row in unknown:
            click.echo(f"  {row.get('invite_id')}  {row.get('survey_id')}  {row.get('contact_email')}  "
                       f"{row.get('occasion')}")
    if runs:
        click.echo("\nlast runs:")
        for r in runs:
            click.echo(f"  #{r.get('id')} {r.get('kind')} {r.get('started_at')} {r.get('status') or 'running?'} "
                       f"{json.dumps(r.get('counts') or {}, default=str)}")


def _suppression_counts(suppressions: list[dict[str, Any]]) -> dict[str, Any]:
    by_survey: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for s in suppressions:
        channel = s.get("channel", "email")
        if channel != "email":  # a number's opt-out of texts on one channel
            by_channel[channel] = by_channel.get(channel, 0) + 1
        elif s["survey_id"] is not None:
            by_survey[s["survey_id"]] = by_survey.get(s["survey_id"], 0) + 1
    return {"all_surveys": sum(1 for s in suppressions if s["survey_id"] is None and s.get("channel", "email") == "email"),
            "by_survey": by_survey, "by_channel": by_channel}


def _existing_ledger(run: Any) -> Any:
    """The ledger if it exists: planning and status must not create state."""
    from tierctl.storage.opener import existing_ledger

    return existing_ledger(run.config.storage.url, run.config.base_dir)


