"""The PostgreSQL ledger: one database shared by several runners on several machines.

* **Claims** are safe across machines: the key (survey, contact, occasion)
  is unique, new keys are claimed with ``INSERT ... ON CONFLICT DO NOTHING
  RETURNING`` and deferred/retry rows are taken over with ``SELECT ... FOR
  UPDATE SKIP LOCKED``, so concurrent runners get disjoint shares and never
  wait for each other's rows. A runner takes batches until none are left.
* **Runs hold leases** (``runs.lease_until``, renewed by a heartbeat
  thread). Several runners may send at once (:attr:`concurrent_sends`), so
  :meth:`mark_stale_sending` marks ``unknown`` only the ``sending``
  invitations of runs that finished or whose lease lapsed: a killed
  runner's in-flight batch, never a live runner's.
* **Locks** (:meth:`lock`) are rows in ``leases`` with an expiry, renewed
  by the same heartbeat: a killed holder's lock lapses after
  ``lease_seconds``.
* **Responses** go in through ``COPY``, and the metrics rollup is kept in
  step in SQL, in the same transaction (see :mod:`tierctl.storage.metrics_postgres`).
* **Migrations** (:mod:`tierctl.storage.postgres_schema`) run on open, one
  transaction each; a schema from a newer tierctl is refused.
* A shared token bucket per provider (:meth:`shared_limiter`) holds a
  platform's rate limit across all runners.

psycopg is imported when a PostgreSQL ledger is opened, never before.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator

from tierctl.errors import LockHeldError, TierctlError
from tierctl.records import Invitation, SendResult
from tierctl.storage.backend_sql import first_responses, listing_query, questions_to_keep, sql_states
from tierctl.storage.ledger import (CLAIMABLE_STATES, DEFERRED, FAILED, RETRY, SENDING, SENT, SURVEYED_STATES,
                                    UNKNOWN, InvitationLink, InvitationRef, Key, Ledger)
from tierctl.storage.postgres_conn import Heartbeat, connect, masked, split_url
from tierctl.storage.postgres_schema import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION
from tierctl.storage.suppressions_postgres import PostgresSuppressions
from tierctl.storage.texts_postgres import PostgresTexts

if TYPE_CHECKING:
    from tierctl.records import HelpdeskRating, StoredResponse
    from tierctl.util.ratelimit import RateLimit

LOCK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

_INVITATION_COLUMNS = ("invite_id", "survey_id", "contact_email", "occasion", "tier", "account_id",
                       "provider", "state", "throttled", "due_at", "closes_at", "created_at",
                       "updated_at", "claimed_at", "sent_at", "external_id", "reason", "attempts",
                       "run_id", "due_day", "locale")
# due_at as the fixed-width UTC text InvitationLink promises.
_DUE_TEXT = "to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
_LINK_SELECT = (f"SELECT id, invite_id, survey_id, contact_email, occasion, tier, account_id, state, due_day, "
                f"{_DUE_TEXT} FROM invitations")
_REF_COLUMNS = f"id, invite_id, tier, due_day, {_DUE_TEXT}"
_RESPONSE_COLUMNS = ("response_id", "invite_id", "survey_id", "tier", "account_id", "contact_email",
                     "occasion", "due_day", "submitted_at", "source", "received_at")


def no_ledger_message(shown: str) -> str:
    """What a command that only reads says about a database without tierctl's tables."""
    return (f"there is no ledger at {shown} (storage.url): the database has no tierctl tables yet; "
            "nothing was sent from here yet (the first tierctl survey send creates them)")


