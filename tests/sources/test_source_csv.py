"""The ``csv`` customer source, on real files written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tierctl.config.loader import load_config
from tierctl.errors import TierctlError
from tierctl.plugins.source_csv import CsvCustomers, CsvOptions
from tierctl.host.plugin_host import PluginHost
from tierctl.records import Contact, RowProblem

ROOT = Path(__file__).resolve().parents[2]
HEADER = "account_id,account_name,plan,status,contact_email,contact_name,role,locale\n"

CONFIG = """\
version: 1
organization: {name: Test Org, timezone: Europe/Amsterdam, language: nl}
tiers:
  basic: {name: Basic, touch_model: tech-touch, plans: [free, starter]}
  standard: {name: Standard, touch_model: low-touch, plans: [team, business]}
  advanced: {name: Advanced, touch_model: high-touch, plans: [enterprise]}
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tierctl.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def read(config, folder: Path, text: str | bytes, **options) -> tuple[list[Contact], list[RowProblem]]:
    """Write ``text`` to folder/customers.csv and read it back through the source."""
    target = folder / "data" / "customers.csv"
    target.parent.mkdir(exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8", newline="")
    source = CsvCustomers(CsvOptions(path="data/customers.csv", **options), config, folder)
    problems: list[RowProblem] = []
    contacts = list(source.contacts(problems.append))
    return contacts, problems


def test_good_rows_become_contacts_with_their_tier(config, tmp_path):
    contacts, problems = read(config, tmp_path, HEADER
                              + "A1,Globex BV,enterprise,active,  Ann.Smith@Globex.Example ,Ann Smith,key-stakeholder,en\n"
                              + "A2,Initech,team,onboarding,bob@initech.example,Bob,admin,de\n"
                              + "A3,Hooli,free,at-risk,cy@hooli.example,,user,\n"
                              + "A4,,business,churned,dee@umbrella.example,Dee,user,nl\n")
    assert problems == []
    assert contacts[0] == Contact("A1", "Globex BV", "enterprise", "active", "ann.smith@globex.example",
                                  "Ann Smith", "key-stakeholder", "en", "advanced")
    assert [(c.account_id, c.tier) for c in contacts] == [
        ("A1", "advanced"), ("A2", "standard"), ("A3", "basic"), ("A4", "standard")]
    # Empty locale -> the organisation's language; empty account name -> the id.
    assert contacts[2].locale == "nl" and contacts[2].name == ""
    assert contacts[3].account_name == "A4"
    # Churned contacts are yielded; the scheduler decides what to do with them.
    assert contacts[3].status == "churned"


def test_every_bad_row_kind_is_reported_with_its_line_and_skipped(config, tmp_path):
    text = (HEADER                                                                   # line 1
            + "A1,Globex,enterprise,active,ann@globex.example,Ann,key-stakeholder,en\n"  # 2 good
            + "A2,Initech,enterprize,active,bob@initech.example,Bob,admin,en\n"       # 3 unknown plan
            + "A3,Hooli,team,active,not-an-email,Cy,user,en\n"                       # 4 bad e-mail
            + "A4,Umbrella,team,happy,dee@umbrella.example,Dee,user,en\n"             # 5 unknown status
            + "A5,Soylent,team,active\n"                                              # 6 too few columns
            + ",Stark,team,active,eve@stark.example,Eve,user,en\n"                    # 7 empty account_id
            + "A7,Wayne,,active,fay@wayne.example,Fay,user,en\n"                      # 8 missing plan
            + "A8,Acme,team,active,gus@acme.example,Gus,user,en\n"                    # 9 good
            + "A9,Tyrell,team,active,h@tyrell.example,Smith, Hal,user,en\n"           # 10 unquoted comma
            + "A10,Cyberdyne,team,active,ann@@cyberdyne.example,Ann,user,en\n"       # 11 bad e-mail
            + "A11,Oscorp,team,active,Ann <ann@oscorp.example>,Ann,user,en\n")       # 12 bad e-mail
    contacts, problems = read(config, tmp_path, text)
    assert [c.account_id for c in contacts] == ["A1", "A8"]
    by_line = {p.line: p.message for p in problems}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 10, 11, 12]
    assert all(p.file == "data/customers.csv" for p in problems)
    assert "plan 'enterprize'" in by_line[3] and "did you mean 'enterprise'?" in by_line[3]
    assert "known plans: business, enterprise, free, starter, team" in by_line[3]
    assert "'not-an-email' is not a valid e-mail address" in by_line[4]
    assert "unknown status 'happy'" in by_line[5]
    assert "onboarding, active, at-risk, churned" in by_line[5]
    assert "too few columns" in by_line[6] and "has 4 fields" in by_line[6]
    assert "empty account_id" in by_line[7]
    assert "missing value for plan" in by_line[8]
    assert "too many columns" in by_line[10]
    assert "not a valid e-mail" in by_line[11] and "not a valid e-mail" in by_line[12]
    assert str(problems[0]).startswith("data/customers.csv:3: ")


