"""One of two plugins that register the same renderer name."""

from tierctl.hookspecs import hookimpl
from tierctl.render import OutputFile, Renderer


class Pdf(Renderer):
    name = "pdf"

    def render(self, context):
        yield OutputFile("clash-b.txt", "b\n")


@hookimpl
def register_renderers(register):
    register("pdf", Pdf)
