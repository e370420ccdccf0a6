"""The PostgreSQL ledger's schema: an ordered list of migrations, like the SQLite ledger's.

Step ``i`` brings the schema to version ``i + 1``; the applied version is
the one row of ``tierctl_schema``. Each step runs in its own transaction
under an advisory transaction lock, so several runners opening a fresh
database at once migrate it once. Never edit a released step: append one.

The tables mirror the SQLite ledger's version 4 (integer invitation keys,
one response per invitation, answers by (invitation, question), question
types per survey, the metrics rollup), with PostgreSQL's own types:
``timestamptz`` for times, ``boolean`` for flags, and an answer's value in
``score`` (a number) or ``text`` (a choice label or free text). Two tables
exist only here: ``leases`` (named locks that lapse when their holder stops
renewing them) and ``rate_buckets`` (a provider's token bucket shared by
every runner). ``runs.lease_until`` is how a live run is told from a dead one.
"""

from __future__ import annotations

from tierctl.storage.backend_sql import sql_states
from tierctl.storage.ledger import SURVEYED_STATES
from tierctl.storage.suppressions_postgres import SUPPRESSIONS_DDL
from tierctl.storage.texts_postgres import TEXTS_DDL

#: The advisory lock key that serialises migrations (b"tierctl" as a number).
MIGRATION_LOCK = 0x74696572_63746C

MIGRATIONS: list[tuple[str, tuple[str, ...]]] = [
    ("invitations, runs, cursors, responses, answers, metrics rollup, leases and rate buckets", (
        """CREATE TABLE runs (
            id BIGSERIAL PRIMARY KEY,
            kind TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status TEXT NOT NULL,
            counts TEXT NOT NULL DEFAULT '{}',
            lease_until TIMESTAMPTZ
        )""",
        """CREATE TABLE invitations (
            id BIGSERIAL PRIMARY KEY,
            invite_id TEXT NOT NULL UNIQUE,
            survey_id TEXT NOT NULL,
            contact_email TEXT NOT NULL,
            occasion TEXT NOT NULL,
            tier TEXT NOT NULL,
            account_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            state TEXT NOT NULL,
            throttled BOOLEAN NOT NULL,
            due_at TIMESTAMPTZ NOT NULL,
            closes_at TIMESTAMPTZ NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            claimed_at TIMESTAMPTZ,
            sent_at TIMESTAMPTZ,
            external_id TEXT,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            run_id BIGINT REFERENCES runs (id),
            due_day TEXT,
            UNIQUE (survey_id, contact_email, occasion)
        )""",
        "CREATE INDEX invitations_closes_at ON invitations (closes_at)",
        "CREATE INDEX invitations_state ON invitations (state, survey_id)",
        f"""CREATE INDEX invitations_surveyed ON invitations (contact_email, (COALESCE(sent_at, claimed_at)))
            WHERE throttled AND state IN {sql_states(SURVEYED_STATES)}""",
        "CREATE INDEX invitations_group ON invitations (survey_id, state, tier, due_day)",
        "CREATE INDEX invitations_account ON invitations (account_id, survey_id)",
        "CREATE INDEX invitations_sending ON invitations (run_id) WHERE state = 'sending'",
        """CREATE TABLE cursors (
            provider TEXT NOT NULL,
            survey_id TEXT NOT NULL,
            cursor TEXT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (provider, survey_id)
        )""",
        """CREATE TABLE responses (
            invitation BIGINT PRIMARY KEY REFERENCES invitations (id),
            response_id TEXT NOT NULL,
            source TEXT NOT NULL,
            submitted_at TIMESTAMPTZ NOT NULL,
            received_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE UNIQUE INDEX responses_fetched ON responses (response_id) WHERE source <> 'import'",
        """CREATE TABLE questions (
            survey_id TEXT NOT NULL,
            question_id TEXT NOT NULL,
            qtype TEXT NOT NULL,
            PRIMARY KEY (survey_id, question_id)
        )""",
        # score for a number, text for a choice label or free text (exactly one is set).
        """CREATE TABLE answers (
            invitation BIGINT NOT NULL,
            question_id TEXT NOT NULL,
            score DOUBLE PRECISION,
            text TEXT,
            PRIMARY KEY (invitation, question_id)
        )""",
        """CREATE TABLE answer_day_counts (
            survey_id TEXT NOT NULL,
            tier TEXT NOT NULL,
            due_day TEXT NOT NULL,
            question_id TEXT NOT NULL,
            qtype TEXT NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            choice TEXT NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (survey_id, tier, due_day, question_id, qtype, score, choice)
        )""",
        """CREATE TABLE response_day_counts (
            survey_id TEXT NOT NULL,
            tier TEXT NOT NULL,
            due_day TEXT NOT NULL,
            responses BIGINT NOT NULL,
            keys NUMERIC NOT NULL DEFAULT 0,
            PRIMARY KEY (survey_id, tier, due_day)
        )""",
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            command TEXT NOT NULL,
            since TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL
        )""",
        """CREATE TABLE rate_buckets (
            name TEXT PRIMARY KEY,
            tokens DOUBLE PRECISION NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )""",
    )),
    ("helpdesk satisfaction ratings", (
        # One row per rating a helpdesk gave a ticket; score is 'good' or 'bad'.
        """CREATE TABLE helpdesk_ratings (
            source TEXT NOT NULL,
            rating_id TEXT NOT NULL,
            tier TEXT NOT NULL,
            organization TEXT NOT NULL,
            score TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            day TEXT NOT NULL,
            PRIMARY KEY (source, rating_id)
        )""",
    )),
    ("suppressions (opt-outs) and invitations by contact", SUPPRESSIONS_DDL),
    ("invitations keep the contact's locale", (
        "ALTER TABLE invitations ADD COLUMN locale TEXT NOT NULL DEFAULT ''",
    )),
    ("texts (SMS, WhatsApp) with delivery receipts; suppressions per channel", TEXTS_DDL),
    # The foreign key checked each imported response with a query and a row lock of its invitation
    # (half the time of a million-response import). Invitations are never deleted, and
    # postgres_bulk.add_responses inserts only responses whose invitation exists and refuses a
    # batch with one that does not, so the check moves there, set-wise.
    ("responses: the invitation is checked by the bulk insert, not a per-row foreign key", (
        "ALTER TABLE responses DROP CONSTRAINT IF EXISTS responses_invitation_fkey",
    )),
]

SCHEMA_VERSION = len(MIGRATIONS)
