"""`tierctl survey import` into PostgreSQL: each batch is stored by a background writer while the
next one is read (tierctl.responses.overlap); a failure there reaches the user exactly as it would
without the thread, and nothing after the failing batch is committed. The rollup the import counts
(plain answers grouped, multiple_choice ones exploded) is the rollup counted again from scratch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from test_responses import QUESTIONS, SEND_AT, contacts, invoke, write_csv

from project_fixtures import PROJECT_YAML
from tierctl.errors import TierctlError
from tierctl.responses import csv_import
from tierctl.storage.ledger_postgres import PostgresLedger
from tierctl.storage.opener import open_ledger
from tierctl.testing.postgres import drop_schema, fresh_schema

YAML = PROJECT_YAML.replace("""    questions:
      - {id: nps, type: nps, text: Would you recommend us?}
""", QUESTIONS + """      - {id: areas, type: multiple_choice, text: What matters to you?,
         choices: [Speed, Price, "Support, 24/7"]}
""")
HEADER = ["invite_id", "submitted_at", "nps", "effort", "stars", "plan", "next", "areas"]


@pytest.fixture
def pg_project(project, tierctl_postgres: str, tmp_path: Path):
    """A new project on its own PostgreSQL schema whose 6 contacts were sent product-feedback:
    (config, url, invite ids in contact order)."""
    urls = []

    def make(name: str) -> tuple[Path, str, list[str]]:
        url = fresh_schema(tierctl_postgres)
        urls.append(url)
        config = project(contacts(6), yaml=YAML)
        config.write_text(config.read_text() + f'storage: {{url: "{url}"}}\n')
        code, out, err = invoke(config, "send", "--now", SEND_AT)
        assert code == 0 and "sent 6 of 6 due" in out, out + err
        with open_ledger(url, config.parent) as ledger:
            by_email = {row["contact_email"]: row["invite_id"] for row in ledger.invitations(state="sent")}
        return config, url, [by_email[f"p{i}@acc{i}.example"] for i in range(6)]

    yield make
    for url in urls:
        drop_schema(url)


def rows(ids: list[str]) -> list[list[str]]:
    return [[invite, f"2027-01-0{5 + k % 3}T10:00:00Z", str(k), "5", "7", ["Keep", "Upgrade", ""][k % 3],
             ["", "Dark mode", "SSO\nand more"][k % 3], ["Speed; Price", "", "Support, 24/7"][k % 3]]
            for k, invite in enumerate(ids)]


def stored_invites(url: str, folder: Path) -> set[str]:
    with open_ledger(url, folder) as ledger:
        return {row["invite_id"] for row in ledger.invitations(state="sent") if ledger.responses_for_account(
            row["account_id"])}


def test_a_failure_in_the_writer_thread_reaches_the_user_unchanged_and_nothing_after_it_is_stored(
        pg_project, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(csv_import, "BATCH_SIZE", 2)  # 6 rows: three batches
    real_add = PostgresLedger.add_responses
    threads: list[str] = []

    def add_responses(self, batch):
        threads.append(threading.current_thread().name)
        if len(threads) == 2:
            raise TierctlError("the database server stopped: No space left on device")
        return real_add(self, batch)

    monkeypatch.setattr(PostgresLedger, "add_responses", add_responses)
    outcomes = []
    for overlapped in (True, False):
        monkeypatch.setattr(PostgresLedger, "overlapped_writes", overlapped)
        threads.clear()
        config, url, ids = pg_project(f"overlapped-{overlapped}")
        path = write_csv(tmp_path / f"export-{overlapped}.csv", rows(ids), header=HEADER)
        code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
        # Batch 1 committed; batch 2 failed; batch 3 never stored (not even handed to the writer).
        assert len(threads) == 2, threads
        assert stored_invites(url, config.parent) == set(ids[:2])
        outcomes.append((code, out, err.replace(str(path), "PATH"), threads[:]))
    (code, out, err, in_thread), (code_direct, out_direct, err_direct, direct) = outcomes
    assert all(name != threading.main_thread().name for name in in_thread), in_thread
    assert direct == [threading.main_thread().name] * 2
    assert code != 0 and "No space left on device" in out + err
    assert (code, out, err) == (code_direct, out_direct.replace("export-False", "export-True"), err_direct)


def test_the_rollup_counted_by_an_import_is_the_rollup_counted_from_scratch(pg_project, tmp_path: Path):
    config, url, ids = pg_project("rollup")
    path = write_csv(tmp_path / "export.csv", rows(ids), header=HEADER)
    code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
    assert (code, err) == (0, ""), out
    def counts(ledger, use_rollup: bool = True) -> list:
        return sorted(ledger.metrics(use_rollup=use_rollup).answer_counts("month", None, None), key=repr)

    with open_ledger(url, config.parent) as ledger:
        counted = counts(ledger)
        assert {row[6] for row in counted if row[4] == "multiple_choice"} == {"Speed", "Price", "Support, 24/7", ""}
        assert counted == counts(ledger, use_rollup=False)
        ledger.rebuild_rollup()
        assert counts(ledger) == counted


def test_a_re_import_adds_only_the_new_rows_and_counts_them_once(pg_project, tmp_path: Path, monkeypatch):
    # Batch 1 adds every response (counted from the staging tables directly); batch 2 of the second
    # file holds one stored response and one new (the added ones staged and joined apart).
    monkeypatch.setattr(csv_import, "BATCH_SIZE", 2)
    config, url, ids = pg_project("again")
    first = write_csv(tmp_path / "first.csv", rows(ids[:3]), header=HEADER)
    code, out, err = invoke(config, "import", str(first), "--survey", "product-feedback")
    assert (code, err) == (0, "") and "3 added, 0 duplicates" in out, out
    changed = [[invite, at, "0" if k < 3 else nps, *rest] for k, (invite, at, nps, *rest) in enumerate(rows(ids))]
    second = write_csv(tmp_path / "second.csv", changed, header=HEADER)
    code, out, err = invoke(config, "import", str(second), "--survey", "product-feedback")
    assert (code, err) == (0, "") and "3 added, 3 duplicates" in out, out

    def counts(ledger, use_rollup: bool = True) -> list:
        return sorted(ledger.metrics(use_rollup=use_rollup).answer_counts("month", None, None), key=repr)

    with open_ledger(url, config.parent) as ledger:
        # The first import's answers stay: a duplicate's answers are neither stored nor counted.
        nps = {r["invite_id"]: r["answers"]["nps"]["score"] for i in range(6)
               for r in ledger.responses_for_account(f"acc{i}")}
        assert nps == {invite: k % 11 for k, invite in enumerate(ids)}
        counted = counts(ledger)
        assert sum(n for row in counted if row[3] == "nps" for n in [row[7]]) == 6
        assert counted == counts(ledger, use_rollup=False)
        ledger.rebuild_rollup()
        assert counts(ledger) == counted


def test_the_next_batch_is_linked_while_the_last_one_is_stored_and_problems_keep_the_file_order(
        pg_project, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(csv_import, "BATCH_SIZE", 2)
    real_add, real_link = PostgresLedger.add_responses, PostgresLedger.answerable_invitations
    linked_meanwhile: list[bool] = []
    counts = {"linked": 0, "stored": 0}
    changed = threading.Condition()

    def answerable_invitations(self, survey_id, invite_ids):
        with changed:
            counts["linked"] += 1
            changed.notify_all()
        return real_link(self, survey_id, invite_ids)

    def add_responses(self, batch):
        counts["stored"] += 1
        if threading.current_thread() is not threading.main_thread() and counts["stored"] < 5:
            # The main thread links the next batch (its invitations looked up on the ledger's
            # second connection) while this one is being stored.
            with changed:
                linked_meanwhile.append(changed.wait_for(lambda: counts["linked"] > counts["stored"], timeout=20))
        return real_add(self, batch)

    monkeypatch.setattr(PostgresLedger, "answerable_invitations", answerable_invitations)
    monkeypatch.setattr(PostgresLedger, "add_responses", add_responses)
    outputs = []
    for overlapped in (True, False):
        monkeypatch.setattr(PostgresLedger, "overlapped_writes", overlapped)
        counts.update(linked=0, stored=0)
        config, url, ids = pg_project(f"link-{overlapped}")
        good = rows(ids)
        # Bad rows in batches 2, 3 and 4: reported in the file's order either way.
        lines = [good[0], good[1], [ids[2], "yesterday", *good[2][2:]], good[2], ["no-such-invite", *good[3][1:]],
                 good[3], good[4], [ids[5], *good[5][1:3], "99", *good[5][4:]], good[5]]
        path = write_csv(tmp_path / "export.csv", lines, header=HEADER)
        code, out, err = invoke(config, "import", str(path), "--survey", "product-feedback")
        assert stored_invites(url, config.parent) == set(ids)
        outputs.append((code, out, err))
    assert linked_meanwhile == [True] * 4, linked_meanwhile  # batches 1-4 of 5: each has a next one
    (code, out, err), direct = outputs
    assert (code, out, err) == direct
    assert code == 1 and "6 added" in out
    where = [f"export.csv:{n}:" for n in (4, 8, 11)]  # a text answer spans two lines
    assert all(w in err for w in where) and [err.index(w) for w in where] == sorted(err.index(w) for w in where), err
