"""The ledger: what was sent, to whom and when, and the responses that came back.
``ledger`` is the backend-independent interface (the states in ``states``, opt-out keys in
``suppression_keys``) and
``opener`` opens a backend from ``storage.url``; ``backend_sql`` holds what the backends share. The SQLite backend is ``ledger_sqlite`` (connection, locks, claims) with
``sqlite_schema`` (migrations), ``sqlite_rows``, the mixins ``sqlite_responses``,
``suppressions_sqlite`` and ``texts_sqlite`` (SMS/WhatsApp texts and their receipts), and
``metrics_sqlite`` (the rollup); the PostgreSQL backend is ``ledger_postgres`` with its
``postgres_*``, ``suppressions_postgres`` and ``texts_postgres`` modules.

May import: ``tierctl.config``, ``tierctl.util`` and the public kernel.
"""
