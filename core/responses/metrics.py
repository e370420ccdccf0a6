"""Survey metrics: what each figure means, and the figures per survey, tier, period and question.

The definitions (``../shared/domain.md`` section 5):

* **NPS** on a 0-10 question: % promoters (9-10) minus % detractors (0-6),
  -100..+100; passives (7-8) count in the base only.
* **CSAT** on a 1-5 question: the share of answers 4 or 5, in % (top-2 box,
  not the mean).
* **CES** on a 1-7 agreement question ("... makes it easy"): the mean, and
  the share answering 5-7 in %.
* **Rating** questions (any ``scale: [min, max]``): the mean, with the scale.
* **Choice** questions: how often each declared choice was picked; for
  **multiple_choice**, how often each was ticked, out of the answers to the
  question (one answer may tick several).
* **Response rate**: responses / delivered invitations, in %. Delivered means
  the provider accepted the invitation (state ``sent``); an invitation that
  was answered although recorded in another state was evidently delivered
  and counts too. Failed (bounced, invalid, opted out), retry, deferred,
  unknown and sending invitations are left out of the denominator, and the
  report says how many.

Every figure comes with the counts behind it. A figure with no answers is
``None`` (shown empty), never 0. Answers outside a question's scale, or a
choice the question does not declare, are never counted: they are reported
as ``ignored``.

A response counts in the period of its invitation's due day (the
organisation's local date): ``2027-01`` (month), ``2027-Q1`` (quarter) or
``2027`` (year). The previous calendar period gives the trend; the config's
``benchmarks:`` give the comparison with published figures.

This module is backend-neutral: :func:`build_metrics` takes a
:class:`MetricsSource` that answers a few grouped counting queries (the
database does the counting, see :mod:`tierctl.storage.metrics_sqlite`), and turns
the counts into figures. Nothing here touches individual responses.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from tierctl.config.periods import PERIOD_KINDS, period_range, previous_period
from tierctl.i18n import N_
from tierctl.storage.ledger import NOT_DELIVERED_STATES

if TYPE_CHECKING:
    from tierctl.config.model import Config

#: The fixed scales of the standard question types (rating questions declare theirs).
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
CSAT_SATISFIED_MIN = 4
CES_HIGH_MIN = 5
#: Invitation states that are not deliveries: left out of the response rate's denominator.
#: Which benchmark metric applies to a question type (CES benchmarks compare with the mean).
BENCHMARK_METRIC = {"nps": "nps", "csat": "csat", "ces": "ces"}

RATE_NOTE = N_("Response rate = responses / delivered invitations. Delivered: the provider accepted the "
               "invitation (state sent), or it was answered. Not in the denominator: failed (bounced, invalid "
               "address, opted out), retry, deferred, unknown (a run stopped while sending) and sending.")
EMPTY_NOTE = N_("A figure without answers is left empty, not 0. Answers outside a question's scale, or a choice "
                "the question does not offer, are not counted.")
DEFINITIONS_NOTE = N_("NPS = % 9-10 minus % 0-6 (0-10 scale); CSAT = % of answers 4-5 (1-5 scale); "
                      "CES = mean and % of answers 5-7 (1-7 scale).")


# -- formulas -------------------------------------------------------------------------------------


def percent(part: int | float, whole: int | float) -> float | None:
    """``part / whole`` in %, or ``None`` when there is nothing to divide by."""
    return None if not whole else 100.0 * part / whole


def nps(promoters: int, passives: int, detractors: int) -> float | None:
    """Net Promoter Score: % promoters minus % detractors, or ``None`` without answers."""
    total = promoters + passives + detractors
    return None if not total else 100.0 * (promoters - detractors) / total


def mean(total: float, count: int) -> float | None:
    return None if not count else total / count


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """A figure against the same figure one period earlier."""

    previous_period: str
    previous: float
    delta: float  # current - previous (points for %, scale points for means)
    digits: int = 1  # decimals the figure is shown with: 1 for % and NPS, 2 for means

    @property
    def direction(self) -> str:
        """``up``, ``down`` or ``flat`` (a change that rounds to 0 at the figure's precision)."""
        shown = round(self.delta, self.digits)
        return "up" if shown > 0 else "down" if shown < 0 else "flat"


@dataclass(frozen=True)
class BenchmarkRef:
    """A published figure beside ours; ``delta`` is ours minus it (``None`` when ours is empty)."""

    metric: str
    value: float
    source: str
    year: int | None
    label: str | None
    delta: float | None


@dataclass(frozen=True)
class QuestionFigures:
    """One question's figures in one survey, tier and period.

    ``value`` is the headline: NPS (-100..100), CSAT (%), CES mean, rating
    mean; ``None`` for choice and text questions and when nothing was
    answered. ``parts`` are the counts behind it: ``promoters``,
    ``passives``, ``detractors`` (nps), ``satisfied`` (csat), ``high``
    (ces, answers 5-7). ``answers`` are the answers counted, ``ignored``
    those outside the scale (or an undeclared choice), never counted.
    ``distribution`` is ``(value, count)`` for every scale point (or
    declared choice) in order, zeros included.
    """

    question_id: str
    qtype: str
    text: str
    answers: int
    ignored: int
    scale: tuple[int, int] | None
    distribution: tuple[tuple[Any, int], ...]
    value: float | None
    share: float | None = None  # CES: % of answers 5-7
    parts: dict[str, int] = field(default_factory=dict)
    trend: Trend | None = None
    benchmarks: tuple[BenchmarkRef, ...] = ()

    @property
    def metric(self) -> str | None:
        """The name of the headline figure: nps, csat, ces (mean), rating (mean), or ``None``."""
        return self.qtype if self.qtype in ("nps", "csat", "ces", "rating") else None


@dataclass(frozen=True)
class ResponseRate:
    """Responses against delivered invitations, with what was left out of the denominator."""

    responses: int
    sent: int
    answered_unsent: int  # answered although recorded in another state than sent
    excluded: dict[str, int]  # not delivered, by state (see NOT_DELIVERED_STATES)
    trend: Trend | None = None
    benchmarks: tuple[BenchmarkRef, ...] = ()

    @property
    def delivered(self) -> int:
        return self.sent + self.answered_unsent

    @property
    def value(self) -> float | None:
        return percent(self.responses, self.delivered)

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())


