"""A local double of the Zendesk Support API v2, on a real HTTP server on 127.0.0.1.

It follows Zendesk's documented shapes (../shared/providers-wave2.md, section 3):

* auth: HTTP Basic ``{email}/token:{api_token}`` or ``Authorization: Bearer <oauth token>``;
  anything else gets ``401 {"error": "Couldn't authenticate you"}``;
* a per-minute rate limit (``limit_per_minute``; the minute can be shortened with
  ``minute_seconds``) with ``X-Rate-Limit`` / ``X-Rate-Limit-Remaining`` on every answer;
  over it, ``429`` with ``Retry-After`` (seconds) and the plain-text body Zendesk sends,
  "Number of allowed API requests per minute exceeded";
* cursor pagination on ``/organizations`` and ``/satisfaction_ratings`` (``page[size]`` up to
  100, ``page[after]``; ``meta {has_more, after_cursor, before_cursor}``, ``links {next, prev}``),
  offset pagination (``next_page``, ``count``) without ``page[size]``;
* SLA policies (``GET|POST /slas/policies``, ``PUT /slas/policies/{id}``): ``title`` and
  ``filter`` required, ``policy_metrics[].priority`` one of low/normal/high/urgent, ``metric``
  one of Zendesk's, ``target`` a whole number of minutes; otherwise ``422`` with
  ``{"error": "RecordInvalid", "description": "Record validation errors", "details": {...}}``;
* ``PUT /organizations/{id}`` (tags replace the organisation's tags, lower-cased);
  ``404 {"error": "RecordNotFound", "description": "Not found"}`` for an unknown id;
* ``GET /satisfaction_ratings`` with ``score`` (``received`` = good or bad, ``good``, ``bad``,
  ...) and ``start_time`` / ``end_time`` (Unix seconds, on ``created_at``), oldest first.

Counters: :attr:`calls` (by ``METHOD path``), :attr:`rate_limited`, :attr:`writes`.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from tierctl.testing.http_double import HttpDouble, Reply, Request, route

EMAIL = "ops@acme.example"
TOKEN = "zd-api-token-6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"
OAUTH = "zd-oauth-7f1c0a1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
PRIORITIES = {"low", "normal", "high", "urgent"}
METRICS = {"first_reply_time", "next_reply_time", "periodic_update_time", "pausable_update_time",
           "agent_work_time", "requester_wait_time", "total_resolution_time"}
SCORES = {"offered", "unoffered", "received", "received_with_comment", "received_without_comment", "good",
          "good_with_comment", "good_without_comment", "bad", "bad_with_comment", "bad_without_comment"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def invalid(details: dict[str, str]) -> Reply:
    return Reply.json({"error": "RecordInvalid", "description": "Record validation errors",
                       "details": {field: [{"description": f"{field.capitalize()}: {text}", "error": "InvalidValue"}]
                                   for field, text in details.items()}}, 422)


class ZendeskDouble(HttpDouble):
    """Zendesk's organisations, SLA policies and satisfaction ratings, with auth and a rate limit."""

    def __init__(self, *, limit_per_minute: int = 700, minute_seconds: float = 60.0, record: bool = True):
        super().__init__(record=record)
        self.limit = limit_per_minute
        self.minute_seconds = minute_seconds
        self.organizations: dict[int, dict[str, Any]] = {}
        self.policies: dict[int, dict[str, Any]] = {}
        self.ratings: list[dict[str, Any]] = []
        self._rated_at: dict[int, float] = {}  # rating id -> created_at in Unix seconds, parsed once
        self._listing: dict[tuple[Any, ...], list[dict[str, Any]]] = {}  # a filtered, sorted list per query
        self.calls: Counter[str] = Counter()
        self.rate_limited = 0
        self.writes = 0
        self._ids = itertools.count(360000000001)
        self._window: list[float] = []
        self._rate_lock = threading.Lock()

    # -- the account's data -----------------------------------------------------------------

    def add_organization(self, name: str, external_id: str | None = None, tags: list[str] | None = None) -> int:
        org_id = next(self._ids)
        self.organizations[org_id] = {"id": org_id, "url": f"{self.url}/api/v2/organizations/{org_id}.json",
                                      "name": name, "external_id": external_id, "tags": list(tags or []),
                                      "domain_names": [], "details": "", "notes": "", "group_id": None,
                                      "shared_tickets": False, "shared_comments": False, "organization_fields": {},
                                      "created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z"}
        return org_id

    def add_rating(self, organization_id: int | None, score: str, created_at: datetime, comment: str = "") -> int:
        rating_id = next(self._ids)
        self._rated_at[rating_id] = created_at.timestamp()
        self._listing.clear()
        self.ratings.append({"id": rating_id, "url": f"{self.url}/api/v2/satisfaction_ratings/{rating_id}.json",
                             "assignee_id": 1, "group_id": 2, "requester_id": 3, "ticket_id": next(self._ids),
                             "organization_id": organization_id, "score": score, "comment": comment or None,
                             "reason": None, "reason_code": 0, "created_at": _iso(created_at),
                             "updated_at": _iso(created_at)})
        return rating_id

    def rate_again(self, rating_id: int, score: str, updated_at: datetime) -> None:
        """The customer changes their rating (``created_at`` stays)."""
        with self.lock:
            rating = next(r for r in self.ratings if r["id"] == rating_id)
            rating.update(score=score, updated_at=_iso(updated_at))
            self._listing.clear()

    # -- the gate every request passes ------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if not self._authorized(request.headers.get("authorization", "")):
            return Reply.json({"error": "Couldn't authenticate you"}, 401)
        now = time.monotonic()
        with self._rate_lock:
            self._window = [t for t in self._window if now - t < self.minute_seconds]
            if len(self._window) >= self.limit:
                self.rate_limited += 1
                wait = max(1, int(self.minute_seconds - (now - self._window[0]) + 0.999))
                return Reply(429, b"Number of allowed API requests per minute exceeded",
                             {"Content-Type": "text/plain", "Retry-After": str(wait), "X-Rate-Limit": str(self.limit),
                              "X-Rate-Limit-Remaining": "0"})
            self._window.append(now)
            remaining = self.limit - len(self._window)
        self.calls[f"{request.method} {request.route}"] += 1
        reply = super().handle(request)
        reply.headers.update({"X-Rate-Limit": str(self.limit), "X-Rate-Limit-Remaining": str(remaining)})
        return reply

    @staticmethod
    def _authorized(header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value == OAUTH
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value).decode()
            except (ValueError, UnicodeDecodeError):
                return False
            return decoded == f"{EMAIL}/token:{TOKEN}"
        return False

    # -- pagination --------------------------------------------------------------------------

    def _page(self, request: Request, key: str, items: list[dict[str, Any]]) -> Reply | dict[str, Any]:
        query = request.query
        base = f"{self.url}{request.route}"
        keep = {k: v for k, v in query.items() if not k.startswith("page")}
        if "page[size]" not in query:  # offset pagination
            per_page = min(int(query.get("per_page", 100)), 100)
            page = int(query.get("page", 1))
            if page * per_page > 10000:
                return Reply.json({"error": "InvalidPaginationParameter",
                                   "description": "Offset pagination is limited to the first 100 pages. "
                                                  "Use cursor pagination instead."}, 400)
            chunk = [dict(x) for x in items[(page - 1) * per_page: page * per_page]]
            more = page * per_page < len(items)
            return {key: chunk, "count": len(items),
                    "next_page": f"{base}?{urlencode({**keep, 'page': page + 1, 'per_page': per_page})}" if more else None,
                    "previous_page": None if page == 1 else f"{base}?{urlencode({**keep, 'page': page - 1})}"}
        try:
            size = int(query["page[size]"])
        except ValueError:
            return Reply.json({"error": "InvalidPaginationParameter", "description": "page[size] must be a number"}, 400)
        if not 1 <= size <= 100:
            return Reply.json({"error": "InvalidPaginationParameter",
                               "description": "page[size] must be between 1 and 100"}, 400)
        start = 0
        if query.get("page[after]"):
            try:
                start = int(base64.urlsafe_b64decode(query["page[after]"].encode()).decode())
            except ValueError:
                return Reply.json({"error": "InvalidPaginationParameter", "description": "invalid cursor"}, 400)
        chunk = [dict(x) for x in items[start:start + size]]
        after = base64.urlsafe_b64encode(str(start + len(chunk)).encode()).decode()
        before = base64.urlsafe_b64encode(str(start).encode()).decode()
        more = start + len(chunk) < len(items)
        return {key: chunk, "meta": {"has_more": more, "after_cursor": after if chunk else None,
                                     "before_cursor": before if chunk else None},
                "links": {"next": f"{base}?{urlencode({**keep, 'page[size]': size, 'page[after]': after})}" if more
                          else None,
                          "prev": f"{base}?{urlencode({**keep, 'page[size]': size, 'page[before]': before})}"
                          if start else None}}

    # -- organizations ----------------------------------------------------------------------

    @route("GET", "/api/v2/organizations")
    def list_organizations(self, request: Request) -> Any:
        with self.lock:
            return self._page(request, "organizations", [dict(o) for _, o in sorted(self.organizations.items())])

    @route("PUT", "/api/v2/organizations/{org_id}")
    def update_organization(self, request: Request, org_id: str) -> Any:
        with self.lock:
            org = self.organizations.get(int(org_id)) if org_id.isdigit() else None
            if org is None:
                return Reply.json({"error": "RecordNotFound", "description": "Not found"}, 404)
            body = (request.json() or {}).get("organization")
            if not isinstance(body, dict):
                return Reply.json({"error": "InvalidEndpoint", "description": "organization is required"}, 400)
            if "tags" in body:
                org["tags"] = list(dict.fromkeys(str(t).lower() for t in body["tags"]))
            self.writes += 1
            return {"organization": dict(org)}

    # -- SLA policies -----------------------------------------------------------------------

    @route("GET", "/api/v2/slas/policies")
    def list_policies(self, request: Request) -> Any:
        with self.lock:
            items = [dict(p) for p in sorted(self.policies.values(), key=lambda p: p["position"])]
            return {"sla_policies": items, "count": len(items), "next_page": None, "previous_page": None}

    def _checked_policy(self, body: Any, creating: bool) -> tuple[dict[str, Any] | None, Reply | None]:
        policy = body.get("sla_policy") if isinstance(body, dict) else None
        if not isinstance(policy, dict):
            return None, Reply.json({"error": "InvalidEndpoint", "description": "sla_policy is required"}, 400)
        problems: dict[str, str] = {}
        if creating and not str(policy.get("title") or "").strip():
            problems["title"] = "cannot be blank"
        if creating and not isinstance(policy.get("filter"), dict):
            problems["filter"] = "cannot be blank"
        for metric in policy.get("policy_metrics") or []:
            if metric.get("priority") not in PRIORITIES:
                problems["policy_metrics"] = f"priority {metric.get('priority')!r} is not valid"
            elif metric.get("metric") not in METRICS:
                problems["policy_metrics"] = f"metric {metric.get('metric')!r} is not valid"
            elif not isinstance(metric.get("target"), int) or isinstance(metric.get("target"), bool) \
                    or metric["target"] <= 0:
                problems["policy_metrics"] = "target must be a positive whole number of minutes"
        return (None, invalid(problems)) if problems else (policy, None)

    @staticmethod
    def _metrics(policy: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**m, "business_hours": bool(m.get("business_hours")), "target_in_seconds": m["target"] * 60}
                for m in policy.get("policy_metrics") or []]

    @route("POST", "/api/v2/slas/policies")
    def create_policy(self, request: Request) -> Any:
        policy, error = self._checked_policy(request.json(), creating=True)
        if error:
            return error
        with self.lock:
            policy_id = next(self._ids)
            stored = {"id": policy_id, "url": f"{self.url}/api/v2/slas/policies/{policy_id}.json",
                      "title": policy["title"], "description": policy.get("description") or "",
                      "position": len(self.policies) + 1, "filter": policy["filter"],
                      "policy_metrics": self._metrics(policy), "created_at": "2026-12-05T06:00:00Z",
                      "updated_at": "2026-12-05T06:00:00Z"}
            self.policies[policy_id] = stored
            self.writes += 1
            return 201, {"sla_policy": dict(stored)}

    @route("PUT", "/api/v2/slas/policies/{policy_id}")
    def update_policy(self, request: Request, policy_id: str) -> Any:
        with self.lock:
            stored = self.policies.get(int(policy_id)) if policy_id.isdigit() else None
            if stored is None:
                return Reply.json({"error": "RecordNotFound", "description": "Not found"}, 404)
            policy, error = self._checked_policy(request.json(), creating=False)
            if error:
                return error
            for key in ("title", "description", "filter"):
                if key in policy:
                    stored[key] = policy[key]
            if "policy_metrics" in policy:
                stored["policy_metrics"] = self._metrics(policy)
            self.writes += 1
            return {"sla_policy": dict(stored)}

    # -- satisfaction ratings ---------------------------------------------------------------

    @route("GET", "/api/v2/satisfaction_ratings")
    def list_ratings(self, request: Request) -> Any:
        query = request.query
        score = query.get("score")
        if score is not None and score not in SCORES:
            return Reply.json({"error": "InvalidValue", "description": f"score {score!r} is not valid"}, 400)
        start = int(query["start_time"]) if query.get("start_time") else None
        end = int(query["end_time"]) if query.get("end_time") else None

        def wanted(r: dict[str, Any]) -> bool:
            at = self._rated_at[r["id"]]
            if (start is not None and at < start) or (end is not None and at > end):
                return False
            s = r["score"]
            return score is None or s == score or (score == "received" and s in ("good", "bad")) or \
                (score in ("good", "bad") and s == score)

        with self.lock:  # paging through N ratings lists them once, not once a page
            key = (score, start, end)
            if key not in self._listing:
                self._listing[key] = sorted((r for r in self.ratings if wanted(r)),
                                            key=lambda r: (self._rated_at[r["id"]], r["id"]))
            return self._page(request, "satisfaction_ratings", self._listing[key])
