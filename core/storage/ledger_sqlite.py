"""The SQLite ledger: one local file, safe for several tierctl processes at once.

* WAL journal mode, so readers (``tierctl status``) never block a run; a busy
  timeout, so two writers wait for each other instead of failing; every write
  in a ``BEGIN IMMEDIATE`` transaction, so a claim reads and writes with the
  write lock held and two processes cannot claim the same key; the
  ``UNIQUE (survey_id, contact_email, occasion)`` key as the last line of
  defence. ``synchronous = FULL``: a claim is on disk before the invitation
  is handed to a provider, even across a power cut.
* Schema migrations are an ordered list (:data:`tierctl.storage.sqlite_schema.MIGRATIONS`); the applied
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

The schema is in :mod:`~tierctl.storage.sqlite_schema`; response storage and
suppressions are mixins (:mod:`~tierctl.storage.sqlite_responses`,
:mod:`~tierctl.storage.suppressions_sqlite`).
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
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote
from typing import Any, Iterator

from tierctl.errors import LedgerDamagedError, LockHeldError, TierctlError
from tierctl.storage import sqlite_schema as schema
from tierctl.storage.backend_sql import listing_query, sql_states
from tierctl.storage.ledger import (CLAIMABLE_STATES, DEFERRED, RETRY, SENDING, SENT, SURVEYED_STATES, UNKNOWN,
                                    FAILED, Key, Ledger)
from tierctl.storage.suppressions_sqlite import SqliteSuppressions
from tierctl.storage.sqlite_checks import (RESTORE_ADVICE, backup, describe_error, integrity_problems, probe,
                                           schema_problems)
from tierctl.storage.sqlite_responses import SqliteResponses
from tierctl.storage.texts_sqlite import SqliteTexts
from tierctl.storage.sqlite_rows import INVITATION_COLUMNS, Stamps, row_dict, ts_text
from tierctl.storage.sqlite_schema import APPLICATION_ID
from tierctl.records import HelpdeskRating, Invitation, SendResult

BUSY_TIMEOUT_S = 30.0
LOCK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_KEYS_PER_QUERY = 250  # 3 parameters each, well under SQLite's 32766 (999 before 3.32)


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
class SqliteLedger(SqliteSuppressions, SqliteResponses, SqliteTexts, Ledger):
    """A :class:`~tierctl.storage.ledger.Ledger` in one SQLite file (see the module docstring).

    Open it with :func:`tierctl.storage.ledger.open_ledger`. One instance per
    thread: the connection is not shared between threads.
    """

    _stamp = staticmethod(ts_text)

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
        problems = schema_problems(self.conn, schema.expected())
        if problems:
            raise LedgerDamagedError(f"the ledger is damaged: {self.path}: {'; '.join(problems)}; "
                                     f"{RESTORE_ADVICE}")
        probe(self.conn, schema.expected())

    def check(self) -> list[str]:
        """Everything wrong with the ledger (reads every page): empty when it is whole."""
        return integrity_problems(self.conn, schema.expected())

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
        if version > len(schema.MIGRATIONS):
            raise TierctlError(
                f"the ledger {self.path} has schema version {version}, written by a newer "
                f"tierctl; this tierctl knows versions up to {len(schema.MIGRATIONS)}. Upgrade tierctl "
                f"(pip install -U tierctl), or point storage.url at another file.")

    def _migrate(self, new: bool = False) -> None:
        """Apply the missing migration steps, one transaction each."""
        while True:
            version = self._pragma("user_version")
            self._check_version(version, self._pragma("application_id"), new)
            if version == len(schema.MIGRATIONS):
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
                if version == len(schema.MIGRATIONS):
                    return
                what, statements = schema.MIGRATIONS[version]
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
                (kind, os.getpid(), socket.gethostname(), ts_text(now)))
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def finish_run(self, run_id: int, now: datetime, status: str, counts: dict[str, int]) -> None:
        with self._transaction() as conn:
            cur = conn.execute("UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE id = ?",
                               (ts_text(now), status, json.dumps(counts, sort_keys=True), run_id))
            if cur.rowcount != 1:
                raise ValueError(f"no run {run_id} in the ledger {self.path}")

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT id, kind, pid, host, started_at, finished_at, status, counts FROM runs "
            "ORDER BY id DESC LIMIT ?", (limit,))
        columns = tuple(d[0] for d in cur.description)
        runs = []
        for row in cur:
            run = row_dict(columns, row)
            run["counts"] = json.loads(run["counts"] or "{}")
            runs.append(run)
        return runs

    # -- planning ---------------------------------------------------------

    def known_keys(self, open_at: datetime) -> dict[Key, str]:
        cur = self.conn.execute(
            "SELECT survey_id, contact_email, occasion, state FROM invitations WHERE closes_at >= ?",
            (ts_text(open_at),))
        return {(s, c, o): state for s, c, o, state in cur}

    def last_surveyed(self, since: datetime) -> dict[str, datetime]:
        # The WHERE clause repeats the partial index's; INDEXED BY keeps the
        # planner from scanning all sent rows through invitations_state. In the index's
        # order each address's latest time comes last, and overwrites the earlier ones: a
        # GROUP BY would sort every row by address first (twice the time, 100,000 rows).
        cur = self.conn.execute(
            "SELECT contact_email, COALESCE(sent_at, claimed_at) "
            "FROM invitations INDEXED BY invitations_surveyed "
            f"WHERE throttled = 1 AND state IN {sql_states(SURVEYED_STATES)} "
            "AND COALESCE(sent_at, claimed_at) >= ? ORDER BY COALESCE(sent_at, claimed_at)",
            (ts_text(since),))
        latest = dict(cur.fetchall())
        parse = datetime.fromisoformat
        return {email: parse(at) for email, at in latest.items()}

    def contact_times(self, since: datetime) -> dict[str, list[datetime]]:
        cur = self.conn.execute(
            "SELECT contact_email, COALESCE(sent_at, claimed_at) "
            "FROM invitations INDEXED BY invitations_surveyed "
            f"WHERE throttled = 1 AND state IN {sql_states(SURVEYED_STATES)} "
            "AND COALESCE(sent_at, claimed_at) >= ?", (ts_text(since),))
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
        at = ts_text(now)
        ts = Stamps()
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
                                    due_at, ts[inv.closes_at], at, at, at, run_id, inv.due_day or due_at[:10],
                                    inv.locale or ""))
                    claimed.append(inv)
                elif row[1] in CLAIMABLE_STATES:
                    takeovers.append((provider, thr, inv.tier, inv.account_id, due_at, inv.due_day or due_at[:10],
                                      ts[inv.closes_at], at, at, run_id, inv.locale or "", row[0]))
                    claimed.append(inv if inv.invite_id == row[0] else replace(inv, invite_id=row[0]))
            if inserts:
                conn.executemany(
                    "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, "
                    "account_id, provider, state, throttled, due_at, closes_at, created_at, "
                    "updated_at, claimed_at, attempts, run_id, due_day, locale) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)", inserts)
            if takeovers:
                conn.executemany(
                    f"UPDATE invitations SET state = '{SENDING}', provider = ?, throttled = ?, "
                    "tier = ?, account_id = ?, due_at = ?, due_day = ?, closes_at = ?, updated_at = ?, "
                    "claimed_at = ?, run_id = ?, locale = ?, attempts = attempts + 1, reason = NULL "
                    f"WHERE invite_id = ? AND state IN {sql_states(CLAIMABLE_STATES)}", takeovers)
        return claimed

    def record_results(self, results: list[SendResult], now: datetime) -> int:
        at = ts_text(now)
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
        at = ts_text(now)
        ts = Stamps()
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
        at = ts_text(now)
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
                (ts_text(now),)).rowcount

    # -- reporting --------------------------------------------------------

    def status_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for survey_id, state, n in self.conn.execute(
                "SELECT survey_id, state, COUNT(*) FROM invitations GROUP BY survey_id, state"):
            counts.setdefault(survey_id, {})[state] = n
        return counts

    def invitations(self, state: str | None = None, survey_id: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        sql, params = listing_query(INVITATION_COLUMNS, state, survey_id, limit, "?")
        return [row_dict(INVITATION_COLUMNS, row) for row in self.conn.execute(sql, params)]

    def invitation(self, invite_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT {', '.join(INVITATION_COLUMNS)} FROM invitations WHERE invite_id = ?",
                                (invite_id,)).fetchone()
        return None if row is None else row_dict(INVITATION_COLUMNS, row)

    def stored_scope(self) -> tuple[set[str], set[str]]:
        rows = self.conn.execute("SELECT DISTINCT survey_id, tier FROM invitations").fetchall()
        return {s for s, _ in rows}, {t for _, t in rows}

    def metrics(self, use_rollup: bool = True) -> Any:
        from tierctl.storage.metrics_sqlite import SqliteMetrics

        return SqliteMetrics(self.conn, use_rollup=use_rollup)

    # -- copying ----------------------------------------------------------

    def dump_table(self, table: str) -> Iterator[tuple[Any, ...]]:
        from tierctl.storage.copying import ORDER_BY, TABLES, canonical_value, time_positions, with_canonical_times

        times = time_positions(table)
        cur = self.conn.execute(f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {ORDER_BY[table]}")
        for row in cur:
            if table == "answers":
                yield row[0], row[1], canonical_value(row[2])
            else:
                yield with_canonical_times(row, times)

    def load_table(self, table: str, rows: Any) -> int:
        from tierctl.storage.copying import TABLES, time_positions, with_canonical_times

        columns = TABLES[table]
        times = time_positions(table)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        n = 0
        with self._transaction() as conn:
            batch: list[Any] = []
            for row in rows:
                batch.append(with_canonical_times(row, times))
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
                "updated_at = excluded.updated_at", (provider, survey_id, cursor, ts_text(now)))

    # -- helpdesk ratings -------------------------------------------------

    def add_helpdesk_ratings(self, source: str, rows: list["HelpdeskRating"]) -> int:
        with self._transaction() as conn:
            before = conn.execute("SELECT COUNT(*) FROM helpdesk_ratings WHERE source = ?", (source,)).fetchone()[0]
            conn.executemany(
                "INSERT INTO helpdesk_ratings (source, rating_id, tier, organization, score, created_at, day) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, rating_id) DO UPDATE SET tier = excluded.tier, "
                "organization = excluded.organization, score = excluded.score, day = excluded.day",
                [(source, r.rating_id, r.tier, r.organization, r.score, ts_text(r.created_at), r.day) for r in rows])
            after = conn.execute("SELECT COUNT(*) FROM helpdesk_ratings WHERE source = ?", (source,)).fetchone()[0]
        return after - before

    def helpdesk_rating_counts(self) -> list[tuple[str, str, str, str, int]]:
        return [tuple(row) for row in self.conn.execute(  # type: ignore[misc]
            "SELECT source, tier, day, score, COUNT(*) FROM helpdesk_ratings GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4")]
