"""Property tests: random mutations of valid customer and response CSV files never crash tierctl.

* customers.csv, through ``survey send`` (in process, outbox provider, real SQLite ledger): exit 0 or 2,
  never a traceback, within 5 s; afterwards nothing is half written: no invitation is left
  ``sending``, every mail in the outbox is an invitation recorded as sent and the other way round,
  and on exit 2 nothing at all was written.
* a responses export, through ``survey import`` into a ledger that sent to the contacts: exit 0, 1
  (bad rows skipped, listed) or 2, never a traceback, within 5 s; afterwards the ledger is whole
  (``ledger check``), every stored response has its answers and the report's rollup agrees.

Seeds are the example files and the named hostile ones. A fixed seed and a bounded number of
examples keep CI time fixed.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutations import mutate
from project_fixtures import EMPTY_ICS, PROJECT_YAML, ROOT, run_cli, write_customers

from tierctl.storage.opener import check_ledger

PROFILE = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large])
SEND_AT = "2027-01-04T09:00:00Z"
HOSTILE = ROOT / "tests" / "data" / "hostile"

CUSTOMERS = [[f"acc{i // 3}", f"Account, {i // 3}", "starter" if i % 2 else "enterprise", "active",
              f"p{i}@acc{i // 3}.example", f"Person \"{i}\"", "key-stakeholder" if i % 3 == 0 else "user", "en"]
             for i in range(9)]
FRAGMENTS = [f.encode() for f in [
             "", ",", ";", "\"", "\"\"", "\n", "\r\n", "\r", "\x00", "\ufeff", "é", "\u202e", "=SUM(A1)",
             "enterprise", "starter", "churned", "active", "nobody@", "@x.example", "P0@ACC0.EXAMPLE",
             "p1@acc0.example", "9" * 400, "x" * 5000, "2027-01-05T10:00:00Z", "9999-12-31", "0000-00-00",
             "2027-02-30", "-1", "11", "7.5", "NaN", "1e309", "\t", " ", "Keep"]]


def csv_text(rows: list[list[str]], header: list[str]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


CUSTOMER_SEEDS = [csv_text(CUSTOMERS, ["account_id", "account_name", "plan", "status", "contact_email",
                                       "contact_name", "role", "locale"]).encode(),
                  (ROOT / "examples" / "customers.csv").read_bytes()]
CUSTOMER_SEEDS += [p.read_bytes() for p in sorted(HOSTILE.glob("customers*.csv"))]


@st.composite
def mutated_customers(draw) -> bytes:
    return mutate(draw, draw(st.sampled_from(CUSTOMER_SEEDS)), FRAGMENTS)


def _state(folder: Path) -> tuple[dict[str, str], set[str]]:
    """(invite id -> state in the ledger, invite ids with a mail in the outbox)."""
    db = folder / ".tierctl" / "state.db"
    states = {}
    if db.exists():
        con = sqlite3.connect(db)
        states = dict(con.execute("SELECT invite_id, state FROM invitations"))
        con.close()
    outbox = folder / "outbox"
    mails = {p.stem for p in outbox.glob("*.eml")} if outbox.is_dir() else set()
    return states, mails


@pytest.mark.slow
@settings(max_examples=20, **PROFILE)
@given(data=mutated_customers())
def test_a_mutated_customer_file_is_exit_0_or_2_and_nothing_half_written(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tierctl.yaml").write_text(PROJECT_YAML, encoding="utf-8")
        (folder / "meetings.ics").write_text(EMPTY_ICS, encoding="utf-8")
        (folder / "customers.csv").write_bytes(data)
        start = time.perf_counter()
        code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "survey", "send", "--now", SEND_AT],
                                 load_plugins=None)
        elapsed = time.perf_counter() - start
        assert code in (0, 2), (code, out, err)
        assert "Traceback" not in err
        assert elapsed < 5.0, f"{elapsed:.1f} s"
        states, mails = _state(folder)
        assert "sending" not in states.values()
        assert mails == {i for i, s in states.items() if s == "sent"}
        if code == 2:
            assert err.strip() and not mails and not states


def _read_customers(folder: Path, split_here: bool) -> tuple[list, list, str]:
    """(contacts, problems, error) of folder/customers.csv read by the csv source, its plain lines
    split by the source itself or all read by the csv module."""
    from tierctl.config.loader import load_config
    from tierctl.errors import TierctlError
    from tierctl.plugins.source_csv import CsvCustomers, CsvOptions

    config = load_config(folder / "tierctl.yaml")
    source = CsvCustomers(CsvOptions(path="customers.csv"), config, folder)
    source.split_plain_lines = split_here
    contacts: list = []
    problems: list = []
    try:
        contacts.extend(source.contacts(problems.append))
    except TierctlError as exc:
        return contacts, problems, str(exc)
    return contacts, problems, ""


CR_AND_LIMIT = [b"\r".join(CUSTOMER_SEEDS[0].split(b"\n")),  # old Mac line ends
                CUSTOMER_SEEDS[0] + b"acc9,Big," + b"x" * 140_000 + b",active,big@acc9.example,Big,user,en\n"
                + b'acc9,Big,enterprise,active,q@acc9.example,"two\nlines",user,en\r\nacc9,Big,platinum,active,'
                b'bad@acc9.example,Bad,user,en\nacc9,,enterprise,active,last@acc9.example,Last,user,en']


@settings(max_examples=60, **PROFILE)
@given(data=st.one_of(mutated_customers(), st.sampled_from(CR_AND_LIMIT)))
def test_lines_split_by_the_source_read_as_the_csv_module_reads_them(data: bytes) -> None:
    """The csv source splits a line without a quote itself (the csv module reads the rest): every
    file, however damaged, gives the same contacts, bad rows with their lines, or error."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tierctl.yaml").write_text(PROJECT_YAML, encoding="utf-8")
        (folder / "customers.csv").write_bytes(data)
        assert _read_customers(folder, True) == _read_customers(folder, False)


