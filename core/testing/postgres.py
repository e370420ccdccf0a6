"""A real PostgreSQL server for tests and benchmarks, from the machine's own binaries.

:class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` in a temporary
folder, on a free port of 127.0.0.1, trusting local connections, and
removes everything when stopped. PostgreSQL refuses to run as root: when
the tests run as root (CI does), the server runs as an unprivileged user
(``TIERCTL_TEST_POSTGRES_USER``, default ``nobody``).

:func:`fresh_schema` gives each test its own empty schema in that one
server (a ``storage.url`` whose ``search_path`` is the schema), so the
server starts once per test session.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from typing import Any

from tierctl.testing.sockets import unused_port

__all__ = ["PostgresServer", "postgres_bindir", "fresh_schema"]


def postgres_bindir() -> str | None:
    """The folder with ``initdb`` and ``pg_ctl`` (Debian keeps them out of PATH), or ``None``."""
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(candidates[-1]) if candidates else None


class PostgresServer:
    """A throw-away PostgreSQL server: ``with PostgresServer() as server: server.url``.

    ``durable=False`` (tests) turns off fsync and synchronous commit; a
    benchmark passes ``durable=True`` to measure what a real server does.
    """

    def __init__(self, *, durable: bool = False, user: str | None = None):
        self.bindir = postgres_bindir()
        if self.bindir is None:
            raise FileNotFoundError("PostgreSQL's initdb and pg_ctl were not found (Debian: apt-get install postgresql)")
        self.durable = durable
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = user or os.environ.get("TIERCTL_TEST_POSTGRES_USER", "nobody")
        self.port = 0
        self.folder = ""
        self.url = ""

    def _run(self, *args: str) -> None:
        result = subprocess.run([os.path.join(self.bindir or "", args[0]), *args[1:]], capture_output=True,
                                text=True, user=self.run_as, cwd=self.folder, timeout=120)
        if result.returncode != 0:
            log = ""
            logfile = os.path.join(self.folder, "server.log")
            if os.path.exists(logfile):
                with open(logfile, encoding="utf-8", errors="replace") as f:
                    log = f.read()[-2000:]
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}\n{log}")

    def start(self) -> "PostgresServer":
        self.folder = tempfile.mkdtemp(prefix="tierctl-pg-")
        if self.run_as is not None:
            shutil.chown(self.folder, self.run_as)
        data = os.path.join(self.folder, "data")
        self._run("initdb", "-D", data, "-U", "tierctl", "--auth=trust", "-E", "UTF8", "--no-sync",
                  "--locale=C")
        for _ in range(5):
            self.port = unused_port()
            options = ["-c listen_addresses=127.0.0.1", f"-p {self.port}", f"-k {self.folder}",
                       "-c max_connections=200", "-c shared_buffers=128MB"]
            if not self.durable:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            try:
                self._run("pg_ctl", "-D", data, "-l", os.path.join(self.folder, "server.log"), "-w", "-t", "60",
                          "-o", " ".join(options), "start")
                break
            except RuntimeError:
                if "could not bind" not in self._log() and "already in use" not in self._log():
                    raise
        self.url = f"postgresql://tierctl@127.0.0.1:{self.port}/postgres"
        return self

    def _log(self) -> str:
        try:
            with open(os.path.join(self.folder, "server.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        if self.folder:
            try:
                self._run("pg_ctl", "-D", os.path.join(self.folder, "data"), "-m", "immediate", "-w", "stop")
            except Exception:
                pass
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = ""

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_counter = iter(range(1, 1 << 30))


def fresh_schema(base_url: str, prefix: str = "t") -> str:
    """Create an empty schema on the server at ``base_url``; return a URL whose tables go there."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000) % 10**9}_{next(_counter)}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return with_search_path(base_url, name)


def with_search_path(base_url: str, schema: str) -> str:
    """``base_url`` with libpq ``options`` that make ``schema`` the search path."""
    parts = urllib.parse.urlsplit(base_url)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "options"] + [("options", f"-csearch_path={schema}")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def drop_schema(url: str) -> None:
    """Drop the schema a :func:`fresh_schema` URL names (best effort)."""
    import psycopg

    schema = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)).get("options", "").partition("=")[2]
    if not schema:
        return
    base = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(query=""))
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except Exception:
        pass


def server_or_reason(durable: bool = False) -> tuple[Any, str]:
    """``(started server, "")`` or ``(None, why not)``: for fixtures that skip without binaries."""
    if postgres_bindir() is None:
        return None, "PostgreSQL is not installed (Debian: apt-get install postgresql); .ci/run installs it"
    return PostgresServer(durable=durable).start(), ""
