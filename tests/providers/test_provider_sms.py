"""The SMS providers (twilio, messagebird) on tierctl's one HTTP client, built by the kit's Engine.

What the client brings them, each checked against the platform doubles on 127.0.0.1: a token from
the provider's limiter before every attempt (retries included), Retry-After waited on the provider's
clock, a POST whose answer is lost recorded unknown and never repeated, error answers mapped in the
client's one overridable method (with the platform's code and text, secrets scrubbed), a debug line
per request, and the circuit breaker.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from doubles.messagebird import ACCESS_KEY, MessageBirdDouble
from doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble

from tierctl.plugins.sms_common import MessageError, SmsClient
from tierctl.testing import Reply, invitations

TWILIO_ENV = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}


def texts(count: int, start: int = 1) -> list:
    return [replace(inv, phone=f"+3161234{start + n:04d}", consent=("sms",))
            for n, inv in enumerate(invitations(count, start=start))]


@pytest.fixture
def twilio():
    with TwilioDouble(per_second=1000) as double:
        yield double
        assert not double.errors, double.errors


def twilio_provider(engine, double, **options):
    return engine.provider("twilio", {"base_url": double.base_url, "account_sid": ACCOUNT_SID,
                                      "auth_token": "${TWILIO_AUTH_TOKEN}", "from_number": "+3197010200300",
                                      "survey_url": "https://t.example/s/{invite_id}", "per_second": 50,
                                      "timeout": 5, **options}, env=TWILIO_ENV)


def test_the_sms_providers_use_tierctls_http_client(tierctl_engine, twilio):
    provider = twilio_provider(tierctl_engine, twilio)
    assert isinstance(provider.api, SmsClient)
    assert provider.api.max_retries == 4 and provider.api.backoff_factor == 0.5  # the shared defaults


def test_each_retry_takes_a_token_and_retry_after_is_waited_on_the_provider_clock(tierctl_engine, twilio):
    provider = twilio_provider(tierctl_engine, twilio)
    twilio.script(Reply.json({"code": 20429, "message": "Too Many Requests"}, 429, {"Retry-After": "3"}),
                  Reply.json({"code": 20429, "message": "Too Many Requests"}, 503))
    outcome = tierctl_engine.send(provider, texts(1))
    assert outcome.states and set(outcome.states.values()) == {"sent"}
    assert len(twilio.messages) == 1 and twilio.count == 3
    assert len(provider.limiter.acquired) == 3  # one token per attempt, not one per message
    assert 3 in tierctl_engine.clock.sleeps  # Retry-After, on the fake clock (no real wait)


def test_a_lost_answer_is_unknown_and_never_repeated(tierctl_engine, twilio):
    provider = twilio_provider(tierctl_engine, twilio, timeout=0.3)
    twilio.filter_replies(lambda request, reply: replace(reply, drop=True))
    batch = texts(2)
    outcome = tierctl_engine.send(provider, batch)
    assert set(outcome.states.values()) == {"unknown"}
    assert twilio.count == 2 and len(twilio.messages) == 2  # stored, answer lost, not sent again
    assert all("may have gone out" in r.reason for r in outcome.results)


def test_error_answers_keep_the_platforms_code_and_scrub_secrets(tierctl_engine, twilio):
    provider = twilio_provider(tierctl_engine, twilio)
    batch = texts(2)
    twilio.when(lambda r: batch[0].phone.encode()[1:] in r.body,
                Reply.json({"code": 21211, "message": f"bad To; token {AUTH_TOKEN} echoed"}, 400))
    twilio.when(lambda r: batch[1].phone.encode()[1:] in r.body,
                Reply.json({"code": 30001, "message": "queue overflow"}, 500))
    first, second = tierctl_engine.send(provider, batch).results
    assert not first.ok and not first.retry and first.reason.startswith("Twilio error 21211: bad To")
    assert AUTH_TOKEN not in first.reason and "***" in first.reason
    assert second.unknown and "Twilio error 30001" in second.reason and "may have gone out" in second.reason


def test_the_status_mapping_is_one_overridable_method(tierctl_engine, twilio):
    class Lenient(SmsClient):
        def error_for(self, response, what, retries):
            if response.status_code == 400:
                return MessageError(self.provider.instance, "refused, try tomorrow", retry=True)
            return super().error_for(response, what, retries)

    provider = twilio_provider(tierctl_engine, twilio)
    provider.api = Lenient(provider, auth=provider.api.auth)
    twilio.script(Reply.json({"code": 21211, "message": "bad To"}, 400))
    [result] = tierctl_engine.send(provider, texts(1)).results
    assert result.retry and result.reason == "refused, try tomorrow"


def test_wrong_credentials_stop_the_provider_without_the_token(tierctl_engine, twilio):
    twilio.auth_token = "another-token-entirely"
    provider = twilio_provider(tierctl_engine, twilio)
    outcome = tierctl_engine.send(provider, texts(2))
    assert outcome.error is not None and not outcome.error.retry
    assert "Twilio refused the credentials" in str(outcome.error) and AUTH_TOKEN not in str(outcome.error)
    assert set(outcome.states.values()) == {"retry"}


def test_a_debug_line_per_request_without_secrets(tierctl_engine, caplog):
    caplog.set_level(logging.DEBUG, logger="tierctl.http")
    with MessageBirdDouble(per_second=1000) as bird:
        provider = tierctl_engine.provider("messagebird", {
            "base_url": bird.url, "access_key": "${MESSAGEBIRD_KEY}", "originator": "Acme",
            "survey_url": "https://t.example/s/{invite_id}", "per_second": 50}, env={"MESSAGEBIRD_KEY": ACCESS_KEY})
        assert tierctl_engine.send(provider, texts(2)).ok
    lines = [r.getMessage() for r in caplog.records if r.name == "tierctl.http"]
    assert len(lines) == 2 and all("/messages -> 201" in line for line in lines), lines
    assert ACCESS_KEY not in caplog.text


def test_the_circuit_breaker_stops_calling_a_failing_endpoint(tierctl_engine, twilio):
    provider = twilio_provider(tierctl_engine, twilio, max_retries=0, concurrency=1)
    twilio.when(lambda request: True, Reply.json({"code": 20500, "message": "internal"}, 500), repeat=True)
    provider.batch_size = 8
    outcome = tierctl_engine.send(provider, texts(8))
    assert twilio.count == SmsClient.breaker_failures  # the rest failed at once, without a request
    assert sum(1 for s in outcome.states.values() if s == "unknown") == SmsClient.breaker_failures
    assert sum(1 for s in outcome.states.values() if s == "retry") == 8 - SmsClient.breaker_failures


def test_a_signed_messagebird_report_with_too_many_fields_is_refused_not_a_crash(tierctl_engine):
    """A GET whose JWT checks out but whose query has more fields than a report: refused (was a ValueError
    from parse_qsl, a 500 with a traceback in serve's log)."""
    from tierctl.providers import WebhookRefused
    from tierctl.records import WebhookRequest

    with MessageBirdDouble() as bird:
        provider = tierctl_engine.provider("messagebird", {"base_url": bird.url, "access_key": ACCESS_KEY,
                                                           "originator": "Acme", "signing_key": "k" * 32})
        url = "https://t.example/hooks/messagebird?" + "&".join(f"f{i}=v" for i in range(60))
        request = WebhookRequest(url, {"messagebird-signature-jwt": bird.signature_jwt(url, "k" * 32)}, b"", (),
                                 "GET")
        with pytest.raises(WebhookRefused, match="more query fields"):
            provider.webhook_events(request)
        ok = url.split("?")[0] + "?id=m1&status=delivered"
        events = provider.webhook_events(WebhookRequest(
            ok, {"messagebird-signature-jwt": bird.signature_jwt(ok, "k" * 32)}, b"", (), "GET"))
        assert [(e.external_id, e.status) for e in events] == [("m1", "delivered")]
