"""Provider contract run time per provider (issue: provider platform), printed as a table.

The contract suite of ``tierctl.testing`` is run by pytest in a subprocess, as a provider package's
CI runs it, for the acme example package and for every built-in provider's contract class in
``tests/providers``, twice each in the same run:

* **default retry options** (ours): as users configure them; the kit binds its fake clock to the
  provider, so back-off and ``Retry-After`` take no time. Target: under 10 s each (wall time of the
  pytest process, start-up included).
* **max_retries: 0** (floor): the same checks with nothing retried (``benchmarks/contract_floor.py``
  sets it through the kit's Engine; SMTP's option is ``retries``), the documented workaround of old.

Each is run ``--repeat`` times (2), alternating, and the fastest run of each is shown: most of a run's
wall time is pytest starting and importing, which the machine's load stretches.

And, as before, the published acme 1.0 package (``tests/plugin_fixtures/acme_v1``) with its default
``retries: 3``, whose back-off sleeps on the real clock (the peer the issue measured at 35 s).

Run: ``.venv/bin/python benchmarks/bench_contract.py`` (``--only acme,twilio`` for some).
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


#: provider -> (folder to run in, extra PYTHONPATH, pytest node id)
CONTRACTS = {
    "acme (example)": (ACME, [ACME / "src", ACME / "tests"], "tests/test_contract.py::TestAcmeContract"),
    "outbox": (ROOT, [], "tests/providers/test_contract_builtin.py::TestOutboxContract"),
    "smtp": (ROOT, [], "tests/providers/test_contract_builtin.py::TestSmtpContract"),
    "webhook": (ROOT, [], "tests/providers/test_contract_builtin.py::TestWebhookContract"),
    "surveymonkey": (ROOT, [], "tests/providers/test_contract_surveymonkey.py::TestSurveyMonkeyContract"),
    "typeform": (ROOT, [], "tests/providers/test_contract_typeform.py::TestTypeformContract"),
    "qualtrics": (ROOT, [], "tests/providers/test_contract_qualtrics.py::TestQualtricsContract"),
    "twilio": (ROOT, [], "tests/providers/test_contract_sms.py::TestTwilioContract"),
    "messagebird": (ROOT, [], "tests/providers/test_contract_sms.py::TestMessageBirdContract"),
}
TARGET = 10.0


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
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated provider names (default: all)")
    parser.add_argument("--no-peer", action="store_true", help="skip the acme 1.0 real-sleep run (~35 s)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, the fastest kept (default 2)")
    args = parser.parse_args()
    wanted = [name for name in CONTRACTS if not args.only or name.split()[0] in args.only.split(",")]
    rows, missed, failed = [], [], []
    here = Path(__file__).resolve().parent
    for name in wanted:
        folder, paths, node = CONTRACTS[name]
        # Alternating runs, the fastest of each kept: on a shared machine a single run measures the load.
        ours, floors = [], []
        for _ in range(args.repeat):
            ours.append(run(folder, paths, [node]))
            floors.append(run(folder, [*paths, here], ["-p", "contract_floor", node]))
        seconds, passed, summary = min(ours)
        floor, floor_passed, floor_summary = min(floors)
        if "failed" in summary or "error" in summary or passed == 0:
            failed.append(f"{name}: {summary}")
        if seconds >= TARGET:
            missed.append(name)
        rows.append((name, f"{seconds:.1f} s", f"{floor:.1f} s", f"{seconds / floor:.2f}x",
                     f"{passed}/{floor_passed}",
                     f"< {TARGET:g} s: " + ("OK" if seconds < TARGET else "MISSED") + f"  [{summary}]"))
    print_table(rows, ("contract, default retry options", "time", "max_retries: 0 (floor)", "ours/floor",
                       "passed ours/floor", "target"))
    if not args.no_peer and (not args.only or "acme" in args.only):
        v1 = FIXTURES / "acme_v1"
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "test_default_retries.py").write_text(V1_DEFAULT_RETRIES, encoding="utf-8")
            (Path(tmp) / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
            peer, peer_passed, summary = run(Path(tmp), [FIXTURES / "acme_v1_dist", v1 / "src", v1 / "tests"],
                                             ["test_default_retries.py"])
        print(f"peer: acme 1.0 with its default retries: 3 (back-off on the real clock): {peer:.1f} s, "
              f"{peer_passed} checks [{summary}]")
    print(f"load average: {open('/proc/loadavg').read().split()[0]}" if os.path.exists("/proc/loadavg") else "")
    for line in failed:
        print(f"FAILED {line}")
    print(f"{len(wanted) - len(missed)}/{len(wanted)} providers under {TARGET:g} s"
          + (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
