"""The config: its pydantic model, the loader (YAML with line numbers, ``${ENV}``
substitution, ``extends`` inheritance; pydantic's errors as problems in ``validation_messages``,
the checks across the file and of its plugins in ``cross_checks``), durations and calendar periods.

May import: ``tierctl.host``, ``tierctl.util`` and the public kernel.
"""
