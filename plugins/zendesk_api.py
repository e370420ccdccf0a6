"""A small client for the Zendesk Support API v2: auth, rate limits, cursor pagination, errors.

* Auth: an API token as HTTP Basic ``{email}/token:{token}``, or an OAuth access token as
  ``Authorization: Bearer ...`` (developer.zendesk.com/api-reference/introduction/security-and-auth/).
* Rate limits: a ``429`` carries ``Retry-After`` in seconds; the client waits that long (at
  most ``max_wait`` each time) and tries again, up to ``max_retries`` times.
* Pagination: cursor pagination (``page[size]``, then ``links.next`` while ``meta.has_more``),
  for lists that support it; offset pagination (``next_page``) otherwise.
* Errors: Zendesk's bodies, ``{"error": "RecordInvalid", "description": ..., "details":
  {field: [{"description": ...}]}}`` or ``{"error": "Couldn't authenticate you"}``, become a
  :class:`ZendeskError` whose message names the call and what Zendesk said, never the token.

Every request has a timeout, and answers are read up to ``MAX_BODY`` bytes.

It uses ``requests`` directly, with one request helper (:meth:`ZendeskClient.call`), until the
shared client ``tierctl.http`` is available.
"""

from __future__ import annotations

import time
from typing import Any, Iterator
from urllib.parse import urlsplit

from tierctl.errors import TierctlError

#: Largest answer read (a page of 100 organisations is well under 1 MiB).
MAX_BODY = 16 * 1024 * 1024
PAGE_SIZE = 100


class ZendeskError(TierctlError):
    """Zendesk refused or could not answer a call; the message says which and why."""


class ZendeskClient:
    """Calls to one Zendesk account. ``base_url`` is ``https://{subdomain}.zendesk.com``."""

    def __init__(self, base_url: str, *, email: str | None = None, token: str | None = None,
                 oauth_token: str | None = None, timeout: float = 30.0, max_retries: int = 5,
                 max_wait: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url).netloc
        self._secret = token or oauth_token or ""
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.requests_made = 0
        self.rate_limited = 0
        self._auth = ((f"{email}/token", token) if token else None)
        self._headers = {"Accept": "application/json", "User-Agent": "tierctl"}
        if oauth_token and not token:
            self._headers["Authorization"] = f"Bearer {oauth_token}"
        self._session: Any = None

    def _http(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers.update(self._headers)
            self._session.auth = self._auth
        return self._session

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One call (``path`` from ``/api/v2/...`` or a full URL Zendesk gave); the decoded JSON answer."""
        import requests

        url = path if path.startswith("http") else self.base_url + path
        if urlsplit(url).netloc != self._origin:  # a next-page link elsewhere would carry our credentials
            raise ZendeskError(f"Zendesk sent a link to another host ({urlsplit(url).netloc}); refusing to follow it")
        waits = 0
        while True:
            self.requests_made += 1
            try:
                response = self._http().request(method, url, json=body, params=params, timeout=self.timeout,
                                                allow_redirects=False, stream=True)
                content = response.raw.read(MAX_BODY + 1, decode_content=True)
            except requests.exceptions.RequestException as exc:
                raise ZendeskError(f"cannot reach Zendesk at {self._origin} ({method} {_short(url)}): "
                                   f"{type(exc).__name__}") from None
            if len(content) > MAX_BODY:
                raise ZendeskError(f"Zendesk's answer to {method} {_short(url)} is larger than {MAX_BODY} bytes")
            status = response.status_code
            if status == 429 and waits < self.max_retries:
                self.rate_limited += 1
                waits += 1
                time.sleep(min(_seconds(response.headers.get("Retry-After")), self.max_wait))
                continue
            if 200 <= status < 300:
                if not content:
                    return {}
                try:
                    import json

                    return json.loads(content)
                except ValueError:
                    raise ZendeskError(f"Zendesk answered {method} {_short(url)} with something that is not "
                                       "JSON") from None
            raise ZendeskError(f"Zendesk refused {method} {_short(url)}: HTTP {status} "
                               f"{_describe(content, self._secret)}{_hint(status)}")

    def cursor_pages(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list (``key`` holds the items)."""
        page: Any = self.call("GET", path, params={**(params or {}), "page[size]": PAGE_SIZE})
        while True:
            yield from page.get(key) or []
            meta, links = page.get("meta") or {}, page.get("links") or {}
            if not meta.get("has_more") or not links.get("next"):
                return
            page = self.call("GET", links["next"])

    def offset_pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        """Every item of a list with offset pagination (``next_page`` URLs)."""
        page: Any = self.call("GET", path)
        while True:
            yield from page.get(key) or []
            if not page.get("next_page"):
                return
            page = self.call("GET", page["next_page"])


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def _short(url: str) -> str:
    return urlsplit(url).path


def _describe(content: bytes, secret: str) -> str:
    """What Zendesk said: ``RecordInvalid: Record validation errors (title: cannot be blank)``."""
    import json

    try:
        data = json.loads(content)
    except ValueError:
        text = content[:200].decode("utf-8", "replace").strip()
    else:
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):  # some endpoints nest it: {"error": {"title", "message"}}
                error = f"{error.get('title', '')}: {error.get('message', '')}"
            text = str(error or "")
            if data.get("description"):
                text += f": {data['description']}"
            details = data.get("details")
            if isinstance(details, dict):
                parts = [f"{field}: {d.get('description', d)}" for field, items in details.items()
                         for d in (items if isinstance(items, list) else [items]) if isinstance(d, dict)]
                if parts:
                    text += f" ({'; '.join(parts)})"
        else:
            text = str(data)[:200]
    return text.replace(secret, "***") if secret else text


def _hint(status: int) -> str:
    if status == 401:
        return "; check helpdesks.<name>.email and token (an API token) or oauth_token"
    if status == 403:
        return "; the user needs admin rights for SLA policies and satisfaction ratings"
    if status == 429:
        return "; the rate limit was still reached after retrying; run again later"
    return ""
