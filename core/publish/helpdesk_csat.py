"""Helpdesk CSAT for ``tierctl report``: the good/bad satisfaction ratings a helpdesk gave
tickets (``tierctl helpdesk import-csat``), per source, tier and period, beside the surveys.

CSAT is the share of good ratings among good and bad ones, in percent: the same "satisfied
share" the surveys' CSAT is, and the figure Zendesk's benchmark (its customer satisfaction
index) is published as. The config's ``csat`` benchmarks that apply to the tier (and to
no particular survey, or to ``survey: helpdesk:<name>``) are shown beside it; without one,
the helpdesk plugin's own published figure (Zendesk's global average) is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierctl.config.periods import period_of, period_range, previous_period
from tierctl.responses.metrics import BenchmarkRef, Trend, benchmarks_for

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.helpdesks import CsatBenchmark


@dataclass(frozen=True)
class HelpdeskCsatPeriod:
    period: str
    good: int
    bad: int
    value: float | None  # % good of good + bad; None without ratings
    trend: Trend | None
    benchmarks: tuple[BenchmarkRef, ...]

    @property
    def ratings(self) -> int:
        return self.good + self.bad


@dataclass(frozen=True)
class HelpdeskCsatTier:
    tier_id: str
    name: str
    periods: tuple[HelpdeskCsatPeriod, ...]


@dataclass(frozen=True)
class HelpdeskCsat:
    """One helpdesk's CSAT: ``source`` is its name under ``helpdesks:``."""

    source: str
    periods: tuple[str, ...]
    tiers: tuple[HelpdeskCsatTier, ...]

    def as_dict(self) -> dict[str, Any]:
        from tierctl.i18n.formatting import format_period

        return {"source": self.source, "metric": "csat", "periods": list(self.periods), "tiers": [
            {"id": t.tier_id, "name": t.name, "periods": [
                {"period": p.period, "good": p.good, "bad": p.bad, "ratings": p.ratings,
                 "value": None if p.value is None else round(p.value, 2),
                 "trend": None if p.trend is None else {"previous_period": p.trend.previous_period,
                                                        "previous": round(p.trend.previous, 2),
                                                        "delta": round(p.trend.delta, 2),
                                                        "direction": p.trend.direction},
                 "benchmarks": [{"metric": b.metric, "value": b.value, "source": b.source, "year": b.year,
                                 "label": b.label, "delta": None if b.delta is None else round(b.delta, 2)}
                                for b in p.benchmarks], "label": format_period(p.period)}
                for p in t.periods]} for t in self.tiers]}


def helpdesk_csat(config: "Config", counts: list[tuple[str, str, str, str, int]], kind: str,
                  tier_filter: str | None = None, published: "dict[str, CsatBenchmark] | None" = None
                  ) -> tuple[HelpdeskCsat, ...]:
    """The figures from :meth:`Ledger.helpdesk_rating_counts` rows ``(source, tier, day, score, n)``;
    ``published`` is each source's plugin benchmark (:attr:`Helpdesk.csat_benchmark`)."""
    grouped: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(dict))
    for source, tier, day, score, n in counts:
        if tier_filter is not None and tier != tier_filter:
            continue
        cell = grouped[source][tier].setdefault(period_of(day, kind), [0, 0])
        cell[0 if score == "good" else 1] += n
    out = []
    order = list(config.tiers)
    for source in sorted(grouped):
        by_tier = grouped[source]
        labels = sorted({p for tier in by_tier.values() for p in tier})
        periods = tuple(period_range(labels[0], labels[-1], kind)) if labels else ()
        tiers = []
        for tier_id in sorted(by_tier, key=lambda t: (order.index(t) if t in order else len(order), t)):
            cells = by_tier[tier_id]
            rows = []
            for label in periods:
                good, bad = cells.get(label, (0, 0))
                value = 100.0 * good / (good + bad) if good + bad else None
                before = cells.get(previous_period(label, kind))
                prev = 100.0 * before[0] / sum(before) if before and sum(before) else None
                trend = None if value is None or prev is None else \
                    Trend(previous_period(label, kind), prev, value - prev)
                marks = benchmarks_for(config, "csat", f"helpdesk:{source}", tier_id, value)
                own = (published or {}).get(source)
                if not marks and own is not None:
                    marks = (BenchmarkRef("csat", own.value, own.source, own.year, own.label,
                                          None if value is None else value - own.value),)
                rows.append(HelpdeskCsatPeriod(label, good, bad, value, trend, marks))
            name = config.tiers[tier_id].name if tier_id in config.tiers else tier_id
            tiers.append(HelpdeskCsatTier(tier_id, name, tuple(rows)))
        out.append(HelpdeskCsat(source, periods, tuple(tiers)))
    return tuple(out)
