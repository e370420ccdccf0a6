"""Sending under faults: the engine's circuit breaker and failure-time bound, outcomes that may have reached
the person (``unknown``), and run-level errors whose words match the states they leave."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import pytest
from project_fixtures import PROJECT_YAML
from servers import HttpServer, Reply
from test_survey_send import contacts, invoke, status, webhook_yaml

from tierctl.providers import Provider, ProviderContext
from tierctl.records import Invitation, SendResult
from tierctl.storage.opener import open_ledger
from tierctl.surveys.batches import send_batches
from tierctl.surveys.breaker import Breaker
from tierctl.testing.clock import FakeClock
from tierctl.testing.ledger_contract import NOW, invitation
from tierctl.testing.samples import sample_config


class Scripted(Provider):
    """A provider that answers from a script and advances a fake clock as if it waited."""

    name = "scripted"
    batch_size = 50

    def __init__(self, answer, seconds_per_invitation: float = 0.0):
        super().__init__("flaky", Provider.Options(), ProviderContext(sample_config(), Path(".")))
        self.answer = answer
        self.seconds = seconds_per_invitation
        self.clock = FakeClock()
        self.bind_clock(self.clock)
        self.offered: list[int] = []

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        self.offered.append(len(batch))
        self.clock.sleep(self.seconds * len(batch))
        return [self.answer(inv) for inv in batch]


def run_batches(tmp_path, provider, n: int, breaker: Breaker | None):
    with open_ledger(f"sqlite:///{tmp_path}/state.db", tmp_path) as ledger:
        run_id = ledger.begin_run("send", NOW)
        outcomes = list(send_batches(provider, [invitation(i) for i in range(n)], ledger, run_id, NOW,
                                     {"nps": True}, breaker=breaker))
        counts = dict(ledger.conn.execute("SELECT state, COUNT(*) FROM invitations GROUP BY state").fetchall())
    return outcomes, counts


def too_many_requests(inv):
    return SendResult.failed(inv.invite_id, "HTTP 429 Too Many Requests (after 4 retries)", retry=True)


def test_repeated_temporary_failures_open_the_breaker_and_leave_the_rest_for_the_next_run(tmp_path):
    provider = Scripted(too_many_requests)
    breaker = Breaker("flaky", failures=20)
    outcomes, counts = run_batches(tmp_path, provider, 300, breaker)
    assert breaker.open and "20 temporary failures in a row" in breaker.reason and "HTTP 429" in breaker.reason
    assert provider.offered == [10, 10]  # probe-sized batches while the provider has not delivered
    assert counts == {"retry": 20}  # tried and failed: retry; the other 280 were never claimed
    assert outcomes[-1].tripped == breaker.reason and outcomes[-1].left_after == 280


def test_without_the_breaker_every_invitation_is_tried(tmp_path):
    provider = Scripted(too_many_requests)
    _, counts = run_batches(tmp_path, provider, 300, None)
    assert counts == {"retry": 300} and provider.offered == [50] * 6


def test_the_time_spent_on_a_failing_provider_is_bounded(tmp_path):
    # Every invitation costs 5 s of waiting (4 retries after Retry-After: 1) and fails.
    provider = Scripted(too_many_requests, seconds_per_invitation=5.0)
    breaker = Breaker("flaky", failures=10_000, max_wait=60)
    _, counts = run_batches(tmp_path, provider, 300, breaker)
    assert "waiting 100 s on failing sends (bound: --max-failure-wait 60)" in breaker.reason
    assert provider.clock.monotonic() <= 60 + 10 * 5  # the overshoot is one probe batch at most
    assert counts == {"retry": 20}


def test_successes_keep_the_breaker_closed_and_permanent_failures_do_not_count(tmp_path):
    def answer(inv):
        n = int(inv.contact_email.split("@")[0].removeprefix("contact"))
        if n % 3 == 0:
            return SendResult.failed(inv.invite_id, "550 no such user")
        if n % 3 == 1:
            return SendResult.failed(inv.invite_id, "HTTP 503", retry=True)
        return SendResult.sent(inv.invite_id)

    provider = Scripted(answer)
    breaker = Breaker("flaky", failures=5)
    _, counts = run_batches(tmp_path, provider, 120, breaker)
    assert not breaker.open
    assert sum(counts.values()) == 120 and provider.offered[0] == 10 and provider.offered[1] == 50


# --- the CLI, end to end ------------------------------------------------------------

def smtp_yaml(port: int) -> str:
    return PROJECT_YAML.replace(
        "  mail: {plugin: outbox, dir: outbox, survey_url: \"https://survey.example/{survey}?id={invite_id}\"}",
        f"  mail: {{plugin: smtp, host: 127.0.0.1, port: {port}, security: none, from_address: s@acme.example, "
        "retry_delay: 0.01, timeout: 5, survey_url: \"https://survey.example/{survey}?id={invite_id}\"}")


def test_an_smtp_connection_dropped_after_data_leaves_the_message_unknown_not_failed(project):
    from servers import SmtpServer

    with SmtpServer() as server:
        config = project(contacts(4), yaml=smtp_yaml(server.port))
        server.drop_after_data(2)  # the first two messages are delivered, then the relay hangs up
        code, out, err = invoke(config, "send", "--now", "2027-01-04T09:00:00Z")
        assert len(server.wait_for(4)) == 4  # every message reached the server
        assert code == 1
        counts = status(config)["counts"]["product-feedback"]
        assert counts == {"sent": 2, "unknown": 2}  # never 'failed', never 'retry'
        assert "may have been delivered" in err
        # A later run does not send them again; --resend-unknown does.
        code, out, _ = invoke(config, "send", "--now", "2027-01-05T09:00:00Z")
        assert "sent 0 of 0 due" in out and len(server.messages) == 4
        code, out, _ = invoke(config, "send", "--now", "2027-01-05T09:00:00Z", "--resend-unknown")
        assert code == 0 and "sent 2 of 2 due" in out and len(server.wait_for(6)) == 6


def test_a_revoked_key_says_what_to_fix_and_its_words_match_the_state(project):
    with HttpServer(Reply(401, b'{"error":"token revoked"}')) as server:
        config = project(contacts(5), yaml=webhook_yaml(server.url, max_retries=0))
        result_code, out, err = invoke(config, "send", "--now", "2027-01-04T09:00:00Z", "--log-format", "plain")
        assert result_code == 1
        assert "will retry next run" not in err
        assert "nothing was sent through provider hook in this run: fix its settings" in err
        assert "queued until the provider's settings are fixed" in err
        assert status(config)["counts"]["product-feedback"] == {"retry": 5}
        # Fixed: the next run sends them.
        server.default = Reply(200, b"{}")
        code, out, _ = invoke(config, "send", "--now", "2027-01-05T09:00:00Z")
        assert code == 0 and "sent 5 of 5 due" in out


@pytest.mark.slow
def test_every_request_429_stops_the_provider_for_the_run_within_the_bound(project):
    """The issue: every request 429 with Retry-After: 1 made 300 invitations take over 300 s (1476 requests).
    With the breaker the run stops after 20 failures in a row, exits 1 with one line saying why, and leaves the
    rest for the next run."""
    with HttpServer(Reply(429, b"slow down", {"Retry-After": "1"})) as server:
        config = project(contacts(300), yaml=webhook_yaml(server.url, concurrency=8, max_retries=4,
                                                           backoff_factor=0.01))
        started = time.monotonic()
        code, out, err = invoke(config, "send", "--now", "2027-01-04T09:00:00Z", "--max-failure-wait", "30")
        elapsed = time.monotonic() - started
        assert code == 1
        assert elapsed < 30, f"took {elapsed:.0f} s"
        assert server.count <= 20 * 5  # 20 invitations, each tried once and retried 4 times
        # One line says why; here tierctl.http's per-host breaker (5 failed requests in a row) is the first to
        # stop the provider, and the engine leaves the rest for the next run.
        lines = [line for line in err.splitlines() if line.startswith("  error")]
        assert len(lines) == 1, err
        assert "280 invitation(s)" in lines[0] and "next run" in lines[0]
        counts = status(config)["counts"]["product-feedback"]
        assert counts == {"retry": 20}


def test_the_engine_breaker_stops_any_provider_after_temporary_failures_in_a_row(project):
    """Not HTTP: an SMTP relay that greylists every recipient (451). The engine's own breaker stops it."""
    from servers import SmtpServer

    with SmtpServer() as server:
        server.always("RCPT", "451 4.7.1 Greylisted, try again later")
        config = project(contacts(100), yaml=smtp_yaml(server.port).replace("timeout: 5,", "timeout: 5, retries: 0,"))
        code, out, err = invoke(config, "send", "--now", "2027-01-04T09:00:00Z", "--breaker-failures", "15")
        assert code == 1
        lines = [line for line in err.splitlines() if line.startswith("  error")]
        assert len(lines) == 1 and "provider mail: stopped for this run after 20 temporary failures in a row" \
            in lines[0] and "451" in lines[0] and "80 invitation(s) left for the next run" in lines[0], err
        assert status(config)["counts"]["product-feedback"] == {"retry": 20}  # two probe batches of 10
        assert len([c for c in server.commands if c[1] == "RCPT"]) == 20


def test_the_time_bound_is_printed_when_it_is_hit(project):
    from servers import SmtpServer

    with SmtpServer() as server:
        server.always("RCPT", "451 4.7.1 Greylisted, try again later")
        # Each message waits 0.05 s + 0.1 s before its two retries fail too.
        config = project(contacts(100), yaml=smtp_yaml(server.port).replace(
            "retry_delay: 0.01, timeout: 5,", "retry_delay: 0.05, timeout: 5, retries: 2,"))
        code, out, err = invoke(config, "send", "--now", "2027-01-04T09:00:00Z", "--max-failure-wait", "1",
                                "--breaker-failures", "1000")
        assert code == 1
        [line] = [line for line in err.splitlines() if line.startswith("  error")]
        assert "stopped for this run after waiting" in line and "(bound: --max-failure-wait 1)" in line, err
        counts = status(config)["counts"]["product-feedback"]
        assert counts["retry"] < 100 and sum(counts.values()) == counts["retry"]
