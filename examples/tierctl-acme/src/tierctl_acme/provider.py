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
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from pydantic import Field, SecretStr, field_validator

from tierctl.http import HttpClient, MaybeSent
from tierctl.providers import HttpRetryOptions, Provider, ProviderContext, ProviderError, RateLimit
from tierctl.records import Invitation, RawResponse, SendResult
# [/docs:imports]

#: Rejections that will not change on a later run.
PERMANENT = frozenset({"invalid_email", "unsubscribed", "bounced"})


# [docs:options]
class AcmeOptions(HttpRetryOptions):
    """Options of a ``plugin: acme`` entry; unknown keys are errors (ProviderOptions).

    ``timeout``, ``max_retries``, ``backoff_factor`` and ``max_retry_after``
    come from HttpRetryOptions; the defaults below suit Acme.
    """

    renamed_options = {"retries": "max_retries"}  # 1.0 called it retries; still accepted, with a warning

    api_key: SecretStr = Field(description="Acme API key; write it as ${ACME_API_KEY}")
    base_url: str = Field("https://api.acme-surveys.example/v1", description="API root")
    surveys: dict[str, str] = Field(default_factory=dict,
                                    description="tierctl survey id -> Acme survey id (default: the same id)")
    per_second: float = Field(10.0, gt=0, le=10, description="Requests per second (Acme allows 10)")
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds to wait for each answer")
    max_retries: int = Field(3, ge=0, le=10, description="Retries after 429, 5xx or a failed connection")
    max_retry_after: float = Field(30.0, ge=0, le=3600, description="Longest Retry-After honoured, in seconds")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not a web address; expected https://...")
        return value.rstrip("/")
# [/docs:options]


# [docs:client]
class AcmeClient(HttpClient):
    """tierctl's HTTP client, with Acme's error answers mapped to messages that say what to check."""

    def retryable(self, method: str, response: Any, idempotent: bool) -> bool:
        # Acme documents that a 5xx answer means nothing was stored: a POST may be retried too.
        return response.status_code == 429 or response.status_code >= 500

    def error_for(self, response: Any, what: str, retries: int) -> ProviderError:
        if response.status_code in (401, 403):
            return ProviderError(self.provider.instance, f"Acme refused the API key ({response.status_code} "
                                                         f"{self.error_message(response)}); check api_key",
                                 retry=False)
        if response.status_code == 404:
            return ProviderError(self.provider.instance, f"{what}: not found on Acme "
                                                         f"({self.error_message(response)}); check the surveys "
                                                         "mapping", retry=False)
        return super().error_for(response, what, retries)
# [/docs:client]


# [docs:provider]
class AcmeProvider(Provider):
    """Sends invitations in batches of 100 and fetches responses incrementally."""

    name = "acme"
    description = "Acme Surveys: invitations with tierctl's invite id as metadata; responses by update time"
    Options = AcmeOptions
    batch_size = 100  # Acme takes 100 invitations per request
    can_fetch = True
    paces_itself = True  # the client takes a token before every request (sends, fetches, retries)
    options: AcmeOptions

    def __init__(self, instance: str, options: AcmeOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = RateLimit(1, 1.0 / options.per_second)
        self.http = AcmeClient(self, platform="Acme",
                               headers={"Authorization": f"Bearer {options.api_key.get_secret_value()}"})
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
            answer = self.http.json("POST", f"/surveys/{survey}/invitations", json=body)
        except MaybeSent as exc:
            # Not a ProviderError: that would make the engine send them again. "unknown" is
            # never resent automatically, so nobody gets two invitations.
            return [SendResult.maybe_sent(inv.invite_id, f"{exc}; check the survey's invitations on Acme")
                    for inv in batch]
        by_index = {r.get("index"): r for r in (answer or {}).get("results", []) if isinstance(r, dict)}
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
            page = self.http.json("GET", f"/surveys/{survey}/responses", params=params) or {}
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

    def _survey(self, survey_id: str) -> str:
        return self.options.surveys.get(survey_id, survey_id)

    def close(self) -> None:
        self.http.close()


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
