"""The config model: what a valid ``tierctl.yaml`` contains, after ``extends``.

Validation is pydantic's; this module only declares shapes and field-level
rules. Rules that span the file (a plan in two tiers, references between
tiers, surveys and providers) live in :mod:`tierctl.config.loader`, which also maps
every error back to a file, line and column.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PlainSerializer,
                      PrivateAttr, SecretStr, Tag, WithJsonSchema, field_validator, model_validator)

from tierctl.config.durations import CAP_PERIODS, DURATION_HELP, Duration, ResponseTarget, TimeCap
from tierctl.i18n.text import LANGUAGE_HELP, LocalText, is_language

if TYPE_CHECKING:
    from tierctl.util.redact import Redactor
    from pathlib import Path

    from tierctl.errors import Problem

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
#: An e-mail address as people write one in a config: local@domain.tld, no spaces or brackets.
EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+$")
SLUG_HELP = "a safe slug: lower-case letters, digits, '-' or '_', starting and ending with a letter or digit"

TOUCH_MODELS = ("tech-touch", "low-touch", "mid-touch", "high-touch")
HOURS = ("business", "extended", "24x7")
STATUSES = ("onboarding", "active", "at-risk", "churned")
PERIODS = ("month", "quarter", "half-year", "year")
QUESTION_TYPES = ("nps", "csat", "ces", "rating", "choice", "multiple_choice", "text")


def _parser(cls: Any, pattern: str, description: str) -> Any:
    """A config type parsed from text, shown as a string in the JSON Schema."""
    def parse(value: Any) -> Any:
        return cls.parse(value)
    return Annotated[cls, BeforeValidator(parse), PlainSerializer(str, return_type=str),
                     WithJsonSchema({"type": "string", "pattern": pattern, "description": description})]


DurationText = _parser(Duration, r"^\s*\d+(\.\d+)?\s*[a-z]+(\s*\d+(\.\d+)?\s*[a-z]+)*\s*$", DURATION_HELP)
TimeCapText = _parser(TimeCap, r"^.+/\s*(" + "|".join(CAP_PERIODS) + r")$",
                      "agent time per account: <duration>/<week|month|quarter|year>, e.g. 2h/month")
ResponseTargetText = _parser(ResponseTarget, r".+",
                             "first response target: a duration (4h), N business hours|days, or best effort")


def _positive(duration: Duration) -> Duration:
    if duration.approx_seconds <= 0:
        raise ValueError(f"{duration.text!r} must be longer than zero, e.g. 7d")
    return duration


PositiveDuration = Annotated[DurationText, AfterValidator(_positive)]


def _check_slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError(f"{value!r} is not {SLUG_HELP}")
    return value


Slug = Annotated[str, BeforeValidator(lambda v: v if not isinstance(v, str) else _check_slug(v)),
                 WithJsonSchema({"type": "string", "pattern": SLUG_RE.pattern})]


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return LocalText.parse(value)
    raise ValueError("expected a text, or one text per language such as {en: Basic, nl: Basis}")


#: Human text: a string, or one string per language (``{en: Basic, nl: Basis}``).
Text = Annotated[Any, BeforeValidator(_text), PlainSerializer(lambda v: v.variants if isinstance(v, LocalText)
                                                                         and v.variants else str(v)),
                 WithJsonSchema({"anyOf": [{"type": "string"},
                                           {"type": "object", "additionalProperties": {"type": "string"},
                                            "description": "one text per language, e.g. {en: Basic, nl: Basis}"}]})]


def _language(value: Any) -> Any:
    if not is_language(value):
        raise ValueError(f"{value!r} is not {LANGUAGE_HELP}")
    return value


Language = Annotated[str, AfterValidator(_language)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class Model(BaseModel):
    """Base for config sections: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class BusinessHours(Model):
    """What "business hours" means: the days and times support is staffed, in a zone, minus holidays."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1)
    start: str = Field("09:00", description="Opening time, HH:MM")
    end: str = Field("17:00", description="Closing time, HH:MM (24:00 for midnight)")
    timezone: str | None = Field(None, description="IANA zone of these times; default organization.timezone")
    holidays: Text | None = Field(None, description="The holiday calendar support is closed on, as text for the "
                                                    "pages, e.g. {en: Dutch public holidays, nl: Nederlandse "
                                                    "feestdagen}")
    closed_on: list[date] = Field(default_factory=list, description="Extra days support is closed, YYYY-MM-DD")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK_RE.match(value):
            raise ValueError(f"{value!r} is not a time; expected HH:MM on a 24-hour clock, e.g. 09:00")
        return value

    @model_validator(mode="after")
    def _order(self) -> "BusinessHours":
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class Organization(Model):
    """Who publishes the tiers."""

    name: str
    timezone: str = "UTC"
    support_url: str | None = None
    language: Language = Field("en", description="BCP 47 language of the pages, e.g. en or nl "
                                                  "(with languages: the first of those)")
    languages: list[Language] = Field(default_factory=list, description="Languages to publish in, the default "
                                                                        "first, e.g. [nl, en]")
    contact_email: str | None = None
    effective_date: date | None = Field(None, description="When these tiers take effect; printed on the pages")
    severities: dict[str, Text] = Field(default_factory=dict,
                                        description="What each severity means, e.g. urgent: Production is down")
    business_hours: BusinessHours | None = Field(None, description="What business hours are, shown on the pages")

    @model_validator(mode="before")
    @classmethod
    def _default_language(cls, data: Any) -> Any:
        # languages: [nl, en] makes nl the language; a lone language: nl means languages: [nl].
        if isinstance(data, dict) and isinstance(data.get("languages"), list) and data["languages"] \
                and "language" not in data:
            data = {**data, "language": data["languages"][0]}
        return data

    @model_validator(mode="after")
    def _languages(self) -> "Organization":
        if not self.languages:
            object.__setattr__(self, "languages", [self.language])
        elif self.languages[0] != self.language:
            raise ValueError(f"language {self.language!r} must be the first of languages {self.languages}, "
                             "or be left out")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"languages {self.languages} lists a language twice")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; expected an IANA name such as Europe/Amsterdam or UTC")
        return value

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not EMAIL_RE.match(value):  # "" (e.g. ${EMAIL:-}) means none
            raise ValueError(f"{value!r} is not an e-mail address; expected one such as support@acme.example")
        return value

    @field_validator("support_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not a web address; expected https://...")
        return value


class Cadence(Model):
    """A planned contact moment for customers in one status."""

    every: PositiveDuration
    channel: str
    automated: bool = False
    meeting: str | None = Field(None, description="Kind of meeting this contact is, e.g. account-review")
    duration: PositiveDuration | None = Field(
        None, description="Agent time one contact takes (default 30m when not automated, 0 when automated)")
    message: Slug | None = Field(None, description="The message under messages: that an automated contact "
                                                   "sends (tierctl touchpoints send)")


class SalesNotes(Model):
    """How sales should talk about a tier (optional; used by the sales sheets)."""

    pitch: Text | None = None
    ideal_customer: Text | None = None
    talking_points: list[Text] = Field(default_factory=list)
    avoid: list[Text] = Field(default_factory=list, description="Promises sales must not make")
    upsell: Text | None = Field(None, description="When to suggest the next tier")


class Tier(Model):
    """One support tier, after ``extends`` has been applied."""

    name: Text
    summary: Text = ""
    touch_model: Literal["tech-touch", "low-touch", "mid-touch", "high-touch"]
    plans: list[str] = Field(min_length=1)
    channels: list[str] = Field(default_factory=list)
    hours: Literal["business", "extended", "24x7"] = "business"
    response_targets: dict[str, ResponseTargetText] = Field(default_factory=dict)
    agent_time_cap: TimeCapText | None = None
    named_contacts: int = Field(1, ge=0)
    contact_cadence: dict[Literal["onboarding", "active", "at-risk", "churned"], Cadence] = Field(
        default_factory=dict)
    surveys: list[str] = Field(default_factory=list)
    specialists: list[str] = Field(default_factory=list)
    includes: list[Text] = Field(default_factory=list, description="Extras such as health checks or training")
    languages: list[str] = Field(default_factory=list)
    price: Text | None = None
    escalation: Text | None = None
    sales: SalesNotes | None = None
    inherit_ok: list[str] = Field(default_factory=list,
                                  description="Sales and price fields this tier means to inherit from a parent with "
                                              "another touch model (silences validate's warning), e.g. [price]")
    extends: str | None = Field(None, description="Tier to inherit from; lists take +x / -x to add or remove")

    @field_validator("named_contacts", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        return value


class Question(Model):
    """One survey question; the type fixes the answer scale."""

    id: Slug
    type: Literal["nps", "csat", "ces", "rating", "choice", "multiple_choice", "text"]
    text: Text
    scale: tuple[int, int] | None = Field(None, description="For type rating: [min, max]")
    choices: list[Text] = Field(default_factory=list, description="For types choice and multiple_choice")
    min_choices: int | None = Field(None, ge=1, description="For type multiple_choice: fewest choices to tick "
                                                            "when the question is answered")
    max_choices: int | None = Field(None, ge=1, description="For type multiple_choice: most choices to tick")
    required: bool = False

    @model_validator(mode="after")
    def _shape(self) -> "Question":
        if self.type == "rating" and self.scale is None:
            raise ValueError("a rating question needs scale: [min, max], e.g. [1, 10]")
        if self.scale is not None and self.scale[0] >= self.scale[1]:
            raise ValueError("scale must be [min, max] with min below max")
        if self.type in ("choice", "multiple_choice") and not self.choices:
            raise ValueError(f"a {self.type} question needs choices: [a, b, ...]")
        if (self.min_choices is not None or self.max_choices is not None) and self.type != "multiple_choice":
            raise ValueError("min_choices and max_choices are for type multiple_choice")
        if self.type == "multiple_choice":
            lo, hi = self.min_choices or 1, self.max_choices or len(self.choices)
            if not lo <= hi <= len(self.choices):
                raise ValueError(f"expected 1 <= min_choices <= max_choices <= {len(self.choices)} (the number of "
                                 f"choices), got min_choices {self.min_choices}, max_choices {self.max_choices}")
        return self

    @property
    def bounds(self) -> tuple[int, int] | None:
        """The answer range of a scored question, or None for text and choice."""
        return {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}.get(self.type, self.scale)


class MeetingTrigger(Model):
    before_meeting: PositiveDuration = Field(description="Send this long before each meeting occurrence")
    meeting: str | None = Field(None, description="Only meetings whose summary contains this text")


class PeriodTrigger(Model):
    every: Literal["month", "quarter", "half-year", "year"]
    spread: PositiveDuration | None = Field(
        None, description="Send in waves: spread first sends over this long from the period's start, e.g. 14d")


def _audience(value: Any) -> Any:
    """``all``, one role, or a list of roles; a single role becomes a list."""
    if isinstance(value, str) and value != "all":
        return [value]
    if not isinstance(value, (str, list)):
        raise ValueError(f"expected all or a list of contact roles such as [key-stakeholder], got {value!r}")
    return value


def _trigger_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "meeting" if "before_meeting" in value else "period" if "every" in value else None
    if isinstance(value, (MeetingTrigger, PeriodTrigger)):
        return "meeting" if isinstance(value, MeetingTrigger) else "period"
    return None


class Survey(Model):
    """A survey programme: what is asked, of whom, when, through which provider."""

    title: Text
    description: Text | None = None
    trigger: Annotated[
        Union[Annotated[MeetingTrigger, Tag("meeting")], Annotated[PeriodTrigger, Tag("period")]],
        Discriminator(_trigger_kind, custom_error_type="trigger",
                      custom_error_message="expected {before_meeting: 3d} or {every: quarter}"),
    ] | None = None
    audience: Annotated[Union[Literal["all"], list[str]], BeforeValidator(_audience)] = "all"
    provider: str | None = None
    questions: list[Question] = Field(default_factory=list)
    throttle: Literal["exempt"] | None = None

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, value: list[Question]) -> list[Question]:
        seen: set[str] = set()
        for q in value:
            if q.id in seen:
                raise ValueError(f"question id {q.id!r} is used twice; ids must be unique within a survey")
            seen.add(q.id)
        return value


class ProviderInstance(BaseModel):
    """A named provider: ``{plugin: <plugin id>, ...options}``; options are the plugin's to check."""

    model_config = ConfigDict(extra="allow", frozen=True)
    plugin: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.__pydantic_extra__ or {})


