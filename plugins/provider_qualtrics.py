"""The ``qualtrics`` provider: contacts into a mailing list, a distribution; responses by export.

::

    providers:
      qx:
        plugin: qualtrics
        token: ${QUALTRICS_TOKEN}           # X-API-TOKEN
        datacenter: fra1                    # https://fra1.qualtrics.com/API/v3/
        directory_id: POOL_2bGxkQ9           # the XM Directory contacts go into
        surveys: {pre-meeting: SV_3kTQ0rB7Yq, product-feedback: SV_9Xy1mNp}
        library_id: UR_4ZkQ1pL               # the library holding the invitation message
        message_id: MS_7pQeG2a               # an e-mail invitation message with the survey link
        from_email: surveys@acme.example     # an address of a domain Qualtrics may send from
        from_name: Acme Customer Success     # default organization.name
        subject: A few questions from Acme   # default the survey's title
        # mailing_list_id: CG_1aBcD2         # one fixed list instead of a new list per batch (see below)
        # link_expiry: 30                    # days; default: when the occasion closes
        # questions: {satisfaction: QID2}    # tierctl question id -> export column
        # requests_per_second: 5

Sending
-------
For each batch and survey:

1. a mailing list: by default a new one per batch (``POST
   /directories/{directory_id}/mailinglists``, named ``tierctl <instance>
   <survey> <time>``), so the distribution reaches exactly this batch;
2. the contacts, imported in bulk (``POST .../mailinglists/{id}/contactimports``,
   polled until ``complete``, then ``GET .../contactimports/{id}/summary``):
   ``firstName``, ``lastName``, ``email``, ``language`` (the contact's
   language, ``nl-BE`` -> ``NL``, the organisation's without a locale:
   Qualtrics shows the survey and the library message in that translation
   when it has one), ``extRef`` = the
   invite id and ``embeddedData{invite_id, tier, account_id, survey}``. A
   contact the import refused is ``failed(retry=False)`` with its reason; one
   the summary does not mention is ``failed(retry=True)`` (nothing was sent);
3. ``POST /distributions`` with ``message{libraryId, messageId}``,
   ``recipients{mailingListId}``, ``header{fromEmail, fromName, replyToEmail,
   subject}``, ``surveyLink{surveyId, type: Individual, expirationDate}`` and
   ``sendDate``. Each imported invitation is sent; ``external_id`` is
   ``<distribution id>/<contact id>``.

A distribution has one subject, so each survey's invitations go out per
language: ``subject`` (one text or ``{en: ..., nl: ...}``; default the
survey's title) in the contacts' language. The links are Qualtrics' own
individual links (``[SurveyLink]`` in the library message), so the language
travels as the contact's ``language``, not as a ``Q_Language`` parameter
(that one is for anonymous links, which this provider does not send).

With a fixed ``mailing_list_id`` the list keeps earlier batches' contacts,
so each contact gets a distribution of its own
(``recipients{mailingListId, contactId}``): one request per invitation.

Two invitations of a batch to the same address (two occasions) go in
separate lists, since a list holds an address once. Embedded data belongs to
the directory contact, so when one person is invited again before answering
an earlier invitation, that earlier answer may carry the newer invite id
(it is then linked to the newer invitation of the same contact). The default lists stay in
the directory (deleting one may cancel its distribution); they are named
``tierctl ...`` so they are easy to clean up.

When Qualtrics cannot be reached, or keeps answering 429/5xx, while lists
and contacts are set up, nothing of the batch has gone out: the whole
provider fails (:class:`~tierctl.providers.ProviderError`, ``retry``) and the
engine keeps the batch for the next run (after a round that did go out, the
rest of the batch is ``failed(retry=True)``).

Qualtrics has no idempotency key. A distribution request that times out or
fails with a 5xx other than 503 may have been created, so it is not repeated:
its invitations are ``unknown`` (:meth:`~tierctl.records.SendResult.maybe_sent`)
with a reason saying so. 429 and 503 are retried (honouring ``Retry-After``),
as are all other requests, which are safe to repeat; the retries, back-off
and pacing are :class:`tierctl.http.HttpClient`'s, on the provider's clock.

Responses
---------
The asynchronous export: ``POST /surveys/{id}/export-responses {format: json,
allowContinuation: true}`` (or ``{format: json, continuationToken}`` from the
cursor), polled every ``poll_interval`` seconds (at most
``export_timeout``) until ``status: complete``, then ``GET
.../export-responses/{fileId}/file``: a ZIP holding one JSON file
``{"responses": [{responseId, values, labels, ...}]}``. Finished responses
only; the invite id is the ``invite_id`` embedded data field; ``submitted_at``
is ``endDate`` (else ``recordedDate``); answers are ``values[column]`` for
each question, the column being ``questions[<question id>]`` or the question
id itself (name export tags after tierctl's ids to skip the mapping); a choice
question takes the label. The export's new ``continuationToken`` is the
cursor, so the next pull exports only newer responses; responses are
de-duplicated by ``responseId``. An ISO 8601 time as cursor (``collect
--since``) exports from that time.

Pushed responses: ``tierctl serve`` receives Qualtrics' event subscription
(``surveyengine.completedResponse.<SV>``) and reads the one response it names
with :meth:`QualtricsProvider.fetch_response` (``GET
/surveys/{id}/responses/{responseId}``); :meth:`QualtricsProvider.register_webhook`
creates the subscription (``POST /eventsubscriptions/``).

Errors
------
Every request takes a token from the instance's bucket (``requests_per_second``).
Errors come in Qualtrics' envelope ``{meta{httpStatus, requestId,
error{errorCode, errorMessage}}}``. 401/403 (a revoked token) and a
directory, survey, list or message Qualtrics does not know become a
:class:`~tierctl.providers.ProviderError` naming the instance (never the token).
"""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote, unquote, urlsplit