@dataclass(frozen=True)
class PeriodFigures:
    period: str
    previous: str
    rate: ResponseRate
    questions: tuple[QuestionFigures, ...]

    @property
    def responses(self) -> int:
        return self.rate.responses

    def question(self, question_id: str) -> QuestionFigures | None:
        return next((q for q in self.questions if q.question_id == question_id), None)


@dataclass(frozen=True)
class TierFigures:
    tier_id: str
    name: str
    periods: tuple[PeriodFigures, ...]  # oldest first, gaps filled

    @property
    def latest(self) -> PeriodFigures | None:
        return self.periods[-1] if self.periods else None

    def latest_with_answers(self) -> PeriodFigures | None:
        """The newest period in which any question was answered."""
        return next((p for p in reversed(self.periods) if any(q.answers for q in p.questions)), None)


@dataclass(frozen=True)
class QuestionInfo:
    """A question as the report shows it (from the config, or from the data if it left the config)."""

    question_id: str
    qtype: str
    text: str
    scale: tuple[int, int] | None
    choices: tuple[str, ...]


@dataclass(frozen=True)
class SurveyFigures:
    survey_id: str
    title: str
    questions: tuple[QuestionInfo, ...]
    periods: tuple[str, ...]
    tiers: tuple[TierFigures, ...]


@dataclass(frozen=True)
class Metrics:
    """Everything :func:`build_metrics` found for a scope."""

    kind: str
    survey_filter: str | None
    tier_filter: str | None
    surveys: tuple[SurveyFigures, ...]
    notes: tuple[str, ...] = (RATE_NOTE, EMPTY_NOTE, DEFINITIONS_NOTE)

    @property
    def periods(self) -> tuple[str, ...]:
        return tuple(sorted({p for s in self.surveys for p in s.periods}))


# -- the source of counts -------------------------------------------------------------------------


class MetricsSource(Protocol):
    """Grouped counts from wherever responses are kept; every method filters on survey and tier if given.

    Scores come back as numbers, choices as labels; ``score`` is ``None``
    for choice and text answers, ``choice`` is ``None`` except for choice
    answers. A text answer is counted (score and choice ``None``) but its
    words are only read by :meth:`text_answers`.
    """

    def answer_counts(self, kind: str, survey_id: str | None, tier: str | None
                      ) -> Iterable[tuple[str, str, str, str, str, float | None, str | None, int]]:
        """``(survey, tier, period, question_id, qtype, score, choice, count)`` per distinct answer."""

    def response_counts(self, kind: str, survey_id: str | None, tier: str | None
                        ) -> Iterable[tuple[str, str, str, int]]:
        """``(survey, tier, period, responses)``."""

    def invitation_counts(self, kind: str, survey_id: str | None, tier: str | None
                          ) -> Iterable[tuple[str, str, str, str, int, int]]:
        """``(survey, tier, period, state, invitations, answered)``: invitations per state, and how many were answered."""

    def text_answers(self, survey_id: str, tier: str, question_id: str, kind: str, period: str, limit: int
                     ) -> Iterable[tuple[str, str]]:
        """``(submitted_at, text)``: a text question's latest ``limit`` answers in a tier and period, newest first."""


