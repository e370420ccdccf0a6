"""The lines ``survey plan`` prints: one per due invitation or deferral.

Kept out of the CLI because a worker process writing part of a big plan
(:mod:`tierctl.surveys.plan_parts`) must write exactly the lines the
command itself would.

An item is an :class:`~tierctl.records.Invitation`, a
:class:`~tierctl.surveys.plan_records.Deferral`, or a due row
``(occasion, contact)`` as :meth:`Scheduler.plan_rows
<tierctl.surveys.scheduler.Scheduler.plan_rows>` yields it (a million-line
plan never builds its invitations).
"""

from __future__ import annotations

from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from tierctl.surveys.plan_records import Deferral


class IsoCache(dict):
    """ISO strings of datetimes: a plan's items share a few occasions' times."""

    def __call__(self, moment: datetime) -> str:
        text = self.get(moment)
        if text is None:
            text = self[moment] = moment.isoformat()
        return text


def item_dict(item: Any, iso: IsoCache) -> dict[str, Any]:
    """The JSON object of a plan item (``survey plan --json``)."""
    if item.__class__ is tuple:  # a due row
        occ, contact = item
        return {"type": "due", "survey": occ.survey_id, "tier": contact.tier, "account_id": contact.account_id,
                "contact": contact.email, "role": contact.role, "occasion": occ.occasion,
                "due_at": iso(occ.due_at), "closes_at": iso(occ.closes_at)}
    deferred = isinstance(item, Deferral)
    inv = item.invitation if deferred else item
    out = {"type": "deferred" if deferred else "due", "survey": inv.survey_id, "tier": inv.tier,
           "account_id": inv.account_id, "contact": inv.contact_email, "role": inv.role,
           "occasion": inv.occasion, "due_at": iso(inv.due_at), "closes_at": iso(inv.closes_at)}
    if deferred:
        out["until"] = iso(item.until)
        out["reason"] = item.reason
    return out


class JsonLines:
    """One JSON object per plan item, as ``json.dumps(item_dict(item))`` would write it.

    Built from the C string encoder with the few repeated values (survey,
    tier, occasion, times) encoded once: a million-line plan spends most of
    its time here otherwise.
    """

    #: How many distinct (occasion, tier, role) texts to keep (a spread survey's waves make many).
    max_cached = 10_000

    def __init__(self, iso: IsoCache):
        self.enc = encode_basestring_ascii
        self.iso = iso
        self.cache: dict[Any, str] = {}
        self.around: dict[tuple[Any, ...], tuple[str, str]] = {}
        self.account: str | None = None
        self.account_text = ""

    def shared(self, value: Any) -> str:
        text = self.cache.get(value)
        if text is None:
            text = self.cache[value] = self.enc(self.iso(value) if isinstance(value, datetime) else value)
        return text

    def _around(self, survey_id: str, tier: str, role: str, occasion: str, due_at: datetime,
                closes_at: datetime) -> tuple[str, str]:
        shared = self.shared
        return (f'{{"type": "due", "survey": {shared(survey_id)}, "tier": {shared(tier)}, "account_id": ',
                f', "role": {shared(role)}, "occasion": {shared(occasion)}, '
                f'"due_at": {shared(due_at)}, "closes_at": {shared(closes_at)}}}\n')

    def __call__(self, item: Any) -> str:
        # The text before the account and after the contact, by what they are made of: a plan's
        # lines share a few of these.
        if item.__class__ is tuple:
            occ, contact = item
            # An occasion is hashed by identity (a plan shares a few), so this key is cheap.
            key: tuple[Any, ...] = (occ, contact.tier, contact.role)
            around = self.around.get(key)
            if around is None:
                around = self._around(occ.survey_id, contact.tier, contact.role, occ.occasion, occ.due_at,
                                      occ.closes_at)
                if len(self.around) < self.max_cached:
                    self.around[key] = around
            account, email = contact.account_id, contact.email
        elif isinstance(item, Deferral):
            inv, shared, enc = item.invitation, self.shared, self.enc
            return (f'{{"type": "deferred", "survey": {shared(inv.survey_id)}, "tier": {shared(inv.tier)}, '
                    f'"account_id": {enc(inv.account_id)}, "contact": {enc(inv.contact_email)}, '
                    f'"role": {shared(inv.role)}, "occasion": {enc(inv.occasion)}, '
                    f'"due_at": {shared(inv.due_at)}, "closes_at": {shared(inv.closes_at)}, '
                    f'"until": {shared(item.until)}, "reason": {enc(item.reason)}}}\n')
        else:
            key = (item.survey_id, item.tier, item.role, item.occasion, item.due_at, item.closes_at)
            around = self.around.get(key)
            if around is None:
                around = self._around(*key)
                if len(self.around) < self.max_cached:
                    self.around[key] = around
            account, email = item.account_id, item.contact_email
        if account != self.account:
            # An account's contacts come one after another: its id is encoded once for all of them.
            self.account = account
            self.account_text = f'{self.enc(account)}, "contact": '
        return f'{around[0]}{self.account_text}{self.enc(email)}{around[1]}'


class TextLines:
    """One column-aligned text line per plan item (``survey plan`` without ``--json``)."""

    def __init__(self, iso: IsoCache):
        self.iso = iso

    def __call__(self, item: Any) -> str:
        if item.__class__ is tuple:
            occ, contact = item
            return (f"due       {occ.survey_id:<18} {contact.tier:<10} {contact.account_id:<12} "
                    f"{contact.email:<32} {occ.occasion}  since {self.iso(occ.due_at)}\n")
        if isinstance(item, Deferral):
            inv = item.invitation
            return (f"deferred  {inv.survey_id:<18} {inv.tier:<10} {inv.account_id:<12} "
                    f"{inv.contact_email:<32} {inv.occasion}  until {self.iso(item.until)}\n")
        return (f"due       {item.survey_id:<18} {item.tier:<10} {item.account_id:<12} "
                f"{item.contact_email:<32} {item.occasion}  since {self.iso(item.due_at)}\n")


def plan_lines(as_json: bool) -> JsonLines | TextLines:
    """The line writer of ``survey plan`` (``--json`` or not)."""
    iso = IsoCache()
    return JsonLines(iso) if as_json else TextLines(iso)
