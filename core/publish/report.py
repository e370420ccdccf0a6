"""``tierctl report``: survey metrics per tier and period, as markdown, HTML, JSON or CSV.

The report is built from :func:`tierctl.responses.metrics.build_metrics` (counts from
the database, see :mod:`tierctl.storage.metrics_sqlite`) plus, for the HTML and
markdown pages, the free-text answers of the latest period grouped by tier.

JSON (``--format json``), for other tools. Keys are stable; numbers are
rounded to 2 decimals; a figure without answers is ``null``, never 0::

    {
      "schema": "tierctl-report/1",
      "organization": str,
      "period": "month" | "quarter" | "half-year" | "year",
      "filters": {"survey": str | null, "tier": str | null},
      "notes": [str, ...],               # how the figures are defined; what the rate leaves out (in "language")
      "surveys": [{
        "id": str, "title": str,
        "periods": [str, ...],           # oldest first, e.g. "2026-Q4", "2027-Q1"
        "questions": [{"id": str, "type": "nps|csat|ces|rating|choice|multiple_choice|text", "text": str,
                       "scale": [min, max] | null, "choices": [str, ...]}],
        "tiers": [{
          "id": str, "name": str,
          "periods": [{
            "period": str, "previous": str, # machine keys: "2027-Q1", "2026-Q4"
            "responses": int,
            "response_rate": {
              "value": float | null,     # % of delivered
              "responses": int, "delivered": int, "sent": int,
              "answered_unsent": int,    # answered although not recorded as sent (counted as delivered)
              "excluded": {"failed": int, "retry": int, "deferred": int, "unknown": int, "sending": int},
              "trend": TREND | null, "benchmarks": [BENCHMARK, ...]},
            "questions": [{
              "id": str, "type": str,
              "metric": "nps|csat|ces|rating" | null,
              "value": float | null,     # NPS -100..100, CSAT %, CES mean, rating mean
              "share": float | null,     # CES only: % of answers 5-7
              "answers": int,            # answers counted
              "ignored": int,            # outside the scale / undeclared choice: not counted
              "counts": {str: int},      # nps: promoters, passives, detractors; csat: satisfied; ces: high
              "distribution": [{"value": number | str, "count": int}],  # every scale point / choice
              "trend": TREND | null, "benchmarks": [BENCHMARK, ...]}],
            "label": str                 # the period as the report's reader reads it: "K1 2027" in nl
          }]
        }]
      }],
      # helpdesk CSAT (tierctl helpdesk import-csat), its own source beside the surveys; [] without
      # a helpdesk or with --survey:
      "helpdesk": [{"source": str, "metric": "csat", "periods": [str, ...],
                    "tiers": [{"id": str, "name": str, "periods": [{"period": str, "good": int, "bad": int,
                               "ratings": int, "value": float | null, "trend": TREND | null,
                               "benchmarks": [BENCHMARK, ...], "label": str}]}]}],
      "language": str                    # the language of the labels and texts, e.g. "nl"
    }
    TREND = {"previous_period": str, "previous": float, "delta": float, "direction": "up|down|flat"}
    BENCHMARK = {"metric": str, "value": float, "source": str, "year": int | null,
                 "label": str | null, "delta": float | null}   # delta = ours - benchmark

Free-text answers are not in the JSON or CSV: they are for people, in the
HTML and markdown pages.

CSV (``--format csv``), for spreadsheets: one row per figure (see
:data:`CSV_COLUMNS`). Numeric columns hold plain numbers (a negative NPS
stays a number); text cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or CR) get a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierctl.errors import TierctlError
from tierctl.config.periods import PERIOD_KINDS
from tierctl.publish.figures import format_count, format_figure, report_filters, translated
from tierctl.publish.helpdesk_csat import HelpdeskCsat, helpdesk_csat
from tierctl.responses.metrics import (Metrics, QuestionFigures, ResponseRate, Trend, BenchmarkRef, build_metrics)
from tierctl.render import Renderer
from tierctl.util.suggest import did_you_mean, one_of

if TYPE_CHECKING:
    import jinja2

    from tierctl.storage.ledger import Ledger

    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

FORMATS = ("md", "html", "json", "csv")
SCHEMA = "tierctl-report/1"
#: Free-text answers shown per tier and question (the newest); the page says how many more there are.
TEXT_LIMIT = 200
NOTHING_SENT = "nothing sent yet; run tierctl survey send"


# -- the report model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextAnswer:
    submitted_at: str  # ISO date-time, UTC
    text: str


@dataclass(frozen=True)
class TextQuestion:
    question_id: str
    question: str
    total: int
    answers: tuple[TextAnswer, ...]  # the latest by due day, at most TEXT_LIMIT, newest first


@dataclass(frozen=True)
class TextTier:
    tier_id: str
    name: str
    questions: tuple[TextQuestion, ...]


@dataclass(frozen=True)
class TextSection:
    """The free-text answers of one survey's latest period, grouped by tier."""

    survey_id: str
    period: str
    tiers: tuple[TextTier, ...]