class RenderTarget(Model):
    """One output of ``tierctl render``."""

    format: str = Field(description="A renderer: html (website) or markdown (sales), or a plugin's")
    out: str = Field(description="Output folder, relative to the config file")
    title: Text | None = None
    show_metrics: bool = False
    min_answers: int = Field(5, ge=1, description="With show_metrics: a figure from fewer answers is not "
                                                  "published (the report marks it as a small sample)")


class RenderConfig(BaseModel):
    """``render:``: ``templates`` plus one entry per named target."""

    model_config = ConfigDict(extra="allow", frozen=True)
    templates: str | None = Field(None, description="Folder of template overrides, searched first")
    __pydantic_extra__: dict[str, RenderTarget] = Field(init=False)  # type: ignore[assignment]

    @property
    def targets(self) -> dict[str, RenderTarget]:
        return dict(self.__pydantic_extra__ or {})


class Storage(Model):
    """Where tierctl keeps its state (the ledger of invitations)."""

    url: str = Field("sqlite:///.tierctl/state.db",
                     description="sqlite:///relative/to/config.db, sqlite:////absolute/path.db or "
                                 "postgresql://user@host:5432/dbname (password from PGPASSWORD)")


class Serve(Model):
    """``serve:``: the hosted survey form, unsubscribe links and webhook receivers (``tierctl serve``)."""

    base_url: str = Field(description="Public address of tierctl serve, e.g. https://surveys.acme.example; "
                                      "invitations link to the hosted form there")
    secret: SecretStr = Field(description="Key that signs survey and unsubscribe links (HMAC-SHA256), at least "
                                          "32 characters; write it as ${TIERCTL_SERVE_SECRET}")
    unsubscribe_mailto: str | None = Field(None, description="Also offer List-Unsubscribe by mail to this address")
    max_body_bytes: int = Field(65536, ge=1024, le=10 * 1024 * 1024,
                                description="Largest request body accepted (form posts and webhooks)")
    rate_per_ip: int = Field(120, ge=1, description="Requests per minute from one client address")
    rate_per_token: int = Field(30, ge=1, description="Requests per minute for one survey link")
    rate_per_ip_hooks: int = Field(
        6000, ge=1, description="Webhook requests (/hooks/...) per minute from one client address: platforms "
                                "send a delivery receipt or two per message from few addresses, so they get "
                                "their own, larger budget (each is signature-checked)")
    webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="Signing secrets of the platforms' webhooks: typeform, "
                                          "surveymonkey (api_key&api_secret), qualtrics; write them as ${ENV}")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"{value!r} is not a base address; expected https://host[/path] without ? or #")
        return value.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))'), set as ${TIERCTL_SERVE_SECRET}")
        return value

    @field_validator("unsubscribe_mailto")
    @classmethod
    def _mailto(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", value):
            raise ValueError(f"{value!r} is not an e-mail address; expected unsubscribe@acme.example")
        return value


class Benchmark(Model):
    """A published figure to compare a metric with, e.g. CSAT 92.5 (2018)."""

    metric: Literal["csat", "nps", "ces", "response_rate"]
    value: float
    source: str
    year: int | None = None
    survey: str | None = Field(None, description="Only for this survey (default: all)")
    tier: str | None = Field(None, description="Only for this tier (default: all)")
    label: Text | None = None


class Throttle(Model):
    """The fatigue cap: how often one person may hear from us, across surveys and messages."""

    per_contact: PositiveDuration | None = Field(
        None, description="At most one survey or message per contact in this window, e.g. 30d")
    messages_per_week: int | None = Field(
        None, ge=1, description="At most this many surveys and messages per contact in any 7 days")


MESSAGE_CHANNELS = ("email", "sms", "whatsapp")


def _per_language(value: Any) -> Any:
    """One text for every language, or ``{language: text}``; one text is stored under ``""``."""
    if isinstance(value, str):
        return {"": value}
    return value


#: A text in one language, or ``{language: text}`` (a plain text is kept under ``""``).
PerLanguage = Annotated[dict[str, str], BeforeValidator(_per_language),
                        WithJsonSchema({"anyOf": [{"type": "string"},
                                                  {"type": "object", "additionalProperties": {"type": "string"}}]})]


class WhatsAppTemplate(Model):
    """An approved WhatsApp template: business-initiated WhatsApp messages must use one."""

    id: str = Field(description="The template's id at the provider (Twilio: the ContentSid, HX...)")
    variables: dict[str, str] = Field(default_factory=dict, description="Placeholder -> value template, "
                                      "e.g. {'1': '{{ first_name }}', '2': '{{ account_name }}'}")


class Message(Model):
    """A contact moment's message: a subject and body template per language, sent on one channel."""

    channel: Literal["email", "sms", "whatsapp"]
    provider: str = Field(description="The provider instance (under providers:) that sends it")
    subject: PerLanguage = Field(
        default_factory=dict, description="Subject template (e-mail), one text or {language: text}")
    body: PerLanguage = Field(
        default_factory=dict, description="Body template (jinja2: {{ first_name }}, {{ account_name }}, "
                                          "{{ tier_name }}, {{ org_name }}), one text or {language: text}")
    template: WhatsAppTemplate | None = Field(None, description="WhatsApp: the approved template to send")
    throttle: Literal["exempt"] | None = None

    @model_validator(mode="after")
    def _shape(self) -> "Message":
        if self.channel == "whatsapp" and self.template is None:
            raise ValueError("a whatsapp message needs template: {id: HX..., variables: {...}}: WhatsApp "
                             "accepts only approved templates for messages a business starts")
        if self.channel != "whatsapp" and not self.body:
            raise ValueError(f"a {self.channel} message needs a body")
        if self.channel == "email" and not self.subject:
            raise ValueError("an email message needs a subject")
        return self


_CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 21:00 as a sexagesimal number (1260).
        return f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not _CLOCK_RE.match(value.strip()):
        raise ValueError(f"expected a time of day such as \"21:00\", got {value!r}")
    return value.strip()


class QuietHours(Model):
    """No SMS or WhatsApp between ``start`` and ``end`` in the contact's time zone: deferred, not dropped."""

    start: Annotated[str, BeforeValidator(_clock)] = Field(description="Quiet from, e.g. 21:00")
    end: Annotated[str, BeforeValidator(_clock)] = Field(description="Quiet until, e.g. 08:00")


def _requirement(text: str) -> str:
    """A pip requirement (``tierctl-acme>=1.0``), checked with ``packaging``."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0].rstrip(".")
        raise ValueError(f"{text!r} is not a pip requirement such as tierctl-acme>=1.0 ({reason})") from None
    return text


OWNER_PATH_RE = re.compile(r"^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*$")


def _owner_rules(value: Any) -> Any:
    """``owners:`` keys are dotted field paths (``*`` matches one segment); values are approvers."""
    if not isinstance(value, dict):
        return value
    out = {}
    for path, who in value.items():
        if not isinstance(path, str) or not OWNER_PATH_RE.match(path):
            raise ValueError(f"{path!r} is not a field path such as tiers.*.response_targets "
                             "(dot-separated keys, * for any one key)")
        out[path] = [who] if isinstance(who, str) else who
    return out


class Config(Model):
    """A whole tierctl config file."""

    version: Literal[1]
    organization: Organization
    tiers: dict[Slug, Tier] = Field(min_length=1)
    surveys: dict[Slug, Survey] = Field(default_factory=dict)
    providers: dict[Slug, ProviderInstance] = Field(default_factory=dict)
    sources: dict[str, ProviderInstance] = Field(default_factory=dict)
    throttle: Throttle | None = None
    messages: dict[Slug, Message] = Field(default_factory=dict,
                                          description="Messages that automated contact moments send")
    quiet_hours: QuietHours | None = Field(None, description="No SMS or WhatsApp in these hours, contact's time")
    serve: Serve | None = None
    benchmarks: list[Benchmark] = Field(default_factory=list)
    storage: Storage = Field(default_factory=Storage)
    render: RenderConfig = Field(default_factory=RenderConfig)
    owners: Annotated[dict[str, list[str]], BeforeValidator(_owner_rules)] = Field(
        default_factory=dict, description="Who must approve changes to which fields, CODEOWNERS-style: "
                                          "tiers.*.response_targets: [legal, support-lead]; the last matching "
                                          "path wins; checked by tierctl diff --check-owners")
    helpdesks: dict[Slug, ProviderInstance] = Field(
        default_factory=dict, description="Helpdesks that tierctl helpdesk sync keeps in step with the tiers, "
                                          "e.g. zendesk: {plugin: zendesk, subdomain: acme, ...}")
    labels: dict[str, Text] = Field(default_factory=dict, description="Display names for channels, plans, "
                                    "severities and other ids, overriding the built-in ones, e.g. "
                                    "{gold: Gold, knowledge-base: {en: Help centre, nl: Helpcentrum}}")
    requires_plugins: list[Annotated[str, AfterValidator(_requirement)]] = Field(
        default_factory=list, description="Plugin distributions this config needs, as pip requirements "
                                          "(e.g. tierctl-acme>=1.0); checked when the config is loaded")

    _path: str = PrivateAttr("")
    # Plugin options validated by each plugin's own Options model, keyed by
    # (section, name), e.g. ("providers", "mail"); filled by load_config.
    _plugin_options: dict[tuple[str, str], Any] = PrivateAttr(default_factory=dict)
    # Where each value sits in the file (a yaml_source.SourceMap), for problems found after loading.
    _source: Any = PrivateAttr(None)
    _redactor: Any = PrivateAttr(None)

    @property
    def path(self) -> str:
        """The file this config was loaded from ('' when built in memory)."""
        return self._path

    @property
    def base_dir(self) -> "Path":
        """The config file's folder: relative paths in the config start here."""
        from pathlib import Path

        return Path(self._path).parent if self._path else Path.cwd()

    def problem(self, path: tuple[str | int, ...], message: str) -> "Problem":
        """A problem at ``path`` (e.g. ``("surveys", "nps", "questions", 0, "type")``), located in the
        config file when it was loaded from one: for checks made after loading."""
        from tierctl.errors import Problem
        from tierctl.config.yaml_source import dotted

        if self._source is not None:
            return self._source.problem(path, message)
        return Problem(self._path, 0, 0, dotted(path), message)

    def redactor(self) -> "Redactor":
        """Masks every value this config took from the environment (``${NAME}`` in any option), and
        what URLs reveal: apply it to anything printed, logged or stored (see :mod:`tierctl.util.redact`)."""
        from tierctl.util.redact import Redactor

        if self._redactor is None:
            self._redactor = Redactor(self._source.env_values if self._source is not None else ())
        return self._redactor

    def plugin_options(self, section: str, name: str) -> Any:
        """The validated options of ``providers.<name>`` or ``sources.<name>``."""
        return self._plugin_options[(section, name)]

    def tier_for_plan(self, plan: str) -> str | None:
        for tier_id, tier in self.tiers.items():
            if plan in tier.plans:
                return tier_id
        return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file as written (before ``extends``)."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tierctl config"
    tier = schema["$defs"]["Tier"]
    # A tier that extends another may leave out anything it inherits, and
    # lists may say +x / -x; the merged result is checked by tierctl itself.
    tier.pop("required", None)
    return schema
