"""The tier comparison matrix, shared by every renderer.

Rows are built once from the config so the website table and the sales
matrix always say the same thing. Cells are plain text; templates escape them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierctl.config.model import Config, Tier

TOUCH_LABELS = {"tech-touch": "Tech-touch (automated)", "low-touch": "Low-touch",
                "mid-touch": "Mid-touch", "high-touch": "High-touch (personal)"}
HOURS_LABELS = {"business": "Business hours", "extended": "Extended hours", "24x7": "24/7"}


def label(value: str) -> str:
    """``knowledge-base`` -> ``Knowledge base``."""
    text = str(value).replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


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


def cadence_lines(tier: Tier) -> list[str]:
    lines = []
    for status, c in tier.contact_cadence.items():
        how = label(c.channel) + (", automated" if c.automated else "")
        if c.meeting:
            how += f", {label(c.meeting).lower()}"
        every = c.every.human()
        every = every.removeprefix("1 ")  # "every week", not "every 1 week"
        lines.append(f"{label(status)}: every {every} ({how})")
    return lines


def comparison_rows(config: Config) -> list[Row]:
    tiers = list(config.tiers.values())

    def row(key: str, heading: str, fn, optional: bool = False) -> list[Row]:
        cells = tuple(fn(t) for t in tiers)
        if optional and not any(cells):
            return []
        return [Row(key, heading, cells)]

    rows: list[Row] = []
    rows += row("plans", "Plans", lambda t: list(t.plans))
    rows += row("price", "Price", lambda t: [t.price] if t.price else [], optional=True)
    rows += row("touch_model", "Service model", lambda t: [TOUCH_LABELS[t.touch_model]])
    rows += row("hours", "Support hours", lambda t: [HOURS_LABELS[t.hours]])
    rows += row("channels", "Channels", lambda t: [label(c) for c in t.channels])
    for sev in severities(config):
        rows += row(f"response.{sev}", f"First response: {label(sev).lower()}",
                    lambda t, s=sev: [t.response_targets[s].human()] if s in t.response_targets else ["Not offered"])
    rows += row("agent_time_cap", "Agent time per account",
                lambda t: [t.agent_time_cap.human()] if t.agent_time_cap else ["No cap"])
    rows += row("named_contacts", "Named contacts", lambda t: [str(t.named_contacts)])
    rows += row("specialists", "Specialist agents", lambda t: [label(s) for s in t.specialists], optional=True)
    rows += row("contact_cadence", "Proactive contact", cadence_lines, optional=True)
    rows += row("surveys", "Customer surveys",
                lambda t: [config.surveys[s].title if s in config.surveys else s for s in t.surveys], optional=True)
    rows += row("includes", "Also included", lambda t: list(t.includes), optional=True)
    rows += row("languages", "Languages", lambda t: list(t.languages), optional=True)
    rows += row("escalation", "Escalation", lambda t: [t.escalation] if t.escalation else [], optional=True)
    return rows