@dataclass(frozen=True)
class Report:
    organization: str
    language: str
    metrics: Metrics
    texts: dict[str, TextSection]  # survey id -> its free text (surveys with text questions)
    stale_days: int = 0  # days the rollup had out of step (counted raw)
    helpdesk: tuple[HelpdeskCsat, ...] = ()  # helpdesk CSAT (import-csat), a source beside the surveys
    #: Figures from fewer answers are marked "small sample" (public pages leave them out).
    min_answers: int = 5


def check_scope(config: "Config", ledger: "Ledger | None", survey_id: str | None,
                tier: str | None) -> None:
    """Refuse an unknown survey or tier (config or stored data), with a did-you-mean hint."""
    stored: tuple[set[str], set[str]] | None = None
    for what, value, known_config, index in (("survey", survey_id, config.surveys, 0),
                                             ("tier", tier, config.tiers, 1)):
        if value is None or value in known_config:
            continue
        known = set(known_config)
        if ledger is not None:
            stored = stored or ledger.stored_scope()
            known |= stored[index]
        if value not in known:
            raise TierctlError(f"no {what} {value!r}{did_you_mean(value, known)}; "
                               f"{what}s: {one_of(known)}")


def build_report(config: "Config", ledger: "Ledger", kind: str = "quarter",
                 survey_id: str | None = None, tier: str | None = None, *, with_text: bool = True,
                 use_rollup: bool = True, helpdesk_counts: list[tuple[str, str, str, str, int]] | None = None,
                 language: str | None = None, helpdesk_benchmarks: dict[str, Any] | None = None) -> Report:
    """The report for a scope, from a ledger of any backend (its counts through :meth:`Ledger.metrics`);
    ``helpdesk_counts`` are :meth:`Ledger.helpdesk_rating_counts` (shown unless a survey is chosen), with
    each helpdesk's own published CSAT in ``helpdesk_benchmarks``.
    ``language`` (default: the organisation's) is what the report says it is written in (``lang``);
    write it within :func:`tierctl.i18n.use_language` of the same language."""
    if kind not in PERIOD_KINDS:
        raise TierctlError(f"unknown period {kind!r}; periods are {', '.join(PERIOD_KINDS)}")
    check_scope(config, ledger, survey_id, tier)
    source = ledger.metrics(use_rollup=use_rollup)
    metrics = build_metrics(source, config, kind, survey_id, tier)
    texts: dict[str, TextSection] = {}
    if with_text:
        for survey in metrics.surveys:
            text_questions = [q for q in survey.questions if q.qtype == "text"]
            if not text_questions or not survey.periods:
                continue
            period = survey.periods[-1]
            tiers = []
            for tf in survey.tiers:
                figures = next((p for p in tf.periods if p.period == period), None)
                questions = []
                for q in text_questions:
                    fig = figures.question(q.question_id) if figures else None
                    answers = () if not (fig and fig.answers) else tuple(
                        TextAnswer(at, text) for at, text in source.text_answers(
                            survey.survey_id, tf.tier_id, q.question_id, kind, period, TEXT_LIMIT))
                    questions.append(TextQuestion(q.question_id, q.text, fig.answers if fig else 0, answers))
                tiers.append(TextTier(tf.tier_id, tf.name, tuple(questions)))
            texts[survey.survey_id] = TextSection(survey.survey_id, period, tuple(tiers))
    helpdesk = helpdesk_csat(config, helpdesk_counts or [], kind, tier, helpdesk_benchmarks) \
        if survey_id is None else ()
    return Report(config.organization.name, language or config.organization.language, metrics, texts,
                  source.stale_days, helpdesk, publish_threshold(config))