def test_several_problems_in_one_row_are_named_together(config, tmp_path):
    _, problems = read(config, tmp_path, HEADER + "A1,X,gold,Sleeping,nope,Ann,user,en\n")
    [problem] = problems
    assert "plan 'gold'" in problem.message
    assert "unknown status 'Sleeping'" in problem.message
    assert "'nope' is not a valid e-mail" in problem.message


def test_a_huge_bad_value_is_shown_cut_with_its_length(config, tmp_path):
    """A hostile file's 100 kB value is named by its start and length, not echoed whole per row."""
    huge = "P" * 100_000
    rows = [f"A1,X,{huge},active,a@x.example,Ann,user,en", f"A2,X,team,{huge},b@x.example,Bo,user,en",
            f"A3,X,team,active,{huge}@,Cy,user,en"]
    _, problems = read(config, tmp_path, HEADER + "\n".join(rows) + "\n")
    assert [p.line for p in problems] == [2, 3, 4]
    for problem in problems:
        assert len(problem.message) < 400, problem.message[:200]
    assert "plan '" + "P" * 80 + "'... (100,000 characters) is not covered by any tier" in problems[0].message
    assert "unknown status '" + "P" * 80 + "'... (100,000 characters)" in problems[1].message
    assert "(100,001 characters) is not a valid e-mail address" in problems[2].message


def test_case_and_spaces_in_plan_and_status_are_forgiven(config, tmp_path):
    contacts, problems = read(config, tmp_path, HEADER + "A1,X, Enterprise ,Active,a@x.example,A,user,en\n")
    assert problems == []
    assert (contacts[0].plan, contacts[0].status, contacts[0].tier) == ("enterprise", "active", "advanced")


def test_blank_lines_and_trailing_empty_fields_are_fine(config, tmp_path):
    contacts, problems = read(config, tmp_path, HEADER + "\n"
                              + "A1,X,team,active,a@x.example,A,user,en,,\n\n"
                              + "A2,Y,team,active,b@y.example,B,user,en\n")
    assert problems == [] and [c.account_id for c in contacts] == ["A1", "A2"]


def test_line_numbers_count_physical_lines_of_multi_line_quoted_fields(config, tmp_path):
    text = (HEADER                                                                     # 1
            + 'A1,"Globex\nHolding\nBV",team,active,a@globex.example,Ann,user,en\n'     # 2-4
            + "A2,Initech,team,nope,b@initech.example,Bob,user,en\n"                    # 5
            + 'A3,Hooli,team,active,c@hooli.example,"Cy\n""the boss""",user,en\n'       # 6-7
            + "A4,Acme,gold,active,d@acme.example,Dee,user,en\n")                       # 8
    contacts, problems = read(config, tmp_path, text)
    assert [p.line for p in problems] == [5, 8]
    assert contacts[0].account_name == "Globex\nHolding\nBV"
    assert contacts[1].name == 'Cy\n"the boss"'


