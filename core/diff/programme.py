"""The survey programme under each version: which invitations the plan makes over the
coming days, and which of them one version sends and the other does not.

The real scheduler is run once a day over the horizon, as the daily cron run would,
starting from nothing sent (the ledger is left out: both versions would share it) and
counting what each day's plan sends towards the throttle. An invitation is its
(survey, contact, occasion).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tierctl.records import Invitation
from tierctl.surveys.instances import build_customer_source, build_meeting_source
from tierctl.surveys.scheduler import Scheduler

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


@dataclass
class ProgrammeChange:
    start: datetime
    days: int
    surveys: list[SurveyChange]

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "days": self.days,
                "surveys": [s.as_dict() for s in self.surveys]}


def planned_invitations(config: "Config", host: "PluginHost", start: datetime, days: int) -> set[Key]:
    """Every invitation the daily plan sends from ``start`` over ``days`` days."""
    if "customers" not in config.sources or not any(s.trigger for s in config.surveys.values()):
        return set()
    known: dict[Key, str] = {}
    last: dict[str, datetime] = {}
    exempt = {sid for sid, s in config.surveys.items() if s.throttle == "exempt"}
    for day in range(days):
        now = start + timedelta(days=day)
        scheduler = Scheduler(config, now, build_customer_source(config, host), build_meeting_source(config, host),
                              known, last)
        for item in scheduler.plan():
            if isinstance(item, Invitation):
                known[(item.survey_id, item.contact_email, item.occasion)] = "sent"
                if item.survey_id not in exempt:
                    last[item.contact_email] = now
    return set(known)


def programme_change(old: "Config", new: "Config", host: "PluginHost", start: datetime,
                     days: int) -> ProgrammeChange:
    """Per survey of either version: invitations before and after, newly due, no longer sent."""
    before = planned_invitations(old, host, start, days)
    after = planned_invitations(new, host, start, days)
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
    return ProgrammeChange(start, days, surveys)
