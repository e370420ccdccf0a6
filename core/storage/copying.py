"""Copying a ledger between backends (``tierctl ledger copy --to URL``), without loss and with proof.

Every backend reads and writes the same portable tables (:data:`TABLES`),
row by row in primary-key order, in a canonical form: times as fixed-width
UTC ISO text, flags as 0/1, an answer's value as the int, float or text it
was. :func:`copy_ledger` loads them into an empty target, rebuilds the
target's metrics rollup from the copied answers (it is derived data), then
reads both ledgers again and compares per table the row count and a
SHA-256 over the canonical rows: a copy that lost or changed anything does
not pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from tierctl.errors import TierctlError

if TYPE_CHECKING:
    from tierctl.storage.ledger import Ledger

#: table -> its columns, in the order dumped and loaded (the first column(s) are the key).
TABLES: dict[str, tuple[str, ...]] = {
    "runs": ("id", "kind", "pid", "host", "started_at", "finished_at", "status", "counts"),
    "invitations": ("id", "invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id", "provider",
                    "state", "throttled", "due_at", "closes_at", "created_at", "updated_at", "claimed_at",
                    "sent_at", "external_id", "reason", "attempts", "run_id", "due_day", "locale"),
    "cursors": ("provider", "survey_id", "cursor", "updated_at"),
    "questions": ("survey_id", "question_id", "qtype"),
    "responses": ("invitation", "response_id", "source", "submitted_at", "received_at"),
    "answers": ("invitation", "question_id", "value"),
    "helpdesk_ratings": ("source", "rating_id", "tier", "organization", "score", "created_at", "day"),
    "suppressions": ("address_hash", "address", "scope", "source", "reason", "created_at", "channel"),
    "texts": ("external_id", "invite_id", "channel", "phone", "locale", "sent_at", "delivery", "delivery_rank",
              "error_code", "updated_at"),
}
#: The order of primary keys each table is dumped in.
ORDER_BY: dict[str, str] = {"runs": "id", "invitations": "id", "cursors": "provider, survey_id",
                            "questions": "survey_id, question_id", "responses": "invitation",
                            "answers": "invitation, question_id", "helpdesk_ratings": "source, rating_id",
                            "suppressions": "address_hash, scope", "texts": "external_id"}
TIME_COLUMNS = frozenset({"started_at", "finished_at", "due_at", "closes_at", "created_at", "updated_at",
                          "claimed_at", "sent_at", "submitted_at", "received_at"})
# (helpdesk_ratings.created_at is a time too: TIME_COLUMNS is by name.)


def canonical_time(value: Any) -> str | None:
    """A stored time as fixed-width UTC text (what the SQLite ledger stores)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical_value(value: Any) -> Any:
    """An answer's value: an integral number as int, other numbers as float, text as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if float(value).is_integer() else float(value)
    return value


def time_positions(table: str) -> list[int]:
    return [i for i, c in enumerate(TABLES[table]) if c in TIME_COLUMNS]


def with_canonical_times(row: Sequence[Any], times: list[int]) -> Sequence[Any]:
    """``row`` with its values at ``times`` (:func:`time_positions`) as :func:`canonical_time`."""
    if not times:
        return row
    out = list(row)
    for i in times:
        out[i] = canonical_time(out[i])
    return tuple(out)


@dataclass(frozen=True)
class TableCheck:
    """One table of a copy: rows and checksum on each side."""

    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sha256 == self.target_sha256


def digest(rows: Iterable[tuple[Any, ...]]) -> tuple[int, str]:
    """``(rows, SHA-256)`` of canonical rows (each row's ``repr``, one per line)."""
    h = hashlib.sha256()
    n = 0
    for row in rows:
        h.update(repr(tuple(row)).encode("utf-8"))
        h.update(b"\n")
        n += 1
    return n, h.hexdigest()


def check(source: "Ledger", target: "Ledger") -> list[TableCheck]:
    """Row counts and checksums of every portable table on both sides."""
    out = []
    for table in TABLES:
        n_src, h_src = digest(source.dump_table(table))
        n_dst, h_dst = digest(target.dump_table(table))
        out.append(TableCheck(table, n_src, n_dst, h_src, h_dst))
    return out


def copy_ledger(source: "Ledger", target: "Ledger") -> list[TableCheck]:
    """Copy every portable table of ``source`` into the empty ``target``, then compare them.

    :raises tierctl.errors.TierctlError: the target is not empty, or cannot take the rows.
    """
    for table in TABLES:
        rows = target.dump_table(table)
        first = next(rows, None)
        close = getattr(rows, "close", None)
        if close is not None:
            close()
        if first is not None:
            raise TierctlError(f"ledger copy: the target already holds {table}; copy into a new, empty ledger "
                               "(a new SQLite file, or an empty PostgreSQL database or schema)")
    for table in TABLES:
        target.load_table(table, source.dump_table(table))
    target.rebuild_rollup()
    return check(source, target)