def test_a_quote_that_is_never_closed_is_pointed_out(config, tmp_path):
    text = (HEADER + "A1,X,team,active,a@x.example,A,user,en\n"     # 2
            + 'A2,"Y,team,active,b@y.example,B,user,en\n'            # 3: the quote swallows the rest
            + "A3,Z,team,active,c@z.example,C,user,en\n")           # 4
    contacts, problems = read(config, tmp_path, text)
    assert [c.account_id for c in contacts] == ["A1"]
    [problem] = problems
    assert problem.line == 3 and "runs from line 3 to line 4" in problem.message
    assert "quote" in problem.message


def test_crlf_line_endings_and_excel_bom(config, tmp_path):
    text = (HEADER + "A1,X,team,active,a@x.example,A,user,en\n" + "A2,Y,team,zzz,b@y.example,B,user,en\n")
    data = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")
    contacts, problems = read(config, tmp_path, data)
    assert [c.account_id for c in contacts] == ["A1"]
    assert contacts[0].locale == "en"  # no stray \r
    assert [p.line for p in problems] == [3]


def test_header_is_case_insensitive_spaced_reordered_with_extra_columns(config, tmp_path):
    text = (" Contact_Email ; ROLE ;Locale;Notes;Account_ID;Account_Name;Plan;Status;Contact_Name\n"
            "a@x.example;admin;de;call on Monday;A1;X GmbH;starter;onboarding;Anna\n")
    contacts, problems = read(config, tmp_path, text, delimiter=";")
    assert problems == []
    assert contacts == [Contact("A1", "X GmbH", "starter", "onboarding", "a@x.example", "Anna", "admin", "de",
                                "basic")]


def test_header_names_with_spaces_or_dashes_match_the_columns(config, tmp_path):
    text = ("Account ID,Account Name,Plan,Status,Contact-Email,Contact  Name,Role,Locale\n"
            "A1,X,team,active,a@x.example,A,user,en\n")
    contacts, problems = read(config, tmp_path, text)
    assert problems == [] and contacts[0].email == "a@x.example"


def test_a_bom_is_stripped_even_when_the_encoding_is_plain_utf8(config, tmp_path):
    data = b"\xef\xbb\xbf" + (HEADER + "A1,X,team,active,a@x.example,A,user,en\n").encode()
    contacts, problems = read(config, tmp_path, data, encoding="utf-8")
    assert problems == [] and len(contacts) == 1


def test_other_encodings_can_be_configured(config, tmp_path):
    data = (HEADER + "A1,Caf\u00e9 M\u00fcller,team,active,a@x.example,J\u00fcrgen,user,de\n").encode("cp1252")
    contacts, _ = read(config, tmp_path, data, encoding="cp1252")
    assert contacts[0].account_name == "Caf\u00e9 M\u00fcller"


def test_wrong_encoding_is_an_error_that_says_what_to_do(config, tmp_path):
    data = (HEADER + "A1,Caf\u00e9,team,active,a@x.example,J\u00fcrgen,user,de\n").encode("cp1252")
    with pytest.raises(TierctlError) as exc:
        read(config, tmp_path, data)
    assert "data/customers.csv" in str(exc.value) and "encoding" in str(exc.value)


def test_missing_columns_are_an_error_naming_file_columns_and_expected_header(config, tmp_path):
    with pytest.raises(TierctlError) as exc:
        read(config, tmp_path, "account_id,account_name,plan,email,contact_name,role\nA1,X,team,a@x,A,user\n")
    message = str(exc.value)
    assert "data/customers.csv" in message
    assert "lacks columns status, contact_email, locale" in message
    assert "expected header: account_id,account_name,plan,status,contact_email,contact_name,role,locale" in message
    assert "contact_email (did you mean 'email'?)" in message


