"""`tierctl survey send` end to end: real files, a real SQLite ledger, real HTTP and processes.

The guarantees under test: each (survey, contact, occasion) is sent at most
once, however often send runs, overlaps or is killed; what is held back or
fails temporarily is sent by a later run; failures are listed with exit 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from project_fixtures import PROJECT_YAML, ics_event
from servers import HttpServer, Reply

from tierctl.cli import cli

SECRET = "test-secret-0123456789abcdef"


def contacts(n: int, plan: str = "starter") -> list[list[str]]:
    return [[f"acc{i // 5}", f"Account {i // 5}", plan, "active", f"p{i}@acc{i // 5}.example", f"P {i}",
             "key-stakeholder" if i % 5 == 0 else "user", "en"] for i in range(n)]


def webhook_yaml(url: str, **options: object) -> str:
    opts = {"url": url + "/hook", "secret": SECRET, "concurrency": 4, "max_retries": 1, "backoff_factor": 0.01,
            **options}
    inline = ", ".join(f"{k}: {json.dumps(v)}" for k, v in opts.items())
    return PROJECT_YAML.replace("  mail: {plugin: outbox", f"  hook: {{plugin: webhook, {inline}}}\n  mail: {{plugin: outbox") \
        .replace("provider: mail", "provider: hook")


def invoke(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-c", str(config), "survey", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def cli_process(config: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tierctl", "-c", str(config), "survey", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def received(server: HttpServer) -> Counter[tuple[str, str, str]]:
    keys = Counter()
    for r in server.requests:
        body = json.loads(r.body)
        keys[(body["survey"], body["contact"]["email"], body["occasion"])] += 1
    return keys


def status(config: Path) -> dict:
    code, out, _ = invoke(config, "status", "--json")
    assert code == 0
    return json.loads(out)


def test_outbox_send_is_exactly_once_across_reruns(project, tmp_path):
    config = project(contacts(12))
    code, out, _ = invoke(config, "send", "--now", "2027-01-04T09:00:00Z")
    assert code == 0 and "sent 12 of 12 due" in out
    mails = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(mails) == 12
    # Same day, next day, next month: the quarter's occasion is done for everyone.
    for moment in ("2027-01-04T09:00:00Z", "2027-01-05T09:00:00Z", "2027-02-10T09:00:00Z"):
        code, out, _ = invoke(config, "send", "--now", moment)
        assert code == 0 and "sent 0 of 0 due" in out
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 12
    # A new quarter is a new occasion.
    code, out, _ = invoke(config, "send", "--now", "2027-04-02T09:00:00Z")
    assert "sent 12 of 12 due" in out
    assert status(config)["counts"]["product-feedback"]["sent"] == 24


def test_dry_run_and_limit(project, tmp_path):
    config = project(contacts(10))
    code, out, _ = invoke(config, "send", "--now", "2027-01-04T09:00:00Z", "--dry-run")
    assert code == 0 and "would send 10 of 10 due" in out
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    code, out, _ = invoke(config, "send", "--now", "2027-01-04T09:00:00Z", "--limit", "4")
    assert "sent 4 of 10 due" in out and "6 left for the next run" in out
    code, out, _ = invoke(config, "send", "--now", "2027-01-04T10:00:00Z")
    assert "sent 6 of 6 due" in out
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 10


def test_failures_are_listed_with_exit_1_and_temporary_ones_retried(project):
    with HttpServer() as server:
        server.when(lambda r: b'"p1@acc0.example"' in r.body, Reply(400, b'{"error":"unknown contact"}'), repeat=True)
        server.when(lambda r: b'"p2@acc0.example"' in r.body, Reply(503), repeat=True)
        config = project(contacts(5), yaml=webhook_yaml(server.url))
        code, out, err = invoke(config, "send", "--now", "2027-01-04T09:00:00Z")
        assert code == 1
        assert "sent 3 of 5 due, 2 failed" in out
        assert "p1@acc0.example" in err and "400" in err
        assert "p2@acc0.example" in err
        counts = status(config)["counts"]["product-feedback"]
        assert counts == {"sent": 3, "failed": 1, "retry": 1}
        server._rules.clear()  # the endpoint recovers
        code, out, _ = invoke(config, "send", "--now", "2027-01-05T09:00:00Z")
        assert code == 0 and "sent 1 of 1 due" in out  # only the temporary failure; never the permanent one
        keys = received(server)
        assert keys[("product-feedback", "p2@acc0.example", "2027-Q1")] == 3  # 2 tries + the resend
        assert keys[("product-feedback", "p0@acc0.example", "2027-Q1")] == 1


def test_a_throttled_contact_is_deferred_then_sent_while_the_occasion_is_open(project, tmp_path):
    yaml = PROJECT_YAML  # pre-meeting is throttled here
    rows = [["a1", "Alpha", "enterprise", "active", "kim@alpha.example", "Kim", "key-stakeholder", "en"]]
    events = [ics_event("rev", "20270107T100000", ["kim@alpha.example"])]
    config = project(rows, events, yaml=yaml)
    code, out, _ = invoke(config, "send", "--now", "2027-01-05T09:00:00Z")
    assert "sent 1 of 1 due" in out and "1 deferred" in out
    assert status(config)["counts"] == {"pre-meeting": {"sent": 1}, "product-feedback": {"deferred": 1}}
    code, out, _ = invoke(config, "send", "--now", "2027-01-20T09:00:00Z")
    assert "sent 0 of 0 due" in out and "1 deferred" in out  # still inside the 30-day window
    code, out, _ = invoke(config, "send", "--now", "2027-02-05T09:00:00Z")
    assert "sent 1 of 1 due" in out
    assert status(config)["counts"] == {"pre-meeting": {"sent": 1}, "product-feedback": {"sent": 1}}
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_a_second_send_while_one_runs_exits_3(project):
    with HttpServer(Reply(200, b"{}", delay=0.2)) as server:
        config = project(contacts(30), yaml=webhook_yaml(server.url, concurrency=1))
        first = cli_process(config, "send", "--now", "2027-01-04T09:00:00Z")
        try:
            deadline = time.monotonic() + 20
            while server.count == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            second = subprocess.run([sys.executable, "-m", "tierctl", "-c", str(config), "survey", "send", "--now",
                                     "2027-01-04T09:00:00Z"], capture_output=True, text=True, timeout=60)
            assert second.returncode == 3, second.stderr
            assert "Traceback" not in second.stderr
            assert str(first.pid) in second.stderr
        finally:
            first.wait(timeout=60)
        assert first.returncode == 0
        assert max(received(server).values()) == 1


def test_sigkill_half_way_loses_nothing_and_duplicates_nothing(project):
    total = 200
    with HttpServer(Reply(200, b"{}", delay=0.03)) as server:
        config = project(contacts(total), yaml=webhook_yaml(server.url, concurrency=4))
        victim = cli_process(config, "send", "--now", "2027-01-04T09:00:00Z")
        deadline = time.monotonic() + 30
        while server.count < 40 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert server.count >= 40, "the send never got going"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        time.sleep(0.3)  # let in-flight requests land
        first_run = received(server)
        assert 40 <= sum(first_run.values()) < total

        # The rerun takes the lock at once (the kernel released it), reports the
        # batch that was in flight as unknown and sends everything else once.
        code, out, err = invoke(config, "send", "--now", "2027-01-04T09:05:00Z")
        assert code == 0, err
        assert "in doubt from a stopped run" in out
        after = received(server)
        assert max(after.values()) == 1, "nobody may be surveyed twice"
        st = status(config)
        unknown = {(u["survey_id"], u["contact_email"], u["occasion"]) for u in st["unknown"]}
        everyone = {("product-feedback", f"p{i}@acc{i // 5}.example", "2027-Q1") for i in range(total)}
        assert set(after) | unknown == everyone, "nobody may be forgotten"
        assert st["counts"]["product-feedback"]["unknown"] == len(unknown) > 0
        assert st["counts"]["product-feedback"]["sent"] == total - len(unknown)

        # A person decides: resend the ones in doubt.
        code, out, _ = invoke(config, "send", "--now", "2027-01-04T10:00:00Z", "--resend-unknown")
        assert code == 0 and f"sent {len(unknown)} of {len(unknown)} due" in out
        assert set(received(server)) == everyone
        assert status(config)["counts"]["product-feedback"] == {"sent": total}


def test_log_format_json_writes_one_json_object_per_line(project):
    config = project(contacts(3))
    result = subprocess.run([sys.executable, "-m", "tierctl", "-c", str(config), "survey", "send", "--now",
                             "2027-01-04T09:00:00Z", "--log-format", "json"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert records and all({"time", "level", "message"} <= set(r) for r in records)
    assert any("sent batch: 3/3" in r["message"] for r in records)


def test_the_engine_holds_a_provider_to_its_declared_rate():
    from tierctl.providers import RateLimit
    from tierctl.util.ratelimit import TokenBucket

    clock = [0.0]
    bucket = TokenBucket(RateLimit(120, 60.0), clock=lambda: clock[0],
                         sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    for _ in range(240):
        bucket.acquire()
    # 2 per second: 240 requests need ~119 s after the one-token burst.
    assert 118.5 <= clock[0] <= 120.5
    big = TokenBucket(RateLimit(1200, 60.0), clock=lambda: clock[0],
                      sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    start = clock[0]
    big.acquire(100)  # a batch: 100 tokens at 20/s, a burst of at most one second's worth
    assert 3.9 <= clock[0] - start <= 4.1


def test_a_provider_that_fails_as_a_whole_stops_cleanly_and_the_next_run_catches_up(project):
    with HttpServer(Reply(401, b'{"error":"token revoked"}')) as server:
        # Webhook batches hold 100, but the engine offers a provider a probe of 10 first (tierctl.surveys.breaker).
        config = project(contacts(250), yaml=webhook_yaml(server.url))
        code, out, err = invoke(config, "send", "--now", "2027-01-04T09:00:00Z")
        assert code == 1
        assert "provider hook" in err and "401" in err
        assert SECRET not in out + err
        assert "240 left for the next run" in out
        assert status(config)["counts"]["product-feedback"] == {"retry": 10}
        server.default = Reply(200, b"{}")
        code, out, _ = invoke(config, "send", "--now", "2027-01-04T10:00:00Z")
        assert code == 0 and "sent 250 of 250 due" in out
        assert set(received(server)) == {("product-feedback", f"p{i}@acc{i // 5}.example", "2027-Q1")
                                         for i in range(250)}
        assert status(config)["counts"]["product-feedback"] == {"sent": 250}
