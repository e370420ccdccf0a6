"""Metrics from the SQLite ledger: the grouped counts behind every figure, counted by SQLite.

:class:`SqliteMetrics` is the :class:`tierctl.metrics.MetricsSource` of the
SQLite ledger. It reads ``ledger.conn`` and never loads responses into
Python: each method is one ``GROUP BY`` and returns a few thousand rows at
most, whatever the number of responses.

Two ways to the answer counts, giving the same numbers:

* **Raw**: one ``GROUP BY`` over ``responses JOIN answers`` per survey,
  tier, period, question and distinct answer. Correct on any ledger, but it
  visits every answer: about 14 s for 1,000,000 responses of three scored
  questions (``benchmarks/bench_responses.py``; the join and the sort of 3
  million rows dominate: SQLite has no hash aggregation).
* **Rollup**: two small tables, ``answer_day_counts`` (how many identical
  answers per survey, tier, due day and question) and
  ``response_day_counts`` (how many responses those were), kept in step by
  the writer: :func:`fold_answers` in the same transaction that stores the
  responses. A report then reads tens of thousands of rows instead of
  millions: ``tierctl report --format json`` over 1,000,000 responses takes
  0.7 s and 42 MiB, start-up included. The rollup is checked on every read against the responses
  themselves (their count per survey, tier and due day, one scan of the
  ``responses_group`` index): a day that is out of step (responses stored
  without folding, or deleted) is counted raw, so the figures are always
  those of the stored answers.

The rollup tables belong to the ledger's schema (:data:`ROLLUP_DDL`, to be
added by a ledger migration with :data:`ROLLUP_BACKFILL`); until they exist
every count is raw.

Rollup rows use ``score = 0`` for choice and text answers and ``choice =
''`` for scored and text answers (key columns cannot be NULL); a text answer
is counted, its words are not copied.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any, Iterable, Iterator

from .metrics import NOT_DELIVERED_STATES, PERIOD_KINDS, period_days, period_of

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

# Which answers count, and under which key: the SQL twin of _answer_key().
_ANSWERED = ("CASE WHEN a.qtype IN ('text', 'choice') THEN a.text IS NOT NULL AND a.text <> '' "
             "ELSE a.score IS NOT NULL END")
_SCORE_KEY = "CASE WHEN a.qtype IN ('text', 'choice') THEN 0.0 ELSE a.score END"
_CHOICE_KEY = "CASE WHEN a.qtype = 'choice' THEN a.text ELSE '' END"

_BACKFILL = (
    "INSERT INTO answer_day_counts (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
    f"SELECT r.survey_id, r.tier, r.due_day, a.question_id, a.qtype, {_SCORE_KEY}, {_CHOICE_KEY}, COUNT(*) "
    f"FROM responses AS r JOIN answers AS a ON a.response_id = r.response_id WHERE {_ANSWERED} AND {{where}} "
    "GROUP BY 1, 2, 3, 4, 5, 6, 7",
    "INSERT INTO response_day_counts (survey_id, tier, due_day, responses) "
    "SELECT r.survey_id, r.tier, r.due_day, COUNT(*) FROM responses AS r WHERE {where} GROUP BY 1, 2, 3",
)
#: Fills the rollup from the stored responses (the migration runs it once, after ROLLUP_DDL).
ROLLUP_BACKFILL: tuple[str, ...] = tuple(statement.format(where="1") for statement in _BACKFILL)

ROLLUP_TABLES = ("answer_day_counts", "response_day_counts")
#: Above this share of out-of-step days, counting everything raw is cheaper than patching.
_PATCH_LIMIT = 0.25


def period_sql(column: str, kind: str) -> str:
    """SQL for the period label of a ``YYYY-MM-DD`` column; the twin of :func:`tierctl.metrics.period_of`."""
    if kind == "month":
        return f"substr({column}, 1, 7)"
    if kind == "quarter":
        return f"(substr({column}, 1, 5) || 'Q' || ((CAST(substr({column}, 6, 2) AS INTEGER) + 2) / 3))"
    if kind == "year":
        return f"substr({column}, 1, 4)"
    raise ValueError(f"unknown period {kind!r}; periods are {', '.join(PERIOD_KINDS)}")


def _answer_key(qtype: str, score: Any, text: Any) -> tuple[float, str] | None:
    """The rollup key ``(score, choice)`` of one stored answer, or ``None`` when it does not count."""
    if qtype == "text" or qtype == "choice":
        if text is None or text == "":
            return None
        return 0.0, (text if qtype == "choice" else "")
    if score is None:
        return None
    return float(score), ""


def _from_key(qtype: str, score: float, choice: str) -> tuple[float | None, str | None]:
    if qtype == "text":
        return None, None
    if qtype == "choice":
        return None, choice
    return score, None


def _scope(alias: str, survey_id: str | None, tier: str | None) -> tuple[str, list[str]]:
    """``WHERE`` terms (joined with AND, or ``1``) and parameters for the survey and tier filters."""
    terms, params = [], []
    if survey_id is not None:
        terms.append(f"{alias}survey_id = ?")
        params.append(survey_id)
    if tier is not None:
        terms.append(f"{alias}tier = ?")
        params.append(tier)
    return (" AND ".join(terms) or "1"), params


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

    # -- responses --------------------------------------------------------

    def response_days(self, survey_id: str | None, tier: str | None) -> dict[tuple[str, str, str], int]:
        """``(survey, tier, due_day) -> responses``: one scan of the covering index ``responses_group``."""
        key = (survey_id, tier)
        if key not in self._days:
            if not self.has_responses:
                self._days[key] = {}
            else:
                where, params = _scope("", survey_id, tier)
                self._days[key] = {(s, t, d): n for s, t, d, n in self.conn.execute(
                    f"SELECT survey_id, tier, due_day, COUNT(*) FROM responses WHERE {where} "
                    "GROUP BY survey_id, tier, due_day", params)}
        return self._days[key]

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
        states = ", ".join(f"'{s}'" for s in NOT_DELIVERED_STATES)
        answered: Counter = Counter()
        for s, t, d, state, n in self.conn.execute(
                f"SELECT i.survey_id, i.tier, i.due_day, i.state, COUNT(*) FROM invitations AS i "
                f"JOIN responses AS r ON r.invite_id = i.invite_id "
                f"WHERE i.state IN ({states}) AND {where_i} AND i.due_day IS NOT NULL "
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
        """Counts straight from ``responses JOIN answers``: for the scope, or one ``(survey, tier, day)``."""
        if day is not None:
            where, params = "r.survey_id = ? AND r.tier = ? AND r.due_day = ?", list(day)
        else:
            where, params = _scope("r.", survey_id, tier)
        # A day or a tier: its responses through the responses_group index, then their answers.
        # Everything (or a whole survey): the answers in storage order, each looking up its
        # response; answers are stored right after their responses, so the lookups move
        # forward through the responses table (measured 2x faster at 1,000,000 responses).
        joined = ("responses AS r JOIN answers AS a ON a.response_id = r.response_id"
                  if day is not None or tier is not None else
                  "answers AS a CROSS JOIN responses AS r ON r.response_id = a.response_id")
        period = period_sql("r.due_day", kind)
        out: Counter = Counter()
        for row in self.conn.execute(
                f"SELECT r.survey_id, r.tier, {period}, a.question_id, a.qtype, {_SCORE_KEY}, {_CHOICE_KEY}, "
                f"COUNT(*) FROM {joined} WHERE {where} AND {_ANSWERED} GROUP BY 1, 2, 3, 4, 5, 6, 7", params):
            out[row[:7]] += row[7]
        return out

    def _rollup_counts(self, kind: str, survey_id: str | None, tier: str | None) -> Counter | None:
        """Counts from the rollup, its out-of-step days counted raw; ``None`` when raw is cheaper."""
        actual = self.response_days(survey_id, tier)
        where, params = _scope("", survey_id, tier)
        folded = {(s, t, d): n for s, t, d, n in self.conn.execute(
            f"SELECT survey_id, tier, due_day, responses FROM response_day_counts WHERE {where}", params)}
        stale = sorted(g for g in set(actual) | set(folded) if actual.get(g, 0) != folded.get(g, 0))
        self.stale_days = len(stale)
        if stale and len(stale) > _PATCH_LIMIT * max(len(actual), 1):
            return None
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

        Latest by the due day (the period's own order), read backwards along
        the ``responses_group`` index and stopped at ``limit``: a quarter's
        100,000 responses cost the same as its last few hundred.
        """
        if not self.has_responses:
            return []
        first, after = period_days(period, kind)
        rows = self.conn.execute(
            "SELECT r.submitted_at, a.text FROM responses AS r INDEXED BY responses_group "
            "JOIN answers AS a ON a.response_id = r.response_id AND a.question_id = ? "
            "WHERE r.survey_id = ? AND r.tier = ? AND r.due_day >= ? AND r.due_day < ? "
            "AND a.qtype = 'text' AND a.text IS NOT NULL AND a.text <> '' "
            "ORDER BY r.due_day DESC LIMIT ?", (question_id, survey_id, tier, first, after, limit)).fetchall()
        rows.sort(key=lambda row: row[0], reverse=True)
        return rows