def publish_threshold(config: "Config") -> int:
    """The fewest answers a figure needs to be published: the lowest ``min_answers`` of the render
    targets that show metrics (the default when none does)."""
    from tierctl.config.model import RenderTarget

    shown = [t.min_answers for t in config.render.targets.values() if t.show_metrics]
    return min(shown) if shown else RenderTarget.model_fields["min_answers"].default


# -- JSON -----------------------------------------------------------------------------------------


def _num(value: float | None) -> float | int | None:
    if value is None:
        return None
    rounded = round(value, 2)
    return 0.0 if rounded == 0 else rounded  # no -0.0


def _trend(trend: Trend | None) -> dict[str, Any] | None:
    if trend is None:
        return None
    return {"previous_period": trend.previous_period, "previous": _num(trend.previous),
            "delta": _num(trend.delta), "direction": trend.direction}


def _benchmarks(marks: tuple[BenchmarkRef, ...]) -> list[dict[str, Any]]:
    return [{"metric": b.metric, "value": _num(b.value), "source": b.source, "year": b.year, "label": b.label,
             "delta": _num(b.delta)} for b in marks]


def _rate_dict(rate: ResponseRate) -> dict[str, Any]:
    return {"value": _num(rate.value), "responses": rate.responses, "delivered": rate.delivered,
            "sent": rate.sent, "answered_unsent": rate.answered_unsent, "excluded": dict(rate.excluded),
            "trend": _trend(rate.trend), "benchmarks": _benchmarks(rate.benchmarks)}


def _question_dict(q: QuestionFigures) -> dict[str, Any]:
    return {"id": q.question_id, "type": q.qtype, "metric": q.metric, "value": _num(q.value),
            "share": _num(q.share), "answers": q.answers, "ignored": q.ignored, "counts": dict(q.parts),
            "distribution": [{"value": v, "count": n} for v, n in q.distribution],
            "trend": _trend(q.trend), "benchmarks": _benchmarks(q.benchmarks)}


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON document (see the module docstring); write it within ``use_language(report.language)``
    so the period labels are in the report's language."""
    from tierctl.i18n.formatting import format_period

    m = report.metrics
    return {
        "schema": SCHEMA,
        "organization": report.organization,
        "period": m.kind,
        "filters": {"survey": m.survey_filter, "tier": m.tier_filter},
        "notes": [translated(note) for note in m.notes],  # people read them: in the report's language
        "surveys": [{
            "id": s.survey_id, "title": s.title, "periods": list(s.periods),
            "questions": [{"id": q.question_id, "type": q.qtype, "text": q.text,
                           "scale": list(q.scale) if q.scale else None, "choices": list(q.choices)}
                          for q in s.questions],
            "tiers": [{
                "id": t.tier_id, "name": t.name,
                "periods": [{"period": p.period, "previous": p.previous, "responses": p.responses,
                             "response_rate": _rate_dict(p.rate),
                             "questions": [_question_dict(q) for q in p.questions],
                             "label": format_period(p.period)} for p in t.periods],
            } for t in s.tiers],
        } for s in m.surveys],
        "helpdesk": [h.as_dict() for h in report.helpdesk],
        "language": report.language,
    }


