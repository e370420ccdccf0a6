"""The PostgreSQL ledger's opt-outs, erasure and changed answers (a mixin of :class:`PostgresLedger`),
the same behaviour as :mod:`tierctl.storage.suppressions_sqlite` (the ledger contract checks both)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tierctl.storage.postgres_bulk import ANSWERED, ANSWERS_JOIN, CHOICE_KEY, SCORE_KEY
from tierctl.storage.backend_sql import sql_states
from tierctl.storage.ledger import CLAIMABLE_STATES, FAILED
from tierctl.storage.suppression_keys import (ALL_SURVEYS, OPTED_OUT, checked_suppression, forgotten_address,
                                              normalise_address, scopes_by_key, suppression_dicts,
                                              suppression_key, suppression_key_of)

if TYPE_CHECKING:
    from tierctl.records import StoredResponse

#: The PostgreSQL migration that adds suppressions.
SUPPRESSIONS_DDL: tuple[str, ...] = (
    """CREATE TABLE suppressions (
        address_hash TEXT NOT NULL,
        address TEXT,
        scope TEXT NOT NULL,
        source TEXT NOT NULL,
        reason TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (address_hash, scope)
    )""",
    "CREATE INDEX invitations_contact ON invitations (contact_email)",
)

# Take the old answers of replaced responses out of the rollup (the twin of postgres_bulk's folds).
_UNFOLD_ANSWERS = (
    "UPDATE answer_day_counts AS c SET n = c.n - o.n FROM (SELECT i.survey_id, i.tier, i.due_day, a.question_id, "
    f"q.qtype, {SCORE_KEY} AS score, {CHOICE_KEY} AS choice, COUNT(*) AS n FROM {ANSWERS_JOIN} "
    f"WHERE a.invitation = ANY(%s) AND {ANSWERED} GROUP BY 1, 2, 3, 4, 5, 6, 7) AS o "
    "WHERE (c.survey_id, c.tier, c.due_day, c.question_id, c.qtype, c.score, c.choice) = "
    "(o.survey_id, o.tier, o.due_day, o.question_id, o.qtype, o.score, o.choice)")
_UNFOLD_RESPONSES = (
    "UPDATE response_day_counts AS c SET responses = c.responses - o.n, keys = c.keys - o.keys FROM "
    "(SELECT i.survey_id, i.tier, i.due_day, COUNT(*) AS n, SUM(r.invitation) AS keys FROM responses AS r "
    "JOIN invitations AS i ON i.id = r.invitation WHERE r.invitation = ANY(%s) GROUP BY 1, 2, 3) AS o "
    "WHERE (c.survey_id, c.tier, c.due_day) = (o.survey_id, o.tier, o.due_day)")


class PostgresSuppressions:
    """Suppressions, erasure and latest-answer storage for the PostgreSQL ledger."""

    conn: Any
    _transaction: Any
    _record_questions: Any

    def add_suppression(self, address: str, survey_id: str | None, source: str, reason: str | None,
                        now: datetime, channel: str = "email") -> bool:
        address = checked_suppression(address, source, channel)
        at = _utc(now)
        with self._transaction() as conn:
            added = conn.execute(
                "INSERT INTO suppressions (address_hash, address, scope, source, reason, created_at, channel) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (suppression_key_of(address, channel), address, survey_id or ALL_SURVEYS, source, reason, at,
                 channel)).rowcount
            if channel != "email":  # invitations are kept by e-mail address: planning skips the number
                return bool(added)
            sql = (f"UPDATE invitations SET state = '{FAILED}', reason = %s, updated_at = %s "
                   f"WHERE contact_email = %s AND state IN {sql_states(CLAIMABLE_STATES)}")
            params: list[Any] = [OPTED_OUT, at, address]
            if survey_id is not None:
                sql += " AND survey_id = %s"
                params.append(survey_id)
            conn.execute(sql, params)
        return bool(added)

    def remove_suppression(self, address: str, survey_id: str | None = None, channel: str = "email") -> int:
        key = suppression_key_of(address.strip(), channel)
        with self._transaction() as conn:
            if survey_id is None:
                return conn.execute("DELETE FROM suppressions WHERE address_hash = %s", (key,)).rowcount
            return conn.execute("DELETE FROM suppressions WHERE address_hash = %s AND scope = %s",
                                (key, survey_id)).rowcount

    def suppressions(self) -> list[dict[str, Any]]:
        return suppression_dicts(self.conn.execute(
            "SELECT address_hash, address, scope, source, reason, created_at, channel FROM suppressions "
            "ORDER BY created_at, address_hash, scope"))

    def suppressed(self) -> dict[str, frozenset[str]]:
        return scopes_by_key(self.conn.execute("SELECT address_hash, scope FROM suppressions"))

    def store_latest_responses(self, rows: list["StoredResponse"]) -> list["StoredResponse"]:
        from tierctl.storage.postgres_bulk import add_responses

        if any(r.invitation is None for r in rows):
            raise ValueError("store_latest_responses needs the invitations' keys (from lookup_invitations)")
        latest = list({r.invitation: r for r in rows}.values())  # the last row of an invitation wins
        if not latest:
            return []
        with self._transaction() as conn:
            self._record_questions(conn, latest)
            # Lock the invitations' rows: two servers changing the same answers take turns.
            keys = sorted(r.invitation for r in latest)
            conn.execute("SELECT id FROM invitations WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (keys,))
            owners = dict(conn.execute("SELECT response_id, invitation FROM responses WHERE response_id = ANY(%s)",
                                       ([r.response_id for r in latest],)).fetchall())
            keep = [r for r in latest if owners.get(r.response_id, r.invitation) == r.invitation]
            if not keep:
                return []
            replaced = [row[0] for row in conn.execute("SELECT invitation FROM responses WHERE invitation = ANY(%s)",
                                                       ([r.invitation for r in keep],))]
            if replaced:
                conn.execute(_UNFOLD_ANSWERS, (replaced,))
                conn.execute(_UNFOLD_RESPONSES, (replaced,))
                conn.execute("DELETE FROM answer_day_counts WHERE n <= 0")
                conn.execute("DELETE FROM response_day_counts WHERE responses <= 0")
                conn.execute("DELETE FROM answers WHERE invitation = ANY(%s)", (replaced,))
                conn.execute("DELETE FROM responses WHERE invitation = ANY(%s)", (replaced,))
            add_responses(conn, keep)
        return keep

    def forget_contact(self, address: str, now: datetime) -> dict[str, int]:
        address = normalise_address(address)
        with self._transaction() as conn:
            texts = conn.execute(
                "UPDATE answers AS a SET text = '[erased]' FROM invitations AS i, questions AS q "
                "WHERE i.id = a.invitation AND i.contact_email = %s AND q.survey_id = i.survey_id "
                "AND q.question_id = a.question_id AND q.qtype = 'text' AND a.text <> ''", (address,)).rowcount
            # The numbers their texts went to: erased, and their opt-outs kept by hash only.
            phones = {r[0] for r in conn.execute(
                "SELECT t.channel || ':' || t.phone FROM texts AS t JOIN invitations AS i ON i.invite_id = "
                "t.invite_id WHERE i.contact_email = %s AND t.phone IS NOT NULL FOR UPDATE OF t", (address,))}
            conn.execute("UPDATE texts AS t SET phone = NULL FROM invitations AS i WHERE i.invite_id = t.invite_id "
                         "AND i.contact_email = %s AND t.phone IS NOT NULL", (address,))
            number_keys = sorted({suppression_key(p) for p in phones})
            invitations = conn.execute("UPDATE invitations SET contact_email = %s, updated_at = %s "
                                       "WHERE contact_email = %s",
                                       (forgotten_address(address), _utc(now), address)).rowcount
            suppressions = conn.execute("UPDATE suppressions SET address = NULL WHERE address_hash = ANY(%s)",
                                        ([suppression_key(address), *number_keys],)).rowcount
        return {"invitations": invitations, "text_answers": texts, "suppressions": suppressions}

    _invitation_columns: tuple[str, ...]

    def invitation(self, invite_id: str) -> dict[str, Any] | None:
        columns = self._invitation_columns
        row = self.conn.execute(f"SELECT {', '.join(columns)} FROM invitations WHERE invite_id = %s",
                                (invite_id,)).fetchone()
        return None if row is None else dict(zip(columns, row))


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"the ledger needs timezone-aware datetimes, got {value!r}")
    return value.astimezone(timezone.utc)
