"""Hostile and broken config files (tests/data/hostile): exit 2 with FILE:LINE:COL, quickly, never a traceback."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from project_fixtures import run_cli

HOSTILE = Path(__file__).resolve().parent.parent / "data" / "hostile"

# file -> (line:col of the problem, what the message says)
CASES = {
    "billion_laughs.yaml": ("10:7", "YAML aliases here expand the file to over 100,000 values"),
    "recursive_alias_list.yaml": ("7:9", "a YAML alias refers to the anchor it is inside"),
    "recursive_alias_map.yaml": ("7:9", "a YAML alias refers to the anchor it is inside"),
    "impossible_date.yaml": ("2:56", "organization.effective_date: '2027-02-30' is not a real date"),
    "huge_integer.yaml": ("4:64", "tiers.basic.named_contacts: a whole number of 5,000 characters is too long"),
    "latin1.yaml": ("4:20", "the file is not UTF-8 text: byte 0xef cannot be read; save the file as UTF-8"),
    "nul_byte.yaml": ("4:19", "character U+0000 is not allowed in a YAML file"),
    "bad_storage_url.yaml": ("7:11", "storage.url: unsupported scheme 'mysql'"),
    "bad_contact_email.yaml": ("2:56", "organization.contact_email: 'not-an-email' is not an e-mail address"),
    "missing_customers_file.yaml": ("8:28", "sources.customers.path: no such file: 'no-such-customers.csv'"),
    "tier_named_index.yaml": ("4:3", "tiers.index: tier id 'index' is the name of a page the html renderer"),
    "deep_nesting.yaml": ("7:", "YAML syntax error"),
    "merge_into_itself.yaml": ("7:", "merge_into_itself.yaml:7:"),
}


def test_every_hostile_config_has_a_case() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.yaml")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_config_is_exit_2_with_its_line_quickly(name: str, tmp_path: Path) -> None:
    config = tmp_path / name
    shutil.copy(HOSTILE / name, config)
    where, says = CASES[name]
    start = time.perf_counter()
    code, out, err = run_cli(["-c", str(config), "validate"], load_plugins="html,markdown,csv")
    elapsed = time.perf_counter() - start
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert f"{config}:{where}" in err, err
    assert says in err, err
    assert elapsed < 1.0, f"{name}: {elapsed:.2f} s"


def test_render_refuses_two_outputs_with_one_path(tmp_path: Path) -> None:
    from tierctl.errors import TierctlError
    from tierctl.publish.render_engine import write_files
    from tierctl.render import OutputFile

    with pytest.raises(TierctlError, match=r"two pages would be written to the same file .*'index.html' and "
                                           r"'INDEX.html'\); nothing was written"):
        write_files("website", tmp_path / "site", [OutputFile("index.html", "a"), OutputFile("INDEX.html", "b")])
    assert not (tmp_path / "site").exists()