def report_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"


# -- CSV ------------------------------------------------------------------------------------------

CSV_COLUMNS = ("survey", "tier", "period", "question", "metric", "option", "value", "answers", "base",
               "promoters", "passives", "detractors", "satisfied", "high", "ignored", "excluded",
               "previous_period", "previous", "delta", "direction", "benchmark", "benchmark_source",
               "question_text", "period_label")
#: Columns that hold numbers (or nothing); every other column is text and is neutralised.
CSV_NUMERIC = frozenset({"value", "answers", "base", "promoters", "passives", "detractors", "satisfied", "high",
                         "ignored", "excluded", "previous", "delta", "benchmark"})
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> str:
    """A text cell a spreadsheet will not run: a leading ``'`` before ``= + - @``, tab or CR."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_number(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number for a numeric CSV column: {value!r}")
    return _num(value) if isinstance(value, float) else value


def _csv_row(**cells: Any) -> list[Any]:
    return [_csv_number(cells.get(c)) if c in CSV_NUMERIC else csv_text(cells.get(c)) for c in CSV_COLUMNS]


def _figure_extras(trend: Trend | None, marks: tuple[BenchmarkRef, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if trend is not None:
        out.update(previous_period=trend.previous_period, previous=trend.previous, delta=trend.delta,
                   direction=trend.direction)
    if marks:  # the first that applies; the JSON has them all
        out.update(benchmark=marks[0].value, benchmark_source=_benchmark_source(marks[0]))
    return out


def _benchmark_source(b: BenchmarkRef) -> str:
    return f"{b.source} ({b.year})" if b.year else b.source


def report_csv(report: Report) -> str:
    """The CSV (see :data:`CSV_COLUMNS`): ``period`` is the sortable key (``2027-Q1``), ``period_label``
    the period in the report's language (``K1 2027``); write it within ``use_language(report.language)``."""
    from tierctl.i18n.formatting import format_period

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in report.metrics.surveys:
        texts = {q.question_id: q.text for q in s.questions}
        for t in s.tiers:
            for p in t.periods:
                base = dict(survey=s.survey_id, tier=t.tier_id, period=p.period, period_label=format_period(p.period))
                r = p.rate
                writer.writerow(_csv_row(**base, metric="response_rate", value=r.value, answers=r.responses,
                                         base=r.delivered, excluded=r.excluded_total,
                                         **_figure_extras(r.trend, r.benchmarks)))
                for q in p.questions:
                    qbase = dict(base, question=q.question_id, question_text=texts.get(q.question_id, ""))
                    extras = _figure_extras(q.trend, q.benchmarks)
                    if q.qtype == "nps":
                        writer.writerow(_csv_row(**qbase, metric="nps", value=q.value, answers=q.answers,
                                                 ignored=q.ignored, **q.parts, **extras))
                    elif q.qtype == "csat":
                        writer.writerow(_csv_row(**qbase, metric="csat", value=q.value, answers=q.answers,
                                                 ignored=q.ignored, **q.parts, **extras))
                    elif q.qtype == "ces":
                        writer.writerow(_csv_row(**qbase, metric="ces_mean", value=q.value, answers=q.answers,
                                                 ignored=q.ignored, **extras))
                        writer.writerow(_csv_row(**qbase, metric="ces_share", value=q.share, answers=q.answers,
                                                 high=q.parts.get("high"), ignored=q.ignored))
                    elif q.qtype == "rating":
                        writer.writerow(_csv_row(**qbase, metric="rating_mean", value=q.value, answers=q.answers,
                                                 ignored=q.ignored))
                    elif q.qtype == "text":
                        writer.writerow(_csv_row(**qbase, metric="text_answers", answers=q.answers))
                    if q.qtype in ("choice", "multiple_choice"):
                        for option, n in q.distribution:
                            writer.writerow(_csv_row(**qbase, metric="choice", option=option,
                                                     value=_share(n, q.answers), answers=n, base=q.answers))
                    elif q.qtype != "text":
                        for point, n in q.distribution:
                            writer.writerow(_csv_row(**qbase, metric="score", option=point,
                                                     value=_share(n, q.answers), answers=n, base=q.answers))
    for h in report.helpdesk:
        for ht in h.tiers:
            for hp in ht.periods:
                writer.writerow(_csv_row(survey=f"helpdesk:{h.source}", tier=ht.tier_id, period=hp.period,
                                         period_label=format_period(hp.period),
                                         metric="helpdesk_csat", value=hp.value, answers=hp.ratings,
                                         satisfied=hp.good, **_figure_extras(hp.trend, hp.benchmarks)))
    return out.getvalue()


