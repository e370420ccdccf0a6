"""Plugin requirements: ``tierctl plugins --requirements``, the config's ``requires_plugins``, a
provider written as its distribution's name, and the out-of-tree example package once installed.

Fake distributions come from ``tests/plugin_fixtures`` on PYTHONPATH (real ``.dist-info``
metadata, found through ``importlib.metadata`` like any installed package); the CLI runs in a
subprocess as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from tierctl import __version__
from tierctl.config.loader import load_config
from tierctl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "plugin_fixtures"

CONFIG = """\
version: 1
organization: {name: Acme}
tiers:
  basic: {name: Basic, touch_model: tech-touch, plans: [free]}
"""


def tierctl(*args: str, cwd: Path, fixtures: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    paths = [str(FIXTURES / f) for f in fixtures]
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "tierctl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def write(folder: Path, extra: str) -> Path:
    path = folder / "tierctl.yaml"
    path.write_text(CONFIG + textwrap.dedent(extra), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


# --- plugins --requirements -----------------------------------------------------------

def test_requirements_pin_each_plugin_distribution_once(tmp_path: Path) -> None:
    proc = tierctl("plugins", "--requirements", cwd=tmp_path, fixtures=("acme", "clash"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    names = [line.split("==")[0] for line in lines]
    assert names == sorted(names) and len(names) == len(set(names)), lines
    pins = {line.split("  #")[0] for line in lines}
    # tierctl's own eleven plugins are one distribution: one line.
    assert f"tierctl=={__version__}" in pins
    assert {"tierctl-acme==1.0", "tierctl-clash-a==1.0", "tierctl-clash-b==2.0"} <= pins, lines
    # Every line is something pip accepts as a requirement.
    from packaging.requirements import Requirement

    for line in lines:
        Requirement(line.split("  #")[0])


def test_requirements_and_json_are_exclusive(tmp_path: Path) -> None:
    proc = tierctl("plugins", "--requirements", "--json", cwd=tmp_path)
    assert proc.returncode == 2 and "--requirements and --json cannot be combined" in proc.stderr


# --- requires_plugins -------------------------------------------------------------------

def test_a_met_requirement_passes(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"""\
        requires_plugins: ["tierctl>={__version__}", "tierctl-never-installed>=1; python_version < '3'"]
        """))
    assert config.requires_plugins == [f"tierctl>={__version__}", "tierctl-never-installed>=1; python_version < '3'"]


def test_a_missing_distribution_says_how_to_install_it(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        requires_plugins:
          - tierctl-nowhere>=1.0
        """)
    assert problems(path) == [
        f"{path}:6:5: requires_plugins[0]: this config needs tierctl-nowhere>=1.0, but tierctl-nowhere is not "
        "installed; install it with: pip install 'tierctl-nowhere>=1.0'"]


def test_a_too_old_distribution_says_which_version_is_installed(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        requires_plugins: ["tierctl>=99.0", "tierctl<0.1"]
        """)
    assert problems(path) == [
        f"{path}:5:20: requires_plugins[0]: this config needs tierctl>=99.0, but tierctl {__version__} is "
        "installed, which is too old; install a matching version with: pip install 'tierctl>=99.0'",
        f"{path}:5:37: requires_plugins[1]: this config needs tierctl<0.1, but tierctl {__version__} is "
        "installed; install a matching version with: pip install 'tierctl<0.1'"]


def test_a_malformed_requirement_is_pointed_at(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        requires_plugins: ["tierctl-acme>=1.0", "tierctl acme >= 1"]
        """)
    [problem] = [p for p in problems(path) if "[1]" in p]
    assert problem.startswith(f"{path}:5:41: requires_plugins[1]: 'tierctl acme >= 1' is not a pip requirement "
                              "such as tierctl-acme>=1.0 (")
    assert "\n" not in problem


