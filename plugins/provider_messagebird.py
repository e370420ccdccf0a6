"""The ``messagebird`` provider: SMS through MessageBird's (Bird's) REST messages API.

::

    providers:
      bird:
        plugin: messagebird
        access_key: ${MESSAGEBIRD_ACCESS_KEY}
        originator: Acme                       # a number or up to 11 letters/digits
        signing_key: ${MESSAGEBIRD_SIGNING_KEY}  # to receive delivery reports at serve's /hooks/messagebird
        # report_url: ...                       # default with serve: <serve.base_url>/hooks/messagebird
        per_second: 10
        survey_url: https://tiers.acme.example/s/{invite_id}
        # base_url: https://rest.messagebird.com                   # the default

Each message is one ``POST /messages`` (JSON, ``Authorization: AccessKey
<key>``): ``originator``, ``recipients`` (the number without ``+``),
``body`` and ``reference`` (tierctl's invite id: MessageBird sends delivery
reports only for messages with a reference). ``201`` with the message's
``id`` is sent.

Errors come as ``{"errors": [{"code", "description", "parameter"}]}``: 401
(code 2, a wrong access key) stops the provider; code 25 (not enough
balance) stops it too, to be resumed by a later run; other 4xx answers
(code 9 missing or 10 invalid parameters, e.g. a bad number) fail that
message for good; 429 and 503 were not processed and are tried again; a
lost answer or another 5xx leaves the message *unknown*, never resent unasked.

Delivery reports (``tierctl serve``'s ``/hooks/messagebird``): MessageBird
calls ``reportUrl`` with a GET (``id``, ``reference``, ``recipient``,
``status``, ``statusDatetime``, ...) signed in ``MessageBird-Signature-JWT``:
a JWT (HS256/384/512) under the account's signing key with ``iss``
``MessageBird``, ``nbf``, ``exp`` and ``url_hash`` (SHA-256 of the full URL),
plus ``payload_hash`` when there is a body (checked as MessageBird's own
``RequestValidator`` does, with PyJWT). ``delivered`` is delivered,
``delivery_failed`` failed and ``expired`` undelivered. Bird's
newer Channels API is not used (its access differs by account). SMS only:
WhatsApp goes through ``twilio``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from tierctl.plugins.sms_common import SmsClient, SmsOptions, TextProvider, text_for
from tierctl.providers import ProviderContext, ProviderError, WebhookRefused
from tierctl.records import DeliveryReceipt, InboundText, Invitation, WebhookRequest

#: MessageBird's report statuses as tierctl's delivery words (others, e.g. ``buffered``, say nothing new).
REPORT_STATUS = {"delivered": "delivered", "delivery_failed": "failed", "expired": "undelivered", "sent": "sent",
                 "scheduled": "queued"}

MESSAGEBIRD_API = "https://rest.messagebird.com"


class MessageBirdOptions(SmsOptions):
    base_url: str = Field(MESSAGEBIRD_API, description="MessageBird's REST API (change it for a test double)")
    access_key: SecretStr = Field(description="A live access key; write it as ${MESSAGEBIRD_ACCESS_KEY}")
    originator: str = Field(description="The sender: a phone number, or up to 11 letters and digits")
    report_url: str | None = Field(None, description="Where MessageBird sends delivery reports; default: "
                                                     "serve.base_url + /hooks/messagebird when serve: is set")
    signing_key: SecretStr | None = Field(None, description="The account's signing key, to check delivery "
                                                            "reports; write it as ${MESSAGEBIRD_SIGNING_KEY}")

    @field_validator("originator")
    @classmethod
    def _originator(cls, value: str) -> str:
        value = value.strip()
        digits = value.lstrip("+")
        if not (digits.isdigit() and 3 <= len(digits) <= 17 or value.isalnum() and len(value) <= 11):
            raise ValueError(f"{value!r} is not an originator: a phone number or up to 11 letters and digits")
        return value


class MessageBirdProvider(TextProvider):
    """Sends SMS (and survey links by SMS) through MessageBird."""

    name = "messagebird"
    description = "SMS through MessageBird (Bird) REST messages"
    platform = "MessageBird"
    Options = MessageBirdOptions
    batch_size = 50
    receives_webhooks = True  # delivery reports at tierctl serve's /hooks/messagebird
    options: MessageBirdOptions

    def __init__(self, instance: str, options: MessageBirdOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.api = SmsClient(self, headers={"Authorization": f"AccessKey {options.access_key.get_secret_value()}"})
        from tierctl.web.links import hook_url

        self.report_url = options.report_url or hook_url(context.config, "messagebird")

    def request(self, invitation: Invitation, channel: str) -> tuple[str, dict[str, Any]] | str:
        if channel != "sms":
            return "MessageBird sends SMS here; send WhatsApp through the twilio provider"
        text = text_for(invitation, self.options, self.org_name, self.context.config)
        if text is None:
            return "set survey_url (the survey link template) to send survey invitations by SMS"
        body: dict[str, Any] = {"originator": self.options.originator,
                                "recipients": [invitation.phone.lstrip("+")], "body": text,
                                "reference": invitation.invite_id}
        if self.report_url:
            body["reportUrl"] = self.report_url
        return f"{self.options.base_url}/messages", {"json": body}

    def error(self, status: int, data: dict[str, Any]) -> tuple[Any, str]:
        errors = data.get("errors") if isinstance(data.get("errors"), list) else []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        return first.get("code"), str(first.get("description") or "")

    def stops(self, status: int, code: Any, text: str) -> ProviderError | None:
        if status == 401 or code == 2:
            return ProviderError(self.instance, f"(messagebird) MessageBird refused the access key (HTTP {status}, "
                                                f"code {code}): check access_key", retry=False)
        if code == 25:
            return ProviderError(self.instance, "(messagebird) the MessageBird balance is used up (code 25); "
                                                "top it up, the next run sends the rest", retry=True)
        return None

    def webhook_events(self, request: WebhookRequest) -> list[DeliveryReceipt | InboundText]:
        """A delivery report, once ``MessageBird-Signature-JWT`` checks out with the signing key."""
        from urllib.parse import parse_qsl, urlsplit

        if self.options.signing_key is None:
            raise WebhookRefused("set signing_key (the account's signing key) to receive delivery reports")
        verify_jwt(request.headers.get("messagebird-signature-jwt"), self.options.signing_key.get_secret_value(),
                   request.url, request.body)
        try:
            params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True, max_num_fields=50)) \
                if request.method == "GET" else dict(request.form)
        except ValueError:  # more fields than a report has: not MessageBird's (was a 500 with a traceback)
            raise WebhookRefused("more query fields than a MessageBird report has") from None
        status = REPORT_STATUS.get(params.get("status", ""))
        message_id = params.get("id", "")
        if status is None or not message_id:
            return []
        return [DeliveryReceipt(message_id[:64], status, (params.get("statusErrorCode") or "")[:16])]


def verify_jwt(token: str | None, key: str, url: str, body: bytes) -> dict[str, Any]:
    """The claims of a valid ``MessageBird-Signature-JWT`` for a request to ``url`` with ``body``,
    checked like MessageBird's ``RequestValidator``; :class:`WebhookRefused` otherwise."""
    import hashlib
    import hmac

    import jwt

    if not token:
        raise WebhookRefused("missing MessageBird-Signature-JWT")
    try:
        claims = jwt.decode(token, key, algorithms=["HS256", "HS384", "HS512"], issuer="MessageBird", leeway=1,
                            options={"require": ["iss", "nbf", "exp", "url_hash"], "verify_iat": False})
    except jwt.InvalidTokenError as exc:
        raise WebhookRefused(f"MessageBird-Signature-JWT refused: {exc}") from None
    if not hmac.compare_digest(hashlib.sha256(url.encode("latin-1", "replace")).hexdigest(),
                               str(claims["url_hash"])):
        raise WebhookRefused("MessageBird-Signature-JWT refused: url_hash does not match")
    payload_hash = claims.get("payload_hash")
    if bool(body) != bool(payload_hash) or body and not hmac.compare_digest(
            hashlib.sha256(body).hexdigest(), str(payload_hash)):
        raise WebhookRefused("MessageBird-Signature-JWT refused: payload_hash does not match the body")
    return claims
