"""The SQLite ledger: one local file, safe for several tierctl processes at once.

* WAL journal mode, so readers (``tierctl status``) never block a run; a busy
  timeout, so two writers wait for each other instead of failing; every write
  in a ``BEGIN IMMEDIATE`` transaction, so a claim reads and writes with the
  write lock held and two processes cannot claim the same key; the
  ``UNIQUE (survey_id, contact_email, occasion)`` key as the last line of
  defence. ``synchronous = FULL``: a claim is on disk before the invitation
  is handed to a provider, even across a power cut.
* Schema migrations are an ordered list (:data:`MIGRATIONS`); the applied
  version is ``PRAGMA user_version``, each step runs in its own transaction
  when the ledger is opened, and a file from a newer tierctl is refused.
  ``PRAGMA application_id`` marks the file as a tierctl ledger.
* A new ledger is built whole beside its path and linked into place, so an
  existing file is never initialised: an emptied (0-byte) file, another
  program's database or one with a table missing is refused as damaged
  (exit 2) instead of being taken for a new ledger, which would make a send
  survey everyone again. Every open checks the schema and reads each
  table's edges (:mod:`tierctl.storage.sqlite_checks`); any other SQLite
  error reaches the user as "the ledger is damaged ...; restore it from a
  backup". Readers open with ``mode=ro``, so a read-only file does not stop them.
* Datetimes are stored as fixed-width UTC ISO-8601 text
  (``2026-01-31T09:00:00.000000+00:00``), which sorts like time.
* Locks are ``flock`` locks on a file beside the database
  (``state.db.send.lock``), holding the holder's pid, host and start time.
  The kernel releases them when the process ends, even by SIGKILL. (``flock``
  is not reliable on network file systems: keep the ledger on a local disk.)
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import re
import socket
import sqlite3
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote
from typing import TYPE_CHECKING, Any, Iterator

from tierctl.errors import LedgerDamagedError, LockHeldError, TierctlError
from tierctl.storage.ledger import (CLAIMABLE_STATES, DEFERRED, RETRY, SENDING, SENT, SURVEYED_STATES,
                     UNKNOWN, FAILED, IMPORT_SOURCE, InvitationLink, InvitationRef, Key,
                     Ledger, first_responses, listing_query, questions_to_keep, sql_states)
from tierctl.storage.metrics_sqlite import ROLLUP_DDL, fold_answers
from tierctl.storage.suppressions_sqlite import SUPPRESSIONS_DDL, SqliteSuppressions
from tierctl.storage.sqlite_checks import (RESTORE_ADVICE, Schema, backup, describe_error, expected_schema,
                                           integrity_problems, probe, schema_problems)
from tierctl.records import HelpdeskRating, Invitation, SendResult

if TYPE_CHECKING:
    from tierctl.records import StoredResponse

APPLICATION_ID = 0x74696572  # b"tier": marks a SQLite file as a tierctl ledger
BUSY_TIMEOUT_S = 30.0
LOCK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_KEYS_PER_QUERY = 250  # 3 parameters each, well under SQLite's 32766 (999 before 3.32)


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
]

SCHEMA_VERSION = len(MIGRATIONS)

#: What the migrations build (tests/storage/test_ledger_checks.py keeps it in step): every open
#: checks a ledger has all of it.
SCHEMA = Schema(
    version=6,
    tables={
        "runs": ("id", "kind", "pid", "host", "started_at", "finished_at", "status", "counts"),
        "invitations": ("id", "invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id",
                        "provider", "state", "throttled", "due_at", "closes_at", "created_at", "updated_at",
                        "claimed_at", "sent_at", "external_id", "reason", "attempts", "run_id", "due_day"),
        "cursors": ("provider", "survey_id", "cursor", "updated_at"),
        "responses": ("invitation", "response_id", "source", "submitted_at", "received_at"),
        "questions": ("survey_id", "question_id", "qtype"),
        "answers": ("invitation", "question_id", "value"),
        "answer_day_counts": ("survey_id", "tier", "due_day", "question_id", "qtype", "score", "choice", "n"),
        "response_day_counts": ("survey_id", "tier", "due_day", "responses", "keys"),
        "suppressions": ("address_hash", "address", "scope", "source", "reason", "created_at"),
        "helpdesk_ratings": ("source", "rating_id", "tier", "organization", "score", "created_at", "day"),
    },
    indexes={"invitations_account": "invitations", "invitations_closes_at": "invitations",
             "invitations_contact": "invitations",
             "invitations_group": "invitations", "invitations_state": "invitations",
             "invitations_surveyed": "invitations", "responses_fetched": "responses"},
    rowid={"runs": True, "invitations": True, "cursors": True, "responses": True, "questions": False,
           "answers": False, "answer_day_counts": False, "response_day_counts": False, "suppressions": False,
           "helpdesk_ratings": False},
)


def expected() -> Schema:
    """The schema of the current :data:`MIGRATIONS` (worked out afresh if a test added steps)."""
    return expected_schema(MIGRATIONS, SCHEMA)

_INVITATION_COLUMNS = ("invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id",
                       "provider", "state", "throttled", "due_at", "closes_at", "created_at",
                       "updated_at", "claimed_at", "sent_at", "external_id", "reason", "attempts",
                       "run_id", "due_day")
# InvitationLink's fields, in order (due_at, the one datetime, is last).
_LINK_COLUMNS = ("id", "invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id", "state",
                 "due_day", "due_at")
# responses_for_account: a response with its invitation's facts.
_RESPONSE_COLUMNS = ("response_id", "invite_id", "survey_id", "tier", "account_id", "contact_email",
                     "occasion", "due_day", "submitted_at", "source", "received_at")
_RESPONSE_SELECT = ("r.response_id, i.invite_id, i.survey_id, i.tier, i.account_id, i.contact_email, "
                    "i.occasion, i.due_day, r.submitted_at, r.source, r.received_at, r.invitation")
_DATETIME_COLUMNS = frozenset({"due_at", "closes_at", "created_at", "updated_at", "claimed_at",
                               "sent_at", "started_at", "finished_at", "submitted_at", "received_at"})
_IDS_PER_QUERY = 250  # one parameter each; SQLite sorts an IN list first: 10,000 a query was 1.5x slower
BULK_CACHE_KIB = 64 * 1024  # page cache while bulk_writes() is on
# The statements that look many keys up, {in_} at a time (SqliteLedger._select_in). Each must
# probe the index of the key it looks up; tests/test_ledger.py checks their query plans.
_LOOKUP_SQL = f"SELECT {', '.join(_LINK_COLUMNS)} FROM invitations WHERE invite_id IN ({{in_}})"
_FETCHED_SQL = f"SELECT response_id FROM responses WHERE source <> '{IMPORT_SOURCE}' AND response_id IN ({{in_}})"
_ANSWERS_OF_SQL = ("SELECT a.invitation, a.question_id, q.qtype, a.value FROM answers AS a "
                   "JOIN invitations AS i ON i.id = a.invitation "
                   "LEFT JOIN questions AS q ON q.survey_id = i.survey_id AND q.question_id = a.question_id "
                   "WHERE a.invitation IN ({in_})")
# answerable_invitations: the survey and state are tested here rather than fetched, since at a
# million ids every column read out costs a million Python objects. The unary + keeps the planner
# off invitations_group (survey_id first), which at 250 ids it would otherwise prefer, scanning
# the whole survey for each query; the ids' own index is what must be used.
_ANSWERABLE_SQL = ("SELECT id, invite_id, tier, due_day, due_at FROM invitations "
                   f"WHERE +survey_id = ? AND state <> '{DEFERRED}' AND invite_id IN ({{in_}})")
# invitations_for_contacts: likewise, +state keeps it on the (survey_id, contact_email, occasion) key.
_CONTACTS_SQL = ("SELECT contact_email, id, invite_id, tier, due_day, due_at FROM invitations "
                 f"WHERE survey_id = ? AND +state = '{SENT}' AND contact_email IN ({{in_}})")


def _ts(value: datetime) -> str:
    """A timezone-aware datetime as fixed-width, sortable UTC text."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"the ledger needs timezone-aware datetimes, got {value!r}")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