def test_requirements_against_a_third_party_distribution(tmp_path: Path) -> None:
    write(tmp_path, """\
        requires_plugins: ["tierctl-acme>=1.0"]
        """)
    proc = tierctl("validate", cwd=tmp_path, fixtures=("acme",))
    assert proc.returncode == 0, proc.stderr
    write(tmp_path, """\
        requires_plugins: ["tierctl-acme>=1.1"]
        """)
    proc = tierctl("validate", cwd=tmp_path, fixtures=("acme",))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert ("tierctl.yaml:5:20: requires_plugins[0]: this config needs tierctl-acme>=1.1, but tierctl-acme 1.0 is "
            "installed, which is too old; install a matching version with: pip install 'tierctl-acme>=1.1'"
            ) in proc.stderr
    # A typo in the distribution's name suggests an installed plugin distribution.
    write(tmp_path, """\
        requires_plugins: ["tierctl-acne>=1.0"]
        """)
    proc = tierctl("validate", cwd=tmp_path, fixtures=("acme",))
    assert "tierctl-acne is not installed (did you mean 'tierctl-acme'?)" in proc.stderr


# --- provider names ---------------------------------------------------------------------

def test_a_distribution_name_for_a_plugin_name_says_what_to_write(tmp_path: Path) -> None:
    write(tmp_path, """\
        providers:
          sms:
            plugin: tierctl-acme
          mail: {plugin: outbx, dir: outbox}
        """)
    proc = tierctl("validate", cwd=tmp_path, fixtures=("acme",))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    installed = "installed: acme-sms, messagebird, outbox, "
    [sms] = [line for line in lines if "providers.sms.plugin" in line]
    assert sms.startswith("tierctl.yaml:7:5: providers.sms.plugin: no survey provider plugin named 'tierctl-acme' "
                          "is installed ('tierctl-acme' is the distribution that provides it; its survey provider "
                          "plugin is called 'acme-sms', so write acme-sms); " + installed), sms
    [mail] = [line for line in lines if "providers.mail.plugin" in line]
    assert ("no survey provider plugin named 'outbx' is installed (did you mean 'outbox'?); " + installed) in mail


# --- the example package, installed as a stranger's package would be ----------------------

def _example_installed() -> bool:
    try:
        dist = metadata.distribution("tierctl-acme")
    except metadata.PackageNotFoundError:
        return False
    return dist.version == "1.0.0"


@pytest.mark.skipif(not _example_installed() and not os.environ.get("CI"),
                    reason="examples/tierctl-acme is not installed here (pip install ./examples/tierctl-acme); "
                           "CI installs it and runs this test")
def test_installed_example_is_listed_and_usable(tmp_path: Path) -> None:
    assert _example_installed(), "CI must install examples/tierctl-acme before the tests (.ci/run)"
    listing = tierctl("plugins", "--json", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    acme = {p["name"]: p for p in json.loads(listing.stdout)["plugins"]}["acme"]
    assert (acme["distribution"], acme["version"], acme["registers"], acme["error"]) == \
        ("tierctl-acme", "1.0.0", {"providers": ["acme"]}, None)
    assert "acme  (tierctl-acme 1.0.0)\n    hooks: register_providers\n    providers: acme" in \
        tierctl("plugins", cwd=tmp_path).stdout
    pins = tierctl("plugins", "--requirements", cwd=tmp_path).stdout.splitlines()
    assert [p for p in pins if p.startswith("tierctl-acme")][0].split("  #")[0] == "tierctl-acme==1.0.0"
    write(tmp_path, """\
        requires_plugins: ["tierctl-acme>=1.0"]
        providers:
          acme: {plugin: acme, api_key: "${ACME_API_KEY}"}
        """)
    env = {**os.environ, "ACME_API_KEY": "acme-key-from-the-environment"}
    proc = subprocess.run([sys.executable, "-m", "tierctl", "validate"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "acme-key-from-the-environment" not in proc.stdout + proc.stderr
