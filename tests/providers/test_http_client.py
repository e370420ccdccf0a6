"""tierctl.http.HttpClient against a real HTTP server on 127.0.0.1: retries on the provider's clock,
Retry-After, maybe-sent, scrubbing, the status mapping, the debug log and the circuit breaker."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from tierctl.http import HttpClient, MaybeSent, Unreachable
from tierctl.providers import HttpRetryOptions, Provider, ProviderContext, ProviderError
from tierctl.testing import FakeClock, Reply, unused_port

SECRET = "sk-live-0123456789abcdef"


class Options(HttpRetryOptions):
    base_url: str = ""
    token: SecretStr = SecretStr(SECRET)


def client(url: str, **options) -> tuple[HttpClient, FakeClock]:
    provider = Provider("demo", Options(base_url=url, **options), ProviderContext(config=None, base_dir=None))  # type: ignore[arg-type]
    clock = FakeClock()
    provider.bind_clock(clock)
    return HttpClient(provider, platform="Demo", headers={"Authorization": f"Bearer {SECRET}"}), clock


def test_a_429_waits_its_retry_after_on_the_provider_clock(tierctl_http_server):
    tierctl_http_server.script(Reply(429, headers={"Retry-After": "30"}), Reply(503))
    http, clock = client(tierctl_http_server.url, backoff_factor=2)
    assert http.json("GET", "/things") == {"id": "sub-3"}
    assert clock.sleeps == [30.0, 4.0]  # Retry-After, then back-off 2 * 2^1: no real waiting
    assert http.requests_made == 3 and http.retries_used == 2


def test_a_post_that_may_have_arrived_is_never_repeated(tierctl_http_server):
    tierctl_http_server.script(Reply(200, b"{}", delay=1.0))
    http, _ = client(tierctl_http_server.url, timeout=0.2)
    with pytest.raises(MaybeSent, match="read timeout after 0.2s"):
        http.request("POST", "/invitations", json={"to": "ann@globex.example"})
    assert tierctl_http_server.count == 1
    tierctl_http_server.script(Reply(500))
    with pytest.raises(ProviderError, match="answered 500"):
        http.request("POST", "/invitations", json={})  # a 500 to a POST is not retried either
    assert tierctl_http_server.count == 2


def test_errors_are_mapped_and_scrubbed(tierctl_http_server):
    tierctl_http_server.script(Reply.json({"error": {"code": "bad_token", "message": f"token {SECRET} revoked"}}, 401))
    http, _ = client(tierctl_http_server.url)
    with pytest.raises(ProviderError) as info:
        http.request("GET", f"/things?api_key={SECRET}")
    assert info.value.retry is False and "Demo refused the credentials (401 bad_token: token *** revoked)" in str(info.value)
    assert SECRET not in str(info.value)


def test_an_unreachable_host_after_the_retries(caplog):
    http, clock = client(f"http://127.0.0.1:{unused_port()}", max_retries=2, backoff_factor=1)
    caplog.set_level(logging.DEBUG, logger="tierctl.http")
    with pytest.raises(Unreachable) as info:
        http.request("GET", f"/things?token={SECRET}")
    assert (info.value.reached, info.value.reason, info.value.retry) == (False, "connection refused", True)
    assert clock.sleeps == [1.0, 2.0]
    assert len([r for r in caplog.records if "GET" in r.getMessage()]) == 3  # a debug line per request
    assert SECRET not in caplog.text and "token=***" in caplog.text


def test_the_circuit_breaker_stops_calling_a_failing_host(tierctl_http_server):
    tierctl_http_server.default = Reply(503)
    http, clock = client(tierctl_http_server.url, max_retries=0)
    for _ in range(http.breaker_failures):
        with pytest.raises(ProviderError, match="503"):
            http.request("GET", "/things")
    with pytest.raises(ProviderError, match="circuit breaker"):
        http.request("GET", "/things")
    assert tierctl_http_server.count == http.breaker_failures  # the open breaker sent nothing
    clock.advance(http.breaker_cooldown + 1)
    tierctl_http_server.default = Reply(200, b"{}")
    assert http.json("GET", "/things") == {}  # half-open: one try, and it worked


def test_an_answer_that_is_not_json_names_the_request_without_its_secrets(tierctl_http_server):
    tierctl_http_server.script(Reply(200, b"<html>maintenance</html>"))
    http, _ = client(tierctl_http_server.url)
    with pytest.raises(ProviderError, match="is not JSON") as info:
        http.json("GET", f"/things?api_key={SECRET}")
    assert SECRET not in str(info.value) and "api_key=***" in str(info.value)


def test_a_post_that_may_have_arrived_names_its_path_without_secrets(tierctl_http_server):
    tierctl_http_server.script(Reply(200, b"{}", delay=1.0))
    http, _ = client(tierctl_http_server.url, timeout=0.2)
    with pytest.raises(MaybeSent) as info:
        http.request("POST", f"/hooks/{SECRET}", json={})
    assert SECRET not in str(info.value) and "/hooks/***" in str(info.value)
