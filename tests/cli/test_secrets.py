"""Secrets from the environment never reach output, logs or the ledger, in any option.

The webhook's URL carries a token in its path and query (not a SecretStr
field), and the endpoint is down: every failure message, plain and JSON log
line, --json output and stored `reason` mentions the URL.
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from project_fixtures import PROJECT_YAML
from project_fixtures import run_cli as _run_cli

from tierctl.util.redact import MASK, Redactor, mask_url

TOKEN = "tok-9f8e7d6c5b4a39281706"
PASSWORD = "Pa55:w0rd&odd=x"
HOOK_SECRET = "hmac-key-0123456789abcdef0123456789"
NOW = "2027-01-02T09:00:00+00:00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def down(project) -> Path:
    port = free_port()
    url = f"http://bot:${{HOOK_PASSWORD}}@127.0.0.1:{port}/${{TOKEN}}/in?key=${{TOKEN}}&team=ops"
    yaml = PROJECT_YAML.replace(
        "  mail: {plugin: outbox",
        f'  hook: {{plugin: webhook, url: "{url}", secret: "${{HOOK_SECRET}}", max_retries: 0, timeout: 2}}\n  mail: {{plugin: outbox') \
        .replace("provider: mail", "provider: hook")
    rows = [[f"acc{i}", f"Account {i}", "starter", "active", f"p{i}@acc{i}.example", f"P {i}", "user", "en"]
            for i in range(3)]
    return project(rows, yaml=yaml)


def run(args: list[str]) -> tuple[int, str, str]:
    return _run_cli(args, load_plugins=None, env={"TOKEN": TOKEN, "HOOK_PASSWORD": PASSWORD,
                                                      "HOOK_SECRET": HOOK_SECRET})


def assert_no_secret(text: str) -> None:
    for secret in (TOKEN, PASSWORD, "Pa55%3Aw0rd", HOOK_SECRET):
        assert secret not in text, text


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_token_in_a_webhook_url_is_in_no_output_log_or_ledger_row(down: Path, log_format: str) -> None:
    outputs = []
    for extra in ([], ["--json"]):
        code, out, err = run(["-c", str(down), "survey", "send", "--now", NOW, "--log-format", log_format, *extra])
        assert code == 1, err  # the endpoint is down: failures, listed
        assert "127.0.0.1" in out + err and MASK in out + err  # the URL is still named, masked
        outputs += [out, err]
    for args in (["survey", "status"], ["survey", "status", "--json"], ["validate", "--json"]):
        code, out, err = run(["-c", str(down), *args])
        outputs += [out, err]
    for text in outputs:
        assert_no_secret(text)
    ledger = sqlite3.connect(down.parent / ".tierctl" / "state.db")
    reasons = [r for (r,) in ledger.execute("SELECT reason FROM invitations")]
    assert len(reasons) == 3 and all(reasons)
    dump = "\n".join(ledger.iterdump())
    assert_no_secret(dump)


def test_the_redactor_masks_values_their_escaped_forms_and_what_urls_carry() -> None:
    redact = Redactor([TOKEN, PASSWORD, "short"])
    assert redact(f"POST https://hooks.example/{TOKEN}/in?key={TOKEN}&team=ops: failed") == \
        "POST https://hooks.example/***/in?key=***&team=***: failed"
    assert redact('{"reason": "a\\"quote"}') == '{"reason": "a\\"quote"}'
    assert Redactor(['a"quote']).__call__('{"reason": "a\\"quote"}') == '{"reason": "***"}'
    assert redact("Pa55%3Aw0rd%26odd%3Dx in a URL") == "*** in a URL"
    assert redact("a short word stays") == "a short word stays"  # under 6 characters: not a secret
    assert mask_url("https://user:hunter22@db.example:5432/x?a=1&b=&c") == "https://user:***@db.example:5432/x?a=***&b=&c"
    assert mask_url("https://token@api.example/v1") == "https://***@api.example/v1"
    assert mask_url("https://api.example/v1/items") == "https://api.example/v1/items"
    assert Redactor().value({"a": ["https://x.example/?k=v"], "n": 1}) == {"a": ["https://x.example/?k=***"], "n": 1}
