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

from operator import attrgetter
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from tierctl.storage.copying import ORDER_BY, TABLES, canonical_value, time_positions, with_canonical_times

if TYPE_CHECKING:
    from tierctl.records import StoredResponse

# Staging tables: per session, emptied at commit. Each response carries a day number that new_days
# resolves to the survey, tier and due day the rollup counts it under, as the caller linked it (the
# SQLite ledger folds the same fields); reading them back from invitations cost a scan and a hash
# of the whole table per batch. new_groups holds the batch's answers counted per day number,
# question and value (counted while the COPY text is made, see Staged). When every response of the
# batch is added, its answers are copied straight into answers (none can be there: an invitation's
# answers are only ever stored with its response); otherwise they are staged in new_answers and
# "added" lists the responses really added.
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS new_responses (invitation BIGINT, response_id TEXT, source TEXT, "
    "submitted_at TIMESTAMPTZ, received_at TIMESTAMPTZ, day INTEGER) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS new_answers (invitation BIGINT, question_id TEXT, "
    "score DOUBLE PRECISION, text TEXT) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS new_groups (day INTEGER, question_id TEXT, score DOUBLE PRECISION, text TEXT, "
    "n BIGINT) ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS new_days (day INTEGER, survey_id TEXT, tier TEXT, due_day TEXT) "
    "ON COMMIT DELETE ROWS",
    "CREATE TEMP TABLE IF NOT EXISTS added (invitation BIGINT, day INTEGER) ON COMMIT DELETE ROWS",
)

# Which answers count, and under which rollup key (as the SQLite ledger's metrics).
# A multiple_choice answer (a JSON list in text) counts once per ticked choice and once under ''
# (how many answered); every other answer is one row (m.value NULL).
SCORE_KEY = "CASE WHEN q.qtype IN ('text', 'choice', 'multiple_choice') THEN 0.0 ELSE a.score END"
CHOICE_KEY = ("CASE WHEN q.qtype = 'choice' THEN a.text WHEN q.qtype = 'multiple_choice' THEN m.value "
              "ELSE '' END")
ANSWERED = ("CASE WHEN q.qtype IN ('text', 'choice', 'multiple_choice') THEN a.text IS NOT NULL AND a.text <> '' "
            "ELSE a.score IS NOT NULL END")
EXPLODE = ("CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN q.qtype = 'multiple_choice' "
           "THEN a.text::jsonb || '[\"\"]'::jsonb ELSE '[null]'::jsonb END) AS m(value)")
_SCORE_KEY, _CHOICE_KEY, _ANSWERED = SCORE_KEY, CHOICE_KEY, ANSWERED
ANSWERS_JOIN = ("answers AS a JOIN invitations AS i ON i.id = a.invitation "
                "JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id " + EXPLODE)
_COUNT_ANSWERS = ("INSERT INTO answer_day_counts AS c (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
                  f"SELECT i.survey_id, i.tier, i.due_day, a.question_id, q.qtype, {_SCORE_KEY}, {_CHOICE_KEY}, "
                  "COUNT(*) FROM {source} WHERE {where} AND " + _ANSWERED + " GROUP BY 1, 2, 3, 4, 5, 6, 7 "
                  "ON CONFLICT (survey_id, tier, due_day, question_id, qtype, score, choice) "
                  "DO UPDATE SET n = c.n + excluded.n")
_COUNT_RESPONSES = (
    "INSERT INTO response_day_counts AS c (survey_id, tier, due_day, responses, keys) "
    "SELECT i.survey_id, i.tier, i.due_day, COUNT(*), SUM(r.invitation) FROM {source} WHERE {where} "
    "GROUP BY 1, 2, 3 ON CONFLICT (survey_id, tier, due_day) DO UPDATE SET responses = c.responses + "
    "excluded.responses, keys = c.keys + excluded.keys")
