"""Which helpdesk organisation is which customer account: by external id (case-insensitive,
as Zendesk compares them), else by name (case-insensitive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from tierctl.helpdesks import Organization


@dataclass(frozen=True)
class Account:
    """A customer account as the customers source gives it."""

    account_id: str
    name: str
    tier: str


class OrganizationIndex:
    """Organisations looked up by external id or name."""

    def __init__(self, organizations: Iterable["Organization"]):
        self.all = list(organizations)
        self.by_external_id = {o.external_id.lower(): o for o in self.all if o.external_id}
        self.by_name: dict[str, "Organization"] = {}
        for o in self.all:
            self.by_name.setdefault(o.name.strip().lower(), o)

    def find(self, account: Account) -> "Organization | None":
        return self.by_external_id.get(account.account_id.lower()) or self.by_name.get(account.name.strip().lower())
