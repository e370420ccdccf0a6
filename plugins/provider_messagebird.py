"""The ``messagebird`` provider: SMS through MessageBird's (Bird's) REST messages API.

::

    providers:
      bird:
        plugin: messagebird
        access_key: ${MESSAGEBIRD_ACCESS_KEY}
        originator: Acme                       # a number or up to 11 letters/digits
        report_url: https://tiers.acme.example/hooks/messagebird   # delivery reports (optional)
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
lost answer or another 5xx leaves the message *unknown*, never resent unasked. Bird's
newer Channels API is not used (its access differs by account). SMS only:
WhatsApp goes through ``twilio``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from tierctl.plugins.sms_common import SmsClient, SmsOptions, TextProvider, text_for
from tierctl.providers import ProviderContext, ProviderError
from tierctl.records import Invitation

MESSAGEBIRD_API = "https://rest.messagebird.com"


class MessageBirdOptions(SmsOptions):
    base_url: str = Field(MESSAGEBIRD_API, description="MessageBird's REST API (change it for a test double)")
    access_key: SecretStr = Field(description="A live access key; write it as ${MESSAGEBIRD_ACCESS_KEY}")
    originator: str = Field(description="The sender: a phone number, or up to 11 letters and digits")
    report_url: str | None = Field(None, description="Where MessageBird sends delivery reports")

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
    options: MessageBirdOptions

    def __init__(self, instance: str, options: MessageBirdOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.api = SmsClient(self, headers={"Authorization": f"AccessKey {options.access_key.get_secret_value()}"})

    def request(self, invitation: Invitation, channel: str) -> tuple[str, dict[str, Any]] | str:
        if channel != "sms":
            return "MessageBird sends SMS here; send WhatsApp through the twilio provider"
        text = text_for(invitation, self.options, self.org_name, self.context.config)
        if text is None:
            return "set survey_url (the survey link template) to send survey invitations by SMS"
        body: dict[str, Any] = {"originator": self.options.originator,
                                "recipients": [invitation.phone.lstrip("+")], "body": text,
                                "reference": invitation.invite_id}
        if self.options.report_url:
            body["reportUrl"] = self.options.report_url
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
