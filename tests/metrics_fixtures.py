"""Ledgers with hand-made invitations, responses and answers, for the metrics and report tests.

Rows go straight into a real, migrated ledger (``open_ledger``), the way the
send engine and the response store leave them; the rollup tables are added
only when a test asks for them (as the ledger migration that adopts them
would).
"""

from __future__ import annotations

import itertools
import sqlite3
import textwrap
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierctl.config.loader import load_config
from tierctl.storage.opener import open_ledger
from tierctl.storage.metrics_sqlite import ROLLUP_DDL, fold_answers, has_rollup, rebuild_rollup
from tierctl.host.plugin_host import PluginHost
from tierctl.records import StoredResponse

if TYPE_CHECKING:
    from tierctl.config.model import Config

#: The config the hand-computed fixtures use: every question type, three tiers, benchmarks.
CONFIG = """\
    version: 1
    organization: {name: Acme <Analytics> & Co, timezone: Europe/Amsterdam, language: en}
    tiers:
      basic: {name: Basic, touch_model: tech-touch, plans: [free], surveys: [feedback]}
      standard: {name: Standard, touch_model: low-touch, plans: [team], surveys: [feedback]}
      advanced: {name: Advanced, touch_model: high-touch, plans: [enterprise], surveys: [feedback, review]}
    surveys:
      feedback:
        title: Quarterly feedback
        questions:
          - {id: nps, type: nps, text: How likely are you to recommend us?}
          - {id: sat, type: csat, text: How satisfied are you?}
          - {id: effort, type: ces, text: It was easy to get my work done.}
          - {id: docs, type: rating, text: Rate our docs, scale: [1, 10]}
          - {id: plan, type: choice, text: Which plan fits?, choices: [Basic, "=Pro", Enterprise]}
          - {id: next, type: text, text: What should we build next?}
      review:
        title: Before our review
        questions:
          - {id: agenda, type: text, text: What should we cover?}
    benchmarks:
      - {metric: csat, value: 92.5, source: Benchmark report, year: 2018}
      - {metric: nps, value: 36, source: Published median, label: Median NPS}
      - {metric: response_rate, value: 26, source: B2B e-mail surveys, survey: feedback}
    storage: {url: "sqlite:///state.db"}
    render:
      website: {format: html, out: site}
      sales: {format: markdown, out: sales}
    """

_ids = itertools.count(1)


def write_config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "tierctl.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def make_host() -> PluginHost:
    """The renderers and filters the config's targets need, and nothing else."""
    from tierctl.plugins import filters, html_site, markdown_sales

    return PluginHost.from_modules({"html": html_site, "markdown": markdown_sales, "filters": filters})


def load(folder: Path, text: str = CONFIG) -> "Config":
    """Write the config into ``folder`` and load it."""
    return load_config(write_config(folder, text), make_host())


def ledger_url(folder: Path) -> str:
    return f"sqlite:///{Path(folder).resolve()}/state.db"


class Fixture:
    """A migrated ledger in ``folder`` to put invitations and responses in.

    ``respond`` stores a response with answers given as ``{question_id:
    (qtype, value)}``: a number is a score, a string a choice or free text.
    """

    def __init__(self, folder: Path, rollup: bool = False):
        self.folder = Path(folder)
        self.ledger = open_ledger(ledger_url(self.folder), self.folder)
        self.conn: sqlite3.Connection = self.ledger.conn  # type: ignore[attr-defined]
        if rollup:
            add_rollup(self.conn)

    def close(self) -> None:
        self.ledger.close()

    def invite(self, survey: str, tier: str, day: str, state: str = "sent", account: str = "acct") -> str:
        n = next(_ids)
        invite_id = f"inv{n}"
        at = f"{day}T08:00:00.000000+00:00"
        self.conn.execute(
            "INSERT INTO invitations (invite_id, survey_id, contact_email, occasion, tier, account_id, provider, "
            "state, throttled, due_at, closes_at, created_at, updated_at, sent_at, attempts, due_day) "
            "VALUES (?, ?, ?, ?, ?, ?, 'mail', ?, 1, ?, ?, ?, ?, ?, 1, ?)",
            (invite_id, survey, f"c{n}@{account}.example", f"occ-{n}", tier, account, state, at, at, at, at,
             at if state == "sent" else None, day))
        return invite_id

    def respond(self, invite_id: str, answers: dict[str, tuple[str, Any]], submitted: str | None = None,
                fold: bool = True) -> str:
        key, survey, tier, day = self.conn.execute(
            "SELECT id, survey_id, tier, due_day FROM invitations "
            "WHERE invite_id = ?", (invite_id,)).fetchone()
        response_id = f"import:{invite_id}"
        at = submitted or f"{day}T12:00:00.000000+00:00"
        types = {qid: qtype for qid, (qtype, _) in answers.items()}
        values = {qid: value for qid, (_, value) in answers.items()}
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("INSERT INTO questions (survey_id, question_id, qtype) VALUES (?, ?, ?) "
                              "ON CONFLICT DO NOTHING", [(survey, qid, qtype) for qid, qtype in types.items()])
        self.conn.execute(
            "INSERT INTO responses (invitation, response_id, source, submitted_at, received_at) "
            "VALUES (?, ?, 'import', ?, ?)", (key, response_id, at, at))
        self.conn.executemany("INSERT INTO answers (invitation, question_id, value) VALUES (?, ?, ?)",
                              [(key, qid, value) for qid, value in values.items()])
        if fold:
            fold_answers(self.conn, [StoredResponse(
                response_id, invite_id, survey, tier, day, datetime.fromisoformat(at), "import", values,
                question_types=types, invitation=key)])
        self.conn.execute("COMMIT")
        return response_id

    def answer(self, survey: str, tier: str, day: str, answers: dict[str, tuple[str, Any]], **kw: Any) -> str:
        """An invitation, sent, and its response."""
        return self.respond(self.invite(survey, tier, day), answers, **kw)


def add_rollup(conn: sqlite3.Connection) -> None:
    """Create and fill the rollup tables, as the ledger migration that adopts them would."""
    if has_rollup(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    for statement in ROLLUP_DDL:
        conn.execute(statement)
    rebuild_rollup(conn)
    conn.execute("COMMIT")
