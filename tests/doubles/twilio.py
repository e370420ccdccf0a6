"""A local double of Twilio's Programmable Messaging API (2010-04-01), on a real HTTP server on 127.0.0.1.

It follows the documented shapes (../shared/providers-wave2.md, section 1):

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded,
  HTTP Basic ``AccountSid:AuthToken``; a wrong sid or token gets ``401`` with
  error ``20003``;
* the answer ``201`` with a Message resource (``sid`` SM + 32 hex, ``status``
  ``queued``, or ``accepted`` with a Messaging Service, ``to``, ``from``,
  ``body``, ``num_segments``, ``direction``, ``date_created`` in RFC 2822,
  ``uri``, ``error_code``/``error_message`` null);
* errors as ``{"code", "message", "more_info", "status"}``: ``21604`` no To,
  ``21211`` an invalid To, ``21603``/``21606``-style missing sender
  (``21603``), ``21602`` no Body (or ContentSid), ``21610`` the recipient
  replied STOP (:meth:`opt_out`), ``63016`` a WhatsApp message with a Body
  instead of an approved template (outside the 24-hour window: every
  business-initiated message here), ``20429`` too many requests (429);
* the account's rate ENFORCED (``per_second``, a token bucket one second
  deep): over it, ``429`` with error ``20429`` ("never processed and always
  safe to retry"); Twilio documents no ``Retry-After`` for this endpoint, so
  none is sent.

:attr:`messages` lists every accepted message (form fields as sent);
:attr:`rate_limited` counts 429s given; :attr:`count` every request.

Callbacks, as Twilio makes them (form-encoded POSTs signed with
``X-Twilio-Signature``: the URL, then each field sorted by name as
``name + value``, HMAC-SHA1 with the auth token, base64):
:meth:`status_callback` posts a message's ``MessageStatus`` (and
``ErrorCode``) to the ``StatusCallback`` it was sent with; :meth:`inbound`
posts a text a contact sends (``From``, ``To``, ``Body``, ``MessageSid``,
``SmsStatus=received``, ...) to the number's webhook URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlencode

from tierctl.testing import HttpDouble, Reply, route

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-token-5e2f"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _error(status: int, code: int, message: str) -> Reply:
    return Reply.json({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                       "status": status}, status)


class TwilioDouble(HttpDouble):
    """Twilio's Messages resource, with its limits and errors."""

    def __init__(self, per_second: float = 1000.0, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 record: bool = True):
        super().__init__(record=record)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.per_second = per_second
        self.messages: list[dict[str, str]] = []
        self.opted_out: set[str] = set()
        self.rate_limited = 0
        self._tokens = min(per_second, max(1.0, per_second))
        self._last = time.monotonic()
        self._bucket = threading.Lock()
        self._sids = itertools.count(1)
        self.delay = 0.0  # seconds each accepted message takes to answer (for kill tests)

    @property
    def base_url(self) -> str:
        return f"{self.url}/2010-04-01"

    def opt_out(self, number: str) -> None:
        """The contact replied STOP: later messages to it fail with 21610."""
        self.opted_out.add(number)

    def _take(self) -> bool:
        with self._bucket:
            now = time.monotonic()
            depth = max(1.0, self.per_second)  # one second deep
            self._tokens = min(depth, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def _authorised(self, request: Any, sid: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid == sid and password == self.auth_token

    @route("POST", "/2010-04-01/Accounts/{sid}/Messages.json")
    def create_message(self, request: Any, sid: str) -> Reply:
        if not self._authorised(request, sid):
            return _error(401, 20003, "Authenticate")
        if not self._take():
            self.rate_limited += 1
            return _error(429, 20429, "Too Many Requests")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _error(400, 21604, "A 'To' phone number is required.")  # a JSON body reads as empty
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
        to = form.get("To", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        whatsapp = to.startswith("whatsapp:")
        number = to.removeprefix("whatsapp:")
        if not _E164.match(number):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sender = form.get("From") or form.get("MessagingServiceSid")
        if not sender:
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
        if whatsapp and not form.get("From", "").startswith("whatsapp:"):
            return _error(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
        if not form.get("Body") and not form.get("ContentSid"):
            return _error(400, 21602, "Message body is required.")
        if whatsapp and not form.get("ContentSid"):
            return _error(400, 63016, "Failed to send freeform message because you are outside the allowed "
                                      "window. If you are using WhatsApp, please use a Message Template.")
        if form.get("ContentVariables"):
            try:
                variables = json.loads(form["ContentVariables"])
            except ValueError:
                return _error(400, 21656, "The ContentVariables Parameter is invalid.")
            if not isinstance(variables, dict) or len(variables) > 100:
                return _error(400, 21656, "The ContentVariables Parameter is invalid.")
        if number in self.opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        with self.lock:
            sid_ = f"SM{next(self._sids):032x}"
            self.messages.append(dict(form, sid=sid_))
        if self.delay:
            time.sleep(self.delay)
        service = form.get("MessagingServiceSid")
        return Reply.json({
            "sid": sid_, "account_sid": sid, "messaging_service_sid": service, "from": form.get("From"),
            "to": to, "body": form.get("Body", ""), "status": "accepted" if service else "queued",
            "num_segments": str(max(1, -(-len(form.get("Body", "")) // 160))), "num_media": "0",
            "direction": "outbound-api", "api_version": "2010-04-01", "price": None, "price_unit": "USD",
            "error_code": None, "error_message": None, "date_created": formatdate(usegmt=True),
            "date_sent": None, "date_updated": formatdate(usegmt=True),
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{sid_}.json"}, 201)

    # -- callbacks: what Twilio posts to the customer's server -----------------------------------

    def sign(self, url: str, fields: dict[str, str], rule: tuple[str, str] | None = None) -> str:
        """``X-Twilio-Signature`` of a form POST to ``url``: with the auth token and HMAC-SHA1, or
        under a Webhooks Rule ``(shared key, HMAC_SHA1|HMAC_SHA256)`` with its key and algorithm."""
        key, algorithm = rule or (self.auth_token, "HMAC_SHA1")
        digest = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}[algorithm]
        data = url + "".join(name + fields[name] for name in sorted(fields))
        return base64.b64encode(hmac.new(key.encode(), data.encode(), digest).digest()).decode()

    def post_callback(self, url: str, fields: dict[str, str], signature: str | None = "sign",
                      signed_url: str | None = None, rule: tuple[str, str] | None = None) -> Any:
        """POST ``fields`` to ``url`` as Twilio does; ``signature=None`` leaves the header out, and
        ``signed_url`` signs another address (the public one, behind a proxy). ``rule``: signed
        under a Webhooks Rule (see :meth:`sign`), which the settings header says."""
        import httpx

        headers = {"content-type": "application/x-www-form-urlencoded", "user-agent": "TwilioProxy/1.1",
                   "i-twilio-idempotency-token": f"{fields.get('MessageSid', '')}-{fields.get('MessageStatus', '')}"}
        if signature == "sign":
            signature = self.sign(signed_url or url, fields, rule)
        if signature is not None:
            headers["x-twilio-signature"] = signature
        if rule is not None:
            headers["x-twilio-webhooks-signature-settings"] = f"key=KS{'0' * 32},algorithm={rule[1]}"
        return httpx.post(url, content=urlencode(fields).encode(), headers=headers, timeout=10)

    def status_callback(self, sid: str, status: str, error_code: str = "", **kwargs: Any) -> Any:
        """Post message ``sid``'s status to the ``StatusCallback`` it was sent with."""
        message = next(m for m in self.messages if m["sid"] == sid)
        fields = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid,
                  "MessageStatus": status, "SmsStatus": status, "From": message.get("From", ""),
                  "To": message["To"]}
        if error_code:
            fields["ErrorCode"] = error_code
        return self.post_callback(message["StatusCallback"], fields, **kwargs)

    def inbound(self, url: str, sender: str, body: str, to: str = "+3197010200300", sid: str | None = None,
                **kwargs: Any) -> Any:
        """A contact texts ``body`` from ``sender`` (``whatsapp:+...`` for WhatsApp) to ``to``."""
        sid = sid or f"SM{next(self._sids) + 10**6:032x}"
        whatsapp = sender.startswith("whatsapp:")
        fields = {"ToCountry": "NL", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
                  "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
                  "Body": body, "FromCountry": "NL", "To": f"whatsapp:{to}" if whatsapp else to,
                  "ToZip": "", "NumSegments": "1", "MessageSid": sid, "AccountSid": self.account_sid,
                  "From": sender, "ApiVersion": "2010-04-01"}
        return self.post_callback(url, fields, **kwargs)