# -- building the figures -------------------------------------------------------------------------


def _question_infos(config: "Config", survey_id: str, seen: dict[str, str]) -> list[QuestionInfo]:
    """The survey's questions in config order, then question ids only the data knows (``seen``: id -> qtype)."""
    infos: list[QuestionInfo] = []
    survey = config.surveys.get(survey_id)
    known = set()
    if survey is not None:
        for q in survey.questions:
            known.add(q.id)
            infos.append(QuestionInfo(q.id, q.type, q.text, q.bounds, tuple(q.choices)))
    for qid in sorted(set(seen) - known):
        qtype = seen[qid]
        infos.append(QuestionInfo(qid, qtype, qid, SCALES.get(qtype), ()))
    return infos


def question_figures(info: QuestionInfo, qtype: str, counts: Counter) -> QuestionFigures:
    """The figures of one question from its answer counts: ``(score, choice) -> count``.

    Pure arithmetic, shared by every backend; tested against hand-computed values.
    """
    if qtype == "text":
        n = sum(counts.values())
        return QuestionFigures(info.question_id, qtype, info.text, n, 0, None, (), None)
    if qtype in ("choice", "multiple_choice"):
        declared = info.choices
        by_choice: Counter = Counter()
        for (_, choice), n in counts.items():
            by_choice[choice] += n
        # A multiple_choice answer ticks any number of choices and is counted once under '' (the
        # storage's rollup key); a choice's count is out of those answers, so the shares add up past 100%.
        respondents = by_choice.pop("", 0) if qtype == "multiple_choice" else None
        if declared:
            kept = [(c, by_choice.get(c, 0)) for c in declared]
            ignored = sum(n for c, n in by_choice.items() if c not in declared)
        else:  # a question that left the config: whatever was stored is all there is
            kept = sorted(by_choice.items(), key=lambda item: str(item[0]))
            ignored = 0
        answered = respondents if respondents is not None else sum(n for _, n in kept)
        return QuestionFigures(info.question_id, qtype, info.text, answered, ignored, None, tuple(kept), None)

    scale = SCALES.get(qtype) or info.scale
    lo, hi = scale if scale is not None else (-math.inf, math.inf)
    values: Counter = Counter()
    ignored = 0
    for (score, _), n in counts.items():
        if score is None or not lo <= score <= hi:
            ignored += n
        else:
            values[score] += n
    answered = sum(values.values())
    points = [float(v) for v in range(int(lo), int(hi) + 1)] if scale is not None else []
    distribution = tuple((_plain(v), values.get(v, 0)) for v in sorted(set(points) | set(values)))
    total = sum(v * n for v, n in values.items())
    parts: dict[str, int] = {}
    share = None
    if qtype == "nps":
        promoters = sum(n for v, n in values.items() if v >= PROMOTER_MIN)
        detractors = sum(n for v, n in values.items() if v <= DETRACTOR_MAX)
        passives = answered - promoters - detractors
        parts = {"promoters": promoters, "passives": passives, "detractors": detractors}
        value = nps(promoters, passives, detractors)
    elif qtype == "csat":
        satisfied = sum(n for v, n in values.items() if v >= CSAT_SATISFIED_MIN)
        parts = {"satisfied": satisfied}
        value = percent(satisfied, answered)
    elif qtype == "ces":
        high = sum(n for v, n in values.items() if v >= CES_HIGH_MIN)
        parts = {"high": high}
        value = mean(total, answered)
        share = percent(high, answered)
    else:  # rating
        value = mean(total, answered)
    return QuestionFigures(info.question_id, qtype, info.text, answered, ignored, scale, distribution, value,
                           share, parts)


def _plain(value: float) -> int | float:
    """3.0 -> 3: scale points read as whole numbers."""
    return int(value) if float(value).is_integer() else value


def _trend(current: float | None, previous: float | None, previous_period: str, digits: int = 1) -> Trend | None:
    if current is None or previous is None:
        return None
    return Trend(previous_period, previous, current - previous, digits)


def benchmarks_for(config: "Config", metric: str, survey_id: str, tier: str, value: float | None
                   ) -> tuple[BenchmarkRef, ...]:
    """The config's benchmarks for ``metric`` that apply to this survey and tier, in config order."""
    out = []
    for b in config.benchmarks:
        if b.metric != metric or (b.survey is not None and b.survey != survey_id) or \
                (b.tier is not None and b.tier != tier):
            continue
        out.append(BenchmarkRef(metric, b.value, b.source, b.year, b.label,
                                None if value is None else value - b.value))
    return tuple(out)


