"""Opening a ledger from ``storage.url``: which backend, which database, create or not.

Backends register under the entry-point group ``tierctl.storage``, named
by the URL scheme they serve, exactly as a third party's would:
``sqlite`` and ``postgresql`` (also ``postgres``) are tierctl's own. An
entry point names a :class:`StorageBackend`: an object with
``open(url, base_dir) -> Ledger`` and ``exists(url, base_dir) -> bool``.

Kept apart from :mod:`tierctl.storage.ledger` (the interface), so the
interface does not build its own backend.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from tierctl.errors import LedgerDamagedError, TierctlError
from tierctl.storage.ledger import Ledger

if TYPE_CHECKING:
    from tierctl.config.model import Config

#: The ledger when ``storage.url`` is not set: beside the config file.
DEFAULT_URL = "sqlite:///.tierctl/state.db"
ENTRY_POINT_GROUP = "tierctl.storage"


class StorageBackend(Protocol):
    """What a ``tierctl.storage`` entry point names."""

    def open(self, url: str, base_dir: Path, *, read_only: bool = False) -> Ledger:
        """Open (creating and migrating if needed) the ledger at ``url``; ``read_only``: never create."""

    def exists(self, url: str, base_dir: Path) -> bool:
        """Whether the ledger at ``url`` exists already, without creating it."""


def _url_error(url: object, problem: str) -> TierctlError:
    if isinstance(url, str):
        from tierctl.storage.postgres_conn import masked  # urllib only; psycopg stays unimported

        url = masked(url)
    return TierctlError(
        f"storage.url: {problem}: {url!r}. Supported: sqlite:///relative/path.db (relative to "
        f"the config file's folder), sqlite:////absolute/path.db, or postgresql://user@host:5432/dbname "
        f"(see the README, 'Pointing tierctl at PostgreSQL'). "
        f"Set storage.url to one of these, or remove it to use the default {DEFAULT_URL}."
    )


def sqlite_path(url: str, base_dir: Path) -> Path:
    """The database file a ``sqlite:///`` URL names (relative paths start at ``base_dir``).

    :raises tierctl.errors.TierctlError: not a usable sqlite URL.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        raise _url_error(url, "not a sqlite URL")
    if not rest.startswith("/"):
        raise _url_error(url, "a sqlite URL has three slashes before a relative path, "
                              "four before an absolute one (no host)")
    path = rest[1:]
    if not path or path.endswith("/") or "?" in path or path == ":memory:":
        raise _url_error(url, "a sqlite URL must name a database file")
    return Path(path) if path.startswith("/") else Path(base_dir) / path


class SqliteBackend:
    """``sqlite:///path.db``: one local file (:class:`tierctl.storage.ledger_sqlite.SqliteLedger`)."""

    def open(self, url: str, base_dir: Path, *, read_only: bool = False) -> Ledger:
        from tierctl.storage.ledger_sqlite import SqliteLedger

        relative = not url.partition("://")[2].startswith("//")
        return SqliteLedger(sqlite_path(url, base_dir), create_dirs=relative, read_only=read_only)

    def exists(self, url: str, base_dir: Path) -> bool:
        return sqlite_path(url, base_dir).is_file()


class PostgresBackend:
    """``postgresql://user@host/db``: a shared database (:class:`tierctl.storage.ledger_postgres.PostgresLedger`)."""

    def open(self, url: str, base_dir: Path, *, read_only: bool = False) -> Ledger:
        from tierctl.storage.ledger_postgres import PostgresLedger

        return PostgresLedger(url, read_only=read_only)

    def exists(self, url: str, base_dir: Path) -> bool:
        # The database is made by its administrator; the ledger exists once the first run created its tables.
        from tierctl.storage.ledger_postgres import ledger_tables_exist

        return ledger_tables_exist(url)


