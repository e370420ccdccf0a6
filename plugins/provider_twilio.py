"""The ``twilio`` provider: SMS and WhatsApp through Twilio's Programmable Messaging API.

::

    providers:
      texts:
        plugin: twilio
        account_sid: ${TWILIO_ACCOUNT_SID}       # AC...
        auth_token: ${TWILIO_AUTH_TOKEN}
        from_number: "+3197010200300"            # or messaging_service_sid: MG...
        whatsapp_from: "+3197010200300"          # the WhatsApp sender, for whatsapp messages
        # status_callback: https://tiers.acme.example/hooks/twilio  # default: serve.base_url + /hooks/twilio
        per_second: 1                            # the sender's throughput (a long code: 1 per second)
        survey_url: https://tiers.acme.example/s/{invite_id}       # surveys sent by SMS: a short link
        # base_url: https://api.twilio.com/2010-04-01               # the default

Each message is one ``POST /Accounts/{AccountSid}/Messages.json``
(form-encoded, HTTP Basic ``AccountSid:AuthToken``): ``To``, ``From`` (or
``MessagingServiceSid``) and ``Body``; WhatsApp uses ``whatsapp:+E164``
addresses and, because a business-initiated WhatsApp message must use an
approved template, ``ContentSid`` (the template, ``HX...``) and
``ContentVariables`` (a JSON string of placeholder -> value) instead of a
body. ``201`` with the Message's ``sid`` is sent (the sid is the
invitation's external id, which delivery receipts quote).

Failures (Twilio's error body ``{"code", "message", "more_info", "status"}``):
400-class answers fail that message for good with Twilio's code and message
(21211 invalid number, 21610 the contact replied STOP, 63016 WhatsApp outside
the 24-hour window without a template); 401 and 403 stop the provider
(``ProviderError``: the account sid or token is wrong); 429 (20429) and 503
were not processed and are tried again after ``Retry-After`` or a backoff;
a lost answer or another 5xx leaves the message *unknown*, never resent unasked (it may
have gone out). Nothing goes out without the contact's consent for the
channel (``sms_opt_in``, ``whatsapp_opt_in``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from tierctl.plugins.sms_common import SmsClient, SmsOptions, TextProvider, channel_of, survey_link, text_for
from tierctl.providers import ProviderContext, ProviderError
from tierctl.records import DeliveryReceipt, InboundText, Invitation, WebhookRequest

TWILIO_API = "https://api.twilio.com/2010-04-01"


class TwilioOptions(SmsOptions):
    base_url: str = Field(TWILIO_API, description="Twilio's API (change it for a test double)")
    account_sid: str = Field(description="The account's SID, AC...")
    auth_token: SecretStr = Field(description="The account's auth token; write it as ${TWILIO_AUTH_TOKEN}")
    from_number: str | None = Field(None, description="The sending number (E.164) for SMS")
    messaging_service_sid: str | None = Field(None, description="A Messaging Service (MG...) instead of a number")
    whatsapp_from: str | None = Field(None, description="The WhatsApp sender's number (E.164)")
    channel: Literal["sms", "whatsapp"] = Field("sms", description="The channel of survey invitations")
    whatsapp_survey_template: str | None = Field(
        None, description="Surveys by WhatsApp: an approved template (ContentSid) whose {{1}} is the first "
                          "name and {{2}} the survey link")
    status_callback: str | None = Field(None, description="Where Twilio posts delivery receipts; default: "
                                                          "serve.base_url + /hooks/twilio when serve: is set")
    webhook_key: SecretStr | None = Field(
        None, description="When a Twilio Webhooks Rule signs this account's callbacks: its Setting's shared key "
                          "(write it as ${TWILIO_WEBHOOK_KEY}); callbacks without the rule's header are still "
                          "checked with auth_token")

    @field_validator("account_sid")
    @classmethod
    def _sid(cls, value: str) -> str:
        value = value.strip()
        if not (value.startswith("AC") and len(value) == 34 and value[2:].isalnum()):
            raise ValueError(f"{value!r} is not an account SID (AC followed by 32 characters)")
        return value

    @field_validator("from_number", "whatsapp_from")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("+") and value[1:].isdigit() and 8 <= len(value) <= 16):
            raise ValueError(f"{value!r} is not an E.164 number such as +3197010200300 (quote it in YAML)")
        return value

    @model_validator(mode="after")
    def _sender(self) -> "TwilioOptions":
        if not (self.from_number or self.messaging_service_sid or self.whatsapp_from):
            raise ValueError("set from_number, messaging_service_sid or whatsapp_from: Twilio needs a sender")
        return self


class TwilioProvider(TextProvider):
    """Sends SMS and WhatsApp messages (and survey links) through Twilio."""

    name = "twilio"
    description = "SMS and WhatsApp through Twilio's Messaging API (templates for WhatsApp)"
    platform = "Twilio"
    Options = TwilioOptions
    batch_size = 50
    receives_webhooks = True  # tierctl serve's /hooks/twilio: receipts, replies, STOP
    options: TwilioOptions

    def __init__(self, instance: str, options: TwilioOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self._url = f"{options.base_url}/Accounts/{options.account_sid}/Messages.json"
        self.api = SmsClient(self, auth=(options.account_sid, options.auth_token.get_secret_value()))
        from tierctl.web.links import hook_url

        self.status_callback = options.status_callback or hook_url(context.config, "twilio")

    def channel_for(self, invitation: Invitation) -> str:
        return channel_of(invitation, self.options.channel)

    def request(self, invitation: Invitation, channel: str) -> tuple[str, dict[str, Any]] | str:
        form = self.form(invitation, channel)
        return form if isinstance(form, str) else (self._url, {"data": form})

    def form(self, invitation: Invitation, channel: str) -> dict[str, str] | str:
        """The request's form fields, or why the message cannot be sent."""
        opts = self.options
        form: dict[str, str] = {}
        if channel == "whatsapp":
            if not opts.whatsapp_from:
                return "set whatsapp_from (the WhatsApp sender) to send WhatsApp messages"
            form["To"], form["From"] = f"whatsapp:{invitation.phone}", f"whatsapp:{opts.whatsapp_from}"
            message = invitation.message
            if message is not None and message.template_id:
                form["ContentSid"] = message.template_id
                form["ContentVariables"] = json.dumps(dict(message.template_variables), ensure_ascii=False)
            elif message is None and opts.whatsapp_survey_template and \
                    (url := survey_link(invitation, opts, self.context.config)) is not None:
                name = invitation.contact_name.strip()
                form["ContentSid"] = opts.whatsapp_survey_template
                form["ContentVariables"] = json.dumps({"1": name.split()[0] if name else "", "2": url})
            else:
                return ("WhatsApp messages a business starts need an approved template (message template: or "
                        "whatsapp_survey_template with survey_url); nothing was sent")
        else:
            text = text_for(invitation, opts, self.org_name, self.context.config)
            if text is None:
                return ("set survey_url (the survey link template), or serve.base_url for the hosted form, to "
                        "send survey invitations by SMS")
            form["To"], form["Body"] = invitation.phone, text
            if opts.messaging_service_sid:
                form["MessagingServiceSid"] = opts.messaging_service_sid
            elif opts.from_number:
                form["From"] = opts.from_number
            else:
                return "set from_number or messaging_service_sid to send SMS"
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        return form

    def error(self, status: int, data: dict[str, Any]) -> tuple[Any, str]:
        return data.get("code"), str(data.get("message") or "")

    def stops(self, status: int, code: Any, text: str) -> ProviderError | None:
        if status in (401, 403) or code == 20003:
            return ProviderError(self.instance, f"(twilio) Twilio refused the credentials (HTTP {status}, error "
                                                f"{code}): check account_sid and auth_token", retry=False)
        return None

    def webhook_events(self, request: WebhookRequest) -> list[DeliveryReceipt | InboundText]:
        """A status callback or an inbound text, once ``X-Twilio-Signature`` checks out with this
        account's auth token, or under a Webhooks Rule with ``webhook_key`` (raises
        :class:`~tierctl.plugins.twilio_webhooks.BadSignature`)."""
        from tierctl.plugins.twilio_webhooks import read_callback, verified_params

        from tierctl.plugins.twilio_webhooks import SETTINGS_HEADER

        key = self.options.webhook_key
        params = verified_params(request.url, list(request.form), request.headers.get("x-twilio-signature"),
                                 self.options.auth_token.get_secret_value(), request.headers.get(SETTINGS_HEADER),
                                 key.get_secret_value() if key is not None else None)
        if params.get("AccountSid", self.options.account_sid) != self.options.account_sid:
            return []  # signed with our token but about another (sub)account: not ours to act on
        event = read_callback(params)
        return [event] if event is not None else []

    def webhook_reply(self, text: str) -> tuple[str, bytes]:
        """TwiML: ``<Response><Message>text</Message></Response>``, or an empty ``<Response/>`` (no reply)."""
        from xml.sax.saxutils import escape

        inner = f"<Message>{escape(text)}</Message>" if text else ""
        return ("text/xml; charset=utf-8",
                f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'.encode("utf-8"))
