"""What the SMS and WhatsApp providers (``twilio``, ``messagebird``) share.

* :class:`SmsOptions`: ``base_url``, timeouts and retries, the sending rate
  (``per_second``), and ``survey_url``/``survey_text`` for survey
  invitations sent as a text message (a short link to the hosted form).
* :func:`refusal`: why an invitation may not go out on a channel (no phone,
  no consent): nothing goes out on SMS or WhatsApp without the contact's
  consent for that channel.
* :func:`text_for`: the text of a contact-moment message, or of a survey
  invitation (its title and personal link).
* :class:`SmsClient`: tierctl's one HTTP client (:class:`tierctl.http.HttpClient`)
  for these APIs; a POST is repeated only when the platform says it did not
  process it (429, 503) or it never left (connection refused), so a lost
  answer never sends a text twice: such a message is recorded *unknown*
  (``SendResult.maybe_sent``), not failed. Error answers are mapped in its
  one overridable method, :meth:`SmsClient.error_for`.
* :class:`TextProvider`: the send loop: one request per message, the
  platform's answer read into a result the same way for every platform.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from pydantic import Field, field_validator

from tierctl.http import SAFE_RETRY_STATUSES, HttpClient, MaybeSent
from tierctl.providers import HttpRetryOptions, Provider, ProviderContext, ProviderError
from tierctl.records import Invitation, SendResult
from tierctl.util.ratelimit import RateLimit

#: The share of ``per_second`` a provider paces itself to.
HEADROOM = 0.95

#: The placeholders a survey_text may use.
SURVEY_TEXT_FIELDS = ("title", "link", "first_name", "org_name")


class SmsOptions(HttpRetryOptions):
    """Options every SMS/WhatsApp provider has."""

    base_url: str = Field(description="The API's address (change it for a regional endpoint or a test double)")
    per_second: float = Field(1.0, gt=0, le=1000, description="Messages per second the sender may send")
    concurrency: int = Field(4, ge=1, le=32, description="Requests in flight at once (Twilio limits concurrent "
                                                         "requests per account)")
    survey_url: str | None = Field(None, description="Survey link template for survey invitations by text, "
                                                     "with {invite_id}, e.g. https://acme.example/s/{invite_id}; "
                                                     "default with serve.base_url: the hosted form")
    survey_text: str | dict[str, str] = Field(
        "{title}: {link}", description="A survey invitation's text, or one per language ({en: ..., nl: ...}: the "
                                       "contact's, else the organisation's); {title} (in the contact's language) "
                                       "{link} {first_name} {org_name}")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not an http(s) address")
        return value

    @field_validator("survey_url")
    @classmethod
    def _survey_url(cls, value: str | None) -> str | None:
        from tierctl.plugins.email_message import check_link_template

        return None if value is None else check_link_template(value, require_invite_id=True)

    @field_validator("survey_text")
    @classmethod
    def _survey_text(cls, value: "str | dict[str, str]") -> "str | dict[str, str]":
        import string

        from tierctl.i18n.text import LocalText

        texts = LocalText.parse(value).variants.values() if isinstance(value, dict) else [value]
        for text in texts:
            try:
                names = [n for _, n, _, _ in string.Formatter().parse(text) if n is not None]
            except ValueError as exc:
                raise ValueError(f"{text!r}: {exc}") from None
            bad = [n for n in names if n not in SURVEY_TEXT_FIELDS]
            if bad or "link" not in names:
                raise ValueError(f"{text!r} must contain {{link}} and only "
                                 f"{', '.join('{' + f + '}' for f in SURVEY_TEXT_FIELDS)}")
        return value


def paced_limit(per_second: float, concurrency: int) -> RateLimit:
    """The limit a provider paces itself to, for a platform that allows ``per_second`` (a bucket a second deep).

    5% below the platform's rate, so a request delayed on the way never lands right behind the next one
    over the limit; and a burst smaller than a second's worth by ``concurrency``, because requests still
    in flight when the bucket has refilled land on the platform together with the next burst.
    """
    rate = per_second * HEADROOM
    burst = max(1, int(rate) - concurrency)
    return RateLimit(burst, burst / rate)


def channel_of(invitation: Invitation, default: str) -> str:
    """``sms`` or ``whatsapp``: the message's channel, else the provider's for survey invitations."""
    return invitation.message.channel if invitation.message is not None else default


def refusal(invitation: Invitation, channel: str) -> str | None:
    """Why this invitation may not go out on ``channel`` (a permanent failure), or None."""
    if channel not in ("sms", "whatsapp"):
        return f"this provider sends SMS and WhatsApp, not {channel}"
    if not invitation.phone:
        return "the contact has no phone number (customers column phone)"
    if channel not in invitation.consent:
        return f"the contact has not agreed to {channel} messages ({channel}_opt_in); nothing was sent"
    return None


def survey_link(invitation: Invitation, options: SmsOptions, config: Any) -> str | None:
    """A survey invitation's link: the ``survey_url`` template, else the hosted form (``serve.base_url``),
    else None."""
    if options.survey_url:
        from tierctl.plugins.email_message import link

        return link(options.survey_url, invitation)
    from tierctl.web.links import form_url

    return form_url(config, invitation.invite_id) if getattr(config, "serve", None) is not None else None


def text_for(invitation: Invitation, options: SmsOptions, org_name: str, config: Any = None) -> str | None:
    """The text to send: the message's body, or a survey invitation with its link (None: no link)."""
    if invitation.message is not None:
        return invitation.message.body
    url = survey_link(invitation, options, config)
    if url is None:
        return None
    from tierctl.i18n.text import in_language, reader_language, text_for as in_their_language

    # The contact's language (nl-BE -> nl -> the organisation's default): the text and the survey's title.
    organization = getattr(config, "organization", None)
    language = reader_language(invitation.locale, organization)
    default = organization.language if organization is not None else None
    name = invitation.contact_name.strip()
    return in_their_language(options.survey_text, language, default).format(
        title=in_language(invitation.survey_title, language, default), link=url,
        first_name=name.split()[0] if name else "", org_name=org_name)


