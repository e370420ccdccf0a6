"""Metrics from the SQLite ledger: the grouped counts behind every figure, counted by SQLite.

:class:`SqliteMetrics` is the :class:`tierctl.responses.metrics.MetricsSource` of the
SQLite ledger. It reads ``ledger.conn`` and never loads responses into
Python: each method is one ``GROUP BY`` and returns a few thousand rows at
most, whatever the number of responses.

Two ways to the answer counts, giving the same numbers:

* **Raw**: one ``GROUP BY`` over ``answers`` (each joined to its invitation
  for the survey, tier and due day, and to ``questions`` for its type) per
  survey, tier, period, question and distinct answer. Correct on any ledger,
  but it visits every answer (``benchmarks/bench_responses.py`` prints how
  long: the join and the sort of 3 million rows dominate, as SQLite has no
  hash aggregation).
* **Rollup**: two small tables, ``answer_day_counts`` (how many identical
  answers per survey, tier, due day and question) and
  ``response_day_counts`` (how many responses those were, and the sum of
  their invitation ids as a checksum), kept in step by
  the writer: :func:`fold_answers` in the same transaction that stores the
  responses. A report then reads tens of thousands of rows instead of
  millions: ``tierctl report --format json`` over 1,000,000 responses takes
  well under a second, start-up included. The rollup is checked on every
  read against the responses themselves: first their number and checksum
  (one pass over the ``responses`` table); only when those differ, per
  survey, tier and due day. A day that is out of step (responses stored
  without folding, or deleted) is counted raw, so the figures are always
  those of the stored answers. (Only a rollup edited by hand to match both
  would not be noticed: :func:`rebuild_rollup` repairs it.)

The rollup tables belong to the ledger's schema (:data:`ROLLUP_DDL`, added
by a ledger migration); until they exist every count is raw.

Rollup rows use ``score = 0`` for choice and text answers and ``choice =
''`` for scored and text answers (key columns cannot be NULL); a text answer
is counted, its words are not copied. A multiple_choice answer (stored as a
JSON list of the ticked choices) counts once under each ticked choice and
once under ``choice = ''``: that row is how many answered the question.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from tierctl.storage.backend_sql import sql_states
from tierctl.storage.ledger import STATES, picked_choices
from tierctl.config.periods import PERIOD_KINDS, period_days, period_of
from tierctl.storage.ledger import NOT_DELIVERED_STATES

if TYPE_CHECKING:
    from tierctl.records import StoredResponse

#: The rollup tables, for the ledger migration that adopts them.
ROLLUP_DDL: tuple[str, ...] = (
    """CREATE TABLE answer_day_counts (
        survey_id TEXT NOT NULL,
        tier TEXT NOT NULL,
        due_day TEXT NOT NULL,
        question_id TEXT NOT NULL,
        qtype TEXT NOT NULL,
        score REAL NOT NULL,      -- 0 for choice and text answers
        choice TEXT NOT NULL,     -- the label of a choice answer, '' otherwise
        n INTEGER NOT NULL,
        PRIMARY KEY (survey_id, tier, due_day, question_id, qtype, score, choice)
    ) WITHOUT ROWID""",
    """CREATE TABLE response_day_counts (
        survey_id TEXT NOT NULL,
        tier TEXT NOT NULL,
        due_day TEXT NOT NULL,
        responses INTEGER NOT NULL,
        PRIMARY KEY (survey_id, tier, due_day)
    ) WITHOUT ROWID""",
)

# Every answer with what it is counted by: its invitation's survey, tier and
# due day, and its question's type. (Answers are stored with their response.)
# A multiple_choice answer becomes one row per ticked choice plus one with '' (m.value); any other
# answer stays one row.
_ANSWERS = ("answers AS a JOIN invitations AS i ON i.id = a.invitation "
            "JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id "
            "JOIN json_each(CASE WHEN q.qtype = 'multiple_choice' AND json_valid(a.value) "
            "THEN json_insert(a.value, '$[#]', '') ELSE '[0]' END) AS m")
_RESPONSES = "responses AS r JOIN invitations AS i ON i.id = r.invitation"
# Which answers count, and under which key: the SQL twin of _answer_keys().
_ANSWERED = "(q.qtype NOT IN ('text', 'choice', 'multiple_choice') OR a.value <> '')"
_SCORE_KEY = "CASE WHEN q.qtype IN ('text', 'choice', 'multiple_choice') THEN 0.0 ELSE a.value END"
_CHOICE_KEY = ("CASE WHEN q.qtype = 'choice' THEN a.value WHEN q.qtype = 'multiple_choice' THEN m.value "
               "ELSE '' END")

_BACKFILL = (
    "INSERT INTO answer_day_counts (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
    f"SELECT i.survey_id, i.tier, i.due_day, a.question_id, q.qtype, {_SCORE_KEY}, {_CHOICE_KEY}, COUNT(*) "
    f"FROM {_ANSWERS} WHERE {_ANSWERED} AND {{where}} GROUP BY 1, 2, 3, 4, 5, 6, 7",
    "INSERT INTO response_day_counts (survey_id, tier, due_day, responses, keys) "
    f"SELECT i.survey_id, i.tier, i.due_day, COUNT(*), SUM(r.invitation) FROM {_RESPONSES} WHERE {{where}} "
    "GROUP BY 1, 2, 3",
)
_ONE_DAY = "i.survey_id = ? AND i.tier = ? AND i.due_day = ?"

ROLLUP_TABLES = ("answer_day_counts", "response_day_counts")


#: Above this share of out-of-step days, counting everything raw is cheaper than patching.
_PATCH_LIMIT = 0.25


def period_sql(column: str, kind: str) -> str:
    """SQL for the period label of a ``YYYY-MM-DD`` column; the twin of :func:`tierctl.responses.metrics.period_of`."""
    if kind == "month":
        return f"substr({column}, 1, 7)"
    if kind == "quarter":
        return f"(substr({column}, 1, 5) || 'Q' || ((CAST(substr({column}, 6, 2) AS INTEGER) + 2) / 3))"
    if kind == "half-year":
        return f"(substr({column}, 1, 5) || 'H' || ((CAST(substr({column}, 6, 2) AS INTEGER) + 5) / 6))"
    if kind == "year":
        return f"substr({column}, 1, 4)"
    raise ValueError(f"unknown period {kind!r}; periods are {', '.join(PERIOD_KINDS)}")


def _rollup_key(qtype: str, value: Any) -> tuple[float, str]:
    """The rollup key ``(score, choice)`` of a counted answer (see the module docstring)."""
    if qtype == "choice":
        return 0.0, value
    if qtype == "text":
        return 0.0, ""
    return float(value), ""


def _from_key(qtype: str, score: float, choice: str) -> tuple[float | None, str | None]:
    if qtype == "text":
        return None, None
    if qtype in ("choice", "multiple_choice"):
        return None, choice
    return score, None


def _scope(alias: str, survey_id: str | None, tier: str | None, mark: str = "?", true: str = "1"
           ) -> tuple[str, list[str]]:
    """``WHERE`` terms (joined with AND, or ``true``) and parameters for the survey and tier filters
    (``mark``: the driver's placeholder; the PostgreSQL metrics pass ``%s`` and ``TRUE``)."""
    terms, params = [], []
    if survey_id is not None:
        terms.append(f"{alias}survey_id = {mark}")
        params.append(survey_id)
    if tier is not None:
        terms.append(f"{alias}tier = {mark}")
        params.append(tier)
    return (" AND ".join(terms) or true), params


def tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def has_rollup(conn: sqlite3.Connection) -> bool:
    return set(ROLLUP_TABLES) <= tables(conn)


class SqliteMetrics:
    """Grouped counts from a ledger connection (``ledger.conn``); see the module docstring.

    ``use_rollup=False`` counts everything raw (for checks and benchmarks).
    ``stale_days`` tells, after a read, how many days the rollup had out of
    step (counted raw instead).
    """

    def __init__(self, conn: sqlite3.Connection, *, use_rollup: bool = True):
        self.conn = conn
        found = tables(conn)
        self.has_responses = {"responses", "answers"} <= found
        self.has_due_day = self.has_responses and any(
            row[1] == "due_day" for row in conn.execute("PRAGMA table_info(invitations)"))
        self.use_rollup = use_rollup and self.has_responses and set(ROLLUP_TABLES) <= found
        self.stale_days = 0
        self._days: dict[tuple[str | None, str | None], dict[tuple[str, str, str], int]] = {}
        self._in_step: bool | None = None

    # -- responses --------------------------------------------------------

    def rollup_in_step(self) -> bool:
        """Whether the rollup holds the stored responses: their number and the sum of their keys."""
        if not self.use_rollup:
            return False
        if self._in_step is None:
            stored = self.conn.execute("SELECT COUNT(*), COALESCE(SUM(invitation), 0) FROM responses").fetchone()
            folded = self.conn.execute(
                "SELECT COALESCE(SUM(responses), 0), COALESCE(SUM(keys), 0) FROM response_day_counts").fetchone()
            self._in_step = tuple(stored) == tuple(folded)
        return self._in_step

    def response_days(self, survey_id: str | None, tier: str | None) -> dict[tuple[str, str, str], int]:
        """``(survey, tier, due_day) -> responses``: from the rollup when it is in step, else counted."""
        key = (survey_id, tier)
        if key not in self._days:
            if not self.has_responses:
                self._days[key] = {}
            else:
                days = self._folded_days if self.rollup_in_step() else self._stored_days
                self._days[key] = {group: n for group, (n, _) in days(survey_id, tier).items()}
        return self._days[key]

    def _stored_days(self, survey_id: str | None, tier: str | None) -> dict[tuple[str, str, str], tuple[int, int]]:
        """``(survey, tier, due_day) -> (responses, sum of their keys)``, counted from the responses."""
        where, params = _scope("i.", survey_id, tier)
        return {(s, t, d): (n, keys) for s, t, d, n, keys in self.conn.execute(
            f"SELECT i.survey_id, i.tier, i.due_day, COUNT(*), SUM(r.invitation) FROM {_RESPONSES} "
            f"WHERE {where} GROUP BY 1, 2, 3", params)}

    def _folded_days(self, survey_id: str | None, tier: str | None) -> dict[tuple[str, str, str], tuple[int, int]]:
        """The same, as the rollup has it."""
        where, params = _scope("", survey_id, tier)
        return {(s, t, d): (n, keys) for s, t, d, n, keys in self.conn.execute(
            f"SELECT survey_id, tier, due_day, responses, keys FROM response_day_counts WHERE {where}", params)}

    def response_counts(self, kind: str, survey_id: str | None, tier: str | None
                        ) -> Iterator[tuple[str, str, str, int]]:
        totals: Counter = Counter()
        for (s, t, d), n in self.response_days(survey_id, tier).items():
            totals[(s, t, period_of(d, kind))] += n
        for (s, t, p), n in sorted(totals.items()):
            yield s, t, p, n

    # -- invitations ------------------------------------------------------

    def invitation_counts(self, kind: str, survey_id: str | None, tier: str | None
                          ) -> Iterator[tuple[str, str, str, str, int, int]]:
        if not self.has_due_day:
            return
        where, params = _scope("", survey_id, tier)
        # Grouped in the order of the covering index invitations_group: no sort.
        invited: Counter = Counter()
        for s, state, t, d, n in self.conn.execute(
                f"SELECT survey_id, state, tier, due_day, COUNT(*) FROM invitations "
                f"WHERE {where} AND due_day IS NOT NULL GROUP BY survey_id, state, tier, due_day", params):
            invited[(s, t, period_of(d, kind), state)] += n
        # Answered although not recorded as sent (few): proof of delivery.
        where_i, params_i = _scope("i.", survey_id, tier)
        answered: Counter = Counter()
        for s, t, d, state, n in self.conn.execute(
                f"SELECT i.survey_id, i.tier, i.due_day, i.state, COUNT(*) FROM invitations AS i "
                f"JOIN responses AS r ON r.invitation = i.id "
                f"WHERE i.state IN {sql_states(NOT_DELIVERED_STATES)} AND {where_i} AND i.due_day IS NOT NULL "
                f"GROUP BY 1, 2, 3, 4", params_i):
            answered[(s, t, period_of(d, kind), state)] += n
        for (s, t, p, state), n in sorted(invited.items()):
            yield s, t, p, state, n, answered.get((s, t, p, state), 0)

    # -- answers ----------------------------------------------------------

    def answer_counts(self, kind: str, survey_id: str | None, tier: str | None
                      ) -> Iterator[tuple[str, str, str, str, str, float | None, str | None, int]]:
        if not self.has_responses:
            return
        counts = self._rollup_counts(kind, survey_id, tier) if self.use_rollup else None
        if counts is None:
            counts = self._raw_counts(kind, survey_id, tier)
        for (s, t, p, qid, qtype, score, choice), n in sorted(counts.items(), key=_sort_key):
            if n:
                yield (s, t, p, qid, qtype, *_from_key(qtype, score, choice), n)

    def _raw_counts(self, kind: str, survey_id: str | None, tier: str | None,
                    day: tuple[str, str, str] | None = None) -> Counter:
        """Counts straight from the answers: for the scope, or one ``(survey, tier, day)``."""
        if day is not None:
            where, params = _ONE_DAY, list(day)
        else:
            where, params = _scope("i.", survey_id, tier)
        # The answers in storage order (invitation id), each looking up its
        # invitation by id: the lookups move forward through the table.
        period = period_sql("i.due_day", kind)
        out: Counter = Counter()
        for row in self.conn.execute(
                f"SELECT i.survey_id, i.tier, {period}, a.question_id, q.qtype, {_SCORE_KEY}, {_CHOICE_KEY}, "
                f"COUNT(*) FROM {_ANSWERS} WHERE {where} AND {_ANSWERED} GROUP BY 1, 2, 3, 4, 5, 6, 7", params):
            out[row[:7]] += row[7]
        return out

    def _rollup_counts(self, kind: str, survey_id: str | None, tier: str | None) -> Counter | None:
        """Counts from the rollup, its out-of-step days counted raw; ``None`` when raw is cheaper."""
        if self.rollup_in_step():
            stale = []
        else:
            actual = self._stored_days(survey_id, tier)
            folded = self._folded_days(survey_id, tier)
            stale = sorted(g for g in set(actual) | set(folded) if actual.get(g) != folded.get(g))
            self.stale_days = len(stale)
            if stale and len(stale) > _PATCH_LIMIT * max(len(actual), 1):
                return None
        where, params = _scope("", survey_id, tier)
        period = period_sql("due_day", kind)
        out: Counter = Counter()
        for row in self.conn.execute(
                f"SELECT survey_id, tier, {period}, question_id, qtype, score, choice, SUM(n) "
                f"FROM answer_day_counts WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6, 7", params):
            out[row[:7]] += row[7]
        for s, t, d in stale:
            p = period_of(d, kind)
            for qid, qtype, score, choice, n in self.conn.execute(
                    "SELECT question_id, qtype, score, choice, n FROM answer_day_counts "
                    "WHERE survey_id = ? AND tier = ? AND due_day = ?", (s, t, d)):
                out[(s, t, p, qid, qtype, score, choice)] -= n
            out.update(self._raw_counts(kind, None, None, day=(s, t, d)))
        return out

    # -- free text --------------------------------------------------------

    def text_answers(self, survey_id: str, tier: str, question_id: str, kind: str, period: str, limit: int
                     ) -> list[tuple[str, str]]:
        """``(submitted_at, text)`` of the latest ``limit`` free-text answers, newest first.

        Latest by the due day (the period's own order): the period's
        invitations of the tier through the ``invitations_group`` index, one
        state after another (the index's second column), then their answers
        to the question by key.
        """
        if not self.has_responses:
            return []
        found = self.conn.execute("SELECT qtype FROM questions WHERE survey_id = ? AND question_id = ?",
                                  (survey_id, question_id)).fetchone()
        if found is None or found[0] != "text":
            return []
        first, after = period_days(period, kind)
        rows = self.conn.execute(
            "SELECT r.submitted_at, a.value FROM invitations AS i INDEXED BY invitations_group "
            "JOIN answers AS a ON a.invitation = i.id AND a.question_id = ? "
            "JOIN responses AS r ON r.invitation = i.id "
            f"WHERE i.survey_id = ? AND i.state IN {sql_states(STATES)} AND i.tier = ? "
            "AND i.due_day >= ? AND i.due_day < ? AND a.value <> '' "
            "ORDER BY i.due_day DESC LIMIT ?", (question_id, survey_id, tier, first, after, limit)).fetchall()
        rows.sort(key=lambda row: row[0], reverse=True)
        return rows


def _sort_key(item: tuple[tuple[Any, ...], int]) -> tuple[Any, ...]:
    s, t, p, qid, qtype, score, choice = item[0]
    return s, t, p, qid, qtype, score, choice


# -- keeping the rollup in step (for the ledger's writers) ------------------------------------------


def fold_answers(conn: sqlite3.Connection, responses: "Sequence[StoredResponse]") -> None:
    """Add newly stored responses and their answers to the rollup, in the caller's transaction.

    Call it inside the transaction that inserted them, with exactly the
    responses inserted. Counting is done here, a question at a time
    (``Counter`` over (day, answer) pairs, in C), then one upsert per
    distinct day and answer. Answers to ids that are not in the responses'
    ``question_types`` are not counted (nor by the raw count, which joins
    ``questions``). Does nothing when the ledger has no rollup tables yet.
    """
    if not responses or not has_rollup(conn):
        return
    # Days are numbered for counting: small int keys hash faster than nested tuples.
    groups: dict[tuple[str, str, str], int] = {}
    day_of: list[int] = []  # per response
    for r in responses:
        day_of.append(groups.setdefault((r.survey_id, r.tier, r.due_day), len(groups)))
    days = [[0, 0] for _ in groups]
    for r, day in zip(responses, day_of):
        days[day][0] += 1
        days[day][1] += r.invitation
    group_list = list(groups)
    rows = []
    for survey_id, (members, member_days) in _by_survey(responses, day_of).items():
        types: dict[str, str] = {}
        for mapping in {id(r.question_types): r.question_types for r in members}.values():
            types.update(mapping)  # one mapping shared by the survey's responses, as a rule
        for qid, qtype in types.items():
            values = [r.answers.get(qid) for r in members]
            if qtype == "text":  # counted, not copied: one key per day
                counted = Counter([day for day, value in zip(member_days, values) if value])
                for day, n in counted.items():
                    rows.append((*group_list[day], qid, qtype, 0.0, "", n))
                continue
            if qtype == "multiple_choice":  # each ticked choice, and '' for the answer itself
                ticked = Counter((day, choice) for day, value in zip(member_days, values) if value
                                 for choice in (*picked_choices(value), ""))
                rows.extend((*group_list[day], qid, qtype, 0.0, choice, n) for (day, choice), n in ticked.items())
                continue
            for (day, value), n in Counter(zip(member_days, values)).items():
                if value is not None and value != "":
                    rows.append((*group_list[day], qid, qtype, *_rollup_key(qtype, value), n))
    rows.sort()  # in key order, the upserts walk the table's B-tree forwards
    conn.executemany(
        "INSERT INTO answer_day_counts (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (survey_id, tier, due_day, question_id, qtype, score, choice) "
        "DO UPDATE SET n = n + excluded.n", rows)
    conn.executemany(
        "INSERT INTO response_day_counts (survey_id, tier, due_day, responses, keys) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (survey_id, tier, due_day) DO UPDATE SET responses = responses + excluded.responses, "
        "keys = keys + excluded.keys", [(*group, n, keys) for group, (n, keys) in zip(group_list, days)])


def _by_survey(responses: "Sequence[StoredResponse]", day_of: list[int]
               ) -> dict[str, tuple["Sequence[StoredResponse]", list[int]]]:
    """``survey -> (its responses, their day numbers)``; a batch is usually of one survey."""
    first = responses[0].survey_id
    if all(r.survey_id == first for r in responses):
        return {first: (responses, day_of)}
    out: dict[str, tuple[list[StoredResponse], list[int]]] = {}
    for r, day in zip(responses, day_of):
        members, days = out.setdefault(r.survey_id, ([], []))
        members.append(r)
        days.append(day)
    return out


def rebuild_rollup(conn: sqlite3.Connection, days: Iterable[tuple[str, str, str]] | None = None) -> None:
    """Count the rollup again from the stored responses: every day, or the given ``(survey, tier, due_day)``.

    For writers that delete or change responses, and for repairs. Runs in
    the caller's transaction if there is one.
    """
    if days is None:
        conn.execute("DELETE FROM answer_day_counts")
        conn.execute("DELETE FROM response_day_counts")
        for statement in _BACKFILL:
            conn.execute(statement.format(where="1"))
        return
    for day in days:
        conn.execute("DELETE FROM answer_day_counts WHERE survey_id = ? AND tier = ? AND due_day = ?", day)
        conn.execute("DELETE FROM response_day_counts WHERE survey_id = ? AND tier = ? AND due_day = ?", day)
        for statement in _BACKFILL:
            conn.execute(statement.format(where=_ONE_DAY), day)
