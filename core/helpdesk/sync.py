"""``tierctl helpdesk sync``: one service-level policy per tier and every organisation tagged
with its tier, planned in full before anything is written.

The plan is built from the config (each tier's ``response_targets``, translated by the
helpdesk plugin) and the customers source (each account's tier), compared with what the
helpdesk holds. Any problem (a severity without a priority, a target the helpdesk cannot
express, an account with no organisation) stops the sync before the first write, with
every problem listed. A sync whose plan is empty writes nothing, so a second run is a no-op.

A policy belongs to tierctl when its filter selects one tier's tag; policies of other
origins are left alone. An organisation keeps its other tags; only tier tags change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tierctl.errors import ConfigError, Problem, TierctlError
from tierctl.helpdesk.matching import Account, OrganizationIndex
from tierctl.surveys.instances import build_customer_source

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.helpdesks import Helpdesk, Organization, Policy
    from tierctl.host.plugin_host import PluginHost
    from tierctl.records import RowProblem


@dataclass
class PolicyChange:
    """A policy to create (``before`` is None) or update."""

    policy: "Policy"
    before: "Policy | None" = None

    def describe(self) -> str:
        targets = ", ".join(f"{t.priority} {t.minutes} min{' (business hours)' if t.business_hours else ''}"
                            for t in self.policy.targets) or "no targets"
        verb = "create" if self.before is None else "update"
        return f"{verb} SLA policy {self.policy.title!r} (organisations tagged {self.policy.tag}): {targets}"


@dataclass
class TagChange:
    """An organisation whose tier tag changes."""

    organization: "Organization"
    account: Account
    tags: tuple[str, ...]

    def describe(self) -> str:
        added = [t for t in self.tags if t not in self.organization.tags]
        removed = [t for t in self.organization.tags if t not in self.tags]
        what = "; ".join([f"add {', '.join(added)}"] * bool(added) + [f"remove {', '.join(removed)}"] * bool(removed))
        return f"tag organisation {self.organization.name!r} (account {self.account.account_id}): {what}"


@dataclass
class SyncPlan:
    policies: list[PolicyChange] = field(default_factory=list)
    tags: list[TagChange] = field(default_factory=list)
    policies_in_step: int = 0
    organizations_in_step: int = 0

    @property
    def empty(self) -> bool:
        return not self.policies and not self.tags

    def lines(self) -> list[str]:
        return [c.describe() for c in self.policies] + [c.describe() for c in self.tags]

    def as_dict(self) -> dict[str, Any]:
        return {"changes": self.lines(), "policies_in_step": self.policies_in_step,
                "organizations_in_step": self.organizations_in_step}


def plan_sync(config: "Config", host: "PluginHost", helpdesk: "Helpdesk") -> SyncPlan:
    """What the helpdesk needs to match the tiers; reads only.

    :raises ConfigError: every problem found, each on its own line; nothing is applied.
    """
    problems: list[Problem] = []
    wanted: list["Policy"] = []
    for tier_id, tier in config.tiers.items():
        translation = helpdesk.policy_for(tier_id, tier)
        problems.extend(config.problem(path, message) for path, message in translation.problems)
        if translation.policy is not None:
            wanted.append(translation.policy)
    accounts = _accounts(config, host, problems)
    if problems:  # the config is wrong: do not even ask the helpdesk
        raise ConfigError(problems)

    plan = SyncPlan()
    tier_tags = {helpdesk.tier_tag(t) for t in config.tiers}
    existing = {p.tag: p for p in helpdesk.policies() if p.tag in tier_tags}
    for policy in wanted:
        before = existing.get(policy.tag)
        if before == policy:
            plan.policies_in_step += 1
        else:
            plan.policies.append(PolicyChange(policy if before is None else _with_id(policy, before), before))

    index = OrganizationIndex(helpdesk.organizations())
    label = _customers_label(config)
    for account in accounts:
        org = index.find(account)
        if org is None:
            problems.append(Problem(label, 0, 0, f"account {account.account_id}",
                                    f"no {helpdesk.name} organization has external_id {account.account_id!r} or name "
                                    f"{account.name!r}; create it, or set its external_id to the account id"))
            continue
        tag = helpdesk.tier_tag(account.tier)
        tags = tuple(t for t in org.tags if t not in tier_tags or t == tag) + ((tag,) if tag not in org.tags else ())
        if tags == org.tags:
            plan.organizations_in_step += 1
        else:
            plan.tags.append(TagChange(org, account, tags))
    if problems:
        raise ConfigError(problems)
    return plan


def apply_sync(helpdesk: "Helpdesk", plan: SyncPlan) -> None:
    """Carry out a plan from :func:`plan_sync`: policies first, then organisation tags.

    :raises TierctlError: the helpdesk refused a write; the message says how many changes were
        made before it (a new sync plans only what is still missing).
    """
    steps = [(c.describe(), lambda c=c: helpdesk.create_policy(c.policy) if c.before is None
              else helpdesk.update_policy(c.before.remote_id or "", c.policy)) for c in plan.policies]
    steps += [(t.describe(), lambda t=t: helpdesk.set_organization_tags(t.organization, t.tags)) for t in plan.tags]
    for done, (what, step) in enumerate(steps):
        try:
            step()
        except TierctlError as exc:
            raise TierctlError(f"{exc}\nstopped at: {what}; {done} of {len(steps)} changes were made before it. "
                               "Run tierctl helpdesk sync again when the cause is fixed: it does only what is "
                               "still missing") from exc


def _with_id(policy: "Policy", before: "Policy") -> "Policy":
    from dataclasses import replace

    return replace(policy, remote_id=before.remote_id)


def _customers_label(config: "Config") -> str:
    entry = config.sources.get("customers")
    return str(entry.options.get("path", "customers")) if entry is not None else "customers"


def _accounts(config: "Config", host: "PluginHost", problems: list[Problem]) -> list[Account]:
    """Each live account once, in the tier of its first row (churned accounts keep no tier tag
    change: they are left out)."""
    if "customers" not in config.sources:
        problems.append(config.problem(("sources",), "helpdesk sync tags organisations from the customers source; "
                                                     "add sources: {customers: {plugin: csv, path: customers.csv}}"))
        return []
    out: dict[str, Account] = {}

    def skipped(row: "RowProblem") -> None:
        problems.append(Problem(row.file, row.line, 0, "", f"{row.message} (the row's account cannot be tagged)"))

    for contact in build_customer_source(config, host).contacts(skipped):
        if contact.status != "churned":
            out.setdefault(contact.account_id, Account(contact.account_id, contact.account_name, contact.tier))
    return list(out.values())
