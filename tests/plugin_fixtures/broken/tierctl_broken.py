"""A plugin that cannot be imported: its dependency is missing."""

import tierctl_missing_dependency  # noqa: F401

from tierctl.hookspecs import hookimpl


@hookimpl
def register_renderers(register):
    register("broken", object)
