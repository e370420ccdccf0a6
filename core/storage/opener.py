"""Opening a ledger from ``storage.url``: which backend, which file, create or not.

Kept apart from :mod:`tierctl.storage.ledger` (the interface), so the interface does not
build its own backend.
"""

from __future__ import annotations

from pathlib import Path

from tierctl.errors import TierctlError
from tierctl.storage.ledger import Ledger

#: The ledger when ``storage.url`` is not set: beside the config file.
DEFAULT_URL = "sqlite:///.tierctl/state.db"


def _url_error(url: object, problem: str) -> TierctlError:
    return TierctlError(
        f"storage.url: {problem}: {url!r}. Supported: sqlite:///relative/path.db (relative to "
        f"the config file's folder) or sqlite:////absolute/path.db; postgresql is planned. "
        f"Set storage.url to a sqlite URL, or remove it to use the default {DEFAULT_URL}."
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


def _sqlite_location(url: str | None, base_dir: Path) -> tuple[Path, bool]:
    """The database file ``storage.url`` names, and whether it was given relative to ``base_dir``."""
    if url is None or url == "":
        url = DEFAULT_URL
    if not isinstance(url, str):
        raise _url_error(url, "expected a URL string")
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        raise _url_error(url, "the postgresql backend is planned but not available yet")
    if scheme != "sqlite":
        raise _url_error(url, f"unsupported scheme {scheme!r}" if scheme else "not a URL")
    return sqlite_path(url, base_dir), not url.partition("://")[2].startswith("//")


def ledger_exists(url: str | None, base_dir: Path) -> bool:
    """Whether the ledger ``storage.url`` names exists already, without creating it.

    For commands that only read (planning, status): they must not create
    state. Takes the same arguments as :func:`open_ledger`.

    :raises tierctl.errors.TierctlError: an unsupported URL.
    """
    return _sqlite_location(url, base_dir)[0].is_file()


def open_ledger(url: str | None, base_dir: Path) -> Ledger:
    """Open (creating and migrating if needed) the ledger that ``storage.url`` names.

    :param url: ``sqlite:///relative/path.db`` (relative to ``base_dir``; its
        folders are created) or ``sqlite:////absolute/path.db``; ``None`` or
        ``""`` means :data:`DEFAULT_URL`.
    :param base_dir: the config file's folder.
    :raises tierctl.errors.TierctlError: an unsupported URL, or a database
        that cannot be opened or was written by a newer tierctl.
    """
    path, relative = _sqlite_location(url, base_dir)
    from tierctl.storage.ledger_sqlite import SqliteLedger

    return SqliteLedger(path, create_dirs=relative)


def existing_ledger(url: str | None, base_dir: Path) -> Ledger | None:
    """The ledger if it exists, else None: for commands that read and must not create state."""
    return open_ledger(url, base_dir) if ledger_exists(url, base_dir) else None
