"""A local double of the Qualtrics API v3 on a real HTTP server on 127.0.0.1.

Base URL ``<double.url>/API/v3``; header ``X-API-TOKEN``; every JSON answer
in the envelope ``{result, meta{httpStatus, requestId[, error{errorCode,
errorMessage}]}}``. What it implements, as documented:

* ``POST /directories/{directoryId}/mailinglists {name}`` -> ``{id: CG_..}``;
* contact imports into a list: ``POST .../mailinglists/{id}/contactimports
  {contacts: [{firstName, lastName, email, extRef, language, unsubscribed,
  embeddedData}]}`` -> ``{id: PGRS_.., status: inProgress}``; ``GET
  .../contactimports/{importId}`` -> ``{percentComplete, status,
  contacts{count{added, updated, failed}}}`` (``import_polls`` polls before
  ``complete``); ``GET .../contactimports/{importId}/summary`` ->
  ``{contacts: [{contactId, extRef, email, status: added|updated|failed,
  errorMessage}]}``. A directory holds an address once (a second import of it
  is ``updated``, with the new embedded data);
* ``POST /distributions`` (checks the message, survey, list, contact and
  header) -> ``{id: EMD_..}``; each recipient becomes a :class:`Delivery`
  (what the respondent receives: the personal link and the embedded data);
* the asynchronous export: ``POST /surveys/{id}/export-responses {format:
  json, allowContinuation | continuationToken, startDate}`` -> ``{progressId}``;
  ``GET .../export-responses/{progressId}`` -> ``{percentComplete, status,
  fileId, continuationToken}`` (``export_polls`` polls before ``complete``);
  ``GET .../export-responses/{fileId}/file`` -> a real ZIP holding
  ``<survey name>.json`` = ``{"responses": [{responseId, values, labels,
  displayedFields, displayedValues}]}``. A continuation token exports what
  was recorded after the export that issued it.

* one response: ``GET /surveys/{id}/responses/{responseId}`` -> ``{responseId,
  values, labels, displayedFields, displayedValues}`` (404 ``RS_404`` unknown);
* event subscriptions: ``POST /eventsubscriptions/ {topics, publicationUrl,
  encrypt, sharedKey}`` -> ``{id}``; ``GET`` and ``DELETE
  /eventsubscriptions/{id}``; :meth:`event_delivery` is the signed form body
  Qualtrics posts to the publicationUrl.

Respondents: :meth:`respond` answers the delivery of an invite id with
``values`` by export column (``QID1``, ``QID3_TEXT``), and the response
carries the contact's embedded data (``invite_id``, ``tier``, ...) as
Qualtrics does.

Faults: :meth:`revoke` (401), :meth:`fail` (any status on a route, with or
without ``Retry-After``, or a slow answer), :meth:`refuse_contact` (partial
import results), ``duplicate_in_export``, ``requests_per_second`` (429 over
it, ``retry_after=False`` for none). :attr:`count` counts requests.
"""

from __future__ import annotations

import io
import json
import math
import re
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tierctl.testing.http_double import HttpDouble, Reply, Request, route

TOKEN = "qx-test-token-8Jd93kLq0PzW7vB2"
DIRECTORY = "POOL_2bGxkQ9"
LIBRARY = "UR_4ZkQ1pL"
MESSAGE = "MS_7pQeG2a"
P = "/API/v3"

_STATUS_TEXT = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable", 504: "Gateway Timeout"}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(11).replace('-', 'x').replace('_', 'y')}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(result: Any, status: int = 200, error: tuple[str, str] | None = None,
             headers: dict[str, str] | None = None) -> Reply:
    meta: dict[str, Any] = {"httpStatus": f"{status} - {_STATUS_TEXT.get(status, 'Error')}",
                            "requestId": secrets.token_hex(8)}
    body: dict[str, Any] = {"meta": meta}
    if error is not None:
        meta["error"] = {"errorCode": error[0], "errorMessage": error[1]}
    else:
        body["result"] = result
    return Reply.json(body, status, headers)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return envelope(None, status, (code, message), headers)


@dataclass
class Delivery:
    """One invitation e-mail a distribution sent: who, which link, which embedded data."""

    distribution_id: str
    survey_id: str
    contact_id: str
    email: str
    first_name: str
    last_name: str
    ext_ref: str
    embedded: dict[str, Any]
    link: str
    header: dict[str, Any]
    expires: str


@dataclass
class Survey:
    survey_id: str
    name: str
    responses: list[dict[str, Any]] = field(default_factory=list)


