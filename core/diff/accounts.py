"""Accounts and contacts that move tier: each version's customers source read, each
account placed in the tier its plan maps to, and the two placements compared."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tierctl.surveys.instances import build_customer_source

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

#: How an account with no tier (its plan is in no tier of that version) is shown.
NO_TIER = "(none)"


@dataclass(frozen=True)
class MovedAccount:
    account_id: str
    name: str
    plan: str
    old_tier: str
    new_tier: str
    contacts: int


@dataclass
class Moves:
    """Accounts whose tier differs between the versions, and the counts per (from, to)."""

    accounts: list[MovedAccount] = field(default_factory=list)
    skipped_rows: int = 0  # customer rows a source could not read (either version)

    def counts(self) -> list[tuple[str, str, int, int]]:
        """``(from tier, to tier, accounts, contacts)``, most accounts first."""
        accounts: Counter[tuple[str, str]] = Counter()
        contacts: Counter[tuple[str, str]] = Counter()
        for a in self.accounts:
            accounts[(a.old_tier, a.new_tier)] += 1
            contacts[(a.old_tier, a.new_tier)] += a.contacts
        return [(f, t, n, contacts[(f, t)]) for (f, t), n in sorted(accounts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def as_dict(self, with_accounts: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"moves": [{"from": f, "to": t, "accounts": n, "contacts": c}
                                         for f, t, n, c in self.counts()],
                               "skipped_rows": self.skipped_rows}
        if with_accounts:
            out["accounts"] = [{"account_id": a.account_id, "name": a.name, "plan": a.plan, "from": a.old_tier,
                                "to": a.new_tier, "contacts": a.contacts} for a in self.accounts]
        return out


def tier_moves(old: "Config", new: "Config", host: "PluginHost") -> Moves:
    """The accounts whose tier changes (an account's tier is its first row's)."""
    moves = Moves()
    if "customers" not in new.sources and "customers" not in old.sources:
        return moves
    before = _placements(old, host, moves)
    after = _placements(new, host, moves)
    for account_id in list(after) + [a for a in before if a not in after]:
        b, a = before.get(account_id), after.get(account_id)
        old_tier = b[0] if b else NO_TIER
        new_tier = a[0] if a else NO_TIER
        if old_tier != new_tier:
            name, plan, contacts = (a or b)[1:]  # type: ignore[misc]
            moves.accounts.append(MovedAccount(account_id, name, plan, old_tier, new_tier, contacts))
    return moves


def _placements(config: "Config", host: "PluginHost", moves: Moves) -> dict[str, tuple[str, str, str, int]]:
    """``account -> (tier, name, plan, contacts)`` for one version."""
    if "customers" not in config.sources:
        return {}
    out: dict[str, tuple[str, str, str, int]] = {}

    def skipped(_problem: Any) -> None:
        moves.skipped_rows += 1

    for contact in build_customer_source(config, host).contacts(skipped):
        seen = out.get(contact.account_id)
        out[contact.account_id] = (contact.tier, contact.account_name, contact.plan, 1) if seen is None else \
            seen[:3] + (seen[3] + 1,)
    return out