def _share(n: int, total: int) -> float | None:
    return None if not total else 100.0 * n / total


# -- markdown and HTML (jinja2 templates) -----------------------------------------------------------


class ReportTemplates(Renderer):
    """Not a render target: the template set of ``tierctl report`` (``report/report.md``,
    ``report/report.html``), found like every template, so ``render.templates`` can override them."""

    name = "report"
    description = "Survey report pages"

    def template_filters(self) -> dict[str, Any]:
        from tierctl.publish.filters import standard_filters

        return {**standard_filters(), **report_filters()}


def report_environment(config: "Config", host: "PluginHost") -> "jinja2.Environment":
    from tierctl.render import template_environment

    return template_environment(config, host, ReportTemplates())


def _render(report: Report, config: "Config", env: "jinja2.Environment", name: str) -> str:
    import jinja2

    try:
        template = env.get_template(name)
        return template.render(report=report, metrics=report.metrics, config=config, org=config.organization,
                               chart=trend_chart, bar_width=bar_width, gauge=gauge)
    except jinja2.TemplateNotFound as exc:
        raise TierctlError(f"report template {exc.name!r} not found; looked in the render.templates folder "
                           "and tierctl's built-in templates") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TierctlError(f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: {exc.message}; "
                           "fix the template") from exc
    except jinja2.TemplateError as exc:
        raise TierctlError(f"report template {name}: {exc.message or exc}") from exc


def report_markdown(report: Report, config: "Config", env: "jinja2.Environment") -> str:
    return _render(report, config, env, "report/report.md")


def report_html(report: Report, config: "Config", env: "jinja2.Environment") -> str:
    return _render(report, config, env, "report/report.html")


def write_report(report: Report, fmt: str, config: "Config", host: "PluginHost") -> str:
    """The report as text in ``fmt`` (md, html, json or csv)."""
    if fmt == "json":
        return report_json(report)
    if fmt == "csv":
        return report_csv(report)
    env = report_environment(config, host)
    return report_html(report, config, env) if fmt == "html" else report_markdown(report, config, env)


# -- the chart ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    period: str
    title: str  # what a pointer or screen reader gets for this point


@dataclass(frozen=True)
class ChartSeries:
    name: str
    key: str  # css class: nps | csat
    points: tuple[ChartPoint, ...]
    lines: tuple[str, ...]  # "x,y x,y ..." runs between periods that have a figure