#: Count stored answers and responses into the rollup (``{where}``: which ones; ``TRUE`` for all).
FOLD_ANSWERS = _COUNT_ANSWERS.replace("{source}", ANSWERS_JOIN)
FOLD_RESPONSES = _COUNT_RESPONSES.replace("{source}", "responses AS r JOIN invitations AS i ON i.id = r.invitation")
# A batch's own answers and responses, counted from the staging tables, so the big tables are not
# joined again. The answers come grouped by day number, question and value ({grouped}: new_groups,
# or the added responses' staged answers grouped here); every rollup key is a function of those, so
# the groups' counts add up to the same figures, and the joins run over a few thousand groups
# instead of every answer.
#
# Split in two: exploding every answer through jsonb_array_elements_text (as FOLD_ANSWERS does) runs a
# function and a jsonb cast per row, and most answers are not multiple_choice. Plain answers are
# grouped directly; only multiple_choice rows are exploded. One statement still: a question has one
# qtype and qtype is in the key, so the two halves never produce the same rollup key (which ON
# CONFLICT DO UPDATE would refuse within one statement).
_NEW_SOURCE = ("grouped AS a JOIN new_days AS i ON i.day = a.day "
               "JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id")
_FOLD_NEW_ANSWERS = (
    "WITH grouped AS ({grouped}) "
    "INSERT INTO answer_day_counts AS c (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
    f"SELECT i.survey_id, i.tier, i.due_day, a.question_id, q.qtype, {_SCORE_KEY}, "
    "CASE WHEN q.qtype = 'choice' THEN a.text ELSE '' END, SUM(a.n)::bigint "
    f"FROM {_NEW_SOURCE} WHERE q.qtype <> 'multiple_choice' AND {_ANSWERED} GROUP BY 1, 2, 3, 4, 5, 6, 7 "
    "UNION ALL "
    "SELECT i.survey_id, i.tier, i.due_day, a.question_id, q.qtype, 0.0, m.value, SUM(a.n)::bigint "
    f"FROM {_NEW_SOURCE} CROSS JOIN LATERAL jsonb_array_elements_text(a.text::jsonb || '[\"\"]'::jsonb) AS m(value) "
    "WHERE q.qtype = 'multiple_choice' AND a.text IS NOT NULL AND a.text <> '' GROUP BY 1, 2, 3, 4, 5, 6, 7 "
    "ON CONFLICT (survey_id, tier, due_day, question_id, qtype, score, choice) "
    "DO UPDATE SET n = c.n + excluded.n")
# new_days holds each (survey, tier, due day) once, so each rollup key comes up once.
_FOLD_NEW_RESPONSES = (
    "INSERT INTO response_day_counts AS c (survey_id, tier, due_day, responses, keys) "
    "SELECT i.survey_id, i.tier, i.due_day, r.n, r.keys FROM (SELECT day, COUNT(*) AS n, SUM(invitation) AS keys "
    "FROM {added} GROUP BY 1) AS r JOIN new_days AS i ON i.day = r.day "
    "ON CONFLICT (survey_id, tier, due_day) DO UPDATE SET responses = c.responses + excluded.responses, "
    "keys = c.keys + excluded.keys")
_ALL_GROUPED = "SELECT day, question_id, score, text, n FROM new_groups"
_ADDED_GROUPED = ("SELECT d.day, a.question_id, a.score, a.text, COUNT(*) AS n FROM new_answers AS a "
                  "JOIN added AS d ON d.invitation = a.invitation GROUP BY 1, 2, 3, 4")

# COPY's text format: these characters in a value are written as escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


NULL = "\\N"  # COPY's text format for NULL


def _text(value: str) -> str:
    """A text value for COPY's text format."""
    return value.translate(_COPY_ESCAPES) if ("\\" in value or "\t" in value or "\n" in value
                                              or "\r" in value) else value


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, bool) else repr(float(value)) if isinstance(value, float) \
        else str(int(value))


