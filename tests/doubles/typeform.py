"""A local double of Typeform's Responses API, on a real HTTP server on 127.0.0.1.

It follows the documented shapes: ``Authorization: bearer <token>``;
``GET /forms/{form_id}/responses`` with ``page_size`` (1..1000), ``since`` /
``until`` (inclusive, ISO 8601 UTC to the second or a Unix timestamp),
``after`` / ``before`` (response tokens, exclusive; refused together with
``sort``), ``completed`` and ``sort`` (``submitted_at,asc|desc``, default
desc); the envelope ``{total_items, page_count, items}``; items with
``response_id, token, landed_at, submitted_at, metadata, hidden,
calculated{score}, answers[{field{id,type,ref}, type, <value>}]``; errors as
``{code, description, details}``; 2 requests per second per account (a
token bucket), over it 429 with ``Retry-After`` (or without, as configured).

Respondents answer through the link an invitation carried::

    with TypeformDouble() as tf:
        tf.add_form("u6nXL7", {"nps_ref": "nps", "agenda": "long_text"})
        tf.respond(link_from_the_email, {"nps_ref": 9, "agenda": "More API docs"})
        tf.respond(link, {...}, indexed=False)   # Typeform indexes some responses late
        tf.index_all()

Hidden fields come from the link's fragment and only those declared on the
form are kept, as Typeform does. Faults: :meth:`revoke`, :meth:`fail_next`
(401/429/500 with Typeform's error bodies), :meth:`slow_next` (timeouts),
``duplicate_across_pages`` (each page after the first repeats the previous
page's last item), ``retry_after=False`` (429 without the header), and the
base class's ``script``/``when`` for anything else. :attr:`count` counts
requests, :attr:`throttled` the 429s the rate limit gave.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tierctl.testing.http_double import HttpDouble, Reply, Request, route

TOKEN = "tfp_test-token-5dG8kq2W0xR7vLmN3pZ"

#: Typeform field types and the answer type they produce.
ANSWER_TYPES = {
    "opinion_scale": "number", "rating": "number", "nps": "number", "number": "number",
    "short_text": "text", "long_text": "text",
    "multiple_choice": "choice", "dropdown": "choice", "picture_choice": "choice",
    "yes_no": "boolean", "legal": "boolean",
    "email": "email", "date": "date", "phone_number": "phone_number", "website": "url",
}


@dataclass
class Form:
    form_id: str
    fields: dict[str, str]  # ref -> Typeform field type
    hidden: tuple[str, ...]
    title: str = "A form"
    field_ids: dict[str, str] = field(default_factory=dict)  # ref -> field id


def api_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _query_time(value: str) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), timezone.utc)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class TypeformDouble(HttpDouble):
    """Typeform's Responses API for one or more accounts (tokens)."""

    def __init__(self, *, tokens: tuple[str, ...] = (TOKEN,), requests_per_second: float = 2.0,
                 retry_after: bool = True, record: bool = True):
        super().__init__(record=record)
        self.tokens = set(tokens)
        self.revoked: set[str] = set()
        self.requests_per_second = requests_per_second
        self.retry_after = retry_after
        self.duplicate_across_pages = False
        self.forms: dict[str, Form] = {}
        self.responses: dict[str, list[dict[str, Any]]] = {}  # form id -> items in processing order
        self.unindexed: dict[str, list[dict[str, Any]]] = {}
        self.throttled = 0
        self.webhooks: dict[tuple[str, str], dict[str, Any]] = {}  # (form id, tag) -> webhook
        self._buckets: dict[str, tuple[float, float]] = {}  # token -> (tokens, last time)
        self._bucket_lock = threading.Lock()

    # -- the account ---------------------------------------------------------------------------

    def add_form(self, form_id: str, fields: dict[str, str], hidden: tuple[str, ...] = ("invite_id", "tier"),
                 title: str = "A form") -> Form:
        """A form with fields ``{ref: type}`` (types as in :data:`ANSWER_TYPES`) and hidden fields."""
        for kind in fields.values():
            if kind not in ANSWER_TYPES:
                raise ValueError(f"unknown field type {kind!r}")
        form = Form(form_id, dict(fields), tuple(hidden), title,
                    {ref: f"fld{n}{form_id[:4]}" for n, ref in enumerate(fields, 1)})
        with self.lock:
            self.forms[form_id] = form
            self.responses.setdefault(form_id, [])
            self.unindexed.setdefault(form_id, [])
        return form

    def revoke(self, token: str = TOKEN) -> None:
        """The token stops working (401), as when a user revokes it."""
        with self.lock:
            self.revoked.add(token)

    def respond(self, link: str, answers: dict[str, Any], *, submitted_at: datetime | None = None,
                completed: bool = True, indexed: bool = True, response_id: str | None = None) -> str:
        """A respondent opens ``link`` (``.../to/<form_id>#hidden=..``) and submits ``answers`` by ref.

        Returns the response id (= token). ``indexed=False`` keeps it out of
        the API until :meth:`index_all`, like a response Typeform indexes late.
        """
        parts = urlsplit(link)
        form_id = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
        with self.lock:
            form = self.forms[form_id]
        given = dict(parse_qsl(parts.fragment, keep_blank_values=True))
        hidden = {name: given.get(name, "") for name in form.hidden}
        submitted = (submitted_at or self.now()).astimezone(timezone.utc).replace(microsecond=0)
        token = response_id or secrets.token_hex(16)
        item = {
            "landing_id": token,
            "token": token,
            "response_id": token,
            "landed_at": api_time(submitted - timedelta(seconds=75)),
            "submitted_at": api_time(submitted) if completed else None,
            "metadata": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "platform": "other",
                         "referer": link, "network_id": secrets.token_hex(5), "browser": "default"},
            "hidden": hidden,
            "calculated": {"score": 0},
            "answers": [self._answer(form, ref, value) for ref, value in answers.items()],
            "_completed": completed,
            "_submitted": submitted,
        }
        with self.lock:
            (self.responses if indexed else self.unindexed)[form_id].append(item)
        return token

    def index_all(self) -> None:
        """Late responses become visible (appended in processing order)."""
        with self.lock:
            for form_id, items in self.unindexed.items():
                self.responses[form_id].extend(items)
                items.clear()

    def _answer(self, form: Form, ref: str, value: Any) -> dict[str, Any]:
        kind = form.fields[ref]
        answer_type = ANSWER_TYPES[kind]
        answer: dict[str, Any] = {"field": {"id": form.field_ids[ref], "type": kind, "ref": ref}}
        if answer_type == "choice" and isinstance(value, (list, tuple)):
            answer.update(type="choices", choices={"labels": list(value)})
        elif answer_type == "choice":
            answer.update(type="choice", choice={"label": value})
        else:
            answer.update(type=answer_type, **{answer_type: value})
        return answer

    # -- webhooks ------------------------------------------------------------------------------

    def webhook_delivery(self, form_id: str, response_id: str, secret: str) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers Typeform POSTs for a ``form_response`` (body ends in a newline)."""
        import base64
        import hashlib
        import hmac

        with self.lock:
            form = self.forms[form_id]
            item = next(i for i in self.responses[form_id] + self.unindexed[form_id] if i["token"] == response_id)
        payload = {
            "event_id": secrets.token_hex(13).upper(),
            "event_type": "form_response",
            "form_response": {
                "form_id": form_id, "token": item["token"], "landed_at": item["landed_at"],
                "submitted_at": item["submitted_at"], "hidden": item["hidden"], "calculated": item["calculated"],
                "definition": {"id": form_id, "title": form.title,
                               "fields": [{"id": form.field_ids[ref], "ref": ref, "type": kind, "title": ref}
                                          for ref, kind in form.fields.items()]},
                "answers": item["answers"],
            },
        }
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n"
        signature = "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return body, {"Content-Type": "application/json", "Typeform-Signature": signature}

    # -- faults --------------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """The next ``times`` requests get ``status`` with Typeform's error body."""
        code, description = {
            401: ("AUTHENTICATION_FAILED", "Authentication credentials not found on the Request Headers"),
            403: ("FORBIDDEN", "You do not have the required scope (responses:read)"),
            429: ("RATE_LIMIT_EXCEEDED", "Too many requests"),
        }.get(status, ("INTERNAL_SERVER_ERROR", "Something went wrong"))
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.script(*[Reply.json({"code": code, "description": description}, status, headers)] * times)

    def slow_next(self, delay: float, times: int = 1) -> None:
        """The next ``times`` requests are answered (with an error) only after ``delay`` seconds."""
        self.script(*[Reply.json({"code": "TIMEOUT", "description": "slow"}, 504, delay=delay)] * times)

    # -- the API -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._error(401, "AUTHENTICATION_FAILED",
                               "Authentication credentials not found on the Request Headers")
        with self.lock:
            known = token in self.tokens and token not in self.revoked
        if not known:
            return self._error(401, "AUTHENTICATION_FAILED", "The access token is invalid or has been revoked")
        wait = self._take(token)
        if wait > 0:
            with self.lock:
                self.throttled += 1
            headers = {"Retry-After": str(max(1, math.ceil(wait)))} if self.retry_after else {}
            return Reply.json({"code": "RATE_LIMIT_EXCEEDED", "description": "Too many requests"}, 429, headers)
        return super().handle(request)

    def _take(self, token: str) -> float:
        """Take a request from the account's bucket; seconds to wait when it is empty, else 0."""
        rate = self.requests_per_second
        capacity = max(1.0, rate)
        now = time.monotonic()
        with self._bucket_lock:
            tokens, last = self._buckets.get(token, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens < 0.9:  # a little slack for requests that arrive closer than they were sent
                self._buckets[token] = (tokens, now)
                return (1 - tokens) / rate
            self._buckets[token] = (tokens - 1, now)
            return 0.0

    @staticmethod
    def _error(status: int, code: str, description: str, details: list[dict[str, Any]] | None = None) -> Reply:
        body: dict[str, Any] = {"code": code, "description": description}
        if details:
            body["details"] = details
        return Reply.json(body, status)

    @route("PUT", "/forms/{form_id}/webhooks/{tag}")
    def put_webhook(self, request: Request, form_id: str, tag: str) -> Reply:
        """Create or update a webhook: ``{url, enabled, secret, verify_ssl, event_types}``; 200 with it."""
        body = request.json() or {}
        with self.lock:
            if form_id not in self.forms:
                return self._error(404, "FORM_NOT_FOUND", f"Non existing form with uid {form_id}")
            if not isinstance(body, dict) or not str(body.get("url") or "").startswith(("http://", "https://")):
                return self._error(400, "VALIDATION_ERROR", "url is required",
                                   [{"code": "INVALID_FIELD", "field": "url", "in": "body"}])
            now = api_time(datetime.now(timezone.utc))
            old = self.webhooks.get((form_id, tag), {})
            hook = {"id": old.get("id") or secrets.token_hex(8).upper(), "form_id": form_id, "tag": tag,
                    "url": body["url"], "enabled": bool(body.get("enabled", False)),
                    "verify_ssl": bool(body.get("verify_ssl", True)), "secret": body.get("secret"),
                    "event_types": body.get("event_types") or {"form_response": True},
                    "created_at": old.get("created_at") or now, "updated_at": now}
            self.webhooks[(form_id, tag)] = hook
        return Reply.json(hook)

    @route("GET", "/forms/{form_id}/webhooks/{tag}")
    def get_webhook(self, request: Request, form_id: str, tag: str) -> Reply:
        with self.lock:
            hook = self.webhooks.get((form_id, tag))
        if hook is None:
            return self._error(404, "NOT_FOUND", f"Webhook {tag} not found for form {form_id}")
        return Reply.json(hook)

    @route("GET", "/forms/{form_id}/responses")
    def list_responses(self, request: Request, form_id: str) -> Reply:
        with self.lock:
            if form_id not in self.forms:
                return self._error(404, "FORM_NOT_FOUND", f"Non existing form with uid {form_id}")
            items = list(self.responses[form_id])
        q = request.query
        problems = []
        try:
            page_size = int(q.get("page_size", "25"))
            if not 1 <= page_size <= 1000:
                raise ValueError
        except ValueError:
            problems.append({"code": "INVALID_PARAMETER", "description": "page_size must be 1 to 1000",
                             "field": "page_size", "in": "query"})
            page_size = 25
        if ("after" in q or "before" in q) and "sort" in q:
            problems.append({"code": "INVALID_PARAMETER", "in": "query", "field": "sort",
                             "description": "sort cannot be used together with before or after"})
        sort = q.get("sort", "submitted_at,desc")
        if sort not in ("submitted_at,asc", "submitted_at,desc"):
            problems.append({"code": "INVALID_PARAMETER", "description": f"unsupported sort {sort}",
                             "field": "sort", "in": "query"})
        bounds: dict[str, datetime] = {}
        for name in ("since", "until"):
            if name in q:
                try:
                    bounds[name] = _query_time(q[name])
                except ValueError:
                    problems.append({"code": "INVALID_PARAMETER", "description": f"{name} is not a date",
                                     "field": name, "in": "query"})
        if problems:
            return self._error(400, "VALIDATION_ERROR", "Bad Request", problems)

        if q.get("completed") == "true":
            items = [i for i in items if i["_completed"]]
        elif q.get("completed") == "false":
            items = [i for i in items if not i["_completed"]]
        if "since" in bounds:
            items = [i for i in items if i["_submitted"] >= bounds["since"]]
        if "until" in bounds:
            items = [i for i in items if i["_submitted"] <= bounds["until"]]
        repeat = None
        if "after" in q or "before" in q:
            tokens = [i["token"] for i in items]
            if "after" in q:
                position = tokens.index(q["after"]) + 1 if q["after"] in tokens else 0
                if self.duplicate_across_pages and position:
                    repeat = items[position - 1]
                items = items[position:]
            if "before" in q:
                tokens = [i["token"] for i in items]
                items = items[:tokens.index(q["before"])] if q["before"] in tokens else items
        else:
            items = sorted(items, key=lambda i: i["_submitted"], reverse=sort.endswith("desc"))
        total = len(items)
        page = items[:page_size]
        if repeat is not None:
            page = [repeat] + page[:page_size - 1]
        return Reply.json({"total_items": total, "page_count": math.ceil(total / page_size) if total else 0,
                           "items": [{k: v for k, v in i.items() if not k.startswith("_")} for i in page]})
