"""The SQLite ledger's schema: its migrations, in order, and what they build.

:data:`MIGRATIONS` is append-only: step *i* brings a ledger from version *i* to
*i + 1* (``PRAGMA user_version``), and :data:`SCHEMA` is what the whole list
builds, which every open checks (:mod:`tierctl.storage.sqlite_checks`).
:class:`~tierctl.storage.ledger_sqlite.SqliteLedger` reads both through this
module, so a test can add a step by patching :data:`MIGRATIONS` here.
"""

from __future__ import annotations

from tierctl.storage.backend_sql import sql_states
from tierctl.storage.ledger import SURVEYED_STATES
from tierctl.storage.metrics_sqlite import ROLLUP_DDL
from tierctl.storage.sqlite_checks import Schema, expected_schema
from tierctl.storage.suppressions_sqlite import SUPPRESSIONS_DDL
from tierctl.storage.texts_sqlite import TEXTS_DDL

APPLICATION_ID = 0x74696572  # b"tier": marks a SQLite file as a tierctl ledger


# Each step: (what it does, statements). Step i brings the schema to version i + 1.
# Never edit a released step: append a new one.
MIGRATIONS: list[tuple[str, tuple[str, ...]]] = [
    ("invitations, runs and pull cursors", (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            counts TEXT NOT NULL DEFAULT '{}'
        )""",
        # claimed_at: when the invitation was last handed to a provider; the
        # throttle counts sending/unknown invitations from then (created_at
        # would be too early for a deferral that is sent days later).
        """CREATE TABLE invitations (
            invite_id TEXT PRIMARY KEY,
            survey_id TEXT NOT NULL,
            contact_email TEXT NOT NULL,
            occasion TEXT NOT NULL,
            tier TEXT NOT NULL,
            account_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            state TEXT NOT NULL,
            throttled INTEGER NOT NULL,
            due_at TEXT NOT NULL,
            closes_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            claimed_at TEXT,
            sent_at TEXT,
            external_id TEXT,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            run_id INTEGER REFERENCES runs (id),
            UNIQUE (survey_id, contact_email, occasion)
        )""",
        # known_keys: a range of closes_at.
        "CREATE INDEX invitations_closes_at ON invitations (closes_at)",
        # status_counts (a covering scan), listings and stale/unknown sweeps by state.
        "CREATE INDEX invitations_state ON invitations (state, survey_id)",
        # last_surveyed: only the rows the throttle counts, by the time they count from.
        # (Not also by contact_email: random e-mails would scatter every batch's
        # writes over the whole index, and SQLite 3.40 would not use it as covering.)
        f"""CREATE INDEX invitations_surveyed
            ON invitations (COALESCE(sent_at, claimed_at))
            WHERE throttled = 1 AND state IN {sql_states(SURVEYED_STATES)}""",
        """CREATE TABLE cursors (
            provider TEXT NOT NULL,
            survey_id TEXT NOT NULL,
            cursor TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (provider, survey_id)
        )""",
    )),
    ("responses and their answers; invitations' local due day", (
        # Invitation.due_day: due_at as a date in the organisation's zone, the day
        # reports group by. Older rows get the UTC date, the best there is.
        "ALTER TABLE invitations ADD COLUMN due_day TEXT",
        "UPDATE invitations SET due_day = substr(due_at, 1, 10)",
        # One response per invitation (the first that arrives); response_id is
        # '<source>:<id at the source>', e.g. 'import:<invite_id>'. The
        # invitation's facts are copied so reports need no join.
        """CREATE TABLE responses (
            response_id TEXT PRIMARY KEY,
            invite_id TEXT NOT NULL UNIQUE REFERENCES invitations (invite_id),
            survey_id TEXT NOT NULL,
            tier TEXT NOT NULL,
            account_id TEXT NOT NULL,
            contact_email TEXT NOT NULL,
            occasion TEXT NOT NULL,
            due_day TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            source TEXT NOT NULL,
            received_at TEXT NOT NULL
        )""",
        # qtype: nps | csat | ces | rating | choice | text; score for the scored
        # types, text for a choice label or free text.
        """CREATE TABLE answers (
            response_id TEXT NOT NULL REFERENCES responses (response_id) ON DELETE CASCADE,
            question_id TEXT NOT NULL,
            qtype TEXT NOT NULL,
            score REAL,
            text TEXT,
            PRIMARY KEY (response_id, question_id)
        )""",
        "CREATE INDEX responses_group ON responses (survey_id, tier, due_day)",
        "CREATE INDEX responses_account ON responses (account_id, survey_id)",
        "CREATE INDEX invitations_group ON invitations (survey_id, state, tier, due_day)",
    )),
    # Answer and response counts per survey, tier and due day, kept in step by
    # add_responses (metrics_sqlite.fold_answers, same transaction): reports
    # read these instead of every answer. The tables are metrics_sqlite's
    # ROLLUP_DDL; the backfill is written out for the version-2 tables, as
    # they were when this step ran.
    ("metrics rollup (answer and response counts per survey, tier and due day)", (
        *ROLLUP_DDL,
        "INSERT INTO answer_day_counts (survey_id, tier, due_day, question_id, qtype, score, choice, n) "
        "SELECT r.survey_id, r.tier, r.due_day, a.question_id, a.qtype, "
        "CASE WHEN a.qtype IN ('text', 'choice') THEN 0.0 ELSE a.score END, "
        "CASE WHEN a.qtype = 'choice' THEN a.text ELSE '' END, COUNT(*) "
        "FROM responses AS r JOIN answers AS a ON a.response_id = r.response_id "
        "WHERE CASE WHEN a.qtype IN ('text', 'choice') THEN a.text IS NOT NULL AND a.text <> '' "
        "ELSE a.score IS NOT NULL END GROUP BY 1, 2, 3, 4, 5, 6, 7",
        "INSERT INTO response_day_counts (survey_id, tier, due_day, responses) "
        "SELECT survey_id, tier, due_day, COUNT(*) FROM responses GROUP BY 1, 2, 3",
    )),
    # Integer keys. Version 3 keyed responses by random text ('import:<invite_id>')
    # and answers by (response_id, question_id), and copied the invitation's
    # facts into every response: a bulk import of 1,000,000 responses spent
    # most of its time updating those indexes at random places. Now an
    # invitation has an integer id; a response is stored under its
    # invitation's id (one response per invitation is the primary key), an
    # answer under (invitation id, question id), and the facts are read from
    # the invitation. Consecutive invitations have consecutive ids, so a
    # batch's writes go to a few neighbouring pages. A question's type is kept
    # once per survey (questions), not per answer. answers has no foreign key:
    # it is written only by add_responses, with its response, and checking
    # 3 answers a response cost more than the responses' own key.
    ("integer keys for invitations, responses and answers; question types per survey", (
        """CREATE TABLE invitations_v4 (
            id INTEGER PRIMARY KEY,
            invite_id TEXT NOT NULL UNIQUE,
            survey_id TEXT NOT NULL,
            contact_email TEXT NOT NULL,
            occasion TEXT NOT NULL,
            tier TEXT NOT NULL,
            account_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            state TEXT NOT NULL,
            throttled INTEGER NOT NULL,
            due_at TEXT NOT NULL,
            closes_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            claimed_at TEXT,
            sent_at TEXT,
            external_id TEXT,
            reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            run_id INTEGER REFERENCES runs (id),
            due_day TEXT,
            UNIQUE (survey_id, contact_email, occasion)
        )""",
        "INSERT INTO invitations_v4 (id, invite_id, survey_id, contact_email, occasion, tier, account_id, "
        "provider, state, throttled, due_at, closes_at, created_at, updated_at, claimed_at, sent_at, "
        "external_id, reason, attempts, run_id, due_day) "
        "SELECT rowid, invite_id, survey_id, contact_email, occasion, tier, account_id, provider, state, "
        "throttled, due_at, closes_at, created_at, updated_at, claimed_at, sent_at, external_id, reason, "
        "attempts, run_id, due_day FROM invitations ORDER BY rowid",
        # response_id: '<source>:<id at the source>'. Imports ('import:<invite_id>')
        # are unique by their invitation; fetched ones by this partial index.
        """CREATE TABLE responses_v4 (
            invitation INTEGER PRIMARY KEY REFERENCES invitations_v4 (id),
            response_id TEXT NOT NULL,
            source TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            received_at TEXT NOT NULL
        )""",
        "INSERT INTO responses_v4 (invitation, response_id, source, submitted_at, received_at) "
        "SELECT i.id, r.response_id, r.source, r.submitted_at, r.received_at "
        "FROM responses AS r JOIN invitations_v4 AS i ON i.invite_id = r.invite_id ORDER BY i.id",
        """CREATE TABLE questions (
            survey_id TEXT NOT NULL,
            question_id TEXT NOT NULL,
            qtype TEXT NOT NULL,
            PRIMARY KEY (survey_id, question_id)
        ) WITHOUT ROWID""",
        "INSERT INTO questions (survey_id, question_id, qtype) "
        "SELECT r.survey_id, a.question_id, MAX(a.qtype) FROM answers AS a "
        "JOIN responses AS r ON r.response_id = a.response_id GROUP BY 1, 2",
        # value: an integer score, or the text of a choice or free-text answer.
        """CREATE TABLE answers_v4 (
            invitation INTEGER NOT NULL,
            question_id TEXT NOT NULL,
            value NOT NULL,
            PRIMARY KEY (invitation, question_id)
        ) WITHOUT ROWID""",
        "INSERT INTO answers_v4 (invitation, question_id, value) "
        "SELECT i.id, a.question_id, CASE WHEN a.score IS NULL THEN a.text "
        "WHEN a.score = CAST(a.score AS INTEGER) THEN CAST(a.score AS INTEGER) ELSE a.score END "
        "FROM answers AS a JOIN responses AS r ON r.response_id = a.response_id "
        "JOIN invitations_v4 AS i ON i.invite_id = r.invite_id "
        "WHERE COALESCE(a.score, a.text) IS NOT NULL ORDER BY i.id",
        "DROP TABLE answers",
        "DROP TABLE responses",
        "DROP TABLE invitations",
        "ALTER TABLE invitations_v4 RENAME TO invitations",
        "ALTER TABLE responses_v4 RENAME TO responses",
        "ALTER TABLE answers_v4 RENAME TO answers",
        "CREATE UNIQUE INDEX responses_fetched ON responses (response_id) WHERE source <> 'import'",
        "CREATE INDEX invitations_closes_at ON invitations (closes_at)",
        "CREATE INDEX invitations_state ON invitations (state, survey_id)",
        f"""CREATE INDEX invitations_surveyed
            ON invitations (COALESCE(sent_at, claimed_at))
            WHERE throttled = 1 AND state IN {sql_states(SURVEYED_STATES)}""",
        "CREATE INDEX invitations_group ON invitations (survey_id, state, tier, due_day)",
        # The brief: an account's invitations and, through them, its responses.
        "CREATE INDEX invitations_account ON invitations (account_id, survey_id)",
        # A checksum beside each day's count: the sum of its responses' invitation ids.
        "ALTER TABLE response_day_counts ADD COLUMN keys INTEGER NOT NULL DEFAULT 0",
        "UPDATE response_day_counts SET keys = day.keys FROM (SELECT i.survey_id, i.tier, i.due_day, "
        "SUM(r.invitation) AS keys FROM responses AS r JOIN invitations AS i ON i.id = r.invitation "
        "GROUP BY 1, 2, 3) AS day WHERE day.survey_id = response_day_counts.survey_id "
        "AND day.tier = response_day_counts.tier AND day.due_day = response_day_counts.due_day",
    )),
    ("helpdesk satisfaction ratings", (
        # One row per rating a helpdesk gave a ticket; score is 'good' or 'bad'.
        """CREATE TABLE helpdesk_ratings (
            source TEXT NOT NULL,
            rating_id TEXT NOT NULL,
            tier TEXT NOT NULL,
            organization TEXT NOT NULL,
            score TEXT NOT NULL,
            created_at TEXT NOT NULL,
            day TEXT NOT NULL,
            PRIMARY KEY (source, rating_id)
        ) WITHOUT ROWID""",
    )),
    # Opt-outs: suppressions by address hash and scope (see suppressions_sqlite).
    ("suppressions (opt-outs) and invitations by contact", SUPPRESSIONS_DDL),
    # The hosted form speaks the contact's language: the locale the invitation was sent in
    # ('' for invitations claimed before this step: the organisation's language).
    ("invitations keep the contact's locale", (
        "ALTER TABLE invitations ADD COLUMN locale TEXT NOT NULL DEFAULT ''",
    )),
    # Texts (SMS, WhatsApp) by platform message id with their delivery receipts; opt-outs per channel.
    ("texts with delivery receipts; suppressions per channel", TEXTS_DDL),
]

SCHEMA_VERSION = len(MIGRATIONS)

#: What the migrations build (tests/storage/test_ledger_checks.py keeps it in step): every open
#: checks a ledger has all of it.
SCHEMA = Schema(
    version=8,
    tables={
        "runs": ("id", "kind", "pid", "host", "started_at", "finished_at", "status", "counts"),
        "invitations": ("id", "invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id",
                        "provider", "state", "throttled", "due_at", "closes_at", "created_at", "updated_at",
                        "claimed_at", "sent_at", "external_id", "reason", "attempts", "run_id", "due_day",
                        "locale"),
        "cursors": ("provider", "survey_id", "cursor", "updated_at"),
        "responses": ("invitation", "response_id", "source", "submitted_at", "received_at"),
        "questions": ("survey_id", "question_id", "qtype"),
        "answers": ("invitation", "question_id", "value"),
        "answer_day_counts": ("survey_id", "tier", "due_day", "question_id", "qtype", "score", "choice", "n"),
        "response_day_counts": ("survey_id", "tier", "due_day", "responses", "keys"),
        "suppressions": ("address_hash", "address", "scope", "source", "reason", "created_at", "channel"),
        "texts": ("external_id", "invite_id", "channel", "phone", "locale", "sent_at", "delivery", "delivery_rank",
                  "error_code", "updated_at"),
        "helpdesk_ratings": ("source", "rating_id", "tier", "organization", "score", "created_at", "day"),
    },
    indexes={"invitations_account": "invitations", "invitations_closes_at": "invitations",
             "invitations_contact": "invitations",
             "invitations_group": "invitations", "invitations_state": "invitations",
             "invitations_surveyed": "invitations", "responses_fetched": "responses",
             "texts_phone": "texts", "texts_invite": "texts"},
    rowid={"runs": True, "invitations": True, "cursors": True, "responses": True, "questions": False,
           "answers": False, "answer_day_counts": False, "response_day_counts": False, "suppressions": False,
           "helpdesk_ratings": False, "texts": False},
)


def expected() -> Schema:
    """The schema of the current :data:`MIGRATIONS` (worked out afresh if a test added steps)."""
    return expected_schema(MIGRATIONS, SCHEMA)
