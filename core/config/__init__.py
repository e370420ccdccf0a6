"""The config: its pydantic model, the loader (YAML with line numbers, ``${ENV}``
substitution, ``extends`` inheritance, plugin options), durations and calendar periods.

May import: ``tierctl.host``, ``tierctl.util`` and the public kernel.
"""
