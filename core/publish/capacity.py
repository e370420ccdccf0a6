"""Capacity: the agent hours the tiers promise each month, against the team's hours.

From the customers source (live accounts per tier; churned ones left out),
each tier's ``contact_cadence`` (per account status) and ``agent_time_cap``:

* **planned** hours: the planned contact moments, ``accounts x contacts a
  month x hours a contact``. A contact takes its cadence's ``duration``, by
  default 30 minutes when an agent makes it and nothing when it is automated.
  "Every 1mo" is one contact a month, "every 90d" 0.33, "every 7d" 4.35
  (months are average months, 30.44 days).
* **caps** allow ``accounts x agent_time_cap`` (the cap per week, quarter or
  year taken as its monthly average); a tier without a cap has no ceiling.
* **needed**: what the team must be able to give the tier: its caps, since
  agents answer the tier's questions up to the cap and planned contacts are
  part of that time; the planned hours when they exceed the caps or when
  there is no cap.

The total needed is compared with the team's capacity: agents x hours per
agent a month (default 120). Warnings say, per tier, when a planned contact
does not fit in the per-account cap (a monthly one-hour video review under a
30m/month cap) and when the tiers need more hours than the team has.

An account is counted once, in the tier of its first row. When its contacts'
rows disagree on the status, the account counts in the status that needs the
most attention: at-risk, then onboarding, then active; it is churned only
when every row says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tierctl.config.durations import _AVG_MONTH_SECONDS
from tierctl.config.model import STATUSES

if TYPE_CHECKING:
    from tierctl.config.model import Cadence, Config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.records import RowProblem

DEFAULT_HOURS_PER_AGENT = 120.0
DEFAULT_CONTACT_HOURS = 0.5  # an agent's contact without a duration: 30 minutes
# Which status an account with disagreeing rows counts in: the first found here.
STATUS_PRECEDENCE = ("at-risk", "onboarding", "active", "churned")


@dataclass
class PlannedContact:
    """One status's planned contact moment in a tier, per month."""

    status: str
    accounts: int
    every: str
    channel: str
    automated: bool
    hours_per_contact: float
    contacts_per_month: float  # per account
    hours_per_account: float  # per month
    hours: float  # all accounts in this status, per month
    fits_cap: bool | None  # None: the tier has no cap

    def describe(self) -> str:
        who = "automated" if self.automated else f"{format_hours(self.hours_per_contact)} each"
        return (f"{self.status}: {self.accounts} account{'s' * (self.accounts != 1)}, every {self.every} by "
                f"{self.channel} ({who}) = {format_hours(self.hours_per_account)} per account a month")


@dataclass
class TierCapacity:
    """One tier's monthly agent hours."""

    tier: str
    name: str
    accounts: int
    accounts_by_status: dict[str, int]
    cap: str | None  # as written, e.g. 30m/month
    cap_hours_per_account: float | None  # per month
    planned_hours: float
    cap_hours: float | None  # accounts x cap, per month; None without a cap
    needed_hours: float
    contacts: list[PlannedContact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def unplanned(self) -> dict[str, int]:
        """Accounts per status that has no planned contact in this tier."""
        planned = {c.status for c in self.contacts}
        return {s: n for s, n in self.accounts_by_status.items() if s not in planned}

    def as_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "name": self.name, "accounts": self.accounts,
                "accounts_by_status": self.accounts_by_status, "cap": self.cap,
                "cap_hours_per_account": _round(self.cap_hours_per_account),
                "planned_hours": _round(self.planned_hours), "cap_hours": _round(self.cap_hours),
                "needed_hours": _round(self.needed_hours),
                "contacts": [{"status": c.status, "accounts": c.accounts, "every": c.every, "channel": c.channel,
                              "automated": c.automated, "hours_per_contact": _round(c.hours_per_contact),
                              "contacts_per_month": _round(c.contacts_per_month),
                              "hours_per_account": _round(c.hours_per_account), "hours": _round(c.hours),
                              "fits_cap": c.fits_cap} for c in self.contacts],
                "unplanned": self.unplanned, "warnings": self.warnings}


@dataclass
class CapacityPlan:
    """Every tier's monthly hours, the total, and the team's capacity."""

    tiers: list[TierCapacity]
    hours_per_agent: float
    agents: int | None = None
    warnings: list[str] = field(default_factory=list)
    bad_rows: int = 0
    problems: list["RowProblem"] = field(default_factory=list)
    churned_accounts: int = 0
    mixed_status_accounts: int = 0

    @property
    def planned_hours(self) -> float:
        return sum(t.planned_hours for t in self.tiers)

    @property
    def needed_hours(self) -> float:
        return sum(t.needed_hours for t in self.tiers)

    @property
    def capacity_hours(self) -> float | None:
        return None if self.agents is None else self.agents * self.hours_per_agent

    @property
    def agents_needed(self) -> float:
        return self.needed_hours / self.hours_per_agent if self.hours_per_agent else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"tiers": [t.as_dict() for t in self.tiers], "planned_hours": _round(self.planned_hours),
                "needed_hours": _round(self.needed_hours), "agents": self.agents,
                "hours_per_agent": self.hours_per_agent, "capacity_hours": _round(self.capacity_hours),
                "agents_needed": _round(self.agents_needed), "warnings": self.warnings,
                "churned_accounts": self.churned_accounts, "mixed_status_accounts": self.mixed_status_accounts,
                "bad_rows": self.bad_rows}