class MessageError(ProviderError):
    """An error answer to one message's request, as :meth:`SmsClient.error_for` maps it.

    ``stop``: the provider cannot send anything (bad credentials, no
    balance): it stops, with ``retry`` saying whether a later run may try.
    Otherwise the error is this message's alone: ``maybe_sent`` when the
    platform may have sent it anyway (a 5xx other than 503: never resent),
    else failed, ``retry`` for 429/503 (not processed), permanent for the
    rest. ``detail`` is the reason without the instance's name.
    """

    def __init__(self, provider: str, detail: str, *, retry: bool, stop: bool = False, maybe_sent: bool = False):
        self.detail = detail
        self.stop = stop
        self.maybe_sent = maybe_sent
        super().__init__(provider, detail, retry=retry)


class SmsClient(HttpClient):
    """:class:`tierctl.http.HttpClient` for a messaging API: pacing, back-off and ``Retry-After`` on the
    provider's clock, "may have been sent" for a POST whose answer was lost, scrubbing, a debug line per
    request and the circuit breaker all come from it. A message's POST is repeated only on 429 and 503
    (the platform says it did nothing) or a connection that was never made. Error answers are mapped in
    :meth:`error_for`, through the provider's :meth:`TextProvider.error` and :meth:`TextProvider.stops`."""

    provider: "TextProvider"

    def __init__(self, provider: "TextProvider", *, auth: Any = None, headers: dict[str, str] | None = None):
        super().__init__(provider, platform=provider.platform, headers=headers,
                         pool_size=provider.options.concurrency)
        self.auth = auth

    def configure(self, session: Any) -> None:
        if self.auth is not None:
            session.auth = self.auth  # HTTP Basic (Twilio: AccountSid and AuthToken)

    def error_for(self, response: Any, what: str, retries: int) -> ProviderError:
        status = response.status_code
        try:
            data = response.json() if response.content and len(response.content) < 1 << 20 else {}
        except ValueError:
            data = {}
        code, text = self.provider.error(status, data if isinstance(data, dict) else {})
        text = self.scrub((text or response.reason or "")[:300])
        stop = self.provider.stops(status, code, text)
        if stop is not None:
            detail = str(stop).removeprefix(f"provider {stop.provider}: ")
            return MessageError(self.provider.instance, detail, retry=stop.retry, stop=True)
        reason = f"{self.platform} error {code}: {text}" if code is not None else f"HTTP {status} {text}".rstrip()
        if status in SAFE_RETRY_STATUSES:
            after = f" (after {retries} retries)" if retries else ""
            return MessageError(self.provider.instance, reason + after, retry=True)
        if status >= 500:
            return MessageError(self.provider.instance, f"{reason}; the message may have gone out, so it is not "
                                                        "resent", retry=False, maybe_sent=True)
        return MessageError(self.provider.instance, reason, retry=False)


