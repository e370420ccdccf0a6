"""The SQLite ledger's texts: SMS and WhatsApp messages sent, their receipts, and the invitation a
reply answers (a mixin of :class:`~tierctl.storage.ledger_sqlite.SqliteLedger`).

One row per message a text provider accepted, keyed by the platform's
message id (``MessageSid``): the invitation, the number, the channel and the
contact's language; ``delivery``/``delivery_rank`` hold the furthest stage a
receipt reported (see :data:`tierctl.storage.ledger.DELIVERY_RANK`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tierctl.storage.ledger import DELIVERY_COUNTED, DELIVERY_RANK, SENT, UNDELIVERED_COLUMNS as _UNDELIVERED

#: The ledger migration that adds texts and channel suppressions.
TEXTS_DDL: tuple[str, ...] = (
    """CREATE TABLE texts (
        external_id TEXT PRIMARY KEY,
        invite_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        phone TEXT,
        locale TEXT NOT NULL DEFAULT '',
        sent_at TEXT NOT NULL,
        delivery TEXT,
        delivery_rank INTEGER NOT NULL DEFAULT -1,
        error_code TEXT,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID""",
    # A reply finds the latest text to its number.
    "CREATE INDEX texts_phone ON texts (phone, sent_at)",
    "CREATE INDEX texts_invite ON texts (invite_id)",
    "ALTER TABLE suppressions ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'",
)


class SqliteTexts:
    """Texts sent, delivery receipts and reply lookups for the SQLite ledger."""

    conn: Any
    _transaction: Any
    _stamp: Any

    def record_texts(self, texts: list[tuple[str, str, str, str, str]], now: datetime) -> int:
        if not texts:
            return 0
        at = self._stamp(now)
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO texts (external_id, invite_id, channel, phone, locale, sent_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(ext, iid, channel, phone or None, locale or "", at, at) for iid, ext, channel, phone, locale in texts])
            return conn.total_changes - before

    def record_delivery(self, external_id: str, status: str, error_code: str, now: datetime) -> bool:
        rank = DELIVERY_RANK.get(status)
        if rank is None:
            return False
        with self._transaction() as conn:
            return bool(conn.execute(
                "UPDATE texts SET delivery = ?, delivery_rank = ?, error_code = ?, updated_at = ? "
                "WHERE external_id = ? AND delivery_rank < ?",
                (status, rank, error_code or None, self._stamp(now), external_id, rank)).rowcount)

    def text_invitation(self, phone: str, survey_ids: list[str], now: datetime) -> dict[str, Any] | None:
        if not survey_ids or not phone:
            return None
        marks = ", ".join("?" * len(survey_ids))
        row = self.conn.execute(
            "SELECT t.invite_id, i.survey_id, t.locale, t.channel, i.provider FROM texts AS t "
            "JOIN invitations AS i ON i.invite_id = t.invite_id "
            f"WHERE t.phone = ? AND i.survey_id IN ({marks}) AND i.state = '{SENT}' AND i.closes_at > ? "
            "ORDER BY t.sent_at DESC, t.external_id DESC LIMIT 1",
            (phone, *survey_ids, self._stamp(now))).fetchone()
        return None if row is None else dict(zip(("invite_id", "survey_id", "locale", "channel", "provider"), row))

    def undelivered_texts(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT i.survey_id, i.contact_email, t.channel, t.delivery, t.error_code, t.updated_at FROM texts AS t "
            "JOIN invitations AS i ON i.invite_id = t.invite_id WHERE t.delivery IN ('failed', 'undelivered') "
            "ORDER BY t.updated_at DESC, t.external_id LIMIT ?", (limit,))
        return [dict(zip(_UNDELIVERED, (*row[:5], datetime.fromisoformat(row[5])))) for row in rows]

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        marks = ", ".join(f"'{d}'" for d in DELIVERY_COUNTED)
        for survey_id, delivery, n in self.conn.execute(
                "SELECT i.survey_id, t.delivery, COUNT(*) FROM texts AS t JOIN invitations AS i "
                f"ON i.invite_id = t.invite_id WHERE t.delivery IN ({marks}) GROUP BY 1, 2"):
            counts.setdefault(survey_id, {})[delivery] = n
        return counts