def build_metrics(source: MetricsSource, config: "Config", kind: str = "quarter",
                  survey_id: str | None = None, tier: str | None = None) -> Metrics:
    """The figures for every survey, tier and period in scope, from ``source``'s grouped counts.

    Surveys and tiers come in config order (ids only the data knows after
    them); a tier is listed for a survey when it has invitations or
    responses for it. Periods run from the survey's first to its last period
    with data, gaps included, so charts and trends line up.
    """
    if kind not in PERIOD_KINDS:
        raise ValueError(f"unknown period {kind!r}; periods are {', '.join(PERIOD_KINDS)}")
    answers: dict[tuple[str, str, str], dict[tuple[str, str], Counter]] = defaultdict(lambda: defaultdict(Counter))
    qtypes: dict[str, dict[str, str]] = defaultdict(dict)
    for s, t, p, qid, qtype, score, choice, n in source.answer_counts(kind, survey_id, tier):
        answers[(s, t, p)][(qid, qtype)][(score, choice)] += n
        qtypes[s].setdefault(qid, qtype)
    responses: Counter = Counter()
    for s, t, p, n in source.response_counts(kind, survey_id, tier):
        responses[(s, t, p)] += n
    states: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    answered_by_state: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for s, t, p, state, n, answered in source.invitation_counts(kind, survey_id, tier):
        states[(s, t, p)][state] += n
        answered_by_state[(s, t, p)][state] += answered

    groups = set(answers) | set(responses) | set(states)
    survey_ids = _ordered({g[0] for g in groups} | set(config.surveys), list(config.surveys))
    if survey_id is not None:
        survey_ids = [survey_id]
    surveys = []
    for sid in survey_ids:
        mine = [g for g in groups if g[0] == sid]
        infos = _question_infos(config, sid, qtypes.get(sid, {}))
        title = config.surveys[sid].title if sid in config.surveys else sid
        if not mine:
            surveys.append(SurveyFigures(sid, title, tuple(infos), (), ()))
            continue
        labels = period_range(min(g[2] for g in mine), max(g[2] for g in mine), kind)
        tier_ids = _ordered({g[1] for g in mine}, list(config.tiers))
        tiers = []
        for tid in tier_ids:
            periods: list[PeriodFigures] = []
            previous: PeriodFigures | None = None
            for label in labels:
                key = (sid, tid, label)
                by_question = answers.get(key, {})
                qfigs = []
                for info in infos:
                    found = [(qt, c) for (qid, qt), c in by_question.items() if qid == info.question_id]
                    qtype = found[0][0] if found else info.qtype
                    counts = sum((c for _, c in found), Counter())
                    fig = question_figures(info, qtype, counts)
                    before = previous.question(info.question_id) if previous is not None else None
                    trend = _trend(fig.value, before.value if before else None, previous.period,
                                   2 if qtype in ("ces", "rating") else 1) \
                        if previous is not None else None
                    metric = BENCHMARK_METRIC.get(qtype)
                    marks = benchmarks_for(config, metric, sid, tid, fig.value) if metric else ()
                    qfigs.append(_replace(fig, trend=trend, benchmarks=marks))
                rate = _rate(responses.get(key, 0), states.get(key, Counter()),
                             answered_by_state.get(key, Counter()))
                rate = ResponseRate(rate.responses, rate.sent, rate.answered_unsent, rate.excluded,
                                    _trend(rate.value, previous.rate.value, previous.period)
                                    if previous is not None else None,
                                    benchmarks_for(config, "response_rate", sid, tid, rate.value))
                current = PeriodFigures(label, previous_period(label, kind), rate, tuple(qfigs))
                periods.append(current)
                previous = current
            name = config.tiers[tid].name if tid in config.tiers else tid
            tiers.append(TierFigures(tid, name, tuple(periods)))
        surveys.append(SurveyFigures(sid, title, tuple(infos), tuple(labels), tuple(tiers)))
    return Metrics(kind, survey_id, tier, tuple(surveys))


def _rate(responses: int, states: Counter, answered: Counter) -> ResponseRate:
    """Delivered = sent + answered in another state; the rest of the other states is excluded."""
    unsent_answered = sum(n for st, n in answered.items() if st != "sent")
    excluded = {st: states.get(st, 0) - answered.get(st, 0) for st in NOT_DELIVERED_STATES}
    return ResponseRate(responses, states.get("sent", 0), unsent_answered, excluded)


def _ordered(found: set[str], config_order: list[str]) -> list[str]:
    """Ids in config order, then the ones only the data knows, sorted."""
    return [i for i in config_order if i in found] + sorted(found - set(config_order))


def _replace(fig: QuestionFigures, **changes: Any) -> QuestionFigures:
    from dataclasses import replace

    return replace(fig, **changes)
