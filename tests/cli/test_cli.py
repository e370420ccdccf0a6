"""The CLI surface: help with exit codes, --json output, --version, --debug."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import tierctl
from project_fixtures import run_cli

CONFIG = """\
    version: 1
    organization: {name: Acme}
    tiers:
      basic: {name: Basic, touch_model: tech-touch, plans: [free]}
      standard: {extends: basic, name: Standard, touch_model: low-touch, plans: [team]}
    surveys:
      feedback: {title: Feedback}
    render:
      website: {format: html, out: site}
      sales: {format: markdown, out: sales}
    """


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tierctl.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return path


def test_help_lists_commands_and_exit_codes() -> None:
    code, out, err = run_cli(["--help"])
    assert code == 0
    for command in ("validate", "render", "schema", "plugins"):
        assert f"\n  {command} " in out
    assert "Exit codes:" in out
    for line in ("0  success", "1  finished, but some items failed", "2  bad config, bad input or bad usage",
                 "3  another run holds the lock"):
        assert line in out
    assert "TIERCTL_LOAD_PLUGINS" in out and "TIERCTL_CONFIG" in out
    assert run_cli(["-h"])[1] == out


def test_version() -> None:
    code, out, err = run_cli(["--version"])
    assert (code, out) == (0, f"tierctl, version {tierctl.__version__}\n")
    assert tierctl.__version__ == metadata.version("tierctl")


def test_validate_json(config: Path) -> None:
    code, out, err = run_cli(["-c", str(config), "validate", "--json"])
    assert code == 0, err
    assert json.loads(out) == {"config": str(config.resolve()), "valid": True, "tiers": ["basic", "standard"],
                               "surveys": ["feedback"], "providers": [], "render_targets": ["website", "sales"],
                               "checked_against_ledger": False,  # there is no ledger yet
                               "languages": ["en"], "warnings": []}
    code, out, err = run_cli(["-c", str(config), "validate"])
    assert out == f"{config.resolve()}: valid. 2 tiers (basic, standard), 1 survey, 2 render targets.\n"


def test_render_json(config: Path) -> None:
    code, out, err = run_cli(["-c", str(config), "render", "--json"])
    assert code == 0, err
    results = json.loads(out)
    assert [r["target"] for r in results] == ["website", "sales"]
    assert results[0] == {"target": "website", "out": str(config.parent / "site"),
                          "written": ["basic.html", "index.html", "standard.html"], "unchanged": [], "removed": []}
    assert results[1]["written"] == ["README.md", "basic.md", "comparison.md", "standard.md"]
    code, out, err = run_cli(["-c", str(config), "render", "--json"])
    assert json.loads(out)[0]["unchanged"] == ["basic.html", "index.html", "standard.html"]


def test_unwritable_output_is_an_error_not_a_traceback(config: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run_cli(["-c", str(config), "render", "-t", "website", "--out", str(blocker / "site")])
    assert code == 2 and "Traceback" not in err
    assert f"tierctl: error: target 'website': cannot write {blocker / 'site'}" in err and "--out" in err


def test_config_from_environment(config: Path) -> None:
    code, out, err = run_cli(["validate", "--json"], env={"TIERCTL_CONFIG": str(config)})
    assert code == 0 and json.loads(out)["tiers"] == ["basic", "standard"]


def test_usage_errors_exit_2() -> None:
    code, out, err = run_cli(["render", "--no-such-option"])
    assert code == 2 and "Error: No such option" in err and "--no-such-option" in err
    code, out, err = run_cli(["rendr"])
    assert code == 2 and "No such command 'rendr'" in err


def _subprocess(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    env["TIERCTL_LOAD_PLUGINS"] = "html,markdown,filters"
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "tierctl", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_debug_shows_a_traceback_and_the_default_does_not(config: Path) -> None:
    config.write_text(config.read_text().replace("plans: [team]", "plans: [team], named_contacts: lots"))
    plain = _subprocess(["-c", str(config), "validate"])
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr
    assert f"{config}:5:" in plain.stderr and "tiers.standard.named_contacts: expected a whole number" in plain.stderr
    for debug_args, env in ((["--debug"], {}), ([], {"TIERCTL_DEBUG": "1"})):
        debug = _subprocess([*debug_args, "-c", str(config), "validate"], env)
        assert debug.returncode == 2
        assert "Traceback (most recent call last)" in debug.stderr, debug.stderr
        assert "tierctl.errors.ConfigError" in debug.stderr
        assert "tiers.standard.named_contacts: expected a whole number" in debug.stderr
    assert "Traceback" not in _subprocess(["-c", str(config), "validate"], {"TIERCTL_DEBUG": "0"}).stderr


@pytest.mark.parametrize("command", [["survey", "plan"], ["touchpoints", "plan"], ["touchpoints", "due"],
                                     ["diff"]])
@pytest.mark.parametrize("moment", ["9999-12-31", "0001-01-01"])
def test_now_near_the_calendars_ends_is_a_usage_error(project, command: list[str], moment: str) -> None:
    # Windows and cadences shift --now by months and years: past year 9999 or before year 1 that overflowed.
    config = project([["acc1", "Account 1", "starter", "active", "p1@acc1.example", "P 1", "user", "en"]])
    code, out, err = run_cli(["-c", str(config), *command, "--now", moment], load_plugins=None)
    assert code == 2, err
    assert f"'{moment}' is outside the years 1900 to 9000" in err and "Traceback" not in err


def test_max_failure_wait_nan_is_a_usage_error(project) -> None:
    # nan passed FloatRange(min=0) and then never compared as reached: the time bound was off.
    config = project([["acc1", "Account 1", "starter", "active", "p1@acc1.example", "P 1", "user", "en"]])
    code, out, err = run_cli(["-c", str(config), "survey", "send", "--dry-run", "--max-failure-wait", "nan"],
                             load_plugins=None)
    assert code == 2 and "nan is not a number of seconds" in err and "Traceback" not in err
    code, out, err = run_cli(["-c", str(config), "survey", "send", "--dry-run", "--max-failure-wait", "30"],
                             load_plugins=None)
    assert code == 0, err
