"""The ``filters`` plugin: registers tierctl's standard template filters for every renderer."""

from __future__ import annotations

from tierctl.hookspecs import hookimpl
from tierctl.publish.filters import human, md, standard_filters  # noqa: F401 (importable here as before)


@hookimpl
def register_template_filters(register):
    for name, function in standard_filters().items():
        register(name, function)
