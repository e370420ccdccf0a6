"""The options of the ``qualtrics`` provider (see :mod:`tierctl.plugins.provider_qualtrics`),
each id checked for the shape Qualtrics gives it (Account Settings > Qualtrics IDs)."""

from __future__ import annotations

import re
from typing import Callable

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from tierctl.providers import HttpRetryOptions

_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+$")


def _id_check(prefix: str, what: str) -> Callable[[str], str]:
    pattern = re.compile(rf"^{prefix}_[A-Za-z0-9]+$")

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not a Qualtrics {what} id; expected {prefix}_ followed by letters and "
                             "digits (Account Settings > Qualtrics IDs)")
        return value

    return check


#: Option -> the check of the id it holds.
_IDS = {"directory_id": _id_check("POOL", "directory"), "mailing_list_id": _id_check("CG", "mailing list"),
        "message_id": _id_check("MS", "message")}


class QualtricsOptions(HttpRetryOptions):
    token: SecretStr = Field(description="API token (X-API-TOKEN); write it as ${QUALTRICS_TOKEN}")
    datacenter: str | None = Field(None, description="Data center id, e.g. fra1: https://fra1.qualtrics.com/API/v3/")
    base_url: str | None = Field(None, description="API address instead of the datacenter's (proxies, tests)")
    directory_id: str = Field(description="XM Directory id (POOL_...) the contacts go into")
    mailing_list_id: str | None = Field(None, description="A fixed mailing list (CG_...); default a new list per "
                                                          "batch. A fixed list costs one distribution per contact")
    surveys: dict[str, str] = Field(description="Qualtrics survey id (SV_...) per tierctl survey id")
    library_id: str = Field(description="Library of the invitation message (UR_... or GR_...)")
    message_id: str = Field(description="The invitation message (MS_...), containing the survey link")
    from_email: str | None = Field(None, description="Sender address; default organization.contact_email")
    from_name: str | None = Field(None, description="Sender name; default the organization's name")
    reply_to: str | None = Field(None, description="Reply-to address")
    subject: str | dict[str, str] | None = Field(
        None, description="Subject line, or one per language ({en: ..., nl: ...}: the contact's language, else the "
                          "organisation's); default the survey's title in the contact's language")
    link_expiry: int | None = Field(None, ge=1, le=365, description="Days the survey links stay valid; default "
                                                                    "until the invitation's occasion closes")
    questions: dict[str, str] = Field(default_factory=dict,
                                      description="Export column per tierctl question id, e.g. {nps: QID1}; "
                                                  "a question not listed is read from the column named like it")
    requests_per_second: float = Field(5.0, gt=0, le=50, description="API requests per second at most")
    poll_interval: float = Field(2.0, ge=0, le=60, description="Seconds between polls of an import or export")
    export_timeout: float = Field(600.0, gt=0, le=7200, description="Longest wait for an import or export, seconds")

    @field_validator(*_IDS)
    @classmethod
    def _ids(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _IDS[info.field_name](value)

    @field_validator("library_id")
    @classmethod
    def _library(cls, value: str) -> str:
        if not re.match(r"^(UR|GR)_[A-Za-z0-9]+$", value):
            raise ValueError(f"{value!r} is not a Qualtrics library id; expected UR_... (your library) or "
                             "GR_... (a group library)")
        return value

    @field_validator("surveys")
    @classmethod
    def _surveys(cls, value: dict[str, str]) -> dict[str, str]:
        for survey, sv in value.items():
            if not re.match(r"^SV_[A-Za-z0-9]+$", str(sv)):
                raise ValueError(f"{sv!r} (survey {survey!r}) is not a Qualtrics survey id; expected SV_...")
        return value

    @field_validator("datacenter")
    @classmethod
    def _datacenter(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z]{2,4}[0-9]{0,3}$", value.strip().lower()):
            raise ValueError(f"{value!r} is not a data center id; expected e.g. fra1, iad1, ca1, syd1")
        return value.strip().lower() if value is not None else None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not an API address; expected e.g. https://fra1.qualtrics.com/API/v3")
        return value.rstrip("/") if value is not None else None

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: "str | dict[str, str] | None") -> "str | dict[str, str] | None":
        if isinstance(value, dict):
            from tierctl.i18n.text import LocalText

            texts = list(LocalText.parse(value).variants.values())  # checks the language codes
        else:
            texts = [] if value is None else [value]
        if any(not text.strip() or re.search(r"[\x00-\x1f\x7f]", text) for text in texts):
            raise ValueError("the subject must be a single, non-empty line")
        return value

    @field_validator("from_email", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_RE.match(value.strip()):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _where(self) -> "QualtricsOptions":
        if not self.datacenter and not self.base_url:
            raise ValueError("set datacenter (e.g. fra1; Account Settings > Qualtrics IDs), or base_url")
        return self

    @property
    def api_url(self) -> str:
        return self.base_url or f"https://{self.datacenter}.qualtrics.com/API/v3"
