"""The ``markdown`` renderer: sales one-pagers and the comparison matrix."""

from __future__ import annotations

from tierctl.hookspecs import hookimpl
from tierctl.render import OutputFile, Renderer, page_name


class MarkdownSales(Renderer):
    """One markdown one-pager per tier, ``comparison.md``, and a ``README.md`` index.

    Templates: ``sales/tier.md``, ``sales/comparison.md``, ``sales/index.md``.
    Config text passes through the ``md`` filter so it cannot break tables.
    With ``show_metrics: true`` on the target, each one-pager shows the tier's
    latest NPS, CSAT and response counts (``tier_metrics``).
    """

    name = "markdown"
    page_names = ("README", "comparison")
    description = "Sales one-pagers per tier plus a comparison matrix (markdown)"

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
                  "page_name": lambda t: page_name(t, ".md")}
        yield OutputFile("README.md", context.render_template("sales/index.md", **common))
        yield OutputFile("comparison.md", context.render_template("sales/comparison.md", **common))
        for tier_id, tier in context.tiers:
            yield OutputFile(page_name(tier_id, ".md"),
                             context.render_template("sales/tier.md", tier_id=tier_id, tier=tier, **common))

    def language_index(self, context):
        """With several languages: a top ``README.md`` linking each language's sheets."""
        from tierctl.i18n.formatting import language_name

        lines = [f"# {context.config.organization.name}: sales sheets", ""]
        lines += [f"- [{language_name(code)}]({code}/README.md)" for code in context.config.organization.languages]
        yield OutputFile("README.md", "\n".join(lines) + "\n")


@hookimpl
def register_renderers(register):
    register("markdown", MarkdownSales)
