"""How opt-outs are keyed and checked: an address's or number's suppression key, shared by the
ledger interface and both storage backends (re-exported by :mod:`tierctl.storage.ledger`).

A suppression is kept under a SHA-256 of the normalised address, so an erased address is still
recognised without being stored; a phone number's opt-out has its own key per channel.
"""

from __future__ import annotations

from typing import Any

from tierctl.errors import TierctlError

#: The scope of a suppression that covers every survey.
ALL_SURVEYS = "*"
#: Where a suppression came from.
SUPPRESSION_SOURCES = ("link", "manual", "import", "provider")
#: The reason invitations of a suppressed address are failed with, and the plan's skip reason.
OPTED_OUT = "opted out"
#: The channels a suppression applies to: ``email`` is keyed by address, the others by phone number.
SUPPRESSION_CHANNELS = ("email", "sms", "whatsapp")


def normalise_address(address: str) -> str:
    """An e-mail address as suppressions compare it: trimmed, lower-case, without ``mailto:`` or ``<>``."""
    text = address.strip().strip("<>").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def suppression_key(address: str) -> str:
    """The key suppressions are kept and looked up by: a SHA-256 of the normalised address, so an
    erased address is still recognised without being stored."""
    import hashlib

    return hashlib.sha256(normalise_address(address).encode("utf-8")).hexdigest()


def phone_suppression_key(channel: str, phone: str) -> str:
    """The key of a phone number's suppression on ``channel`` (``sms``, ``whatsapp``): its own
    hash, so an SMS opt-out never stops an e-mail and the number is not needed to honour it."""
    return suppression_key(f"{channel}:{phone.strip()}")


def checked_suppression(address: str, source: str, channel: str = "email") -> str:
    """The normalised address (or E.164 number, for a text channel) of a new suppression;
    ``ValueError`` for an unknown source or channel, :class:`~tierctl.errors.TierctlError` for
    something that is not an address or number (backends share it)."""
    if source not in SUPPRESSION_SOURCES:
        raise ValueError(f"unknown suppression source {source!r}; sources are {', '.join(SUPPRESSION_SOURCES)}")
    if channel not in SUPPRESSION_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; channels are {', '.join(SUPPRESSION_CHANNELS)}")
    if channel != "email":
        return checked_number(address)
    address = normalise_address(address)
    if "@" not in address:
        raise TierctlError(f"{address!r} is not an e-mail address; expected name@domain.example")
    return address


def checked_number(number: str) -> str:
    """``number`` stripped, if it is in E.164 form; :class:`~tierctl.errors.TierctlError` otherwise."""
    number = number.strip()
    if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
        raise TierctlError(f"{number!r} is not a phone number in E.164 form; expected +31612345678")
    return number


def suppression_key_of(address: str, channel: str) -> str:
    """:func:`suppression_key` of an e-mail address, :func:`phone_suppression_key` of a number."""
    return suppression_key(address) if channel == "email" else phone_suppression_key(channel, address)


def suppression_dicts(rows: Any) -> list[dict[str, Any]]:
    """:meth:`Ledger.suppressions` from rows of (hash, address, scope, source, reason, created_at, channel)."""
    return [{"address": address, "address_hash": key, "survey_id": None if scope == ALL_SURVEYS else scope,
             "source": source, "reason": reason, "created_at": created_at, "channel": channel}
            for key, address, scope, source, reason, created_at, channel in rows]


def scopes_by_key(rows: Any) -> dict[str, frozenset[str]]:
    """:meth:`Ledger.suppressed` from rows of (hash, scope)."""
    scopes: dict[str, set[str]] = {}
    for key, scope in rows:
        scopes.setdefault(key, set()).add(scope)
    return {key: frozenset(s) for key, s in scopes.items()}


def forgotten_address(address: str) -> str:
    """The pseudonym an erased address is replaced with (unique per address, not reversible)."""
    return f"forgotten-{suppression_key(address)[:24]}@erased.invalid"