def test_empty_file_and_doubled_column_are_errors(config, tmp_path):
    with pytest.raises(TierctlError, match="the file is empty"):
        read(config, tmp_path, "")
    with pytest.raises(TierctlError, match="plan appears twice"):
        read(config, tmp_path, HEADER.strip() + ",plan\n")


def test_missing_file_is_an_error_naming_the_file(config, tmp_path):
    source = CsvCustomers(CsvOptions(path="nowhere/customers.csv"), config, tmp_path)
    with pytest.raises(TierctlError) as exc:
        list(source.contacts(lambda p: None))
    assert "nowhere/customers.csv" in str(exc.value) and "not found" in str(exc.value)
    assert "relative to the config file" in str(exc.value)


def test_options_are_validated():
    with pytest.raises(Exception):
        CsvOptions(path="x.csv", delimter=";")
    assert CsvOptions(path="x.csv").encoding == "utf-8-sig"


def test_contacts_are_streamed_not_read_at_once(config, tmp_path):
    rows = "".join(f"A{i},X,team,active,p{i}@x.example,P,user,en\n" for i in range(1000))
    target = tmp_path / "c.csv"
    target.write_text(HEADER + rows, encoding="utf-8")
    stream = CsvCustomers(CsvOptions(path="c.csv"), config, tmp_path).contacts(lambda p: None)
    assert next(stream).account_id == "A0"
    # The file is open and positioned early: the generator did not read everything.
    frame_locals = stream.gi_frame.f_locals
    assert not frame_locals["handle"].closed
    stream.close()
    assert frame_locals["handle"].closed


def test_registered_as_plugin_csv():
    host = PluginHost.load(only=["csv"])
    assert host.sources["csv"] is CsvCustomers
    assert CsvCustomers.kind == "customers"


def test_the_example_customers_file_reads_cleanly(tmp_path):
    # The example config's organisation and tiers (its other sections are not ours to depend on).
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    for tier in example["tiers"].values():
        tier.pop("surveys", None)
        for cadence in (tier.get("contact_cadence") or {}).values():
            cadence.pop("message", None)  # messages: is another section
    (tmp_path / "tiers.yaml").write_text(yaml.safe_dump(
        {"version": 1, "organization": example["organization"], "tiers": example["tiers"]}), encoding="utf-8")
    config = load_config(tmp_path / "tiers.yaml")
    source = CsvCustomers(CsvOptions(path="examples/customers.csv"), config, ROOT)
    problems: list[RowProblem] = []
    contacts = list(source.contacts(problems.append))
    assert problems == []
    assert len(contacts) >= 20
    assert {c.tier for c in contacts} == set(config.tiers)
    assert {c.status for c in contacts} == {"onboarding", "active", "at-risk", "churned"}
    assert {c.locale for c in contacts} == {"en", "nl", "de"}


def test_duplicate_contacts_are_reported_naming_both_lines_not_deferred(project):
    from project_fixtures import run_cli

    rows = [["acc1", "One", "starter", "active", "ann@one.example", "Ann", "user", "en"],      # line 2
            ["acc1", "One", "starter", "active", "bob@one.example", "Bob", "user", "en"],      # 3
            ["acc1", "One", "starter", "active", "Ann@One.example", "Ann", "user", "en"],      # 4: same person
            ["acc2", "Two", "starter", "active", "ann@one.example", "Ann", "user", "en"]]      # 5: other account
    config = project(rows)
    csv_path = config.parent / "customers.csv"
    code, out, err = run_cli(["-c", str(config), "survey", "plan", "--now", "2027-01-04T09:00:00Z"],
                             load_plugins=None)
    assert code == 0, err
    assert err.splitlines() == [
        "skipped row: customers.csv:4: duplicate contact: ann@one.example is listed on line 2 already "
        "(account 'acc1'); remove one of the two rows, this one is skipped",
        "skipped row: customers.csv:5: duplicate contact: ann@one.example is listed on line 2 already "
        "(account 'acc1'; here account 'acc2'); remove one of the two rows, this one is skipped"]
    assert "2 due, 0 deferred, 2 bad rows skipped" in out
    assert "deferred" not in out.replace("0 deferred", "")
    assert csv_path.exists()


