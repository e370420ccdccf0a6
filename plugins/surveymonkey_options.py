"""Options of the ``surveymonkey`` provider: which SurveyMonkey survey each tierctl survey is, the
invite message's subject and body (per language), and the sender. Checked when the config loads."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from tierctl.providers import ProviderOptions

#: Requests one survey's part of a batch costs: message, bulk add, send.
REQUESTS_PER_PART = 3
DEFAULT_BASE_URL = "https://api.surveymonkey.com/v3"
#: Placeholders SurveyMonkey requires in an invite message.
REQUIRED_PLACEHOLDERS = ("[SurveyLink]", "[OptOutLink]", "[PrivacyLink]", "[FooterLink]")
DEFAULT_BODY_HTML = """\
<p>Hello,</p>
<p>{organization} would like to hear from you: <strong>{survey_title}</strong> takes a minute or two.</p>
<p><a href="[SurveyLink]">Start the survey</a></p>
<p>This link is personal; please do not forward this e-mail.</p>
<p><a href="[OptOutLink]">Unsubscribe</a> from survey e-mails like this one.
   <a href="[PrivacyLink]">Privacy</a></p>
<p>[FooterLink]</p>
"""
_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SurveyMap(BaseModel):
    """One tierctl survey on SurveyMonkey: the survey id and, optionally, how its questions map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="The SurveyMonkey survey id (digits, from the survey's URL or GET /surveys)")
    questions: dict[str, str] = Field(default_factory=dict,
                                      description="SurveyMonkey question id -> tierctl question id; "
                                                  "without it, headings are matched to question texts")

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str:
        return _platform_id(value, "survey id")

    @field_validator("questions", mode="before")
    @classmethod
    def _questions(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_platform_id(k, "question id"): v for k, v in value.items()}
        return value


def _per_language(value: "str | dict[str, str] | None") -> list[tuple[str, str]]:
    """``[(language, text)]`` of an option written once (language ``""``) or per language."""
    if value is None:
        return []
    if isinstance(value, dict):
        from tierctl.i18n.text import LocalText

        return list(LocalText.parse(value).variants.items())  # checks the language codes
    return [("", value)]


def default_body_html() -> str:
    """tierctl's invite message in the current language (:func:`tierctl.i18n.use_language`);
    in English it is :data:`DEFAULT_BODY_HTML`."""
    from tierctl.i18n import _

    intro = _("%(organization)s would like to hear from you: %(survey)s takes a minute or two.") % {
        "organization": "{organization}", "survey": "<strong>{survey_title}</strong>"}
    unsubscribe = _("%(unsubscribe)s from survey e-mails like this one.") % {
        "unsubscribe": '<a href="[OptOutLink]">' + _("Unsubscribe") + "</a>"}
    hello, start, personal, privacy = (_("Hello,"), _("Start the survey"),
                                       _("This link is personal; please do not forward this e-mail."), _("Privacy"))
    return (f"<p>{hello}</p>\n<p>{intro}</p>\n<p><a href=\"[SurveyLink]\">{start}</a></p>\n<p>{personal}</p>\n"
            f"<p>{unsubscribe}\n   <a href=\"[PrivacyLink]\">{privacy}</a></p>\n<p>[FooterLink]</p>\n")


def _platform_id(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.match(value.strip()):
        raise ValueError(f"{value!r} is not a SurveyMonkey {what}; expected digits such as \"405123456\"")
    return value.strip()


class SurveyMonkeyOptions(ProviderOptions):
    token: SecretStr = Field(description="The app's access token, sent as 'Authorization: bearer ...'; "
                                         "write it as ${SM_TOKEN}")
    surveys: dict[str, SurveyMap] = Field(description="tierctl survey id -> SurveyMonkey survey id "
                                                      "(or {id, questions})")
    base_url: str = Field(DEFAULT_BASE_URL, description="API base: the access_url of the OAuth answer + /v3 "
                                                        "(EU accounts: https://api.eu.surveymonkey.com/v3)")
    requests_per_minute: int = Field(120, ge=1, le=100_000, description="The app's request limit per minute")
    requests_per_day: int = Field(500, ge=REQUESTS_PER_PART + 1, le=10_000_000,
                                  description="The app's request limit per day (UTC); a run stops before it")
    batch_size: int = Field(100, ge=1, le=1000, description="Invitations per bulk add (three requests each)")
    subject: str | dict[str, str] | None = Field(
        None, description="E-mail subject, or one per language ({en: ..., nl: ...}: the contact's language, else "
                          "the organisation's); default the survey's title in the contact's language")
    body_html: str | dict[str, str] | None = Field(
        None, description="Invite message HTML with [SurveyLink], [OptOutLink], [PrivacyLink] and [FooterLink]; "
                          "{survey_title} and {organization} are filled in; one text or one per language. "
                          "Default: tierctl's message in the contact's language")
    sender_email: str | None = Field(None, description="Sender address of the e-mail collectors "
                                                       "(verified in SurveyMonkey); default the account's")
    branding: bool = Field(True, description="SurveyMonkey branding in the e-mail (off needs a paid plan)")
    invite_field: int = Field(1, ge=1, le=6, description="Contact custom field (1-6) that carries the invite id")
    invite_variable: str = Field("invite_id", description="Survey custom variable read as the invite id "
                                                          "(responses through a web link)")
    fetch_overlap: float = Field(600.0, ge=0, le=7 * 86400,
                                 description="Seconds each fetch looks back before the cursor")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds to wait for each answer")
    max_retries: int = Field(3, ge=0, le=10, description="Retries on 5xx, timeouts, dropped connections and 429")
    backoff_factor: float = Field(1.0, ge=0, le=60, description="Exponential backoff base, in seconds")
    max_rate_wait: float = Field(65.0, ge=0, le=3600,
                                 description="Longest wait for the per-minute limit to reset, in seconds")

    @field_validator("surveys", mode="before")
    @classmethod
    def _surveys(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise ValueError("map each tierctl survey to its SurveyMonkey survey id, "
                             "e.g. {product-feedback: \"405123456\"}")
        return {k: ({"id": v} if isinstance(v, (str, int)) and not isinstance(v, bool) else v)
                for k, v in value.items()}

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not an API address; expected e.g. {DEFAULT_BASE_URL}")
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if not token.strip() or re.search(r"\s", token.strip()):
            raise ValueError("the access token must be one word without spaces")
        return SecretStr(token.strip())

    @field_validator("body_html")
    @classmethod
    def _body(cls, value: "str | dict[str, str] | None") -> "str | dict[str, str] | None":
        for language, text in _per_language(value):
            missing = [p for p in REQUIRED_PLACEHOLDERS if p not in text]
            if missing:
                raise ValueError(f"the {language + ' ' if language else ''}message must contain {', '.join(missing)} "
                                 f"(SurveyMonkey requires {', '.join(REQUIRED_PLACEHOLDERS)}; the opt-out link "
                                 "must be clearly labelled)")
        return value

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: "str | dict[str, str] | None") -> "str | dict[str, str] | None":
        for language, text in _per_language(value):
            if _CONTROL_RE.search(text) or not text.strip():
                raise ValueError(f"the {language + ' ' if language else ''}subject must be a single, non-empty line")
        return value

    @field_validator("sender_email")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_RE.match(value.strip()):
            raise ValueError(f"{value!r} is not an e-mail address")
        return None if value is None else value.strip()

    @field_validator("invite_variable")
    @classmethod
    def _variable(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the custom variable name must not be empty")
        return value.strip()
