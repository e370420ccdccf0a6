"""The contract suite fails each broken copy of the acme example (tests/providers/broken_acme) on the
check for what it breaks, and passes the example itself with its default retry options.

The contract runs in a pytest subprocess, as a provider package runs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ACME = ROOT / "examples" / "tierctl-acme"

CONTRACT = '''
import pytest
from acme_api import AcmeApi
from broken_acme import (ErrorAfterPartialBatch, ExclusiveCursor, ForgetsIdsAtCursor, IgnoresRetryAfter,
                         NoPageDedup, PostsTwice, RetriesAmbiguousTimeout, SendsBatchTwice, plugin)
from tierctl_acme.provider import AcmeProvider

from tierctl.testing import ProviderContract

KEY = "acme-test-key-0123456789"


class AcmeContract(ProviderContract):
    plugin = "acme"

    @pytest.fixture
    def double(self):
        with AcmeApi(api_key=KEY) as api:
            yield api

    @pytest.fixture
    def provider_options(self, double):
        return {"api_key": KEY, "base_url": f"{double.url}/v1"}

    def answer(self, double, invitation, answers):
        double.respond(invitation.invite_id, answers)

    def deliveries(self, double):
        return double.deliveries()

'''
#: Each broken variant and the check that must fail it; the unbroken example runs every check.
BREAKAGES = [
    ("PostsTwice", "test_each_invitation_is_delivered_once"),
    # every sending check applies the delivery rules, not only the one about deliveries
    ("PostsTwice", "test_send_returns_one_result_per_invitation"),
    ("PostsTwice", "test_declared_rate_limit_is_honoured_when_sending"),
    ("SendsBatchTwice", "test_each_invitation_is_delivered_once"),
    ("SendsBatchTwice", "test_engine_records_every_invitation_as_sent"),
    ("IgnoresRetryAfter", "test_a_429_mid_batch_is_waited_out_on_the_provider_clock"),
    ("NoPageDedup", "test_shifting_pages_return_each_response_once"),
    ("ExclusiveCursor", "test_a_response_at_the_cursor_instant_is_collected_once"),
    ("ForgetsIdsAtCursor", "test_a_response_at_the_cursor_instant_is_collected_once"),
    ("ErrorAfterPartialBatch", "test_a_500_mid_batch_resends_nothing"),
    ("RetriesAmbiguousTimeout", "test_a_timeout_after_the_delivery_request_is_unknown"),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """``variant -> check -> PASSED|FAILED|...`` from one pytest run of the contract on the variants."""
    folder = tmp_path_factory.mktemp("broken_acme")
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    variants = ["AcmeProvider", *dict.fromkeys(v for v, _ in BREAKAGES)]
    text = CONTRACT + "".join(f"\nclass Test{v}(AcmeContract):\n    plugins = plugin({v})\n" for v in variants)
    (folder / "test_variants.py").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "broken_acme"), str(ACME / "src"), str(ACME / "tests")])
    selected = ["test_variants.py::TestAcmeProvider"] + [f"test_variants.py::Test{v}::{check}"
                                                          for v, check in BREAKAGES]
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *selected],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    found: dict[str, dict[str, str]] = {"_output": {"text": proc.stdout,
                                                    "seconds": f"{time.monotonic() - started:.1f}"}}
    for cls, check, result in re.findall(r"test_variants\.py::Test(\w+)::(\w+) (PASSED|FAILED|SKIPPED|ERROR)",
                                         proc.stdout):
        found.setdefault(cls, {})[check] = result
    assert len(found) > 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return found


def failing(outcomes: dict[str, dict[str, str]], variant: str) -> set[str]:
    return {check for check, result in outcomes[variant].items() if result in ("FAILED", "ERROR")}


@pytest.mark.slow
def test_the_example_passes_every_check_with_default_retry_options(outcomes: dict[str, dict[str, str]]) -> None:
    assert set(outcomes["AcmeProvider"].values()) == {"PASSED"}, outcomes["AcmeProvider"]
    assert len(outcomes["AcmeProvider"]) >= 17  # every check ran, the fault-injection ones included


@pytest.mark.slow
@pytest.mark.parametrize("variant, check", BREAKAGES)
def test_each_breakage_fails_the_contract(outcomes: dict[str, dict[str, str]], variant: str, check: str) -> None:
    assert check in failing(outcomes, variant), outcomes["_output"]["text"][-4000:]


@pytest.mark.slow
def test_a_failure_says_what_was_observed_the_rule_and_the_doc_section(outcomes: dict[str, dict[str, str]]) -> None:
    text = outcomes["_output"]["text"]
    assert "observed: a healthy send: the platform was asked to deliver" in text
    assert "rule: each invitation is delivered at most once" in text
    assert "see: docs/plugins.md §5 Sending" in text
    # the page shift is a few items inside a page, not a whole page served again
    assert "so the next page began with the last 1 item(s) of the page before" in text
    assert re.search(r"observed: a response stamped \S+ \(the instant of the cursor '[^']+'\) that arrived after "
                     r"the first fetch was not returned", text)
    assert "rule: the cursor window is inclusive (>=, not >)" in text
