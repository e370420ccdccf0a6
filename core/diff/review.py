"""The whole change review of ``tierctl diff``: one call that compares two configs.

JSON (``--format json``), for tools; keys are stable::

    {"schema": "tierctl-diff/1", "against": str,
     "changed_fields": [str, ...],                       # dotted paths, e.g. tiers.standard.channels
     "tiers": [{"tier", "name", "kind": "added|removed|changed", "changes": [str, ...]}],
     "pages": [{"target", "changed": [path], "added": [path], "removed": [path]}],
     "accounts": {"moves": [{"from", "to", "accounts", "contacts"}], "skipped_rows": int,
                  "accounts": [...]},                    # with --accounts only
     "surveys": {"from": ISO, "days": int, "surveys": [{"survey", "before", "after", "newly_due",
                 "no_longer_sent", "examples_newly_due", "examples_no_longer_sent"}]},
     "capacity": [{"tier", "name", "before": hours | null, "after": hours | null}],   # needed per month
     "owners": [{"owner", "fields": [path, ...], "approved": bool | null}]}          # null without --check-owners
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierctl.diff.accounts import Moves, tier_moves
from tierctl.diff.field_changes import TierChange, changed_paths, tier_changes
from tierctl.diff.owners import OwnedChange, missing_approvals, owned_changes, owners_to_ask, touches
from tierctl.diff.pages import TargetChanges, page_changes
from tierctl.diff.programme import ProgrammeChange, Scope, programme_change
from tierctl.publish.capacity import plan_capacity

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

SCHEMA = "tierctl-diff/1"
#: The fields each effect depends on: when a change touches none of them, the effect is not
#: worked out (rendering is, always: any field may show on a page).
MOVE_FIELDS = ("tiers.*.plans", "sources.customers")
PROGRAMME_FIELDS = ("organization.timezone", "tiers.*.plans", "tiers.*.surveys", "surveys", "throttle", "sources")
#: Fields whose change may change any contact's invitations: then every account is planned.
PROGRAMME_WIDE_FIELDS = ("organization.timezone", "surveys", "throttle", "sources")
CAPACITY_FIELDS = ("tiers.*.plans", "tiers.*.contact_cadence", "tiers.*.agent_time_cap", "sources.customers")


@dataclass(frozen=True)
class CapacityChange:
    tier_id: str
    name: str
    before: float | None  # agent hours needed a month; None when the tier is not in that version
    after: float | None


@dataclass
class ConfigDiff:
    """Everything ``tierctl diff`` reports (see the module docstring)."""

    against: str
    paths: list[str]
    tiers: list[TierChange]
    pages: list[TargetChanges]
    moves: Moves
    programme: ProgrammeChange | None
    capacity: list[CapacityChange]
    owned: list[OwnedChange]
    approvers: list[str] | None = None
    missing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def owners(self) -> dict[str, list[str]]:
        """Owner -> changed fields they must approve."""
        return owners_to_ask(self.owned)

    @property
    def empty(self) -> bool:
        return not self.paths and not self.pages

    def as_dict(self, with_accounts: bool = False) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "against": self.against, "changed_fields": self.paths,
            "tiers": [t.as_dict() for t in self.tiers],
            "pages": [p.as_dict() for p in self.pages],
            "accounts": self.moves.as_dict(with_accounts),
            "surveys": self.programme.as_dict() if self.programme else None,
            "capacity": [{"tier": c.tier_id, "name": c.name, "before": _hours(c.before), "after": _hours(c.after)}
                         for c in self.capacity],
            "owners": [{"owner": o, "fields": f, "approved": None if self.approvers is None else o not in self.missing}
                       for o, f in self.owners.items()],
        }


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def review_change(old: "Config", new: "Config", host: "PluginHost", against: str, now: datetime,
                  days: int = 30, approvers: list[str] | None = None, old_to_render: "Config | None" = None
                  ) -> ConfigDiff:
    """Compare ``old`` with ``new`` (both loaded; ``new`` is the working file). ``old_to_render`` is
    ``old`` with its own templates (see :func:`tierctl.diff.old_version.load_old_config`)."""
    paths = changed_paths(old, new)
    owned = owned_changes(paths, old.owners, new.owners)
    result = ConfigDiff(against, paths, tier_changes(old, new), [], Moves(), None, [], owned, approvers)
    if approvers is not None:
        result.missing = missing_approvals(owned, approvers)
    result.pages = page_changes(old_to_render or old, new, host)  # a template alone may change pages
    if not paths:
        return result
    def affected(fields: tuple[str, ...]) -> bool:
        return any(touches(p, f) for p in paths for f in fields)

    if affected(MOVE_FIELDS):
        result.moves = tier_moves(old, new, host)
    if affected(PROGRAMME_FIELDS):
        scope = None
        if not affected(PROGRAMME_WIDE_FIELDS):
            changed_tiers = {p.split(".")[1] for p in paths if touches(p, "tiers.*.surveys") and p.count(".") >= 2}
            scope = Scope(frozenset(a.account_id for a in result.moves.accounts), frozenset(changed_tiers))
        result.programme = programme_change(old, new, host, now, days, scope)
    else:
        result.programme = ProgrammeChange(now, days, [])
    if affected(CAPACITY_FIELDS):
        result.capacity = capacity_change(old, new, host)
    return result


def capacity_change(old: "Config", new: "Config", host: "PluginHost") -> list[CapacityChange]:
    """Agent hours needed a month per tier, before and after; tiers whose need is unchanged are left out."""
    if "customers" not in new.sources and "customers" not in old.sources:
        return []
    before = {t.tier: t for t in plan_capacity(old, host).tiers} if "customers" in old.sources else {}
    after = {t.tier: t for t in plan_capacity(new, host).tiers} if "customers" in new.sources else {}
    out = []
    for tier_id in list(after) + [t for t in before if t not in after]:
        b, a = before.get(tier_id), after.get(tier_id)
        hb = None if b is None else round(b.needed_hours, 2)
        ha = None if a is None else round(a.needed_hours, 2)
        if hb != ha:
            out.append(CapacityChange(tier_id, (a or b).name, hb, ha))  # type: ignore[union-attr]
    return out
