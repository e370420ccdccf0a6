"""The records that flow through a survey run: contacts, meetings, invitations, results.

They are small, immutable and cheap (``slots``), because a run may stream a
million contacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple


@dataclass(slots=True)  # not frozen: a source creates a million of these, and frozen costs 5x per object
class Contact:
    """One person at a customer account, as a customer source yields it.

    ``email`` is lower-cased by the source; ``tier`` is the tier whose
    ``plans`` list the account's plan.
    """

    account_id: str
    account_name: str
    plan: str
    status: str
    email: str
    name: str
    role: str
    locale: str
    tier: str
    #: E.164 phone number (``+31612345678``), validated by the source; ``""`` when unknown.
    phone: str = ""
    #: Consent to be messaged on each channel; nothing goes out on SMS or WhatsApp without it.
    sms_opt_in: bool = False
    whatsapp_opt_in: bool = False
    #: IANA time zone of the contact (quiet hours); ``""`` means the organisation's.
    timezone: str = ""
    #: The account manager who owes the account its manual contact moments (an e-mail address).
    owner: str = ""
    #: When the account's status began, ISO date or date-time text; ``""`` when unknown.
    status_since: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A contact moment's text, rendered for one contact (``tierctl touchpoints send``).

    ``channel`` is ``email``, ``sms`` or ``whatsapp``. A provider sends
    ``subject`` and ``body`` as they are; for a business-initiated WhatsApp
    message ``template_id`` names an approved template (Twilio's
    ``ContentSid``) and ``template_variables`` fill its placeholders, in
    order (``(("1", "Ann"), ("2", "Acme"))``).
    """

    message_id: str
    channel: str
    subject: str
    body: str
    template_id: str = ""
    template_variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Meeting:
    """One occurrence of a calendar event (recurrences already expanded).

    ``occurrence_id`` is stable across runs: the event UID plus the
    occurrence's original start (its RECURRENCE-ID), so a moved occurrence
    keeps its id. ``start`` is timezone-aware (floating times are read in the
    organisation's zone). ``attendees`` are lower-cased e-mail addresses.
    """

    occurrence_id: str
    uid: str
    start: datetime
    end: datetime | None
    summary: str
    attendees: frozenset[str]
    all_day: bool = False


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A bad input row that was skipped: where it is and why."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Question:
    """A question as providers see it (a plain copy of the config's). ``type`` is one of nps, csat,
    ces, rating, choice, multiple_choice (any number of ``choices``; fetched answers may be a list of
    labels, or one text with ``;`` between them) and text."""

    id: str
    type: str
    text: str
    bounds: tuple[int, int] | None = None
    choices: tuple[str, ...] = ()