@dataclass(frozen=True)
class Chart:
    """Geometry of the NPS/CSAT-per-period chart; the template draws it as inline SVG."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    y_ticks: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str, str], ...]  # x, period label, second line (year) or ''
    series: tuple[ChartSeries, ...]
    description: str


CHART_WIDTH, CHART_HEIGHT = 360, 220  # a phone-sized viewBox: text stays readable when it shrinks


def trend_chart(survey: Any, tier: Any) -> Chart | None:
    """The NPS and CSAT of a tier per period (the survey's first NPS and CSAT question), or ``None``.

    Both on one axis from -100 to 100: NPS spans it, CSAT is a share 0-100.
    """
    picks = [(q, name, key) for q, name, key in (
        (next((q for q in survey.questions if q.qtype == "nps"), None), "NPS", "nps"),
        (next((q for q in survey.questions if q.qtype == "csat"), None), "CSAT", "csat")) if q is not None]
    if not picks or not tier.periods:
        return None
    from tierctl.i18n.formatting import format_period

    left, right, top, bottom = 38.0, CHART_WIDTH - 12.0, 14.0, CHART_HEIGHT - 40.0
    labels = [p.period for p in tier.periods]
    step = (right - left) / max(len(labels), 1)

    def x_of(i: int) -> float:
        return round(left + step * (i + 0.5), 1)

    def y_of(v: float) -> float:
        return round(bottom - (v + 100.0) / 200.0 * (bottom - top), 1)

    series = []
    for info, name, key in picks:
        points, runs, run = [], [], []
        for i, p in enumerate(tier.periods):
            fig = p.question(info.question_id)
            if fig is None or fig.value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            metric = "nps" if key == "nps" else "csat"
            title = (f"{format_period(p.period)}: {name} {format_figure(fig.value, metric)} "
                     f"({format_count(fig.answers, 'answer')})")
            point = ChartPoint(x_of(i), y_of(fig.value), p.period, title)
            points.append(point)
            run.append(point)
        if run:
            runs.append(run)
        lines = tuple(" ".join(f"{pt.x},{pt.y}" for pt in r) for r in runs if len(r) > 1)
        series.append(ChartSeries(name, key, tuple(points), lines))
    every = max(1, -(-len(labels) // 8))  # at most 8 labels under the axis
    x_labels = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        short, second = _short_period(label)
        show_year = i == 0 or _short_period(labels[i - every])[1] != second
        x_labels.append((x_of(i), short, second if show_year else ""))
    y_ticks = tuple((y_of(v), f"{v:+d}" if v else "0") for v in (-100, -50, 0, 50, 100))
    from tierctl.i18n import _
    from tierctl.i18n.formatting import format_list

    description = _("%(names)s of %(tier)s per period, %(first)s to %(last)s; scale -100 to 100 (CSAT is a "
                    "percentage).") % {"names": format_list([s.name for s in series]), "tier": tier.name,
                                       "first": format_period(labels[0]), "last": format_period(labels[-1])}
    return Chart(CHART_WIDTH, CHART_HEIGHT, left, right, top, bottom, y_ticks, tuple(x_labels), tuple(series),
                 description)


def _short_period(label: str) -> tuple[str, str]:
    """An axis label in two lines: ``2027-Q1`` -> ``('Q1', '2027')`` (nl ``('K1', '2027')``), ``2027-H2`` ->
    ``('H2', '2027')`` (de ``('2. Hj.', '2027')``), ``2027-01`` -> ``('Jan', '2027')``; ``2027`` -> ``('2027', '')``."""
    if "-Q" in label or "-H" in label:
        from tierctl.i18n import pgettext

        # Under an axis a period gets the room of one column: the short form ("K1", "H2", "2. Hj.").
        form = pgettext("chart axis", "Q%(n)s") if "-Q" in label else pgettext("chart axis", "H%(n)s")
        return form % {"n": label[6:]}, label[:4]
    if len(label) == 7:
        from tierctl.i18n import current_language

        if current_language() == "en":
            months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
            return months[int(label[5:7]) - 1], label[:4]
        from babel.dates import get_month_names

        from tierctl.i18n.formatting import babel_locale

        return get_month_names("abbreviated", locale=babel_locale())[int(label[5:7])].rstrip("."), label[:4]
    return label, ""


def gauge(value: float, lo: float, hi: float) -> str:
    """Where ``value`` sits between ``lo`` and ``hi``, as a CSS percentage clamped to 0-100%."""
    share = 0.0 if hi == lo else (value - lo) / (hi - lo) * 100.0
    return f"{min(100.0, max(0.0, share)):.1f}%"


def bar_width(n: int, total: int) -> str:
    """A CSS width for a distribution bar: ``37.5%``."""
    return "0%" if not total else f"{100.0 * n / total:.1f}%"
