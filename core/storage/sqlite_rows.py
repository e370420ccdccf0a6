"""Rows of the SQLite ledger as Python values: column lists, and datetimes to and from text.

Datetimes are stored as fixed-width UTC ISO-8601 text, which sorts like time.
Shared by :mod:`~tierctl.storage.ledger_sqlite` and its mixins.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

INVITATION_COLUMNS = ("invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id",
                       "provider", "state", "throttled", "due_at", "closes_at", "created_at",
                       "updated_at", "claimed_at", "sent_at", "external_id", "reason", "attempts",
                       "run_id", "due_day", "locale")
# responses_for_account: a response with its invitation's facts.
RESPONSE_COLUMNS = ("response_id", "invite_id", "survey_id", "tier", "account_id", "contact_email",
                     "occasion", "due_day", "submitted_at", "source", "received_at")
RESPONSE_SELECT = ("r.response_id, i.invite_id, i.survey_id, i.tier, i.account_id, i.contact_email, "
                    "i.occasion, i.due_day, r.submitted_at, r.source, r.received_at, r.invitation")
DATETIME_COLUMNS = frozenset({"due_at", "closes_at", "created_at", "updated_at", "claimed_at",
                               "sent_at", "started_at", "finished_at", "submitted_at", "received_at"})


def ts_text(value: datetime) -> str:
    """A timezone-aware datetime as fixed-width, sortable UTC text."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"the ledger needs timezone-aware datetimes, got {value!r}")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


class Stamps(dict):
    """:func:`ts_text` with a memo: a batch's invitations share a few due and closing times."""

    def __missing__(self, value: datetime) -> str:
        text = self[value] = ts_text(value)
        return text


def parse_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def row_dict(columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    out = {}
    for name, value in zip(columns, row):
        if name in DATETIME_COLUMNS:
            value = parse_ts(value)
        elif name == "throttled":
            value = bool(value)
        out[name] = value
    return out
