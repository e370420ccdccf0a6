"""The ``typeform`` provider: forms mailed as personal links, responses from the Responses API.

Typeform has no distribution API, so this provider is link-only: it builds
each invitation's form link, with the invite id and tier as hidden fields,
and hands the invitation to another provider instance, its ``mailer``
(``smtp``, or ``outbox`` for previews), which sends the e-mail::

    providers:
      mail:
        plugin: smtp
        host: smtp.acme.example
        survey_url: https://survey.acme.example/{survey}?id={invite_id}   # for surveys sent by mail directly
      tf:
        plugin: typeform
        token: ${TYPEFORM_TOKEN}              # personal access token, scopes responses:read
        mailer: mail                          # the instance that delivers the e-mails
        forms: {pre-meeting: u6nXL7, product-feedback: Jm4gQd}   # tierctl survey id -> form id
        questions: {satisfaction: csat_ref}   # tierctl question id -> Typeform field ref
        # base_url: https://api.eu.typeform.com     # accounts in the EU data centre
        # form_url: https://acme.typeform.com/to/{form_id}   # a custom domain
        # hidden_fields: [invite_id, tier, account_id]       # declared on each form; invite_id required
        # overlap_minutes: 30                 # how far back each pull looks again for late responses
        # requests_per_second: 2

The link
--------
``form_url`` with ``{form_id}`` filled, then the hidden fields in the URL
fragment, URL-quoted: ``https://form.typeform.com/to/u6nXL7#invite_id=Xy_3&tier=advanced``.
With forms translated into several languages (``languages``, default
``organization.languages``), the fragment ends with ``&typeform-lang=nl``:
Typeform's documented parameter that opens a multi-language form in that
translation instead of the browser's language. The language is the
contact's ``locale`` (``nl-BE`` -> ``nl`` -> the organisation's default); the
e-mail around the link is the mailer's, in the same language.
Declare the hidden fields (``invite_id`` and ``tier``, and any others listed
in ``hidden_fields``) on each form. The e-mail is the mailer's usual
message (its templates and sender); only the link differs: the mailer gets
:class:`~tierctl.plugins.email_message.LinkedInvitation` objects and uses
their link instead of its own ``survey_url``. Each send result is the
mailer's (``external_id`` is its Message-ID or file name). Sending costs no
Typeform API request, so sends are paced by the mailer's rate, not
Typeform's.

Responses
---------
``GET {base_url}/forms/{form_id}/responses?page_size=1000&completed=true``
with ``since`` (the start of the window) and, for the first page,
``sort=submitted_at,asc``; the next pages pass ``after=<token of the last
response>`` instead (Typeform refuses ``sort`` with ``after``). One page of
new responses per ``fetch_responses`` call (pages holding only responses
already seen are walked within the call); the engine calls again while the
cursor moves.

* The invite id is the ``invite_id`` hidden field.
* Answers are joined to questions by field ``ref`` (or field id): a question
  maps to the ref ``questions`` gives it, else to a ref equal to its own id.
  Answers to other fields are ignored. Values are raw: numbers for opinion
  scales, ratings and NPS; the label for a choice; text as written.
* Typeform may index a response some minutes after it was submitted, so the
  window starts ``overlap_minutes`` (default 30) before the newest response
  seen. The cursor remembers the ids seen inside that window, so a response
  is returned once however often the windows overlap (and duplicates across
  pages are dropped).

The cursor is opaque JSON: ``{"v": 1, "since", "after", "newest", "seen"}``.
An ISO 8601 time (``tierctl survey collect --since``) is accepted too.

Requests and errors
-------------------
Every API request takes a token from the instance's bucket
(``requests_per_second``, default 2: Typeform's limit per account). 429
honours ``Retry-After`` (capped at ``max_retry_after``), else backs off
exponentially; 5xx, timeouts and connection errors are retried
``max_retries`` times. 401/403 (a revoked token, a missing scope), an
unknown form and retries exhausted become a
:class:`~tierctl.providers.ProviderError` naming the instance; the token
never appears in errors or reprs.

Webhooks
--------
:func:`verify_typeform_signature` checks ``Typeform-Signature`` over the raw
body; :meth:`TypeformProvider.webhook_response` verifies and reads a
``form_response`` delivery into a :class:`~tierctl.records.RawResponse`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence
from urllib.parse import quote, unquote

from pydantic import Field, SecretStr, field_validator

from tierctl.plugins.email_message import LINK_FIELDS, EmailOptions, LinkedInvitation
from tierctl.http import HttpClient
from tierctl.providers import HttpRetryOptions, Provider, ProviderContext, ProviderError, RateLimit
from tierctl.records import Invitation, RawResponse, SendResult

SIGNATURE_HEADER = "Typeform-Signature"
DEFAULT_BASE_URL = "https://api.typeform.com"
DEFAULT_FORM_URL = "https://form.typeform.com/to/{form_id}"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Pages of already-seen responses one fetch_responses call walks through before it returns.
MAX_PAGES_PER_CALL = 50


# -- webhook signatures ------------------------------------------------------------------------

#: The tag of the webhook ``tierctl webhooks register`` puts on each form.
WEBHOOK_TAG = "tierctl"

def typeform_signature(secret: bytes | str, raw_body: bytes) -> str:
    """The ``Typeform-Signature`` value for ``raw_body``: ``sha256=`` + base64(HMAC-SHA256)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + base64.b64encode(hmac.new(key, raw_body, hashlib.sha256).digest()).decode("ascii")