def ledger_tables_exist(url: str) -> bool:
    """Whether the database ``url`` names holds a tierctl ledger (its schema table), creating nothing.

    :raises tierctl.errors.TierctlError: the server cannot be reached or refuses us.
    """
    shown = masked(url)
    conn = connect(split_url(url)[0], shown)
    try:
        return bool(conn.execute("SELECT to_regclass('tierctl_schema') IS NOT NULL").fetchone()[0])
    finally:
        conn.close()


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"the ledger needs timezone-aware datetimes, got {value!r}")
    return value.astimezone(timezone.utc)


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column: arrays for ``unnest``, one statement for a whole batch."""
    return [list(column) for column in zip(*rows)]


def _due_day(inv: Invitation) -> str:
    return inv.due_day or _utc(inv.due_at).isoformat()[:10]


class PostgresLedger(PostgresSuppressions, PostgresTexts, Ledger):
    """A :class:`~tierctl.storage.ledger.Ledger` in a PostgreSQL database (see the module docstring).

    Open it with :func:`tierctl.storage.opener.open_ledger`. One instance per thread.
    """

    concurrent_sends = True
    overlapped_writes = True
    _invitation_columns = _INVITATION_COLUMNS

    def __init__(self, url: str, read_only: bool = False):
        self.url = url
        self.shown = masked(url)
        self._libpq, self.lease_seconds = split_url(url)
        self._conn: Any = connect(self._libpq, self.shown)
        self._lookups: Any = None  # a second connection for invitation lookups, during bulk_writes()
        self._heartbeat = Heartbeat(self._libpq, self.shown, self.lease_seconds)
        try:
            self.created = self.schema_version() == 0
            if read_only and self.created:
                # Commands that only read never create the tables (as with a missing SQLite file).
                raise TierctlError(no_ledger_message(self.shown))
            self._migrate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresLedger({self.shown!r})"

    def location(self) -> str:
        return f"the PostgreSQL database {self.shown}"

    def check(self) -> list[str]:
        """What is wrong with the ledger's tables (``tierctl ledger check``); empty when whole.

        The schema version and every table and column the backend uses; the
        database's own consistency is the server's job (``amcheck``, backups).
        """
        from tierctl.storage.copying import TABLES

        problems = []
        version = self.schema_version()
        if version != SCHEMA_VERSION:
            problems.append(f"schema version {version}, expected {SCHEMA_VERSION}")
        columns: dict[str, set[str]] = {}
        for table, column in self.conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"):
            columns.setdefault(table, set()).add(column)
        wanted = {**{t: set(c) - {"value"} for t, c in TABLES.items()}, "answer_day_counts": {"n"},
                  "response_day_counts": {"responses", "keys"}, "leases": {"expires_at"}, "rate_buckets": {"tokens"}}
        for table, needed in wanted.items():
            if table not in columns:
                problems.append(f"table {table} is missing")
            elif needed - columns[table]:
                problems.append(f"table {table} lacks column(s) {', '.join(sorted(needed - columns[table]))}")
        return problems

    @property
    def conn(self) -> Any:
        if self._conn is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self.conn
        with conn.transaction():
            yield conn

    # -- opening ----------------------------------------------------------

    def schema_version(self) -> int:
        """The applied schema version (0 for an empty database)."""
        found = self.conn.execute("SELECT to_regclass('tierctl_schema') IS NOT NULL").fetchone()[0]
        if not found:
            return 0
        row = self.conn.execute("SELECT version FROM tierctl_schema").fetchone()
        return 0 if row is None else int(row[0])

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise TierctlError(
                f"the ledger database {self.shown} has schema version {version}, written by a newer tierctl; "
                f"this tierctl knows versions up to {SCHEMA_VERSION}. Upgrade tierctl (pip install -U tierctl) "
                "on every runner, or point storage.url at another database.")

    def _migrate(self) -> None:
        psycopg = sys.modules["psycopg"]
        version = self.schema_version()
        self._check_version(version)
        if version == SCHEMA_VERSION:
            return
        while True:
            with self._transaction() as conn:
                # Runners opening a fresh database at once: one migrates, the others wait and see it done.
                # The foreign-tables check sits behind the lock too: outside it, a runner could see no
                # tierctl_schema, then the tables another runner had just created, and take them for foreign.
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                # information_schema, not to_regclass(): to_regclass reads the catalog snapshot this
                # transaction took before the lock was granted, so it can miss the other runner's tables.
                ours, alike = conn.execute(
                    "SELECT count(*) FILTER (WHERE table_name = 'tierctl_schema'), "
                    "count(*) FILTER (WHERE table_name IN ('invitations', 'runs', 'responses')) "
                    "FROM information_schema.tables WHERE table_schema = current_schema()").fetchone()
                if not ours:
                    if alike:
                        raise TierctlError(f"the database {self.shown} has tables named like a tierctl ledger's but "
                                           "no tierctl_schema version: point storage.url at an empty database or schema")
                conn.execute("CREATE TABLE IF NOT EXISTS tierctl_schema (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM tierctl_schema").fetchone()
                if row is None:
                    conn.execute("INSERT INTO tierctl_schema (version) VALUES (0)")
                version = 0 if row is None else int(row[0])
                self._check_version(version)
                if version == SCHEMA_VERSION:
                    return
                what, statements = MIGRATIONS[version]
                try:
                    with conn.transaction():
                        for statement in statements:
                            conn.execute(statement)
                except psycopg.Error as exc:
                    raise TierctlError(
                        f"upgrading the ledger database {self.shown} to schema version {version + 1} ({what}) "
                        f"failed: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}; it was left at version {version}. Check that the user may "
                        "create tables (README: privileges), or report this as a tierctl bug.") from None
                conn.execute("UPDATE tierctl_schema SET version = %s", (version + 1,))

    def close(self) -> None:
        self._heartbeat.stop()
        lookups, self._lookups = self._lookups, None
        if lookups is not None:
            lookups.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Invitation lookups (:meth:`answerable_invitations`, :meth:`lookup_invitations`,
        :meth:`invitations_for_contacts`) go through a second connection for the block, so an
        import links its next batch in one thread while the server stores the previous one in
        another (tierctl.responses.overlap): a lookup of a batch took a fifth of an import's time
        when it waited for the store. They read invitations only, which are committed before
        any response to them can come in."""
        if self._lookups is not None:  # nested: the outer block's connection serves
            yield
            return
        self._lookups = connect(self._libpq, self.shown)
        try:
            yield
        finally:
            lookups, self._lookups = self._lookups, None
            lookups.close()

    @property
    def _lookup_conn(self) -> Any:
        return self._lookups if self._lookups is not None else self.conn

    # -- locking and runs -------------------------------------------------

    @contextmanager
    def lock(self, name: str = "send") -> Iterator[None]:
        if not LOCK_NAME_RE.match(name):
            raise ValueError(f"bad lock name {name!r}: use lower-case letters, digits, '-' and '_'")
        holder = uuid.uuid4().hex
        command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])[:200] if sys.argv and sys.argv[0] else ""
        lease = f"{self.lease_seconds} seconds"
        with self._transaction() as conn:
            # A lapsed lease is free: its holder stopped renewing it (killed, or its machine went away).
            conn.execute("DELETE FROM leases WHERE name = %s AND expires_at < clock_timestamp()", (name,))
            taken = conn.execute(
                "INSERT INTO leases (name, holder, pid, host, command, since, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, clock_timestamp(), clock_timestamp() + %s::interval) "
                "ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, holder, os.getpid(), socket.gethostname(), command, lease)).fetchone()
            other = None if taken else conn.execute(
                "SELECT pid, host, since, command, expires_at FROM leases WHERE name = %s", (name,)).fetchone()
        if not taken:
            pid, host, since, cmd, expires = other or ("?", "?", None, "", None)
            since_text = since.strftime("%Y-%m-%d %H:%M:%S UTC") if since else "?"
            raise LockHeldError(
                f"another tierctl run holds the {name!r} lock of the ledger {self.shown}: pid {pid} on {host} "
                f"since {since_text}{f' ({cmd})' if cmd else ''}. The lock is a lease that lapses "
                f"{self.lease_seconds:g} s after its holder stops (even if it is killed or its machine goes "
                f"away); wait for it to finish, or stop it if it hangs (kill {pid} on {host}).")
        self._heartbeat.add_lock(name, holder)
        try:
            yield
        finally:
            self._heartbeat.drop_lock(name, holder)
            if self._conn is not None:
                self._conn.execute("DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder))

    def begin_run(self, kind: str, now: datetime) -> int:
        row = self.conn.execute(
            "INSERT INTO runs (kind, pid, host, started_at, status, lease_until) "
            "VALUES (%s, %s, %s, %s, 'running', clock_timestamp() + %s::interval) RETURNING id",
            (kind, os.getpid(), socket.gethostname(), _utc(now), f"{self.lease_seconds} seconds")).fetchone()
        run_id = int(row[0])
        self._heartbeat.add_run(run_id)
        return run_id

    def finish_run(self, run_id: int, now: datetime, status: str, counts: dict[str, int]) -> None:
        self._heartbeat.drop_run(run_id)
        cur = self.conn.execute("UPDATE runs SET finished_at = %s, status = %s, counts = %s WHERE id = %s",
                                (_utc(now), status, json.dumps(counts, sort_keys=True), run_id))
        if cur.rowcount != 1:
            raise ValueError(f"no run {run_id} in the ledger {self.shown}")

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        runs = []
        for row in self.conn.execute(
                "SELECT id, kind, pid, host, started_at, finished_at, status, counts FROM runs "
                "ORDER BY id DESC LIMIT %s", (limit,)):
            run = dict(zip(("id", "kind", "pid", "host", "started_at", "finished_at", "status", "counts"), row))
            run["counts"] = json.loads(run["counts"] or "{}")
            runs.append(run)
        return runs

    # -- planning ---------------------------------------------------------

    def known_keys(self, open_at: datetime) -> dict[Key, str]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT survey_id, contact_email, occasion, state FROM invitations WHERE closes_at >= %s",
                        (_utc(open_at),))
            return {(s, c, o): state for s, c, o, state in cur}

    def last_surveyed(self, since: datetime) -> dict[str, datetime]:
        cur = self.conn.execute(
            "SELECT contact_email, MAX(COALESCE(sent_at, claimed_at)) FROM invitations "
            f"WHERE throttled AND state IN {sql_states(SURVEYED_STATES)} "
            "AND COALESCE(sent_at, claimed_at) >= %s GROUP BY contact_email", (_utc(since),))
        return dict(cur.fetchall())

    def contact_times(self, since: datetime) -> dict[str, list[datetime]]:
        out: dict[str, list[datetime]] = {}
        for email, at in self.conn.execute(
                "SELECT contact_email, COALESCE(sent_at, claimed_at) FROM invitations "
                f"WHERE throttled AND state IN {sql_states(SURVEYED_STATES)} "
                "AND COALESCE(sent_at, claimed_at) >= %s", (_utc(since),)):
            out.setdefault(email, []).append(at)
        return out

    # -- sending ----------------------------------------------------------

    def claim_batch(self, invitations: list[Invitation], run_id: int, now: datetime,
                    provider: str, throttled: dict[str, bool]) -> list[Invitation]:
        if not invitations:
            return []
        at = _utc(now)
        batch: dict[Key, Invitation] = {}
        for inv in invitations:
            batch.setdefault((inv.survey_id, inv.contact_email, inv.occasion), inv)
        items = list(batch.values())
        # Rows are written in key order: two runners inserting overlapping batches lock them in the
        # same order, so one waits for the other instead of deadlocking.
        ordered = sorted(items, key=lambda i: (i.survey_id, i.contact_email, i.occasion))
        columns = _columns([(i.invite_id, i.survey_id, i.contact_email, i.occasion, i.tier, i.account_id,
                              throttled.get(i.survey_id, True), _utc(i.due_at), _utc(i.closes_at), _due_day(i),
                              i.locale or "") for i in ordered])
        with self._transaction() as conn:
            # New keys: a key another runner inserts at the same time waits for its commit, then is skipped.
            inserted = self._insert_new(conn, columns, provider, at, run_id)
            rest = [inv for inv in ordered if inv.invite_id not in inserted]
            taken: dict[Key, str] = {}
            if rest:
                # Deferred and retry rows: take over those no other runner holds right now.
                rows = conn.execute(
                    "SELECT i.id, i.invite_id, i.survey_id, i.contact_email, i.occasion FROM invitations AS i "
                    "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(s, c, o) "
                    "ON i.survey_id = k.s AND i.contact_email = k.c AND i.occasion = k.o "
                    f"WHERE i.state IN {sql_states(CLAIMABLE_STATES)} FOR UPDATE OF i SKIP LOCKED",
                    ([i.survey_id for i in rest], [i.contact_email for i in rest],
                     [i.occasion for i in rest])).fetchall()
                if rows:
                    by_key = {(s, c, o): (key, invite_id) for key, invite_id, s, c, o in rows}
                    updates = []
                    for inv in rest:
                        found = by_key.get((inv.survey_id, inv.contact_email, inv.occasion))
                        if found is not None:
                            taken[(inv.survey_id, inv.contact_email, inv.occasion)] = found[1]
                            updates.append((found[0], throttled.get(inv.survey_id, True), inv.tier, inv.account_id,
                                            _utc(inv.due_at), _due_day(inv), _utc(inv.closes_at), inv.locale or ""))
                    cols = _columns(updates)
                    conn.execute(
                        f"UPDATE invitations AS i SET state = '{SENDING}', provider = %s, throttled = u.t, "
                        "tier = u.tier, account_id = u.acct, due_at = u.due, due_day = u.dd, closes_at = u.closes, "
                        "locale = u.loc, "
                        "updated_at = %s, claimed_at = %s, run_id = %s, attempts = i.attempts + 1, reason = NULL "
                        "FROM unnest(%s::bigint[], %s::boolean[], %s::text[], %s::text[], %s::timestamptz[], "
                        "%s::text[], %s::timestamptz[], %s::text[]) AS u(id, t, tier, acct, due, dd, closes, loc) "
                        "WHERE i.id = u.id",
                        (provider, at, at, run_id, *cols))
        claimed = []
        for inv in items:
            if inv.invite_id in inserted:
                claimed.append(inv)
            else:
                invite_id = taken.get((inv.survey_id, inv.contact_email, inv.occasion))
                if invite_id is not None:
                    claimed.append(inv if invite_id == inv.invite_id else replace(inv, invite_id=invite_id))
        return claimed

    @staticmethod
    def _insert_new(conn: Any, columns: list[tuple[Any, ...]], provider: str, at: datetime, run_id: int) -> set[str]:
        """Insert the keys not in the ledger yet as ``sending``; the invite ids inserted."""
        return {row[0] for row in conn.execute(
            "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, account_id, provider, "
            "state, throttled, due_at, closes_at, created_at, updated_at, claimed_at, attempts, run_id, due_day, "
            "locale) "
            f"SELECT n.iid, n.s, n.c, n.o, n.tier, n.acct, %s, '{SENDING}', n.t, n.due, n.closes, %s, %s, %s, 1, %s, "
            "n.dd, n.loc FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::boolean[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[]) "
            "AS n(iid, s, c, o, tier, acct, t, due, closes, dd, loc) "
            "ON CONFLICT DO NOTHING RETURNING invite_id",
            (provider, at, at, at, run_id, *columns)).fetchall()}

    def record_results(self, results: list[SendResult], now: datetime) -> int:
        at = _utc(now)
        sent = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        redact = self.redact  # provider text may quote a secret (a token in a URL): never stored
        changed = 0
        with self._transaction() as conn:
            if sent:
                changed += conn.execute(
                    f"UPDATE invitations AS i SET state = '{SENT}', sent_at = %s, external_id = u.ext, reason = NULL, "
                    "updated_at = %s FROM unnest(%s::text[], %s::text[]) AS u(iid, ext) "
                    f"WHERE i.invite_id = u.iid AND i.state = '{SENDING}'",
                    (at, at, [r.invite_id for r in sent], [r.external_id for r in sent])).rowcount
            if failed:
                changed += conn.execute(
                    "UPDATE invitations AS i SET state = u.state, reason = u.reason, updated_at = %s "
                    "FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(iid, state, reason) "
                    f"WHERE i.invite_id = u.iid AND i.state = '{SENDING}'",
                    (at, [r.invite_id for r in failed],
                     [RETRY if r.retry else UNKNOWN if getattr(r, "unknown", False) else FAILED for r in failed],
                     [redact(r.reason) for r in failed])).rowcount
        return changed

    def record_deferred(self, invitations: list[Invitation], reasons: dict[str, str], now: datetime,
                        provider: str, throttled: dict[str, bool]) -> None:
        if not invitations:
            return
        at = _utc(now)
        columns = _columns([(i.invite_id, i.survey_id, i.contact_email, i.occasion, i.tier, i.account_id,
                              throttled.get(i.survey_id, True), _utc(i.due_at), _utc(i.closes_at), _due_day(i),
                              reasons.get(i.invite_id, "deferred")) for i in invitations])
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO invitations AS i (invite_id, survey_id, contact_email, occasion, tier, account_id, "
                "provider, state, throttled, due_at, closes_at, created_at, updated_at, due_day, reason) "
                f"SELECT n.iid, n.s, n.c, n.o, n.tier, n.acct, %s, '{DEFERRED}', n.t, n.due, n.closes, %s, %s, n.dd, "
                "n.reason FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::boolean[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::text[]) "
                "AS n(iid, s, c, o, tier, acct, t, due, closes, dd, reason) "
                "ON CONFLICT (survey_id, contact_email, occasion) DO UPDATE SET reason = excluded.reason, "
                "updated_at = excluded.updated_at, provider = excluded.provider, throttled = excluded.throttled, "
                "tier = excluded.tier, account_id = excluded.account_id, due_at = excluded.due_at, "
                f"due_day = excluded.due_day, closes_at = excluded.closes_at WHERE i.state = '{DEFERRED}'",
                (provider, at, at, *columns))

    def mark_stale_sending(self, now: datetime) -> list[dict[str, Any]]:
        # Only runs that are over: finished, or whose lease lapsed (killed, or its machine went away).
        # A live runner's batch in flight is its own business.
        with self._transaction() as conn:
            dead = [row[0] for row in conn.execute(
                "SELECT id FROM runs WHERE id IN (SELECT DISTINCT run_id FROM invitations "
                f"WHERE state = '{SENDING}') AND (finished_at IS NOT NULL OR lease_until IS NULL "
                "OR lease_until < clock_timestamp()) FOR UPDATE")]
            if not dead:
                return []
            rows = conn.execute(
                f"UPDATE invitations SET state = '{UNKNOWN}', updated_at = %s, "
                "reason = 'its run ended while sending: it may or may not have gone out' "
                f"WHERE state = '{SENDING}' AND run_id = ANY(%s) "
                "RETURNING invite_id, survey_id, contact_email, occasion, run_id",
                (_utc(now), dead)).fetchall()
            conn.execute("UPDATE runs SET status = 'interrupted' WHERE id = ANY(%s) AND finished_at IS NULL", (dead,))
        stale = [dict(zip(("invite_id", "survey_id", "contact_email", "occasion", "run_id"), row)) for row in rows]
        stale.sort(key=lambda r: (r["run_id"], r["invite_id"]))
        return stale

    def requeue_unknown(self, now: datetime) -> int:
        return self.conn.execute(
            f"UPDATE invitations SET state = '{RETRY}', updated_at = %s, "
            f"reason = 'resend requested after an unknown outcome' WHERE state = '{UNKNOWN}'", (_utc(now),)).rowcount

    def shared_limiter(self, name: str, rate: "RateLimit") -> Any:
        """A token bucket for ``rate`` kept in the database: every runner of this ledger draws from it."""
        from tierctl.storage.postgres_rate import SharedBucket

        return SharedBucket(self._libpq, self.shown, name, rate)

    # -- reporting --------------------------------------------------------

    def status_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for survey_id, state, n in self.conn.execute(
                "SELECT survey_id, state, COUNT(*) FROM invitations GROUP BY survey_id, state"):
            counts.setdefault(survey_id, {})[state] = n
        return counts

    def invitations(self, state: str | None = None, survey_id: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        sql, params = listing_query(_INVITATION_COLUMNS, state, survey_id, limit, "%s")
        return [dict(zip(_INVITATION_COLUMNS, row)) for row in self.conn.execute(sql, params)]

    def stored_scope(self) -> tuple[set[str], set[str]]:
        rows = self.conn.execute("SELECT DISTINCT survey_id, tier FROM invitations").fetchall()
        return {s for s, _ in rows}, {t for _, t in rows}

    def metrics(self, use_rollup: bool = True) -> Any:
        from tierctl.storage.metrics_postgres import PostgresMetrics

        return PostgresMetrics(self.conn, use_rollup=use_rollup)

    # -- response pulls ---------------------------------------------------

    def get_cursor(self, provider: str, survey_id: str) -> str | None:
        row = self.conn.execute("SELECT cursor FROM cursors WHERE provider = %s AND survey_id = %s",
                                (provider, survey_id)).fetchone()
        return None if row is None else row[0]

    def set_cursor(self, provider: str, survey_id: str, cursor: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO cursors (provider, survey_id, cursor, updated_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (provider, survey_id) DO UPDATE SET cursor = excluded.cursor, "
            "updated_at = excluded.updated_at", (provider, survey_id, cursor, _utc(now)))

    # -- helpdesk ratings -------------------------------------------------

    def add_helpdesk_ratings(self, source: str, rows: list["HelpdeskRating"]) -> int:
        if not rows:
            return 0
        columns = _columns([(r.rating_id, r.tier, r.organization, r.score, _utc(r.created_at), r.day) for r in rows])
        # xmax = 0: the row was inserted by this statement, not updated.
        inserted = self.conn.execute(
            "INSERT INTO helpdesk_ratings AS h (source, rating_id, tier, organization, score, created_at, day) "
            "SELECT %s, n.* FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], "
            "%s::text[]) AS n ON CONFLICT (source, rating_id) DO UPDATE SET tier = excluded.tier, "
            "organization = excluded.organization, score = excluded.score, day = excluded.day "
            "RETURNING (h.xmax = 0)", (source, *columns)).fetchall()
        return sum(1 for (new,) in inserted if new)

    def helpdesk_rating_counts(self) -> list[tuple[str, str, str, str, int]]:
        return [tuple(row) for row in self.conn.execute(  # type: ignore[misc]
            "SELECT source, tier, day, score, COUNT(*) FROM helpdesk_ratings GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4")]

    # -- responses --------------------------------------------------------

    def lookup_invitations(self, invite_ids: list[str]) -> dict[str, InvitationLink]:
        rows = self._lookup_conn.execute(f"{_LINK_SELECT} WHERE invite_id = ANY(%s)",
                                         (list(set(invite_ids)),)).fetchall()
        return {row[1]: InvitationLink._make(row) for row in rows}

    def answerable_invitations(self, survey_id: str, invite_ids: list[str]) -> dict[str, InvitationRef]:
        rows = self._lookup_conn.execute(
            f"SELECT {_REF_COLUMNS} FROM invitations WHERE survey_id = %s AND state <> '{DEFERRED}' "
            "AND invite_id = ANY(%s)", (survey_id, list(set(invite_ids)))).fetchall()
        return {row[1]: InvitationRef._make(row) for row in rows}

    def invitations_for_contacts(self, survey_id: str, emails: list[str]) -> dict[str, list[InvitationRef]]:
        found: dict[str, list[InvitationRef]] = {}
        for row in self._lookup_conn.execute(
                f"SELECT contact_email, {_REF_COLUMNS} FROM invitations WHERE survey_id = %s "
                f"AND state = '{SENT}' AND contact_email = ANY(%s) ORDER BY due_at, invite_id",
                (survey_id, list(set(emails)))):
            found.setdefault(row[0], []).append(InvitationRef._make(row[1:]))
        return found

    def prepare_responses(self, rows: list["StoredResponse"]) -> list["StoredResponse"]:
        """The rows that may be added, with the text COPY will send made now (see
        :class:`tierctl.storage.postgres_bulk.Staged`)."""
        from tierctl.storage.postgres_bulk import Staged

        return Staged(first_responses(self.with_keys(rows)))

    def add_responses(self, rows: list["StoredResponse"]) -> list["StoredResponse"]:
        from tierctl.storage.postgres_bulk import Staged, add_responses

        fresh = rows if isinstance(rows, Staged) else first_responses(self.with_keys(rows))
        if not fresh:
            return []
        with self._transaction() as conn:
            self._record_questions(conn, fresh)
            return add_responses(conn, fresh)

    @staticmethod
    def _record_questions(conn: Any, rows: list["StoredResponse"]) -> None:
        """As the SQLite ledger: keep answered questions' types, refuse a changed one (nothing stored)."""
        surveys = {r.survey_id: r.question_types for r in rows}
        for survey_id, types in surveys.items():
            # Lock the survey's questions: two importers of the same survey agree on the types.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"questions:{survey_id}",))
            stored = dict(conn.execute("SELECT question_id, qtype FROM questions WHERE survey_id = %s",
                                       (survey_id,)).fetchall())
            members = rows if len(surveys) == 1 else [r for r in rows if r.survey_id == survey_id]
            new = questions_to_keep(survey_id, types, stored, members)
            if new:
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO questions (survey_id, question_id, qtype) VALUES (%s, %s, %s) "
                                    "ON CONFLICT DO NOTHING", new)

    def question_types(self) -> dict[str, dict[str, str]]:
        held: dict[str, dict[str, str]] = {}
        for survey_id, question_id, qtype in self.conn.execute(
                "SELECT survey_id, question_id, qtype FROM questions ORDER BY survey_id, question_id"):
            held.setdefault(survey_id, {})[question_id] = qtype
        return held

    def responses_for_account(self, account_id: str, survey_id: str | None = None) -> list[dict[str, Any]]:
        where, params = "i.account_id = %s", [account_id]
        if survey_id is not None:
            where += " AND i.survey_id = %s"
            params.append(survey_id)
        return self._responses_where(where, params)

    def response_of_invitation(self, invite_id: str) -> dict[str, Any] | None:
        found = self._responses_where("i.invite_id = %s", [invite_id])
        return found[-1] if found else None

    def _responses_where(self, where: str, params: list[Any]) -> list[dict[str, Any]]:
        sql = ("SELECT r.response_id, i.invite_id, i.survey_id, i.tier, i.account_id, i.contact_email, i.occasion, "
               "i.due_day, r.submitted_at, r.source, r.received_at, r.invitation FROM invitations AS i "
               f"JOIN responses AS r ON r.invitation = i.id WHERE {where}")
        found, by_key = [], {}
        for row in self.conn.execute(sql, params):
            response = dict(zip(_RESPONSE_COLUMNS, row))
            response["answers"] = {}
            by_key[row[-1]] = response
            found.append(response)
        if by_key:
            for key, question_id, qtype, score, text in self.conn.execute(
                    "SELECT a.invitation, a.question_id, q.qtype, a.score, a.text FROM answers AS a "
                    "JOIN invitations AS i ON i.id = a.invitation LEFT JOIN questions AS q "
                    "ON q.survey_id = i.survey_id AND q.question_id = a.question_id WHERE a.invitation = ANY(%s)",
                    (list(by_key),)):
                scored = score is not None
                value = _number(score) if scored else None
                by_key[key]["answers"][question_id] = {"qtype": qtype or ("rating" if scored else "text"),
                                                       "score": value, "text": None if scored else text}
        found.sort(key=lambda r: (r["submitted_at"], r["response_id"]))
        return found

    def invitations_for_account(self, account_id: str, survey_ids: list[str] | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(_INVITATION_COLUMNS)} FROM invitations WHERE account_id = %s"
        params: list[Any] = [account_id]
        if survey_ids is not None:
            if not survey_ids:
                return []
            sql += " AND survey_id = ANY(%s)"
            params.append(list(survey_ids))
        sql += " ORDER BY closes_at, contact_email, invite_id"
        return [dict(zip(_INVITATION_COLUMNS, row)) for row in self.conn.execute(sql, params)]

    def account_ids(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT DISTINCT account_id FROM invitations")}

    # -- copying ----------------------------------------------------------

    def dump_table(self, table: str) -> Iterator[tuple[Any, ...]]:
        from tierctl.storage.postgres_bulk import dump_table

        return dump_table(self.conn, table)

    def load_table(self, table: str, rows: Iterator[tuple[Any, ...]]) -> int:
        from tierctl.storage.postgres_bulk import load_table

        return load_table(self.conn, table, rows)

    def rebuild_rollup(self) -> None:
        from tierctl.storage.postgres_bulk import rebuild_rollup

        rebuild_rollup(self.conn)


def _number(score: float) -> int | float:
    """A stored score as the int it was (scores of the standard types are whole numbers)."""
    return int(score) if float(score).is_integer() else score