def test_a_duplicate_names_the_account_of_the_first_row_when_accounts_come_back_interleaved(config, tmp_path):
    # The source keeps only the first line per e-mail and finds that row's account among the runs of
    # rows of one account; an account listed again later, after bad rows and a multi-line field,
    # must still be named right.
    text = (HEADER                                                                   # line 1
            + "A1,One,team,active,ann@x.example,Ann,user,en\n"                       # 2
            + "A2,Two,team,active,bob@x.example,\"Bob\nJr\",user,en\n"               # 3-4
            + "A2,Two,nosuch,active,bad@x.example,B,user,en\n"                       # 5 bad plan
            + "A1,One,team,active,cy@x.example,Cy,user,en\n"                         # 6: A1 again
            + "A3,Three,team,active,cy@x.example,Cy,user,en\n"                       # 7 dup of 6
            + "A3,Three,team,active,bob@x.example,Bob,user,en\n"                     # 8 dup of 3
            + "A1,One,team,active,ann@x.example,Ann,user,en\n")                      # 9 dup of 2
    contacts, problems = read(config, tmp_path, text)
    assert [c.email for c in contacts] == ["ann@x.example", "bob@x.example", "cy@x.example"]
    assert [(p.line, p.message) for p in problems if "duplicate" in p.message] == [
        (7, "duplicate contact: cy@x.example is listed on line 6 already (account 'A1'; here account 'A3'); "
            "remove one of the two rows, this one is skipped"),
        (8, "duplicate contact: bob@x.example is listed on line 3 already (account 'A2'; here account 'A3'); "
            "remove one of the two rows, this one is skipped"),
        (9, "duplicate contact: ann@x.example is listed on line 2 already (account 'A1'); "
            "remove one of the two rows, this one is skipped")]


def test_addresses_are_checked_as_the_documented_pattern_does(config, tmp_path):
    """The source checks a row's address as a local part and a domain (the domain once per run
    of rows, a plain local part without a match); it must accept exactly what EMAIL_RE accepts,
    whatever the rows before had as their domain."""
    import csv
    import io

    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    from tierctl.plugins.source_csv import EMAIL_RE

    tokens = st.sampled_from(list("ab1Z_-.+@ \t\"\\,;:<>()[]é²٣\u00a0") + ["xn--", "co.uk"])
    piece = st.lists(tokens, max_size=6).map("".join)
    local = st.one_of(st.sampled_from(["ann", "Ann.Smith", "a+b", "ann smith", ""]), piece)
    domain = st.one_of(st.sampled_from(["acme.example", "acme", "ac me.example", "a..b", "é.example", ""]),
                       piece, piece.map(lambda p: p + ".example"))
    address = st.one_of(st.builds(lambda a, b: f"{a}@{b}", local, domain), piece)

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(addresses=st.lists(address, min_size=1, max_size=12))
    @example(addresses=["ann@acme.example", "bob@ac me.example", "cy@acme", "dee@acme.example"])
    @example(addresses=["ann@acme", "bob@acme.example", "Ann Smith@acme.example", "a,b@acme.example"])
    def check(addresses: list[str]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(HEADER.strip().split(","))
        for n, email in enumerate(addresses):
            writer.writerow([f"A{n % 3}", "Acme", "team", "active", email, "Ann", "user", "en"])
        contacts, problems = read(config, tmp_path, text.getvalue())
        taken = [c.email for c in contacts]
        unique: list[str] = []
        for email in addresses:
            normal = email.strip().lower()
            if EMAIL_RE.fullmatch(normal) and normal not in unique:
                unique.append(normal)
        assert taken == unique
        assert not any("not a valid e-mail address" in p.message for p in problems
                       if EMAIL_RE.fullmatch(addresses[p.line - 2].strip().lower()))

    check()
