"""Survey metrics against hand-computed figures: the formulas, the SQL that counts, the rollup.

Every database test runs twice: counting raw (responses JOIN answers) and
through the per-day rollup; both must give the same figures.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from metrics_fixtures import Fixture, load

from tierctl.config.periods import period_days, period_of, period_range, previous_period
from tierctl.responses.metrics import QuestionInfo, Trend, build_metrics, question_figures
from tierctl.storage.metrics_sqlite import SqliteMetrics, period_sql, rebuild_rollup

NPS = QuestionInfo("nps", "nps", "Recommend?", (0, 10), ())
CSAT = QuestionInfo("sat", "csat", "Satisfied?", (1, 5), ())
CES = QuestionInfo("effort", "ces", "Easy?", (1, 7), ())
DOCS = QuestionInfo("docs", "rating", "Docs?", (1, 10), ())
PLAN = QuestionInfo("plan", "choice", "Plan?", None, ("Basic", "=Pro", "Enterprise"))


def scores(*values: float) -> Counter:
    return Counter((float(v), None) for v in values)


# -- periods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("day, kind, label, previous, days", [
    ("2027-01-01", "month", "2027-01", "2026-12", ("2027-01-01", "2027-02-01")),
    ("2027-12-31", "month", "2027-12", "2027-11", ("2027-12-01", "2028-01-01")),
    ("2027-01-01", "quarter", "2027-Q1", "2026-Q4", ("2027-01-01", "2027-04-01")),
    ("2027-06-30", "quarter", "2027-Q2", "2027-Q1", ("2027-04-01", "2027-07-01")),
    ("2027-12-31", "quarter", "2027-Q4", "2027-Q3", ("2027-10-01", "2028-01-01")),
    ("2027-07-15", "year", "2027", "2026", ("2027-01-01", "2028-01-01")),
])
def test_periods(day: str, kind: str, label: str, previous: str, days: tuple[str, str]) -> None:
    assert period_of(day, kind) == label
    assert previous_period(label, kind) == previous
    assert period_days(label, kind) == days


def test_period_range_fills_gaps_across_years() -> None:
    assert period_range("2026-Q3", "2027-Q2", "quarter") == ["2026-Q3", "2026-Q4", "2027-Q1", "2027-Q2"]
    assert period_range("2026-11", "2027-02", "month") == ["2026-11", "2026-12", "2027-01", "2027-02"]


@pytest.mark.parametrize("kind", ["month", "quarter", "year"])
def test_sql_periods_match_python(kind: str) -> None:
    conn = sqlite3.connect(":memory:")
    days = [f"{y}-{m:02d}-{d:02d}" for y in (2026, 2027) for m in range(1, 13) for d in (1, 15, 28)]
    got = [conn.execute(f"SELECT {period_sql('d', kind)} FROM (SELECT ? AS d)", (day,)).fetchone()[0]
           for day in days]
    assert got == [period_of(day, kind) for day in days]


# -- the formulas, by hand ------------------------------------------------------------------------


def test_no_answers_are_empty_figures_not_zero() -> None:
    for info in (NPS, CSAT, CES, DOCS):
        fig = question_figures(info, info.qtype, Counter())
        assert fig.value is None and fig.answers == 0 and fig.ignored == 0, info
        assert all(n == 0 for _, n in fig.distribution)
    assert question_figures(CES, "ces", Counter()).share is None
    assert question_figures(NPS, "nps", Counter()).parts == {"promoters": 0, "passives": 0, "detractors": 0}
    choice = question_figures(PLAN, "choice", Counter())
    assert choice.value is None and choice.answers == 0 and choice.distribution == (
        ("Basic", 0), ("=Pro", 0), ("Enterprise", 0))


def test_all_detractors_is_minus_100() -> None:
    fig = question_figures(NPS, "nps", scores(0, 3, 6, 6, 1))
    assert fig.value == -100.0
    assert fig.parts == {"promoters": 0, "passives": 0, "detractors": 5}
    assert fig.answers == 5


def test_single_response() -> None:
    assert question_figures(NPS, "nps", scores(10)).value == 100.0
    assert question_figures(NPS, "nps", scores(8)).value == 0.0  # a passive: counted in the base, not 0 answers
    assert question_figures(CSAT, "csat", scores(4)).value == 100.0
    assert question_figures(CSAT, "csat", scores(3)).value == 0.0
    ces = question_figures(CES, "ces", scores(5))
    assert (ces.value, ces.share, ces.parts["high"]) == (5.0, 100.0, 1)


def test_mixed_answers() -> None:
    # 10 10 9 | 8 7 7 | 6 2: 3 promoters, 3 passives, 2 detractors of 8 -> (3 - 2) / 8 = +12.5
    nps = question_figures(NPS, "nps", scores(10, 10, 9, 8, 7, 7, 6, 2))
    assert nps.value == 12.5
    assert nps.parts == {"promoters": 3, "passives": 3, "detractors": 2}
    assert dict(nps.distribution) == {0: 0, 1: 0, 2: 1, 3: 0, 4: 0, 5: 0, 6: 1, 7: 2, 8: 1, 9: 1, 10: 2}
    # 5 4 4 3 1: 3 of 5 are 4-5 -> 60 %
    csat = question_figures(CSAT, "csat", scores(5, 4, 4, 3, 1))
    assert (csat.value, csat.parts["satisfied"], csat.answers) == (60.0, 3, 5)
    # 7 6 5 4 1 2: mean 25 / 6, 3 of 6 are 5-7 -> 50 %
    ces = question_figures(CES, "ces", scores(7, 6, 5, 4, 1, 2))
    assert ces.value == pytest.approx(25 / 6)
    assert (ces.share, ces.parts["high"]) == (50.0, 3)
    docs = question_figures(DOCS, "rating", scores(3, 8, 10))
    assert (docs.value, docs.answers, docs.scale) == (7.0, 3, (1, 10))


def test_answers_outside_the_scale_are_never_counted() -> None:
    nps = question_figures(NPS, "nps", scores(11, -1, 10, 0, 100))
    assert (nps.answers, nps.ignored, nps.value) == (2, 3, 0.0)
    assert 11 not in dict(nps.distribution) and -1 not in dict(nps.distribution)
    csat = question_figures(CSAT, "csat", scores(0, 6, 5))
    assert (csat.answers, csat.ignored, csat.value) == (1, 2, 100.0)
    ces = question_figures(CES, "ces", scores(8, 0, 7, 1))
    assert (ces.answers, ces.ignored, ces.value, ces.share) == (2, 2, 4.0, 50.0)
    docs = question_figures(DOCS, "rating", scores(0, 11, 5))
    assert (docs.answers, docs.ignored, docs.value) == (1, 2, 5.0)
    only_bad = question_figures(CSAT, "csat", scores(9, 9))
    assert (only_bad.answers, only_bad.value) == (0, None)


def test_choices_in_declared_order_undeclared_ones_ignored() -> None:
    counts = Counter({(None, "Enterprise"): 3, (None, "=Pro"): 1, (None, "Gold"): 2})
    fig = question_figures(PLAN, "choice", counts)
    assert fig.distribution == (("Basic", 0), ("=Pro", 1), ("Enterprise", 3))
    assert (fig.answers, fig.ignored, fig.value) == (4, 2, None)


# -- through the database -------------------------------------------------------------------------


@pytest.fixture(params=["raw", "rollup"])
def counted(request, tmp_path: Path):
    """``(fixture, figures(kind, survey, tier) -> Metrics)``, counting raw or through the rollup."""
    config = load(tmp_path)
    fx = Fixture(tmp_path, rollup=request.param == "rollup")

    def figures(kind: str = "quarter", survey: str | None = None, tier: str | None = None):
        source = SqliteMetrics(fx.conn, use_rollup=request.param == "rollup")
        assert source.use_rollup == (request.param == "rollup")
        return build_metrics(source, config, kind, survey, tier)

    yield fx, figures
    fx.close()


def tier_period(metrics, survey: str, tier: str, period: str):
    s = next(s for s in metrics.surveys if s.survey_id == survey)
    t = next(t for t in s.tiers if t.tier_id == tier)
    return next(p for p in t.periods if p.period == period)


def test_figures_from_the_database(counted) -> None:
    fx, figures = counted
    for score, sat, effort in ((10, 5, 7), (9, 4, 5), (7, 2, 3), (3, 1, 1)):
        fx.answer("feedback", "basic", "2027-02-10",
                  {"nps": ("nps", score), "sat": ("csat", sat), "effort": ("ces", effort)})
    fx.answer("feedback", "basic", "2027-03-31", {"plan": ("choice", "=Pro"), "next": ("text", "SSO")})
    fx.answer("feedback", "advanced", "2027-01-02", {"nps": ("nps", 0)})
    p = tier_period(figures(), "feedback", "basic", "2027-Q1")
    nps, sat, effort, docs, plan, text = p.questions
    # 10 9 | 7 | 3 -> (2 - 1) / 4 = +25
    assert (nps.value, nps.parts, nps.answers) == (25.0, {"promoters": 2, "passives": 1, "detractors": 1}, 4)
    assert (sat.value, sat.parts["satisfied"]) == (50.0, 2)
    assert (effort.value, effort.share, effort.parts["high"]) == (4.0, 50.0, 2)
    assert (docs.value, docs.answers) == (None, 0)
    assert dict(plan.distribution) == {"Basic": 0, "=Pro": 1, "Enterprise": 0}
    assert text.answers == 1
    assert p.responses == 5 and p.rate.value == 100.0
    adv = tier_period(figures(), "feedback", "advanced", "2027-Q1")
    assert adv.question("nps").value == -100.0 and adv.question("sat").value is None


def test_out_of_scale_answers_in_the_database_are_not_counted(counted) -> None:
    # The import refuses them; another writer might not: the figures still leave them out.
    fx, figures = counted
    fx.answer("feedback", "basic", "2027-02-10", {"nps": ("nps", 11), "sat": ("csat", 0), "effort": ("ces", 9)})
    fx.answer("feedback", "basic", "2027-02-11", {"nps": ("nps", 9), "sat": ("csat", 5), "effort": ("ces", 6)})
    fx.answer("feedback", "basic", "2027-02-12", {"plan": ("choice", "Platinum")})
    p = tier_period(figures(), "feedback", "basic", "2027-Q1")
    assert (p.question("nps").value, p.question("nps").answers, p.question("nps").ignored) == (100.0, 1, 1)
    assert (p.question("sat").value, p.question("sat").ignored) == (100.0, 1)
    assert (p.question("effort").value, p.question("effort").ignored) == (6.0, 1)
    assert (p.question("plan").answers, p.question("plan").ignored) == (0, 1)


def test_response_rate_leaves_undelivered_invitations_out(counted) -> None:
    fx, figures = counted
    day = "2027-05-06"
    for _ in range(3):
        fx.answer("feedback", "standard", day, {"nps": ("nps", 9)})
    for _ in range(5):
        fx.invite("feedback", "standard", day)  # sent, not answered
    for state in ("failed", "failed", "retry", "deferred", "unknown", "sending"):
        fx.invite("feedback", "standard", day, state=state)
    # Recorded unknown (a run died while sending), yet answered: it was delivered.
    fx.respond(fx.invite("feedback", "standard", day, state="unknown"), {"nps": ("nps", 10)})
    rate = tier_period(figures(), "feedback", "standard", "2027-Q2").rate
    assert (rate.responses, rate.sent, rate.answered_unsent, rate.delivered) == (4, 8, 1, 9)
    assert rate.value == pytest.approx(100 * 4 / 9)
    assert rate.excluded == {"failed": 2, "retry": 1, "deferred": 1, "unknown": 1, "sending": 1}


def test_nothing_delivered_is_an_empty_rate(counted) -> None:
    fx, figures = counted
    fx.invite("feedback", "basic", "2027-05-06", state="failed")
    rate = tier_period(figures(), "feedback", "basic", "2027-Q2").rate
    assert (rate.value, rate.delivered, rate.excluded["failed"]) == (None, 0, 1)


def test_trend_and_benchmarks(counted) -> None:
    fx, figures = counted
    fx.answer("feedback", "basic", "2026-12-01", {"nps": ("nps", 10), "sat": ("csat", 5)})
    fx.answer("feedback", "basic", "2026-12-02", {"nps": ("nps", 0), "sat": ("csat", 1)})
    fx.answer("feedback", "basic", "2027-01-15", {"nps": ("nps", 9), "sat": ("csat", 2)})
    metrics = figures()
    q4 = tier_period(metrics, "feedback", "basic", "2026-Q4")
    q1 = tier_period(metrics, "feedback", "basic", "2027-Q1")
    assert q4.question("nps").trend is None  # 2026-Q3 has nothing: no trend
    nps_trend = q1.question("nps").trend
    assert (nps_trend.previous_period, nps_trend.previous, nps_trend.delta, nps_trend.direction) == (
        "2026-Q4", 0.0, 100.0, "up")
    sat_trend = q1.question("sat").trend
    assert (sat_trend.previous, sat_trend.delta, sat_trend.direction) == (50.0, -50.0, "down")
    assert Trend("2026-Q4", 4.0, 0.04, digits=2).direction == "up"  # a mean shows 0.04
    assert Trend("2026-Q4", 50.0, 0.04).direction == "flat"  # a percentage shows 0.0
    # Benchmarks from the config: csat and nps for every survey, response_rate only for 'feedback'.
    (csat_mark,) = q1.question("sat").benchmarks
    assert (csat_mark.value, csat_mark.year, csat_mark.delta) == (92.5, 2018, -92.5)
    (nps_mark,) = q1.question("nps").benchmarks
    assert (nps_mark.label, nps_mark.delta) == ("Median NPS", 64.0)
    assert [b.value for b in q1.rate.benchmarks] == [26.0]
    assert q1.question("docs").benchmarks == ()


def test_months_quarters_years_and_filters(counted) -> None:
    fx, figures = counted
    fx.answer("feedback", "basic", "2026-12-31", {"nps": ("nps", 10)})
    fx.answer("feedback", "basic", "2027-01-01", {"nps": ("nps", 0)})
    fx.answer("feedback", "advanced", "2027-03-01", {"nps": ("nps", 8)})
    months = figures("month")
    assert months.surveys[0].periods == ("2026-12", "2027-01", "2027-02", "2027-03")
    assert tier_period(months, "feedback", "basic", "2027-02").question("nps").value is None  # a gap, empty
    years = figures("year")
    assert years.surveys[0].periods == ("2026", "2027")
    assert tier_period(years, "feedback", "basic", "2027").question("nps").value == -100.0
    only = figures("quarter", survey="feedback", tier="advanced")
    assert [s.survey_id for s in only.surveys] == ["feedback"]
    assert [t.tier_id for t in only.surveys[0].tiers] == ["advanced"]
    assert only.surveys[0].periods == ("2027-Q1",)


def test_text_answers_newest_first_limited_per_tier_and_question(counted) -> None:
    fx, _ = counted
    for i in range(5):
        fx.answer("feedback", "basic", f"2027-02-{10 + i}", {"next": ("text", f"idea {i}")},
                  submitted=f"2027-02-{10 + i}T12:00:00.000000+00:00")
    fx.answer("feedback", "standard", "2027-02-01", {"next": ("text", "other tier")})
    fx.answer("feedback", "basic", "2026-12-01", {"next": ("text", "last quarter")})
    source = SqliteMetrics(fx.conn)
    assert [text for _, text in source.text_answers("feedback", "basic", "next", "quarter", "2027-Q1", 3)] == [
        "idea 4", "idea 3", "idea 2"]
    assert source.text_answers("feedback", "standard", "next", "quarter", "2027-Q1", 9) == [
        ("2027-02-01T12:00:00.000000+00:00", "other tier")]
    assert source.text_answers("feedback", "basic", "next", "quarter", "2026-Q4", 9)[0][1] == "last quarter"
    assert source.text_answers("feedback", "advanced", "next", "quarter", "2027-Q1", 9) == []


def test_no_responses_table_yet_gives_empty_figures(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE invitations (invite_id TEXT)")
    config = load(tmp_path)
    metrics = build_metrics(SqliteMetrics(conn), config)
    assert [s.tiers for s in metrics.surveys] == [(), ()]


# -- the rollup -----------------------------------------------------------------------------------


def _random_answers(fx: Fixture, n: int, seed: int, fold: bool = True) -> None:
    rnd = random.Random(seed)
    for _ in range(n):
        day = f"2026-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}"
        answers = {"nps": ("nps", rnd.randrange(-1, 12)), "sat": ("csat", rnd.randrange(0, 7)),
                   "effort": ("ces", rnd.randrange(1, 8)), "docs": ("rating", rnd.randrange(1, 11)),
                   "plan": ("choice", rnd.choice(["Basic", "=Pro", "Enterprise", "Gold"])),
                   "next": ("text", rnd.choice(["", "x", "an idea"]))}
        answers = {k: v for k, v in answers.items() if rnd.random() < 0.8}
        fx.answer("feedback", rnd.choice(["basic", "standard", "advanced"]), day, answers, fold=fold)


def _all_counts(conn: sqlite3.Connection, use_rollup: bool) -> list:
    source = SqliteMetrics(conn, use_rollup=use_rollup)
    return [list(source.answer_counts(kind, None, None)) for kind in ("month", "quarter", "year")]


def test_rollup_folding_counts_exactly_what_the_raw_join_counts(tmp_path: Path) -> None:
    fx = Fixture(tmp_path, rollup=True)
    _random_answers(fx, 400, seed=7)
    assert _all_counts(fx.conn, True) == _all_counts(fx.conn, False)
    folded = fx.conn.execute("SELECT * FROM answer_day_counts ORDER BY 1, 2, 3, 4, 5, 6, 7").fetchall()
    fx.conn.execute("BEGIN IMMEDIATE")
    rebuild_rollup(fx.conn)
    fx.conn.execute("COMMIT")
    assert fx.conn.execute("SELECT * FROM answer_day_counts ORDER BY 1, 2, 3, 4, 5, 6, 7").fetchall() == folded
    fx.close()


def test_days_out_of_step_with_the_rollup_are_counted_raw(tmp_path: Path) -> None:
    fx = Fixture(tmp_path, rollup=True)
    _random_answers(fx, 300, seed=3)
    fx.answer("feedback", "basic", "2026-05-05", {"nps": ("nps", 0)}, fold=False)  # a writer that did not fold
    fx.conn.execute("DELETE FROM responses WHERE response_id = (SELECT MIN(response_id) FROM responses)")
    source = SqliteMetrics(fx.conn)
    patched = [list(source.answer_counts(kind, None, None)) for kind in ("month", "quarter")]
    assert source.stale_days == 2
    raw = SqliteMetrics(fx.conn, use_rollup=False)
    assert patched == [list(raw.answer_counts(kind, None, None)) for kind in ("month", "quarter")]
    # Many days out of step: everything is counted raw, with the same result.
    _random_answers(fx, 200, seed=4, fold=False)
    assert _all_counts(fx.conn, True) == _all_counts(fx.conn, False)
    fx.close()


def test_rebuild_of_some_days(tmp_path: Path) -> None:
    fx = Fixture(tmp_path, rollup=True)
    fx.answer("feedback", "basic", "2026-05-05", {"nps": ("nps", 3)}, fold=False)
    fx.answer("feedback", "basic", "2026-05-06", {"nps": ("nps", 4)}, fold=False)
    fx.conn.execute("BEGIN IMMEDIATE")
    rebuild_rollup(fx.conn, [("feedback", "basic", "2026-05-05")])
    fx.conn.execute("COMMIT")
    source = SqliteMetrics(fx.conn)
    assert list(source.answer_counts("month", None, None)) == [
        ("feedback", "basic", "2026-05", "nps", "nps", 3.0, None, 1),
        ("feedback", "basic", "2026-05", "nps", "nps", 4.0, None, 1)]
    assert source.stale_days == 1
    fx.close()
