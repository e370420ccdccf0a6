"""The ``surveymonkey`` provider: invitations through SurveyMonkey e-mail collectors, answers via responses/bulk.

::

    providers:
      monkey:
        plugin: surveymonkey
        token: ${SM_TOKEN}                       # the app's access token (bearer)
        base_url: https://api.surveymonkey.com/v3   # the access_url of your OAuth answer (EU: api.eu...)
        surveys:                                 # tierctl survey id -> SurveyMonkey survey id
          product-feedback: "405123456"
          pre-meeting:
            id: "405123999"
            questions: {"812345": satisfaction}  # SurveyMonkey question id -> tierctl question id
        requests_per_minute: 120                 # the app's limits (private apps: 120/min, 500/day)
        requests_per_day: 500
        sender_email: success@acme.example       # optional; must be verified in SurveyMonkey

Sending
-------
A batch may hold invitations of several surveys and languages; each survey's
part in each language costs three requests, whatever its size (up to
``batch_size``, default 100):

1. ``POST /collectors/{c}/messages`` ``{"type": "invite", "subject", "body_html"}``: a new
   invite message (a message is sent once; SurveyMonkey sends only messages
   that are ``not_sent``). ``body_html`` must contain ``[SurveyLink]``,
   ``[OptOutLink]``, ``[PrivacyLink]`` and ``[FooterLink]``; ``{survey_title}``
   and ``{organization}`` in it are filled in (HTML-escaped).
2. ``POST /collectors/{c}/messages/{m}/recipients/bulk`` with every contact
   carrying ``custom_fields: {"1": <invite_id>}`` (``invite_field``). EVERY
   contact carries it: in a bulk add, when any contact has ``custom_fields``,
   those without get theirs cleared.
3. ``POST /collectors/{c}/messages/{m}/send`` ``{}`` (now).

Languages: a message has one subject and body, so a batch's contacts are
grouped by language (their ``locale``: ``nl-BE`` -> ``nl`` -> the
organisation's default) and each group gets its own message: the subject
(``subject``, one text or ``{en: ..., nl: ...}``; default the survey's title
in that language), the body (``body_html``, likewise; default tierctl's
message, translated) and ``{survey_title}`` in that language. Headings of
fetched answers match a question's text in any language the config writes.

The e-mail collector (``POST /surveys/{id}/collectors {"type": "email"}``,
one more request) is created once per survey and run, and reused by every
batch of the run. Not across runs: SurveyMonkey invites an address once per
collector, and tierctl surveys the same person again next quarter.

The bulk answer is read back into one result per invitation:

* ``succeeded``: sent once the message is sent; ``external_id`` is the recipient id.
* ``invalids``, ``bounced``, ``opted_out``: failed permanently, with the reason.
* ``existing`` (already a recipient of this run's collector: the same address
  got another invitation of this survey earlier in the run) and ``duplicate``:
  failed with ``retry``: the next run sends it through its own collector.
  (Two invitations of one survey to one address in one batch never reach
  SurveyMonkey together: the second fails the same way before the request.)
* an address the answer does not mention gets no result: the engine lists it
  as unknown (it may or may not go out), never resends it unasked.

A lost answer is never guessed at. Creating a collector or a message is
simply retried (an empty collector or an unsent draft may stay behind). A bulk
add is retried into the same message (addresses it already took come back as
``existing`` and count as added). A lost ``send`` answer is settled by reading
the message's status: ``sent``, ``processing`` or scheduled: sent;
``not_sent``: sent again (SurveyMonkey sends a message only once anyway);
unreadable: no result, so the engine lists the invitations as unknown.

Limits
------
Every request first takes a token from the engine's bucket (``paces_itself``;
``requests_per_minute``), and the ``X-Ratelimit-App-Global-Minute/Day-Remaining``
and ``-Reset`` headers are obeyed: with no requests left this minute the
provider waits for the reset, and a 429 (error 1040, no ``Retry-After``) waits
for it and retries. When the day's budget (``requests_per_day`` or the
``Day-Remaining`` header) cannot cover a survey's three requests, that part and
the rest of the batch fail with ``retry`` ("daily SurveyMonkey API budget
spent; the next run continues") and the next ``send`` raises
:class:`~tierctl.providers.ProviderError`: tomorrow's run sends the rest, and
the ledger makes sure nobody gets a second invitation.

Errors
------
401 and errors 1010-1013 (revoked or wrong token), 1014-1018 (missing scope,
wrong data centre: error 1018 means ``base_url`` must be the account's
``access_url``) stop the provider with a message naming the instance and what
to do; the token never appears. 5xx answers, timeouts and dropped connections
are retried with exponential backoff (see above for lost answers), then fail
the invitations with ``retry``. An unreachable host stops the provider.

Responses
---------
``GET /surveys/{id}/responses/bulk?per_page=100&sort_by=date_modified&sort_order=ASC
&simple=true&status=completed&start_modified_at=<cursor - fetch_overlap>``,
following ``links.next`` (on the configured host only). Only completed
responses are read. They are de-duplicated by id across pages, and across
runs: the cursor (``{"modified": <ISO time>, "seen": {id: date_modified}}``;
a plain ISO time is accepted too) keeps the responses inside the overlap
window, so each version of a response is returned once (an edited response
comes back as its new version; the ledger keeps the first).

The invite id comes from the recipient's custom field
(``metadata.contact.custom_value``, ``custom_value2``...; the slot is
``invite_field``) or, for web-link responses, from the custom variable
``invite_variable``; the contact's e-mail comes along as a fallback. Custom
fields belong to the SurveyMonkey contact: should SurveyMonkey report the
contact's current fields rather than those it had when invited, a response
given after the same person was invited to another survey would carry that
invitation's id, and tierctl reports it as belonging to another survey
instead of storing it.

Answers are raw (``simple_text``, else ``text``, else the choice id), keyed by
tierctl question id: via the survey's ``questions`` map, else by matching the
SurveyMonkey heading to the tierctl question's text or id (case, spacing and
markup ignored). Questions that map to nothing are left out. Scored questions
(nps, csat, ces, rating) should have choices whose texts are the numbers, as
SurveyMonkey's NPS question does.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

from tierctl.http import HttpClient, MaybeSent, Unreachable
from tierctl.providers import Provider, ProviderContext, ProviderError, RateLimit, clock_of
from tierctl.records import Invitation, RawResponse, SendResult
from tierctl.plugins.surveymonkey_answers import (EXISTING, answer_value, auth_message, bulk_failure, error_of, excerpt,
                                                  new_cursor, norm, parse_time, path_of, permission_message,
                                                  read_bulk, split_name, to_int, value_of)
from tierctl.plugins.surveymonkey_options import (  # noqa: F401  (DEFAULT_BODY_HTML: importable here, as before)
    DEFAULT_BODY_HTML, REQUESTS_PER_PART, SurveyMap, SurveyMonkeyOptions, default_body_html)

if TYPE_CHECKING:
    import requests

log = logging.getLogger("tierctl.surveymonkey")

BUDGET_SPENT = "daily SurveyMonkey API budget spent; the next run continues"
RATE_HEADER = "X-Ratelimit-App-Global-"
AUTH_ERRORS = {"1010", "1011", "1012", "1013"}
PERMISSION_ERRORS = {"1014", "1015", "1016", "1017", "1018"}
MAX_PAGES = 10_000


# -- internal signals --------------------------------------------------------------------------

class _Stop(Exception):
    """The provider cannot go on in this run (budget spent, token refused, unreachable)."""

    def __init__(self, reason: str, error: ProviderError):
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.not_sent = False  # set when the refused request was a send: the message did not go out


class _Transient(Exception):
    """A request failed after its retries in a way a later run may not see (5xx, timeout)."""


class _Ambiguous(_Transient):
    """The request may have been carried out: its answer was lost (timeout, dropped connection, 5xx)."""


class _ApiError(Exception):
    """A 4xx answer other than the auth, permission and rate-limit ones."""

    def __init__(self, status: int, error_id: str, text: str):
        super().__init__(text)
        self.status, self.error_id, self.text = status, error_id, text


@dataclass
class _Part:
    """The invitations of one survey in one language within a batch, on their way through one message
    (a message has one subject and body, so each language gets its own)."""

    survey_id: str
    invitations: list[Invitation]
    language: str = "en"


# -- the provider ------------------------------------------------------------------------------

class SurveyMonkeyProvider(Provider):
    """Sends through SurveyMonkey e-mail collectors in bulk; reads answers from responses/bulk."""

    name = "surveymonkey"
    description = "SurveyMonkey: e-mail collectors with bulk recipients; responses/bulk"
    Options = SurveyMonkeyOptions
    batch_size = 100
    can_fetch = True
    requests_per_invitation = REQUESTS_PER_PART / 100
    paces_itself = True
    options: SurveyMonkeyOptions

    def __init__(self, instance: str, options: SurveyMonkeyOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = RateLimit(options.requests_per_minute, 60.0)
        self.batch_size = options.batch_size  # type: ignore[misc]  # per instance, from the options
        self.requests_per_invitation = REQUESTS_PER_PART / options.batch_size  # type: ignore[misc]
        self._token = options.token.get_secret_value()
        self._base = options.base_url
        self._origin = urlsplit(self._base)
        self.http = _SurveyMonkeyClient(self)
        self._started = datetime.now(timezone.utc)
        self._collectors: dict[str, str] = {}  # tierctl survey id -> collector id (this run)
        self._added: dict[str, set[str]] = {}  # collector id -> addresses added in this run
        self._stopped: ProviderError | None = None
        #: 429s this instance received.
        self.rate_limited = 0
        self._day_remaining: int | None = None  # from the last Day-Remaining header
        self._day_limit: int | None = None
        self._minute_resume: float = 0.0  # monotonic time before which the minute budget is spent
        self._heading_maps: dict[str, dict[str, str]] = {}

    # -- HTTP ------------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        """An API URL on the configured host: ``links.next`` is followed by path, never to another host."""
        if path_or_url.startswith("/"):
            return self._base + path_or_url
        parts = urlsplit(path_or_url)
        return urlunsplit((self._origin.scheme, self._origin.netloc, parts.path, parts.query, ""))

    def _wait_for_minute_budget(self) -> None:
        wait = self._minute_resume - clock_of(self).monotonic()
        if wait > 0:
            log.info("provider %s: SurveyMonkey's per-minute budget is spent; waiting %.1f s for its reset",
                     self.instance, wait)
            self.sleep(wait)

    @property
    def requests_made(self) -> int:
        """Requests this instance made (answered or not), retries included."""
        return self.http.requests_made

    def _day_left(self) -> int:
        own = self.options.requests_per_day - self.requests_made
        return own if self._day_remaining is None else min(own, self._day_remaining)

    def _budget_stop(self) -> _Stop:
        return _Stop(BUDGET_SPENT, ProviderError(
            self.instance, f"(surveymonkey) {BUDGET_SPENT}: the app's daily request budget "
                           f"({self._day_limit or self.options.requests_per_day}/day, resets 00:00 UTC) is used up",
            retry=True))

    def _read_limits(self, response: "requests.Response") -> None:
        headers = response.headers
        minute = to_int(headers.get(RATE_HEADER + "Minute-Remaining"))
        if minute is not None and minute <= 0:
            reset = to_int(headers.get(RATE_HEADER + "Minute-Reset"))
            wait = min(float(max(reset, 1) if reset is not None else 60), self.options.max_rate_wait)
            self._minute_resume = max(self._minute_resume, clock_of(self).monotonic() + wait)
        day = to_int(headers.get(RATE_HEADER + "Day-Remaining"))
        if day is not None:
            self._day_remaining = day
            self._day_limit = to_int(headers.get(RATE_HEADER + "Day-Limit"))

    def _request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                 *, replay_safe: bool = True) -> Any:
        """One API call through tierctl's HTTP client (paced, retried); returns the decoded JSON answer.

        ``replay_safe=False`` raises :class:`_Ambiguous` at the first lost
        answer instead of repeating the call. Raises :class:`_Stop` when the
        provider cannot go on, :class:`_Transient` after the retries, and
        :class:`_ApiError` for other 4xx answers.
        """
        url = self._url(path)
        try:
            response = self.http.request(method, url, json=body, params=params, idempotent=replay_safe,
                                         raise_errors=False)
        except MaybeSent as exc:
            raise _Ambiguous(exc.reason) from None
        except Unreachable as exc:
            if not exc.reached:
                raise _Stop(f"cannot reach SurveyMonkey: {exc.reason}", ProviderError(
                    self.instance, f"(surveymonkey) cannot reach {self._origin.netloc}: {exc.reason}",
                    retry=True)) from None
            raise _Transient(f"{exc.reason} (after {self.http.retries_used + 1} attempts)") from None
        except ProviderError as exc:  # the circuit breaker is open
            raise _Stop(f"SurveyMonkey keeps failing: {exc}", exc) from None
        attempts = self.http.retries_used + 1
        status = response.status_code
        if 200 <= status < 300:
            try:
                return response.json() if response.content else {}
            except ValueError:
                raise _Transient(f"SurveyMonkey answered {method} {path_of(url)} with something that "
                                 f"is not JSON: {excerpt(response, self._token)}") from None
        error_id, text = error_of(response, self._token)
        if status == 429:
            if self._day_remaining == 0:
                raise self._budget_stop()
            raise _Transient(f"HTTP 429 {text} (after {attempts} attempts)")
        if status == 401 or error_id in AUTH_ERRORS:
            raise _Stop(f"SurveyMonkey refused the access token (error {error_id or status})",
                        ProviderError(self.instance, auth_message(error_id, status, text), retry=False))
        if error_id == "1018" or (status == 403 and error_id in PERMISSION_ERRORS):
            raise _Stop(f"SurveyMonkey refused the request (error {error_id})", ProviderError(
                self.instance, permission_message(error_id, text, self._base), retry=False))
        if status >= 500 or status == 408:
            reason = f"HTTP {status} {text}"
            if not replay_safe:
                raise _Ambiguous(reason)
            raise _Transient(f"{reason} (after {attempts} attempts)")
        raise _ApiError(status, error_id, f"HTTP {status} {text}")

    def _raise_if_stopped(self) -> None:
        if self._stopped is not None:
            raise self._stopped

    # -- sending ---------------------------------------------------------------------------

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        if not batch:
            return []
        self._raise_if_stopped()
        parts: dict[tuple[str, str], _Part] = {}
        for inv in batch:
            # One message per survey and language: the contact's (nl-BE -> nl -> the organisation's default).
            language = self.context.language(inv.locale) if self.context is not None else "en"
            parts.setdefault((inv.survey_id, language), _Part(inv.survey_id, [], language)).invitations.append(inv)
        results: dict[str, SendResult] = {}
        stop: _Stop | None = None
        went_out = False  # anything of this batch sent, or possibly sent
        for part in parts.values():
            if stop is not None:
                results.update((i.invite_id, SendResult.failed(i.invite_id, stop.reason, retry=True))
                               for i in part.invitations)
                continue
            try:
                outcome, stop = self._send_part(part)
            except _Stop as exc:
                outcome, stop = {}, exc
                results.update((i.invite_id, SendResult.failed(i.invite_id, exc.reason, retry=True))
                               for i in part.invitations)
            for inv in part.invitations:
                if inv.invite_id in outcome:
                    result = outcome[inv.invite_id]
                    results[inv.invite_id] = result
                    went_out = went_out or result.ok
                elif inv.invite_id not in results:
                    went_out = True  # no result: it may have gone out
        if stop is not None:
            self._stopped = stop.error
            untouched = all(not r.ok and r.reason == stop.reason for r in results.values())
            if not went_out and untouched and len(results) == len(batch) and stop.reason != BUDGET_SPENT:
                raise stop.error  # nothing happened: the engine keeps the whole batch for a later run
            log.error("%s; the rest of this run's invitations are left for the next run", stop.error)
        return [results[i.invite_id] for i in batch if i.invite_id in results]

    def _send_part(self, part: _Part) -> tuple[dict[str, SendResult], _Stop | None]:
        """Send one survey's invitations through one message: results, and why to stop (if so).

        Invitations missing from the results may or may not have gone out.
        """
        results: dict[str, SendResult] = {}
        survey_id = part.survey_id
        mapping = self.options.surveys.get(survey_id)
        if mapping is None:
            reason = (f"no SurveyMonkey survey for tierctl survey {survey_id!r}: add it to "
                      f"providers.{self.instance}.surveys, e.g. {{{survey_id}: \"405123456\"}}")
            return {i.invite_id: SendResult.failed(i.invite_id, reason, retry=True) for i in part.invitations}, None
        collector = self._collectors.get(survey_id)
        added = self._added.get(collector or "", set())
        todo: dict[str, Invitation] = {}
        for inv in part.invitations:
            key = inv.contact_email.strip().casefold()
            if key in todo:
                results[inv.invite_id] = SendResult.failed(
                    inv.invite_id, "another invitation of this survey goes to the same address in this batch; "
                                   "SurveyMonkey invites an address once per collector, so the next run sends it",
                    retry=True)
            elif key in added:
                results[inv.invite_id] = SendResult.failed(inv.invite_id, EXISTING, retry=True)
            else:
                todo[key] = inv
        if not todo:
            return results, None
        if self._day_left() < REQUESTS_PER_PART + (collector is None):
            raise self._budget_stop()
        try:
            if collector is None:
                collector = self._create_collector(survey_id, mapping.id)
            message = self._create_message(collector, part.invitations[0], part.language)
            outcome = self._add_recipients(collector, message, todo)
        except (_Transient, _ApiError) as exc:
            reason = self._part_failure(exc, survey_id, mapping.id)
            results.update((i.invite_id, SendResult.failed(i.invite_id, reason, retry=True)) for i in todo.values())
            return results, None
        succeeded = {k: rid for k, (kind, rid) in outcome.items() if kind == "succeeded" and k in todo}
        for key, inv in todo.items():
            kind = outcome.get(key, ("", None))[0]
            if kind and kind != "succeeded":
                results[inv.invite_id] = bulk_failure(inv.invite_id, kind)
        if not succeeded:
            return results, None
        stop: _Stop | None = None
        try:
            state = self._send_message(collector, message)
        except _Stop as exc:
            stop = exc
            # Refused outright: not sent. Stopped while reading the status: it may have gone out.
            state = f"failed: {exc.reason}" if exc.not_sent else "unknown"
        except (_Transient, _ApiError) as exc:
            state = f"failed: {exc}"
        for key, rid in succeeded.items():
            inv = todo[key]
            if state == "sent":
                results[inv.invite_id] = SendResult.sent(inv.invite_id, rid)
            elif state.startswith("failed"):
                results[inv.invite_id] = SendResult.failed(
                    inv.invite_id, f"SurveyMonkey did not send the message: {state[8:]}", retry=True)
        if state == "unknown":
            log.error("provider %s: SurveyMonkey's answer to sending message %s of collector %s was lost and its "
                      "status could not be read; %d invitation(s) may or may not have gone out and are left as "
                      "unknown", self.instance, message, collector, len(succeeded))
        else:
            log.info("provider %s: survey %s (%s): %d of %d invitation(s) sent through collector %s, message %s",
                     self.instance, survey_id, part.language, len(succeeded) if state == "sent" else 0,
                     len(part.invitations), collector, message)
        return results, stop

    def _part_failure(self, exc: Exception, survey_id: str, sm_id: str) -> str:
        if isinstance(exc, _ApiError) and exc.status == 404:
            return (f"SurveyMonkey has no survey {sm_id} (providers.{self.instance}.surveys.{survey_id}), "
                    f"or the token's account cannot see it: {exc.text}")
        return f"SurveyMonkey: {exc}"

    def _create_collector(self, survey_id: str, sm_id: str) -> str:
        body: dict[str, Any] = {"type": "email",
                                "name": f"tierctl {survey_id} {self._started:%Y-%m-%d %H:%M} UTC"}
        if self.options.sender_email:
            body["sender_email"] = self.options.sender_email
        answer = self._request("POST", f"/surveys/{sm_id}/collectors", body)
        collector = str(answer["id"])
        self._collectors[survey_id] = collector
        self._added[collector] = set()
        log.info("provider %s: created e-mail collector %s for survey %s (SurveyMonkey survey %s)",
                 self.instance, collector, survey_id, sm_id)
        return collector

    def _create_message(self, collector: str, sample: Invitation, language: str) -> str:
        """A new invite message in ``language``: the subject, the body and the survey title in it."""
        from tierctl.i18n import use_language
        from tierctl.i18n.text import text_for

        config = self.context.config if self.context is not None else None
        org = config.organization.name if config is not None else ""
        default = config.organization.language if config is not None else None
        title = text_for(sample.survey_title, language, default)
        with use_language(language):
            template = text_for(self.options.body_html, language, default) or default_body_html()
        body = template.replace("{survey_title}", html.escape(title)).replace("{organization}", html.escape(org or ""))
        answer = self._request("POST", f"/collectors/{collector}/messages", {
            "type": "invite", "subject": text_for(self.options.subject, language, default) or title,
            "body_html": body, "is_branding_enabled": self.options.branding})
        return str(answer["id"])

    def _add_recipients(self, collector: str, message: str,
                        todo: dict[str, Invitation]) -> dict[str, tuple[str, str | None]]:
        """Bulk-add; ``{address: (succeeded|invalids|bounced|..., recipient id)}``."""
        field = str(self.options.invite_field)
        contacts = []
        for inv in todo.values():
            first, last = split_name(inv.contact_name)
            # Every contact carries custom_fields: in a bulk add, contacts without
            # them would get theirs cleared when any other contact has some.
            contacts.append({"email": inv.contact_email.strip(), "first_name": first, "last_name": last,
                             "custom_fields": {field: inv.invite_id}})
        path = f"/collectors/{collector}/messages/{message}/recipients/bulk"
        lost = 0
        while True:
            try:
                answer = self._request("POST", path, {"contacts": contacts}, replay_safe=False)
                break
            except _Ambiguous as exc:
                # Some may have been added to this message: adding again reports them as
                # 'existing', which counts as added below (this run's collector is ours alone).
                if lost >= self.options.max_retries:
                    raise _Transient(f"adding recipients failed: {exc} (after {lost + 1} attempts)") from None
                lost += 1
                self.sleep(self.http.backoff(lost))
        outcome = read_bulk(answer)
        added = self._added.setdefault(collector, set())
        for key, (kind, rid) in list(outcome.items()):
            if kind == "existing" and lost and key not in added:
                outcome[key] = ("succeeded", rid)
            if outcome[key][0] == "succeeded":
                added.add(key)
        return outcome

    def _send_message(self, collector: str, message: str) -> str:
        """Send the message now: ``"sent"``, or ``"unknown"`` when the outcome cannot be told.

        Raises :class:`_Stop` (with ``not_sent``), :class:`_Transient` or
        :class:`_ApiError` when the message certainly did not go out.
        """
        path = f"/collectors/{collector}/messages/{message}"
        lost = 0
        while True:
            try:
                self._request("POST", path + "/send", {}, replay_safe=False)
                return "sent"
            except _Stop as exc:
                exc.not_sent = True  # refused before anything was sent
                raise
            except _ApiError:
                if not lost:
                    raise  # a plain refusal: nothing went out
                # After a lost answer, a refusal may mean the first attempt went through.
                status = self._message_status(path)
                if status == "not_sent":
                    raise
                return status
            except _Ambiguous as exc:
                lost += 1
                log.warning("provider %s: lost the answer to sending message %s (%s); reading its status",
                            self.instance, message, exc)
                status = self._message_status(path)
                if status != "not_sent":
                    return status
                if lost > self.options.max_retries:
                    raise _Transient(f"sending message {message} failed {lost} times: {exc}") from None
                self.sleep(self.http.backoff(lost))  # not sent: SurveyMonkey sends a message once, so trying again is safe

    def _message_status(self, path: str) -> str:
        """``"sent"`` (sent, processing or scheduled), ``"not_sent"`` or ``"unknown"``."""
        try:
            answer = self._request("GET", path)
        except (_Transient, _ApiError):
            return "unknown"
        if answer.get("status") in ("sent", "processing") or answer.get("is_scheduled"):
            return "sent"
        return "not_sent" if answer.get("status") == "not_sent" else "unknown"

    # -- responses -------------------------------------------------------------------------

    def fetch_responses(self, survey_id: str, cursor: str | None) -> tuple[Iterable[RawResponse], str | None]:
        """Completed responses modified since ``cursor`` (minus ``fetch_overlap``), each once; the new cursor."""
        self._raise_if_stopped()
        mapping = self.options.surveys.get(survey_id)
        if mapping is None:
            raise ProviderError(self.instance, f"(surveymonkey) no SurveyMonkey survey for tierctl survey "
                                               f"{survey_id!r}; add it to providers.{self.instance}.surveys",
                                retry=False)
        since, seen = self._read_cursor(cursor)
        overlap = timedelta(seconds=self.options.fetch_overlap)
        params: dict[str, Any] | None = {"per_page": 100, "sort_by": "date_modified", "sort_order": "ASC",
                                         "simple": "true", "status": "completed"}
        if since is not None:
            start = (since - overlap).astimezone(timezone.utc)
            params = {**(params or {}), "start_modified_at": start.strftime("%Y-%m-%dT%H:%M:%S")}
        found: dict[str, tuple[datetime, dict[str, Any]]] = {}
        path: str | None = f"/surveys/{mapping.id}/responses/bulk"
        visited: set[str] = set()
        while path and path not in visited and len(visited) < MAX_PAGES:
            visited.add(path)
            try:
                page = self._request("GET", path, params=params)
            except _Stop as exc:
                self._stopped = exc.error
                if len(visited) == 1:
                    raise exc.error from None
                log.error("%s; the responses read so far are kept", exc.error)
                break
            except (_Transient, _ApiError) as exc:
                raise ProviderError(self.instance, f"(surveymonkey) reading the responses to SurveyMonkey survey "
                                                   f"{mapping.id} ({survey_id}) failed: {exc}", retry=True) from None
            for item in page.get("data") or []:
                rid = str(item.get("id") or "")
                modified = parse_time(item.get("date_modified")) or parse_time(item.get("date_created"))
                if not rid or modified is None:
                    continue
                if rid in seen and modified <= seen[rid]:
                    continue  # returned by an earlier fetch (the overlap window)
                if rid not in found or found[rid][0] <= modified:
                    found[rid] = (modified, item)  # a response on two pages: its latest version, once
            path, params = (page.get("links") or {}).get("next"), None
        ordered = sorted(found.values(), key=lambda pair: pair[0])
        responses = [self._raw(survey_id, mapping, item, modified) for modified, item in ordered]
        return responses, new_cursor(since, seen, ordered, overlap, cursor)

    def _read_cursor(self, cursor: str | None) -> tuple[datetime | None, dict[str, datetime]]:
        """``(modified since, {response id: date_modified already returned})``."""
        if not cursor:
            return None, {}
        text = cursor.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
                seen = {str(k): t for k, v in (data.get("seen") or {}).items() if (t := parse_time(v)) is not None}
                since = parse_time(data.get("modified"))
                if since is not None:
                    return since, seen
            except (ValueError, AttributeError):
                pass
        moment = parse_time(text)
        if moment is None:
            raise ProviderError(self.instance, f"(surveymonkey) cannot read the stored cursor {text[:80]!r}; "
                                               "expected an ISO 8601 time such as 2027-01-04T09:00:00+00:00",
                                retry=False)
        return moment, {}

    def _raw(self, survey_id: str, mapping: SurveyMap, item: dict[str, Any], modified: datetime) -> RawResponse:
        contact = (item.get("metadata") or {}).get("contact") or {}
        slot = "custom_value" if self.options.invite_field == 1 else f"custom_value{self.options.invite_field}"
        invite_id = value_of(contact.get(slot)) or value_of((item.get("custom_variables") or {})
                                                          .get(self.options.invite_variable))
        email = value_of(contact.get("email")) or item.get("email_address") or None
        return RawResponse(response_id=str(item["id"]), invite_id=invite_id or None, submitted_at=modified,
                           answers=self._answers(survey_id, mapping, item), contact_email=email)

    def _headings(self, survey_id: str) -> dict[str, str]:
        """Normalised question texts and ids of a tierctl survey -> question id."""
        if survey_id not in self._heading_maps:
            by_text: dict[str, str] = {}
            for q in self.context.questions(survey_id) if self.context is not None else ():
                # The heading may be in any language the config writes the question in.
                for text in (q.text, *getattr(q.text, "variants", {}).values()):
                    by_text.setdefault(norm(text), q.id)
                by_text.setdefault(norm(q.id), q.id)
            self._heading_maps[survey_id] = by_text
        return self._heading_maps[survey_id]

    def _answers(self, survey_id: str, mapping: SurveyMap, item: dict[str, Any]) -> dict[str, Any]:
        by_text = self._headings(survey_id)
        answers: dict[str, Any] = {}
        for page in item.get("pages") or []:
            for question in page.get("questions") or []:
                qid = mapping.questions.get(str(question.get("id")))
                if qid is None:
                    qid = by_text.get(norm(str(question.get("heading") or "")))
                if qid is None:
                    continue
                values = [v for v in (answer_value(a) for a in question.get("answers") or []) if v is not None]
                if values:
                    answers[qid] = values[0] if len(values) == 1 else values
        return answers

    # -- webhooks ------------------------------------------------------------------------------

    def register_webhook(self, survey_id: str, url: str, secret: str) -> dict[str, Any]:
        """Point a ``response_completed`` webhook of the survey at ``url`` (``POST /v3/webhooks {name,
        event_type, object_type: survey, object_ids, subscription_url}``), unless one already does.
        SurveyMonkey signs its deliveries with the app's API key and secret (``serve.webhook_secrets``
        holds ``<api key>&<api secret>``), so ``secret`` is not sent. Returns ``{"id": ...}``."""
        sm_id = self._sm_survey(survey_id)
        found = self._webhook_for(sm_id, url)
        if found is not None:
            return {"id": found}
        body = {"name": f"tierctl {survey_id}"[:100], "event_type": "response_completed", "object_type": "survey",
                "object_ids": [sm_id], "subscription_url": url}
        made = self._webhook_call("POST", "/webhooks", body, "create the webhook")
        return {"id": str(made.get("id") or "") if isinstance(made, dict) else ""}

    def webhook_state(self, survey_id: str, url: str) -> str:
        """``"ok"`` when a ``response_completed`` webhook of the survey points at ``url``; else what is wrong."""
        sm_id = self._sm_survey(survey_id)
        return "ok" if self._webhook_for(sm_id, url) is not None else \
            f"not registered (no response_completed webhook of survey {sm_id} points at {url})"

    def _webhook_for(self, sm_id: str, url: str) -> str | None:
        """The id of a webhook that sends survey ``sm_id``'s completed responses to ``url``: the list
        (``GET /v3/webhooks``, paged) names them, each one's details say where it points."""
        page = 1
        while page <= 20:  # 20 pages of 100: more webhooks than an account keeps
            listing = self._webhook_call("GET", "/webhooks", None, "list the webhooks",
                                         params={"page": page, "per_page": 100})
            items = listing.get("data") if isinstance(listing, dict) else None
            for item in items if isinstance(items, list) else []:
                hook_id = str(item.get("id") or "") if isinstance(item, dict) else ""
                if not hook_id.isdigit():
                    continue
                hook = self._webhook_call("GET", f"/webhooks/{hook_id}", None, "read a webhook")
                if isinstance(hook, dict) and hook.get("subscription_url") == url \
                        and hook.get("event_type") == "response_completed" \
                        and sm_id in [str(i) for i in hook.get("object_ids") or []]:
                    return hook_id
            if not (isinstance(listing, dict) and (listing.get("links") or {}).get("next")):
                return None
            page += 1
        return None

    def _webhook_call(self, method: str, path: str, body: Any, what: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self._request(method, path, body, params, replay_safe=method == "GET")
        except _Stop as exc:
            raise exc.error from None
        except (_Transient, _ApiError) as exc:
            raise ProviderError(self.instance, f"cannot {what}: {exc}", retry=False) from None

    def _sm_survey(self, survey_id: str) -> str:
        mapping = self.options.surveys.get(survey_id)
        if mapping is None:
            raise ProviderError(self.instance, f"no SurveyMonkey survey for tierctl survey {survey_id!r}: add it "
                                               f"to providers.{self.instance}.surveys", retry=False)
        return str(getattr(mapping, "id", mapping))

    def close(self) -> None:
        self.http.close()


class _SurveyMonkeyClient(HttpClient):
    """tierctl's HTTP client with SurveyMonkey's budgets: the daily budget is checked and the
    per-minute one waited for before each attempt, the rate-limit headers read from each answer, and
    a 429 (error 1040, without ``Retry-After``) waits for the minute's reset."""

    provider: "SurveyMonkeyProvider"

    def __init__(self, provider: "SurveyMonkeyProvider"):
        super().__init__(provider, platform="SurveyMonkey", pool_size=2,
                         headers={"Authorization": f"bearer {provider._token}", "Content-Type": "application/json"})

    def before_attempt(self, attempt: int) -> None:
        if self.provider._day_left() <= 0:
            raise self.provider._budget_stop()
        self.provider._wait_for_minute_budget()

    def after_response(self, response: Any) -> None:
        self.provider._read_limits(response)
        if response.status_code == 429:
            self.provider.rate_limited += 1
            reset = to_int(response.headers.get(RATE_HEADER + "Minute-Reset"))
            wait = min(float(max(reset, 1) if reset is not None else 60), self.provider.options.max_rate_wait)
            log.warning("provider %s: SurveyMonkey rate limit reached; waiting %.0f s for the per-minute reset",
                        self.provider.instance, wait)
            self.provider._minute_resume = max(self.provider._minute_resume, clock_of(self.provider).monotonic() + wait)

    def retryable(self, method: str, response: Any, idempotent: bool) -> bool:
        status = response.status_code
        if status == 429:
            return self.provider._day_remaining != 0
        return idempotent and (status >= 500 or status == 408)

    def retry_wait(self, response: Any, attempt: int) -> float:
        # A 429 waits for the minute's reset in before_attempt; others back off.
        return 0.0 if response.status_code == 429 else self.backoff(attempt)