from tierctl.http import HttpClient, MaybeSent, Unreachable
from tierctl.plugins.qualtrics_options import QualtricsOptions
from tierctl.providers import Provider, ProviderContext, ProviderError, RateLimit, clock_of
from tierctl.records import Invitation, RawResponse, SendResult

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses after which a request that creates something was surely not carried out.
_NOT_DONE_STATUSES = frozenset({429, 503})
def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class ApiError(Exception):
    """A request Qualtrics refused or that could not be completed."""

    def __init__(self, message: str, status: int | None = None, code: str = "", done: bool | None = False,
                 unavailable: bool = False):
        super().__init__(message)
        self.status = status
        self.code = code
        #: False: surely not carried out; None: it may have been.
        self.done = done
        #: Qualtrics could not be reached or kept failing (429, 5xx) after the retries.
        self.unavailable = unavailable


class QualtricsProvider(Provider):
    """Imports contacts into a mailing list and distributes; reads responses through exports."""

    name = "qualtrics"
    description = "Qualtrics: contacts with embedded data into a mailing list, a distribution; response exports"
    Options = QualtricsOptions
    batch_size = 200
    can_fetch = True
    paces_itself = True
    options: QualtricsOptions

    def __init__(self, instance: str, options: QualtricsOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = RateLimit.from_per_second(options.requests_per_second)
        self._clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self._lock = threading.Lock()
        self._token = options.token.get_secret_value()
        self.http = _QualtricsClient(self, platform="Qualtrics", headers={"X-API-TOKEN": self._token})
        self._fatal: ProviderError | None = None
        organization = context.config.organization if context.config is not None else None
        self.from_email = options.from_email or (organization.contact_email if organization else None)
        self.from_name = options.from_name or (organization.name if organization else None) or ""
        if not self.from_email:
            raise ProviderError(instance, "no sender address: set from_email (an address of a domain your "
                                          "Qualtrics brand may send from) or organization.contact_email",
                                retry=False)
        config = context.config
        if config is not None:
            missing = sorted(sid for sid, survey in config.surveys.items()
                             if survey.provider == instance and sid not in options.surveys)
            if missing:
                raise ProviderError(instance, f"no Qualtrics survey for {', '.join(missing)}; add them to surveys, "
                                              "e.g. surveys: {" + f"{missing[0]}: SV_..." + "}", retry=False)

    # -- sending -------------------------------------------------------------------------------

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        if not batch:
            return []
        with self._lock:
            if self._fatal is not None:
                raise self._fatal
        results: dict[str, SendResult] = {}
        # A distribution has one subject: one per survey and language (the contact's, nl-BE -> nl -> default).
        groups: dict[tuple[str, str], list[Invitation]] = {}
        for invitation in batch:
            groups.setdefault((invitation.survey_id, self._language(invitation)), []).append(invitation)
        try:
            for (survey_id, language), invitations in groups.items():
                for round_ in _rounds(invitations):
                    for result in self._send_round(survey_id, round_, language):
                        results[result.invite_id] = result
        except ProviderError as exc:
            if not any(r.ok for r in results.values()):
                raise  # nothing of this batch went out: the engine keeps it for the next run
            with self._lock:
                self._fatal = exc
            for invitation in batch:
                results.setdefault(invitation.invite_id,
                                   SendResult.failed(invitation.invite_id, f"not sent: {exc}", retry=True))
        except ApiError as exc:  # unavailable: do not wait for it again with every round of the batch
            if not any(r.ok for r in results.values()):
                raise ProviderError(self.instance, f"Qualtrics is unavailable: {exc}", retry=True) from None
            for invitation in batch:
                results.setdefault(invitation.invite_id,
                                   SendResult.failed(invitation.invite_id, f"not sent: {exc}", retry=True))
        return [results[i.invite_id] for i in batch]

    def _language(self, invitation: Invitation) -> str:
        return self.context.language(invitation.locale) if self.context is not None else "en"

    def _send_round(self, survey_id: str, invitations: list[Invitation], language: str) -> list[SendResult]:
        """One mailing list's worth: list, import, distribution. Invitations have distinct addresses
        and one language (the distribution's subject is in it)."""
        sv = self.options.surveys.get(survey_id)
        if sv is None:
            raise ProviderError(self.instance, f"no Qualtrics survey for {survey_id!r}; add it to surveys",
                                retry=False)
        results: list[SendResult] = []
        try:
            fresh = self.options.mailing_list_id is None
            list_id = self._create_list(survey_id, invitations) if fresh else self.options.mailing_list_id
            assert list_id is not None
            imported, refused = self._import(list_id, invitations)
        except ApiError as exc:
            if exc.unavailable:
                raise
            return [SendResult.failed(i.invite_id, f"contacts not imported: {exc}", retry=True) for i in invitations]
        results.extend(refused)
        ready = [(i, imported[i.invite_id]) for i in invitations if i.invite_id in imported]
        if not ready:
            return results
        expires = self._expiry([i for i, _ in ready])
        from tierctl.i18n.text import text_for

        default = self.context.config.organization.language if self.context and self.context.config else None
        subject = text_for(self.options.subject, language, default) or \
            text_for(ready[0][0].survey_title, language, default)
        if fresh:
            try:
                distribution = self._distribute(sv, {"mailingListId": list_id}, subject, expires)
            except ApiError as exc:
                results.extend(self._not_distributed(i.invite_id, exc) for i, _ in ready)
            else:
                results.extend(SendResult.sent(i.invite_id, f"{distribution}/{cid}") for i, cid in ready)
            return results
        for invitation, contact_id in ready:
            try:
                distribution = self._distribute(sv, {"mailingListId": list_id, "contactId": contact_id},
                                                subject, expires)
            except ApiError as exc:
                results.append(self._not_distributed(invitation.invite_id, exc))
            else:
                results.append(SendResult.sent(invitation.invite_id, f"{distribution}/{contact_id}"))
        return results

    def _not_distributed(self, invite_id: str, exc: ApiError) -> SendResult:
        if exc.done is False:
            return SendResult.failed(invite_id, f"distribution not created: {exc}", retry=True)
        # Unknown, not failed: the ledger keeps it out of every later run unless someone asks.
        return SendResult.maybe_sent(invite_id, f"the distribution request failed ({exc}); it may have been "
                                                "created, so it is not repeated (check Distributions in Qualtrics)")

    def _create_list(self, survey_id: str, invitations: list[Invitation]) -> str:
        name = f"tierctl {self.instance} {survey_id} {_iso(self._clock())} {invitations[0].invite_id}"[:100]
        result = self._call("POST", f"/directories/{self.options.directory_id}/mailinglists", {"name": name},
                            what="create a mailing list")
        list_id = result.get("id") if isinstance(result, dict) else None
        if not list_id:
            raise ApiError("Qualtrics answered without the new list's id")
        return str(list_id)

    def _import(self, list_id: str, invitations: list[Invitation]) -> tuple[dict[str, str], list[SendResult]]:
        """Import the contacts; ``({invite_id: contact id}, failed results)``."""
        base = f"/directories/{self.options.directory_id}/mailinglists/{list_id}/contactimports"
        contacts = [self._contact(i) for i in invitations]
        started = self._call("POST", base, {"contacts": contacts}, what="import contacts")
        import_id = started.get("id") if isinstance(started, dict) else None
        if not import_id:
            raise ApiError("Qualtrics answered without the import's id")
        self._wait(f"{base}/{import_id}", "the contact import")
        summary = self._call("GET", f"{base}/{import_id}/summary", what="read the import summary")
        rows = summary.get("contacts") if isinstance(summary, dict) else None
        by_ref: dict[str, dict[str, Any]] = {}
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("extRef"):
                by_ref[str(row["extRef"])] = row
        imported: dict[str, str] = {}
        refused: list[SendResult] = []
        for invitation in invitations:
            row = by_ref.get(invitation.invite_id)
            if row is None:
                refused.append(SendResult.failed(invitation.invite_id, "the contact import did not report this "
                                                                      "contact; nothing was sent", retry=True))
            elif str(row.get("status", "")).lower() in ("added", "updated") and row.get("contactId"):
                imported[invitation.invite_id] = str(row["contactId"])
            else:
                reason = self._scrub(str(row.get("errorMessage") or row.get("status") or "refused"))[:300]
                refused.append(SendResult.failed(invitation.invite_id, f"Qualtrics refused the contact "
                                                                      f"{invitation.contact_email}: {reason}"))
        return imported, refused

    def _contact(self, invitation: Invitation) -> dict[str, Any]:
        first, _, last = " ".join(invitation.contact_name.split()).partition(" ")
        return {
            "firstName": first,
            "lastName": last,
            "email": invitation.contact_email,
            "extRef": invitation.invite_id,
            "language": _qualtrics_language(invitation.locale, self._language(invitation)),
            "unsubscribed": False,
            "embeddedData": {"invite_id": invitation.invite_id, "tier": invitation.tier,
                             "account_id": invitation.account_id, "survey": invitation.survey_id},
        }

    def _expiry(self, invitations: list[Invitation]) -> datetime:
        now = self._clock()
        if self.options.link_expiry is not None:
            return now + timedelta(days=self.options.link_expiry)
        closes = max(i.closes_at if i.closes_at.tzinfo else i.closes_at.replace(tzinfo=timezone.utc)
                     for i in invitations)
        return max(closes, now + timedelta(days=1))

    def _distribute(self, sv: str, recipients: dict[str, str], subject: str, expires: datetime) -> str:
        header = {"fromEmail": self.from_email, "fromName": self.from_name, "subject": subject}
        if self.options.reply_to:
            header["replyToEmail"] = self.options.reply_to
        body = {
            "message": {"libraryId": self.options.library_id, "messageId": self.options.message_id},
            "recipients": recipients,
            "header": header,
            "surveyLink": {"surveyId": sv, "type": "Individual", "expirationDate": _iso(expires)},
            "sendDate": _iso(self._clock()),
        }
        result = self._call("POST", "/distributions", body, what="create the distribution", creates=True)
        distribution = result.get("id") if isinstance(result, dict) else None
        if not distribution:
            raise ApiError("Qualtrics answered without the distribution's id", done=None)
        return str(distribution)

    def _wait(self, path: str, what: str) -> dict[str, Any]:
        """Poll ``path`` until its ``status`` is complete; the final result."""
        deadline = clock_of(self).monotonic() + self.options.export_timeout
        while True:
            result = self._call("GET", path, what=f"check {what}")
            status = str(result.get("status", "")).lower() if isinstance(result, dict) else ""
            if status == "complete":
                return result
            if status == "failed":
                raise ApiError(f"{what} failed at Qualtrics")
            if clock_of(self).monotonic() + self.options.poll_interval > deadline:
                raise ApiError(f"{what} was not complete after {self.options.export_timeout:g}s")
            self.sleep(self.options.poll_interval)

    # -- responses -----------------------------------------------------------------------------

    def fetch_responses(self, survey_id: str, cursor: str | None) -> tuple[Iterable[RawResponse], str | None]:
        sv = self.options.surveys.get(survey_id)
        if sv is None:
            raise ProviderError(self.instance, f"no Qualtrics survey for {survey_id!r}; add it to surveys",
                                retry=False)
        body: dict[str, Any] = {"format": "json", "compress": True}
        if cursor:
            try:
                body["startDate"] = _iso(_parse_time(cursor))
                body["allowContinuation"] = True
            except ValueError:
                body["continuationToken"] = cursor
        else:
            body["allowContinuation"] = True
        base = f"/surveys/{sv}/export-responses"
        try:
            started = self._call("POST", base, body, what="start a response export")
            progress_id = started.get("progressId") if isinstance(started, dict) else None
            if not progress_id:
                raise ApiError("Qualtrics answered without the export's progressId")
            done = self._wait(f"{base}/{progress_id}", "the response export")
            file_id = done.get("fileId")
            if not file_id:
                raise ApiError("the finished export names no fileId")
            data = self._call("GET", f"{base}/{file_id}/file", what="download the export", raw=True)
        except ApiError as exc:
            if "continuationToken" in body and exc.status == 400:
                raise ProviderError(self.instance, f"Qualtrics refused the stored continuation token ({exc}); "
                                                   "collect once with --since <date> to start again",
                                    retry=False) from None
            raise ProviderError(self.instance, f"cannot export the responses of {sv}: {exc}") from None
        responses = self._read_export(data, sv)
        new_cursor = done.get("continuationToken") or cursor
        return self._raw_responses(survey_id, responses), new_cursor

    def fetch_response(self, survey_id: str, response_id: str) -> RawResponse | None:
        """One response by its id (``GET /surveys/{id}/responses/{responseId}``), read like an exported
        one: what an event subscription's ``completedResponse`` names. ``None`` when it is not
        finished (yet). Stored by the caller through the collect path, so a later export of the same
        response is a duplicate.

        :raises ProviderError: the survey is not in the options, the token is refused, Qualtrics
            does not know the response, or the API keeps failing.
        """
        sv = self.options.surveys.get(survey_id)
        if sv is None:
            raise ProviderError(self.instance, f"no Qualtrics survey for {survey_id!r}; add it to surveys",
                                retry=False)
        if not re.fullmatch(r"R_[A-Za-z0-9]{1,40}", response_id or ""):
            raise ProviderError(self.instance, f"{response_id!r} is not a Qualtrics response id (R_...)",
                                retry=False)
        try:
            result = self._call("GET", f"/surveys/{sv}/responses/{response_id}", what="read a response")
        except ApiError as exc:
            raise ProviderError(self.instance, f"cannot read response {response_id} of {sv}: {exc}") from None
        if not isinstance(result, dict):
            raise ProviderError(self.instance, f"Qualtrics answered without response {response_id}")
        result = {"responseId": response_id, **result}
        found = self._raw_responses(survey_id, [result])
        return found[0] if found else None

    # -- webhooks (event subscriptions) --------------------------------------------------------

    def register_webhook(self, survey_id: str, url: str, secret: str) -> dict[str, Any]:
        """Subscribe ``url`` to the survey's completed responses (``POST /eventsubscriptions/
        {topics: surveyengine.completedResponse.<SV>, publicationUrl, encrypt: false, sharedKey}``);
        Qualtrics signs each delivery with ``secret``. Returns ``{"id": <subscription id>}``, which
        :meth:`webhook_state` needs: Qualtrics documents no listing of subscriptions."""
        sv = self._survey(survey_id)
        body = {"topics": f"surveyengine.completedResponse.{sv}", "publicationUrl": url, "encrypt": False,
                "sharedKey": secret}
        try:
            result = self._call("POST", "/eventsubscriptions/", body, what="subscribe to completed responses",
                                creates=True)
        except ApiError as exc:
            raise ProviderError(self.instance, f"cannot subscribe to the responses of {sv}: {exc}") from None
        subscription = result.get("id") if isinstance(result, dict) else None
        if not subscription:
            raise ProviderError(self.instance, "Qualtrics answered without the subscription's id")
        return {"id": str(subscription)}

    def webhook_state(self, survey_id: str, url: str, subscription_id: str | None = None) -> str:
        """``"ok"`` when subscription ``subscription_id`` (kept from :meth:`register_webhook`) sends the
        survey's completed responses to ``url``; else what is wrong."""
        sv = self._survey(survey_id)
        if not subscription_id:
            return "not registered (no subscription id kept here; run tierctl webhooks register)"
        try:
            found = self._call("GET", f"/eventsubscriptions/{subscription_id}", what="read the subscription")
        except (ApiError, ProviderError) as exc:
            return f"not registered ({exc})"
        if not isinstance(found, dict):
            return "not registered (Qualtrics answered without the subscription)"
        topics = str(found.get("topics") or "")
        if found.get("publicationUrl") != url:
            return f"points at {found.get('publicationUrl')!r}, not {url!r}"
        if not topics.endswith(f"completedResponse.{sv}"):
            return f"subscribed to {topics!r}, not the completed responses of {sv}"
        return "ok"

    def _survey(self, survey_id: str) -> str:
        sv = self.options.surveys.get(survey_id)
        if sv is None:
            raise ProviderError(self.instance, f"no Qualtrics survey for {survey_id!r}; add it to surveys",
                                retry=False)
        return sv

    def _read_export(self, data: bytes, sv: str) -> list[dict[str, Any]]:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".json")]
                if not names:
                    raise ValueError("the ZIP holds no .json file")
                content = json.loads(archive.read(names[0]).decode("utf-8-sig"))
        except (zipfile.BadZipFile, ValueError, UnicodeDecodeError) as exc:
            raise ProviderError(self.instance, f"the export of {sv} is not a ZIP with a JSON file: {exc}") from None
        responses = content.get("responses") if isinstance(content, dict) else None
        if not isinstance(responses, list):
            raise ProviderError(self.instance, f"the export of {sv} has no responses list")
        return responses

    def _raw_responses(self, survey_id: str, responses: list[dict[str, Any]]) -> list[RawResponse]:
        questions = [(q.id, q.type) for q in self.context.questions(survey_id)] or \
            [(qid, "") for qid in self.options.questions]
        out: list[RawResponse] = []
        seen: set[str] = set()
        for response in responses:
            if not isinstance(response, dict):
                continue
            values = response.get("values") if isinstance(response.get("values"), dict) else {}
            labels = response.get("labels") if isinstance(response.get("labels"), dict) else {}
            response_id = str(response.get("responseId") or values.get("_recordId") or "")
            if not response_id or response_id in seen:
                continue
            if values.get("finished") in (0, False, "0", "false"):
                continue  # still in progress
            seen.add(response_id)
            when = values.get("endDate") or values.get("recordedDate")
            try:
                submitted = _parse_time(when)
            except (ValueError, TypeError):
                continue
            answers: dict[str, Any] = {}
            for qid, qtype in questions:
                column = self.options.questions.get(qid, qid)
                if column not in values:
                    continue
                value = values[column]
                if qtype in ("choice", "multiple_choice") and column in labels:  # the labels (a list when multi)
                    value = labels[column]
                answers[qid] = value
            invite_id = values.get("invite_id")
            email = values.get("recipientEmail")
            out.append(RawResponse(response_id, str(invite_id) if invite_id else None, submitted, answers,
                                   str(email) if email else None))
        return out

    # -- HTTP ----------------------------------------------------------------------------------

    @property
    def requests_made(self) -> int:
        """API requests sent so far, retries included."""
        return self.http.requests_made

    def _call(self, method: str, path: str, body: Any = None, *, what: str, creates: bool = False,
              raw: bool = False) -> Any:
        """One API request, paced and retried by tierctl's HTTP client; the envelope's ``result`` (or the raw bytes).

        ``creates``: the request makes something (not idempotent): it is not repeated once it may have
        reached Qualtrics.

        :raises ProviderError: the token is refused, or Qualtrics does not know an id from the options.
        :raises ApiError: anything else that did not work (``done`` says whether it may have).
        """
        url = self.options.api_url + quote(path, safe="/")
        try:
            response = self.http.request(method, url, json=body, idempotent=not creates, what=what,
                                         raise_errors=False)
        except MaybeSent as exc:
            raise ApiError(f"no answer: {exc.reason}", done=None) from None
        except Unreachable as exc:
            raise ApiError(f"cannot {what}: still failing after {self.http.max_retries} retries: {exc.reason}",
                           unavailable=True) from None
        except ProviderError as exc:  # the circuit breaker is open
            raise ApiError(f"cannot {what}: {exc}", unavailable=True) from None
        status = response.status_code
        if 200 <= status < 300:
            if raw:
                return response.content
            try:
                envelope = response.json()
            except ValueError:
                raise ApiError(f"{what}: the answer is not JSON", status, done=None if creates else False) from None
            return envelope.get("result") if isinstance(envelope, dict) else None
        if status in (401, 403, 404):  # a setting to fix: the client's one mapping says which
            raise self.http.error_for(response, what, self.http.retries_used)
        code, message = self._error(response)
        detail = _detail(status, code, message)
        if status not in _RETRY_STATUSES:
            raise ApiError(f"cannot {what}: {detail}", status, code)
        if creates and status not in _NOT_DONE_STATUSES:
            raise ApiError(f"cannot {what}: {detail}", status, code, done=None)
        raise ApiError(f"cannot {what}: still failing after {self.http.max_retries} retries: {detail}",
                       unavailable=True)

    def _error(self, response: Any) -> tuple[str, str]:
        """``(errorCode, errorMessage)`` from Qualtrics' envelope, scrubbed."""
        try:
            data = response.json()
            error = (data.get("meta") or {}).get("error") or {}
            return self._scrub(str(error.get("errorCode") or "")), self._scrub(str(error.get("errorMessage") or ""))[:300]
        except (ValueError, AttributeError):
            text = " ".join(response.content[:200].decode("utf-8", "replace").split())
            return "", self._scrub(text)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def close(self) -> None:
        self.http.close()


