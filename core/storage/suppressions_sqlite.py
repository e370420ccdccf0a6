"""The SQLite ledger's opt-outs, erasure and changed answers (a mixin of :class:`SqliteLedger`).

Suppressions are keyed by the hash of the normalised address
(:func:`tierctl.storage.ledger.suppression_key`) and scope; the address itself
is kept beside it until :meth:`forget_contact` erases it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierctl.storage.backend_sql import sql_states
from tierctl.storage.ledger import CLAIMABLE_STATES, FAILED
from tierctl.storage.suppression_keys import (ALL_SURVEYS, OPTED_OUT, checked_suppression, forgotten_address,
                                              normalise_address, scopes_by_key, suppression_dicts,
                                              suppression_key, suppression_key_of)
from tierctl.storage.metrics_sqlite import fold_answers, rebuild_rollup

if TYPE_CHECKING:
    from tierctl.records import StoredResponse

#: The ledger migration that adds suppressions (schema version 5).
SUPPRESSIONS_DDL: tuple[str, ...] = (
    """CREATE TABLE suppressions (
        address_hash TEXT NOT NULL,
        address TEXT,
        scope TEXT NOT NULL,
        source TEXT NOT NULL,
        reason TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (address_hash, scope)
    ) WITHOUT ROWID""",
    # forget_contact and optout find a person's invitations by address.
    "CREATE INDEX invitations_contact ON invitations (contact_email)",
)

_ERASED = "[erased]"


class SqliteSuppressions:
    """Suppressions, erasure and latest-answer storage for :class:`~tierctl.storage.ledger_sqlite.SqliteLedger`."""

    conn: Any
    _transaction: Any
    _stamp: Any  # the ledger's datetime -> stored text
    _record_questions: Any

    def add_suppression(self, address: str, survey_id: str | None, source: str, reason: str | None,
                        now: datetime, channel: str = "email") -> bool:
        _ts = self._stamp
        address = checked_suppression(address, source, channel)
        scope = survey_id or ALL_SURVEYS
        at = _ts(now)
        with self._transaction() as conn:
            added = conn.execute(
                "INSERT INTO suppressions (address_hash, address, scope, source, reason, created_at, channel) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (suppression_key_of(address, channel), address, scope, source, reason, at, channel)).rowcount
            if channel != "email":  # invitations are kept by e-mail address: planning skips the number
                return bool(added)
            sql = (f"UPDATE invitations SET state = '{FAILED}', reason = ?, updated_at = ? "
                   f"WHERE contact_email = ? AND state IN {sql_states(CLAIMABLE_STATES)}")
            params: list[Any] = [OPTED_OUT, at, address]
            if survey_id is not None:
                sql += " AND survey_id = ?"
                params.append(survey_id)
            conn.execute(sql, params)
        return bool(added)

    def remove_suppression(self, address: str, survey_id: str | None = None, channel: str = "email") -> int:
        key = suppression_key_of(address.strip(), channel)
        with self._transaction() as conn:
            if survey_id is None:
                return conn.execute("DELETE FROM suppressions WHERE address_hash = ?", (key,)).rowcount
            return conn.execute("DELETE FROM suppressions WHERE address_hash = ? AND scope = ?",
                                (key, survey_id)).rowcount

    def suppressions(self) -> list[dict[str, Any]]:
        return suppression_dicts((*row[:5], datetime.fromisoformat(row[5]), row[6]) for row in self.conn.execute(
            "SELECT address_hash, address, scope, source, reason, created_at, channel FROM suppressions "
            "ORDER BY created_at, address_hash, scope"))

    def suppressed(self) -> dict[str, frozenset[str]]:
        return scopes_by_key(self.conn.execute("SELECT address_hash, scope FROM suppressions"))

    def store_latest_responses(self, rows: list["StoredResponse"]) -> list["StoredResponse"]:
        _ts = self._stamp
        if any(r.invitation is None for r in rows):
            raise ValueError("store_latest_responses needs the invitations' keys (from lookup_invitations)")
        latest = list({r.invitation: r for r in rows}.values())  # the last row of an invitation wins
        if not latest:
            return []
        with self._transaction() as conn:
            self._record_questions(conn, latest)
            owners: dict[str, Any] = {}
            existing: set[Any] = set()
            for start in range(0, len(latest), 250):
                chunk = latest[start:start + 250]
                marks = ", ".join("?" * len(chunk))
                owners.update(conn.execute(f"SELECT response_id, invitation FROM responses WHERE response_id "
                                           f"IN ({marks})", [r.response_id for r in chunk]).fetchall())
                existing.update(row[0] for row in conn.execute(
                    f"SELECT invitation FROM responses WHERE invitation IN ({marks})", [r.invitation for r in chunk]))
            keep = [r for r in latest if owners.get(r.response_id, r.invitation) == r.invitation]
            if not keep:
                return []
            replaced = [(r.invitation,) for r in keep if r.invitation in existing]
            conn.executemany("DELETE FROM responses WHERE invitation = ?", replaced)
            conn.executemany("DELETE FROM answers WHERE invitation = ?", replaced)
            conn.executemany("INSERT INTO responses (invitation, response_id, source, submitted_at, received_at) "
                             "VALUES (?, ?, ?, ?, ?)", [(r.invitation, r.response_id, r.source, _ts(r.submitted_at),
                                                         _ts(r.received_at or r.submitted_at)) for r in keep])
            conn.executemany("INSERT INTO answers (invitation, question_id, value) VALUES (?, ?, ?)",
                             [(r.invitation, qid, value) for r in keep for qid, value in r.answers.items()])
            # A day that held replaced answers is counted again; the others' new rows are folded in.
            recount = {(r.survey_id, r.tier, r.due_day) for r in keep if r.invitation in existing}
            fold_answers(conn, [r for r in keep if (r.survey_id, r.tier, r.due_day) not in recount])
            if recount:
                rebuild_rollup(conn, sorted(recount))
        return keep

    def forget_contact(self, address: str, now: datetime) -> dict[str, int]:
        _ts = self._stamp
        address = normalise_address(address)
        pseudonym = forgotten_address(address)
        with self._transaction() as conn:
            keys = [r[0] for r in conn.execute("SELECT id FROM invitations WHERE contact_email = ?", (address,))]
            texts = 0
            for start in range(0, len(keys), 250):
                chunk = keys[start:start + 250]
                marks = ", ".join("?" * len(chunk))
                texts += conn.execute(
                    f"UPDATE answers SET value = '{_ERASED}' WHERE invitation IN ({marks}) AND value <> '' "
                    "AND EXISTS (SELECT 1 FROM invitations AS i JOIN questions AS q ON q.survey_id = i.survey_id "
                    "AND q.question_id = answers.question_id WHERE i.id = answers.invitation AND q.qtype = 'text')",
                    chunk).rowcount
            # The numbers their texts went to: erased, and their opt-outs kept by hash only.
            phones = {r[0] for r in conn.execute(
                "SELECT t.channel || ':' || t.phone FROM texts AS t JOIN invitations AS i ON i.invite_id = t.invite_id "
                "WHERE i.contact_email = ? AND t.phone IS NOT NULL", (address,))}
            conn.execute("UPDATE texts SET phone = NULL WHERE invite_id IN "
                         "(SELECT invite_id FROM invitations WHERE contact_email = ?)", (address,))
            number_keys = [suppression_key(p) for p in sorted(phones)]
            invitations = conn.execute(
                "UPDATE invitations SET contact_email = ?, updated_at = ? WHERE contact_email = ?",
                (pseudonym, _ts(now), address)).rowcount
            keys = [suppression_key(address), *number_keys]
            suppressions = conn.execute(f"UPDATE suppressions SET address = NULL WHERE address_hash IN "
                                        f"({', '.join('?' * len(keys))})", keys).rowcount
        return {"invitations": invitations, "text_answers": texts, "suppressions": suppressions}
