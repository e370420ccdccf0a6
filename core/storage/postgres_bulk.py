"""The PostgreSQL ledger's bulk paths: responses in through COPY, the metrics rollup kept in SQL,
and the portable tables out and in for ``ledger copy``.

A batch of responses is copied into two temporary staging tables (``COPY
... FROM STDIN``), then moved into ``responses`` with ``INSERT ... SELECT
... ON CONFLICT DO NOTHING RETURNING``: a response whose invitation or
fetched id is stored already (by an earlier import, or by another runner
at the same moment) is skipped by the database itself. The answers of the
responses actually added follow, and the rollup tables are updated from
them by two ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE``
statements, in the same transaction: the rollup is never out of step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator

from tierctl.storage.copying import ORDER_BY, TABLES, canonical_time, canonical_value, time_positions

if TYPE_CHECKING:
    from tierctl.records import StoredResponse

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS new_responses (invitation BIGINT, response_id TEXT, source TEXT, "
    "submitted_at TIMESTAMPTZ, received_at TIMESTAMPTZ) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS new_answers (invitation BIGINT, question_id TEXT, score DOUBLE PRECISION, "
    "text TEXT) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS added (invitation BIGINT PRIMARY KEY) ON COMMIT DELETE ROWS",
)

# Which answers count, and under which rollup key (as the SQLite ledger's metrics).
_SCORE_KEY = "CASE WHEN q.qtype IN ('text', 'choice') THEN 0.0 ELSE a.score END"
_CHOICE_KEY = "CASE WHEN q.qtype = 'choice' THEN a.text ELSE '' END"
_ANSWERED = ("CASE WHEN q.qtype IN ('text', 'choice') THEN a.text IS NOT NULL AND a.text <> '' "
             "ELSE a.score IS NOT NULL END")
ANSWERS_JOIN = ("answers AS a JOIN invitations AS i ON i.id = a.invitation "
                "JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id")

FOLD_ANSWERS = (
    "INSERT INTO answer_day_counts AS c (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
    f"SELECT i.survey_id, i.tier, i.due_day, a.question_id, q.qtype, {_SCORE_KEY}, {_CHOICE_KEY}, COUNT(*) "
    f"FROM {ANSWERS_JOIN} WHERE {{where}} AND {_ANSWERED} GROUP BY 1, 2, 3, 4, 5, 6, 7 "
    "ON CONFLICT (survey_id, tier, due_day, question_id, qtype, score, choice) DO UPDATE SET n = c.n + excluded.n")
FOLD_RESPONSES = (
    "INSERT INTO response_day_counts AS c (survey_id, tier, due_day, responses, keys) "
    "SELECT i.survey_id, i.tier, i.due_day, COUNT(*), SUM(r.invitation) FROM responses AS r "
    "JOIN invitations AS i ON i.id = r.invitation WHERE {where} GROUP BY 1, 2, 3 "
    "ON CONFLICT (survey_id, tier, due_day) DO UPDATE SET responses = c.responses + excluded.responses, "
    "keys = c.keys + excluded.keys")
_JUST_ADDED = "{col} IN (SELECT invitation FROM added)"


def _staging(conn: Any) -> None:
    for statement in _STAGING:
        conn.execute(statement)


def add_responses(conn: Any, fresh: list["StoredResponse"]) -> list["StoredResponse"]:
    """Store responses and answers (in the caller's transaction); return those added."""
    _staging(conn)
    with conn.cursor() as cur:
        with cur.copy("COPY new_responses (invitation, response_id, source, submitted_at, received_at) "
                      "FROM STDIN") as copy:
            for r in fresh:
                copy.write_row((r.invitation, r.response_id, r.source, r.submitted_at,
                                r.received_at or r.submitted_at))
        with cur.copy("COPY new_answers (invitation, question_id, score, text) FROM STDIN") as copy:
            for r in fresh:
                for qid, value in r.answers.items():
                    if isinstance(value, str):
                        copy.write_row((r.invitation, qid, None, value))
                    elif value is not None:
                        copy.write_row((r.invitation, qid, value, None))
        cur.execute(
            "WITH ins AS (INSERT INTO responses (invitation, response_id, source, submitted_at, received_at) "
            "SELECT invitation, response_id, source, submitted_at, received_at FROM new_responses "
            "ORDER BY invitation ON CONFLICT DO NOTHING RETURNING invitation) "
            "INSERT INTO added SELECT invitation FROM ins RETURNING invitation")
        added = {row[0] for row in cur.fetchall()}
        if not added:
            return []
        cur.execute("INSERT INTO answers (invitation, question_id, score, text) "
                    "SELECT n.invitation, n.question_id, n.score, n.text FROM new_answers AS n "
                    "WHERE n.invitation IN (SELECT invitation FROM added) ORDER BY 1, 2")
        cur.execute(FOLD_ANSWERS.format(where=_JUST_ADDED.format(col="a.invitation")))
        cur.execute(FOLD_RESPONSES.format(where=_JUST_ADDED.format(col="r.invitation")))
    return [r for r in fresh if r.invitation in added]


def rebuild_rollup(conn: Any) -> None:
    """Count the rollup again from every stored answer (after a copy, or as a repair)."""
    with conn.transaction():
        conn.execute("DELETE FROM answer_day_counts")
        conn.execute("DELETE FROM response_day_counts")
        conn.execute(FOLD_ANSWERS.format(where="TRUE"))
        conn.execute(FOLD_RESPONSES.format(where="TRUE"))


# -- portable tables ---------------------------------------------------------------------------


def _select(table: str) -> str:
    if table == "answers":
        columns = ["invitation", "question_id", "score", "text"]
    else:
        columns = [c if c != "throttled" else "throttled::int" for c in TABLES[table]]
    # Text keys in byte order ("C"), as SQLite sorts them: both sides of a copy checksum the same sequence.
    order = ", ".join(c if c in ("id", "invitation") else f'{c} COLLATE "C"' for c in ORDER_BY[table].split(", "))
    return f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"


def dump_table(conn: Any, table: str) -> Iterator[tuple[Any, ...]]:
    """The table's rows in canonical form (:mod:`tierctl.storage.copying`), in key order.

    Read through a server-side cursor, 10,000 rows at a time: a million rows never sit in memory at once.
    """
    times = time_positions(table)
    with conn.transaction(), conn.cursor(name=f"tierctl_dump_{table}") as cur:
        cur.itersize = 10_000
        cur.execute(_select(table))
        for row in cur:
            if table == "answers":
                key, qid, score, text = row
                yield key, qid, canonical_value(score) if score is not None else text
                continue
            if times:
                row = list(row)
                for i in times:
                    row[i] = canonical_time(row[i])
            yield tuple(row)


def load_table(conn: Any, table: str, rows: Iterable[tuple[Any, ...]]) -> int:
    """Write canonical rows into the (empty) table with COPY; keeps ids, and moves id sequences past them."""
    columns = list(TABLES[table])
    if table == "answers":
        columns = ["invitation", "question_id", "score", "text"]
    n = 0
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                if table == "answers":
                    key, qid, value = row
                    row = (key, qid, None, value) if isinstance(value, str) else (key, qid, value, None)
                elif table == "invitations":
                    row = tuple(bool(v) if c == "throttled" else v for c, v in zip(columns, row))
                copy.write_row(row)
                n += 1
        if table in ("runs", "invitations"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"GREATEST((SELECT MAX(id) FROM {table}), 1))")
    return n
