"""The acme provider's own behaviour against the Acme Surveys double: faults and edge cases."""

import pytest
from acme_api import AcmeApi

from tierctl.providers import ProviderError
from tierctl.testing import Reply, invitation, invitations

KEY = "acme-test-key-0123456789"


@pytest.fixture
def api(tierctl_serve):
    return tierctl_serve(AcmeApi(api_key=KEY))


# [docs:own-test]
@pytest.fixture
def acme(tierctl_engine, api):
    """An acme provider built as `tierctl survey send` builds it, in an isolated engine."""
    return tierctl_engine.provider("acme", {"api_key": "${ACME_API_KEY}", "base_url": f"{api.url}/v1",
                                            "retries": 2}, env={"ACME_API_KEY": KEY})


def test_a_revoked_key_stops_the_provider_without_a_retry(tierctl_engine, api):
    provider = tierctl_engine.provider("acme", {"api_key": "revoked-key-987654321", "base_url": f"{api.url}/v1"})
    with pytest.raises(ProviderError) as info:
        provider.send([invitation(1)])
    assert info.value.retry is False
    assert str(info.value) == ("provider contract: Acme refused the API key (401 unauthorized: invalid API key); "
                               "check api_key")
    assert "revoked-key" not in str(info.value)
# [/docs:own-test]


def test_a_rejected_address_fails_alone_and_for_good(acme, api):
    results = acme.send([invitation(1), invitation(2, contact_email="bounce@globex.example")])
    assert [(r.invite_id, r.ok, r.retry) for r in results] == [("inv-0001", True, False),
                                                               ("inv-0002", False, False)]
    assert results[1].reason == "Acme rejected it: invalid_email: address rejected"


def test_429_waits_for_retry_after_then_succeeds(tierctl_engine, acme, api):
    api.script(Reply.json({"error": {"code": "rate_limited"}}, 429, {"Retry-After": "0.2"}))
    results = acme.send(invitations(2))
    assert all(r.ok for r in results) and api.count == 2
    assert api.requests[1].received_at - api.requests[0].received_at >= 0.2


def test_responses_come_back_across_pages_once(tierctl_engine, acme, api):
    sent = invitations(5)
    tierctl_engine.send(acme, sent)
    for inv in sent:
        api.respond(inv.invite_id, {"satisfaction": 5})
    responses, cursor = tierctl_engine.fetch_all(acme, "pre-meeting")
    assert sorted(r.invite_id for r in responses) == [i.invite_id for i in sent]
    assert api.count > 3  # five responses, two a page
    assert tierctl_engine.fetch_all(acme, "pre-meeting", cursor)[0] == []


def test_a_timeout_after_posting_is_not_sent_again(tierctl_engine, api):
    provider = tierctl_engine.provider("acme", {"api_key": KEY, "base_url": f"{api.url}/v1", "timeout": 0.2})
    api.script(Reply.json({"results": []}, delay=1))
    outcome = tierctl_engine.send(provider, invitations(2))
    assert outcome.error is None
    assert set(outcome.states.values()) == {"failed"}  # not "retry": they may have been created
    assert "may have been created" in outcome.results[0].reason
