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


def twilio_signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """``X-Twilio-Signature`` for a form POST to ``url`` with ``params`` (repeated names allowed)."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


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
                    auth_token: str) -> dict[str, str]:
    """The form fields, once the signature over the raw fields is checked.

    :raises BadSignature: no signature, a wrong one, or more fields than Twilio sends.
    """
    if not signature or len(params) > MAX_FIELDS:
        raise BadSignature("missing X-Twilio-Signature" if not signature else "more fields than Twilio sends")
    given = signature.strip().encode("ascii", "replace")
    if not any(hmac.compare_digest(twilio_signature(u, params, auth_token).encode("ascii"), given)
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
