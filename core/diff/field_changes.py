"""What changed between two configs, field by field: dotted paths for owners, and
sentences for people ("Standard: chat added; urgent target 4 hours → 2 hours (tighter)").

Tiers are compared after ``extends`` is applied, so a change to a parent shows in
every tier that inherits it: that is what customers of those tiers get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierctl.config.model import Config, Tier

#: Fields worded specially below; any other field gets "<field>: old → new".
_LIST_FIELDS = {"channels": "channel", "plans": "plan", "surveys": "survey", "specialists": "specialist",
                "includes": "included", "languages": "language"}


@dataclass
class TierChange:
    """How one tier changed: ``added``/``removed`` tiers, or a list of worded changes."""

    tier_id: str
    name: str
    kind: str  # "added" | "removed" | "changed"
    changes: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        if self.kind != "changed":
            return f"{self.name}: tier {self.kind}"
        return f"{self.name}: " + "; ".join(self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {"tier": self.tier_id, "name": self.name, "kind": self.kind, "changes": self.changes}


def changed_paths(old: "Config", new: "Config") -> list[str]:
    """Every leaf that differs, as a dotted path (``tiers.standard.response_targets.urgent``).

    Lists are compared whole (``tiers.standard.channels``); a key present on one side only
    is one path.
    """
    out: list[str] = []
    _walk(_data(old), _data(new), (), out)
    return sorted(out)


def _data(config: "Config") -> dict[str, Any]:
    return config.model_dump(mode="json", exclude_defaults=False)


def _walk(a: Any, b: Any, here: tuple[str, ...], out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(".".join(here + (str(key),)))
            elif a[key] != b[key]:
                _walk(a[key], b[key], here + (str(key),), out)
    elif a != b:
        out.append(".".join(here))


def tier_changes(old: "Config", new: "Config") -> list[TierChange]:
    """Worded changes per tier, in the new file's tier order (removed tiers last)."""
    out = []
    for tier_id, tier in new.tiers.items():
        before = old.tiers.get(tier_id)
        if before is None:
            out.append(TierChange(tier_id, tier.name, "added"))
            continue
        changes = describe_tier(before, tier)
        if changes:
            out.append(TierChange(tier_id, tier.name, "changed", changes))
    for tier_id, tier in old.tiers.items():
        if tier_id not in new.tiers:
            out.append(TierChange(tier_id, tier.name, "removed"))
    return out


def describe_tier(old: "Tier", new: "Tier") -> list[str]:
    """The changes from ``old`` to ``new``, one short phrase each."""
    phrases: list[str] = []
    for name in type(new).model_fields:
        a, b = getattr(old, name), getattr(new, name)
        if a == b or name == "extends":
            continue
        if name in _LIST_FIELDS:
            phrases.extend(_list_change(_LIST_FIELDS[name], a, b))
        elif name == "response_targets":
            phrases.extend(_target_changes(a, b))
        elif name == "agent_time_cap":
            phrases.append(_cap_change(a, b))
        elif name == "contact_cadence":
            phrases.extend(_cadence_changes(a, b))
        elif name == "sales":
            phrases.append("sales notes changed")
        else:
            phrases.append(f"{name.replace('_', ' ')} {_show(a)} → {_show(b)}")
    return phrases


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "(none)"
    if hasattr(value, "human"):
        return value.human()
    variants = getattr(value, "variants", None)
    if variants:  # a text written per language: a change may be in any of them
        return "{" + ", ".join(f"{code}: {text}" for code, text in variants.items()) + "}"
    return str(value)


def _list_change(noun: str, a: list[str], b: list[str]) -> list[str]:
    added = [x for x in b if x not in a]
    removed = [x for x in a if x not in b]
    out = [f"{x} added" if noun == "channel" else f"{noun} {x} added" for x in added]
    out += [f"{x} removed" if noun == "channel" else f"{noun} {x} removed" for x in removed]
    if not out:  # same members, new order
        out.append(f"{noun}s reordered")
    return out


def _keyed_changes(a: dict[str, Any], b: dict[str, Any], added: Any, removed: Any, changed: Any) -> list[str]:
    """Phrases for a mapping (severity -> target, status -> cadence), keys in the new order first."""
    out = []
    for key in [*b, *(k for k in a if k not in b)]:
        before, after = a.get(key), b.get(key)
        if before == after:
            continue
        out.append(added(key, after) if before is None else removed(key, before) if after is None
                   else changed(key, before, after))
    return out


def _target_changes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return _keyed_changes(
        a, b, lambda s, t: f"{s} target added: {t.human().lower()}",
        lambda s, t: f"{s} target removed (was {t.human().lower()})",
        lambda s, x, y: f"{s} target {x.human().lower()} → {y.human().lower()}{_direction(x, y)}")


def _direction(before: Any, after: Any) -> str:
    if before.kind != after.kind and "best_effort" not in (before.kind, after.kind):
        return f" ({'business' if after.kind == 'business' else 'calendar'} time now)"
    if after.sort_seconds < before.sort_seconds:
        return " (tighter)"
    if after.sort_seconds > before.sort_seconds:
        return " (looser)"
    return ""


def _cap_change(a: Any, b: Any) -> str:
    if a is None:
        return f"agent time cap added: {b.human()}"
    if b is None:
        return f"agent time cap removed (was {a.human()})"
    more = " (more time)" if b.hours_per_month > a.hours_per_month else \
        " (less time)" if b.hours_per_month < a.hours_per_month else ""
    return f"agent time cap {a.human()} → {b.human()}{more}"


def _cadence_changes(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    def changed(status: str, x: Any, y: Any) -> str:
        how = ", automated" if y.automated and not x.automated else \
            ", by an agent" if x.automated and not y.automated else ""
        return f"{status} contact every {x.every.text} by {x.channel} → every {y.every.text} by {y.channel}{how}"

    return _keyed_changes(a, b, lambda st, c: f"{st} contact added: every {c.every.text} by {c.channel}",
                          lambda st, c: f"{st} contact removed (was every {c.every.text} by {c.channel})", changed)
