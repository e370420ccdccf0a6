"""The Zendesk Support API v2 client: ``tierctl.http.HttpClient`` with Zendesk's auth, pages and errors.

* Auth: an API token as HTTP Basic ``{email}/token:{token}``, or an OAuth access token as
  ``Authorization: Bearer ...`` (developer.zendesk.com/api-reference/introduction/security-and-auth/).
* Rate limits and outages: the shared client retries a ``429`` after its ``Retry-After``
  (capped), and 5xx answers and dropped connections of idempotent calls with back-off; a
  ``POST`` that may have reached Zendesk is not repeated (a later sync finds what it made).
* Pagination: cursor pagination (``page[size]``, then ``links.next`` while ``meta.has_more``),
  for lists that support it; offset pagination (``next_page``) otherwise. A next-page link to
  another host is refused (it would carry the credentials there).
* Errors: Zendesk's bodies, ``{"error": "RecordInvalid", "description": ..., "details":
  {field: [{"description": ...}]}}`` or ``{"error": "Couldn't authenticate you"}``, become a
  :class:`ZendeskError` (exit 2) naming the call and what Zendesk said, never the token.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from tierctl.errors import TierctlError
from tierctl.http import HttpClient, MaybeSent
from tierctl.providers import ProviderError

if TYPE_CHECKING:
    import requests

PAGE_SIZE = 100


class ZendeskError(TierctlError):
    """Zendesk refused or could not answer a call; the message says which and why."""


class _Caller:
    """What :class:`tierctl.http.HttpClient` asks of the one it works for (it was written for survey
    providers): a name, the options (timeouts, retries, secrets to scrub), a clock to wait on."""

    name = "zendesk"
    paces_itself = False

    def __init__(self, instance: str, options: Any):
        self.instance = instance
        self.options = options

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def pace(self, tokens: float = 1.0) -> None:
        """Zendesk's limit is answered with 429 and Retry-After; nothing to pace ahead."""


class ZendeskClient(HttpClient):
    """Calls to one Zendesk account (``base_url`` is ``https://{subdomain}.zendesk.com``)."""

    def __init__(self, instance: str, options: Any, base_url: str):
        email, token = options.email, options.token.get_secret_value() if options.token else None
        if token:
            auth = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        else:
            auth = f"Bearer {options.oauth_token.get_secret_value()}"
        super().__init__(_Caller(instance, options), platform="Zendesk", base_url=base_url,
                         headers={"Authorization": auth}, timeout=options.timeout, max_retries=options.max_retries,
                         backoff_factor=options.backoff_factor, max_retry_after=options.max_retry_after)
        self._origin = urlsplit(self.base_url).netloc

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One call (``path`` from ``/api/v2/...`` or a full URL Zendesk gave); the decoded JSON answer."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if urlsplit(url).netloc != self._origin:
            raise ZendeskError(f"Zendesk sent a link to another host ({urlsplit(url).netloc}); refusing to follow it")
        what = f"{method} {urlsplit(url).path}"
        try:
            return self.json(method, url, json=body, params=params, what=what) or {}
        except (ProviderError, MaybeSent) as exc:  # unreachable, or no answer to a POST
            raise ZendeskError(str(exc).removeprefix(f"provider {self.provider.instance}: ")) from None

    def error_message(self, response: "requests.Response") -> str:
        return _describe(response.content)

    def error_for(self, response: "requests.Response", what: str, retries: int) -> Any:
        after = f" (after {retries} retries)" if retries else ""
        return ZendeskError(self.scrub(f"Zendesk refused {what}: HTTP {response.status_code} "
                                       f"{self.error_message(response)}{after}{_hint(response.status_code)}"))

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


def _describe(content: bytes) -> str:
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
    return text


def _hint(status: int) -> str:
    if status == 401:
        return "; check helpdesks.<name>.email and token (an API token) or oauth_token"
    if status == 403:
        return "; the user needs admin rights for SLA policies and satisfaction ratings"
    if status == 429:
        return "; the rate limit was still reached after retrying; run again later"
    return ""