@dataclass(slots=True)  # not frozen: planning creates one per due contact; treat as immutable (use replace())
class Invitation:
    """One survey invitation: a (survey, contact, occasion) to send exactly once.

    ``invite_id`` is tierctl's own id; providers must carry it in the
    platform's metadata channel (custom fields, hidden fields, embedded data)
    so responses can be joined to the invitation. ``closes_at`` is when the
    occasion ends (the meeting starts, the period ends).
    """

    invite_id: str
    survey_id: str
    survey_title: str
    tier: str
    account_id: str
    account_name: str
    contact_email: str
    contact_name: str
    role: str
    locale: str
    occasion: str
    due_at: datetime
    closes_at: datetime
    questions: tuple[Question, ...] = ()
    description: str = ""
    meeting_start: datetime | None = None
    #: ``due_at`` as a date in the organisation's time zone (YYYY-MM-DD): the
    #: day reports group by, so a quarter starts at local midnight, not UTC's.
    due_day: str = ""
    #: The contact's E.164 phone number, for SMS and WhatsApp providers (``""`` when unknown).
    phone: str = ""
    #: Channels the contact agreed to be messaged on besides e-mail (``("sms", "whatsapp")``):
    #: an SMS or WhatsApp provider sends only on a channel listed here.
    consent: tuple[str, ...] = ()
    #: The contact's IANA time zone, ``""`` for the organisation's.
    timezone: str = ""
    #: Set for a contact moment (``touchpoints send``): the text to send instead of a survey invitation.
    message: OutgoingMessage | None = None

    def fields(self) -> dict[str, Any]:
        """Values for link templates and metadata: ``{survey}``, ``{invite_id}``, ..."""
        return {"survey": self.survey_id, "invite_id": self.invite_id, "tier": self.tier,
                "account_id": self.account_id, "occasion": self.occasion,
                "email": self.contact_email, "locale": self.locale}


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a provider did with one invitation.

    ``ok`` with an optional ``external_id`` (the platform's id); or failed with
    a ``reason``. ``retry=True`` marks a temporary failure (timeout, 4xx SMTP
    reply, 429, 5xx) that a later run may try again while the occasion is
    open; ``retry=False`` is permanent (bounced, invalid address, opted out).
    ``unknown=True`` (made by :meth:`maybe_sent`) says the request went out but
    no answer came, so the platform may have acted on it: the ledger keeps
    it as ``unknown`` and it is never sent again unless someone asks
    (``--resend-unknown``). It is ``ok=False, retry=False`` as well, so code
    that does not know ``unknown`` still never resends it.
    ``opted_out=True`` says the platform reports the address as opted out or
    bouncing: tierctl then suppresses it for every survey (source ``provider``).
    """

    invite_id: str
    ok: bool
    external_id: str | None = None
    reason: str | None = None
    retry: bool = False
    unknown: bool = False
    opted_out: bool = False

    @classmethod
    def sent(cls, invite_id: str, external_id: str | None = None) -> "SendResult":
        return cls(invite_id, True, external_id)

    @classmethod
    def failed(cls, invite_id: str, reason: str, retry: bool = False, opted_out: bool = False) -> "SendResult":
        return cls(invite_id, False, None, reason, retry, opted_out=opted_out)

    @classmethod
    def maybe_sent(cls, invite_id: str, reason: str) -> "SendResult":
        """The request may have reached the platform, but no answer came: never resent automatically."""
        return cls(invite_id, False, None, reason, False, True)


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A POST to ``tierctl serve``'s ``/hooks/<plugin name>``, as :meth:`Provider.webhook_events` reads it.

    ``url`` is the public URL the platform called (``serve.base_url`` + path
    + query: behind a proxy, the address the platform knows, not the one the
    server saw); ``headers`` have lower-case names; ``body`` is the raw bytes
    (bounded by ``serve.max_body_bytes``); ``form`` the form-encoded fields in
    order, repeated names kept (empty for other bodies); ``method`` ``POST``,
    or ``GET`` for platforms that report by query string (MessageBird).
    """

    url: str
    headers: Mapping[str, str]
    body: bytes
    form: tuple[tuple[str, str], ...] = ()
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A platform's report on a message it was given (a status callback).

    ``external_id`` is the id :class:`SendResult` returned for it; ``status``
    the platform's word, lower-case (``delivered``, ``failed``,
    ``undelivered``, ``sent``, ``read``, ...); ``error_code`` its error code
    for a failure (``""`` when none).
    """

    external_id: str
    status: str
    error_code: str = ""


@dataclass(frozen=True, slots=True)
class InboundText:
    """A text a contact sent to one of the organisation's numbers.

    ``sender`` is the E.164 number (without a ``whatsapp:`` prefix);
    ``channel`` ``sms`` or ``whatsapp``; ``message_id`` the platform's id of
    the text (an answer stored from it is stored once by it).
    """

    sender: str
    channel: str
    body: str
    message_id: str


@dataclass(slots=True)
class RawResponse:
    """A response as a provider fetched it: raw answers, tierctl computes metrics."""

    response_id: str
    invite_id: str | None
    submitted_at: datetime
    answers: dict[str, Any] = field(default_factory=dict)
    contact_email: str | None = None


class StoredResponse(NamedTuple):
    """One response as the ledger stores it, linked to its invitation.

    ``response_id`` is ``<source>:<id at the source>``: ``import:<invite_id>``
    for imports, ``<provider instance>:<platform response id>`` for fetched
    ones. ``answers`` maps question ids to checked values: ``int`` for nps,
    csat, ces and rating questions, the declared label for a choice, the
    text as given for free text; unanswered questions are absent.
    ``question_types`` maps question ids to their type (shared by all
    responses of a survey). ``invitation`` is the ledger's key for the
    invitation (:attr:`tierctl.storage.ledger.InvitationLink.key`); ``tier`` and
    ``due_day`` are the invitation's, the ones reports group by. The rest of
    the invitation (account, contact, occasion) is given to the
    ``response_received`` hook beside the response.

    Immutable, so that no plugin changes what the next one sees; the ledger
    makes millions of them in an import, which a tuple makes cheap.
    """

    response_id: str
    invite_id: str
    survey_id: str
    tier: str
    due_day: str
    submitted_at: datetime
    source: str
    answers: dict[str, Any]
    received_at: datetime | None = None
    question_types: Mapping[str, str] = MappingProxyType({})
    invitation: Any = None


class AnsweredInvitation(dict):  # type: ignore[type-arg]
    """The invitation a response answers, as the ``response_received`` hook gets it.

    Read it by attribute (``invitation.invite_id``). It is also the dict
    earlier tierctl versions passed (``invitation["invite_id"]``,
    ``invitation.get("tier")``, ``json.dumps(invitation)``), so plugins
    written for them keep working; treat it as read-only.
    """

    FIELDS = ("invite_id", "survey_id", "tier", "account_id", "contact_email", "occasion", "due_day")

    def __init__(self, invite_id: str, survey_id: str, tier: str, account_id: str, contact_email: str,
                 occasion: str, due_day: str):
        super().__init__(invite_id=invite_id, survey_id=survey_id, tier=tier, account_id=account_id,
                         contact_email=contact_email, occasion=occasion, due_day=due_day)

    @property
    def invite_id(self) -> str:
        """tierctl's id of the invitation."""
        return self["invite_id"]

    @property
    def survey_id(self) -> str:
        """The survey's id in the config."""
        return self["survey_id"]

    @property
    def tier(self) -> str:
        """The tier of the account when the invitation was planned."""
        return self["tier"]

    @property
    def account_id(self) -> str:
        """The customer account's id."""
        return self["account_id"]

    @property
    def contact_email(self) -> str:
        """The invited person's e-mail address (lower case)."""
        return self["contact_email"]

    @property
    def occasion(self) -> str:
        """What the invitation was for: a meeting occurrence id or a period (``2026-Q4``)."""
        return self["occasion"]

    @property
    def due_day(self) -> str:
        """The day it was due, YYYY-MM-DD in the organisation's time zone."""
        return self["due_day"]


class HelpdeskRating(NamedTuple):
    """A helpdesk's satisfaction rating as the ledger keeps it: ``score`` is ``good`` or ``bad``,
    ``tier`` the tier of the rated ticket's organisation, ``day`` the rating's day (YYYY-MM-DD) in
    the organisation's time zone."""

    rating_id: str
    tier: str
    organization: str
    score: str
    created_at: datetime
    day: str
