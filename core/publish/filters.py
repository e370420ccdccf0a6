"""Template filters every renderer can use (``human``, ``md``, labels).

They live in core so the report and the renderers work whichever plugins are loaded; the
first-party ``filters`` plugin registers them for user templates too."""

from __future__ import annotations

import re
from typing import Any


_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|#!~])")


def human(value: Any) -> str:
    """Durations, caps and targets in words (``2h/month`` -> ``2 hours per month``)."""
    fn = getattr(value, "human", None)
    return fn() if callable(fn) else str(value)


def md(value: Any) -> str:
    """Escape text for markdown, so config text cannot break a table or inject HTML."""
    text = " ".join(str(value).split())  # one line: table cells cannot span lines
    return _MD_SPECIAL.sub(r"\\\1", text).replace("&", "&amp;")


def standard_filters() -> dict[str, Any]:
    """The filters tierctl's own templates use (the html and markdown renderers
    install them too, so they work even when this plugin is not loaded)."""
    from tierctl.publish.comparison import HOURS_LABELS, TOUCH_LABELS, label

    return {
        "human": human,
        "md": md,
        "label": label,
        "touch_label": lambda v: TOUCH_LABELS.get(v, v),
        "hours_label": lambda v: HOURS_LABELS.get(v, v),
    }