def verify_typeform_signature(secret: bytes | str, raw_body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``Typeform-Signature``) signs ``raw_body`` with the webhook ``secret``.

    Pass the body bytes exactly as received, trailing newline included,
    before any JSON parsing. The comparison is constant-time.
    """
    if not isinstance(header, str) or not isinstance(raw_body, (bytes, bytearray)):
        return False
    try:
        given = header.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(typeform_signature(secret, bytes(raw_body)).encode("ascii"), given)


# -- options -----------------------------------------------------------------------------------

class TypeformOptions(HttpRetryOptions):
    token: SecretStr = Field(description="Personal access token (scope responses:read); write it as ${TYPEFORM_TOKEN}")
    mailer: str = Field(description="The provider instance (smtp, outbox) that e-mails the form links")
    forms: dict[str, str] = Field(description="Form id per tierctl survey id, e.g. {pre-meeting: u6nXL7}")
    questions: dict[str, str] = Field(default_factory=dict,
                                      description="Typeform field ref per tierctl question id; a question "
                                                  "not listed maps to the field whose ref is its id")
    base_url: str = Field(DEFAULT_BASE_URL, description="API address; https://api.eu.typeform.com in the EU")
    form_url: str = Field(DEFAULT_FORM_URL, description="Form link with {form_id}; hidden fields are appended "
                                                        "as the URL fragment")
    hidden_fields: list[str] = Field(["invite_id", "tier"],
                                     description="Hidden fields put in the link (declare them on each form); "
                                                 f"any of {', '.join(LINK_FIELDS)}; must include invite_id")
    languages: list[str] | None = Field(
        None, description="The languages the forms are translated into on Typeform (its codes: en, nl, de, ...); "
                          "with more than one, the link opens the form in the contact's (typeform-lang). "
                          "Default: organization.languages")
    requests_per_second: float = Field(2.0, gt=0, le=100, description="API requests per second at most")
    page_size: int = Field(1000, ge=1, le=1000, description="Responses per page (Typeform's maximum is 1000)")
    overlap_minutes: float = Field(30.0, ge=0, le=7 * 24 * 60,
                                   description="How far back each pull starts before the newest response seen "
                                               "(Typeform indexes some responses late)")

    @field_validator("mailer")
    @classmethod
    def _mailer(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name the provider instance that sends the e-mails, e.g. mailer: mail")
        return value.strip()

    @field_validator("forms")
    @classmethod
    def _forms(cls, value: dict[str, str]) -> dict[str, str]:
        for survey, form_id in value.items():
            if not _ID.match(str(form_id)):
                raise ValueError(f"form id {form_id!r} of survey {survey!r} is not a Typeform form id; it is the "
                                 "part after /to/ in the form's link, e.g. u6nXL7")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not an API address; expected e.g. https://api.typeform.com")
        return value.rstrip("/")

    @field_validator("form_url")
    @classmethod
    def _form_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^\s/?#]+/\S*$", value, re.IGNORECASE) or "#" in value:
            raise ValueError(f"{value!r} is not a form link; expected https://form.typeform.com/to/{{form_id}} "
                             "without a #fragment (tierctl adds the hidden fields there)")
        if value.count("{form_id}") != 1 or re.search(r"\{(?!form_id\})", value):
            raise ValueError(f"{value!r} must contain {{form_id}} once and no other placeholder")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        from tierctl.i18n.text import LANGUAGE_HELP, is_language

        bad = [v for v in value if not is_language(v)]
        if bad or not value:
            raise ValueError(f"{', '.join(map(repr, bad)) or 'an empty list'}: give each as {LANGUAGE_HELP}")
        return list(dict.fromkeys(value))

    @field_validator("hidden_fields")
    @classmethod
    def _hidden_fields(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in LINK_FIELDS]
        if unknown:
            raise ValueError(f"unknown hidden field(s) {', '.join(map(repr, unknown))}; use {', '.join(LINK_FIELDS)}")
        if "invite_id" not in value:
            raise ValueError("hidden_fields must include invite_id, so responses can be joined to invitations")
        return list(dict.fromkeys(value))




# -- cursors -----------------------------------------------------------------------------------

def _parse_time(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _api_time(moment: datetime) -> str:
    """Typeform's ``since``: UTC, to the second, ``T`` between date and time."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class _Cursor:
    """Where a pull stands: window start, page token, newest time and the ids seen in the window."""

    def __init__(self, since: datetime | None = None, after: str | None = None, newest: datetime | None = None,
                 seen: dict[str, float] | None = None):
        self.since, self.after, self.newest = since, after, newest
        self.seen: dict[str, float] = dict(seen or {})

    @classmethod
    def parse(cls, text: str | None, instance: str) -> "_Cursor":
        if not text:
            return cls()
        if not text.lstrip().startswith("{"):
            try:
                return cls(since=_parse_time(text))
            except ValueError:
                pass
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                raise ValueError("unknown version")
            return cls(_parse_time(data["since"]) if data.get("since") else None, data.get("after") or None,
                       _parse_time(data["newest"]) if data.get("newest") else None,
                       {str(k): float(v) for k, v in (data.get("seen") or {}).items()})
        except (ValueError, TypeError, AttributeError, KeyError):
            raise ProviderError(instance, f"the stored response cursor {text[:80]!r} is not one this provider "
                                          "wrote; collect once with --since <date> to start again",
                                retry=False) from None

    def dump(self) -> str:
        return json.dumps({"v": 1, "since": self.since.isoformat() if self.since else None, "after": self.after,
                           "newest": self.newest.isoformat() if self.newest else None, "seen": self.seen},
                          separators=(",", ":"), sort_keys=True)


