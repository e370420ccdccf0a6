"""A local double of MessageBird's classic REST SMS API, on a real HTTP server on 127.0.0.1.

The documented shapes (../shared/providers-wave2.md, section 2; messagebird/python-rest-api):

* ``POST /messages``, JSON, ``Authorization: AccessKey <key>``; a wrong key
  gets ``401`` ``{"errors": [{"code": 2, "description": "Request not allowed
  (incorrect access_key)", "parameter": "access_key"}]}``;
* the body: ``originator``, ``recipients`` (array or comma-separated MSISDNs),
  ``body``, optional ``reference``, ``reportUrl``; missing ones get ``422``
  with code 9 ("no (correct) recipients found" / missing params), a bad
  number code 10 (invalid parameter);
* ``201`` with the Message: ``id``, ``href``, ``direction: "mt"``, ``type:
  "sms"``, ``originator``, ``body``, ``reference``, ``createdDatetime`` and
  ``recipients{totalCount, totalSentCount, totalDeliveredCount,
  totalDeliveryFailedCount, items[{recipient, status: "sent",
  statusDatetime}]}``;
* :meth:`empty_balance` makes sends fail with code 25 (not enough balance);
* a rate ENFORCED (``per_second``): over it ``429`` with an ``errors`` body
  (MessageBird's exact rate-limit body is not documented; see the notes).
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timezone
from typing import Any

from tierctl.testing import HttpDouble, Reply, route

ACCESS_KEY = "live_messagebird_test_key_7Hq2"


def _errors(status: int, code: int, description: str, parameter: str | None = None) -> Reply:
    return Reply.json({"errors": [{"code": code, "description": description, "parameter": parameter}]}, status)


class MessageBirdDouble(HttpDouble):
    """MessageBird's ``/messages`` resource."""

    def __init__(self, per_second: float = 1000.0, access_key: str = ACCESS_KEY, record: bool = True):
        super().__init__(record=record)
        self.access_key = access_key
        self.per_second = per_second
        self.messages: list[dict[str, Any]] = []
        self.rate_limited = 0
        self.balance_empty = False
        self._tokens = max(1.0, per_second)
        self._last = time.monotonic()
        self._bucket = threading.Lock()
        self._ids = itertools.count(1)

    def empty_balance(self) -> None:
        self.balance_empty = True

    def _take(self) -> bool:
        with self._bucket:
            now = time.monotonic()
            self._tokens = min(max(1.0, self.per_second), self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    @route("POST", "/messages")
    def create(self, request: Any) -> Reply:
        if request.headers.get("authorization") != f"AccessKey {self.access_key}":
            return _errors(401, 2, "Request not allowed (incorrect access_key)", "access_key")
        if not self._take():
            self.rate_limited += 1
            return _errors(429, 429, "Too many requests")
        try:
            body = request.json()
        except ValueError:
            return _errors(422, 9, "no (correct) body found", "body")
        if not isinstance(body, dict):
            return _errors(422, 9, "no (correct) body found", "body")
        for name in ("originator", "recipients", "body"):
            if not body.get(name):
                return _errors(422, 9, f"{name} is required", name)
        recipients = body["recipients"]
        recipients = recipients.split(",") if isinstance(recipients, str) else recipients
        if not all(str(r).isdigit() and 7 <= len(str(r)) <= 15 for r in recipients):
            return _errors(422, 10, "no (correct) recipients found", "recipients")
        if len(str(body.get("reference") or "")) > 128:
            return _errors(422, 10, "reference is too long", "reference")
        if self.balance_empty:
            return _errors(422, 25, "Not enough balance", None)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.lock:
            mid = f"{next(self._ids):032x}"
            self.messages.append(dict(body, id=mid))
        return Reply.json({
            "id": mid, "href": f"{self.url}/messages/{mid}", "direction": "mt", "type": "sms",
            "originator": body["originator"], "body": body["body"], "reference": body.get("reference"),
            "validity": None, "gateway": 10, "typeDetails": {}, "datacoding": "plain", "mclass": 1,
            "scheduledDatetime": None, "createdDatetime": now,
            "recipients": {"totalCount": len(recipients), "totalSentCount": len(recipients),
                           "totalDeliveredCount": 0, "totalDeliveryFailedCount": 0,
                           "items": [{"recipient": int(r), "status": "sent", "statusDatetime": now}
                                     for r in recipients]}}, 201)

    # -- delivery reports: what MessageBird calls on the customer's server --------------------------

    def signature_jwt(self, url: str, signing_key: str, body: bytes = b"", expires_in: int = 300,
                      issuer: str = "MessageBird") -> str:
        """``MessageBird-Signature-JWT`` for a request to ``url`` (HS256, as MessageBird signs)."""
        import hashlib
        import uuid

        import jwt

        now = int(time.time())
        claims = {"iss": issuer, "nbf": now, "exp": now + expires_in, "jti": str(uuid.uuid4()),
                  "url_hash": hashlib.sha256(url.encode("latin-1")).hexdigest()}
        if body:
            claims["payload_hash"] = hashlib.sha256(body).hexdigest()
        return jwt.encode(claims, signing_key, algorithm="HS256")

    def delivery_report(self, message_id: str, status: str, signing_key: str, error_code: str = "",
                        signed_url: str | None = None, **jwt_options: Any) -> Any:
        """GET the message's ``reportUrl`` with its status, as MessageBird reports deliveries (only for
        messages sent with a ``reference``); ``signed_url`` signs another address (a proxy's)."""
        from urllib.parse import urlencode

        import httpx

        message = next(m for m in self.messages if m["id"] == message_id)
        query = {"id": message_id, "reference": message.get("reference") or "",
                 "recipient": str(message["recipients"][0]), "status": status,
                 "statusDatetime": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if error_code:
            query["statusErrorCode"] = error_code
        url = f"{message['reportUrl']}?{urlencode(query)}"
        signed = url if signed_url is None else f"{signed_url}?{urlencode(query)}"
        headers = {"MessageBird-Signature-JWT": self.signature_jwt(signed, signing_key, **jwt_options)}
        return httpx.get(url, headers=headers, timeout=10)
