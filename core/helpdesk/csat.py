"""``tierctl helpdesk import-csat``: the helpdesk's good/bad satisfaction ratings, per tier,
into the ledger, incrementally.

A rating reaches a tier through its ticket's organisation: the organisation's tier tag
(what ``helpdesk sync`` sets), else the customer account it matches (external id, then
name). Ratings without an organisation, or whose organisation has no tier, are counted
and left out.

Each run starts where the last one stopped (the newest rating's time, kept as a pull
cursor in the ledger) unless ``since`` says otherwise; a rating already kept is updated
in place (a customer may change bad to good), never counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tierctl.helpdesk.matching import Account, OrganizationIndex
from tierctl.records import HelpdeskRating
from tierctl.surveys.instances import build_customer_source

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.helpdesks import Helpdesk
    from tierctl.host.plugin_host import PluginHost
    from tierctl.storage.ledger import Ledger

#: The ledger's pull-cursor slot for ratings (per helpdesk instance).
CURSOR_KEY = "satisfaction_ratings"
BATCH = 1000


@dataclass
class CsatImport:
    """What one import did."""

    read: int = 0
    new: int = 0
    updated: int = 0
    no_organization: int = 0
    no_tier: int = 0
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "new": self.new, "updated": self.updated,
                "no_organization": self.no_organization, "no_tier": self.no_tier,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}


def cursor_name(helpdesk: "Helpdesk") -> str:
    return f"helpdesk:{helpdesk.instance}"


def organization_tiers(config: "Config", host: "PluginHost", helpdesk: "Helpdesk") -> dict[str, str]:
    """``organisation id -> tier``: by the tier tag, else by the matching customer account."""
    tag_tier = {helpdesk.tier_tag(t): t for t in config.tiers}
    index = OrganizationIndex(helpdesk.organizations())
    out: dict[str, str] = {}
    for org in index.all:
        tier = next((tag_tier[t] for t in org.tags if t in tag_tier), None)
        if tier is not None:
            out[org.remote_id] = tier
    if "customers" in config.sources:
        seen: set[str] = set()
        for contact in build_customer_source(config, host).contacts(lambda _problem: None):
            if contact.account_id in seen:
                continue
            seen.add(contact.account_id)
            org = index.find(Account(contact.account_id, contact.account_name, contact.tier))
            if org is not None:
                out.setdefault(org.remote_id, contact.tier)
    return out


def import_csat(config: "Config", host: "PluginHost", helpdesk: "Helpdesk", ledger: "Ledger", now: datetime,
                since: datetime | None = None) -> CsatImport:
    """Import the ratings created since ``since`` (default: where the last import stopped)."""
    result = CsatImport()
    if since is None:
        saved = ledger.get_cursor(cursor_name(helpdesk), CURSOR_KEY)
        since = datetime.fromisoformat(saved) if saved else None
    result.since = since
    tiers = organization_tiers(config, host, helpdesk)
    tz = ZoneInfo(config.organization.timezone)
    batch: list[HelpdeskRating] = []
    newest = since

    def flush() -> None:
        if batch:
            added = ledger.add_helpdesk_ratings(helpdesk.instance, batch)
            result.new += added
            result.updated += len(batch) - added
            batch.clear()

    for rating in helpdesk.ratings(since):
        result.read += 1
        if newest is None or rating.created_at > newest:
            newest = rating.created_at
        if rating.organization_id is None:
            result.no_organization += 1
            continue
        tier = tiers.get(rating.organization_id)
        if tier is None:
            result.no_tier += 1
            continue
        batch.append(HelpdeskRating(rating.rating_id, tier, rating.organization_id, rating.score,
                                    rating.created_at, rating.created_at.astimezone(tz).date().isoformat()))
        if len(batch) >= BATCH:
            flush()
    flush()
    result.until = newest
    if newest is not None:
        # The next run asks from this second again (ratings of the same second are updated, not doubled).
        ledger.set_cursor(cursor_name(helpdesk), CURSOR_KEY, newest.isoformat(), now)
    return result