def _copy_buffers(fresh: list["StoredResponse"], days: dict[tuple[str, str, str | None], int],
                  groups: list[dict[str, int]], rows_per_write: int = 20_000) -> Iterator[tuple[bytes, bytes]]:
    """``(responses text, answers text)`` in COPY's text format, a few thousand rows a piece;
    ``days`` is filled with the day number of each (survey, tier, due day), and ``groups[day]``
    with how many answers each ``question\tscore\ttext`` (as COPY reads it) has that day.

    Built as whole strings and handed to COPY in one write each: a ``write_row`` per row
    costs more in Python than the server spends storing it."""
    iso: dict[Any, str] = {}  # exports share submission times
    names: dict[str, str] = {}  # question ids, escaped once rather than once per answer
    for start in range(0, len(fresh), rows_per_write):
        responses: list[str] = []
        answers: list[str] = []
        for r in fresh[start:start + rows_per_write]:
            key = r.invitation
            day = days.setdefault((r.survey_id, r.tier, r.due_day), len(days))
            if day == len(groups):
                groups.append({})
            counted = groups[day]
            submitted = iso.get(r.submitted_at)
            if submitted is None:
                submitted = iso[r.submitted_at] = r.submitted_at.isoformat()
            received_at = r.received_at or r.submitted_at
            received = iso.get(received_at)
            if received is None:
                received = iso[received_at] = received_at.isoformat()
            responses.append(f"{key}\t{_text(r.response_id)}\t{_text(r.source)}\t{submitted}\t{received}\t{day}\n")
            for qid, value in r.answers.items():
                name = names.get(qid)
                if name is None:
                    name = names[qid] = _text(qid)
                if type(value) is int:  # most answers are scores: the f-string formats them as str() would
                    answer = f"{name}\t{value}\t\\N"
                elif isinstance(value, str):
                    answer = f"{name}\t\\N\t{_text(value)}"
                elif value is not None:
                    answer = f"{name}\t{_number(value)}\t\\N"
                else:
                    continue
                answers.append(f"{key}\t{answer}\n")
                counted[answer] = counted.get(answer, 0) + 1
        yield "".join(responses).encode(), "".join(answers).encode()


def _days_buffer(days: dict[tuple[str, str, str | None], int]) -> bytes:
    return "".join(f"{day}\t{_text(survey)}\t{_text(tier)}\t{_text(due) if due is not None else NULL}\n"
                   for (survey, tier, due), day in days.items()).encode()


def _groups_buffer(groups: list[dict[str, int]]) -> bytes:
    return "".join(f"{day}\t{answer}\t{n}\n" for day, counted in enumerate(groups)
                   for answer, n in counted.items()).encode()


_invitation_key = attrgetter("invitation")


class Staged(list):  # type: ignore[type-arg]
    """A batch for :func:`add_responses` (the first response per invitation and response id) with
    the text COPY sends, made when the batch is prepared rather than while it is stored: an import
    prepares the next batch in its reading thread while the server stores the last one, and the
    text took a fifth of the time a batch held the server's connection. Never changed after."""

    def __init__(self, fresh: list["StoredResponse"]):
        super().__init__(fresh)
        self.days: dict[tuple[str, str, str | None], int] = {}
        self.responses_text: list[bytes] = []
        self.answers_text: list[bytes] = []
        # In key order: the answers go into their table's index in the order COPY sends them, and
        # sorting here, in the reading thread, spares the server a sort of every answer while the
        # batch holds its connection. The list itself keeps the caller's order.
        groups: list[dict[str, int]] = []
        for responses, answers in _copy_buffers(sorted(fresh, key=_invitation_key), self.days, groups):
            self.responses_text.append(responses)
            self.answers_text.append(answers)
        self.days_text = _days_buffer(self.days)
        self.groups_text = _groups_buffer(groups)


