"""What Twilio posts back: signed delivery receipts and inbound texts, checked and read.

For ``tierctl serve``'s ``/hooks/twilio`` (not on main yet): the route
hands the raw form fields, the full URL Twilio called and the
``X-Twilio-Signature`` header to :func:`verified_params`, and acts on what
:func:`read_callback` makes of them:

* a :class:`DeliveryReceipt` (``MessageStatus`` of a message tierctl sent:
  ``delivered``, ``failed``, ``undelivered``, ...) updates the invitation whose
  external id is ``message_sid``;
* an :class:`InboundText`: ``STOP`` (and Twilio's other opt-out words) is an
  opt-out of that channel for the sender's number; a lone score ``0``-``10``
  answers the sender's open NPS-only SMS survey.

Signatures (Twilio's ``RequestValidator``): the full URL, then every form
field sorted by name as ``name + value`` (no separators), HMAC-SHA1 with the
auth token, base64; compared in constant time, and tried with and without
an explicit ``:443``/``:80`` port because Twilio is not consistent about it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

#: Twilio's default opt-out keywords on long codes (Advanced Opt-Out can add more).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
#: The final delivery states a receipt can report.
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled"})
#: Fields read from a callback; more than this many fields is not Twilio.
MAX_FIELDS = 200


class BadSignature(ValueError):
    """The request is not signed by the account's auth token (answer 403, act on nothing)."""


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
        raise BadSignature("missing X-Twilio-Signature" if not signature else "too many fields")
    given = signature.strip().encode("ascii", "replace")
    if not any(hmac.compare_digest(twilio_signature(u, params, auth_token).encode("ascii"), given)
               for u in _url_variants(url)):
        raise BadSignature("X-Twilio-Signature does not match")
    return {name: value for name, value in params}


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A status callback: what became of a message tierctl sent (its sid is the invitation's external id)."""

    message_sid: str
    status: str
    error_code: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class InboundText:
    """A text a contact sent: ``sender`` is the E.164 number (``whatsapp:`` removed), ``channel`` sms or whatsapp."""

    sender: str
    channel: str
    body: str

    @property
    def is_stop(self) -> bool:
        """An opt-out: the whole text is one of Twilio's opt-out words (any case, spaces and a dot allowed)."""
        return self.body.strip().rstrip(".!").upper() in STOP_WORDS

    @property
    def score(self) -> int | None:
        """A lone whole number 0-10 (an NPS answer by text), else None."""
        text = self.body.strip().rstrip(".!")
        return int(text) if text.isdigit() and len(text) <= 2 and 0 <= int(text) <= 10 else None


def read_callback(params: Mapping[str, str]) -> DeliveryReceipt | InboundText | None:
    """A verified callback as a receipt or an inbound text; None when it is neither."""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if status and status not in ("received", "receiving") and sid:
        return DeliveryReceipt(sid, status, params.get("ErrorCode") or "")
    sender = params.get("From") or ""
    if "Body" in params and sender:
        channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
        return InboundText(sender.removeprefix("whatsapp:"), channel, params["Body"][:1600])
    return None