# -- answers -----------------------------------------------------------------------------------

def answer_value(answer: dict[str, Any]) -> Any:
    """The raw value of one Typeform answer: a number, a label, text, a boolean, ..."""
    kind = answer.get("type")
    if kind == "choice":
        choice = answer.get("choice") or {}
        return choice.get("label") if choice.get("label") is not None else choice.get("other")
    if kind == "choices":  # a multiple-selection field: every ticked label (a multiple_choice question)
        choices = answer.get("choices") or {}
        labels = [str(label) for label in choices.get("labels") or []]
        if choices.get("other"):
            labels.append(str(choices["other"]))
        return labels
    if kind in answer:
        return answer[kind]
    return None


def response_from_item(item: dict[str, Any], refs: dict[str, str]) -> RawResponse:
    """A Responses API item (or a webhook's ``form_response``) as a :class:`RawResponse`.

    ``refs`` maps a field ref or id to a tierctl question id.

    :raises ValueError: the item has no id or no submission time.
    """
    response_id = str(item.get("response_id") or item.get("token") or "")
    if not response_id:
        raise ValueError("a response without response_id or token")
    submitted = item.get("submitted_at")
    if not submitted:
        raise ValueError(f"response {response_id} has no submitted_at")
    hidden = item.get("hidden") or {}
    answers: dict[str, Any] = {}
    for answer in item.get("answers") or []:
        field = answer.get("field") or {}
        qid = refs.get(str(field.get("ref"))) or refs.get(str(field.get("id")))
        if qid is not None:
            answers[qid] = answer_value(answer)
    invite_id = hidden.get("invite_id")
    email = hidden.get("email")
    return RawResponse(response_id, str(invite_id) if invite_id else None, _parse_time(submitted), answers,
                       str(email) if email else None)


# -- the provider ------------------------------------------------------------------------------

