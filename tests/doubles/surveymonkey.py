"""A local double of SurveyMonkey's API v3, on a real HTTP server on 127.0.0.1.

It follows the documented shapes:

* ``Authorization: bearer <token>``; errors as ``{"error": {"id", "name",
  "docs", "message", "http_status_code"}}`` (1010 no token, 1011 unknown
  token, 1013 revoked token, 1018 wrong data centre, 1020 not found, 1040
  rate limit, 1050 server error; 1000/1025 for bad or conflicting requests,
  where SurveyMonkey documents no id);
* e-mail collectors (``POST /surveys/{id}/collectors``), invite messages
  (``POST /collectors/{id}/messages``: the body must hold ``[SurveyLink]``,
  ``[OptOutLink]``, ``[PrivacyLink]`` and ``[FooterLink]``), bulk recipients
  (``POST .../messages/{id}/recipients/bulk`` answering ``{succeeded,
  invalids, existing, bounced, opted_out, duplicate}``; an address is a
  recipient once per collector; when any contact of a bulk add carries
  ``custom_fields``, those without get theirs cleared), and ``POST
  .../messages/{id}/send`` (only while the message is ``not_sent``);
* ``GET /surveys/{id}/responses/bulk`` with ``page``, ``per_page`` (<= 100),
  ``start_modified_at``/``end_modified_at``, ``sort_by=date_modified``,
  ``sort_order``, ``status`` and ``simple`` (``heading`` per question,
  ``simple_text`` per answer); the envelope ``{data, per_page, page, total,
  links{self, first, prev, next, last}}``; e-mail responses carry the
  recipient's contact in ``metadata.contact`` (custom field 1 as
  ``custom_value``, 2-6 as ``custom_value2``...);
* ``X-Ratelimit-App-Global-{Minute,Day}-{Limit,Remaining,Reset}`` on every
  answer, and the limits ENFORCED: over either, 429 with error 1040 and no
  ``Retry-After``. The "minute" can be shortened (``minute_seconds``) so
  tests need not wait; the day ends at 00:00 UTC or at :meth:`new_day`.

Respondents answer what they were sent::

    with SurveyMonkeyDouble() as sm:
        sm.add_survey("405", {"812001": ("How likely are you to recommend us?", [str(n) for n in range(11)]),
                              "812002": "What should we improve?"})
        ... the provider sends, with base_url=sm.base_url, token=sm.token ...
        sm.respond(invite_id, {"812001": "9", "812002": "Docs"})   # by custom field, e-mail or recipient id

Faults: :meth:`revoke_token`, ``wrong_region``, :meth:`fail_next` (5xx or any
error, with or without carrying the request out), :meth:`slow_next` (an answer
that comes too late, after or without carrying it out), :meth:`bounce`,
:meth:`opt_out` (partial bulk results), ``duplicate_across_pages`` (each page
after the first repeats the previous page's last item), and the base class's
``script``/``when`` for anything else. Counters: :attr:`count` (every
request), :attr:`accepted` (counted against the limits), :attr:`rate_limited`
(429s given), :attr:`calls` (by endpoint); :attr:`deliveries` lists every
invitation e-mail "sent".
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlencode

from tierctl.testing.http_double import HttpDouble, Reply, Request, route

TOKEN = "sm-test-token-Xq7c2LmN9vB4kR8w"
DOCS = "https://developer.surveymonkey.com/api/v3/#error-codes"
PLACEHOLDERS = ("[SurveyLink]", "[OptOutLink]", "[PrivacyLink]", "[FooterLink]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ERRORS = {
    "1000": ("Bad Request", 400), "1002": ("Invalid URL Parameters", 400), "1003": ("Invalid Schema", 400),
    "1010": ("Authorization Error", 401), "1011": ("Authorization Error", 401),
    "1013": ("Authorization Error", 401), "1014": ("Permission Error", 403), "1018": ("Permission Error", 403),
    "1020": ("Resource Not Found", 404), "1025": ("Conflict", 409), "1040": ("Rate Limit Reached", 429),
    "1050": ("Internal Server Error", 500), "1051": ("Service Unavailable", 503),
}


def sm_error(error_id: str, message: str, status: int | None = None) -> Reply:
    """An error answer in SurveyMonkey's shape."""
    name, default = _ERRORS.get(error_id, ("Error", 400))
    status = status or default
    return Reply.json({"error": {"id": error_id, "name": name, "docs": DOCS, "message": message,
                                 "http_status_code": status}}, status)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass
