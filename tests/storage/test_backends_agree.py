"""The two built-in backends agree: the same data gives the same report JSON on SQLite and on
PostgreSQL, and ``tierctl ledger copy`` moves a ledger either way without loss."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from metrics_fixtures import CONFIG, load, write_config
from project_fixtures import run_cli

from tierctl.cli import cli
from tierctl.publish.report import build_report, report_dict
from tierctl.records import SendResult, StoredResponse
from tierctl.storage.ledger import Ledger
from tierctl.storage.opener import open_ledger
from tierctl.testing.ledger_contract import invitation
from tierctl.testing.postgres import drop_schema, fresh_schema

TYPES = {"nps": "nps", "sat": "csat", "effort": "ces", "docs": "rating", "plan": "choice", "next": "text"}
START = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)


def fill(ledger: Ledger, n: int = 400, seed: int = 7) -> None:
    """``n`` invitations over two quarters, three tiers and every state; most sent ones answered."""
    rng = random.Random(seed)
    run = ledger.begin_run("send", START)
    sent, results = [], []
    for k in range(n):
        day = START + timedelta(days=rng.randrange(170))
        tier = rng.choice(["basic", "standard", "advanced"])
        survey = "review" if tier == "advanced" and k % 7 == 0 else "feedback"
        inv = replace(invitation(k, survey=survey, occasion=f"occ-{k}"), tier=tier, due_at=day,
                      closes_at=day + timedelta(days=30), due_day=day.date().isoformat())
        claimed = ledger.claim_batch([inv], run, day, "mail", {})
        outcome = rng.random()
        if outcome < 0.8:
            results.append(SendResult.sent(inv.invite_id, f"ext-{k}"))
            sent.append(claimed[0])
        elif outcome < 0.9:
            results.append(SendResult.failed(inv.invite_id, "bounced"))
        elif outcome < 0.95:
            results.append(SendResult.failed(inv.invite_id, "429", retry=True))
    ledger.record_results(results, START + timedelta(days=200))
    ledger.finish_run(run, START + timedelta(days=200), "ok", {"sent": len(sent)})
    ledger.set_cursor("typeform", "feedback", "page-9", START)
    links = ledger.lookup_invitations([i.invite_id for i in sent])
    responses = []
    for inv in sent:
        if rng.random() < 0.3:
            continue
        link = links[inv.invite_id]
        if inv.survey_id == "review":
            answers, types = {"agenda": rng.choice(["pricing", "roadmap <b>", "=SUM(A1)"])}, {"agenda": "text"}
        else:
            answers = {"nps": rng.randrange(11), "sat": rng.randrange(1, 6), "effort": rng.randrange(1, 8),
                       "docs": rng.randrange(1, 11), "plan": rng.choice(["Basic", "=Pro", "Enterprise"]),
                       "next": rng.choice(["", "SSO", "dark mode", "exports\nand more"])}
            for qid in rng.sample(sorted(answers), rng.randrange(3)):
                del answers[qid]  # a few questions left unanswered
            types = TYPES
        responses.append(StoredResponse(
            f"import:{inv.invite_id}", inv.invite_id, inv.survey_id, link.tier, link.due_day,
            inv.due_at + timedelta(hours=1 + len(responses) % 97, seconds=len(responses)), "import", answers,
            inv.due_at + timedelta(days=2), types, link.key))
    for start in range(0, len(responses), 50):
        ledger.add_responses(responses[start:start + 50])


def report_json(config, ledger: Ledger, kind: str, use_rollup: bool = True) -> dict:
    return report_dict(build_report(config, ledger, kind, use_rollup=use_rollup))


@pytest.fixture
def pg_url(tierctl_postgres: str):
    url = fresh_schema(tierctl_postgres)
    yield url
    drop_schema(url)


@pytest.mark.slow
def test_the_same_data_gives_the_same_report_json_on_both_backends(tmp_path: Path, pg_url: str):
    config = load(tmp_path)
    with open_ledger(f"sqlite:///{tmp_path}/state.db", tmp_path) as lite, open_ledger(pg_url, tmp_path) as pg:
        fill(lite)
        fill(pg)
        assert lite.status_counts() == pg.status_counts()
        for kind in ("month", "quarter", "year"):
            expected = report_json(config, lite, kind)
            assert expected["surveys"], "the data must give figures"
            assert report_json(config, pg, kind) == expected, kind
            assert report_json(config, pg, kind, use_rollup=False) == expected, kind
        assert lite.responses_for_account("acct-5") == pg.responses_for_account("acct-5")


@pytest.mark.slow
def test_ledger_copy_round_trips_sqlite_to_postgresql_and_back(tmp_path: Path, pg_url: str):
    write_config(tmp_path, CONFIG)
    config = load(tmp_path)
    with open_ledger(f"sqlite:///{tmp_path}/state.db", tmp_path) as lite:
        fill(lite)
        expected = report_json(config, lite, "quarter")
        runs = lite.recent_runs()

    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "tierctl.yaml"), "ledger", "copy", "--to", pg_url,
                                      "--json"])
    assert result.exit_code == 0, result.output
    copied = json.loads(result.stdout)
    assert copied["ok"] and "password" not in result.stdout
    tables = {t["table"]: t for t in copied["tables"]}
    assert tables["invitations"]["source_rows"] == tables["invitations"]["target_rows"] == 400
    assert tables["answers"]["source_sha256"] == tables["answers"]["target_sha256"]
    with open_ledger(pg_url, tmp_path) as pg:
        assert report_json(config, pg, "quarter") == expected
        assert pg.recent_runs() == runs
        # New claims on the copy get new keys after the copied ones.
        run = pg.begin_run("send", START)
        assert run > runs[0]["id"]
        assert pg.claim_batch([invitation("new")], run, START, "mail", {})
        counts = pg.status_counts()

    # And back into a new SQLite file, from the PostgreSQL ledger (plain output this time).
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "tierctl.yaml"), "ledger", "copy", "--from", pg_url,
                                      "--to", "sqlite:///back.db"])
    assert result.exit_code == 0, result.output
    assert "every table matches" in result.stdout and "invitations" in result.stdout
    with open_ledger(f"sqlite:///{tmp_path}/back.db", tmp_path) as back:
        assert back.status_counts() == counts  # the claim made on the copy came along
        assert back.lookup_invitations(["inv-nps-new-2026-Q1"])

    # A target that holds a ledger already is refused, with exit 2 and nothing copied.
    code, out, err = run_cli(["-c", str(tmp_path / "tierctl.yaml"), "ledger", "copy", "--to", pg_url], None)
    assert code == 2 and "already holds runs" in err and "Traceback" not in err
