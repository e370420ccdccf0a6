"""The ledger: what was sent, to whom and when, and the responses that came back.
``ledger`` is the backend-independent interface; ``ledger_sqlite`` and ``metrics_sqlite``
are the SQLite backend (schema, migrations, claims, the metrics rollup).

May import: ``tierctl.config``, ``tierctl.util`` and the public kernel.
"""
