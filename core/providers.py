"""The survey-provider interface.

A provider plugin registers a :class:`Provider` subclass with the
``register_providers`` hook. The engine validates the instance's options
with :attr:`Provider.Options`, builds one provider per configured instance,
and calls :meth:`Provider.send` with batches of invitations, pacing calls to
stay within :attr:`Provider.rate_limit`. The engine writes every invitation
to the ledger *before* calling ``send``: platforms have no idempotency keys,
so duplicate protection is tierctl's job, not the provider's.

Stability: the names in ``__all__`` are tierctl's public API for provider
plugins. Within a major version they keep working: a name is removed or
changed only after at least one minor release in which using it gives a
``DeprecationWarning`` saying what to use instead (and docs/plugins.md says
so). Attributes and methods of :class:`Provider` that start with ``_`` are
private and may change at any time; a subclass should not use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierctl.errors import TierctlError
from tierctl.records import (DeliveryReceipt, InboundText, Invitation, Question, RawResponse, SendResult,
                             WebhookRequest)
from tierctl.util.ratelimit import RateLimit  # public here: providers declare their limit with it

if TYPE_CHECKING:
    from datetime import datetime

    import jinja2

    from tierctl.config.model import Config

__all__ = [
    "HttpRetryOptions",
    "OptionRenamedWarning",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "ProviderOptions",
    "RateLimit",
    "WebhookRefused",
    "clock_of",
    "retry_after_seconds",
]


class ProviderError(TierctlError):
    """A provider failed as a whole (bad credentials, quota exhausted, unreachable).

    The message names the provider instance and plugin and never contains
    secrets. ``retry`` says whether the problem may go away by itself (an
    outage, a timeout: ``True``) or needs someone to change the config (a
    revoked key, a wrong survey id: ``False``); it is kept on the error for
    reports and tools. Either way, raised from :meth:`Provider.send`, the
    engine stops using the provider for this run and keeps the *whole* batch
    for the next run (state ``retry``): raise it only when nothing of the
    batch went out. Raised from :meth:`Provider.fetch_responses`, it ends
    that survey's collect with the message and the cursor stays where it was.
    """

    exit_code = 1

    def __init__(self, provider: str, message: str, retry: bool = True):
        self.provider = provider
        self.retry = retry
        super().__init__(f"provider {provider}: {message}")


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped at ``cap``.

    ``None`` when the header is absent or unreadable: the caller then backs off on its own.
    """
    import math
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


class WebhookRefused(TierctlError):
    """A callback that is not signed by the platform account a provider instance holds.

    :meth:`Provider.webhook_events` raises it; ``tierctl serve`` answers 401
    and logs the reason without the body. The message says what was wrong
    (``missing X-Twilio-Signature``), never a secret.
    """

    exit_code = 2


class OptionRenamedWarning(FutureWarning):
    """A config uses an option's old name (see :attr:`ProviderOptions.renamed_options`).

    A ``FutureWarning``, so users see it by default: the old name works until
    the plugin's next major version.
    """