class TypeformProvider(Provider):
    """Mails Typeform links through another provider; reads responses from the Responses API."""

    name = "typeform"
    description = "Typeform: form links with hidden fields, mailed by another provider; Responses API"
    Options = TypeformOptions
    batch_size = 50
    can_fetch = True
    paces_itself = True  # API requests take tokens themselves; sending makes none
    options: TypeformOptions

    @classmethod
    def uses_instances(cls, options: TypeformOptions) -> set[str]:
        """The mailer: :func:`tierctl.surveys.instances.build_providers` builds it with this instance."""
        return {options.mailer}

    def __init__(self, instance: str, options: TypeformOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = RateLimit.from_per_second(options.requests_per_second)
        self._token = options.token.get_secret_value()
        self.http = _TypeformClient(self, platform="Typeform", headers={"Authorization": f"bearer {self._token}"})
        config = context.config
        if config is not None:
            if options.mailer == instance:
                raise ProviderError(instance, "mailer names this instance itself; name a provider that sends "
                                              "e-mail, such as an smtp instance", retry=False)
            if options.mailer not in config.providers:
                from tierctl.util.suggest import did_you_mean, one_of

                raise ProviderError(instance, f"mailer {options.mailer!r} is not a provider instance"
                                              f"{did_you_mean(options.mailer, config.providers)}; providers: "
                                              f"{one_of(config.providers)}", retry=False)
            missing = sorted(sid for sid, survey in config.surveys.items()
                             if survey.provider == instance and sid not in options.forms)
            if missing:
                raise ProviderError(instance, f"no form for survey(s) {', '.join(missing)}; add them to forms, "
                                              "e.g. forms: {" + f"{missing[0]}: u6nXL7" + "}", retry=False)

    # -- sending -------------------------------------------------------------------------------

    def form_link(self, invitation: Invitation) -> str:
        """The personal form link: ``form_url`` for the survey's form, hidden fields in the fragment."""
        form_id = self.options.forms.get(invitation.survey_id)
        if form_id is None:
            raise ProviderError(self.instance, f"no form for survey {invitation.survey_id!r}; add it to forms",
                                retry=False)
        values = invitation.fields()
        fragment = "&".join(f"{name}={quote(str(values[name]), safe='')}" for name in self.options.hidden_fields)
        language = self.form_language(invitation)
        if language is not None:
            fragment += f"&typeform-lang={quote(language, safe='')}"
        return self.options.form_url.replace("{form_id}", quote(form_id, safe="")) + "#" + fragment

    def form_language(self, invitation: Invitation) -> str | None:
        """The form's translation to open for this contact (``typeform-lang``): their locale among the
        form's ``languages`` (``nl-BE`` -> ``nl`` -> the organisation's default, else the first); ``None``
        when the forms have one language, so the link stays as it was."""
        from tierctl.i18n.text import negotiate

        organization = self.context.config.organization if self.context and self.context.config else None
        languages = self.options.languages or (list(organization.languages) if organization is not None else [])
        if len(languages) < 2:
            return None
        default = organization.language if organization is not None and organization.language in languages \
            else languages[0]
        return negotiate(invitation.locale, languages, default)

    def mailer(self) -> Provider:
        """The provider instance that delivers the e-mails."""
        name = self.options.mailer
        mailer = (self.context.providers or {}).get(name)
        if mailer is None:
            raise ProviderError(self.instance, f"its mailer {name!r} was not set up with it; build providers "
                                               "with tierctl.surveys.instances.build_providers", retry=False)
        if isinstance(mailer, TypeformProvider):
            raise ProviderError(self.instance, f"its mailer {name!r} is another typeform instance; name a "
                                               "provider that sends e-mail, such as smtp", retry=False)
        if not isinstance(mailer.options, EmailOptions):
            raise ProviderError(self.instance, f"its mailer {name!r} (plugin {mailer.name}) does not send "
                                               "tierctl's invitation e-mail; use an smtp or outbox instance",
                                retry=False)
        return mailer

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        if not batch:
            return []
        mailer = self.mailer()
        linked = [LinkedInvitation.of(invitation, self.form_link(invitation)) for invitation in batch]
        size = max(1, mailer.batch_size)
        results: list[SendResult] = []
        for start in range(0, len(linked), size):
            chunk = linked[start:start + size]
            mailer.pace_batch(len(chunk))
            try:
                results.extend(mailer.send(chunk))
            except ProviderError as exc:
                if not results:
                    raise ProviderError(self.instance, f"its mailer failed: {exc}", retry=exc.retry) from None
                # Earlier chunks went out: keep their results, the rest waits for the next run.
                results.extend(SendResult.failed(i.invite_id, f"not sent: {exc}", retry=True)
                               for i in linked[start:])
                break
        return results

    # -- responses -----------------------------------------------------------------------------

    def question_refs(self, survey_id: str) -> dict[str, str]:
        """Field ref (or id) -> tierctl question id, for one survey."""
        config = self.context.config
        survey = config.surveys.get(survey_id) if config is not None else None
        qids = [q.id for q in survey.questions] if survey is not None else list(self.options.questions)
        return {self.options.questions.get(qid, qid): qid for qid in qids}

    def fetch_responses(self, survey_id: str, cursor: str | None) -> tuple[Iterable[RawResponse], str | None]:
        form_id = self.options.forms.get(survey_id)
        if form_id is None:
            raise ProviderError(self.instance, f"no form for survey {survey_id!r}; add it to forms", retry=False)
        state = _Cursor.parse(cursor, self.instance)
        refs = self.question_refs(survey_id)
        window = timedelta(minutes=self.options.overlap_minutes)
        out: list[RawResponse] = []
        # One page per call; pages holding only responses already seen (an overlapping window) are
        # skipped within the call, so the engine, which stops at a call with nothing new, goes on.
        for _ in range(MAX_PAGES_PER_CALL):
            items, more = self._page(form_id, state)
            for item in items:
                try:
                    raw = response_from_item(item, refs)
                except (ValueError, TypeError, AttributeError):
                    continue  # not a usable response (the engine cannot store what has no id or time)
                if raw.response_id in state.seen:
                    continue  # seen in an overlapping window, or repeated across pages
                state.seen[raw.response_id] = raw.submitted_at.timestamp()
                if state.newest is None or raw.submitted_at > state.newest:
                    state.newest = raw.submitted_at
                out.append(raw)
            if state.newest is not None:
                # Only ids inside the overlap window can come back: forget older ones.
                floor = (state.newest - window).replace(microsecond=0).timestamp()
                state.seen = {rid: at for rid, at in state.seen.items() if at >= floor}
            last = items[-1] if items and isinstance(items[-1], dict) else {}
            token = last.get("token") or last.get("response_id")
            if not more or not token or token == state.after:
                break
            state.after = str(token)
            if out:
                return out, state.dump()
        else:
            return out, state.dump()
        # The end of what Typeform has now: next time start a window before the newest response.
        state.after = None
        if state.newest is not None:
            start = (state.newest - window).replace(microsecond=0)
            state.since = max(state.since, start) if state.since is not None else start
        return out, state.dump()

    def _page(self, form_id: str, state: _Cursor) -> tuple[list[Any], bool]:
        """One page of completed responses from the cursor; and whether more pages follow."""
        params: dict[str, Any] = {"page_size": self.options.page_size, "completed": "true"}
        if state.since is not None:
            params["since"] = _api_time(state.since)
        if state.after:
            params["after"] = state.after
        else:
            params["sort"] = "submitted_at,asc"  # Typeform refuses sort together with after
        data = self._get_json(f"/forms/{quote(form_id, safe='')}/responses", params, form_id)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProviderError(self.instance, f"Typeform answered without an items list for form {form_id}")
        more = bool(items) and (_int(data.get("page_count")) > 1 or len(items) >= self.options.page_size)
        return items, more

    def webhook_response(self, survey_id: str, raw_body: bytes, signature: str | None,
                         secret: bytes | str) -> RawResponse:
        """A ``form_response`` webhook delivery, verified and read.

        :raises ProviderError: the signature does not match (nothing is read).
        :raises ValueError: the body is not a Typeform ``form_response``.
        """
        if not verify_typeform_signature(secret, raw_body, signature):
            raise ProviderError(self.instance, f"a webhook delivery's {SIGNATURE_HEADER} does not match its body; "
                                               "it was ignored", retry=False)
        payload = json.loads(raw_body)
        if not isinstance(payload, dict) or payload.get("event_type") != "form_response":
            raise ValueError("not a Typeform form_response delivery")
        return response_from_item(payload.get("form_response") or {}, self.question_refs(survey_id))

    def register_webhook(self, survey_id: str, url: str, secret: str, tag: str = WEBHOOK_TAG) -> dict[str, Any]:
        """Create or update the survey's form webhook (``PUT /forms/{form_id}/webhooks/{tag}``):
        ``url`` on, signed with ``secret``, for completed responses. Returns Typeform's answer."""
        form_id = self._form_of(survey_id)
        body = {"url": url, "enabled": True, "secret": secret, "verify_ssl": url.startswith("https:"),
                "event_types": {"form_response": True}}
        return self._request_json("PUT", f"/forms/{quote(form_id, safe='')}/webhooks/{quote(tag, safe='')}", {},
                                  form_id, body)

    def webhook_state(self, survey_id: str, url: str, tag: str = WEBHOOK_TAG) -> str:
        """``"ok"`` when the survey's form webhook points at ``url`` and is on; else what is wrong."""
        form_id = self._form_of(survey_id)
        try:
            hook = self._request_json("GET", f"/forms/{quote(form_id, safe='')}/webhooks/{quote(tag, safe='')}", {},
                                      form_id)
        except ProviderError as exc:
            return f"not registered ({exc})"
        if not isinstance(hook, dict) or hook.get("url") != url:
            return f"points at {hook.get('url') if isinstance(hook, dict) else '?'!r}, not {url!r}"
        return "ok" if hook.get("enabled") else "registered but switched off"

    def _form_of(self, survey_id: str) -> str:
        form_id = self.options.forms.get(survey_id)
        if form_id is None:
            raise ProviderError(self.instance, f"no form for survey {survey_id!r}; add it to forms", retry=False)
        return form_id

    # -- HTTP ----------------------------------------------------------------------------------

    def _get_json(self, path: str, params: dict[str, Any], form_id: str) -> Any:
        """GET an API path, paced and retried by tierctl's HTTP client; errors become ProviderErrors."""
        return self.http.json("GET", path, params=params, what=f"GET {path}")

    def _request_json(self, method: str, path: str, params: dict[str, Any], form_id: str,
                      body: Any = None) -> Any:
        """A request to an API path with a JSON body (webhooks), through tierctl's HTTP client."""
        return self.http.json(method, path, params=params, json=body, idempotent=True, what=f"{method} {path}")

    def _error_text(self, response: Any) -> str:
        """``: CODE description`` from Typeform's ``{code, description, details}``, scrubbed."""
        try:
            data = response.json()
        except ValueError:
            text = " ".join(response.content[:200].decode("utf-8", "replace").split())
            return f": {self._scrub(text)}" if text else ""
        if not isinstance(data, dict):
            return ""
        parts = [str(data.get("code") or ""), str(data.get("description") or "")]
        details = data.get("details")
        if isinstance(details, list) and details:
            parts.append("; ".join(str(d.get("description") or d.get("code") or d) if isinstance(d, dict) else str(d)
                                   for d in details[:3]))
        text = " ".join(p for p in parts if p).strip()
        return f": {self._scrub(text)[:300]}" if text else ""

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def close(self) -> None:
        """Close the HTTP session, and the mailer (built for this instance; closing twice is harmless)."""
        try:
            self.http.close()
        finally:
            mailer = (self.context.providers or {}).get(self.options.mailer)
            if mailer is not None and mailer is not self:
                mailer.close()


class _TypeformClient(HttpClient):
    """tierctl's HTTP client with Typeform's error answers (``{code, description, details}``)."""

    provider: "TypeformProvider"

    def error_message(self, response: Any) -> str:
        return self.provider._error_text(response).removeprefix(": ")

    def error_for(self, response: Any, what: str, retries: int) -> ProviderError:
        status, error = response.status_code, self.provider._error_text(response)
        instance = self.provider.instance
        if status in (401, 403):
            return ProviderError(instance, f"Typeform refused the token (HTTP {status}{error}); create a personal "
                                           "access token with the responses:read scope and set it as token",
                                 retry=False)
        if status == 404:
            form_id = unquote(what.split("/")[2]) if what.count("/") >= 2 else what
            return ProviderError(instance, f"Typeform does not know form {form_id!r} (HTTP 404{error}); check "
                                           "forms and base_url (EU accounts use https://api.eu.typeform.com)",
                                 retry=False)
        if status in _RETRY_STATUSES:
            return ProviderError(instance, f"{what} still fails after {retries} retries: HTTP {status}{error}",
                                 retry=True)
        return ProviderError(instance, f"Typeform refused {what} (HTTP {status}{error})", retry=status >= 500)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0