def contact_hours(cadence: "Cadence") -> float:
    """Agent hours one contact of this cadence takes (its duration; else 30m, or 0 when automated)."""
    if cadence.duration is not None:
        return cadence.duration.approx_seconds / 3600
    return 0.0 if cadence.automated else DEFAULT_CONTACT_HOURS


def contacts_per_month(cadence: "Cadence") -> float:
    """How often a contact of this cadence happens per account in an average month."""
    return _AVG_MONTH_SECONDS / cadence.every.approx_seconds


def account_statuses(config: "Config", host: "PluginHost", max_problems: int = 50
                     ) -> tuple[dict[str, tuple[str, str]], int, list["RowProblem"], int]:
    """Each account's ``(tier, status)`` from the customers source (see the module docstring).

    :returns: ``(account -> (tier, status), bad rows, the first problems, accounts with mixed statuses)``.
    """
    from tierctl.surveys.instances import build_customer_source

    source = build_customer_source(config, host)
    tiers: dict[str, str] = {}
    statuses: dict[str, set[str]] = defaultdict(set)
    problems: list[RowProblem] = []
    bad = 0

    def report(problem: "RowProblem") -> None:
        nonlocal bad
        bad += 1
        if len(problems) < max_problems:
            problems.append(problem)

    for contact in source.contacts(report):
        tiers.setdefault(contact.account_id, contact.tier)
        statuses[contact.account_id].add(contact.status)
    out: dict[str, tuple[str, str]] = {}
    mixed = 0
    for account, found in statuses.items():
        if len(found) > 1:
            mixed += 1
        status = next(s for s in STATUS_PRECEDENCE if s in found)
        out[account] = (tiers[account], status)
    return out, bad, problems, mixed


def plan_capacity(config: "Config", host: "PluginHost", agents: int | None = None,
                  hours_per_agent: float = DEFAULT_HOURS_PER_AGENT) -> CapacityPlan:
    """The monthly agent hours per tier and in total, with warnings (see the module docstring)."""
    accounts, bad, problems, mixed = account_statuses(config, host)
    counts: dict[str, dict[str, int]] = {tier_id: {} for tier_id in config.tiers}
    churned = 0
    for tier_id, status in accounts.values():
        if status == "churned":
            churned += 1
            continue
        by_status = counts.setdefault(tier_id, {})
        by_status[status] = by_status.get(status, 0) + 1
    plan = CapacityPlan([], hours_per_agent, agents, bad_rows=bad, problems=problems, churned_accounts=churned,
                        mixed_status_accounts=mixed)
    for tier_id, tier in config.tiers.items():
        by_status = {s: counts[tier_id][s] for s in STATUSES if s in counts[tier_id]}
        n = sum(by_status.values())
        cap = tier.agent_time_cap
        cap_per_account = cap.hours_per_month if cap is not None else None
        result = TierCapacity(tier_id, tier.name, n, by_status, cap.text if cap is not None else None,
                              cap_per_account, 0.0, None if cap_per_account is None else n * cap_per_account, 0.0)
        for status, cadence in tier.contact_cadence.items():
            if status == "churned":
                continue
            per_contact = contact_hours(cadence)
            per_month = contacts_per_month(cadence)
            per_account = per_contact * per_month
            in_status = by_status.get(status, 0)
            fits = None if cap_per_account is None else per_account <= cap_per_account + 1e-9
            contact = PlannedContact(status, in_status, cadence.every.text, cadence.channel, cadence.automated,
                                     per_contact, per_month, per_account, in_status * per_account, fits)
            result.contacts.append(contact)
            result.planned_hours += contact.hours
            if fits is False:
                assert cap is not None
                result.warnings.append(
                    f"tier {tier_id}: the planned {cadence.channel} contact for {status} accounts (every "
                    f"{cadence.every.text}, {format_hours(per_contact)} each: {format_hours(per_account)} per account a "
                    f"month) does not fit in its agent_time_cap of {cap.human()} ({format_hours(cap_per_account or 0)} "
                    f"a month); raise the cap, or make the contact shorter, rarer or automated"
                    + (f" ({in_status} account{'s' * (in_status != 1)} affected)" if in_status else
                       " (no accounts in that status now)"))
        result.needed_hours = result.planned_hours if result.cap_hours is None else \
            max(result.planned_hours, result.cap_hours)
        plan.tiers.append(result)
        plan.warnings.extend(result.warnings)
    capacity = plan.capacity_hours
    if capacity is not None and plan.needed_hours > capacity + 1e-9:
        short = plan.needed_hours - capacity
        more = short / hours_per_agent if hours_per_agent else 0
        plan.warnings.append(
            f"the tiers need {format_hours(plan.needed_hours)} of agent time a month, but {agents} agent"
            f"{'s' * (agents != 1)} x {format_number(hours_per_agent)} h give {format_hours(capacity)}: {format_hours(short)} short "
            f"(about {format_number(more)} more agent{'s' * (round(more, 1) != 1)} at {format_number(hours_per_agent)} h)")
    return plan


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def format_number(value: float) -> str:
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def format_hours(value: float) -> str:
    if 0 < value < 1:
        return f"{round(value * 60):d} min"
    return f"{format_number(value)} h"
