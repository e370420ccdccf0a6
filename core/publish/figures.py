"""Report figures as people read them, in the current language.

``+12.5`` / ``+12,5`` (NPS), ``85.0%`` / ``85,0%`` (CSAT, rates), ``5.25`` / ``5,25``
(means), ``up 3.0 points from Q4 2026`` / ``3,0 punten hoger dan K4 2026``. English is
formatted without Babel (the common case stays cheap); other languages use CLDR's
decimal sign and percent pattern. These are the ``figure``, ``percent``, ``delta``,
``change``, ``count`` and ``arrow`` template filters of the report and the tier pages.
"""

from __future__ import annotations

import re
from typing import Any

from tierctl.i18n import N_, _, current_language, ngettext
from tierctl.i18n.vocabulary import word_from

#: Nouns the ``count`` filter knows, so ``3 | count("answer")`` reads "3 antwoorden" in Dutch.
_COUNTED = {"answer", "response", "promoter", "passive", "detractor", "invitation", "question", "rating"}
#: Period kinds and invitation states as the report shows them.
PERIOD_WORDS = {"month": N_("month"), "quarter": N_("quarter"), "half-year": N_("half-year"), "year": N_("year")}
STATE_WORDS = {"failed": N_("failed"), "retry": N_("retry"), "deferred": N_("deferred"), "unknown": N_("unknown"),
               "sending": N_("sending"), "sent": N_("sent"), "pending": N_("pending")}


def _decimal(value: float, digits: int, sign: bool = False) -> str:
    text = f"{value:{'+' if sign else ''}.{digits}f}"
    if current_language() == "en":
        return text
    from babel.numbers import get_decimal_symbol, get_minus_sign_symbol

    from tierctl.i18n.formatting import babel_locale

    locale = babel_locale()
    return text.replace(".", get_decimal_symbol(locale)).replace("-", get_minus_sign_symbol(locale))


def _percent(text_number: str) -> str:
    """A formatted number with the language's percent sign and spacing (``85,0 %`` in German)."""
    if current_language() == "en":
        return f"{text_number}%"
    from babel import Locale

    from tierctl.i18n.formatting import babel_locale

    pattern = Locale.parse(babel_locale()).percent_formats[None].pattern.split(";")[0]
    return re.sub(r"[#0,.]+", lambda _m: text_number, pattern, count=1)


def format_figure(value: float | None, metric: str | None = None) -> str:
    """A headline figure as people read it: ``+12.5`` (NPS), ``85.0%`` (CSAT, rates), ``5.25`` (means); ``''`` when empty."""
    if value is None:
        return ""
    if metric == "nps":
        shown = round(value, 1)
        return _decimal(shown, 1, sign=True) if shown else _decimal(0.0, 1)
    if metric in ("ces", "rating", "mean"):
        return _decimal(value, 2)
    return _percent(_decimal(value, 1))


def format_percent(value: float | None) -> str:
    return "" if value is None else _percent(_decimal(value, 1))


def format_points(size: float) -> str:
    """``3.0 points`` (a difference between percentages or NPS), in the current language."""
    return ngettext("%(num)s point", "%(num)s points", size) % {"num": _decimal(size, 1)}


def format_delta(trend: Any, metric: str | None = None) -> str:
    """``+3.0 points`` (percentages and NPS) or ``+0.25`` (means)."""
    if trend is None:
        return ""
    if metric in ("ces", "rating", "mean"):
        return _decimal(trend.delta, 2, sign=True)
    shown = round(trend.delta, 1)
    if not shown:
        return format_points(0.0)
    return ("+" if shown > 0 else "-") + format_points(abs(shown))


def format_change(trend: Any, metric: str | None = None) -> str:
    """In words: ``up 3.0 points from Q4 2026``, ``down 0.25 from Q4 2026``, ``unchanged from Q4 2026``
    (the period in the current language: ``K4 2026`` in Dutch)."""
    if trend is None:
        return ""
    from tierctl.i18n.formatting import format_period

    if trend.direction == "flat":
        return _("unchanged from %(period)s") % {"period": format_period(trend.previous_period)}
    size = format_delta(trend, metric).lstrip("+-")
    form = _("up %(size)s from %(period)s") if trend.direction == "up" else _("down %(size)s from %(period)s")
    return form % {"size": size, "period": format_period(trend.previous_period)}


def format_count(n: int, one: str, many: str | None = None) -> str:
    """``3 answers``; the nouns in ``_COUNTED`` are translated, others are pluralised the English way."""
    number = f"{n:,}" if current_language() == "en" else _grouped(n)
    forms = {
        "answer": lambda: ngettext("%(num)s answer", "%(num)s answers", n),
        "response": lambda: ngettext("%(num)s response", "%(num)s responses", n),
        "promoter": lambda: ngettext("%(num)s promoter", "%(num)s promoters", n),
        "passive": lambda: ngettext("%(num)s passive", "%(num)s passives", n),
        "detractor": lambda: ngettext("%(num)s detractor", "%(num)s detractors", n),
        "invitation": lambda: ngettext("%(num)s invitation", "%(num)s invitations", n),
        "question": lambda: ngettext("%(num)s question", "%(num)s questions", n),
        "rating": lambda: ngettext("%(num)s rating", "%(num)s ratings", n),
    }
    if one in _COUNTED and many is None:
        return forms[one]() % {"num": number}
    return f"{number} {one if n == 1 else (many or one + 's')}"


def _grouped(n: int) -> str:
    from tierctl.i18n.formatting import format_number

    return format_number(n, digits=0)


def arrow(trend: Any) -> str:
    if trend is None:
        return ""
    return {"up": "▲", "down": "▼"}.get(trend.direction, "▬")


def period_word(kind: str) -> str:
    """``quarter`` in the current language (``kwartaal``)."""
    return word_from(PERIOD_WORDS, kind, str)


def state_word(state: str) -> str:
    """An invitation state (``failed``, ``unknown``...) in the current language."""
    return word_from(STATE_WORDS, state, str)


def benchmark_gap(delta: float, metric: str) -> str:
    """``ours is 49.0 points above`` / ``0.25 below`` / ``level``: our figure against a benchmark."""
    size = _decimal(abs(delta), 2) if metric in ("ces", "rating") else format_points(abs(round(delta, 1)))
    if delta > 0:
        return _("ours is %(size)s above") % {"size": size}
    if delta < 0:
        return _("ours is %(size)s below") % {"size": size}
    return _("ours is level")


_LIST_START = re.compile(r"^(\d+)([.)])|^([-+])(?=\s|$)")


def md_item(value: Any) -> str:
    """Text for a markdown list item: escaped like the ``md`` filter, on one line, and a leading
    ``- ``, ``+ `` or ``1.`` (a customer's own list) cannot start a nested list."""
    from tierctl.publish.filters import md

    return _LIST_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", md(value))


def report_filters() -> dict[str, Any]:
    """Number formats shared by the report templates and the tier pages."""
    return {"figure": format_figure, "delta": format_delta, "percent": format_percent, "count": format_count,
            "arrow": arrow, "change": format_change, "md_item": md_item, "period_word": period_word,
            "state_word": state_word, "benchmark_gap": benchmark_gap, "translated": translated}


def translated(message: Any) -> str:
    """A message held in a variable (a report note), in the current language; unlike ``_()`` in a
    template it is not %-formatted, so a note may say "NPS = % 9-10"."""
    return _(str(message))