class _QualtricsClient(HttpClient):
    """tierctl's HTTP client with Qualtrics' error envelope (``meta.error.errorCode`` and ``errorMessage``)
    and the advice for a refused token or an unknown id."""

    provider: "QualtricsProvider"

    def error_message(self, response: Any) -> str:
        code, message = self.provider._error(response)
        return f"{code}: {message}".strip(": ")

    def error_for(self, response: Any, what: str, retries: int) -> ProviderError:
        status = response.status_code
        detail = _detail(status, *self.provider._error(response))
        instance = self.provider.instance
        if status in (401, 403):
            return ProviderError(instance, f"Qualtrics refused the API token ({detail}); generate a new token "
                                           "(Account Settings > Qualtrics IDs) and set it as token", retry=False)
        if status == 404:
            path = unquote(urlsplit(response.url).path.removeprefix(urlsplit(self.provider.options.api_url).path))
            return ProviderError(instance, f"cannot {what}: Qualtrics does not know {path} ({detail}); "
                                           "check the ids in the options and the datacenter", retry=False)
        return super().error_for(response, what, retries)


def _detail(status: int, code: str, message: str) -> str:
    return f"HTTP {status}{' ' + code if code else ''}{': ' + message if message else ''}"


def _qualtrics_language(locale: str, fallback: str) -> str:
    """The contact's language as Qualtrics writes it (``nl-BE`` -> ``NL``): Qualtrics shows the survey and
    a library message in that translation, or in the survey's own language when it has none, so the
    contact's own language is passed even when tierctl has no text in it; no locale: ``fallback``."""
    from tierctl.i18n.text import is_language

    code = locale if is_language(locale) else fallback
    return code.replace("_", "-").split("-")[0].upper()


def _rounds(invitations: list[Invitation]) -> list[list[Invitation]]:
    """Split so that no address appears twice in a round (a mailing list holds an address once)."""
    rounds: list[list[Invitation]] = []
    used: list[set[str]] = []
    for invitation in invitations:
        address = invitation.contact_email.strip().lower()
        for members, addresses in zip(rounds, used):
            if address not in addresses:
                members.append(invitation)
                addresses.add(address)
                break
        else:
            rounds.append([invitation])
            used.append({address})
    return rounds
