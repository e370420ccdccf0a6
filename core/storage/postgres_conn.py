"""Connecting to PostgreSQL for the ledger: the URL, psycopg (imported here, lazily), errors, and leases.

* ``storage.url`` is a libpq URL, ``postgresql://user@host:5432/dbname``;
  the password comes best from the environment (``PGPASSWORD``, or
  ``${PGPASSWORD}`` in the config) and is never printed: every message
  shows the URL with the password masked. One query parameter is tierctl's
  own, ``lease_seconds`` (default 60): how long a run or lock outlives its
  last heartbeat. The rest is passed to libpq (``sslmode``, ``options``...).
* :class:`Heartbeat` renews this process's leases from a thread with its
  own connection, every third of the lease: a killed runner's leases lapse
  within ``lease_seconds``, a live one's never do.
"""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any

from tierctl.errors import TierctlError

DEFAULT_LEASE_SECONDS = 60.0
SCHEMES = ("postgresql", "postgres")


def masked(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages (also when it is malformed)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a bad port or an unclosed [: mask the text between '//user:' and the last '@'
        head, at, tail = url.rpartition("@")
        scheme, slashes, userinfo = head.partition("//")
        user, colon, _ = userinfo.partition(":")
        return f"{scheme}{slashes}{user}:***@{tail}" if at and colon else url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    return urllib.parse.urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query,
                                    parts.fragment))


def split_url(url: str) -> tuple[str, float]:
    """``(libpq URL, lease seconds)`` from ``storage.url``.

    :raises tierctl.errors.TierctlError: not a postgresql URL, or a bad ``lease_seconds``.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise TierctlError(f"storage.url: not a valid URL: {masked(url)!r}: {exc}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise TierctlError(f"storage.url: not a postgresql URL: {masked(url)!r}")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    lease = DEFAULT_LEASE_SECONDS
    kept = []
    for key, value in query:
        if key == "lease_seconds":
            try:
                lease = float(value)
            except ValueError:
                lease = -1.0
            if not 1 <= lease <= 86400:
                raise TierctlError(f"storage.url: lease_seconds={value!r} in {masked(url)!r}: expected a "
                                   "number of seconds from 1 to 86400 (how long a killed runner's claims "
                                   "stay reserved)")
        else:
            kept.append((key, value))
    libpq = urllib.parse.urlunsplit(("postgresql", parts.netloc, parts.path, urllib.parse.urlencode(kept),
                                     parts.fragment))
    return libpq, lease


def psycopg_module() -> Any:
    """psycopg 3, imported on first use (``tierctl --help`` must not pay for it)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - a dependency of tierctl
        raise TierctlError("storage.url names PostgreSQL, but psycopg is not installed: "
                           "pip install 'psycopg[binary]>=3.1'") from exc
    return psycopg


def connect(libpq_url: str, shown: str) -> Any:
    """An autocommit connection in UTC.

    :raises tierctl.errors.TierctlError: the server cannot be reached or refuses us.
    """
    psycopg = psycopg_module()
    try:
        conn = psycopg.connect(libpq_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TierctlError(f"storage.url: cannot connect to the ledger database {shown}: {text}. Check that "
                           "the server runs, the database exists and the user may log in (README: "
                           "'Pointing tierctl at PostgreSQL')") from None
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


class Heartbeat:
    """Renews this process's run and lock leases until stopped; a daemon thread with its own connection."""

    def __init__(self, libpq_url: str, shown: str, lease_seconds: float):
        self.libpq_url, self.shown, self.lease_seconds = libpq_url, shown, lease_seconds
        self.runs: set[int] = set()
        self.locks: set[tuple[str, str]] = set()  # (name, holder)
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def add_run(self, run_id: int) -> None:
        with self._guard:
            self.runs.add(run_id)
        self._start()

    def drop_run(self, run_id: int) -> None:
        with self._guard:
            self.runs.discard(run_id)

    def add_lock(self, name: str, holder: str) -> None:
        with self._guard:
            self.locks.add((name, holder))
        self._start()

    def drop_lock(self, name: str, holder: str) -> None:
        with self._guard:
            self.locks.discard((name, holder))

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tierctl-lease", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        conn = None
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                with self._guard:
                    runs, locks = sorted(self.runs), sorted(self.locks)
                if not runs and not locks:
                    continue
                try:
                    if conn is None:
                        conn = connect(self.libpq_url, self.shown)
                    lease = f"{self.lease_seconds} seconds"
                    if runs:
                        conn.execute("UPDATE runs SET lease_until = clock_timestamp() + %s::interval "
                                     "WHERE id = ANY(%s) AND finished_at IS NULL", (lease, runs))
                    for name, holder in locks:
                        conn.execute("UPDATE leases SET expires_at = clock_timestamp() + %s::interval "
                                     "WHERE name = %s AND holder = %s", (lease, name, holder))
                except Exception:  # a lost connection: try again next beat, the lease has slack
                    if conn is not None:
                        try:
                            conn.close()
                        except Exception:
                            pass
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def describe_error(exc: BaseException) -> TierctlError:
    """The user's error for a psycopg error that escaped the ledger: the server's words, what to do."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TierctlError(f"the PostgreSQL ledger failed: {text}. Check that the server is up and the user has "
                        "the privileges the README lists ('Pointing tierctl at PostgreSQL'), then run again")
