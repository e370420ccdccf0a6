"""Named hostile CSV files (tests/data/hostile): customers through `survey plan`, responses through
`survey import`; each says what is wrong with its line, with the documented exit code, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from project_fixtures import EMPTY_ICS, PROJECT_YAML, run_cli, write_customers

HOSTILE = Path(__file__).resolve().parent.parent / "data" / "hostile"
NOW = "2027-01-04T09:00:00Z"

CUSTOMER_CASES = {
    "customers_duplicate_contact.csv": "customers.csv:4: duplicate contact: ann@one.example is listed on line 2 "
                                       "already (account 'acc1'; here account 'acc2')",
    "customers_nul_byte.csv": "customers.csv:3: plan 'star\\x00ter' is not covered by any tier",
    "customers_unclosed_quote.csv": "customers.csv:2: has 2 fields, the header has 8: too few columns",
    "customers_huge_field.csv": "customers.csv:2: unreadable row: field larger than field limit",
}
RESPONSE_CASES = {  # file -> (exit code, what stderr says)
    "responses_future.csv": (1, "responses_future.csv:2: submitted_at 9999-12-31T00:00:00+00:00 is in the future "
                                "(now is 2027-02-01T00:00:00+00:00)"),
    "responses_all_bad.csv": (1, "responses_all_bad.csv:2: unknown invite_id 'nope-1'"),
    "responses_latin1.csv": (2, "responses_latin1.csv:3:3: byte 0xf6 is not utf-8-sig text; the file is not "
                                "utf-8-sig: save it as CSV UTF-8, or pass --encoding"),
}


def project(folder: Path, customers: Path | None = None) -> Path:
    (folder / "tierctl.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    (folder / "meetings.ics").write_text(EMPTY_ICS, encoding="utf-8")
    if customers is not None:
        shutil.copy(customers, folder / "customers.csv")
    else:
        write_customers(folder / "customers.csv", [["acc1", "One", "starter", "active", "ann@one.example", "Ann",
                                                     "user", "en"]])
    return folder / "tierctl.yaml"


def test_every_hostile_csv_has_a_case() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.csv")) == sorted([*CUSTOMER_CASES, *RESPONSE_CASES,
                                                                    "customers_latin1.csv"])


def test_a_customer_file_in_another_encoding_is_exit_2_with_line_and_column(tmp_path: Path) -> None:
    config = project(tmp_path, HOSTILE / "customers_latin1.csv")
    code, out, err = run_cli(["-c", str(config), "survey", "plan", "--now", NOW], load_plugins=None)
    assert (code, out) == (2, "")
    assert err == ("tierctl: error: customers.csv:3:6: byte 0xd6 is not utf-8-sig text; the file is not utf-8-sig: "
                   "save it as CSV UTF-8, or set sources.customers.encoding (for example cp1252 for an Excel "
                   "export on Windows)\n")


@pytest.mark.parametrize("name", sorted(CUSTOMER_CASES))
def test_a_hostile_customer_file_is_a_skipped_row_with_its_line(name: str, tmp_path: Path) -> None:
    config = project(tmp_path, HOSTILE / name)
    code, out, err = run_cli(["-c", str(config), "survey", "plan", "--now", NOW], load_plugins=None)
    assert code == 0, err
    assert "Traceback" not in err
    assert f"skipped row: {CUSTOMER_CASES[name]}" in err, err


@pytest.mark.parametrize("name", sorted(RESPONSE_CASES))
def test_a_hostile_response_export_says_what_is_wrong(name: str, tmp_path: Path) -> None:
    config = project(tmp_path)
    assert run_cli(["-c", str(config), "survey", "send", "--now", NOW], load_plugins=None)[0] == 0
    shutil.copy(HOSTILE / name, tmp_path / name)
    code, out, err = run_cli(["-c", str(config), "survey", "import", str(tmp_path / name),
                              "--survey", "product-feedback", "--now", "2027-02-01T00:00:00Z"], load_plugins=None)
    expected_code, says = RESPONSE_CASES[name]
    assert code == expected_code, (out, err)
    assert "Traceback" not in err
    assert says in err, err


def test_the_first_undecodable_byte_is_found_by_line_and_column(tmp_path: Path, monkeypatch) -> None:
    from tierctl.util import files

    path = tmp_path / "x.csv"
    path.write_bytes("a,b\né,ü\n".encode() + b"xx" * 50 + b"\xff\n")
    assert files.undecodable_at(path, "utf-8") == (3, 101, 0xFF)
    monkeypatch.setattr(files, "_PIECE", 7)  # a long line read in pieces: the column still counts from its start
    assert files.undecodable_at(path, "utf-8") == (3, 101, 0xFF)
    assert files.undecodable_at(path, "latin-1") is None
    assert files.undecodable_at(tmp_path / "missing.csv", "utf-8") is None
