"""The ``acme`` provider: survey invitations and responses through the Acme Surveys API.

::

    providers:
      acme:
        plugin: acme
        api_key: ${ACME_API_KEY}
        surveys: {pre-meeting: srv_4f2a}     # tierctl survey id -> Acme survey id

Acme Surveys (a fictional platform) documents:

* ``Authorization: Bearer <api key>``; a bad key answers 401.
* ``POST /surveys/{id}/invitations`` with up to 100 invitations, each with
  free-form ``metadata``; the answer has one result per invitation, by
  index: ``accepted`` with Acme's id, or ``rejected`` with an error code.
  A 5xx answer means nothing was stored.
* ``GET /surveys/{id}/responses?updated_since=<ISO time>&page_token=..``:
  responses sorted by ``updated_at`` (inclusive), 100 a page, with the
  invitation's ``metadata``; ``next_page_token`` is null on the last page.
* 10 requests per second per key; above that, 429 with ``Retry-After``.

Questions on Acme carry a reference chosen when the survey is built there;
give them tierctl's question ids (``satisfaction``, ``nps``) and answers come
back keyed the way tierctl expects.
"""

from __future__ import annotations

# [docs:imports]
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from pydantic import Field, SecretStr, field_validator

from tierctl.providers import Provider, ProviderContext, ProviderError, ProviderOptions, RateLimit
from tierctl.records import Invitation, RawResponse, SendResult

if TYPE_CHECKING:
    import requests
# [/docs:imports]

#: Rejections that will not change on a later run.
PERMANENT = frozenset({"invalid_email", "unsubscribed", "bounced"})


# [docs:options]
class AcmeOptions(ProviderOptions):
    """Options of a ``plugin: acme`` entry; unknown keys are errors (ProviderOptions)."""

    api_key: SecretStr = Field(description="Acme API key; write it as ${ACME_API_KEY}")
    base_url: str = Field("https://api.acme-surveys.example/v1", description="API root")
    surveys: dict[str, str] = Field(default_factory=dict,
                                    description="tierctl survey id -> Acme survey id (default: the same id)")
    per_second: float = Field(10.0, gt=0, le=10, description="Requests per second (Acme allows 10)")
    timeout: float = Field(10.0, gt=0, description="Seconds to wait for each answer")
    retries: int = Field(3, ge=0, le=10, description="Retries after 429, 5xx or a failed connection")
    max_retry_after: float = Field(30.0, ge=0, description="Longest Retry-After honoured, in seconds")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not a web address; expected https://...")
        return value.rstrip("/")
# [/docs:options]


class _MaybeSent(Exception):
    """The request went out but no answer came: Acme may have acted on it."""


