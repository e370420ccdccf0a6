"""The floor for benchmarks/bench_serve.py: a bare Starlette endpoint that parses the same form and
does the same SQLite write (one response and its answers, WAL, synchronous = FULL, BEGIN IMMEDIATE)
with nothing else: no link check, CSRF, validation, hook or rollup.

Run by uvicorn: ``uvicorn --factory bare_serve_app:create_app`` with ``BARE_DB`` set.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime, timezone

_local = threading.local()


def _conn() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = sqlite3.connect(os.environ["BARE_DB"], timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def setup(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS responses (invite_id TEXT PRIMARY KEY, submitted_at TEXT NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS answers (invite_id TEXT, question_id TEXT, value, "
                 "PRIMARY KEY (invite_id, question_id))")
    conn.close()


def _store(invite_id: str, answers: dict[str, str]) -> None:
    conn = _conn()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)",
                     (invite_id, datetime.now(timezone.utc).isoformat()))
        conn.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                         [(invite_id, k, v) for k, v in answers.items()])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def create_app():
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def submit(request):
        form = await request.form()
        answers = {k: v for k, v in form.items() if k != "csrf" and isinstance(v, str)}
        await run_in_threadpool(_store, request.path_params["token"], answers)
        return RedirectResponse(f"/s/{request.path_params['token']}/thanks", status_code=303)

    return Starlette(routes=[Route("/s/{token}", submit, methods=["POST"])])
