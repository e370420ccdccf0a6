"""The acme plugin's renderer, imported only when a target uses it."""

import acme_heavy_dep

from tierctl.render import OutputFile, Renderer


class AcmeText(Renderer):
    name = "acme-text"
    description = "One plain-text line per tier"

    def render(self, context):
        lines = [f"{tier_id}: {tier.name} ({acme_heavy_dep.NAME})" for tier_id, tier in context.tiers]
        yield OutputFile("tiers.txt", "\n".join(lines) + "\n")


class AcmeSms:
    """A provider stand-in; only its registration matters here."""