SQLITE = SqliteBackend()
POSTGRESQL = PostgresBackend()
#: tierctl's own backends (also listed as entry points): found without reading the installed metadata.
_BUILT_IN: dict[str, StorageBackend] = {"sqlite": SQLITE, "postgresql": POSTGRESQL, "postgres": POSTGRESQL}


def backend_for(url: str | None) -> tuple[str, StorageBackend]:
    """``(url, backend)`` for ``storage.url`` (``None`` or ``""`` is :data:`DEFAULT_URL`).

    :raises tierctl.errors.TierctlError: not a URL, or no backend serves its scheme.
    """
    if url is None or url == "":
        url = DEFAULT_URL
    if not isinstance(url, str):
        raise _url_error(url, "expected a URL string")
    if "://" not in url:
        raise _url_error(url, "not a URL")
    scheme = url.partition("://")[0].lower()
    if scheme in _BUILT_IN:
        # tierctl's own schemes need no look-up in the installed metadata: scanning every
        # distribution's entry points costs ~15 ms, more than the rest of opening a ledger.
        return url, _BUILT_IN[scheme]
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == scheme:
            try:
                return url, ep.load()
            except Exception as exc:
                raise TierctlError(f"storage.url: the storage backend {scheme!r} ({ep.value}) failed to load: "
                                   f"{type(exc).__name__}: {exc}; reinstall the package that provides it") from exc
    known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(_BUILT_IN))
    raise _url_error(url, f"unsupported scheme {scheme!r} (installed backends: {', '.join(known)})"
                     if scheme else "not a URL")


def check_storage_url(config: "Config") -> None:
    """Raise a ConfigError at ``storage.url``'s line when no backend can use it (nothing is opened)."""
    from tierctl.errors import ConfigError

    try:
        url, backend = backend_for(config.storage.url)
        if isinstance(backend, SqliteBackend):
            sqlite_path(url, config.base_dir)
        elif isinstance(backend, PostgresBackend):
            from tierctl.storage.postgres_conn import split_url  # no psycopg import: only the URL is read

            split_url(url)
    except TierctlError as exc:
        raise ConfigError([config.problem(("storage", "url"), str(exc).removeprefix("storage.url: "))]) from None


def ledger_exists(url: str | None, base_dir: Path) -> bool:
    """Whether the ledger ``storage.url`` names exists already, without creating it.

    For commands that only read (planning, status): they must not create
    state. Takes the same arguments as :func:`open_ledger`.

    :raises tierctl.errors.TierctlError: an unsupported URL.
    """
    url, backend = backend_for(url)
    return backend.exists(url, base_dir)


def open_ledger(url: str | None, base_dir: Path, *, read_only: bool = False,
                redact: Callable[[str], str] | None = None) -> Ledger:
    """Open (creating and migrating if needed) the ledger that ``storage.url`` names.

    Every open checks cheaply that the ledger is whole (its schema, the
    edges of its tables); an existing file that is not a whole tierctl
    ledger (emptied, another program's, damaged) is refused, never
    initialised. A ledger this call created has ``created`` set, so the
    caller can say "new ledger at ...".

    :param url: ``sqlite:///relative/path.db`` (relative to ``base_dir``; its
        folders are created), ``sqlite:////absolute/path.db``,
        ``postgresql://user@host/dbname``, or a scheme a third-party backend
        registers; ``None`` or ``""`` means :data:`DEFAULT_URL`.
    :param base_dir: the config file's folder.
    :param read_only: for commands that only read: open without writing
        (a read-only file still works), never create.
    :param redact: applied to provider text before it is stored (``Config.redactor()``).
    :raises tierctl.errors.LedgerDamagedError: not a whole tierctl ledger.
    :raises tierctl.errors.TierctlError: an unsupported URL, or a database
        that cannot be opened or was written by a newer tierctl.
    """
    url, backend = backend_for(url)
    ledger = backend.open(url, base_dir, read_only=read_only)
    if redact is not None:
        ledger.redact = redact  # type: ignore[method-assign]
    return ledger


