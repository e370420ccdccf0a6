"""The plugin host: loads the ``tierctl`` entry points, calls hooks, and keeps the
registries of renderers, providers, sources, filters and commands (no global state).

May import: ``tierctl.util``, ``tierctl.hookspecs`` and the public kernel.
"""
