"""What Twilio posts back: signed delivery receipts and inbound texts, checked and read.

``tierctl serve`` routes ``POST /hooks/twilio`` to
:meth:`TwilioProvider.webhook_events <tierctl.plugins.provider_twilio.TwilioProvider.webhook_events>`,
which checks the signature here (:func:`verified_params`) and reads the
fields (:func:`read_callback`) into tierctl's records:

* a :class:`~tierctl.records.DeliveryReceipt` (``MessageStatus`` of a message tierctl
  sent: ``delivered``, ``failed``, ``undelivered``, ...; its ``MessageSid`` is
  the invitation's external id);
* an :class:`~tierctl.records.InboundText`: what the contact wrote (tierctl reads
  ``STOP`` and a score ``0``-``10`` out of it).

Signatures (Twilio's ``RequestValidator``): the full URL, then every form
field sorted by name as ``name + value`` (no separators), HMAC-SHA1 with the
auth token, base64; compared in constant time, and tried with and without
an explicit ``:443``/``:80`` port because Twilio is not consistent about it.

Under a Twilio Webhooks Rule the request says so in
``X-Twilio-Webhooks-Signature-Settings: key=...,algorithm=HMAC_SHA256``: the
same text is then signed with the rule's Setting's shared key (the
provider's ``webhook_key`` option) and that algorithm.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from tierctl.providers import WebhookRefused
from tierctl.records import DeliveryReceipt, InboundText

#: Fields read from a callback; more than this many fields is not Twilio.
MAX_FIELDS = 200


class BadSignature(WebhookRefused):
    """The request is not signed by the account's auth token (answer 401, act on nothing)."""


#: The algorithms a Webhooks Setting may name (``algorithm=`` of its header).
ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"


def twilio_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str,
                     algorithm: str = "HMAC_SHA1") -> str:
    """``X-Twilio-Signature`` for a form POST to ``url`` with ``params`` (repeated names allowed),
    signed with ``auth_token`` (or a Webhooks Setting's shared key) and ``algorithm``."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def signing_settings(header: str | None, auth_token: str, webhook_key: str | None) -> tuple[str, str]:
    """``(key, algorithm)`` a request was signed with: the auth token and HMAC-SHA1, or under a
    Webhooks Rule (``header``) its Setting's shared key and the algorithm it names.

    :raises BadSignature: a rule's request without ``webhook_key`` configured, or an algorithm
        Twilio does not document.
    """
    if header is None:
        return auth_token, "HMAC_SHA1"
    fields = dict(part.strip().partition("=")[::2] for part in header[:500].split(",") if "=" in part)
    algorithm = fields.get("algorithm", "HMAC_SHA1").strip().upper()
    if algorithm not in ALGORITHMS:
        raise BadSignature(f"X-Twilio-Webhooks-Signature-Settings names algorithm {algorithm[:40]!r}; "
                           f"expected one of {', '.join(ALGORITHMS)}")
    if not webhook_key:
        raise BadSignature("signed under a Twilio Webhooks Rule (X-Twilio-Webhooks-Signature-Settings): set the "
                           "provider's webhook_key to its Setting's shared key, e.g. ${TWILIO_WEBHOOK_KEY}")
    return webhook_key, algorithm


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    variants = [url]
    if default is not None and parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    elif parts.port == default:
        netloc = (parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else "") + host
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def verified_params(url: str, params: list[tuple[str, str]], signature: str | None,
                    auth_token: str, settings: str | None = None, webhook_key: str | None = None) -> dict[str, str]:
    """The form fields, once the signature over the raw fields is checked (with the auth token,
    or under a Webhooks Rule, ``settings`` being its header, with ``webhook_key``).

    :raises BadSignature: no signature, a wrong one, or more fields than Twilio sends.
    """
    if not signature or len(params) > MAX_FIELDS:
        raise BadSignature("missing X-Twilio-Signature" if not signature else "more fields than Twilio sends")
    key, algorithm = signing_settings(settings, auth_token, webhook_key)
    given = signature.strip().encode("ascii", "replace")
    if not any(hmac.compare_digest(twilio_signature(u, params, key, algorithm).encode("ascii"), given)
               for u in _url_variants(url)):
        raise BadSignature("X-Twilio-Signature does not match")
    return {name: value for name, value in params}


def read_callback(params: Mapping[str, str]) -> DeliveryReceipt | InboundText | None:
    """A verified callback as a receipt or an inbound text; None when it is neither."""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if status and status not in ("received", "receiving") and sid:
        return DeliveryReceipt(sid[:64], status.lower()[:32], (params.get("ErrorCode") or "")[:16])
    sender = params.get("From") or ""
    if "Body" in params and sender:
        channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
        return InboundText(sender.removeprefix("whatsapp:")[:32], channel, params["Body"][:1600], sid[:64])
    return None
