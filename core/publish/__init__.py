"""Publishing: the render engine behind ``tierctl render``, the comparison rows the
pages show, ``tierctl report``, the pre-call brief and the capacity check.

May import: ``tierctl.responses``, ``tierctl.surveys``, ``tierctl.storage``, ``tierctl.config``,
``tierctl.host``, ``tierctl.util`` and the public API. Never ``tierctl.plugins``.
"""