# -- responses -----------------------------------------------------------------------------

RESPONSE_HEADER = ["invite_id", "contact_email", "submitted_at", "nps"]


@pytest.fixture(scope="module")
def sent_ledger(tmp_path_factory) -> tuple[Path, list[str]]:
    """A project that sent product-feedback to its contacts: (folder, the invite ids)."""
    folder = tmp_path_factory.mktemp("sent")
    (folder / "tierctl.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    (folder / "meetings.ics").write_text(EMPTY_ICS, encoding="utf-8")
    write_customers(folder / "customers.csv", CUSTOMERS)
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "survey", "send", "--now", SEND_AT],
                             load_plugins=None)
    assert code == 0, err
    con = sqlite3.connect(folder / ".tierctl" / "state.db")
    ids = [i for (i,) in con.execute("SELECT invite_id FROM invitations WHERE survey_id = 'product-feedback' "
                                     "AND state = 'sent' ORDER BY id")]
    con.close()
    shutil.copy(folder / ".tierctl" / "state.db", folder / "pristine.db")
    return folder, ids


@st.composite
def mutated_responses(draw, ids: list[str]) -> bytes:
    rows = [[invite, "", f"2027-01-0{5 + n % 3}T10:00:00Z", str(n % 11)] for n, invite in enumerate(ids)]
    rows += [["", CUSTOMERS[n][4], "2027-01-06 11:00", "7"] for n in range(1, 3)]
    seeds = [csv_text(rows, RESPONSE_HEADER).encode(), (ROOT / "examples" / "responses.csv").read_bytes()]
    seeds += [p.read_bytes() for p in sorted(HOSTILE.glob("responses*.csv"))]
    return mutate(draw, draw(st.sampled_from(seeds)), FRAGMENTS)


@pytest.mark.slow
@settings(max_examples=40, **PROFILE)
@given(data=st.data())
def test_a_mutated_response_export_is_exit_0_1_or_2_and_the_ledger_stays_whole(sent_ledger, data) -> None:
    folder, ids = sent_ledger
    export = data.draw(mutated_responses(ids))
    db = folder / ".tierctl" / "state.db"
    for leftover in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copy(folder / "pristine.db", db)
    (folder / "export.csv").write_bytes(export)
    start = time.perf_counter()
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "survey", "import", str(folder / "export.csv"),
                              "--survey", "product-feedback", "--now", "2027-02-01T00:00:00Z"], load_plugins=None)
    elapsed = time.perf_counter() - start
    assert code in (0, 1, 2), (code, out, err)
    assert "Traceback" not in err
    assert elapsed < 5.0, f"{elapsed:.1f} s"
    if code:
        assert err.strip(), "a run that skipped or refused rows says why"
    assert check_ledger(None, folder) == []
    con = sqlite3.connect(db)
    try:
        unanswered = con.execute("SELECT COUNT(*) FROM responses AS r WHERE NOT EXISTS "
                                 "(SELECT 1 FROM answers AS a WHERE a.invitation = r.invitation)").fetchone()[0]
        responses = con.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        rolled = con.execute("SELECT COALESCE(SUM(responses), 0) FROM response_day_counts").fetchone()[0]
    finally:
        con.close()
    assert unanswered == 0 and rolled == responses