class QualtricsDouble(HttpDouble):
    """The Qualtrics API v3 for one brand: a directory, a message library, surveys."""

    def __init__(self, *, tokens: tuple[str, ...] = (TOKEN,), directory_id: str = DIRECTORY,
                 library_id: str = LIBRARY, message_id: str = MESSAGE, requests_per_second: float | None = None,
                 retry_after: bool = True, import_polls: int = 1, export_polls: int = 2, record: bool = True):
        super().__init__(record=record)
        self.tokens = set(tokens)
        self.revoked: set[str] = set()
        self.directory_id = directory_id
        self.messages = {(library_id, message_id)}
        self.requests_per_second = requests_per_second
        self.retry_after = retry_after
        self.import_polls = import_polls
        self.export_polls = export_polls
        self.duplicate_in_export = False
        self.surveys: dict[str, Survey] = {}
        self.contacts: dict[str, dict[str, Any]] = {}  # contact id -> directory contact
        self.lists: dict[str, dict[str, Any]] = {}  # list id -> {name, members: {contact id: embedded data}}
        self.imports: dict[str, dict[str, Any]] = {}
        self.distributions: dict[str, dict[str, Any]] = {}
        self.deliveries: list[Delivery] = []
        self.exports: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.continuations: dict[str, tuple[str, int]] = {}  # token -> (survey, position)
        self.refused: dict[str, str] = {}  # lower-case address -> why its import fails
        self.subscriptions: dict[str, dict[str, Any]] = {}  # event subscriptions by id
        self.throttled = 0
        self._bucket: tuple[float, float] | None = None
        self._bucket_lock = threading.Lock()

    # -- the brand -----------------------------------------------------------------------------

    def add_survey(self, survey_id: str, name: str = "Customer survey") -> Survey:
        with self.lock:
            survey = self.surveys[survey_id] = Survey(survey_id, name)
        return survey

    def revoke(self, token: str = TOKEN) -> None:
        with self.lock:
            self.revoked.add(token)

    def refuse_contact(self, email: str, message: str = "Invalid email address") -> None:
        """Imports of ``email`` fail for that contact only (the rest of the import goes on)."""
        with self.lock:
            self.refused[email.lower()] = message

    def fail(self, method: str, path: str, status: int, times: int = 1, *, retry_after: str | None = None,
             delay: float = 0.0, code: str | None = None) -> None:
        """The next ``times`` requests ``method`` whose path contains ``path`` get ``status`` (after ``delay``)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        reply = error(status, code or f"Q_{status}", _STATUS_TEXT.get(status, "Error"), headers)
        reply.delay = delay
        self.when(lambda r: r.method == method and path in r.route, *[reply] * times)

    def delivery(self, invite_id: str) -> Delivery:
        with self.lock:
            return next(d for d in reversed(self.deliveries) if d.embedded.get("invite_id") == invite_id)

    def respond(self, invite_id: str, values: dict[str, Any], *, labels: dict[str, Any] | None = None,
                finished: bool = True, recorded_at: datetime | None = None, response_id: str | None = None) -> str:
        """The recipient of ``invite_id``'s e-mail answers through its link; returns the response id."""
        d = self.delivery(invite_id)
        recorded = (recorded_at or self.now()).replace(microsecond=0)
        rid = response_id or _id("R")
        response = {
            "responseId": rid,
            "values": {
                "startDate": _iso(recorded - timedelta(seconds=95)), "endDate": _iso(recorded),
                "status": 0, "ipAddress": "192.0.2.7", "progress": 100 if finished else 40, "duration": 95,
                "finished": 1 if finished else 0, "recordedDate": _iso(recorded), "_recordId": rid,
                "locationLatitude": "52.37", "locationLongitude": "4.89",
                "recipientLastName": d.last_name, "recipientFirstName": d.first_name, "recipientEmail": d.email,
                "externalDataReference": d.ext_ref, "distributionChannel": "email", "userLanguage": "EN",
                **d.embedded, **values,
            },
            "labels": {"status": "IP Address", "finished": "True" if finished else "False", **(labels or {})},
            "displayedFields": sorted(values),
            "displayedValues": {},
        }
        with self.lock:
            self.surveys[d.survey_id].responses.append(response)
        return rid

    # -- faults and limits ---------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        token = request.headers.get("x-api-token", "")
        with self.lock:
            known = token in self.tokens and token not in self.revoked
        if not token:
            return error(401, "AUTH_1", "Missing X-API-TOKEN header")
        if not known:
            return error(401, "AUTH_2", "Invalid or revoked API token")
        wait = self._take()
        if wait > 0:
            with self.lock:
                self.throttled += 1
            headers = {"Retry-After": str(max(1, math.ceil(wait)))} if self.retry_after else {}
            return error(429, "Q_RATE_LIMIT", "Too many requests. Please slow down.", headers)
        if request.method == "POST" and request.body:
            try:
                json.loads(request.body)
            except ValueError:
                return error(400, "Q_BAD_JSON", "The request body is not valid JSON")
        return super().handle(request)

    def _take(self) -> float:
        rate = self.requests_per_second
        if not rate:
            return 0.0
        capacity = max(1.0, rate)
        now = time.monotonic()
        with self._bucket_lock:
            tokens, last = self._bucket or (capacity, now)
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens < 0.9:
                self._bucket = (tokens, now)
                return (1 - tokens) / rate
            self._bucket = (tokens - 1, now)
            return 0.0

    # -- mailing lists and contacts --------------------------------------------------------------

    @route("POST", P + "/directories/{directory_id}/mailinglists")
    def create_list(self, request: Request, directory_id: str) -> Reply:
        if directory_id != self.directory_id:
            return error(404, "DIR_404", f"Directory {directory_id} not found")
        body = request.json() or {}
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            return error(400, "ML_NAME", "name is required")
        list_id = _id("CG")
        with self.lock:
            self.lists[list_id] = {"name": body["name"], "members": {}}
        return envelope({"id": list_id})

    @route("POST", P + "/directories/{directory_id}/mailinglists/{list_id}/contactimports")
    def start_import(self, request: Request, directory_id: str, list_id: str) -> Reply:
        with self.lock:
            if directory_id != self.directory_id or list_id not in self.lists:
                return error(404, "ML_404", f"Mailing list {list_id} not found in {directory_id}")
        contacts = (request.json() or {}).get("contacts")
        if not isinstance(contacts, list) or not contacts:
            return error(400, "CI_EMPTY", "contacts must be a non-empty list")
        import_id = _id("PGRS")
        with self.lock:
            self.imports[import_id] = {"list": list_id, "contacts": contacts, "polls": self.import_polls,
                                       "summary": None}
        return envelope({"id": import_id, "tracking": {"url": f"{self.url}{request.route}/{import_id}"},
                         "status": "inProgress"})

    def _run_import(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        rows = []
        members = self.lists[job["list"]]["members"]
        for contact in job["contacts"]:
            email = str(contact.get("email") or "").strip()
            row: dict[str, Any] = {"extRef": contact.get("extRef"), "email": email}
            why = self.refused.get(email.lower())
            if why is None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
                why = "Invalid email address"
            if why is not None:
                rows.append({**row, "status": "failed", "errorMessage": why})
                continue
            existing = next((cid for cid, c in self.contacts.items() if c["email"].lower() == email.lower()), None)
            cid = existing or _id("CID")
            self.contacts[cid] = {"email": email, "firstName": contact.get("firstName", ""),
                                  "lastName": contact.get("lastName", ""), "extRef": contact.get("extRef"),
                                  "language": contact.get("language"),
                                  "embeddedData": dict(contact.get("embeddedData") or {})}
            members[cid] = dict(contact.get("embeddedData") or {})
            rows.append({**row, "contactId": cid, "status": "updated" if existing else "added"})
        return rows

    @route("GET", P + "/directories/{directory_id}/mailinglists/{list_id}/contactimports/{import_id}")
    def import_status(self, request: Request, directory_id: str, list_id: str, import_id: str) -> Reply:
        with self.lock:
            job = self.imports.get(import_id)
            if job is None or job["list"] != list_id:
                return error(404, "CI_404", f"Import {import_id} not found")
            if job["polls"] > 0:
                job["polls"] -= 1
                return envelope({"percentComplete": 50.0, "status": "inProgress"})
            if job["summary"] is None:
                job["summary"] = self._run_import(job)
            counts = {s: sum(1 for r in job["summary"] if r["status"] == s) for s in ("added", "updated", "failed")}
        return envelope({"percentComplete": 100.0, "status": "complete", "contacts": {"count": counts}})

    @route("GET", P + "/directories/{directory_id}/mailinglists/{list_id}/contactimports/{import_id}/summary")
    def import_summary(self, request: Request, directory_id: str, list_id: str, import_id: str) -> Reply:
        with self.lock:
            job = self.imports.get(import_id)
            if job is None or job["list"] != list_id:
                return error(404, "CI_404", f"Import {import_id} not found")
            if job["summary"] is None:
                return error(409, "CI_RUNNING", "The import is not complete yet")
            return envelope({"contacts": job["summary"]})

    # -- distributions -------------------------------------------------------------------------

    @route("POST", P + "/distributions")
    def distribute(self, request: Request) -> Reply:
        body = request.json() or {}
        message = body.get("message") or {}
        recipients = body.get("recipients") or {}
        header = body.get("header") or {}
        link = body.get("surveyLink") or {}
        with self.lock:
            if (message.get("libraryId"), message.get("messageId")) not in self.messages:
                return error(400, "DIST_MSG", "Invalid libraryId or messageId")
            if link.get("surveyId") not in self.surveys:
                return error(400, "DIST_SURVEY", f"Invalid surveyId {link.get('surveyId')}")
            if link.get("type") != "Individual":
                return error(400, "DIST_LINK", "surveyLink.type must be Individual, Multiple or Anonymous")
            if not header.get("fromEmail") or not header.get("subject"):
                return error(400, "DIST_HEADER", "header.fromEmail and header.subject are required")
            if not body.get("sendDate"):
                return error(400, "DIST_DATE", "sendDate is required")
            members = (self.lists.get(recipients.get("mailingListId")) or {}).get("members")
            if members is None:
                return error(400, "DIST_LIST", f"Invalid mailingListId {recipients.get('mailingListId')}")
            targets = list(members)
            if recipients.get("contactId") is not None:
                if recipients["contactId"] not in members:
                    return error(400, "DIST_CONTACT", f"Contact {recipients['contactId']} is not in the list")
                targets = [recipients["contactId"]]
            distribution_id = _id("EMD")
            sv = link["surveyId"]
            self.distributions[distribution_id] = {**body, "contacts": targets}
            for cid in targets:
                contact = self.contacts[cid]
                self.deliveries.append(Delivery(
                    distribution_id, sv, cid, contact["email"], contact["firstName"], contact["lastName"],
                    contact["extRef"], dict(members[cid]),
                    f"{self.url}/jfe/form/{sv}?Q_DL={distribution_id}_{sv}_MLRP_{cid}_1", dict(header),
                    str(link.get("expirationDate") or "")))
        return envelope({"id": distribution_id})

    # -- response exports ----------------------------------------------------------------------

    @route("POST", P + "/surveys/{survey_id}/export-responses")
    def start_export(self, request: Request, survey_id: str) -> Reply:
        body = request.json() or {}
        with self.lock:
            survey = self.surveys.get(survey_id)
            if survey is None:
                return error(404, "SV_404", f"Survey {survey_id} not found")
            if body.get("format") not in ("json", "ndjson", "csv", "tsv", "xml", "spss"):
                return error(400, "EXP_FORMAT", "format is required: json, ndjson, csv, tsv, xml or spss")
            token = body.get("continuationToken")
            if token is not None:
                if any(k in body for k in ("startDate", "endDate", "filterId")):
                    return error(400, "EXP_CONT", "continuationToken cannot be combined with filters or dates")
                where = self.continuations.get(token)
                if where is None or where[0] != survey_id:
                    return error(400, "EXP_TOKEN", "Invalid continuation token")
                start = where[1]
            else:
                start = 0
            since = body.get("startDate")
            export_id = _id("ES")
            self.exports[export_id] = {"survey": survey_id, "start": start, "since": since,
                                       "continue": bool(token) or bool(body.get("allowContinuation")),
                                       "polls": self.export_polls, "file": None, "token": None,
                                       "format": body["format"]}
        return envelope({"progressId": export_id, "percentComplete": 0.0, "status": "inProgress"})

    @route("GET", P + "/surveys/{survey_id}/export-responses/{export_id}")
    def export_progress(self, request: Request, survey_id: str, export_id: str) -> Reply:
        with self.lock:
            job = self.exports.get(export_id)
            if job is None or job["survey"] != survey_id:
                return error(404, "EXP_404", f"Export {export_id} not found")
            if job["polls"] > 0:
                job["polls"] -= 1
                return envelope({"percentComplete": 40.0, "status": "inProgress"})
            if job["file"] is None:
                self._finish_export(job)
            result = {"percentComplete": 100.0, "status": "complete", "fileId": job["file"]}
            if job["token"]:
                result["continuationToken"] = job["token"]
        return envelope(result)

    def _finish_export(self, job: dict[str, Any]) -> None:
        survey = self.surveys[job["survey"]]
        end = len(survey.responses)
        chosen = survey.responses[job["start"]:end]
        if job["since"]:
            chosen = [r for r in chosen if r["values"]["recordedDate"] >= job["since"]]
        chosen = [r for r in chosen if r["values"]["finished"]]
        if self.duplicate_in_export and chosen:
            chosen = chosen + [chosen[0]]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{survey.name}.json", json.dumps({"responses": chosen}, ensure_ascii=False))
        file_id = f"{_id('ES')}-file"
        self.files[file_id] = buffer.getvalue()
        job["file"] = file_id
        if job["continue"]:
            token = secrets.token_urlsafe(24)
            self.continuations[token] = (job["survey"], end)
            job["token"] = token

    @route("GET", P + "/surveys/{survey_id}/responses/{response_id}")
    def get_response(self, request: Request, survey_id: str, response_id: str) -> Reply:
        """One response: ``{responseId, values, labels, displayedFields, displayedValues}``."""
        with self.lock:
            survey = self.surveys.get(survey_id)
            if survey is None:
                return error(404, "SV_404", f"Survey {survey_id} not found")
            found = next((r for r in survey.responses if r["responseId"] == response_id), None)
        if found is None:
            return error(404, "RS_404", f"Response {response_id} not found")
        return envelope(json.loads(json.dumps(found)))

    # -- event subscriptions (webhooks) ----------------------------------------------------------

    @route("POST", P + "/eventsubscriptions/")
    def subscribe(self, request: Request) -> Reply:
        body = request.json() or {}
        topics, url = body.get("topics"), body.get("publicationUrl")
        if not isinstance(topics, str) or not topics or not isinstance(url, str) or not url:
            return error(400, "ES_BODY", "topics and publicationUrl are required")
        subscription_id = _id("SUB")
        with self.lock:
            self.subscriptions[subscription_id] = {"id": subscription_id, "topics": topics, "publicationUrl": url,
                                                   "encrypted": bool(body.get("encrypt")),
                                                   "sharedKey": body.get("sharedKey"), "successfulCalls": 0}
        return envelope({"id": subscription_id})

    @route("GET", P + "/eventsubscriptions/{subscription_id}")
    def subscription(self, request: Request, subscription_id: str) -> Reply:
        with self.lock:
            found = self.subscriptions.get(subscription_id)
        if found is None:
            return error(404, "ES_404", f"Subscription {subscription_id} not found")
        return envelope({k: v for k, v in found.items() if k != "sharedKey"})

    @route("DELETE", P + "/eventsubscriptions/{subscription_id}")
    def unsubscribe(self, request: Request, subscription_id: str) -> Reply:
        with self.lock:
            if self.subscriptions.pop(subscription_id, None) is None:
                return error(404, "ES_404", f"Subscription {subscription_id} not found")
        return envelope({})

    def event_delivery(self, survey_id: str, response_id: str, shared_key: str | None,
                       brand: str = "acmebrand") -> bytes:
        """The form body Qualtrics posts to a ``surveyengine.completedResponse`` subscription's
        publicationUrl: ``Topic``, ``MSG`` (JSON) and, with a shared key, ``HMAC`` =
        hex(HMAC-SHA512(sharedKey, MSG)) (see ../shared/providers-wave2.md section 6)."""
        import hashlib
        import hmac
        from urllib.parse import urlencode

        msg = json.dumps({"Status": "Complete", "SurveyID": survey_id, "ResponseID": response_id,
                          "CompletedDate": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                          "BrandID": brand}, separators=(",", ":"))
        fields = {"Topic": f"{brand}.surveyengine.completedResponse.{survey_id}", "MSG": msg}
        if shared_key is not None:
            fields["HMAC"] = hmac.new(shared_key.encode(), msg.encode(), hashlib.sha512).hexdigest()
        return urlencode(fields).encode()

    @route("GET", P + "/surveys/{survey_id}/export-responses/{file_id}/file")
    def export_file(self, request: Request, survey_id: str, file_id: str) -> Reply:
        with self.lock:
            data = self.files.get(file_id)
        if data is None:
            return error(404, "EXP_FILE", f"File {file_id} not found")
        return Reply(200, data, {"Content-Type": "application/octet-stream",
                                 "Content-Disposition": f'attachment; filename="{file_id}.zip"'})
