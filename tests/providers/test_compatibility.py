"""A provider package written against the docs and kit of tierctl 0.1 keeps working.

``tests/plugin_fixtures/acme_v1`` is a verbatim copy of the example package as it was published
before ``tierctl.http``, the provider clock and the fault-injecting contract: its own retry loop,
``time.sleep``, the ``retries`` option, no ``deliveries``. Installed as a distribution (its
dist-info in ``acme_v1_dist``), its tests must pass unchanged against this tierctl, the contract
suite included, run by pytest in a subprocess as the package's own CI runs them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "plugin_fixtures"


@pytest.mark.slow
def test_the_published_acme_1_0_passes_its_tests_and_the_contract() -> None:
    package = FIXTURES / "acme_v1"
    path = os.pathsep.join([str(FIXTURES / "acme_v1_dist"), str(package / "src"), str(package / "tests")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    env["PYTHONPATH"] = path
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           "tests"],
                          cwd=package, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "tests/plugin_fixtures/acme_v1/src/tierctl_acme" in _provider_file(env, package), \
        "the subprocess did not import the 1.0 copy of the provider"
    passed = int(re.search(r"(\d+) passed", out).group(1))  # type: ignore[union-attr]
    assert passed >= 15, out[-2000:]


def _provider_file(env: dict[str, str], cwd: Path) -> str:
    code = ("from tierctl.host.plugin_host import PluginHost; h = PluginHost.load(env={}); "
            "import inspect; print(inspect.getfile(h.providers['acme']))")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=60).stdout
