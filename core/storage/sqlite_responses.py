"""Response storage of the SQLite ledger: linking answers to invitations, storing them once,
and reading an account's invitations and answers back.

A mixin of :class:`~tierctl.storage.ledger_sqlite.SqliteLedger` (like
:mod:`~tierctl.storage.suppressions_sqlite`): it uses the ledger's connection
and write transaction.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Iterator

from tierctl.storage.backend_sql import first_responses, questions_to_keep
from tierctl.storage.ledger import DEFERRED, IMPORT_SOURCE, SENT, InvitationLink, InvitationRef
from tierctl.storage.metrics_sqlite import fold_answers
from tierctl.storage.sqlite_rows import (INVITATION_COLUMNS, RESPONSE_COLUMNS, RESPONSE_SELECT, Stamps,
                                         row_dict)

if TYPE_CHECKING:
    import sqlite3

    from tierctl.records import StoredResponse

# InvitationLink's fields, in order (due_at, the one datetime, is last).
_LINK_COLUMNS = ("id", "invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id", "state",
                 "due_day", "due_at")
_IDS_PER_QUERY = 250  # one parameter each; SQLite sorts an IN list first: 10,000 a query was 1.5x slower
BULK_CACHE_KIB = 64 * 1024  # page cache while bulk_writes() is on
# The statements that look many keys up, {in_} at a time (SqliteLedger._select_in). Each must
# probe the index of the key it looks up; tests/test_ledger.py checks their query plans.
_LOOKUP_SQL = f"SELECT {', '.join(_LINK_COLUMNS)} FROM invitations WHERE invite_id IN ({{in_}})"
_FETCHED_SQL = f"SELECT response_id FROM responses WHERE source <> '{IMPORT_SOURCE}' AND response_id IN ({{in_}})"
_ANSWERS_OF_SQL = ("SELECT a.invitation, a.question_id, q.qtype, a.value FROM answers AS a "
                   "JOIN invitations AS i ON i.id = a.invitation "
                   "LEFT JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id "
                   "WHERE a.invitation IN ({in_})")
# answerable_invitations: the survey and state are tested here rather than fetched, since at a
# million ids every column read out costs a million Python objects. The unary + keeps the planner
# off invitations_group (survey_id first), which at 250 ids it would otherwise prefer, scanning
# the whole survey for each query; the ids' own index is what must be used.
_ANSWERABLE_SQL = ("SELECT id, invite_id, tier, due_day, due_at FROM invitations "
                   f"WHERE +survey_id = ? AND state <> '{DEFERRED}' AND invite_id IN ({{in_}})")
# invitations_for_contacts: likewise, +state keeps it on the (survey_id, contact_email, occasion) key.
_CONTACTS_SQL = ("SELECT contact_email, id, invite_id, tier, due_day, due_at FROM invitations "
                 f"WHERE survey_id = ? AND +state = '{SENT}' AND contact_email IN ({{in_}})")


class SqliteResponses:
    """Responses and account reads for :class:`~tierctl.storage.ledger_sqlite.SqliteLedger`."""

    # The ledger's, which this mixin shares.
    conn: Any
    _conn: Any
    _transaction: Any
    _pragma: Any
    with_keys: Any


    def _select_in(self, sql: str, values: list[Any], params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` with its ``{in_}`` filled with placeholders for ``values``: one query per
        :data:`_IDS_PER_QUERY` values."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _IDS_PER_QUERY):
            chunk = values[start:start + _IDS_PER_QUERY]
            rows += self.conn.execute(sql.format(in_=", ".join("?" * len(chunk))), (*params, *chunk)).fetchall()
        return rows

    def lookup_invitations(self, invite_ids: list[str]) -> dict[str, InvitationLink]:
        rows = self._select_in(_LOOKUP_SQL, list(dict.fromkeys(invite_ids)))
        return {link.invite_id: link for link in map(_link, rows)}

    def answerable_invitations(self, survey_id: str, invite_ids: list[str]) -> dict[str, InvitationRef]:
        return {ref.invite_id: ref for ref in map(_ref, self._select_in(
            _ANSWERABLE_SQL, list(dict.fromkeys(invite_ids)), (survey_id,)))}

    def invitations_for_contacts(self, survey_id: str, emails: list[str]) -> dict[str, list[InvitationRef]]:
        found: dict[str, list[InvitationRef]] = {}
        for row in self._select_in(_CONTACTS_SQL, list(dict.fromkeys(emails)), (survey_id,)):
            found.setdefault(row[0], []).append(_ref(row[1:]))
        for refs in found.values():
            if len(refs) > 1:  # most contacts have one invitation per survey in a file's time span
                refs.sort(key=_due_order)
        return found

    @contextmanager
    def bulk_writes(self) -> Iterator[None]:
        # A bigger page cache for the duration: the invitations a batch links
        # to are read for the lookup and again for the foreign keys.
        # (Memory-mapped reads and synchronous = NORMAL were measured too:
        # no faster at 1,000,000 responses, and mmap doubled the peak RSS.)
        conn = self.conn
        saved = self._pragma("cache_size")
        conn.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
        try:
            yield
        finally:
            if self._conn is not None:
                conn.execute(f"PRAGMA cache_size = {saved}")

    def add_responses(self, rows: list["StoredResponse"]) -> list["StoredResponse"]:
        # The first response to an invitation wins, in the batch as in the table.
        fresh = first_responses(self.with_keys(rows))
        if not fresh:
            return []
        keys = {r.invitation for r in fresh}
        fetched = [r.response_id for r in fresh if r.source != IMPORT_SOURCE]
        with self._transaction() as conn:
            self._record_questions(conn, fresh)
            # Under BEGIN IMMEDIATE nobody else writes until COMMIT: what is
            # not stored now is still not stored when we insert.
            # One range, not a list: invitations made together have neighbouring keys, and a
            # first import finds nothing in it.
            taken = {row[0] for row in conn.execute(
                "SELECT invitation FROM responses WHERE invitation BETWEEN ? AND ?", (min(keys), max(keys)))
                if row[0] in keys}
            if fetched:
                taken_ids = {row[0] for row in self._select_in(_FETCHED_SQL, fetched)}
            else:
                taken_ids = set()
            added = [r for r in fresh if r.invitation not in taken and r.response_id not in taken_ids]
            if not added:
                return []
            # In key order, a batch's writes go through the B-trees in order.
            added.sort(key=_invitation_key)
            ts = Stamps()
            conn.executemany(
                "INSERT INTO responses (invitation, response_id, source, submitted_at, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(r.invitation, r.response_id, r.source, ts[r.submitted_at], ts[r.received_at]) for r in added])
            conn.executemany("INSERT INTO answers (invitation, question_id, value) VALUES (?, ?, ?)",
                             [(r.invitation, qid, value) for r in added for qid, value in r.answers.items()])
            fold_answers(conn, added)
        return added

    @staticmethod
    def _record_questions(conn: sqlite3.Connection, rows: list["StoredResponse"]) -> None:
        """Keep the types of answered questions; refuse a type that differs from the stored one.

        Every question the batch's config declares is compared, answered or not: answers stored
        under one type and counted under another would be wrong either way. Only answered ones are
        kept, so a question nobody has answered yet may still change its type.
        """
        surveys = {r.survey_id: r.question_types for r in rows}
        for survey_id, types in surveys.items():
            stored = dict(conn.execute("SELECT question_id, qtype FROM questions WHERE survey_id = ?",
                                       (survey_id,)))
            members = rows if len(surveys) == 1 else [r for r in rows if r.survey_id == survey_id]
            new = questions_to_keep(survey_id, types, stored, members)
            if new:
                conn.executemany("INSERT INTO questions (survey_id, question_id, qtype) VALUES (?, ?, ?)", new)

    def question_types(self) -> dict[str, dict[str, str]]:
        held: dict[str, dict[str, str]] = {}
        for survey_id, question_id, qtype in self.conn.execute(
                "SELECT survey_id, question_id, qtype FROM questions ORDER BY survey_id, question_id"):
            held.setdefault(survey_id, {})[question_id] = qtype
        return held

    def responses_for_account(self, account_id: str, survey_id: str | None = None) -> list[dict[str, Any]]:
        where, params = "i.account_id = ?", [account_id]
        if survey_id is not None:
            where += " AND i.survey_id = ?"
            params.append(survey_id)
        return self._responses_where(where, params)

    def response_of_invitation(self, invite_id: str) -> dict[str, Any] | None:
        found = self._responses_where("i.invite_id = ?", [invite_id])
        return found[-1] if found else None

    def _responses_where(self, where: str, params: list[Any]) -> list[dict[str, Any]]:
        sql = f"SELECT {RESPONSE_SELECT} FROM invitations AS i JOIN responses AS r ON r.invitation = i.id WHERE {where}"
        found: list[dict[str, Any]] = []
        by_key: dict[int, dict[str, Any]] = {}
        for row in self.conn.execute(sql, params):
            response = row_dict(RESPONSE_COLUMNS, row)
            response["answers"] = {}
            by_key[row[-1]] = response
            found.append(response)
        for key, question_id, qtype, value in self._select_in(_ANSWERS_OF_SQL, list(by_key)):
            scored = isinstance(value, (int, float))
            by_key[key]["answers"][question_id] = {
                "qtype": qtype or ("rating" if scored else "text"),
                "score": value if scored else None, "text": None if scored else value}
        found.sort(key=lambda r: (r["submitted_at"], r["response_id"]))
        return found

    def invitations_for_account(self, account_id: str, survey_ids: list[str] | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(INVITATION_COLUMNS)} FROM invitations WHERE account_id = ?"
        params: list[Any] = [account_id]
        if survey_ids is not None:
            if not survey_ids:
                return []
            sql += f" AND survey_id IN ({', '.join('?' * len(survey_ids))})"
            params.extend(survey_ids)
        sql += " ORDER BY closes_at, contact_email, invite_id"
        return [row_dict(INVITATION_COLUMNS, row) for row in self.conn.execute(sql, params)]

    def account_ids(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT DISTINCT account_id FROM invitations")}


# An InvitationLink (an InvitationRef) from a row in its field order, made in C
# (NamedTuple._make checks the length in Python).
_link = partial(tuple.__new__, InvitationLink)
_ref = partial(tuple.__new__, InvitationRef)


def _due_order(ref: InvitationRef) -> tuple[str, str]:
    return ref.due_at, ref.invite_id


def _invitation_key(response: "StoredResponse") -> int:
    return response.invitation
