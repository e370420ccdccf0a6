"""Who gets which survey now: the survey plan.

The scheduler streams contacts from the customer source once, and for each
contact decides per survey:

* **due**: send now (an :class:`~tierctl.records.Invitation`);
* **deferred**: held back by the per-contact throttle, sent by a later run
  while the occasion is still open;
* **skipped**: never for this occasion (churned, not in the audience, the
  tier does not get the survey, already sent, opted out); counted by reason.

It changes nothing: ``survey plan`` prints the plan, ``survey send`` hands it
to the ledger and the providers.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from tierctl.config.durations import shift
from tierctl.config.model import Config, MeetingTrigger, PeriodTrigger, Survey
from tierctl.config.periods import period_containing
from tierctl.records import Contact, Invitation, Meeting, Question, RowProblem
from tierctl.sources import CustomerSource, MeetingSource
from tierctl.storage.ledger import ALL_SURVEYS, OPTED_OUT, phone_suppression_key, suppression_key
from tierctl.surveys.fatigue import Fatigue
from tierctl.surveys.meeting_reader import Meetings, read_meetings
from tierctl.surveys.plan_records import CONSENT, FINAL_STATES, ContactPass, Deferral, Occasion, PlanSummary, Route

__all__ = ["CONSENT", "FINAL_STATES", "ContactPass", "Deferral", "PlanSummary", "Scheduler"]

class Scheduler:
    """Builds the survey plan for one moment ``now``.

    ``known`` maps (survey, contact e-mail, occasion) to its ledger state;
    ``last_surveyed`` maps a contact e-mail to when it last got a survey that
    counts for the throttle. Both come from the ledger (one query each).
    """

    #: Keep at most this many skipped rows' problems in memory for display.
    max_problems = 200

    def __init__(self, config: Config, now: datetime, customers: CustomerSource,
                 meetings: MeetingSource | None = None, known: dict[tuple[str, str, str], str] | None = None,
                 last_surveyed: dict[str, datetime] | None = None, only_survey: str | None = None,
                 contact_times: dict[str, list[datetime]] | None = None,
                 suppressed: dict[str, frozenset[str]] | None = None,
                 text_channels: dict[str, str] | None = None):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.config = config
        self.now = now
        self.tz = ZoneInfo(config.organization.timezone)
        self.customers = customers
        self.meeting_source = meetings
        self.use_ledger_facts(known or {}, last_surveyed or {}, contact_times or {}, suppressed or {})
        self._throttling = self.fatigue.active  # the throttle's settings do not change during a plan
        #: Surveys sent by text: survey id -> ``sms``/``whatsapp`` (a number's opt-out on it holds).
        self.text_channels = text_channels or {}
        self.surveys = {sid: s for sid, s in config.surveys.items()
                        if s.trigger is not None and (only_survey is None or sid == only_survey)}
        self.summary = PlanSummary()
        self._survey_facts = {
            sid: (s, tuple(Question(q.id, q.type, q.text, q.bounds, tuple(q.choices)) for q in s.questions),
                  s.description or "") for sid, s in self.surveys.items()}
        #: Surveys the throttle does not hold back.
        self._exempt = frozenset(sid for sid, s in self.surveys.items() if s.throttle == "exempt")
        # tier -> surveys it receives, in a stable order
        self._tier_surveys = {tid: [s for s in t.surveys if s in self.surveys]
                              for tid, t in config.tiers.items()}
        self._triggers = {sid: s.trigger for sid, s in self.surveys.items() if isinstance(s.trigger, MeetingTrigger)}
        self._meetings: "Meetings | None" = None
        self._meetings_started = False
        self._meetings_read: tuple[list[Meeting], list[RowProblem]] | None = None

    def use_ledger_facts(self, known: dict[tuple[str, str, str], str], last_surveyed: dict[str, datetime],
                         contact_times: dict[str, list[datetime]], suppressed: dict[str, frozenset[str]]) -> None:
        """Plan with these facts of the ledger (see the constructor), read after the scheduler was
        made (so that a big calendar is read meanwhile: :meth:`start_meetings`)."""
        self.known = known
        self.fatigue = Fatigue(self.config.throttle, self.now, last_surveyed, contact_times)
        #: Opt-outs: :func:`~tierctl.storage.ledger.suppression_key` of an address -> its scopes.
        self.suppressed = suppressed

    @property
    def last_surveyed(self) -> dict[str, datetime]:
        """Contact e-mail -> when it last got a survey or message that counts for the throttle."""
        return self.fatigue.last

    @last_surveyed.setter
    def last_surveyed(self, value: dict[str, datetime]) -> None:
        self.fatigue.last = value

    # --- public -------------------------------------------------------------

    def report(self, problem: RowProblem) -> None:
        self.summary.problem_count += 1
        if len(self.summary.problems) < self.max_problems:
            self.summary.problems.append(problem)

    def plan(self) -> Iterator[Invitation | Deferral]:
        """Yield due invitations and deferrals; skips are counted in ``summary``.

        One pass over the contacts. A meeting belongs to the account whose
        contacts attend it, and that account's other contacts may come earlier
        in the file, so contacts who could get a pre-meeting survey (their
        tier has one and their role is in its audience) are held back until
        the pass has seen every attendee; everyone else is decided at once.
        """
        invitation = self.invitation
        for item in self.plan_rows():
            yield invitation(item) if item.__class__ is tuple else item

    def plan_rows(self) -> Iterator[tuple["Occasion", Contact] | Deferral]:
        """:meth:`plan`, each due invitation as a row ``(occasion, contact)``.

        ``survey plan`` prints a million of these: building an invitation for each (twenty
        fields) would cost more than the decision. :meth:`invitation` makes one of a row.
        """
        self.prepare()
        self.start_meetings()
        state = ContactPass()
        try:
            yield from self.contact_pass(self.customers.contacts(self.report), state)
        finally:
            self.count_pass(state)
        yield from self.meeting_pass(state)

    def prepare(self) -> None:
        """What every contact's decision shares: this moment's periodic occasions, the meeting
        triggers, and the tiers whose contacts' e-mails link meetings to accounts."""
        self._periodic = self._periodic_occasions()
        self._meeting_tiers = {t for t, sids in self._tier_surveys.items() if any(sid in self._triggers for sid in sids)} \
            if self._triggers and self.meeting_source is not None else set()
        self._routes: dict[tuple[str, str], Route] = {}
        self._decide_now = self._decider()
        self._decide_once = self._decider(once=True)

    def fresh_summary(self) -> PlanSummary:
        """Count from now on in a new, empty summary (a worker's part of the plan counts its own)."""
        self.count_in(PlanSummary())
        return self.summary

    def count_in(self, summary: PlanSummary) -> PlanSummary:
        """Count the decisions from now on in ``summary``; returns the one counted in so far."""
        before, self.summary = self.summary, summary
        self._decide_now = self._decider()
        self._decide_once = self._decider(once=True)
        return before

    def contact_pass(self, contacts: Iterable[Contact], state: "ContactPass") -> Iterator[tuple["Occasion", Contact] | Deferral]:
        """Decide every contact of ``contacts`` that needs no meetings; hold back the others in ``state``.

        Call :meth:`prepare` first and :meth:`count_pass` after (the counts of routes and
        churned accounts are added up there, once).
        """
        # Hot loop (a million contacts): what a contact's tier and role decide is worked out once
        # per (tier, role); skips are counted per route and added up at the end.
        routes = self._routes
        periodic, triggers, meeting_tiers = self._periodic, self._triggers, self._meeting_tiers
        accounts_of, held, skipping = state.accounts_of, state.held, state.skipping
        decide = self._decide_now
        # A contact decided once, from a source without two contacts of one address, cannot meet
        # the throttle for a send of this run: its decision need not be noted (a million times).
        decide_once = self._decide_once if getattr(self.customers, "unique_emails", False) else decide
        seen = churned = 0
        try:
            for contact in contacts:
                seen += 1
                if contact.status == "churned":
                    churned += 1
                    continue
                key = (contact.tier, contact.role)
                route = routes.get(key)
                if route is None:
                    route = routes[key] = self._route(contact.tier, contact.role, periodic, triggers, meeting_tiers)
                only = route.only
                if only is not None:
                    item = decide_once(only, contact)
                    if item is not None:
                        yield item
                    continue
                if route.links_meetings:
                    accounts_of[contact.email].append(contact.account_id)
                    if route.held:
                        held.append(contact)
                        continue
                if route.skips:
                    skipping[key] += 1
                decide_it = decide_once if route.single else decide
                for occ, survey in route.occasions:
                    if survey is not None:  # a spread survey: this contact's wave
                        occ = self._with_wave(occ, survey, contact.email)
                    item = decide_it(occ, contact)
                    if item is not None:
                        yield item
        finally:
            state.seen += seen
            state.churned += churned

    def count_pass(self, state: "ContactPass") -> None:
        """Add a finished pass's counts to the summary."""
        self.summary.contacts += state.seen
        if state.churned:
            self.summary.skipped["churned account"] += state.churned
        for key, count in state.skipping.items():
            route = self._routes.get(key)
            if route is None:  # a worker's route (it decided a part of the contacts)
                route = self._routes[key] = self._route(*key, self._periodic, self._triggers, self._meeting_tiers)
            for reason in route.skips:
                self.summary.skipped[reason] += count

    def start_meetings(self) -> None:
        """Start reading the meetings (once): in another process for a big calendar, while the
        ledger and the contacts are read; :meth:`meetings_read` waits for them."""
        if not self._meetings_started:
            self._meetings_started = True
            self._meetings = self._start_meetings(self._triggers)

    def meetings_read(self) -> tuple[list[Meeting], list[RowProblem]]:
        """The meetings of the window, and the problems found reading them (not yet reported)."""
        if self._meetings_read is None:
            self.start_meetings()
            self._meetings_read = self._meetings() if self._meetings is not None else ([], [])
        return self._meetings_read

    def meeting_pass(self, state: "ContactPass") -> Iterator[tuple["Occasion", Contact] | Deferral]:
        """Decide the held-back contacts, once every meeting's attendees are known."""
        found, problems = self.meetings_read()
        for problem in problems:
            self.report(problem)
        yield from self.decide_held(state.held, self.meeting_occasions(found, state.accounts_of))

    def meeting_occasions(self, found: list[Meeting],
                          accounts_of: dict[str, list[str]]) -> dict[tuple[str, str], list["Occasion"]]:
        """(survey, account) -> the occasions of the meetings ``found`` whose survey is due now; a
        meeting belongs to the accounts of its attendees (``accounts_of``: e-mail -> accounts)."""
        account_meetings: dict[str, dict[str, Meeting]] = defaultdict(dict)
        for m in found:
            for email in m.attendees:
                for account_id in accounts_of.get(email, ()):
                    account_meetings[account_id][m.occurrence_id] = m
        return self._meeting_occasions(self._triggers, account_meetings)

    def decide_held(self, held: Iterable[Contact], meeting_occasions: dict[tuple[str, str], list["Occasion"]]
                    ) -> Iterator[tuple["Occasion", Contact] | Deferral]:
        """Decide contacts held back for the meetings, given their accounts' meeting occasions."""
        for contact in held:
            yield from self._plan_contact(contact, self._periodic, meeting_occasions)

    def invitation(self, row: tuple["Occasion", Contact]) -> Invitation:
        """The invitation of a due row ``(occasion, contact)`` (its ``invite_id`` is left empty)."""
        occ, contact = row
        survey, questions, description = self._survey_facts[occ.survey_id]
        return Invitation(
            "", occ.survey_id, survey.title, contact.tier, contact.account_id, contact.account_name, contact.email,
            contact.name, contact.role, contact.locale, occ.occasion, occ.due_at, occ.closes_at, questions,
            description, occ.meeting_start, occ.due_day, contact.phone,
            CONSENT[contact.sms_opt_in, contact.whatsapp_opt_in], contact.timezone)

    def _route(self, tier: str, role: str, periodic: dict[str, Occasion], triggers: dict[str, MeetingTrigger],
               meeting_tiers: set[str]) -> "Route":
        """What every contact of ``tier`` with ``role`` gets, as :meth:`_plan_contact` would decide it."""
        skips: list[str] = []
        candidates: list[Occasion] = []
        for survey_id in self._tier_surveys.get(tier, ()):
            survey = self.surveys[survey_id]
            if not _in_audience(survey, role):
                skips.append(f"{survey_id}: role not in audience")
            elif survey_id in periodic:
                candidates.append(periodic[survey_id])
        candidates.sort(key=lambda o: (o.closes_at, o.survey_id))
        occasions = tuple((occ, self._spread_survey(occ)) for occ in candidates)
        links = tier in meeting_tiers
        hold = links and any(sid in triggers and _in_audience(self.surveys[sid], role)
                             for sid in self._tier_surveys.get(tier, ()))
        only = occasions[0][0] if len(occasions) == 1 and occasions[0][1] is None and not links and not skips \
            else None
        return Route(links, hold, tuple(skips), occasions, len(occasions) == 1, only)

    def _spread_survey(self, occasion: Occasion) -> Survey | None:
        """The survey if its occasions are spread in waves over contacts (see :meth:`_with_wave`)."""
        survey = self.surveys[occasion.survey_id]
        trigger = survey.trigger
        spread = isinstance(trigger, PeriodTrigger) and trigger.spread is not None and not occasion.meeting_start
        return survey if spread else None

    def _plan_contact(self, contact: Contact, periodic: dict[str, Occasion],
                      meeting_occasions: dict[tuple[str, str], list[Occasion]]) -> Iterator[Invitation | Deferral]:
        candidates: list[Occasion] = []
        for survey_id in self._tier_surveys.get(contact.tier, ()):
            survey = self.surveys[survey_id]
            if not _in_audience(survey, contact.role):
                self.summary.skipped[f"{survey_id}: role not in audience"] += 1
                continue
            occasion = periodic.get(survey_id)
            if occasion is not None:
                candidates.append(self._with_wave(occasion, survey, contact.email))
            candidates.extend(meeting_occasions.get((survey_id, contact.account_id), ()))
        if len(candidates) > 1:
            # The occasion that closes first goes first; the throttle holds back the rest.
            candidates.sort(key=lambda o: (o.closes_at, o.survey_id))
        for occ in candidates:
            item = self._decide_now(occ, contact)
            if item is not None:
                yield item

    # --- occasions ------------------------------------------------------------

    def _periodic_occasions(self) -> dict[str, Occasion]:
        out = {}
        for sid, survey in self.surveys.items():
            if isinstance(survey.trigger, PeriodTrigger):
                period = period_containing(self.now, survey.trigger.every, self.tz)
                out[sid] = Occasion(sid, period.label, period.start.astimezone(timezone.utc),
                                     period.end.astimezone(timezone.utc), None, period.start.date().isoformat())
        return out

    def _with_wave(self, occasion: Occasion, survey: Survey, email: str) -> Occasion:
        trigger = survey.trigger
        if not isinstance(trigger, PeriodTrigger) or trigger.spread is None or occasion.meeting_start:
            return occasion
        # A stable per-contact offset, so waves are the same on every run.
        spread = trigger.spread.approx_seconds
        digest = hashlib.blake2b(f"{occasion.occasion}/{email}".encode(), digest_size=8).digest()
        offset = int.from_bytes(digest, "big") % max(1, int(spread))
        due = occasion.due_at + timedelta(seconds=offset)
        return Occasion(occasion.survey_id, occasion.occasion, due, occasion.closes_at, None,
                         due.astimezone(self.tz).date().isoformat())

    def _start_meetings(self, triggers: dict[str, MeetingTrigger]) -> "Meetings | None":
        """Start reading the meetings a pre-meeting survey may be due for; returns a waiter for
        the meetings and the problems found reading them, not reported yet.

        A slow source (a big calendar) is read in a worker process while the
        contacts stream, so the two take the time of the slower, not the sum.
        """
        if not triggers or self.meeting_source is None:
            return None
        horizon = max(_timedelta(t.before_meeting, self.now) for t in triggers.values())
        window = (self.now, self.now + horizon + timedelta(seconds=1))
        return read_meetings(self.meeting_source, window, self.report, owner=self)

    def _meeting_occasions(self, triggers: dict[str, MeetingTrigger],
                           account_meetings: dict[str, dict[str, Meeting]]) -> dict[tuple[str, str], list[Occasion]]:
        """(survey, account) -> occasions of meetings whose survey is due now."""
        out: dict[tuple[str, str], list[Occasion]] = defaultdict(list)
        for sid, trigger in triggers.items():
            for account_id, occurrences in account_meetings.items():
                for m in occurrences.values():
                    if trigger.meeting and trigger.meeting.lower() not in m.summary.lower():
                        continue
                    due = m.start - _timedelta(trigger.before_meeting, m.start)
                    if due <= self.now < m.start:
                        out[(sid, account_id)].append(Occasion(
                            sid, f"meeting:{m.occurrence_id}", due.astimezone(timezone.utc),
                            m.start.astimezone(timezone.utc), m.start, due.astimezone(self.tz).date().isoformat()))
        return out

    # --- the decision ---------------------------------------------------------

    def _decider(self, once: bool = False) -> Callable[[Occasion, Contact], tuple[Occasion, Contact] | Deferral | None]:
        """Whether a contact gets an occasion's survey now: a due row, a deferral, or None (a skip,
        counted). A function with what it reads bound once: it runs once per contact and occasion
        (a million times in a big plan), where each attribute look-up counts.

        ``once``: for a contact decided only once in this run (see :meth:`contact_pass`), whose
        send the throttle therefore never needs to count against a later decision."""
        known = self.known
        suppressed = self.suppressed
        text_channels = self.text_channels
        now = self.now
        summary = self.summary
        skipped = summary.skipped
        max_problems = self.max_problems
        throttling = self._throttling
        exempt = self._exempt
        fatigue = self.fatigue
        take = fatigue.take
        # Fatigue.take answers at once for a contact this run has not sent to and the ledger has
        # no recent contact of (most of a big plan), unless a weekly cap counts every contact.
        this_run, last = fatigue.this_run, fatigue.last
        quick = fatigue.per_week is None
        invitation = self.invitation

        def decide(occ: Occasion, contact: Contact) -> tuple[Occasion, Contact] | Deferral | None:
            email = contact.email
            if known:
                state = known.get((occ.survey_id, email, occ.occasion))
                if state in FINAL_STATES:
                    skipped[f"{occ.survey_id}: already {state}"] += 1
                    return None
            if suppressed:
                scopes = suppressed.get(suppression_key(email))
                if scopes is not None and (ALL_SURVEYS in scopes or occ.survey_id in scopes):
                    skipped[f"{occ.survey_id}: {OPTED_OUT}"] += 1
                    if len(summary.opted_out) < max_problems:
                        summary.opted_out.append((occ.survey_id, email))
                    return None
                channel = text_channels.get(occ.survey_id)
                if channel is not None and contact.phone and \
                        phone_suppression_key(channel, contact.phone) in suppressed:
                    skipped[f"{occ.survey_id}: {OPTED_OUT}"] += 1
                    return None
            if now < occ.due_at:
                skipped[f"{occ.survey_id}: not yet due (wave)"] += 1
                return None
            if throttling and occ.survey_id not in exempt:
                if quick and email not in last and (once or email not in this_run):
                    if not once:
                        this_run[email] = 1
                else:
                    held = take(email)
                    if held is not None:
                        until, reason = held
                        summary.deferred += 1
                        closes = "" if until < occ.closes_at else \
                            "; the window ends after this occasion closes, so it will be missed unless the " \
                            "throttle allows"
                        return Deferral(invitation((occ, contact)), until, reason + closes)
            summary.due += 1
            return occ, contact

        return decide


def _in_audience(survey: Survey, role: str) -> bool:
    audience = survey.audience
    return audience == "all" or "all" in audience or role in audience


def _timedelta(duration, at: datetime) -> timedelta:
    """A Duration as a timedelta, months counted from ``at``."""
    if not duration.months:  # most: days and hours, the same from any moment
        return timedelta(seconds=duration.seconds)
    return shift(at, duration) - at
