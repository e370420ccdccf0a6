"""Property test: random mutations of valid config files never crash tierctl.

For each mutated config, ``tierctl validate`` (in process, every installed plugin) exits 0 or 2, never
with a traceback, within 5 s. Seeds are the example config, the tests' project config and the named
hostile files. A fixed seed and a bounded number of examples keep CI time fixed.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutations import mutate
from project_fixtures import PROJECT_YAML, ROOT, run_cli

HOSTILE = ROOT / "tests" / "data" / "hostile"
VALID = [(ROOT / "config.example.yaml").read_bytes(), PROJECT_YAML.encode()]
SEEDS = VALID * 6 + [p.read_bytes() for p in sorted(HOSTILE.glob("*.yaml"))]  # mostly valid files
PROFILE = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large])

FRAGMENTS = [b"", b":", b"- ", b"? ", b"&a ", b"*a", b"<<: *a", b"&a [1, *a]", b"!!python/object:os.system ",
             b"!!binary ", b"!custom ", b"{", b"}", b"[", b"]", b"'", b'"', b"\t", b"\x00", b"\xff\xfe",
             b"\xef\xbb\xbf", b"${HOME}", b"${NOPE}", b"${X:-}", b"9" * 5000, b"2027-02-30", b"1e999", b"~",
             b"|", b">-", b"%YAML 1.1", b"---", b"...", b"#", b"index", b"extends: basic", b"extends: nope",
             b"plans: [free]", b"url: sqlite:///", b"url: postgresql://u:p@h/db", b"contact_email: x",
             b"0x1F", b"-.inf", b".nan", b"yes", b"null", b"\r", b"\x85", "\u2028".encode(),
             b"  " * 40, b"[" * 200]


VALUES = [b"0", b"-1", b"3", b"30d", b"1mo", b"10/month", b"[]", b"{}", b"''", b"~", b"yes", b"[free, free]",
          b"x" * 300, b"2027-02-28", b"2027-02-30", b"9" * 30, b"Europe/Nowhere", b"UTC", b"\"\\u0000\"",
          b"https://acme.example", b"javascript:alert(1)", b"<script>alert(1)</script>", b"${NOPE}", b"${HOME}",
          b"business", b"24x7", b"best effort", b"index", b"tech-touch", b"[+chat, -email]", b"basic"]


def _indent(draw, lines: list[bytes], i: int) -> list[bytes]:
    lines[i] = b" " * draw(st.integers(0, 9)) + lines[i].lstrip()
    return lines


def _value(draw, lines: list[bytes], i: int) -> list[bytes]:
    """A plausible line with another value: mostly still a valid file."""
    key, sep, _ = lines[i].partition(b": ")
    if sep:
        lines[i] = key + sep + draw(st.sampled_from(VALUES))
    return lines


@st.composite
def mutated(draw) -> bytes:
    return mutate(draw, draw(st.sampled_from(SEEDS)), FRAGMENTS, most=3,
                  extra={"indent": _indent, "value": _value, "value ": _value, "value  ": _value})


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A project folder with the files both seed configs point at."""
    folder = tmp_path_factory.mktemp("config")
    shutil.copytree(ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("tierctl-acme"))
    shutil.copy(ROOT / "examples" / "customers.csv", folder / "customers.csv")
    shutil.copy(ROOT / "examples" / "meetings.ics", folder / "meetings.ics")
    return folder


@pytest.mark.slow
@settings(max_examples=80, **PROFILE)
@given(text=mutated())
def test_a_mutated_config_is_exit_0_or_2_quickly_never_a_traceback(folder: Path, text: bytes) -> None:
    config = folder / "tierctl.yaml"
    config.write_bytes(text)
    start = time.perf_counter()
    code, out, err = run_cli(["-c", str(config), "validate"], load_plugins=None, env={"HOME": "/home/x"})
    elapsed = time.perf_counter() - start
    assert code in (0, 2), (code, out, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.strip(), "exit 2 says why"
    assert elapsed < 5.0, f"{elapsed:.1f} s"
