"""Plan, send and report survey invitations: the engine behind ``tierctl survey``.

``send`` is built so that a run that is repeated, overlapped or killed
half-way never surveys anyone twice and never forgets anyone:

1. it takes the ledger's send lock (a second run exits with code 3) --
   unless the ledger lets several runners send at once
   (``Ledger.concurrent_sends``, PostgreSQL): then runners on any number of
   machines share the work, each claiming batches until none are left, and
   draw from one rate-limit bucket per provider kept in the ledger;
2. invitations a dead run left in ``sending`` become ``unknown`` (reported;
   resent only with ``resend_unknown``); with concurrent runners, only those
   of runs whose lease lapsed;
3. each batch is written to the ledger as ``sending`` *before* the provider
   is called, under a unique (survey, contact, occasion) key, and marked
   ``sent``/``retry``/``failed`` after.

A kill between 3's write and mark leaves at most one batch ``unknown``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator

from tierctl.errors import TierctlError
from tierctl.providers import Provider, ProviderError
from tierctl.records import Invitation, SendResult
from tierctl.surveys.breaker import DEFAULT_FAILURES, DEFAULT_MAX_WAIT, Breaker
from tierctl.surveys.fatigue import WEEK
from tierctl.surveys.quiet import QUIET_CHANNELS, QuietClock
from tierctl.surveys.plan_records import Deferral, PlanSummary
from tierctl.surveys.scheduler import Scheduler, shift

if TYPE_CHECKING:
    from tierctl.storage.ledger import Ledger
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

log = logging.getLogger("tierctl.send")


# base64url's 64 characters in ASCII order, so that ids sort like the numbers they encode.
_ID_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_ID_TIME_BITS = 42  # milliseconds since 1970, until 2109 (then the order starts again)
_ID_RANDOM_BITS = 72  # 42 + 72 = 114 bits: 19 characters, the first one a letter


def new_invite_id() -> str:
    """A URL- and file-name-safe id of 19 characters: 42 bits of the time in ms, then 72 random bits.

    Never guessable from the contact. Ids made later sort after earlier ones
    (to the millisecond), so the ledger's index of ids is written and read
    near its end, where the newest invitations are: an import of a day's
    responses looks them up among neighbours, not all over the file.
    """
    return invite_id_at(time.time_ns() // 1_000_000, secrets.randbits(_ID_RANDOM_BITS))


def invite_id_at(ms: int, random_bits: int) -> str:
    """The invite id of :func:`new_invite_id` for a time (ms since 1970) and 72 random bits."""
    number = (ms % (1 << _ID_TIME_BITS)) << _ID_RANDOM_BITS | (random_bits % (1 << _ID_RANDOM_BITS))
    out = []
    for _ in range(19):
        number, digit = divmod(number, 64)
        out.append(_ID_ALPHABET[digit])
    return "".join(reversed(out))


@dataclass
class Failure:
    """One invitation that did not go out this run.

    ``retry``: the next run tries it again. ``needs_fix``: the provider refused
    the whole run (``ProviderError(retry=False)``: a revoked key, a wrong URL);
    nothing was sent, so the invitation stays ``retry``, but the next run
    only succeeds once the provider's settings are fixed.
    """

    invitation: Invitation
    reason: str
    retry: bool
    needs_fix: bool = False
    unknown: bool = False  # it may have reached the person: 'unknown', never resent on its own


@dataclass
class SendReport:
    """What a send did; ``exit_code`` follows ``tierctl --help``."""

    now: datetime
    dry_run: bool = False
    run_id: int | None = None
    due: int = 0
    sent: int = 0
    deferred: int = 0
    not_sent: int = 0  # due but left for a later run (--limit, stopped provider)
    elsewhere: int = 0  # due, but claimed by another runner sending at the same time
    failures: list[Failure] = field(default_factory=list)
    unknown_found: list[dict[str, Any]] = field(default_factory=list)
    requeued_unknown: int = 0
    provider_errors: list[str] = field(default_factory=list)
    summary: PlanSummary | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.failures or self.provider_errors else 0

    def counts(self) -> dict[str, int]:
        return {"due": self.due, "sent": self.sent, "failed": len(self.failures), "deferred": self.deferred,
                "not_sent": self.not_sent, "unknown_found": len(self.unknown_found), "elsewhere": self.elsewhere}


class SurveyRun:
    """One invocation of the survey engine at a moment ``now``."""

    def __init__(self, config: "Config", host: "PluginHost", now: datetime | None = None,
                 survey: str | None = None):
        if survey is not None and survey not in config.surveys:
            from tierctl.util.suggest import did_you_mean, one_of

            raise TierctlError(f"no survey {survey!r}{did_you_mean(survey, config.surveys)}; "
                               f"surveys in {config.path}: {one_of(config.surveys)}")
        self.config = config
        self.host = host
        self.now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.survey = survey
        #: The engine's circuit breaker (tierctl.surveys.breaker): temporary failures in a row, and seconds of
        #: failing sends, after which a provider is not used again in this run.
        self.breaker_failures = DEFAULT_FAILURES
        self.max_failure_wait = DEFAULT_MAX_WAIT

    # --- ledger -------------------------------------------------------------

    def open_ledger(self) -> "Ledger":
        from tierctl.storage.opener import open_ledger

        return open_ledger(self.config.storage.url, self.config.base_dir, redact=self.config.redactor())

    # --- planning -------------------------------------------------------------

    def scheduler(self, ledger: "Ledger | None") -> Scheduler:
        from tierctl.surveys.instances import build_customer_source, build_meeting_source

        scheduler = Scheduler(self.config, self.now, build_customer_source(self.config, self.host),
                              build_meeting_source(self.config, self.host), only_survey=self.survey,
                              text_channels=self.text_channels())
        if ledger is not None:
            scheduler.start_meetings()  # a big calendar is read (in another process) while the ledger is
            last, week = self.fatigue_inputs(ledger)
            scheduler.use_ledger_facts(ledger.known_keys(self.now), last, week, ledger.suppressed())
        return scheduler

    def text_channels(self) -> dict[str, str]:
        """``survey_id -> sms/whatsapp`` for surveys whose provider sends texts (its ``channel``
        option, else the plugin's channel)."""
        out = {}
        for sid, survey in self.config.surveys.items():
            entry = self.config.providers.get(survey.provider or "")
            plugin = self.host.providers.get(entry.plugin) if entry is not None else None
            channel = getattr(plugin, "channel", "email")
            if channel in QUIET_CHANNELS:
                options = self.config.plugin_options("providers", survey.provider)
                out[sid] = getattr(options, "channel", None) or channel
        return out

    def fatigue_inputs(self, ledger: "Ledger | None") -> tuple[dict[str, datetime], dict[str, list[datetime]]]:
        """What the fatigue cap needs from the ledger: last contact per person, and the last 7 days'."""
        throttle = self.config.throttle
        last: dict[str, datetime] = {}
        week: dict[str, list[datetime]] = {}
        if ledger is not None and throttle is not None:
            if throttle.per_contact is not None:
                last = ledger.last_surveyed(shift(self.now, throttle.per_contact, -1))
            if throttle.messages_per_week is not None:
                week = ledger.contact_times(self.now - WEEK)
        return last, week

    def plan(self, ledger: "Ledger | None" = None) -> tuple[Scheduler, Iterator[Invitation | Deferral]]:
        """The plan, changing nothing. Read the summary after exhausting the iterator."""
        scheduler = self.scheduler(ledger)
        return scheduler, scheduler.plan()
    # --- sending --------------------------------------------------------------

    def send(self, ledger: "Ledger", dry_run: bool = False, limit: int | None = None,
             resend_unknown: bool = False, progress: Callable[[int, int], None] | None = None,
             on_failure: Callable[[Failure], None] | None = None) -> SendReport:
        """Send what is due now; see the module docstring for the guarantees."""
        report = SendReport(now=self.now, dry_run=dry_run)
        if dry_run:
            scheduler, items = self.plan(ledger)
            for item in items:
                if isinstance(item, Deferral):
                    report.deferred += 1
                else:
                    report.due += 1
            report.not_sent = _over_limit(report.due, limit)
            report.summary = scheduler.summary
            return report

        # Concurrent runners need no lock: their claims are disjoint, and their leases tell dead runs apart.
        with nullcontext() if ledger.concurrent_sends else ledger.lock("send"):
            report.unknown_found = ledger.mark_stale_sending(self.now)
            for row in report.unknown_found:
                log.warning("invitation %s (%s to %s, %s) was being sent when a run stopped; it may or may not "
                            "have gone out, so it is not resent (use --resend-unknown to resend)",
                            row.get("invite_id"), row.get("survey_id"), row.get("contact_email"),
                            row.get("occasion"))
            if resend_unknown:
                report.requeued_unknown = ledger.requeue_unknown(self.now)
            # Runs are stamped with the real clock: --now changes what is due, not when the run happened.
            report.run_id = ledger.begin_run("send", datetime.now(timezone.utc))
            status = "failed"
            try:
                self._send_due(ledger, report, limit, progress, on_failure)
                status = "ok" if report.exit_code == 0 else "partial"
            finally:
                ledger.finish_run(report.run_id, datetime.now(timezone.utc), status, report.counts())
        return report

    def _send_due(self, ledger: "Ledger", report: SendReport, limit: int | None,
                  progress: Callable[[int, int], None] | None,
                  on_failure: Callable[[Failure], None] | None) -> None:
        from tierctl.surveys.instances import build_providers

        scheduler, items = self.plan(ledger)
        due: dict[str, list[Invitation]] = defaultdict(list)
        deferred: list[Deferral] = []
        texting = self._texting_providers()
        quiet = QuietClock(self.config.quiet_hours, self.now, self.config.organization.timezone)
        for item in items:
            if isinstance(item, Deferral):
                deferred.append(item)
                continue
            provider = self.provider_of(item.survey_id)
            if provider in texting:
                until = quiet.until(item.timezone)
                if until is not None:  # an SMS at night waits for the morning, in the contact's zone
                    deferred.append(Deferral(item, until, f"quiet hours until {until.isoformat()}"))
                    continue
            due[provider].append(self.prepared(item))
        report.summary = scheduler.summary
        report.due = sum(len(v) for v in due.values())
        report.deferred = len(deferred)
        throttled = self.throttled()
        if deferred:
            by_provider: dict[str, list[Deferral]] = defaultdict(list)
            for d in deferred:
                by_provider[self.provider_of(d.invitation.survey_id)].append(d)
            for provider_name, items_ in by_provider.items():
                invs = [replace(d.invitation, invite_id=new_invite_id()) for d in items_]
                ledger.record_deferred(invs, {i.invite_id: d.reason for i, d in zip(invs, items_)},
                                       self.now, provider_name, throttled)

        report.not_sent = _over_limit(report.due, limit)
        budget = report.due - report.not_sent
        providers = build_providers(self.config, self.host, set(due))
        shared = []
        for name, provider in providers.items():
            # One bucket for every runner of this ledger, so that together they keep the platform's limit.
            bucket = ledger.shared_limiter(name, provider.rate_limit) if provider.rate_limit is not None else None
            if bucket is not None:
                provider.limiter = bucket
                shared.append(bucket)
        try:
            remaining = budget
            for name, invitations in due.items():
                take = invitations[:remaining]
                remaining -= len(take)
                self._send_through(name, providers[name], take, ledger, report, throttled, budget,
                                   progress, on_failure)
        finally:
            for provider in providers.values():
                try:
                    provider.close()
                except Exception:  # closing must not hide the run's outcome
                    log.warning("provider %s did not close cleanly", provider.instance, exc_info=True)
            for bucket in shared:
                bucket.close()

    def _texting_providers(self) -> set[str]:
        """Provider instances that send texts (SMS, WhatsApp): quiet hours hold their invitations back."""
        if self.config.quiet_hours is None:
            return set()
        return {name for name, entry in self.config.providers.items()
                if getattr(self.host.providers.get(entry.plugin), "channel", "email") in QUIET_CHANNELS}

    # --- what a subclass (the touchpoints run) changes -------------------------

    def provider_of(self, survey_id: str) -> str:
        """The provider instance that sends this survey's invitations."""
        provider = self.config.surveys[survey_id].provider
        assert provider is not None  # the config check requires one
        return provider

    def throttled(self) -> dict[str, bool]:
        """``survey_id -> whether it counts against the fatigue cap`` (missing means it does)."""
        return {sid: s.throttle != "exempt" for sid, s in self.config.surveys.items()}

    def prepared(self, invitation: Invitation) -> Invitation:
        """A due invitation as it is claimed and handed to the provider: with a new invite id."""
        return replace(invitation, invite_id=new_invite_id())

    def _send_through(self, name: str, provider: "Provider", invitations: list[Invitation], ledger: "Ledger",
                      report: SendReport, throttled: dict[str, bool], total: int,
                      progress: Callable[[int, int], None] | None,
                      on_failure: Callable[[Failure], None] | None) -> None:
        """Claim, send and record one provider's invitations, a batch at a time (:func:`send_batches`)."""
        from tierctl.surveys.batches import send_batches

        claimed = 0
        try:
            breaker = Breaker(name, failures=self.breaker_failures, max_wait=self.max_failure_wait)
            for outcome in send_batches(provider, invitations, ledger, report.run_id, self.now,  # type: ignore[arg-type]
                                        throttled, breaker=breaker):
                claimed += len(outcome.claimed)
                if outcome.stopped:
                    claimed += outcome.left_after  # not reached: left for a later run, not taken by another
                if outcome.tripped:
                    message = (f"{outcome.tripped}; {outcome.left_after} invitation(s) left for the next run, "
                               "the failed ones as 'retry'")
                    report.provider_errors.append(message)
                    report.not_sent += outcome.left_after
                    log.error("%s", message)
                    return
                if outcome.crash is not None:  # a provider bug: name it, keep the ledger honest
                    exc = outcome.crash
                    report.provider_errors.append(f"provider {name} ({provider.name}) crashed: "
                                                  f"{type(exc).__name__}: {exc}")
                    log.error("provider %s crashed; its batch stays 'sending' and becomes 'unknown' "
                              "at the next run", name, exc_info=exc)
                    report.not_sent += outcome.left_after
                    return
                if outcome.error is not None:
                    # ProviderError: the batch is kept for the next run; MaybeSent: it is 'unknown'.
                    # Either way, stop using this provider for now.
                    needs_fix = isinstance(outcome.error, ProviderError) and not outcome.error.retry
                    self._note_failures(outcome.claimed, outcome.results, report, on_failure, needs_fix)
                    kept = len(outcome.claimed) + outcome.left_after
                    if needs_fix:
                        # Run-level: nothing went out, so 'retry' is the right state; say what to fix.
                        message = (f"{outcome.error}; nothing was sent through provider {name} in this run: fix its "
                                   f"settings (credentials, URL, account) and run again; its {kept} invitation(s) "
                                   "stay queued ('retry') until then")
                    else:
                        message = f"{outcome.error}; {outcome.left_after} invitation(s) of this provider are left " \
                                  "for the next run"
                    report.provider_errors.append(message)
                    report.not_sent += outcome.left_after
                    log.error("%s", message)
                    return
                if outcome.missing:
                    # Without a result we cannot know whether they went out: they stay
                    # 'sending' and become 'unknown' at the next run.
                    report.provider_errors.append(f"provider {name} returned no result for {len(outcome.missing)} "
                                                  "invitation(s); they are listed as unknown by the next run")
                self._suppress_opted_out(name, outcome.claimed, outcome.results, ledger)
                report.sent += sum(1 for r in outcome.results if r.ok)
                self._note_failures(outcome.claimed, outcome.results, report, on_failure)
                if progress is not None:
                    progress(outcome.offered, total)
        finally:
            # What the ledger refused was claimed by another runner sending at the same time.
            report.elsewhere += len(invitations) - claimed

    def _suppress_opted_out(self, name: str, claimed: list[Invitation], results: list[SendResult],
                            ledger: "Ledger") -> None:
        """Addresses the platform reports as opted out or bouncing become suppressions (source provider)."""
        by_id = {i.invite_id: i for i in claimed}
        for r in results:
            if r.opted_out and not r.ok and r.invite_id in by_id:
                ledger.add_suppression(by_id[r.invite_id].contact_email, None, "provider",
                                       f"{name}: {r.reason or 'opted out'}", self.now)

    @staticmethod
    def _note_failures(claimed: list[Invitation], results: list[SendResult], report: SendReport,
                       on_failure: Callable[[Failure], None] | None, needs_fix: bool = False) -> None:
        by_id = {i.invite_id: i for i in claimed}
        for r in results:
            if not r.ok:
                failure = Failure(by_id[r.invite_id], r.reason or "unknown reason", r.retry, needs_fix,
                                  bool(getattr(r, "unknown", False)))
                report.failures.append(failure)
                if on_failure is not None:
                    on_failure(failure)


def _over_limit(due: int, limit: int | None) -> int:
    """How many of ``due`` a run with ``--limit`` leaves for the next run."""
    return 0 if limit is None else max(0, due - limit)
