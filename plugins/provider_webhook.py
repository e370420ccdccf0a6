"""The ``webhook`` provider: each invitation POSTed as signed JSON to your own endpoint.

For teams whose CRM, automation tool or service sends the survey itself::

    providers:
      crm:
        plugin: webhook
        url: https://hooks.acme.example/tierctl/invitations
        secret: ${TIERCTL_WEBHOOK_SECRET}      # HMAC key, at least 16 characters
        headers: {Authorization: "Bearer ${CRM_TOKEN}"}   # optional, values are secrets
        survey_url: https://form.typeform.com/to/AbC#invite_id={invite_id}   # optional
        concurrency: 8                         # requests in flight
        per_second: 50                         # optional rate limit

The request
-----------
``POST <url>`` with ``Content-Type: application/json`` and::

    X-Tierctl-Signature: sha256=<hex HMAC-SHA256 of the raw body, key = secret>
    X-Tierctl-Invite-Id: <invite_id>
    Idempotency-Key: <invite_id>

The body (UTF-8 JSON, one object; fields are never removed within version 1)::

    {
      "version": 1,
      "invite_id": "3f9c...",            # tierctl's id: store it, dedupe on it, send it back with answers
      "survey": "pre-meeting",           # survey id in the config
      "survey_title": "Before our account review",
      "survey_description": "..." | null,
      "survey_url": "https://..." | null,   # the personal link: the survey_url option, else the hosted form
      "unsubscribe_url": "https://..." | null,   # the hosted one-click opt-out (with serve.base_url)
      "tier": "advanced",
      "account_id": "acc-42",
      "account_name": "Globex",
      "contact": {"email": "ann@globex.example", "name": "Ann", "role": "key-stakeholder", "locale": "en"},
      "occasion": "meeting:<uid>@2027-03-04T14:00",
      "due_at": "2027-03-01T09:00:00+00:00",       # ISO 8601
      "closes_at": "2027-03-04T13:00:00+00:00",    # answers after this no longer count
      "meeting_start": "2027-03-04T13:00:00+00:00" | null,
      "questions": [{"id": "nps", "type": "nps", "text": "...", "min": 0, "max": 10, "choices": []}]
    }

Receivers verify the signature over the raw bytes *before* parsing them, with
:func:`verify_signature` or its equivalent (constant-time compare). A request
may arrive twice (a retry after a timeout whose first attempt did arrive):
dedupe on ``invite_id``.

Answers
-------
* 2xx: sent; ``external_id`` is ``id`` from a JSON object answer, if any.
* 429 and 500/502/503/504, connection errors and timeouts: retried up to
  ``max_retries`` times with exponential backoff, honouring ``Retry-After``
  (capped at ``max_retry_after``), by :class:`tierctl.http.HttpClient` on
  the provider's clock; then failed(retry=True). The request carries an
  ``Idempotency-Key``, so repeating it after a timeout is safe.
* 400, 409, 410, 413, 422 and other 4xx: failed permanently, with the status
  and a short excerpt of the answer.
* Answers that say the endpoint itself is wrong (401, 403, 404, 405, 3xx, TLS
  errors) and an unreachable host: if *no* invitation of the batch got
  through, the whole provider fails (:class:`~tierctl.providers.ProviderError`)
  and the batch stays for a later run; otherwise those invitations are
  failed(retry=True), since they are not at fault.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field, SecretStr, field_validator

from tierctl.plugins.email_message import check_link_template, link, message_language
from tierctl.http import HttpClient, Unreachable
from tierctl.web.links import form_url, unsubscribe_url
from tierctl.providers import HttpRetryOptions, Provider, ProviderContext, ProviderError, RateLimit
from tierctl.records import Invitation, SendResult

SIGNATURE_HEADER = "X-Tierctl-Signature"
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Answers meaning the endpoint or credentials are wrong, not the invitation.
ENDPOINT_STATUSES = frozenset({401, 403, 404, 405, 407, 421})
_RESERVED = {"content-type", "content-length", "host", "idempotency-key", "x-tierctl-signature",
             "x-tierctl-invite-id", "transfer-encoding"}
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


# -- signatures --------------------------------------------------------------------------------

def sign(secret: bytes | str, body: bytes) -> str:
    """The ``X-Tierctl-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` (``X-Tierctl-Signature``) signs the raw ``body`` with ``secret``.

    For receivers: pass the body bytes exactly as received, before any JSON
    parsing. The comparison is constant-time.
    """
    if not isinstance(header, str) or not header.startswith("sha256="):
        return False
    expected = sign(secret, body)
    try:
        return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("ascii"))
    except UnicodeEncodeError:
        return False


# -- options -----------------------------------------------------------------------------------

class WebhookOptions(HttpRetryOptions):
    url: str = Field(description="Endpoint that receives one POST per invitation (https://...)")
    secret: SecretStr = Field(description="HMAC-SHA256 key for X-Tierctl-Signature; write it as ${ENV_VAR}")
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds to wait for each answer")
    concurrency: int = Field(8, ge=1, le=128, description="Requests in flight at once")
    headers: dict[str, SecretStr] = Field(default_factory=dict,
                                          description="Extra request headers, e.g. Authorization (kept secret)")
    per_second: float | None = Field(None, gt=0, description="Requests per second at most; default unlimited")
    survey_url: str | None = Field(None, description="Personal survey link template to include as survey_url")
    ca_file: str | None = Field(None, description="PEM certificates to trust, relative to the config file")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value, re.IGNORECASE):
            raise ValueError(f"{value!r} is not a web address; expected https://host/path")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("the secret must be at least 16 characters; "
                             "e.g. python -c 'import secrets; print(secrets.token_hex(32))'")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, header in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED:
                raise ValueError(f"header {name!r} is set by tierctl and cannot be overridden")
            if re.search(r"[\r\n\x00]", header.get_secret_value()):
                raise ValueError(f"header {name!r} must be a single line")
        return value

    @field_validator("survey_url")
    @classmethod
    def _survey_url(cls, value: str | None) -> str | None:
        return None if value is None else check_link_template(value, require_invite_id=True)




# -- the provider ------------------------------------------------------------------------------

class WebhookProvider(Provider):
    """POSTs each invitation as signed JSON; a batch goes out over a pool of connections."""

    name = "webhook"
    description = "POST invitations as HMAC-signed JSON to your endpoint (CRM, automation, own mailer)"
    Options = WebhookOptions
    batch_size = 100
    options: WebhookOptions

    def __init__(self, instance: str, options: WebhookOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = RateLimit.from_per_second(options.per_second) if options.per_second else None
        self._key = options.secret.get_secret_value().encode("utf-8")
        self._url = options.url
        self._timeout = options.timeout
        self._client: HttpClient | None = None
        self._executor: Any = None
        self._setup = threading.Lock()

    # -- payload ---------------------------------------------------------------------------

    def payload(self, invitation: Invitation) -> dict[str, Any]:
        """The JSON object for one invitation (see the module docstring)."""
        from tierctl.i18n.text import in_language

        inv = invitation
        organization = self.context.config.organization if self.context.config is not None else None
        # Texts written per language go out in the contact's (nl-BE -> nl -> the default).
        language = message_language(inv, organization)
        default = organization.language if organization is not None else None

        def local(value: Any) -> Any:
            return str(in_language(value, language, default)) if value else value

        return {
            "version": 1,
            "invite_id": inv.invite_id,
            "survey": inv.survey_id,
            "survey_title": local(inv.survey_title),
            "survey_description": local(inv.description) or None,
            "survey_url": link(self.options.survey_url, inv) if self.options.survey_url
            else form_url(self.context.config, inv.invite_id) if self.context.config is not None else None,
            "unsubscribe_url": unsubscribe_url(self.context.config, inv.invite_id)
            if self.context.config is not None else None,
            "tier": inv.tier,
            "account_id": inv.account_id,
            "account_name": inv.account_name,
            "contact": {"email": inv.contact_email, "name": inv.contact_name, "role": inv.role,
                        "locale": inv.locale},
            "occasion": inv.occasion,
            "due_at": inv.due_at.isoformat(),
            "closes_at": inv.closes_at.isoformat(),
            "meeting_start": inv.meeting_start.isoformat() if inv.meeting_start else None,
            "questions": [{"id": q.id, "type": q.type, "text": local(q.text),
                           "min": q.bounds[0] if q.bounds else None, "max": q.bounds[1] if q.bounds else None,
                           "choices": [local(c) for c in q.choices]} for q in inv.questions],
        }

    def body(self, invitation: Invitation) -> bytes:
        """The exact bytes that are signed and sent."""
        return json.dumps(self.payload(invitation), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    # -- sending ---------------------------------------------------------------------------

    def _http(self) -> HttpClient:
        if self._client is not None:
            return self._client
        with self._setup:
            if self._client is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(max_workers=self.options.concurrency,
                                                    thread_name_prefix=f"tierctl-{self.instance}")
                self._client = _WebhookClient(self)
        return self._client

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        if not batch:
            return []
        client = self._http()
        if len(batch) == 1:
            outcomes = [self._post(client, batch[0])]
        else:
            outcomes = list(self._executor.map(lambda inv: self._post(client, inv), batch))
        results = [result for result, _ in outcomes]
        kinds = {kind for _, kind in outcomes}
        if not any(r.ok for r in results) and kinds <= {"endpoint", "unreachable"}:
            # Nothing got through and the endpoint, not any invitation, is at fault: the
            # engine keeps the whole batch for a later run. (Mixed with successes, these
            # results are already failed(retry=True).)
            reason = results[0].reason
            if "unreachable" in kinds:
                raise ProviderError(self.instance, f"cannot reach {self._url}: {reason}", retry=True)
            raise ProviderError(self.instance, f"{self._url} refused every request: {reason}; "
                                               "check url, secret and headers", retry=False)
        return results

    def _post(self, client: HttpClient, invitation: Invitation) -> tuple[SendResult, str]:
        """One request; returns the result and what failed: "" (the invitation), endpoint, unreachable."""
        invite_id = invitation.invite_id
        try:
            body = self.body(invitation)
        except (TypeError, ValueError) as exc:
            return SendResult.failed(invite_id, f"cannot serialise the invitation: {exc}"), ""
        headers = {SIGNATURE_HEADER: sign(self._key, body), "X-Tierctl-Invite-Id": invite_id,
                   "Idempotency-Key": invite_id}
        try:
            # Idempotent: the receiver dedupes on Idempotency-Key, so a POST may be repeated.
            response = client.request("POST", self._url, data=body, headers=headers, idempotent=True,
                                      raise_errors=False)
        except Unreachable as exc:
            if exc.reason.startswith("TLS error"):
                return SendResult.failed(invite_id, exc.reason, retry=True), "endpoint"
            if exc.reached:
                what = "no answer" if "timeout" in exc.reason else "connection failed"
                return SendResult.failed(invite_id, f"{what}: {exc.reason}", retry=True), ""
            return SendResult.failed(invite_id, f"cannot connect: {exc.reason}", retry=True), "unreachable"
        except ProviderError as exc:  # the circuit breaker: the endpoint failed too often in a row
            return SendResult.failed(invite_id, str(exc), retry=True), "unreachable"
        status = response.status_code
        if 200 <= status < 300:
            return SendResult.sent(invite_id, _external_id(response.content)), ""
        reason = f"HTTP {status} {response.reason or ''}".rstrip() + _excerpt(response)
        if status in RETRY_STATUSES or status == 408:
            return SendResult.failed(invite_id, f"{reason} (after {self.options.max_retries} retries)", retry=True), ""
        if status in ENDPOINT_STATUSES or 300 <= status < 400:
            if 300 <= status < 400 and response.headers.get("Location"):
                reason += f" (redirects to {response.headers['Location'][:200]}; update url)"
            return SendResult.failed(invite_id, reason, retry=True), "endpoint"
        return SendResult.failed(invite_id, reason, retry=status < 400 or status >= 500), ""

    def close(self) -> None:
        with self._setup:
            client, executor = self._client, self._executor
            self._client = self._executor = None
        if executor is not None:
            executor.shutdown(wait=True)
        if client is not None:
            client.close()


class _WebhookClient(HttpClient):
    """tierctl's HTTP client with the webhook's pool, headers and TLS trust."""

    def __init__(self, provider: WebhookProvider):
        opts = provider.options
        super().__init__(provider, platform="the webhook", pool_size=opts.concurrency, pace=False,
                         headers={"Content-Type": "application/json",
                                  **{k: v.get_secret_value() for k, v in opts.headers.items()}})

    def configure(self, session: Any) -> None:
        import requests

        provider = self.provider
        # Resolve proxies and CA bundle from the environment once, not on every request.
        session.proxies.update(requests.utils.get_environ_proxies(provider.options.url))
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if provider.options.ca_file:
            session.verify = str(Path(provider.context.base_dir) / provider.options.ca_file)
        session.trust_env = False

    def retryable(self, method: str, response: Any, idempotent: bool) -> bool:
        return response.status_code in RETRY_STATUSES


def _external_id(content: bytes) -> str | None:
    if not content or content[:1] != b"{" or len(content) > 65536:
        return None
    try:
        value = json.loads(content).get("id")
    except (ValueError, AttributeError):
        return None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _excerpt(response: Any) -> str:
    text = " ".join(response.content[:300].decode("utf-8", "replace").split())
    return f": {text[:200]}" if text else ""
