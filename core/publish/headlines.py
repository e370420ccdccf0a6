"""The survey figures tier pages may publish (``show_metrics: true``): each tier's latest NPS and CSAT.

Computed before rendering, from the ledger, and handed to the render engine as one of
its inputs (``render_targets(..., headlines=...)``); templates get them as
``tier_metrics``. The render engine and the report do not import each other: both
read the same metrics (:func:`tierctl.responses.metrics.build_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from tierctl.config.model import Config

#: tier id -> its headlines, one per survey answered.
Headlines = dict[str, list["TierHeadline"]]


@dataclass(frozen=True)
class TierHeadline:
    """A tier's latest figures of one survey, for ``tierctl render`` targets with ``show_metrics``."""

    survey_id: str
    survey_title: str
    period: str
    responses: int
    nps: float | None
    nps_answers: int
    csat: float | None
    csat_answers: int


def tier_headlines(config: "Config", kind: str = "quarter") -> Headlines:
    """``tier id -> headlines``: per survey, the latest period with answers (NPS and CSAT, counts).

    Empty when there is no ledger or nothing was answered; never any
    individual answer or free text.
    """
    from tierctl.responses.metrics import build_metrics
    from tierctl.storage.opener import existing_ledger

    ledger = existing_ledger(config.storage.url, config.base_dir)
    if ledger is None:
        return {}
    with ledger:
        metrics = build_metrics(ledger.metrics(), config, kind)
    out: Headlines = {}
    for survey in metrics.surveys:
        for tf in survey.tiers:
            latest = tf.latest_with_answers()
            if latest is None:
                continue
            nps = next((q for q in latest.questions if q.qtype == "nps" and q.answers), None)
            csat = next((q for q in latest.questions if q.qtype == "csat" and q.answers), None)
            if nps is None and csat is None:
                continue
            out.setdefault(tf.tier_id, []).append(TierHeadline(
                survey.survey_id, survey.title, latest.period, latest.responses,
                nps.value if nps else None, nps.answers if nps else 0,
                csat.value if csat else None, csat.answers if csat else 0))
    return out


def headlines_for(config: "Config", targets: Iterable[str] | None = None) -> Headlines:
    """The headlines the render ``targets`` (default: all) need: read from the ledger only when one
    of them shows metrics, else ``{}`` (no ledger is opened)."""
    wanted = config.render.targets if targets is None else [t for t in targets if t in config.render.targets]
    if any(config.render.targets[name].show_metrics for name in wanted):
        return tier_headlines(config)
    return {}


def published_headlines(headlines: Headlines, min_answers: int) -> Headlines:
    """The headlines public pages may show: a figure from fewer than ``min_answers`` answers is
    left out (``None``), and a headline with no figure left is dropped."""
    out: Headlines = {}
    for tier_id, items in headlines.items():
        kept = []
        for h in items:
            h = replace(h, nps=h.nps if h.nps_answers >= min_answers else None,
                        csat=h.csat if h.csat_answers >= min_answers else None)
            if h.nps is not None or h.csat is not None:
                kept.append(h)
        if kept:
            out[tier_id] = kept
    return out