class TextProvider(Provider):
    """Base of the SMS/WhatsApp providers: one API request per message.

    A subclass sets :attr:`platform` and :attr:`api`, and implements
    :meth:`request` (the URL and body for one message, or why it cannot go)
    and :meth:`error` (the platform's error code and text from an answer).
    """

    platform: ClassVar[str] = ""
    channel: ClassVar[str] = "sms"  # survey invitations through it wait out quiet_hours
    #: One token per request, taken right before it: a batch never bursts past the platform's rate.
    paces_itself: ClassVar[bool] = True
    #: The channel of survey invitations (messages carry their own).
    survey_channel: ClassVar[str] = "sms"
    options: SmsOptions
    api: SmsClient
    _executor: Any = None

    def __init__(self, instance: str, options: SmsOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        # 5% below the platform's rate: a request delayed on the way (a GC pause, a busy network) then
        # never arrives right behind the next one and over the limit.
        self.rate_limit = paced_limit(options.per_second, options.concurrency)
        config = context.config
        self.org_name = config.organization.name if config is not None else ""

    def request(self, invitation: Invitation, channel: str) -> tuple[str, dict[str, Any]] | str:
        """``(url, requests keyword arguments)`` for this message, or why it cannot be sent (permanent)."""
        raise NotImplementedError

    def error(self, status: int, data: dict[str, Any]) -> tuple[Any, str]:
        """The platform's error code (None if none) and message in an error answer."""
        raise NotImplementedError

    def stops(self, status: int, code: Any, text: str) -> ProviderError | None:
        """The error that stops the provider for this answer (bad credentials, no balance), else None."""
        return None

    def channel_for(self, invitation: Invitation) -> str:
        return channel_of(invitation, self.survey_channel)

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        """Each message in its own request, ``concurrency`` at a time, each paced to the rate limit."""
        results: dict[str, SendResult] = {}
        jobs: list[tuple[Invitation, str, dict[str, Any]]] = []
        for invitation in batch:
            planned = refusal(invitation, self.channel_for(invitation)) or self.request(invitation,
                                                                                    self.channel_for(invitation))
            if isinstance(planned, str):
                results[invitation.invite_id] = SendResult.failed(invitation.invite_id, planned)
            else:
                jobs.append((invitation, *planned))
        unreachable: list[str] = []
        # Built once here: threads building them at the same time would each get a full bucket, a session.
        _ = self.limiter, self.api.session
        for invitation, outcome in zip((j[0] for j in jobs), self._pool().map(self._post_one, jobs)):
            if isinstance(outcome, MessageError):
                raise outcome  # a stopping error (bad credentials, no balance): every other request fails alike
            if isinstance(outcome, ProviderError):  # not reached, or the circuit breaker is open
                unreachable.append(getattr(outcome, "reason", "") or str(outcome))
                outcome = SendResult.failed(invitation.invite_id, f"cannot reach {self.platform}: "
                                                                  f"{unreachable[-1]}", retry=True)
            results[invitation.invite_id] = outcome
        if jobs and len(unreachable) == len(jobs):
            raise ProviderError(self.instance, f"({self.name}) cannot reach {self.options.base_url}: "
                                               f"{unreachable[0]}", retry=True)
        return [results[i.invite_id] for i in batch]

    def _post_one(self, job: tuple[Invitation, str, dict[str, Any]]) -> Any:
        """One message's request (paced and retried by the client): its result, the
        :class:`ProviderError` when it did not reach the platform, or a stopping :class:`MessageError`."""
        invitation, url, kwargs = job
        invite_id = invitation.invite_id
        try:
            response = self.api.request("POST", url, idempotent=False, what=f"sending {invite_id}", **kwargs)
        except MaybeSent as exc:
            return SendResult.maybe_sent(invite_id, f"{self.platform} did not answer ({exc.reason}); the message "
                                                    "may have gone out, so it is not resent")
        except MessageError as exc:
            if exc.stop:
                return exc
            if exc.maybe_sent:
                return SendResult.maybe_sent(invite_id, exc.detail)
            return SendResult.failed(invite_id, exc.detail, retry=exc.retry)
        except ProviderError as exc:  # Unreachable (never sent), or the circuit breaker is open
            return exc
        return SendResult.sent(invite_id, self.external_id(_json_object(response)))

    def _pool(self) -> Any:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix=f"tierctl-{self.name}")
        return self._executor

    def external_id(self, data: dict[str, Any]) -> str | None:
        """The platform's id of the sent message (delivery receipts quote it)."""
        value = data.get("sid") or data.get("id")
        return str(value) if value else None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self.api.close()


def _json_object(response: Any) -> dict[str, Any]:
    """The answer's JSON object (``{}`` when it is empty, too large or not an object)."""
    try:
        data = response.json() if response.content and len(response.content) < 1 << 20 else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
