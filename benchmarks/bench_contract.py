"""Provider contract run time (issue: provider platform), printed as a table.

The contract suite of ``tierctl.testing`` is run by pytest in a subprocess,
as a provider package's CI runs it, on the acme example package:

* **acme, default retry options** (ours): the current example on
  ``tierctl.http.HttpClient``, which waits on the provider's clock; the kit
  binds its fake clock, so back-off and ``Retry-After`` take no time. It
  runs the fault-injection checks too (``deliveries`` is defined).
* **acme 1.0, retries: 0** (floor): the published 1.0 package
  (``tests/plugin_fixtures/acme_v1``) with the documented workaround: no
  retries, so no waits, and its retry code never runs.
* **acme 1.0, default retries** (peer): the same package with its default
  ``retries: 3``: its back-off sleeps on the real clock.

Target: the first under 10 s, and close to the floor although it runs more
checks with retries on. Run: ``.venv/bin/python benchmarks/bench_contract.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table import print_table  # benchmarks/table.py: run as scripts, this folder is on sys.path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "plugin_fixtures"
ACME = ROOT / "examples" / "tierctl-acme"

V1_DEFAULT_RETRIES = '''
import pytest
from test_contract import TestAcmeContract as Published


class TestAcmeDefaultRetries(Published):
    @pytest.fixture
    def provider_options(self, double):
        return {"api_key": "${ACME_API_KEY}", "base_url": f"{double.url}/v1"}  # retries: 3, the default
'''


def run(folder: Path, paths: list[Path], args: list[str]) -> tuple[float, int, str]:
    """Seconds, checks passed, and pytest's summary line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    passed = re.search(r"(\d+) passed", summary)
    return seconds, int(passed.group(1)) if passed else 0, summary


def main() -> None:
    v1 = FIXTURES / "acme_v1"
    v1_paths = [FIXTURES / "acme_v1_dist", v1 / "src", v1 / "tests"]
    rows = []
    seconds, passed, summary = run(ACME, [ACME / "src", ACME / "tests"], ["tests/test_contract.py"])
    rows.append(("acme, default retry options (tierctl.http, fake clock)", f"{seconds:.1f} s", str(passed),
                 "target < 10 s" + ("" if seconds < 10 else "  MISSED") + f"  [{summary}]"))
    floor, floor_passed, summary = run(v1, v1_paths, ["tests/test_contract.py"])
    rows.append(("acme 1.0, retries: 0 (floor)", f"{floor:.1f} s", str(floor_passed), f"[{summary}]"))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "test_default_retries.py").write_text(V1_DEFAULT_RETRIES, encoding="utf-8")
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        peer, peer_passed, summary = run(Path(tmp), v1_paths, ["test_default_retries.py"])
    rows.append(("acme 1.0, default retries: 3 (peer, real sleeps)", f"{peer:.1f} s", str(peer_passed),
                 f"[{summary}]"))
    print_table(rows, ("contract run", "time", "passed", "note"))
    print(f"ours / floor: {seconds / floor:.2f}x with {passed - floor_passed} more checks; "
          f"peer / ours: {peer / seconds:.1f}x")


if __name__ == "__main__":
    main()
