"""tierctl-acme: the ``acme`` survey provider for tierctl (Acme Surveys).

This module is what the ``tierctl`` entry point names, so tierctl imports it
on every start, ``tierctl --help`` included. It stays light: it registers the
provider by its import path, and :mod:`tierctl_acme.provider` (with requests
and pydantic) is imported only when a config uses ``plugin: acme``.
"""

# [docs:register]
from tierctl.hookspecs import hookimpl


@hookimpl
def register_providers(register):
    register("acme", "tierctl_acme.provider:AcmeProvider")
# [/docs:register]
