"""Is a SQLite file a whole tierctl ledger? Cheap checks on every open, a full check, a backup.

A ledger that is quietly taken for a new one makes ``survey send`` survey
everyone again, and a damaged one must stop every command with the same
advice. So:

* :func:`expected_schema` is the schema the migrations build (worked out
  once, in memory), and :func:`schema_problems` compares a ledger with it:
  every table, index and column must be there (extra ones, e.g. an index of
  your own, are allowed).
* :func:`probe` reads the first and the last row of every table: the pages
  most likely to be touched first (a B-tree's root and its edges) are read
  before anything is written. Together with the schema check this costs
  about a millisecond whatever the size (``benchmarks/bench_ledger_open.py``).
* :func:`integrity_problems` is the full check (``PRAGMA integrity_check``,
  reading every page), for ``tierctl ledger check``.
* :func:`backup` copies a ledger with SQLite's online backup API in one
  step under a read transaction: in WAL mode that is a consistent snapshot
  and never blocks a ``survey send`` running at the same time.
* :func:`describe_error` turns a ``sqlite3`` error into the message a user
  needs: locked (exit 3), not writable, or damaged ("restore it from a backup").
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Sequence

from tierctl.errors import LedgerDamagedError, LockHeldError, TierctlError

#: What to do with a damaged ledger; the README's "Backups" section says more.
RESTORE_ADVICE = ("restore it from a backup (tierctl ledger backup; see \"Backups\" in the README), or move it "
                  "away to start a new ledger (everything due would be sent again)")

Migrations = Sequence[tuple[str, Sequence[str]]]

_SCHEMAS: dict[tuple[int, int], "Schema"] = {}


class Schema:
    """Tables (with their columns) and indexes a ledger of a schema version holds."""

    def __init__(self, tables: dict[str, tuple[str, ...]], indexes: dict[str, str], rowid: dict[str, bool],
                 version: int = 0):
        self.version = version
        self.tables = tables
        self.indexes = indexes  # index name -> its table
        self.rowid = rowid  # table name -> has a rowid (not WITHOUT ROWID)


def expected_schema(migrations: Migrations, known: Schema | None = None) -> Schema:
    """The schema the ``migrations`` build: ``known`` when it is of their version (building it
    takes ~10 ms, too much for every start), else read from a scratch in-memory database (cached)."""
    if known is not None and known.version == len(migrations):
        return known
    key = (id(migrations), len(migrations))
    schema = _SCHEMAS.get(key)
    if schema is None:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        try:
            for _, statements in migrations:
                for statement in statements:
                    conn.execute(statement)
            schema = _read_schema(conn)
            schema.version = len(migrations)
        finally:
            conn.close()
        _SCHEMAS[key] = schema
    return schema


def _read_schema(conn: sqlite3.Connection) -> Schema:
    tables: dict[str, tuple[str, ...]] = {}
    indexes: dict[str, str] = {}
    rowid: dict[str, bool] = {}
    for kind, name, table, sql in conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"):
        if kind == "table":
            tables[name] = tuple(row[1] for row in conn.execute(f'PRAGMA table_info("{name}")'))
            rowid[name] = "WITHOUT ROWID" not in (sql or "").upper()
        elif kind == "index":
            indexes[name] = table
    return Schema(tables, indexes, rowid)


def schema_problems(conn: sqlite3.Connection, want: Schema) -> list[str]:
    """What the ledger on ``conn`` lacks of the schema ``want`` (empty: nothing)."""
    have = _read_schema(conn)
    problems = []
    for table, columns in want.tables.items():
        if table not in have.tables:
            problems.append(f"the table {table!r} is missing")
            continue
        missing = [c for c in columns if c not in have.tables[table]]
        if missing:
            problems.append(f"the table {table!r} lacks the column(s) {', '.join(missing)}")
    for index, table in want.indexes.items():
        if index not in have.indexes and table in have.tables:
            problems.append(f"the index {index!r} of the table {table!r} is missing")
    return problems


def probe(conn: sqlite3.Connection, schema: Schema) -> None:
    """Read the first and last rows of every ledger table (raises ``sqlite3.DatabaseError`` if damaged)."""
    for table in schema.tables:
        conn.execute(f'SELECT * FROM "{table}" LIMIT 1').fetchall()
        if schema.rowid[table]:
            conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid DESC LIMIT 1').fetchall()


def integrity_problems(conn: sqlite3.Connection, want: Schema, limit: int = 100) -> list[str]:
    """Everything wrong with the ledger: its schema, then SQLite's ``integrity_check`` (every page)."""
    try:
        problems = schema_problems(conn, want)
        rows = conn.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [f"SQLite: {exc}"]
    return problems + [str(r[0]) for r in rows if r[0] != "ok"]


def backup(conn: sqlite3.Connection, dest: Path) -> None:
    """Copy the ledger on ``conn`` to ``dest`` (a new file, written whole or not at all)."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    try:
        target = sqlite3.connect(tmp, isolation_level=None)
        try:
            # pages=-1: the whole database in one step, under one read transaction,
            # so the copy is one moment of the ledger even while a send writes to it.
            conn.backup(target, pages=-1)
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            check = target.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise TierctlError(f"the backup copy failed its check ({check}); the ledger may be damaged: "
                                   "run tierctl ledger check")
        finally:
            target.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


def describe_error(exc: sqlite3.Error, path: Path | str, busy_timeout: float = 30.0) -> TierctlError:
    """The user's error for a SQLite error on the ledger at ``path``."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return LockHeldError(
            f"the ledger {path} stayed locked by another process for {busy_timeout:g} s; "
            "try again when the other tierctl run has finished")
    if ("readonly" in lowered or "read-only" in lowered or "unable to open" in lowered
            or "disk is full" in lowered or "disk i/o" in lowered or "permission" in lowered):
        return TierctlError(f"cannot use the ledger {path} (SQLite: {text}); check that the file and its "
                            "folder are writable and the disk has room, or change storage.url")
    return LedgerDamagedError(f"the ledger is damaged: {path}: SQLite: {text}; {RESTORE_ADVICE}. "
                              "`tierctl ledger check` lists what is wrong")