class Question:
    id: str
    heading: str
    choices: dict[str, str] = field(default_factory=dict)  # choice id -> text; empty: open-ended

    @property
    def family(self) -> str:
        return "single_choice" if self.choices else "open_ended"


@dataclass
class Survey:
    id: str
    page_id: str
    questions: dict[str, Question]


@dataclass
class Message:
    id: str
    collector_id: str
    subject: str
    body: str
    status: str = "not_sent"
    is_scheduled: bool = False
    scheduled_date: str | None = None
    recipients: list[str] = field(default_factory=list)  # recipient ids
    date_created: str = ""


@dataclass
class Collector:
    id: str
    survey_id: str
    type: str
    name: str
    sender_email: str | None
    date_created: str
    messages: dict[str, Message] = field(default_factory=dict)
    recipients: dict[str, str] = field(default_factory=dict)  # case-folded address -> recipient id


@dataclass
class Recipient:
    id: str
    email: str
    first_name: str
    last_name: str
    custom_fields: dict[str, str]
    collector_id: str
    message_id: str
    mail_status: str = "not_sent"


@dataclass
class _Fault:
    reply: Reply | None  # None: answer normally, late
    delay: float
    apply: bool
    method: str | None
    path: str | None
    times: int

    def matches(self, request: Request) -> bool:
        return ((self.method is None or request.method == self.method.upper())
                and (self.path is None or self.path in request.route))


