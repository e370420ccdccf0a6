"""Twilio's signed callbacks: the signature checked as Twilio's own validator does, receipts and texts read."""

from __future__ import annotations

import pytest

from tierctl.plugins.twilio_webhooks import BadSignature, read_callback, twilio_signature, verified_params
from tierctl.providers import WebhookRefused
from tierctl.records import DeliveryReceipt, InboundText
from tierctl.responses.texts import OPT_OUT_WORDS, keyword, score_of

# The worked example of twilio-python's tests/unit/test_request_validator.py (../shared/providers-wave2.md).
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
          ("From", "+14158675309"), ("To", "+18005551212")]


def test_signature_matches_twilios_worked_example():
    assert twilio_signature(URL, PARAMS, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    changed = [(k, "+12349013030" if k in ("Caller", "From") else v) for k, v in PARAMS]
    assert twilio_signature(URL, changed, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_bad_signature_is_a_webhook_refusal():
    assert issubclass(BadSignature, WebhookRefused)


def test_verified_params_accepts_the_signed_request_with_or_without_the_port():
    assert verified_params(URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "12345")["Digits"] == "1234"
    signed_with_port = twilio_signature("https://mycompany.com:443/myapp.php?foo=1&bar=2", PARAMS, "12345")
    assert verified_params(URL, PARAMS, signed_with_port, "12345")["To"] == "+18005551212"


@pytest.mark.parametrize("signature, params, token", [
    (None, PARAMS, "12345"),
    ("RSOYDt4T1cUTdK1PDd93/VVr8B8=", PARAMS, "wrong-token"),
    ("RSOYDt4T1cUTdK1PDd93/VVr8B8=", PARAMS + [("Extra", "1")], "12345"),  # a field added in transit
    ("not base64 at all ☃", PARAMS, "12345"),
    # more fields than Twilio sends, signed with the right token: refused for the count alone
    (twilio_signature(URL, [("x", "y")] * 201, "12345"), [("x", "y")] * 201, "12345"),
])
def test_anything_else_is_refused(signature, params, token):
    with pytest.raises(WebhookRefused):  # BadSignature is one: serve answers 401
        verified_params(URL, params, signature, token)


# The worked example's text to sign, as the validator builds it (URL, then fields sorted by name).
SIGNED_TEXT = ("https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309"
               "Digits1234From+14158675309To+18005551212")
RULE = "key=KS00000000000000000000000000000000,algorithm=HMAC_SHA256"


def test_under_a_webhooks_rule_the_same_text_is_signed_with_its_key_and_algorithm():
    import base64
    import hashlib
    import hmac

    shared = "rule-shared-key"
    expected = base64.b64encode(hmac.new(shared.encode(), SIGNED_TEXT.encode(), hashlib.sha256).digest()).decode()
    assert twilio_signature(URL, PARAMS, shared, "HMAC_SHA256") == expected
    assert verified_params(URL, PARAMS, expected, "12345", RULE, shared)["Digits"] == "1234"
    # The rule's header without its key configured: refused, saying what to set.
    with pytest.raises(BadSignature, match="set the provider's webhook_key"):
        verified_params(URL, PARAMS, expected, "12345", RULE, None)
    # Under the rule the auth token's SHA-1 signature is not the one to trust; nor a wrong key.
    for signature, key in (("RSOYDt4T1cUTdK1PDd93/VVr8B8=", shared), (expected, "another-key")):
        with pytest.raises(BadSignature, match="does not match"):
            verified_params(URL, PARAMS, signature, "12345", RULE, key)
    with pytest.raises(BadSignature, match="names algorithm 'MD5'"):
        verified_params(URL, PARAMS, expected, "12345", "key=KS1,algorithm=md5", shared)
    # A rule with HMAC_SHA1 signs with its own key, not the auth token.
    sha1 = twilio_signature(URL, PARAMS, shared, "HMAC_SHA1")
    assert verified_params(URL, PARAMS, sha1, "12345", "key=KS1,algorithm=HMAC_SHA1", shared)["To"] == "+18005551212"


def test_status_callbacks_become_receipts():
    receipt = read_callback({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003",
                             "AccountSid": "AC1", "From": "+3197010200300", "To": "+31612345601"})
    assert receipt == DeliveryReceipt("SM1", "undelivered", "30003")
    assert read_callback({"MessageSid": "SM1", "MessageStatus": "Delivered"}) == DeliveryReceipt("SM1", "delivered")


@pytest.mark.parametrize("body, stop, score", [
    ("STOP", True, None), (" stop. ", True, None), ("Unsubscribe", True, None), ("stop please", False, None),
    ("9", False, 9), ("10", False, 10), (" 0 ", False, 0), ("9.", False, 9), (" 9 ", False, 9),
    ("11", False, None), ("9/10", False, None), ("-1", False, None), ("٩", False, None),
])
def test_inbound_texts_stop_and_scores(body, stop, score):
    text = read_callback({"MessageSid": "SM9", "SmsStatus": "received", "From": "+31612345601", "Body": body})
    assert isinstance(text, InboundText) and text.channel == "sms" and text.sender == "+31612345601"
    assert text.message_id == "SM9"
    assert (keyword(text.body) in OPT_OUT_WORDS, score_of(text.body)) == (stop, score)


def test_whatsapp_sender_and_unknown_callbacks():
    text = read_callback({"From": "whatsapp:+31612345601", "Body": "STOP"})
    assert (text.channel, text.sender, keyword(text.body)) == ("whatsapp", "+31612345601", "STOP")
    assert read_callback({"AccountSid": "AC1"}) is None
