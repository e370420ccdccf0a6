"""Template filters every renderer can use (``human``, ``md``, labels, dates and numbers).

They live in core so the report and the renderers work whichever plugins are loaded; the
first-party ``filters`` plugin registers them for user templates too. Every filter
writes in the current language (:func:`tierctl.i18n.use_language`): ``31 maart 2027``,
``62,5%``, ``1 werkdag``.
"""

from __future__ import annotations

import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|#!~])")


def human(value: Any) -> str:
    """Durations, caps and targets in words (``2h/month`` -> ``2 hours per month``, nl ``2 uur per maand``)."""
    fn = getattr(value, "human", None)
    return fn() if callable(fn) else str(value)


def md(value: Any) -> str:
    """Escape text for markdown, so config text cannot break a table or inject HTML."""
    text = " ".join(str(value).split())  # one line: table cells cannot span lines
    return _MD_SPECIAL.sub(r"\\\1", text).replace("&", "&amp;")


def period_label(label: Any) -> str:
    """A report period in words: ``2027-Q1`` -> ``Q1 2027`` (nl ``K1 2027``), ``2027-03`` -> ``March 2027``."""
    from tierctl.i18n.formatting import format_period

    return format_period(label)


def _labels(context: Any) -> Any:
    config = context.get("config") if context is not None else None
    return getattr(config, "labels", None)


def standard_filters() -> dict[str, Any]:
    """The filters tierctl's own templates use (the html and markdown renderers
    install them too, so they work even when this plugin is not loaded)."""
    import jinja2

    from tierctl.i18n.formatting import format_date, format_number, language_name
    from tierctl.i18n.vocabulary import display_name, hours_label, touch_label

    @jinja2.pass_context
    def label(context: Any, value: Any) -> str:
        """The display name of an id: the config's ``labels:``, the built-in vocabulary, or words."""
        return display_name(value, _labels(context))

    @jinja2.pass_context
    def plan_label(context: Any, value: Any) -> str:
        """A plan's display name from ``labels:``, else the plan id as written."""
        labels = _labels(context)
        return display_name(value, labels) if labels and str(value) in labels else str(value)

    return {
        "human": human,
        "md": md,
        "label": label,
        "plan_label": plan_label,
        "touch_label": touch_label,
        "hours_label": hours_label,
        "date": format_date,
        "number": format_number,
        "language_name": language_name,
        "period_label": period_label,
    }
