"""The tier comparison matrix, shared by every renderer.

Rows are built once from the config so the website table and the sales
matrix always say the same thing. Cells are plain text in the current
language (:func:`tierctl.i18n.use_language`); templates escape them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from tierctl.config.model import Config, Tier
from tierctl.i18n import _
from tierctl.i18n.vocabulary import HOURS_LABELS, TOUCH_LABELS, display_name, hours_label, touch_label, words

__all__ = ["HOURS_LABELS", "TOUCH_LABELS", "Row", "cadence_lines", "comparison_rows", "label", "severities"]


def label(value: str, labels: Mapping[str, Any] | None = None) -> str:
    """``knowledge-base`` -> ``Knowledge base`` (nl ``Kennisbank``): see :func:`~tierctl.i18n.vocabulary.display_name`."""
    return display_name(value, labels)


@dataclass(frozen=True)
class Row:
    """One line of the matrix: a heading and one cell per tier (a list of items or one text)."""

    key: str
    label: str
    cells: tuple[list[str], ...]


def severities(config: Config) -> list[str]:
    """Severities in a stable order: as defined by the organisation, then as first used."""
    order = list(config.organization.severities)
    for tier in config.tiers.values():
        for sev in tier.response_targets:
            if sev not in order:
                order.append(sev)
    return order


def cadence_lines(tier: Tier, labels: Mapping[str, Any] | None = None) -> list[str]:
    """``Active: every 2 weeks (SMS, automated)`` per customer status, in the current language.

    "automated" is said only of entries with a ``message:``, the ones ``tierctl touchpoints send``
    sends; an entry marked automated that names no message sends nothing, so the page does not
    promise it.
    """
    lines = []
    for status, c in tier.contact_cadence.items():
        parts = [label(c.channel, labels)]
        if c.automated and c.message:
            # Only what `touchpoints send` actually sends is promised as automated.
            parts.append(_("automated"))
        if c.meeting:
            parts.append(label(c.meeting, labels).lower())
        lines.append(_("%(status)s: %(every)s (%(how)s)") % {
            "status": label(status, labels), "every": c.every.every(), "how": ", ".join(parts)})
    return lines


def comparison_rows(config: Config) -> list[Row]:
    tiers = list(config.tiers.values())
    labels = config.labels

    def row(key: str, heading: str, fn, optional: bool = False) -> list[Row]:
        cells = tuple(fn(t) for t in tiers)
        if optional and not any(cells):
            return []
        return [Row(key, heading, cells)]

    rows: list[Row] = []
    rows += row("plans", _("Plans"), lambda t: [label(p, labels) if p in labels else p for p in t.plans])
    rows += row("price", _("Price"), lambda t: [t.price] if t.price else [], optional=True)
    rows += row("touch_model", _("Service model"), lambda t: [touch_label(t.touch_model)])
    rows += row("hours", _("Support hours"), lambda t: [hours_label(t.hours)])
    rows += row("channels", _("Channels"), lambda t: [label(c, labels) for c in t.channels])
    for sev in severities(config):
        rows += row(f"response.{sev}", _("First response: %(severity)s") % {"severity": label(sev, labels).lower()},
                    lambda t, s=sev: [t.response_targets[s].human()] if s in t.response_targets
                    else [_("Not offered")])
    rows += row("agent_time_cap", _("Agent time per account"),
                lambda t: [t.agent_time_cap.human()] if t.agent_time_cap else [_("No cap")])
    rows += row("named_contacts", _("Named contacts"), lambda t: [str(t.named_contacts)])
    rows += row("specialists", _("Specialist agents"), lambda t: [label(s, labels) for s in t.specialists],
                optional=True)
    rows += row("contact_cadence", _("Proactive contact"), lambda t: cadence_lines(t, labels), optional=True)
    rows += row("surveys", _("Customer surveys"),
                lambda t: [config.surveys[s].title if s in config.surveys else s for s in t.surveys], optional=True)
    rows += row("includes", _("Also included"), lambda t: list(t.includes), optional=True)
    rows += row("languages", _("Languages"), lambda t: [language_label(code) for code in t.languages],
                optional=True)
    rows += row("escalation", _("Escalation"), lambda t: [t.escalation] if t.escalation else [], optional=True)
    return rows


def language_label(code: str) -> str:
    """A tier's support language by name in the current language (``nl`` -> ``Dutch``, ``Nederlands``)."""
    from tierctl.i18n import current_language
    from tierctl.i18n.formatting import language_name
    from tierctl.i18n.text import is_language

    return language_name(code, current_language()) if is_language(code) else words(code)
