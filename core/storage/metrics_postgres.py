"""Metrics from the PostgreSQL ledger: the grouped counts behind every figure, counted by PostgreSQL.

:class:`PostgresMetrics` is the :class:`tierctl.responses.metrics.MetricsSource`
of the PostgreSQL ledger, and gives the same counts as the SQLite ledger's
(a test compares the report JSON of both on the same data). Answer counts
come from the rollup tables that the ledger keeps in step in SQL, in the
transaction that stores the responses (:mod:`tierctl.storage.postgres_bulk`).
Before trusting them, the number of stored responses and the sum of their
keys are compared with the rollup's; if they differ (rows deleted or
written by hand), every count is taken from the raw answers instead and
``stale_days`` says how many days were out of step.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

from tierctl.config.periods import period_days, period_of
from tierctl.storage.copying import canonical_time
from tierctl.storage.backend_sql import sql_states
from tierctl.storage.ledger import NOT_DELIVERED_STATES
from tierctl.storage.metrics_sqlite import _scope as sqlite_scope, period_sql  # plain SQL both databases speak
from tierctl.storage.postgres_bulk import ANSWERED as _ANSWERED, ANSWERS_JOIN, CHOICE_KEY as _CHOICE_KEY, \
    SCORE_KEY as _SCORE_KEY


def _scope(alias: str, survey_id: str | None, tier: str | None) -> tuple[str, list[str]]:
    return sqlite_scope(alias, survey_id, tier, "%s", "TRUE")


class PostgresMetrics:
    """Grouped counts from a PostgreSQL ledger connection; see the module docstring."""

    def __init__(self, conn: Any, *, use_rollup: bool = True):
        self.conn = conn
        self.use_rollup = use_rollup
        self.stale_days = 0
        self._in_step: bool | None = None

    def rollup_in_step(self) -> bool:
        if not self.use_rollup:
            return False
        if self._in_step is None:
            stored = self.conn.execute("SELECT COUNT(*), COALESCE(SUM(invitation), 0) FROM responses").fetchone()
            folded = self.conn.execute(
                "SELECT COALESCE(SUM(responses), 0), COALESCE(SUM(keys), 0) FROM response_day_counts").fetchone()
            self._in_step = (int(stored[0]), int(stored[1])) == (int(folded[0]), int(folded[1]))
            if not self._in_step:
                self.stale_days = self.conn.execute(
                    "SELECT COUNT(*) FROM (SELECT i.survey_id, i.tier, i.due_day, COUNT(*) AS n FROM responses AS r "
                    "JOIN invitations AS i ON i.id = r.invitation GROUP BY 1, 2, 3) AS s FULL JOIN "
                    "response_day_counts AS c USING (survey_id, tier, due_day) "
                    "WHERE s.n IS DISTINCT FROM c.responses").fetchone()[0]
        return self._in_step

    def response_counts(self, kind: str, survey_id: str | None, tier: str | None
                        ) -> Iterator[tuple[str, str, str, int]]:
        if self.rollup_in_step():
            where, params = _scope("", survey_id, tier)
            sql = f"SELECT survey_id, tier, due_day, responses FROM response_day_counts WHERE {where}"
        else:
            where, params = _scope("i.", survey_id, tier)
            sql = (f"SELECT i.survey_id, i.tier, i.due_day, COUNT(*) FROM responses AS r "
                   f"JOIN invitations AS i ON i.id = r.invitation WHERE {where} GROUP BY 1, 2, 3")
        totals: Counter = Counter()
        for s, t, d, n in self.conn.execute(sql, params):
            totals[(s, t, period_of(d, kind))] += int(n)
        for (s, t, p), n in sorted(totals.items()):
            if n:
                yield s, t, p, n

    def invitation_counts(self, kind: str, survey_id: str | None, tier: str | None
                          ) -> Iterator[tuple[str, str, str, str, int, int]]:
        where, params = _scope("", survey_id, tier)
        invited: Counter = Counter()
        for s, state, t, d, n in self.conn.execute(
                f"SELECT survey_id, state, tier, due_day, COUNT(*) FROM invitations "
                f"WHERE {where} AND due_day IS NOT NULL GROUP BY 1, 2, 3, 4", params):
            invited[(s, t, period_of(d, kind), state)] += n
        where_i, params_i = _scope("i.", survey_id, tier)
        answered: Counter = Counter()
        for s, t, d, state, n in self.conn.execute(
                "SELECT i.survey_id, i.tier, i.due_day, i.state, COUNT(*) FROM invitations AS i "
                "JOIN responses AS r ON r.invitation = i.id "
                f"WHERE i.state IN {sql_states(NOT_DELIVERED_STATES)} AND {where_i} AND i.due_day IS NOT NULL "
                "GROUP BY 1, 2, 3, 4", params_i):
            answered[(s, t, period_of(d, kind), state)] += n
        for (s, t, p, state), n in sorted(invited.items()):
            yield s, t, p, state, n, answered.get((s, t, p, state), 0)

    def answer_counts(self, kind: str, survey_id: str | None, tier: str | None
                      ) -> Iterator[tuple[str, str, str, str, str, float | None, str | None, int]]:
        if self.rollup_in_step():
            where, params = _scope("", survey_id, tier)
            sql = (f"SELECT survey_id, tier, {period_sql('due_day', kind)}, question_id, qtype, score, choice, "
                   f"SUM(n) FROM answer_day_counts WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6, 7")
        else:
            where, params = _scope("i.", survey_id, tier)
            sql = (f"SELECT i.survey_id, i.tier, {period_sql('i.due_day', kind)}, a.question_id, q.qtype, "
                   f"{_SCORE_KEY}, {_CHOICE_KEY}, COUNT(*) FROM {ANSWERS_JOIN} WHERE {where} AND {_ANSWERED} "
                   "GROUP BY 1, 2, 3, 4, 5, 6, 7")
        rows = sorted((tuple(row[:7]), int(row[7])) for row in self.conn.execute(sql, params))
        for (s, t, p, qid, qtype, score, choice), n in rows:
            if not n:
                continue
            if qtype == "text":
                yield s, t, p, qid, qtype, None, None, n
            elif qtype in ("choice", "multiple_choice"):
                yield s, t, p, qid, qtype, None, choice, n
            else:
                yield s, t, p, qid, qtype, float(score), None, n

    def text_answers(self, survey_id: str, tier: str, question_id: str, kind: str, period: str, limit: int
                     ) -> list[tuple[str, str]]:
        found = self.conn.execute("SELECT qtype FROM questions WHERE survey_id = %s AND question_id = %s",
                                  (survey_id, question_id)).fetchone()
        if found is None or found[0] != "text":
            return []
        first, after = period_days(period, kind)
        rows = self.conn.execute(
            "SELECT r.submitted_at, a.text FROM invitations AS i "
            "JOIN answers AS a ON a.invitation = i.id AND a.question_id = %s "
            "JOIN responses AS r ON r.invitation = i.id "
            "WHERE i.survey_id = %s AND i.tier = %s AND i.due_day >= %s AND i.due_day < %s AND a.text <> '' "
            "ORDER BY i.due_day DESC, i.id DESC LIMIT %s",
            (question_id, survey_id, tier, first, after, limit)).fetchall()
        out = [(canonical_time(at), text) for at, text in rows]
        out.sort(key=lambda row: row[0], reverse=True)
        return out