class ProviderOptions(BaseModel):
    """Base for a provider's options: unknown keys are errors.

    Declare secrets as ``pydantic.SecretStr`` so they never show in reprs,
    errors or ``tierctl plugins``; users write them as ``${ENV_VAR}``.

    To rename an option without breaking configs, list it in
    :attr:`renamed_options` (``{"retries": "max_retries"}``): the old name is
    still accepted, with an :class:`OptionRenamedWarning` naming the new one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Old option name -> new name; the old one still works, with a warning.
    renamed_options: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if not cls.renamed_options or not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in cls.renamed_options.items():
            if old not in data:
                continue
            value = data.pop(old)
            if new in data:
                raise ValueError(f"{old!r} is the old name of {new!r}; give only {new!r}")
            data[new] = value
            import warnings

            warnings.warn(f"option {old!r} is renamed {new!r}; write {new}: {value!r} (the old name stops "
                          "working in the plugin's next major version)", OptionRenamedWarning, stacklevel=2)
        return data


class HttpRetryOptions(ProviderOptions):
    """Options every HTTP-API provider needs: timeouts and retries (extend it)."""

    timeout: float = Field(30.0, gt=0, le=300, description="Seconds to wait for each answer")
    max_retries: int = Field(4, ge=0, le=10, description="Retries on 429, 5xx, timeouts and connection errors")
    backoff_factor: float = Field(0.5, ge=0, le=30, description="Exponential backoff base, in seconds")
    max_retry_after: float = Field(60.0, ge=0, le=3600, description="Longest Retry-After honoured, in seconds")


@dataclass
class ProviderContext:
    """What a provider may use besides its options."""

    config: "Config"
    base_dir: Path  # the config file's folder: relative paths in options start here
    templates: "jinja2.Environment | None" = None  # e-mail templates (user overrides first)
    providers: dict[str, "Provider"] | None = None  # other instances, for link-only platforms

    def questions(self, survey_id: str, language: str | None = None) -> tuple[Question, ...]:
        """The questions of survey ``survey_id`` as providers see them (empty for an unknown survey).

        The one documented way for a provider to read the config's surveys
        (e.g. to key fetched answers by question id); the rest of ``config``
        is tierctl's own and may change between versions. Texts and choices
        are in ``language`` (a contact's locale: ``nl-BE`` -> ``nl`` -> the
        organisation's default) when the config writes them per language;
        without it, in the organisation's default language. A text written
        per language carries all of them (``getattr(text, "variants", {})``:
        language -> text), e.g. to match a platform's headings in any.
        """
        survey = self.config.surveys.get(survey_id) if self.config is not None else None
        if survey is None:
            return ()
        from tierctl.i18n.text import in_language

        default = self.config.organization.language
        language = language or default
        return tuple(Question(q.id, q.type, in_language(q.text, language, default), q.bounds,
                              tuple(in_language(c, language, default) for c in q.choices))
                     for q in survey.questions)

    def survey_title(self, survey_id: str, language: str | None = None) -> str:
        """Survey ``survey_id``'s title in ``language`` (``nl-BE`` -> ``nl`` -> the organisation's
        default), e.g. for a subject line; ``""`` for an unknown survey."""
        survey = self.config.surveys.get(survey_id) if self.config is not None else None
        if survey is None:
            return ""
        from tierctl.i18n.text import in_language

        return in_language(survey.title, language, self.config.organization.language)

    def language(self, locale: str | None) -> str:
        """The language to write to a contact of ``locale`` in: ``nl-BE`` -> ``nl`` -> the
        organisation's default, among the languages tierctl ships text in and the config's
        ``organization.languages``. Use it for a platform's language setting and for texts a
        provider writes itself (``with tierctl.i18n.use_language(...)``)."""
        from tierctl.i18n.text import reader_language

        return reader_language(locale, self.config.organization if self.config is not None else None)


class Provider:
    """Base class for survey providers.

    Subclasses set :attr:`name`, :attr:`Options`, optionally
    :attr:`rate_limit` and :attr:`batch_size`, and implement :meth:`send`.
    Providers that can read responses back implement :meth:`fetch_responses`.
    """

    #: The plugin id users write as ``plugin:``.
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: The options model; ``Options`` of the subclass validates the config entry.
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions
    #: Declared request budget; the engine will not call faster than this.
    rate_limit: RateLimit | None = None
    #: How many invitations one ``send`` call takes at most.
    batch_size: ClassVar[int] = 50
    #: What the provider delivers on: ``email`` (or a platform's own mail), or ``sms``/``whatsapp``
    #: for a text provider, whose survey invitations wait out the config's ``quiet_hours``.
    channel: ClassVar[str] = "email"
    #: Whether :meth:`fetch_responses` is implemented.
    can_fetch: ClassVar[bool] = False
    #: API requests one invitation costs on average; the engine takes this many
    #: tokens per invitation from the rate-limit bucket before each ``send``.
    requests_per_invitation: ClassVar[float] = 1.0
    #: True when the provider calls :meth:`pace` (or ``self.limiter.acquire()``)
    #: before each API request itself (multi-request flows); the engine then
    #: does not pace its ``send`` calls.
    paces_itself: ClassVar[bool] = False
    #: True when the platform calls back (delivery receipts, texts from contacts): ``tierctl serve``
    #: then routes ``POST /hooks/<plugin name>`` to :meth:`webhook_events` of this plugin's instances.
    receives_webhooks: ClassVar[bool] = False

    _limiter: Any = None
    _tierctl_clock: Any = None  # bind_clock(); a long name, so a subclass's own attributes do not clash

    def __init__(self, instance: str, options: ProviderOptions, context: ProviderContext):
        self.instance = instance
        self.options = options
        self.context = context

    @property
    def limiter(self) -> Any:
        """The token bucket for :attr:`rate_limit`, None when unlimited.

        Built on first use, so a provider paces itself the same way inside the
        engine, in tests and in scripts; the engine or a test kit may set its
        own (e.g. one on a fake clock).
        """
        if self._limiter is None and self.rate_limit is not None:
            from tierctl.util.ratelimit import TokenBucket

            clock = clock_of(self)
            self._limiter = TokenBucket(self.rate_limit, clock=clock.monotonic, sleep=clock.sleep)
        return self._limiter

    @limiter.setter
    def limiter(self, value: Any) -> None:
        self._limiter = value

    def bind_clock(self, clock: Any) -> None:
        """Make this provider wait and read the time on ``clock``.

        ``clock`` has ``monotonic()``, ``sleep(seconds)`` and ``now`` (an
        aware UTC datetime), like :class:`tierctl.util.clock.RealClock`, which
        tierctl binds, and the test kit's :class:`~tierctl.testing.FakeClock`,
        on which waits take no time. Call it before the first request.
        """
        self._tierctl_clock = clock

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the provider's clock (back-off, ``Retry-After``, polling).

        Use it instead of ``time.sleep``: in tests the kit's fake clock makes
        the wait take no time and checks that it happened.
        """
        if seconds > 0:
            clock_of(self).sleep(seconds)

    def now(self) -> "datetime":
        """The current moment on the provider's clock, as an aware UTC ``datetime``."""
        return clock_of(self).now

    def pace(self, tokens: float = 1.0) -> None:
        """Wait until the rate limit allows ``tokens`` more requests (no wait when unlimited)."""
        limiter = self.limiter
        if limiter is not None:
            limiter.acquire(tokens)

    def pace_batch(self, invitations: int) -> None:
        """What the engine does before :meth:`send`: pace a batch, unless the provider paces itself."""
        if not self.paces_itself:
            self.pace(invitations * self.requests_per_invitation)

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        """Send a batch; return exactly one :class:`SendResult` per invitation.

        A failure of one invitation is a failed result, not an exception.
        Raise :class:`ProviderError` only when the whole provider cannot work
        (revoked token, daily quota spent): the engine then stops that
        provider's batches cleanly and leaves the rest for the next run.
        """
        raise NotImplementedError

    def fetch_responses(self, survey_id: str, cursor: str | None) -> tuple[Iterable[RawResponse], str | None]:
        """Responses since ``cursor`` and the new cursor.

        ``cursor`` is what this method returned last time (opaque to tierctl,
        stored after the responses are committed, so a crash only re-fetches),
        an ISO time from ``survey collect --since``, or None for everything.
        Use an overlapping window and let tierctl de-duplicate by response
        id. ``survey collect`` calls again while a call brings responses not
        yet seen in this run and a new cursor, so a provider may return one
        page per call. Put tierctl's invite id into the platform's metadata
        channel when sending and return it as ``RawResponse.invite_id``.
        """
        raise NotImplementedError(f"provider {self.name} cannot fetch responses")

    def webhook_events(self, request: WebhookRequest) -> "list[DeliveryReceipt | InboundText]":
        """Check that ``request`` is signed by this instance's account, then read what it reports.

        For providers with :attr:`receives_webhooks`. Verify the signature on
        the raw request (``request.url`` is the public URL, as the platform
        signed it) in constant time before reading anything, and raise
        :class:`WebhookRefused` when it is missing or wrong (with several
        instances of a plugin, tierctl tries each). Return the delivery
        receipts and texts in it; tierctl updates the invitations, records
        opt-outs and stores answers given by text.
        """
        raise NotImplementedError(f"provider {self.name} does not receive webhooks")

    def webhook_reply(self, text: str) -> tuple[str, bytes]:
        """The answer to an inbound text, ``(content type, body)``: ``text`` to send back to the
        contact (``""``: no reply). Plain text unless the platform wants its own format (TwiML)."""
        return "text/plain; charset=utf-8", text.encode("utf-8")

    @classmethod
    def uses_instances(cls, options: ProviderOptions) -> set[str]:
        """Names of other provider instances this one sends through (e.g. a
        link-only platform's ``mailer:``); tierctl builds them first and puts
        them in ``context.providers``. Unknown names and loops are errors."""
        return set()

    def close(self) -> None:
        """Release connections (SMTP sessions, HTTP pools)."""

    def __repr__(self) -> str:
        # Options may hold secrets: show only the instance and plugin.
        return f"<{type(self).__name__} {self.instance!r} plugin={self.name!r}>"


def clock_of(provider: Provider) -> Any:
    """The clock ``provider`` waits on (:meth:`Provider.bind_clock`; the real clock by default)."""
    clock = getattr(provider, "_tierctl_clock", None)
    if clock is None:
        from tierctl.util.clock import REAL_CLOCK

        clock = REAL_CLOCK
    return clock
