"""The ``html`` renderer: a self-contained public support-plan website."""

from __future__ import annotations

from tierctl.hookspecs import hookimpl
from tierctl.render import OutputFile, Renderer, page_name


class HtmlSite(Renderer):
    """An index with the comparison table and one page per tier.

    Pages are self-contained (inline CSS, no scripts, no network), responsive
    and accessible. Templates: ``website/index.html``, ``website/tier.html``,
    both extending ``website/base.html``. With several
    ``organization.languages`` there is one site per language (``nl/``,
    ``en/``) with ``hreflang`` alternates and a language switcher, and a
    top ``index.html`` (``website/languages.html``) that leads to them. With ``show_metrics: true`` on the
    target, each tier page shows the tier's latest NPS and CSAT with their
    counts (``tier_metrics``); never individual answers or free text.
    """

    name = "html"
    page_names = ("index",)
    description = "Public support-plan website (index with comparison table, one page per tier)"

    def template_filters(self):
        from tierctl.publish.filters import standard_filters
        from tierctl.publish.figures import report_filters

        return {**standard_filters(), **report_filters()}

    def render(self, context):
        from tierctl.publish.business_hours import business_hours_lines
        from tierctl.publish.comparison import cadence_lines, comparison_rows, severities

        labels = context.config.labels
        common = {"rows": comparison_rows(context.config), "severities": severities(context.config),
                  "cadence_lines": lambda tier: cadence_lines(tier, labels),
                  "business_hours": business_hours_lines(context.config),
                  "page_name": lambda t: page_name(t, ".html")}
        yield OutputFile("index.html", context.render_template("website/index.html", page="index.html", **common))
        for tier_id, tier in context.tiers:
            yield OutputFile(page_name(tier_id, ".html"),
                             context.render_template("website/tier.html", tier_id=tier_id, tier=tier,
                                                     page=page_name(tier_id, ".html"), **common))

    def language_index(self, context):
        """``index.html`` at the top: links to each language's site, and the default language's
        site opened straight away."""
        yield OutputFile("index.html", context.render_template("website/languages.html", page="index.html"))


@hookimpl
def register_renderers(register):
    register("html", HtmlSite)
