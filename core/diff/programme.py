"""The survey programme under each version: which invitations the plan makes over the
coming days, and which of them one version sends and the other does not.

The real scheduler is run once a day over the horizon, as the daily cron run would,
starting from nothing sent (the ledger is left out: both versions would share it) and
counting what each day's plan sends towards the throttle. An invitation is its
(survey, contact, occasion).

A contact's invitations depend only on its own tier's surveys, the survey definitions,
the throttle (per contact) and its account's meetings. So when the change leaves the
surveys, the throttle, the time zone and the sources alone, only the accounts it moves
and the accounts of tiers whose ``surveys`` changed are planned (``scope``), and the
counts before and after are of those accounts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tierctl.config.model import MeetingTrigger
from tierctl.records import Contact, Invitation, Meeting, RowProblem
from tierctl.sources import CustomerSource, MeetingSource, Report
from tierctl.surveys.instances import build_customer_source, build_meeting_source
from tierctl.surveys.scheduler import Scheduler, shift

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

Key = tuple[str, str, str]
#: Examples of changed invitations kept per survey and direction, for the JSON output.
EXAMPLES = 20


@dataclass
class SurveyChange:
    """One survey's invitations over the horizon under each version."""

    survey_id: str
    before: int
    after: int
    newly_due: int
    no_longer_sent: int
    examples_new: list[str] = field(default_factory=list)  # "email (occasion)"
    examples_gone: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"survey": self.survey_id, "before": self.before, "after": self.after, "newly_due": self.newly_due,
                "no_longer_sent": self.no_longer_sent, "examples_newly_due": self.examples_new,
                "examples_no_longer_sent": self.examples_gone}


@dataclass(frozen=True)
class Scope:
    """The accounts worth planning: these accounts, and every account of these tiers."""

    accounts: frozenset[str]
    tiers: frozenset[str]

    def holds(self, contact: Contact) -> bool:
        return contact.account_id in self.accounts or contact.tier in self.tiers


@dataclass
class ProgrammeChange:
    start: datetime
    days: int
    surveys: list[SurveyChange]
    scope: Scope | None = None  # None: every account was planned

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "days": self.days,
                "accounts": "all" if self.scope is None else
                {"accounts": sorted(self.scope.accounts), "tiers": sorted(self.scope.tiers)},
                "surveys": [s.as_dict() for s in self.surveys]}


class _ListedCustomers(CustomerSource):
    """The customers read once, for the daily runs of one simulation."""

    def __init__(self, contacts: list[Contact], config: "Config"):
        super().__init__(None, config, config.base_dir)
        self._contacts = contacts

    def contacts(self, report: Report):
        return iter(self._contacts)


class _WindowMeetings(MeetingSource):
    """The meetings of the whole simulated window read once; each daily run gets its slice."""

    def __init__(self, source: MeetingSource, start: datetime, end: datetime, config: "Config"):
        super().__init__(None, config, config.base_dir)
        problems: list[RowProblem] = []
        self._meetings: list[Meeting] = list(source.meetings(start, end, problems.append))

    def meetings(self, start: datetime, end: datetime, report: Report):
        return (m for m in self._meetings if start <= m.start < end)


def planned_invitations(config: "Config", host: "PluginHost", start: datetime, days: int,
                        scope: Scope | None = None) -> set[Key]:
    """Every invitation the daily plan sends from ``start`` over ``days`` days (to the accounts in
    ``scope`` only, when given).

    The customers and the window's meetings are read once, not once a day.
    """
    if "customers" not in config.sources or not any(s.trigger for s in config.surveys.values()):
        return set()
    known: dict[Key, str] = {}
    last: dict[str, datetime] = {}
    exempt = {sid for sid, s in config.surveys.items() if s.throttle == "exempt"}
    contacts = build_customer_source(config, host).contacts(lambda _p: None)
    customers = _ListedCustomers([c for c in contacts if scope is None or scope.holds(c)], config)
    if not customers._contacts:
        return set()
    meetings = build_meeting_source(config, host)
    leads = [s.trigger.before_meeting for s in config.surveys.values() if isinstance(s.trigger, MeetingTrigger)]
    if meetings is not None and leads:
        end = start + timedelta(days=days)
        end = max(shift(end, lead) for lead in leads) + timedelta(days=1)
        meetings = _WindowMeetings(meetings, start, end, config)
    for day in range(days):
        now = start + timedelta(days=day)
        scheduler = Scheduler(config, now, customers, meetings, known, last)
        for item in scheduler.plan():
            if isinstance(item, Invitation):
                known[(item.survey_id, item.contact_email, item.occasion)] = "sent"
                if item.survey_id not in exempt:
                    last[item.contact_email] = now
    return set(known)


def programme_change(old: "Config", new: "Config", host: "PluginHost", start: datetime,
                     days: int, scope: Scope | None = None) -> ProgrammeChange:
    """Per survey of either version: invitations before and after, newly due, no longer sent."""
    before = planned_invitations(old, host, start, days, scope)
    after = planned_invitations(new, host, start, days, scope)
    count_before = Counter(k[0] for k in before)
    count_after = Counter(k[0] for k in after)
    surveys = []
    for survey_id in sorted(set(count_before) | set(count_after)):
        gone = sorted(k for k in before - after if k[0] == survey_id)
        new_keys = sorted(k for k in after - before if k[0] == survey_id)
        if not gone and not new_keys:
            continue
        surveys.append(SurveyChange(survey_id, count_before[survey_id], count_after[survey_id], len(new_keys),
                                    len(gone), [f"{k[1]} ({k[2]})" for k in new_keys[:EXAMPLES]],
                                    [f"{k[1]} ({k[2]})" for k in gone[:EXAMPLES]]))
    return ProgrammeChange(start, days, surveys, scope)