def _sort_key(item: tuple[tuple[Any, ...], int]) -> tuple[Any, ...]:
    s, t, p, qid, qtype, score, choice = item[0]
    return s, t, p, qid, qtype, score, choice


# -- keeping the rollup in step (for the ledger's writers) ------------------------------------------


def fold_answers(conn: sqlite3.Connection, responses: Iterable[tuple[str, str, str, str]],
                 answers: Iterable[tuple[str, str, str, Any, Any]]) -> None:
    """Add newly stored responses and their answers to the rollup, in the caller's transaction.

    Call it inside the transaction that inserted them, with exactly the rows
    inserted: ``responses`` as ``(response_id, survey_id, tier, due_day)``,
    ``answers`` as ``answers`` rows ``(response_id, question_id, qtype,
    score, text)``. Counting is done here (one ``Counter`` pass), then one
    upsert per distinct day and answer. Does nothing when the ledger has no
    rollup tables yet.
    """
    if not has_rollup(conn):
        return
    group_of: dict[str, tuple[str, str, str]] = {}
    days: Counter = Counter()
    for response_id, survey_id, tier, due_day in responses:
        group = (survey_id, tier, due_day)
        group_of[response_id] = group
        days[group] += 1
    counts: Counter = Counter()
    for response_id, question_id, qtype, score, text in answers:
        key = _answer_key(qtype, score, text)
        if key is not None:
            counts[(*group_of[response_id], question_id, qtype, *key)] += 1
    conn.executemany(
        "INSERT INTO answer_day_counts (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (survey_id, tier, due_day, question_id, qtype, score, choice) "
        "DO UPDATE SET n = n + excluded.n", [(*k, n) for k, n in counts.items()])
    conn.executemany(
        "INSERT INTO response_day_counts (survey_id, tier, due_day, responses) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (survey_id, tier, due_day) DO UPDATE SET responses = responses + excluded.responses",
        [(*k, n) for k, n in days.items()])


def rebuild_rollup(conn: sqlite3.Connection, days: Iterable[tuple[str, str, str]] | None = None) -> None:
    """Count the rollup again from the stored responses: every day, or the given ``(survey, tier, due_day)``.

    For writers that delete or change responses, and for repairs. Runs in
    the caller's transaction if there is one.
    """
    if days is None:
        conn.execute("DELETE FROM answer_day_counts")
        conn.execute("DELETE FROM response_day_counts")
        for statement in ROLLUP_BACKFILL:
            conn.execute(statement)
        return
    for day in days:
        conn.execute("DELETE FROM answer_day_counts WHERE survey_id = ? AND tier = ? AND due_day = ?", day)
        conn.execute("DELETE FROM response_day_counts WHERE survey_id = ? AND tier = ? AND due_day = ?", day)
        for statement in _BACKFILL:
            conn.execute(statement.format(where="r.survey_id = ? AND r.tier = ? AND r.due_day = ?"), day)