def existing_ledger(url: str | None, base_dir: Path, *, read_only: bool = True,
                    redact: Callable[[str], str] | None = None) -> Ledger | None:
    """The ledger if it exists, else None: for commands that read and must not create state.

    Opened read-only unless ``read_only=False`` (for a command that writes to
    an existing ledger only, such as ``survey import``).
    """
    return open_ledger(url, base_dir, read_only=read_only, redact=redact) if ledger_exists(url, base_dir) else None


def check_ledger(url: str | None, base_dir: Path) -> list[str]:
    """Everything wrong with the ledger, reading every page (``tierctl ledger check``); empty: whole.

    :raises tierctl.errors.TierctlError: no ledger, or an unsupported URL.
    """
    import sqlite3

    url, backend = backend_for(url)
    if not isinstance(backend, SqliteBackend):
        with backend.open(url, base_dir, read_only=True) as ledger:
            return ledger.check()  # type: ignore[attr-defined]
    from tierctl.storage.ledger_sqlite import SqliteLedger
    from tierctl.storage.sqlite_schema import expected
    from tierctl.storage.sqlite_checks import integrity_problems

    path = _existing_path(url, base_dir)
    try:
        ledger = SqliteLedger(path, read_only=True)
    except LedgerDamagedError as exc:
        problems = [str(exc)]
        try:  # what SQLite itself finds, if the file opens at all
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                problems += integrity_problems(conn, expected())
            finally:
                conn.close()
        except sqlite3.Error as sqlite_exc:
            problems.append(f"SQLite: {sqlite_exc}")
        return problems
    with ledger:
        return ledger.check()  # type: ignore[attr-defined]


def backup_ledger(url: str | None, base_dir: Path, dest: Path) -> Path:
    """Copy the ledger to ``dest`` (a file, or a folder to put ``<name>-<UTC time>.db`` in), safely
    while a send runs; returns the file written.

    :raises tierctl.errors.TierctlError: no ledger, a damaged one, or ``dest`` not writable.
    """
    from datetime import datetime, timezone

    url, backend = backend_for(url)
    if not isinstance(backend, SqliteBackend):
        raise TierctlError("tierctl ledger backup writes SQLite files; back a PostgreSQL ledger up with the "
                           "database's own tools (pg_dump), or copy it into a SQLite file with "
                           "tierctl ledger copy --to sqlite:///backup.db")
    path = _existing_path(url, base_dir)
    dest = Path(dest)
    if dest.is_dir():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        dest = dest / f"{path.stem}-{stamp}{path.suffix}"
    if dest.resolve() == path.resolve():
        raise TierctlError(f"the backup {dest} would overwrite the ledger itself; choose another place")
    if not dest.parent.is_dir():
        raise TierctlError(f"cannot write the backup {dest}: the folder {dest.parent} does not exist")
    ledger = open_ledger(url, base_dir, read_only=True)
    with ledger:
        try:
            ledger.backup(dest)  # type: ignore[attr-defined]
        except OSError as exc:
            raise TierctlError(f"cannot write the backup {dest}: {exc.strerror or exc}") from exc
    return dest


def _existing_path(url: str, base_dir: Path) -> Path:
    path = sqlite_path(url, base_dir)
    if not path.is_file():
        raise TierctlError(f"there is no ledger at {path} (storage.url); nothing was sent from here yet")
    return path


def storage_error(exc: BaseException) -> TierctlError | None:
    """The user's error for a storage backend's own exception that escaped the ledger, or None when
    ``exc`` is not one."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.Error):
        from tierctl.storage.postgres_conn import describe_error

        return describe_error(exc)
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is None or not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.IntegrityError):
        return None
    from tierctl.storage.sqlite_checks import describe_error as describe_sqlite_error

    return describe_sqlite_error(exc, "(storage.url)")
