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
lost answer or another 5xx fails the message without resending it. Bird's
newer Channels API is not used (its access differs by account). SMS only:
WhatsApp goes through ``twilio``.
"""

from __future__ import annotations

from typing import Any, Sequence

from pydantic import Field, SecretStr, field_validator

from tierctl.plugins.sms_common import (ApiClient, NoAnswer, SmsOptions, Unreachable, channel_of, refusal,
                                        text_for)
from tierctl.providers import Provider, ProviderContext, ProviderError
from tierctl.records import Invitation, SendResult
from tierctl.util.ratelimit import RateLimit

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


class MessageBirdProvider(Provider):
    """Sends SMS (and survey links by SMS) through MessageBird."""

    name = "messagebird"
    description = "SMS through MessageBird (Bird) REST messages"
    Options = MessageBirdOptions
    batch_size = 50
    options: MessageBirdOptions

    def __init__(self, instance: str, options: MessageBirdOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = RateLimit.from_per_second(options.per_second)
        self.api = ApiClient(options, {"Authorization": f"AccessKey {options.access_key.get_secret_value()}",
                                       "Accept": "application/json"}, None, f"{instance} (messagebird)")
        config = context.config
        self._org = config.organization.name if config is not None else ""

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        results: list[SendResult] = []
        for index, invitation in enumerate(batch):
            channel = channel_of(invitation, "sms")
            why = refusal(invitation, channel)
            if why is None and channel != "sms":
                why = "MessageBird sends SMS here; send WhatsApp through the twilio provider"
            text = text_for(invitation, self.options, self._org) if why is None else None
            if why is None and text is None:
                why = "set survey_url (the survey link template) to send survey invitations by SMS"
            if why is not None:
                results.append(SendResult.failed(invitation.invite_id, why))
                continue
            body: dict[str, Any] = {"originator": self.options.originator,
                                    "recipients": [invitation.phone.lstrip("+")], "body": text,
                                    "reference": invitation.invite_id}
            if self.options.report_url:
                body["reportUrl"] = self.options.report_url
            try:
                response = self.api.post(f"{self.options.base_url}/messages", json=body)
            except Unreachable as exc:
                if not results:
                    raise ProviderError(self.instance, f"(messagebird) cannot reach {self.options.base_url}: "
                                                       f"{exc}", retry=True) from None
                results.extend(SendResult.failed(i.invite_id, f"cannot reach MessageBird: {exc}", retry=True)
                               for i in batch[index:])
                return results
            except NoAnswer as exc:
                results.append(SendResult.failed(invitation.invite_id, f"MessageBird did not answer ({exc}); "
                                                 "the message may have gone out, so it is not resent"))
                continue
            results.append(self._result(invitation, response))
        return results

    def _result(self, invitation: Invitation, response: Any) -> SendResult:
        status = response.status_code
        try:
            data = response.json() if response.content and len(response.content) < 1 << 20 else {}
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        if status in (200, 201):
            return SendResult.sent(invitation.invite_id, str(data.get("id") or "") or None)
        errors = data.get("errors") if isinstance(data.get("errors"), list) else []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        code, text = first.get("code"), str(first.get("description") or response.reason or "")[:300]
        if status == 401 or code == 2:
            raise ProviderError(self.instance, f"(messagebird) MessageBird refused the access key (HTTP {status}, "
                                               f"code {code}): check access_key", retry=False)
        if code == 25:
            raise ProviderError(self.instance, "(messagebird) the MessageBird balance is used up (code 25); "
                                               "top it up, the next run sends the rest", retry=True)
        reason = f"MessageBird error {code}: {text}" if code is not None else f"HTTP {status} {text}"
        if status in (429, 503):
            return SendResult.failed(invitation.invite_id, f"{reason} (after retries)", retry=True)
        if status >= 500:
            return SendResult.failed(invitation.invite_id, f"{reason}; the message may have gone out, so it is "
                                                           "not resent")
        return SendResult.failed(invitation.invite_id, reason)

    def close(self) -> None:
        self.api.close()
