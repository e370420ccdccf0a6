"""The PostgreSQL ledger's texts (a mixin of :class:`~tierctl.storage.ledger_postgres.PostgresLedger`),
the same behaviour as :mod:`tierctl.storage.texts_sqlite` (the ledger contract checks both)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tierctl.storage.ledger import DELIVERY_COUNTED, DELIVERY_RANK, SENT, UNDELIVERED_COLUMNS as _UNDELIVERED
from tierctl.storage.suppressions_postgres import _utc

#: The PostgreSQL migration that adds texts and channel suppressions.
TEXTS_DDL: tuple[str, ...] = (
    """CREATE TABLE texts (
        external_id TEXT PRIMARY KEY,
        invite_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        phone TEXT,
        locale TEXT NOT NULL DEFAULT '',
        sent_at TIMESTAMPTZ NOT NULL,
        delivery TEXT,
        delivery_rank INTEGER NOT NULL DEFAULT -1,
        error_code TEXT,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX texts_phone ON texts (phone, sent_at)",
    "CREATE INDEX texts_invite ON texts (invite_id)",
    "ALTER TABLE suppressions ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'",
)


class PostgresTexts:
    """Texts sent, delivery receipts and reply lookups for the PostgreSQL ledger."""

    conn: Any
    _transaction: Any

    def record_texts(self, texts: list[tuple[str, str, str, str, str]], now: datetime) -> int:
        if not texts:
            return 0
        at = _utc(now)
        columns = list(zip(*[(ext, iid, channel, phone or None, locale or "") for iid, ext, channel, phone, locale
                             in texts]))
        with self._transaction() as conn:
            return conn.execute(
                "INSERT INTO texts (external_id, invite_id, channel, phone, locale, sent_at, updated_at) "
                "SELECT e, i, c, p, l, %s, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::text[]) AS n(e, i, c, p, l) ON CONFLICT DO NOTHING",
                (at, at, *[list(c) for c in columns])).rowcount

    def record_delivery(self, external_id: str, status: str, error_code: str, now: datetime) -> bool:
        rank = DELIVERY_RANK.get(status)
        if rank is None:
            return False
        with self._transaction() as conn:
            return bool(conn.execute(
                "UPDATE texts SET delivery = %s, delivery_rank = %s, error_code = %s, updated_at = %s "
                "WHERE external_id = %s AND delivery_rank < %s",
                (status, rank, error_code or None, _utc(now), external_id, rank)).rowcount)

    def text_invitation(self, phone: str, survey_ids: list[str], now: datetime) -> dict[str, Any] | None:
        if not survey_ids or not phone:
            return None
        row = self.conn.execute(
            "SELECT t.invite_id, i.survey_id, t.locale, t.channel, i.provider FROM texts AS t "
            "JOIN invitations AS i ON i.invite_id = t.invite_id "
            f"WHERE t.phone = %s AND i.survey_id = ANY(%s) AND i.state = '{SENT}' AND i.closes_at > %s "
            "ORDER BY t.sent_at DESC, t.external_id DESC LIMIT 1",
            (phone, list(survey_ids), _utc(now))).fetchone()
        return None if row is None else dict(zip(("invite_id", "survey_id", "locale", "channel", "provider"), row))

    def undelivered_texts(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT i.survey_id, i.contact_email, t.channel, t.delivery, t.error_code, t.updated_at FROM texts AS t "
            "JOIN invitations AS i ON i.invite_id = t.invite_id WHERE t.delivery IN ('failed', 'undelivered') "
            "ORDER BY t.updated_at DESC, t.external_id LIMIT %s", (limit,))
        return [dict(zip(_UNDELIVERED, row)) for row in rows]

    def delivery_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for survey_id, delivery, n in self.conn.execute(
                "SELECT i.survey_id, t.delivery, COUNT(*) FROM texts AS t JOIN invitations AS i "
                "ON i.invite_id = t.invite_id WHERE t.delivery = ANY(%s) GROUP BY 1, 2", (list(DELIVERY_COUNTED),)):
            counts.setdefault(survey_id, {})[delivery] = n
        return counts