# [docs:provider]
class AcmeProvider(Provider):
    """Sends invitations in batches of 100 and fetches responses incrementally."""

    name = "acme"
    description = "Acme Surveys: invitations with tierctl's invite id as metadata; responses by update time"
    Options = AcmeOptions
    batch_size = 100  # Acme takes 100 invitations per request
    can_fetch = True
    paces_itself = True  # every request calls self.pace() first (sends and fetches)
    options: AcmeOptions

    def __init__(self, instance: str, options: AcmeOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = RateLimit(1, 1.0 / options.per_second)
        self._session: "requests.Session | None" = None
# [/docs:provider]

    # -- sending ---------------------------------------------------------------------------

    # [docs:send]
    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        if not batch:
            return []
        survey = self._survey(batch[0].survey_id)
        body = {"invitations": [{
            "email": inv.contact_email,
            "name": inv.contact_name,
            "locale": inv.locale,
            # tierctl's invite id travels in Acme's metadata and comes back with each response.
            "metadata": {"invite_id": inv.invite_id, "tier": inv.tier, "account_id": inv.account_id},
        } for inv in batch]}
        try:
            answer = self._request("POST", f"/surveys/{survey}/invitations", json=body)
        except _MaybeSent as exc:
            # Not a ProviderError: that would make the engine send them again. Failed
            # for good, so nobody gets two invitations; the reason says what to check.
            return [SendResult.failed(inv.invite_id, f"{exc}; they may have been created, so they are not "
                                                     "sent again (check the survey's invitations on Acme)")
                    for inv in batch]
        by_index = {r.get("index"): r for r in answer.get("results", []) if isinstance(r, dict)}
        results = []
        for index, inv in enumerate(batch):
            result = by_index.get(index)
            if result is None:
                results.append(SendResult.failed(inv.invite_id, "Acme returned no result for this invitation"))
            elif result.get("status") == "accepted":
                results.append(SendResult.sent(inv.invite_id, str(result.get("id") or "") or None))
            else:
                error = result.get("error") or {}
                code = str(error.get("code") or "rejected")
                results.append(SendResult.failed(inv.invite_id, f"Acme rejected it: {code}: "
                                                                f"{error.get('message') or ''}".rstrip(": "),
                                                 retry=code not in PERMANENT))
        return results
    # [/docs:send]

    # -- fetching --------------------------------------------------------------------------

    # [docs:fetch]
    def fetch_responses(self, survey_id: str, cursor: str | None) -> tuple[Iterable[RawResponse], str | None]:
        """Responses updated since the cursor, all pages; the new cursor.

        The cursor is ``<updated_at>|<ids seen at that instant>``: Acme's
        ``updated_since`` is inclusive, so the next call asks from the same
        instant again (nothing updated in the same microsecond is lost) and
        drops the ids it already returned. A plain ISO time (``--since``)
        works as a cursor too.
        """
        try:
            since, seen = _parse_cursor(cursor)
        except ValueError:
            raise ProviderError(self.instance, f"cursor {cursor!r} is neither an ISO 8601 time nor one this "
                                               "provider returned", retry=False) from None
        survey = self._survey(survey_id)
        params = {"limit": "100", **({"updated_since": since} if since else {})}
        out: dict[str, RawResponse] = {}  # by response id: pages may overlap
        last, at_last = since, set(seen)
        while True:
            page = self._request("GET", f"/surveys/{survey}/responses", params=params)
            for item in page.get("data", []):
                rid, updated = str(item["id"]), str(item["updated_at"])
                if rid in seen and since is not None and _same(updated, since):
                    continue  # returned by the previous call
                out[rid] = RawResponse(
                    response_id=rid,
                    invite_id=(item.get("metadata") or {}).get("invite_id"),
                    submitted_at=datetime.fromisoformat(item["submitted_at"]),
                    answers={a["question"]: a["value"] for a in item.get("answers", [])},
                    contact_email=item.get("email"),
                )
                if last is None or _later(updated, last):
                    last, at_last = updated, {rid}
                elif _same(updated, last):
                    at_last.add(rid)
            token = page.get("next_page_token")
            if not token:
                break
            params = {**params, "page_token": str(token)}
        new_cursor = f"{last}|{','.join(sorted(at_last))}" if last else cursor
        return list(out.values()), new_cursor
    # [/docs:fetch]

    # -- HTTP ------------------------------------------------------------------------------

    def _survey(self, survey_id: str) -> str:
        return self.options.surveys.get(survey_id, survey_id)

    def _http(self) -> "requests.Session":
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers.update({
                "Authorization": f"Bearer {self.options.api_key.get_secret_value()}",
                "Accept": "application/json",
            })
        return self._session

    # [docs:request]
    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call, paced and retried; errors become ProviderError (the secret never in them)."""
        import requests

        url = self.options.base_url + path
        for attempt in range(self.options.retries + 1):
            self.pace()  # one token per request, retries included
            try:
                response = self._http().request(method, url, timeout=self.options.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if method == "POST" and _may_have_arrived(exc):
                    raise _MaybeSent(f"no answer from Acme within {self.options.timeout:g}s") from None
                problem = f"cannot reach {self.options.base_url} ({type(exc).__name__})"
                if attempt < self.options.retries:
                    time.sleep(min(2 ** attempt * 0.1, 5))
                    continue
                raise ProviderError(self.instance, problem, retry=True) from None
            status = response.status_code
            if status < 300:
                return response.json()
            message = _error_message(response)
            if status in (401, 403):
                raise ProviderError(self.instance, f"Acme refused the API key ({status} {message}); check "
                                                   "api_key", retry=False)
            if status == 404:
                raise ProviderError(self.instance, f"{method} {path}: not found on Acme ({message}); check "
                                                   "the surveys mapping", retry=False)
            if status == 429 or status >= 500:
                if attempt < self.options.retries:
                    time.sleep(self._retry_after(response, attempt))
                    continue
                raise ProviderError(self.instance, f"Acme answered {status} {message} after "
                                                   f"{self.options.retries} retries", retry=True)
            raise ProviderError(self.instance, f"{method} {path}: Acme answered {status} {message}", retry=False)
        raise AssertionError("unreachable")
    # [/docs:request]

    def _retry_after(self, response: Any, attempt: int) -> float:
        try:
            seconds = float(response.headers.get("Retry-After", ""))
        except ValueError:
            seconds = 2 ** attempt * 0.5
        return max(0.0, min(seconds, self.options.max_retry_after))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _may_have_arrived(exc: BaseException) -> bool:
    """Whether a failed request may still have reached Acme (anything but a refused or timed-out connect)."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return False
    root = exc.args[0] if exc.args else None
    root = getattr(root, "reason", root)
    return not isinstance(root, (NewConnectionError, ConnectTimeoutError))


def _error_message(response: Any) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.reason or ""


def _parse_cursor(cursor: str | None) -> tuple[str | None, set[str]]:
    """``(ISO time or None, ids)``; raises ValueError for a cursor that is not ours."""
    if not cursor:
        return None, set()
    since, _, ids = cursor.partition("|")
    when = datetime.fromisoformat(since)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # a plain --since time is read as UTC
    return when.isoformat(), {i for i in ids.split(",") if i}


def _later(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) > datetime.fromisoformat(b)


def _same(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)
