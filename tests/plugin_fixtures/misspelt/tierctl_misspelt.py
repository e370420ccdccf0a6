"""A plugin whose hook implementation name is misspelt (register_renderer)."""

from tierctl.hookspecs import hookimpl


@hookimpl
def register_renderer(register):
    register("never", object)