def _staging(conn: Any) -> None:
    for statement in _STAGING:
        conn.execute(statement)


def add_responses(conn: Any, fresh: list["StoredResponse"]) -> list["StoredResponse"]:
    """Store responses and answers (in the caller's transaction); return those added.

    The batch is copied into the staging tables, then moved with set-based statements: the
    responses ``ON CONFLICT DO NOTHING`` (stored already, by an earlier import or another
    runner), their answers, and the rollup counted from the staging tables."""
    _staging(conn)
    with conn.cursor() as cur:
        # A batch's sorts and groupings fit in memory (the default 4 MB spills a 200,000-response
        # batch to disk, several times slower); for this transaction only.
        cur.execute("SET LOCAL work_mem = '256MB'")
        staged = fresh if isinstance(fresh, Staged) else Staged(fresh)
        with cur.copy("COPY new_responses (invitation, response_id, source, submitted_at, received_at, day) "
                      "FROM STDIN") as copy_responses:
            for text in staged.responses_text:
                copy_responses.write(text)
        with cur.copy("COPY new_days (day, survey_id, tier, due_day) FROM STDIN") as copy_days:
            copy_days.write(staged.days_text)
        # Statistics for the planner: a temp table has none, and the join below depends on its size.
        cur.execute("ANALYZE new_responses")
        # Only responses to an existing invitation go in (the schema has no per-row foreign key:
        # see postgres_schema); invitations are never deleted, so none can vanish meanwhile.
        cur.execute(
            "INSERT INTO responses (invitation, response_id, source, submitted_at, received_at) "
            "SELECT n.invitation, n.response_id, n.source, n.submitted_at, n.received_at FROM new_responses AS n "
            "JOIN invitations AS v ON v.id = n.invitation "
            "ORDER BY n.invitation ON CONFLICT DO NOTHING RETURNING invitation")
        added = {row[0] for row in cur.fetchall()}
        if len(added) < len(fresh):
            # Some were not added: stored already, or (a caller's bug) answering no invitation.
            orphan = cur.execute("SELECT n.invitation FROM new_responses AS n WHERE NOT EXISTS "
                                 "(SELECT 1 FROM invitations AS i WHERE i.id = n.invitation) LIMIT 1").fetchone()
            if orphan is not None:
                raise ValueError(f"no invitation with key {orphan[0]} in the ledger: a response must answer one")
        if not added:
            return []
        if len(added) == len(fresh):
            # Every staged response was added (a first import): its answers go straight into their
            # table (in key order: Staged), and its counts are the ones Staged made.
            table, grouped = "new_responses", _ALL_GROUPED
            with cur.copy("COPY answers (invitation, question_id, score, text) FROM STDIN") as copy_answers:
                for text in staged.answers_text:
                    copy_answers.write(text)
            with cur.copy("COPY new_groups (day, question_id, score, text, n) FROM STDIN") as copy_groups:
                copy_groups.write(staged.groups_text)
        else:
            table, grouped = "added", _ADDED_GROUPED
            with cur.copy("COPY new_answers (invitation, question_id, score, text) FROM STDIN") as copy_answers:
                for text in staged.answers_text:
                    copy_answers.write(text)
            cur.execute("INSERT INTO added (invitation, day) SELECT n.invitation, n.day FROM new_responses AS n "
                        "WHERE n.invitation = ANY(%s)", (list(added),))
            cur.execute("ANALYZE new_answers")
            cur.execute("ANALYZE added")
            cur.execute("INSERT INTO answers (invitation, question_id, score, text) SELECT invitation, question_id, "
                        "score, text FROM new_answers WHERE invitation IN (SELECT invitation FROM added)")
        cur.execute(_FOLD_NEW_ANSWERS.replace("{grouped}", grouped))
        cur.execute(_FOLD_NEW_RESPONSES.replace("{added}", table))
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
            yield tuple(with_canonical_times(row, times))


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