class SurveyMonkeyDouble(HttpDouble):
    """SurveyMonkey's API v3 on 127.0.0.1; see the module docstring."""

    def __init__(self, *, token: str = TOKEN, minute_limit: int = 120, day_limit: int = 500,
                 minute_seconds: float = 60.0, record: bool = True,
                 clock: Callable[[], datetime] | None = None):
        super().__init__(record=record)
        self.token = token
        self.minute_limit = minute_limit
        self.day_limit = day_limit
        self.minute_seconds = minute_seconds
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.revoked = False
        self.wrong_region = False
        self.duplicate_across_pages = False
        self.surveys: dict[str, Survey] = {}
        self.collectors: dict[str, Collector] = {}
        self.recipients: dict[str, Recipient] = {}
        self.contacts: dict[str, dict[str, Any]] = {}  # the address book: case-folded address -> contact
        self.responses: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.webhooks: dict[str, dict[str, Any]] = {}  # webhook id -> its details
        self.bounced: set[str] = set()
        self.opted_out: set[str] = set()
        self.accepted = 0
        self.rate_limited = 0
        self.calls: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1001)
        self._window_start: float | None = None
        self._window_count = 0
        self._day_count = 0
        self._day = self.clock().date()

    # -- set-up and inspection ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What the provider's ``base_url`` option is set to."""
        return self.url + "/v3"

    def now(self) -> datetime:
        """Response times: the instant the contract froze (HttpServer.freeze_time), else this double's clock."""
        return self._frozen or self.clock()

    def add_survey(self, survey_id: str, questions: dict[str, Any]) -> Survey:
        """A survey with ``{question id: heading}`` or ``{question id: (heading, [choice texts])}``."""
        qs: dict[str, Question] = {}
        for qid, spec in questions.items():
            heading, choices = (spec, []) if isinstance(spec, str) else spec
            qs[str(qid)] = Question(str(qid), heading, {self._new_id(): str(c) for c in choices})
        with self.lock:
            self.surveys[str(survey_id)] = Survey(str(survey_id), self._new_id(), qs)
            return self.surveys[str(survey_id)]

    def delivered(self) -> Counter[tuple[str, str]]:
        """How often each (survey id, address) was sent an invitation."""
        return Counter((d["survey_id"], d["email"]) for d in self.deliveries)

    def delivered_invite_ids(self, field_number: int = 1) -> list[str]:
        return [d["custom_fields"].get(str(field_number), "") for d in self.deliveries]

    # -- faults ---------------------------------------------------------------------------

    def revoke_token(self) -> None:
        self.revoked = True

    def bounce(self, *emails: str) -> None:
        self.bounced.update(e.casefold() for e in emails)

    def opt_out(self, *emails: str) -> None:
        self.opted_out.update(e.casefold() for e in emails)

    def fail_next(self, status: int = 500, *, times: int = 1, method: str | None = None, path: str | None = None,
                  apply: bool = False, reply: Reply | None = None) -> None:
        """The next ``times`` matching requests get ``status`` (SurveyMonkey's error body) or ``reply``.

        ``apply=True`` carries the request out first (its answer is lost); ``path`` matches
        part of the path, e.g. ``"/send"``.
        """
        if reply is None:
            error_id = {500: "1050", 503: "1051", 429: "1040"}.get(status, "1000")
            reply = sm_error(error_id, f"The double answers {status} as scripted.", status)
        with self.lock:
            self._faults.append(_Fault(reply, 0.0, apply, method, path, times))

    def slow_next(self, seconds: float, *, times: int = 1, method: str | None = None, path: str | None = None,
                  apply: bool = True) -> None:
        """The next ``times`` matching requests are answered ``seconds`` late (carried out, unless ``apply=False``)."""
        with self.lock:
            self._faults.append(_Fault(None if apply else sm_error("1051", "Too slow.", 503), seconds, apply,
                                       method, path, times))

    def new_day(self) -> None:
        """The day's request budget starts again (as at 00:00 UTC)."""
        with self.lock:
            self._day_count = 0
            self._window_start = None
            self._window_count = 0

    # -- respondents ----------------------------------------------------------------------

    def respond(self, invite_id: str | None = None, answers: dict[str, Any] | None = None, *,
                email: str | None = None, recipient_id: str | None = None, survey_id: str | None = None,
                custom_variables: dict[str, str] | None = None, at: datetime | None = None,
                status: str = "completed") -> str:
        """A respondent answers; returns the response id.

        The respondent is the recipient with ``recipient_id``, or whose custom
        fields hold ``invite_id``, or with ``email`` (of a sent message). With
        none of those, a web-link response to ``survey_id`` with
        ``custom_variables``. ``answers``: SurveyMonkey question id (or
        heading) -> text, or one of the question's choice texts.
        """
        with self.lock:
            recipient = self._find_recipient(invite_id, email, recipient_id)
            if recipient is not None:
                collector = self.collectors[recipient.collector_id]
                survey = self.surveys[collector.survey_id]
            else:
                if invite_id is not None or email is not None or recipient_id is not None or survey_id is None:
                    raise LookupError(f"no recipient of a sent message matches invite_id={invite_id!r}, "
                                      f"email={email!r}, recipient_id={recipient_id!r}")
                survey, collector = self.surveys[str(survey_id)], None
            moment = (at or self.now()).astimezone(timezone.utc).replace(microsecond=0)
            response_id = self._new_id()
            item: dict[str, Any] = {
                "id": response_id, "survey_id": survey.id,
                "collector_id": collector.id if collector else self._new_id(),
                "recipient_id": recipient.id if recipient else "0",
                "custom_variables": dict(custom_variables or {}), "custom_value": "",
                "response_status": status, "collection_mode": "default", "total_time": 61,
                "ip_address": "127.0.0.1", "date_created": _iso(moment - timedelta(seconds=61)),
                "date_modified": _iso(moment), "logic_path": {}, "page_path": [],
                "href": f"{self.base_url}/surveys/{survey.id}/responses/{response_id}",
                "edit_url": f"https://www.surveymonkey.com/r/?sm={response_id}",
                "analyze_url": f"https://www.surveymonkey.com/analyze/browse/{survey.id}?respondent_id={response_id}",
                "metadata": {}, "pages": [{"id": survey.page_id, "questions": self._answers(survey, answers or {})}],
            }
            if recipient is not None:
                contact = {"email": {"type": "string", "value": recipient.email},
                           "first_name": {"type": "string", "value": recipient.first_name},
                           "last_name": {"type": "string", "value": recipient.last_name}}
                for slot, value in recipient.custom_fields.items():
                    key = "custom_value" if slot == "1" else f"custom_value{slot}"
                    contact[key] = {"type": "string", "value": value}
                item["metadata"] = {"contact": contact}
            self.responses.append(item)
            return response_id

    def edit_response(self, response_id: str, answers: dict[str, Any], at: datetime | None = None) -> None:
        """The respondent changes a response: new answers, a later ``date_modified``."""
        with self.lock:
            item = next(r for r in self.responses if r["id"] == response_id)
            survey = self.surveys[item["survey_id"]]
            item["pages"] = [{"id": survey.page_id, "questions": self._answers(survey, answers)}]
            item["date_modified"] = _iso((at or self.now()).astimezone(timezone.utc))

    def _find_recipient(self, invite_id: str | None, email: str | None, recipient_id: str | None) -> Recipient | None:
        sent = [r for r in self.recipients.values() if r.mail_status == "sent"]
        for r in sent:
            if recipient_id is not None and r.id == recipient_id:
                return r
        for r in sent:
            if invite_id is not None and invite_id in r.custom_fields.values():
                return r
        for r in sent:
            if email is not None and r.email.casefold() == email.casefold():
                return r
        return None

    def _answers(self, survey: Survey, answers: dict[str, Any]) -> list[dict[str, Any]]:
        by_heading = {q.heading.casefold(): q for q in survey.questions.values()}
        out = []
        for key, value in answers.items():
            question = survey.questions.get(str(key)) or by_heading.get(str(key).casefold())
            if question is None:
                raise KeyError(f"survey {survey.id} has no question {key!r}")
            if question.choices:  # a list ticks several choices (a multiple_choice question: one answer each)
                picked = []
                for one in (value if isinstance(value, (list, tuple)) else [value]):
                    choice = next((cid for cid, text in question.choices.items() if text == str(one)), None)
                    if choice is None:
                        raise ValueError(f"{one!r} is not a choice of question {question.id}: "
                                         f"{list(question.choices.values())}")
                    picked.append({"choice_id": choice})
                out.append({"id": question.id, "answers": picked})
            else:
                out.append({"id": question.id, "answers": [{"text": str(value)}]})
        return out

    # -- the cross-cutting part: auth, limits, faults, headers ------------------------------

    def handle(self, request: Request) -> Reply:
        with self.lock:
            self.calls[f"{request.method} {re.sub(r'/[0-9]+', '/{id}', request.route)}"] += 1
            auth = request.headers.get("authorization", "")
            scheme, _, presented = auth.partition(" ")
            if not auth:
                return self._with_limits(sm_error("1010", "The authorization token was not provided."))
            if scheme.lower() != "bearer" or presented.strip() != self.token:
                return self._with_limits(sm_error("1011", "The authorization token provided was invalid."))
            if self.revoked:
                return self._with_limits(sm_error("1013", "The access token was revoked by the user."))
            if self.wrong_region:
                return self._with_limits(sm_error(
                    "1018", "This account is in another data center; use the access_url from the OAuth answer."))
            self._roll_windows()
            if self._window_count >= self.minute_limit or self._day_count >= self.day_limit:
                self.rate_limited += 1
                return self._with_limits(sm_error("1040", "Too many requests were made, try again later."))
            self._window_count += 1
            self._day_count += 1
            self.accepted += 1
            fault = next((f for f in self._faults if f.times > 0 and f.matches(request)), None)
            if fault is not None:
                fault.times -= 1
                self._faults = [f for f in self._faults if f.times > 0]
        reply = super().handle(request) if fault is None or fault.apply else None
        if fault is not None:
            reply = fault.reply or reply
            assert reply is not None
            reply = Reply(reply.status, reply.body, dict(reply.headers), fault.delay)
        assert reply is not None
        with self.lock:
            return self._with_limits(reply)

    def _roll_windows(self) -> None:
        now = time.monotonic()
        if self._window_start is None or now >= self._window_start + self.minute_seconds:
            self._window_start, self._window_count = now, 0
        today = self.clock().date()
        if today != self._day:
            self._day, self._day_count = today, 0

    def _with_limits(self, reply: Reply) -> Reply:
        now = time.monotonic()
        start = self._window_start if self._window_start is not None else now
        minute_reset = max(0, math.ceil(start + self.minute_seconds - now))
        wall = self.clock()
        midnight = (wall + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        headers = {
            "X-Ratelimit-App-Global-Minute-Limit": str(self.minute_limit),
            "X-Ratelimit-App-Global-Minute-Remaining": str(max(0, self.minute_limit - self._window_count)),
            "X-Ratelimit-App-Global-Minute-Reset": str(minute_reset),
            "X-Ratelimit-App-Global-Day-Limit": str(self.day_limit),
            "X-Ratelimit-App-Global-Day-Remaining": str(max(0, self.day_limit - self._day_count)),
            "X-Ratelimit-App-Global-Day-Reset": str(max(0, math.ceil((midnight - wall).total_seconds()))),
        }
        return Reply(reply.status, reply.body, {**reply.headers, **headers}, reply.delay)

    def _new_id(self) -> str:
        return str(next(self._ids))

    # -- collectors and messages ----------------------------------------------------------

    @route("POST", "/v3/surveys/{survey_id}/collectors")
    def create_collector(self, request: Request, survey_id: str) -> Any:
        body = request.json() or {}
        with self.lock:
            if survey_id not in self.surveys:
                return sm_error("1020", f"There was an error retrieving the requested resource: survey {survey_id}.")
            if body.get("type") not in ("email", "weblink"):
                return sm_error("1003", "type must be 'email' or 'weblink'.")
            sender = body.get("sender_email")
            if sender is not None and not _EMAIL.match(str(sender)):
                return sm_error("1003", "sender_email is not an e-mail address.")
            collector = Collector(self._new_id(), survey_id, body["type"], str(body.get("name") or "New Collector"),
                                  sender, _iso(self.clock()))
            self.collectors[collector.id] = collector
            return self._collector_json(collector)

    @route("GET", "/v3/surveys/{survey_id}/collectors")
    def list_collectors(self, request: Request, survey_id: str) -> Any:
        with self.lock:
            if survey_id not in self.surveys:
                return sm_error("1020", f"Survey {survey_id} was not found.")
            items = [{"id": c.id, "name": c.name, "href": f"{self.base_url}/collectors/{c.id}"}
                     for c in self.collectors.values() if c.survey_id == survey_id]
            return self._page(request, items, f"/v3/surveys/{survey_id}/collectors", max_per_page=1000)

    @route("GET", "/v3/collectors/{collector_id}")
    def get_collector(self, request: Request, collector_id: str) -> Any:
        with self.lock:
            collector = self.collectors.get(collector_id)
            return self._collector_json(collector) if collector else sm_error("1020", "Collector not found.")

    def _collector_json(self, c: Collector) -> dict[str, Any]:
        return {"id": c.id, "type": c.type, "name": c.name, "status": "open", "sender_email": c.sender_email,
                "date_created": c.date_created, "date_modified": c.date_created,
                "url": f"https://www.surveymonkey.com/r/{c.id}" if c.type == "weblink" else None,
                "href": f"{self.base_url}/collectors/{c.id}"}

    @route("POST", "/v3/collectors/{collector_id}/messages")
    def create_message(self, request: Request, collector_id: str) -> Any:
        body = request.json() or {}
        with self.lock:
            collector = self.collectors.get(collector_id)
            if collector is None:
                return sm_error("1020", "Collector not found.")
            if collector.type != "email":
                return sm_error("1000", "Messages can only be created for email collectors.")
            if body.get("type") not in ("invite", "reminder", "thank_you"):
                return sm_error("1003", "type must be 'invite', 'reminder' or 'thank_you'.")
            text = body.get("body_html") or body.get("body_text")
            if text is not None:
                missing = [p for p in PLACEHOLDERS if p not in text]
                if missing:
                    return sm_error("1003", f"Message must include {', '.join(PLACEHOLDERS)}; missing "
                                            f"{', '.join(missing)}.")
            message = Message(self._new_id(), collector_id, str(body.get("subject") or "We want your opinion"),
                              text or "<html>[SurveyLink] [OptOutLink] [PrivacyLink] [FooterLink]</html>",
                              date_created=_iso(self.clock()))
            collector.messages[message.id] = message
            return self._message_json(message)

    @route("GET", "/v3/collectors/{collector_id}/messages/{message_id}")
    def get_message(self, request: Request, collector_id: str, message_id: str) -> Any:
        with self.lock:
            message = self._message(collector_id, message_id)
            return self._message_json(message) if message else sm_error("1020", "Message not found.")

    def _message(self, collector_id: str, message_id: str) -> Message | None:
        collector = self.collectors.get(collector_id)
        return collector.messages.get(message_id) if collector else None

    def _message_json(self, m: Message) -> dict[str, Any]:
        return {"id": m.id, "type": "invite", "status": m.status, "is_scheduled": m.is_scheduled,
                "scheduled_date": m.scheduled_date, "subject": m.subject, "body": m.body,
                "recipient_status": None, "is_branding_enabled": True, "date_created": m.date_created,
                "href": f"{self.base_url}/collectors/{m.collector_id}/messages/{m.id}"}

    @route("POST", "/v3/collectors/{collector_id}/messages/{message_id}/recipients/bulk")
    def add_recipients(self, request: Request, collector_id: str, message_id: str) -> Any:
        body = request.json() or {}
        with self.lock:
            message = self._message(collector_id, message_id)
            if message is None:
                return sm_error("1020", "Message not found.")
            if message.status != "not_sent" or message.is_scheduled:
                return sm_error("1025", "Recipients can only be added to a message that has not been sent.")
            contacts = body.get("contacts")
            if not isinstance(contacts, list) or not all(isinstance(c, dict) for c in contacts):
                return sm_error("1003", "contacts must be a list of objects.")
            if len(contacts) > 1000:
                return sm_error("1003", "At most 1000 contacts per request.")
            collector = self.collectors[collector_id]
            any_custom = any("custom_fields" in c for c in contacts)
            result: dict[str, list[Any]] = {k: [] for k in ("succeeded", "invalids", "existing", "bounced",
                                                             "opted_out", "duplicate")}
            in_request: set[str] = set()
            for c in contacts:
                email = str(c.get("email") or "").strip()
                key = email.casefold()
                if key in in_request:
                    result["duplicate"].append(email)
                    continue
                in_request.add(key)
                if not _EMAIL.match(email):
                    result["invalids"].append(email)
                elif key in self.bounced:
                    result["bounced"].append(email)
                elif key in self.opted_out:
                    result["opted_out"].append(email)
                elif key in collector.recipients:
                    result["existing"].append(email)
                else:
                    contact = self._update_contact(email, c, any_custom)
                    recipient = Recipient(self._new_id(), email, contact["first_name"], contact["last_name"],
                                          dict(contact["custom_fields"]), collector_id, message_id)
                    self.recipients[recipient.id] = recipient
                    collector.recipients[key] = recipient.id
                    message.recipients.append(recipient.id)
                    result["succeeded"].append({"id": recipient.id, "email": email,
                                                "href": f"{self.base_url}/collectors/{collector_id}/recipients/"
                                                        f"{recipient.id}"})
            return result

    def _update_contact(self, email: str, given: dict[str, Any], any_custom: bool) -> dict[str, Any]:
        key = email.casefold()
        contact = self.contacts.setdefault(key, {"id": self._new_id(), "email": email, "first_name": "",
                                                 "last_name": "", "custom_fields": {}})
        for name in ("first_name", "last_name"):
            if given.get(name) is not None:
                contact[name] = str(given[name])
        if "custom_fields" in given:
            contact["custom_fields"] = {str(k): str(v) for k, v in (given["custom_fields"] or {}).items()}
        elif any_custom:
            contact["custom_fields"] = {}  # the documented gotcha: cleared when another contact carries some
        return contact

    @route("GET", "/v3/collectors/{collector_id}/messages/{message_id}/recipients")
    def list_recipients(self, request: Request, collector_id: str, message_id: str) -> Any:
        with self.lock:
            message = self._message(collector_id, message_id)
            if message is None:
                return sm_error("1020", "Message not found.")
            include = set(filter(None, request.query.get("include", "").split(",")))
            items = []
            for rid in message.recipients:
                r = self.recipients[rid]
                item: dict[str, Any] = {"id": r.id, "email": r.email,
                                        "href": f"{self.base_url}/collectors/{collector_id}/recipients/{r.id}"}
                if "custom_fields" in include:
                    item["custom_fields"] = dict(r.custom_fields)
                if "mail_status" in include:
                    item["mail_status"] = r.mail_status
                items.append(item)
            return self._page(request, items, f"/v3/collectors/{collector_id}/messages/{message_id}/recipients",
                              max_per_page=1000)

    @route("POST", "/v3/collectors/{collector_id}/messages/{message_id}/send")
    def send_message(self, request: Request, collector_id: str, message_id: str) -> Any:
        body = request.json() or {}
        with self.lock:
            message = self._message(collector_id, message_id)
            if message is None:
                return sm_error("1020", "Message not found.")
            if message.status != "not_sent" or message.is_scheduled:
                return sm_error("1025", "The message has already been sent or scheduled.")
            if not message.recipients:
                return sm_error("1000", "The message has no recipients.")
            when = body.get("scheduled_date")
            if when and _parse_time(when) > self.clock():
                message.is_scheduled, message.scheduled_date = True, when
            else:
                message.status = "sent"
                collector = self.collectors[collector_id]
                for rid in message.recipients:
                    r = self.recipients[rid]
                    r.mail_status = "sent"
                    self.deliveries.append({"survey_id": collector.survey_id, "collector_id": collector_id,
                                            "message_id": message_id, "recipient_id": rid, "email": r.email,
                                            "custom_fields": dict(r.custom_fields), "subject": message.subject})
            return {"is_scheduled": message.is_scheduled, "scheduled_date": message.scheduled_date,
                    "subject": message.subject, "body": message.body, "recipients": list(message.recipients),
                    "recipient_status": None, "type": "invite"}

    # -- responses ------------------------------------------------------------------------

    @route("GET", "/v3/surveys/{survey_id}/responses/bulk")
    def responses_bulk(self, request: Request, survey_id: str) -> Any:
        q = request.query
        with self.lock:
            survey = self.surveys.get(survey_id)
            if survey is None:
                return sm_error("1020", f"Survey {survey_id} was not found.")
            try:
                start = _parse_time(q["start_modified_at"]) if q.get("start_modified_at") else None
                end = _parse_time(q["end_modified_at"]) if q.get("end_modified_at") else None
            except ValueError:
                return sm_error("1002", "start_modified_at/end_modified_at must be YYYY-MM-DDTHH:MM:SS.")
            if q.get("sort_by", "date_modified") != "date_modified" or q.get("sort_order", "ASC") not in ("ASC",
                                                                                                        "DESC"):
                return sm_error("1002", "sort_by must be date_modified and sort_order ASC or DESC.")
            items = [r for r in self.responses if r["survey_id"] == survey_id
                     and (not q.get("status") or r["response_status"] == q["status"])
                     and (start is None or _parse_time(r["date_modified"]) >= start)
                     and (end is None or _parse_time(r["date_modified"]) < end)]
            items.sort(key=lambda r: (r["date_modified"], int(r["id"])), reverse=q.get("sort_order") == "DESC")
            simple = q.get("simple", "").lower() == "true"
            shaped = [self._shape(r, survey, simple) for r in items]
            return self._page(request, shaped, f"/v3/surveys/{survey_id}/responses/bulk", max_per_page=100,
                              repeat_last=self.duplicate_across_pages)

    def _shape(self, item: dict[str, Any], survey: Survey, simple: bool) -> dict[str, Any]:
        out = {k: v for k, v in item.items() if k != "pages"}
        pages = []
        for page in item["pages"]:
            questions = []
            for q in page["questions"]:
                question = survey.questions[q["id"]]
                answers = []
                for a in q["answers"]:
                    a = dict(a)
                    if simple:
                        a["simple_text"] = question.choices.get(a["choice_id"], "") if "choice_id" in a \
                            else a.get("text", "")
                    answers.append(a)
                shaped = {"id": q["id"], "answers": answers}
                if simple:
                    shaped.update(heading=question.heading, family=question.family,
                                  subtype="vertical" if question.choices else "single")
                questions.append(shaped)
            pages.append({"id": page["id"], "questions": questions})
        out["pages"] = pages
        return out

    def _page(self, request: Request, items: list[Any], path: str, *, max_per_page: int,
              repeat_last: bool = False) -> Any:
        q = request.query
        try:
            per_page = int(q.get("per_page", "50"))
            page = int(q.get("page", "1"))
        except ValueError:
            return sm_error("1002", "page and per_page must be whole numbers.")
        if not 1 <= per_page <= max_per_page or page < 1:
            return sm_error("1002", f"per_page must be 1-{max_per_page} and page at least 1.")
        pages = max(1, math.ceil(len(items) / per_page))
        start = (page - 1) * per_page
        data = items[start:start + per_page]
        if repeat_last and page > 1 and start - 1 < len(items):
            data = [items[start - 1]] + data  # "duplicates across pages", as users report
        base = {k: v for k, v in q.items() if k != "page"}

        def link(n: int) -> str:
            return f"{self.url}{path}?{urlencode({**base, 'page': n, 'per_page': per_page})}"

        links = {"self": link(page), "first": link(1), "last": link(pages)}
        if page > 1:
            links["prev"] = link(page - 1)
        if page < pages:
            links["next"] = link(page + 1)
        return {"data": data, "per_page": per_page, "page": page, "total": len(items), "links": links}

    # -- webhooks -------------------------------------------------------------------------------

    @route("POST", "/v3/webhooks")
    def create_webhook(self, request: Request) -> Any:
        body = request.json() or {}
        missing = [k for k in ("name", "event_type", "object_type", "object_ids", "subscription_url") if not body.get(k)]
        if missing:
            return sm_error("1002", f"Missing required fields: {', '.join(missing)}", status=400)
        with self.lock:
            hook_id = self._new_id()
            self.webhooks[hook_id] = {"id": hook_id, "name": body["name"], "event_type": body["event_type"],
                                      "object_type": body["object_type"],
                                      "object_ids": [str(i) for i in body["object_ids"]],
                                      "subscription_url": body["subscription_url"],
                                      "href": f"{self.base_url}/webhooks/{hook_id}"}
            return dict(self.webhooks[hook_id])

    @route("GET", "/v3/webhooks")
    def list_webhooks(self, request: Request) -> Any:
        q = request.query
        page, per_page = int(q.get("page", "1")), int(q.get("per_page", "50"))
        with self.lock:
            items = [{"id": h["id"], "name": h["name"], "href": h["href"]} for h in self.webhooks.values()]
        data = items[(page - 1) * per_page:page * per_page]
        links = {"self": f"{self.base_url}/webhooks?page={page}&per_page={per_page}"}
        if page * per_page < len(items):
            links["next"] = f"{self.base_url}/webhooks?page={page + 1}&per_page={per_page}"
        return {"data": data, "per_page": per_page, "page": page, "total": len(items), "links": links}

    @route("GET", "/v3/webhooks/{webhook_id}")
    def webhook(self, request: Request, webhook_id: str) -> Any:
        with self.lock:
            found = self.webhooks.get(webhook_id)
        if found is None:
            return sm_error("1020", f"Resource not found: webhook {webhook_id}", status=404)
        return dict(found)

    @route("GET", "/v3/users/me")
    def me(self, request: Request) -> Any:
        return {"id": "1", "username": "tierctl-test", "account_type": "enterprise_platinum",
                "href": f"{self.base_url}/users/me"}