class _Stamps(dict):
    """:func:`_ts` with a memo: a batch's invitations share a few due and closing times."""

    def __missing__(self, value: datetime) -> str:
        text = self[value] = _ts(value)
        return text


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _row_dict(columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    out = {}
    for name, value in zip(columns, row):
        if name in _DATETIME_COLUMNS:
            value = _dt(value)
        elif name == "throttled":
            value = bool(value)
        out[name] = value
    return out


def _translating_errors(cls: type) -> type:
    """Wrap the class's public methods: a ``sqlite3.DatabaseError`` becomes the user's error
    (damaged, locked, not writable) naming the file. ``IntegrityError`` is left alone: a broken
    constraint is a programming error, not a damaged file."""

    def translated(method: Any) -> Any:
        @functools.wraps(method)
        def call(self: "SqliteLedger", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from exc
        return call

    # The class's own methods and those of its mixins (suppressions_sqlite), not the interface's.
    for part in (*reversed([b for b in cls.__mro__[1:] if b.__module__.startswith("tierctl.storage.")
                            and b.__module__ != "tierctl.storage.ledger"]), cls):
        for name, attr in list(vars(part).items()):
            if not name.startswith("_") and inspect.isfunction(attr) and name != "close":
                setattr(cls, name, translated(attr))
    return cls


@_translating_errors
class SqliteLedger(SqliteSuppressions, Ledger):
    """A :class:`~tierctl.storage.ledger.Ledger` in one SQLite file (see the module docstring).

    Open it with :func:`tierctl.storage.ledger.open_ledger`. One instance per
    thread: the connection is not shared between threads.
    """

    _stamp = staticmethod(_ts)

    def __init__(self, path: Path, *, create_dirs: bool = True,
                 busy_timeout: float = BUSY_TIMEOUT_S, read_only: bool = False) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.read_only = read_only
        #: True when this open created the ledger (a new, empty one).
        self.created = False
        self._conn: sqlite3.Connection | None = None
        try:
            if not self.path.exists():
                if read_only:
                    raise TierctlError(f"there is no ledger at {self.path}; nothing was sent from here yet")
                self._prepare_folder(create_dirs)
                self.created = self._create()
            elif self.path.is_file() and self.path.stat().st_size == 0:
                raise LedgerDamagedError(
                    f"the ledger {self.path} is an empty file (0 bytes), not a tierctl ledger; it is not "
                    f"used, so nothing is sent twice. If it held your ledger, {RESTORE_ADVICE}")
            self._connect(read_only)
            self._migrate()
            self._verify()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self._error(exc) from exc
        except BaseException:
            self.close()
            raise

    def _connect(self, read_only: bool) -> None:
        """Connect; read-only (``mode=ro``) when asked, so a read-only file can still be read."""
        if read_only:
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
            try:
                self._conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError as exc:
                # A WAL ledger in a folder this user cannot write, with no writer running (no -wal
                # file): SQLite cannot make its shared-memory file, so read the file as immutable.
                if "readonly" not in str(exc) or Path(f"{self.path}-wal").exists():
                    raise
                self._conn.close()
                self._conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=self.busy_timeout,
                                             isolation_level=None)
        else:
            self._conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not read_only:
            conn.execute("PRAGMA synchronous = FULL")

    def _create(self) -> bool:
        """Create a new ledger at ``self.path`` whole: built beside it, then linked into place.

        So no other process ever sees a half-made ledger, and an empty file is
        never one tierctl is making. False when another process was first.
        """
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{time.monotonic_ns()}.new")
        try:
            conn = self._conn = sqlite3.connect(tmp, timeout=self.busy_timeout, isolation_level=None)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise TierctlError(f"the ledger {self.path} cannot use SQLite's WAL mode "
                                   f"(got {mode!r}); put it on a local disk (storage.url)")
            self._migrate(new=True)
            conn.execute("VACUUM")  # the migrations' dropped tables leave free pages: start compact
            self.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return False
            return True
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from exc
        except OSError as exc:
            raise TierctlError(f"storage.url: cannot create the ledger {self.path}: "
                               f"{exc.strerror or exc}") from exc
        finally:
            self.close()
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)

    def _verify(self) -> None:
        """The cheap check on every open: the whole schema is there, and the tables' edges read."""
        problems = schema_problems(self.conn, expected())
        if problems:
            raise LedgerDamagedError(f"the ledger is damaged: {self.path}: {'; '.join(problems)}; "
                                     f"{RESTORE_ADVICE}")
        probe(self.conn, expected())

    def check(self) -> list[str]:
        """Everything wrong with the ledger (reads every page): empty when it is whole."""
        return integrity_problems(self.conn, expected())

    def backup(self, dest: Path) -> None:
        """Copy the ledger to ``dest`` with SQLite's online backup API (safe while a send runs)."""
        backup(self.conn, Path(dest))

    def __repr__(self) -> str:
        return f"SqliteLedger({str(self.path)!r})"

    def location(self) -> str:
        return str(self.path)

    # -- opening ----------------------------------------------------------

    def _prepare_folder(self, create_dirs: bool) -> None:
        folder = self.path.parent
        if folder.is_dir():
            return
        if not create_dirs:
            raise TierctlError(f"storage.url: the folder {folder} of the ledger does not exist; "
                               f"create it, or change storage.url")
        try:
            folder.mkdir(parents=True)
            # The ledger is local state, not config: keep it out of version control.
            (folder / ".gitignore").write_text("# created by tierctl: local state, not config\n*\n")
        except FileExistsError:
            pass  # another process created it first
        except OSError as exc:
            raise TierctlError(f"storage.url: cannot create the ledger's folder {folder}: "
                               f"{exc.strerror or exc}") from exc

    def _error(self, exc: sqlite3.Error) -> TierctlError:
        return describe_error(exc, self.path, self.busy_timeout)

    def _pragma(self, name: str) -> int:
        return int(self.conn.execute(f"PRAGMA {name}").fetchone()[0])

    def _check_version(self, version: int, application_id: int, new: bool = False) -> None:
        # Only a file tierctl is creating (new) may be without the mark: an existing file without
        # it (another program's database, an empty one) is never taken for a new ledger.
        if application_id != APPLICATION_ID and not (new and version == 0 and application_id == 0):
            raise LedgerDamagedError(
                f"{self.path} is not a tierctl ledger (a SQLite database without tierctl's mark); it is "
                f"not used, so nothing is sent twice. Point storage.url at your ledger, or, if this "
                f"file held it, {RESTORE_ADVICE}")
        if version > len(MIGRATIONS):
            raise TierctlError(
                f"the ledger {self.path} has schema version {version}, written by a newer "
                f"tierctl; this tierctl knows versions up to {len(MIGRATIONS)}. Upgrade tierctl "
                f"(pip install -U tierctl), or point storage.url at another file.")

    def _migrate(self, new: bool = False) -> None:
        """Apply the missing migration steps, one transaction each."""
        while True:
            version = self._pragma("user_version")
            self._check_version(version, self._pragma("application_id"), new)
            if version == len(MIGRATIONS):
                return
            if self.read_only:  # an older ledger: upgrade it first (that writes), then read on
                self.close()
                self._connect(read_only=False)
                self.read_only = False
                continue
            with self._transaction() as conn:
                # Another process may have migrated meanwhile: read again under the write lock.
                version = self._pragma("user_version")
                self._check_version(version, self._pragma("application_id"), new)
                if version == len(MIGRATIONS):
                    return
                what, statements = MIGRATIONS[version]
                try:
                    for statement in statements:
                        conn.execute(statement)
                except sqlite3.OperationalError as exc:
                    if "locked" in str(exc) or "busy" in str(exc):
                        raise
                    raise TierctlError(
                        f"upgrading the ledger {self.path} to schema version {version + 1} "
                        f"({what}) failed: {exc}; the ledger was left at version {version}. "
                        f"Report this as a tierctl bug.") from exc
                if version == 0:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {version + 1}")

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: takes the database's write lock first (waiting up to the busy timeout)."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._error(exc) from exc
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            conn.close()

    # -- locking and runs -------------------------------------------------

    def lock_path(self, name: str = "send") -> Path:
        """The file that holds the named lock: beside the database."""
        if not LOCK_NAME_RE.match(name):
            raise ValueError(f"bad lock name {name!r}: use lower-case letters, digits, '-' and '_'")
        return self.path.with_name(f"{self.path.name}.{name}.lock")

    @contextmanager
    def lock(self, name: str = "send") -> Iterator[None]:
        path = self.lock_path(name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeldError(self._held_message(name, path, fd)) from None
            # The holder's details, for the message others get. The real clock
            # on purpose: this is about the process, not the ledger's data.
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])[:200]
                    if sys.argv and sys.argv[0] else ""}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _held_message(self, name: str, path: Path, fd: int) -> str:
        info: dict[str, Any] = {}
        for _ in range(20):  # the holder writes its details right after taking the lock
            try:
                info = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                info = {}
            if info:
                break
            time.sleep(0.005)
        if info:
            since = str(info.get("since", "?")).replace("T", " ").replace("+00:00", " UTC")
            command = f" ({info['command']})" if info.get("command") else ""
            who = f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {since}{command}"
            stop = f"stop it if it hangs (kill {info.get('pid', '?')} on {info.get('host', '?')})"
        else:
            who = "a process that has not written its details yet"
            stop = "stop it if it hangs"
        return (f"another tierctl run holds the {name!r} lock of the ledger {self.path}: {who}. "
                f"The lock is released automatically when that process ends, even if it is killed; "
                f"wait for it to finish, or {stop}. (Lock file: {path})")

    def begin_run(self, kind: str, now: datetime) -> int:
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (kind, pid, host, started_at, status) VALUES (?, ?, ?, ?, 'running')",
                (kind, os.getpid(), socket.gethostname(), _ts(now)))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def finish_run(self, run_id: int, now: datetime, status: str, counts: dict[str, int]) -> None:
        with self._transaction() as conn:
            cur = conn.execute("UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE id = ?",
                               (_ts(now), status, json.dumps(counts, sort_keys=True), run_id))
            if cur.rowcount != 1:
                raise ValueError(f"no run {run_id} in the ledger {self.path}")

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT id, kind, pid, host, started_at, finished_at, status, counts FROM runs "
            "ORDER BY id DESC LIMIT ?", (limit,))
        columns = tuple(d[0] for d in cur.description)
        runs = []
        for row in cur:
            run = _row_dict(columns, row)
            run["counts"] = json.loads(run["counts"] or "{}")
            runs.append(run)
        return runs

    # -- planning ---------------------------------------------------------

    def known_keys(self, open_at: datetime) -> dict[Key, str]:
        cur = self.conn.execute(
            "SELECT survey_id, contact_email, occasion, state FROM invitations WHERE closes_at >= ?",
            (_ts(open_at),))
        return {(s, c, o): state for s, c, o, state in cur}

    def last_surveyed(self, since: datetime) -> dict[str, datetime]:
        # The WHERE clause repeats the partial index's; INDEXED BY keeps the
        # planner from scanning all sent rows through invitations_state.
        cur = self.conn.execute(
            "SELECT contact_email, MAX(COALESCE(sent_at, claimed_at)) "
            "FROM invitations INDEXED BY invitations_surveyed "
            f"WHERE throttled = 1 AND state IN {sql_states(SURVEYED_STATES)} "
            "AND COALESCE(sent_at, claimed_at) >= ? GROUP BY contact_email",
            (_ts(since),))
        return {email: datetime.fromisoformat(at) for email, at in cur}

    def contact_times(self, since: datetime) -> dict[str, list[datetime]]:
        cur = self.conn.execute(
            "SELECT contact_email, COALESCE(sent_at, claimed_at) "
            "FROM invitations INDEXED BY invitations_surveyed "
            f"WHERE throttled = 1 AND state IN {sql_states(SURVEYED_STATES)} "
            "AND COALESCE(sent_at, claimed_at) >= ?", (_ts(since),))
        out: dict[str, list[datetime]] = {}
        for email, at in cur:
            out.setdefault(email, []).append(datetime.fromisoformat(at))
        return out

    # -- sending ----------------------------------------------------------

    def _existing(self, conn: sqlite3.Connection, keys: list[Key]) -> dict[Key, tuple[str, str]]:
        """``key -> (invite_id, state)`` for the keys already in the ledger."""
        found: dict[Key, tuple[str, str]] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start:start + _KEYS_PER_QUERY]
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            params = [part for key in chunk for part in key]
            # A join, not a row-value IN (VALUES ...), which SQLite answers with a full scan.
            cur = conn.execute(
                "SELECT i.survey_id, i.contact_email, i.occasion, i.invite_id, i.state "
                f"FROM (VALUES {values}) AS k CROSS JOIN invitations AS i "
                "ON i.survey_id = k.column1 AND i.contact_email = k.column2 "
                "AND i.occasion = k.column3", params)
            for s, c, o, invite_id, state in cur:
                found[(s, c, o)] = (invite_id, state)
        return found

    def claim_batch(self, invitations: list[Invitation], run_id: int, now: datetime,
                    provider: str, throttled: dict[str, bool]) -> list[Invitation]:
        if not invitations:
            return []
        at = _ts(now)
        ts = _Stamps()
        batch: dict[Key, Invitation] = {}
        for inv in invitations:  # a key repeated in the batch is claimed once
            batch.setdefault((inv.survey_id, inv.contact_email, inv.occasion), inv)
        claimed: list[Invitation] = []
        inserts: list[tuple[Any, ...]] = []
        takeovers: list[tuple[Any, ...]] = []
        with self._transaction() as conn:
            # Under BEGIN IMMEDIATE no other process can write until COMMIT, so
            # what we read here is still true when we write.
            existing = self._existing(conn, list(batch))
            for key, inv in batch.items():
                thr = 1 if throttled.get(inv.survey_id, True) else 0
                row = existing.get(key)
                due_at = ts[inv.due_at]
                if row is None:
                    inserts.append((inv.invite_id, inv.survey_id, inv.contact_email, inv.occasion,
                                    inv.tier, inv.account_id, provider, SENDING, thr,
                                    due_at, ts[inv.closes_at], at, at, at, run_id, inv.due_day or due_at[:10]))
                    claimed.append(inv)
                elif row[1] in CLAIMABLE_STATES:
                    takeovers.append((provider, thr, inv.tier, inv.account_id, due_at, inv.due_day or due_at[:10],
                                      ts[inv.closes_at], at, at, run_id, row[0]))
                    claimed.append(inv if inv.invite_id == row[0] else replace(inv, invite_id=row[0]))
            if inserts:
                conn.executemany(
                    "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, "
                    "account_id, provider, state, throttled, due_at, closes_at, created_at, "
                    "updated_at, claimed_at, attempts, run_id, due_day) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)", inserts)
            if takeovers:
                conn.executemany(
                    f"UPDATE invitations SET state = '{SENDING}', provider = ?, throttled = ?, "
                    "tier = ?, account_id = ?, due_at = ?, due_day = ?, closes_at = ?, updated_at = ?, "
                    "claimed_at = ?, run_id = ?, attempts = attempts + 1, reason = NULL "
                    f"WHERE invite_id = ? AND state IN {sql_states(CLAIMABLE_STATES)}", takeovers)
        return claimed

    def record_results(self, results: list[SendResult], now: datetime) -> int:
        at = _ts(now)
        sent = [(at, r.external_id, at, r.invite_id) for r in results if r.ok]
        redact = self.redact  # provider text may quote a secret (a token in a URL): never stored
        retry = [(redact(r.reason), at, r.invite_id) for r in results if not r.ok and r.retry]
        unknown = [(redact(r.reason), at, r.invite_id) for r in results if not r.ok and not r.retry
                   and getattr(r, "unknown", False)]
        failed = [(redact(r.reason), at, r.invite_id) for r in results if not r.ok and not r.retry
                  and not getattr(r, "unknown", False)]
        changed = 0
        with self._transaction() as conn:
            if sent:
                changed += conn.executemany(
                    f"UPDATE invitations SET state = '{SENT}', sent_at = ?, external_id = ?, "
                    f"reason = NULL, updated_at = ? WHERE invite_id = ? AND state = '{SENDING}'",
                    sent).rowcount
            for state, rows in ((RETRY, retry), (FAILED, failed), (UNKNOWN, unknown)):
                if rows:
                    changed += conn.executemany(
                        f"UPDATE invitations SET state = '{state}', reason = ?, updated_at = ? "
                        f"WHERE invite_id = ? AND state = '{SENDING}'", rows).rowcount
        return changed

    def record_deferred(self, invitations: list[Invitation], reasons: dict[str, str], now: datetime,
                        provider: str, throttled: dict[str, bool]) -> None:
        if not invitations:
            return
        at = _ts(now)
        ts = _Stamps()
        rows = [(inv.invite_id, inv.survey_id, inv.contact_email, inv.occasion, inv.tier,
                 inv.account_id, provider, 1 if throttled.get(inv.survey_id, True) else 0,
                 ts[inv.due_at], inv.due_day or ts[inv.due_at][:10], ts[inv.closes_at], at, at,
                 reasons.get(inv.invite_id, "deferred"))
                for inv in invitations]
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, "
                "account_id, provider, state, throttled, due_at, due_day, closes_at, created_at, updated_at, "
                f"reason) VALUES (?, ?, ?, ?, ?, ?, ?, '{DEFERRED}', ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (survey_id, contact_email, occasion) DO UPDATE SET "
                "reason = excluded.reason, updated_at = excluded.updated_at, "
                "provider = excluded.provider, throttled = excluded.throttled, tier = excluded.tier, "
                "account_id = excluded.account_id, due_at = excluded.due_at, due_day = excluded.due_day, "
                f"closes_at = excluded.closes_at WHERE invitations.state = '{DEFERRED}'", rows)

    def mark_stale_sending(self, now: datetime) -> list[dict[str, Any]]:
        at = _ts(now)
        with self._transaction() as conn:
            cur = conn.execute(
                "SELECT invite_id, survey_id, contact_email, occasion, run_id FROM invitations "
                f"WHERE state = '{SENDING}' ORDER BY run_id, invite_id")
            columns = tuple(d[0] for d in cur.description)
            stale = [dict(zip(columns, row)) for row in cur]
            if not stale:
                return []
            conn.execute(
                f"UPDATE invitations SET state = '{UNKNOWN}', updated_at = ?, "
                "reason = 'its run ended while sending: it may or may not have gone out' "
                f"WHERE state = '{SENDING}'", (at,))
            run_ids = sorted({row["run_id"] for row in stale if row["run_id"] is not None})
            conn.executemany("UPDATE runs SET status = 'interrupted' WHERE id = ? AND finished_at IS NULL",
                             [(run_id,) for run_id in run_ids])
        return stale

    def requeue_unknown(self, now: datetime) -> int:
        with self._transaction() as conn:
            return conn.execute(
                f"UPDATE invitations SET state = '{RETRY}', updated_at = ?, "
                f"reason = 'resend requested after an unknown outcome' WHERE state = '{UNKNOWN}'",
                (_ts(now),)).rowcount

    # -- reporting --------------------------------------------------------

    def status_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for survey_id, state, n in self.conn.execute(
                "SELECT survey_id, state, COUNT(*) FROM invitations GROUP BY survey_id, state"):
            counts.setdefault(survey_id, {})[state] = n
        return counts

    def invitations(self, state: str | None = None, survey_id: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        sql, params = listing_query(_INVITATION_COLUMNS, state, survey_id, limit, "?")
        return [_row_dict(_INVITATION_COLUMNS, row) for row in self.conn.execute(sql, params)]

    def invitation(self, invite_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {', '.join(_INVITATION_COLUMNS)} FROM invitations WHERE invite_id = ?",
                                (invite_id,)).fetchone()
        return None if row is None else _row_dict(_INVITATION_COLUMNS, row)

    def stored_scope(self) -> tuple[set[str], set[str]]:
        rows = self.conn.execute("SELECT DISTINCT survey_id, tier FROM invitations").fetchall()
        return {s for s, _ in rows}, {t for _, t in rows}

    def metrics(self, use_rollup: bool = True) -> Any:
        from tierctl.storage.metrics_sqlite import SqliteMetrics

        return SqliteMetrics(self.conn, use_rollup=use_rollup)

    # -- copying ----------------------------------------------------------

    def dump_table(self, table: str) -> Iterator[tuple[Any, ...]]:
        from tierctl.storage.copying import ORDER_BY, TABLES, canonical_time, canonical_value, time_positions

        times = time_positions(table)
        cur = self.conn.execute(f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {ORDER_BY[table]}")
        for row in cur:
            if table == "answers":
                yield row[0], row[1], canonical_value(row[2])
            elif times:
                row = list(row)
                for i in times:
                    row[i] = canonical_time(row[i])
                yield tuple(row)
            else:
                yield row

    def load_table(self, table: str, rows: Any) -> int:
        from tierctl.storage.copying import TABLES, canonical_time, time_positions

        columns = TABLES[table]
        times = time_positions(table)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        n = 0
        with self._transaction() as conn:
            batch: list[Any] = []
            for row in rows:
                if times:
                    row = list(row)
                    for i in times:
                        row[i] = canonical_time(row[i])
                batch.append(row)
                if len(batch) >= 10_000:
                    conn.executemany(sql, batch)
                    n += len(batch)
                    batch = []
            conn.executemany(sql, batch)
            n += len(batch)
        return n

    def rebuild_rollup(self) -> None:
        from tierctl.storage.metrics_sqlite import rebuild_rollup

        with self._transaction() as conn:
            rebuild_rollup(conn)

    # -- response pulls ---------------------------------------------------

    def get_cursor(self, provider: str, survey_id: str) -> str | None:
        row = self.conn.execute("SELECT cursor FROM cursors WHERE provider = ? AND survey_id = ?",
                                (provider, survey_id)).fetchone()
        return None if row is None else row[0]

    def set_cursor(self, provider: str, survey_id: str, cursor: str, now: datetime) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO cursors (provider, survey_id, cursor, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (provider, survey_id) DO UPDATE SET cursor = excluded.cursor, "
                "updated_at = excluded.updated_at", (provider, survey_id, cursor, _ts(now)))

    # -- helpdesk ratings -------------------------------------------------

    def add_helpdesk_ratings(self, source: str, rows: list["HelpdeskRating"]) -> int:
        with self._transaction() as conn:
            before = conn.execute("SELECT COUNT(*) FROM helpdesk_ratings WHERE source = ?", (source,)).fetchone()[0]
            conn.executemany(
                "INSERT INTO helpdesk_ratings (source, rating_id, tier, organization, score, created_at, day) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, rating_id) DO UPDATE SET tier = excluded.tier, "
                "organization = excluded.organization, score = excluded.score, day = excluded.day",
                [(source, r.rating_id, r.tier, r.organization, r.score, _ts(r.created_at), r.day) for r in rows])
            after = conn.execute("SELECT COUNT(*) FROM helpdesk_ratings WHERE source = ?", (source,)).fetchone()[0]
        return after - before

    def helpdesk_rating_counts(self) -> list[tuple[str, str, str, str, int]]:
        return [tuple(row) for row in self.conn.execute(  # type: ignore[misc]
            "SELECT source, tier, day, score, COUNT(*) FROM helpdesk_ratings GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4")]

    # -- responses --------------------------------------------------------

    def _select_in(self, sql: str, values: list[Any], params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` with its ``{in_}`` filled with placeholders for ``values``: one query per
        :data:`_IDS_PER_QUERY` values."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(values), _IDS_PER_QUERY):
            chunk = values[start:start + _IDS_PER_QUERY]
            rows += self.conn.execute(sql.format(in_=", ".join("?" * len(chunk))), (*params, *chunk)).fetchall()
        return rows

    def lookup_invitations(self, invite_ids: list[str]) -> dict[str, InvitationLink]:
        rows = self._select_in(_LOOKUP_SQL, list(dict.fromkeys(invite_ids)))
        return {link.invite_id: link for link in map(_link, rows)}

    def answerable_invitations(self, survey_id: str, invite_ids: list[str]) -> dict[str, InvitationRef]:
        return {ref.invite_id: ref for ref in map(_ref, self._select_in(
            _ANSWERABLE_SQL, list(dict.fromkeys(invite_ids)), (survey_id,)))}

    def invitations_for_contacts(self, survey_id: str, emails: list[str]) -> dict[str, list[InvitationRef]]:
        found: dict[str, list[InvitationRef]] = {}
        for row in self._select_in(_CONTACTS_SQL, list(dict.fromkeys(emails)), (survey_id,)):
            found.setdefault(row[0], []).append(_ref(row[1:]))
        for refs in found.values():
            if len(refs) > 1:  # most contacts have one invitation per survey in a file's time span
                refs.sort(key=_due_order)
        return found

    @contextmanager
    def bulk_writes(self) -> Iterator[None]:
        # A bigger page cache for the duration: the invitations a batch links
        # to are read for the lookup and again for the foreign keys.
        # (Memory-mapped reads and synchronous = NORMAL were measured too:
        # no faster at 1,000,000 responses, and mmap doubled the peak RSS.)
        conn = self.conn
        saved = self._pragma("cache_size")
        conn.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
        try:
            yield
        finally:
            if self._conn is not None:
                conn.execute(f"PRAGMA cache_size = {saved}")

    def add_responses(self, rows: list["StoredResponse"]) -> list["StoredResponse"]:
        # The first response to an invitation wins, in the batch as in the table.
        fresh = first_responses(self.with_keys(rows))
        if not fresh:
            return []
        keys = {r.invitation for r in fresh}
        fetched = [r.response_id for r in fresh if r.source != IMPORT_SOURCE]
        with self._transaction() as conn:
            self._record_questions(conn, fresh)
            # Under BEGIN IMMEDIATE nobody else writes until COMMIT: what is
            # not stored now is still not stored when we insert.
            # One range, not a list: invitations made together have neighbouring keys, and a
            # first import finds nothing in it.
            taken = {row[0] for row in conn.execute(
                "SELECT invitation FROM responses WHERE invitation BETWEEN ? AND ?", (min(keys), max(keys)))
                if row[0] in keys}
            if fetched:
                taken_ids = {row[0] for row in self._select_in(_FETCHED_SQL, fetched)}
            else:
                taken_ids = set()
            added = [r for r in fresh if r.invitation not in taken and r.response_id not in taken_ids]
            if not added:
                return []
            # In key order, a batch's writes go through the B-trees in order.
            added.sort(key=_invitation_key)
            ts = _Stamps()
            conn.executemany(
                "INSERT INTO responses (invitation, response_id, source, submitted_at, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(r.invitation, r.response_id, r.source, ts[r.submitted_at], ts[r.received_at]) for r in added])
            conn.executemany("INSERT INTO answers (invitation, question_id, value) VALUES (?, ?, ?)",
                             [(r.invitation, qid, value) for r in added for qid, value in r.answers.items()])
            fold_answers(conn, added)
        return added

    @staticmethod
    def _record_questions(conn: sqlite3.Connection, rows: list["StoredResponse"]) -> None:
        """Keep the types of answered questions; refuse a type that differs from the stored one.

        Every question the batch's config declares is compared, answered or not: answers stored
        under one type and counted under another would be wrong either way. Only answered ones are
        kept, so a question nobody has answered yet may still change its type.
        """
        surveys = {r.survey_id: r.question_types for r in rows}
        for survey_id, types in surveys.items():
            stored = dict(conn.execute("SELECT question_id, qtype FROM questions WHERE survey_id = ?",
                                       (survey_id,)))
            members = rows if len(surveys) == 1 else [r for r in rows if r.survey_id == survey_id]
            new = questions_to_keep(survey_id, types, stored, members)
            if new:
                conn.executemany("INSERT INTO questions (survey_id, question_id, qtype) VALUES (?, ?, ?)", new)

    def question_types(self) -> dict[str, dict[str, str]]:
        held: dict[str, dict[str, str]] = {}
        for survey_id, question_id, qtype in self.conn.execute(
                "SELECT survey_id, question_id, qtype FROM questions ORDER BY survey_id, question_id"):
            held.setdefault(survey_id, {})[question_id] = qtype
        return held

    def responses_for_account(self, account_id: str, survey_id: str | None = None) -> list[dict[str, Any]]:
        sql = (f"SELECT {_RESPONSE_SELECT} FROM invitations AS i JOIN responses AS r ON r.invitation = i.id "
               "WHERE i.account_id = ?")
        params: list[Any] = [account_id]
        if survey_id is not None:
            sql += " AND i.survey_id = ?"
            params.append(survey_id)
        found: list[dict[str, Any]] = []
        by_key: dict[int, dict[str, Any]] = {}
        for row in self.conn.execute(sql, params):
            response = _row_dict(_RESPONSE_COLUMNS, row)
            response["answers"] = {}
            by_key[row[-1]] = response
            found.append(response)
        for key, question_id, qtype, value in self._select_in(_ANSWERS_OF_SQL, list(by_key)):
            scored = isinstance(value, (int, float))
            by_key[key]["answers"][question_id] = {
                "qtype": qtype or ("rating" if scored else "text"),
                "score": value if scored else None, "text": None if scored else value}
        found.sort(key=lambda r: (r["submitted_at"], r["response_id"]))
        return found

    def invitations_for_account(self, account_id: str, survey_ids: list[str] | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(_INVITATION_COLUMNS)} FROM invitations WHERE account_id = ?"
        params: list[Any] = [account_id]
        if survey_ids is not None:
            if not survey_ids:
                return []
            sql += f" AND survey_id IN ({', '.join('?' * len(survey_ids))})"
            params.extend(survey_ids)
        sql += " ORDER BY closes_at, contact_email, invite_id"
        return [_row_dict(_INVITATION_COLUMNS, row) for row in self.conn.execute(sql, params)]

    def account_ids(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT DISTINCT account_id FROM invitations")}


# An InvitationLink (an InvitationRef) from a row in its field order, made in C
# (NamedTuple._make checks the length in Python).
_link = partial(tuple.__new__, InvitationLink)
_ref = partial(tuple.__new__, InvitationRef)


def _due_order(ref: InvitationRef) -> tuple[str, str]:
    return ref.due_at, ref.invite_id


def _invitation_key(response: "StoredResponse") -> int:
    return response.invitation
