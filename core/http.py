"""One HTTP client for survey providers: ``tierctl.http.HttpClient``.

Every HTTP-API provider needs the same things around its requests, and each
used to write them again. :class:`HttpClient` (on ``requests`` and urllib3)
does them once:

* a session with tierctl's ``User-Agent`` and the provider's headers;
  a timeout on every request;
* pacing: a token from the provider's rate limiter before every request,
  retries included, when the provider paces itself;
* bounded retries of 429, 5xx, timeouts and refused connections, with
  exponential back-off and ``Retry-After`` honoured (capped), waiting on the
  provider's clock (:meth:`tierctl.providers.Provider.sleep`, so tests do not
  wait);
* "may have been sent": a non-idempotent request (``POST``, ``PATCH``) whose
  connection broke or timed out *after* it was sent is never retried; it
  raises :class:`MaybeSent`, which the engine records as ``unknown`` (never
  sent twice);
* answers that are not 2xx become :class:`~tierctl.providers.ProviderError`
  through one overridable method, :meth:`HttpClient.error_for`;
* secrets (the provider's ``SecretStr`` options, ``Authorization`` headers,
  ``token=``/``key=`` query values) are scrubbed from every message;
* a debug log line per request (logger ``tierctl.http``), scrubbed;
* a circuit breaker: after ``breaker_failures`` requests in a row to one host
  failed (after their retries), the client stops calling it for
  ``breaker_cooldown`` seconds and fails at once.

Options come from the provider's options when they have these fields
(:class:`~tierctl.providers.HttpRetryOptions` does): ``base_url``,
``timeout``, ``max_retries``, ``backoff_factor``, ``max_retry_after``.

May import: the public kernel, ``tierctl.util`` and ``tierctl.providers``.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from tierctl.errors import TierctlError
from tierctl.providers import ProviderError, clock_of, retry_after_seconds

if TYPE_CHECKING:
    import requests

    from tierctl.providers import Provider

__all__ = ["HttpClient", "MaybeSent", "Unreachable", "scrub"]

log = logging.getLogger("tierctl.http")

#: Methods a server may receive twice without harm: these are retried after a broken connection.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers worth another try. A non-idempotent request is retried only on those that say the
#: server did nothing (429 Too Many Requests, 503 Service Unavailable).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SAFE_RETRY_STATUSES = frozenset({429, 503})
_SECRET_QUERY = re.compile(r"(?i)([?&](?:[\w.-]*(?:token|key|secret|password|signature|sig|auth)[\w.-]*)=)[^&#\s]*")
_MASK = "***"


class Unreachable(ProviderError):
    """No answer came after the retries: the connection failed or timed out.

    ``reached`` says whether the last attempt may have reached the server
    (a read timeout, a connection dropped after sending) or surely did not
    (refused, name not found, connect timeout); ``reason`` is the failure in
    words, scrubbed (``connection refused``, ``read timeout after 5s``).
    """

    def __init__(self, provider: str, message: str, reached: bool, reason: str):
        self.reached = reached
        self.reason = reason
        super().__init__(provider, message, retry=True)


class MaybeSent(TierctlError):
    """A request went out but no answer came: the platform may have acted on it.

    Never retry it and never report its invitations as ``retry``: return
    :meth:`tierctl.records.SendResult.maybe_sent` for them (or let it
    propagate from ``send``: the engine then records the whole batch as
    ``unknown``).
    """

    exit_code = 1

    def __init__(self, provider: str, message: str, reason: str = ""):
        self.provider = provider
        self.reason = reason or message  # the failure alone: "read timeout after 5s"
        super().__init__(f"provider {provider}: {message}")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (as is, URL-quoted) and secret-looking query values masked."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
            text = text.replace(form, _MASK)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + _MASK, text)


class HttpClient:
    """The HTTP client of one provider instance.

    :param provider: the provider it works for: its ``instance`` names errors,
        its options give ``base_url``, ``timeout``, ``max_retries``,
        ``backoff_factor`` and ``max_retry_after`` (keyword arguments here
        win), its clock waits and its limiter paces.
    :param platform: the platform's name in messages (``"Acme"``).
    :param headers: sent with every request (e.g. ``Authorization``); their
        values are treated as secrets.
    :param pace: take a token from ``provider.limiter`` before every request
        (default: ``provider.paces_itself``).

    Use :meth:`request` (or :meth:`json`), and :meth:`close` from the
    provider's ``close``. Subclass and override :meth:`error_for` (status to
    :class:`ProviderError`), :meth:`error_message` (the platform's error text)
    or :meth:`retryable` where a platform needs it.
    """

    breaker_failures: int = 5
    breaker_cooldown: float = 60.0

    def __init__(self, provider: "Provider", *, platform: str | None = None, base_url: str | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 max_retries: int | None = None, backoff_factor: float | None = None,
                 max_retry_after: float | None = None, pace: bool | None = None, pool_size: int = 10):
        options = provider.options
        self.provider = provider
        self.platform = platform or provider.name or provider.instance
        self.base_url = (base_url if base_url is not None else str(getattr(options, "base_url", "") or "")).rstrip("/")
        self.timeout = float(timeout if timeout is not None else getattr(options, "timeout", 30.0))
        self.max_retries = int(max_retries if max_retries is not None else getattr(options, "max_retries", 4))
        self.backoff_factor = float(backoff_factor if backoff_factor is not None
                                    else getattr(options, "backoff_factor", 0.5))
        self.max_retry_after = float(max_retry_after if max_retry_after is not None
                                     else getattr(options, "max_retry_after", 60.0))
        self.pace = provider.paces_itself if pace is None else pace
        self.headers = dict(headers or {})
        self.pool_size = pool_size
        #: Requests sent so far, retries included (for a platform's daily request budget).
        self.requests_made = 0
        #: Retries the last :meth:`request` made (0 when the first attempt settled it).
        self.retries_used = 0
        self._session: "requests.Session | None" = None
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    # --- what a provider calls ---------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                data: Any = None, headers: Mapping[str, str] | None = None, idempotent: bool | None = None,
                what: str | None = None, raise_errors: bool = True) -> "requests.Response":
        """Send one request (paced, retried as the options say) and return a 2xx response.

        :param path: appended to ``base_url``, or a full ``http(s)://`` URL.
        :param idempotent: whether sending it twice is harmless (default: by
            method). A non-idempotent request is not retried once it may have
            reached the server: :class:`MaybeSent` is raised instead.
        :param what: what the request does, for messages (default ``METHOD path``).
        :param raise_errors: ``False`` returns an error answer (after the
            retries) instead of raising :meth:`error_for`'s error.
        :raises ProviderError: an error answer (see :meth:`error_for`); the
            circuit breaker is open.
        :raises Unreachable: no answer after the retries.
        :raises MaybeSent: see ``idempotent``.
        """
        import requests

        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        idempotent = method in IDEMPOTENT if idempotent is None else idempotent
        what = self.scrub(what or f"{method} {urllib.parse.urlsplit(url).path}")  # in every message below
        host = urllib.parse.urlsplit(url).netloc
        self._check_breaker(host)
        attempt = self.retries_used = 0
        while True:
            self.before_attempt(attempt)
            if self.pace:
                self.provider.pace()
            started = clock_of(self.provider).monotonic()
            self.requests_made += 1
            try:
                response = self.session.request(method, url, params=params, json=json, data=data,
                                                headers=headers, timeout=self.timeout, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._log(method, url, params, f"{type(exc).__name__}", started, attempt)
                reason = self.scrub(_kind(exc, self.timeout))
                if not idempotent and may_have_arrived(exc):
                    self._failed(host)
                    raise MaybeSent(self.provider.instance,
                                    f"{what}: no answer from {self.platform} ({reason}); the request went "
                                    "out, so it may have been acted on and is not sent again", reason) from None
                if attempt < self.max_retries:
                    attempt = self.retries_used = attempt + 1
                    self.provider.sleep(self.backoff(attempt))
                    continue
                self._failed(host)
                raise Unreachable(self.provider.instance,
                                  self.scrub(f"{what}: cannot reach {self.platform} at {self.base_url or host} "
                                             f"({reason}" + (f", after {attempt} retries)" if attempt else ")")),
                                  may_have_arrived(exc), reason) from None
            self._log(method, url, params, str(response.status_code), started, attempt)
            self.after_response(response)
            status = response.status_code
            if status < 300:
                self._failures.pop(host, None)
                return response
            if self.retryable(method, response, idempotent) and attempt < self.max_retries:
                attempt = self.retries_used = attempt + 1
                wait = self.retry_wait(response, attempt)
                response.close()
                self.provider.sleep(wait)
                continue
            if status == 429 or status >= 500:
                self._failed(host)
            else:
                self._failures.pop(host, None)
            if not raise_errors:
                return response
            raise self.error_for(response, what, attempt)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request`, and the answer's JSON (a ProviderError when it is not JSON)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ProviderError(self.provider.instance, self.scrub(f"{kwargs.get('what') or method + ' ' + path}: "
                                                                   f"{self.platform} answered {response.status_code} "
                                                                   "with something that is not JSON"),
                                retry=True) from None

    def close(self) -> None:
        """Close the connection pool (the client opens a new one if used again)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- what a subclass may override --------------------------------------------------------

    def retryable(self, method: str, response: "requests.Response", idempotent: bool) -> bool:
        """Whether this error answer is worth another try (429 and 5xx; for a
        non-idempotent request only 429 and 503, which say nothing was done)."""
        return response.status_code in (RETRY_STATUSES if idempotent else SAFE_RETRY_STATUSES)

    def error_for(self, response: "requests.Response", what: str, retries: int) -> ProviderError:
        """The :class:`ProviderError` for an error answer (after ``retries`` retries).

        401/403: the credentials were refused (``retry=False``); 404: not
        found (``retry=False``); 429 and 5xx: try again later (``retry=True``);
        other 4xx: the request was refused (``retry=False``).
        """
        status = response.status_code
        message = self.error_message(response)
        detail = f"{status} {message}".strip()
        after = f" after {retries} retries" if retries else ""
        if status in (401, 403):
            text, retry = f"{self.platform} refused the credentials ({detail}); check the API key or token", False
        elif status == 404:
            text, retry = f"{what}: not found on {self.platform} ({detail}); check the ids in the options", False
        elif status == 429 or status >= 500:
            text, retry = f"{what}: {self.platform} answered {detail}{after}; try again later", True
        else:
            text, retry = f"{what}: {self.platform} answered {detail}", False
        return ProviderError(self.provider.instance, self.scrub(text), retry=retry)

    def error_message(self, response: "requests.Response") -> str:
        """The platform's error text from an answer: ``error.code: error.message``, ``message`` or the reason."""
        try:
            body = response.json()
        except ValueError:
            return response.reason or ""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")[:300]
            for key in ("message", "error", "detail", "description"):
                if isinstance(body.get(key), str):
                    return body[key][:300]
        return response.reason or ""

    def retry_wait(self, response: "requests.Response", attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` of an error answer: its ``Retry-After``
        (capped at ``max_retry_after``), else :meth:`backoff`."""
        wait = retry_after_seconds(response.headers.get("Retry-After"), self.max_retry_after)
        return self.backoff(attempt) if wait is None else wait

    def before_attempt(self, attempt: int) -> None:
        """Called before each attempt (0 first), before pacing: e.g. wait for a platform's budget
        window, or raise when a daily budget is spent. The default does nothing."""

    def after_response(self, response: "requests.Response") -> None:
        """Called with every answer, before it is judged: e.g. read rate-limit headers."""

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1, 2, ...) when the server gave no ``Retry-After``."""
        return min(self.backoff_factor * 2 ** (attempt - 1), self.max_retry_after)

    # --- the rest -------------------------------------------------------------------------------

    @property
    def session(self) -> "requests.Session":
        """The ``requests`` session (made on first use) with the User-Agent and headers."""
        if self._session is None:
            import requests

            from tierctl import __version__

            from requests.adapters import HTTPAdapter

            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"User-Agent": f"tierctl/{__version__} ({self.provider.name})",
                                    "Accept": "application/json", **self.headers})
            self.configure(session)
            self._session = session
        return self._session

    def configure(self, session: "requests.Session") -> None:
        """Adjust a new session (TLS trust, proxies); the default changes nothing."""

    def secrets(self) -> list[str]:
        """Values never shown: the provider's secret options and the header values."""
        from pydantic import SecretStr

        found = [v for v in self.headers.values() if isinstance(v, str)]
        found += [part for v in self.headers.values() if isinstance(v, str) for part in v.split()[1:]]
        options = self.provider.options
        for name in type(options).model_fields:
            value = getattr(options, name, None)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
        return found

    def scrub(self, text: str) -> str:
        """``text`` without this client's secrets."""
        return scrub(text, self.secrets())

    def _check_breaker(self, host: str) -> None:
        until = self._open_until.get(host)
        if until is None:
            return
        left = until - clock_of(self.provider).monotonic()
        if left > 0:
            raise ProviderError(self.provider.instance,
                                f"{self.platform} at {host} failed {self.breaker_failures} requests in a row; not "
                                f"calling it again for {left:.0f}s (circuit breaker)", retry=True)
        del self._open_until[host]  # half-open: one request may try

    def _failed(self, host: str) -> None:
        count = self._failures.get(host, 0) + 1
        self._failures[host] = count
        if count >= self.breaker_failures:
            self._open_until[host] = clock_of(self.provider).monotonic() + self.breaker_cooldown
            self._failures[host] = 0
            log.warning("%s: %s failed %d requests in a row; circuit open for %gs", self.provider.instance, host,
                        count, self.breaker_cooldown)

    def _log(self, method: str, url: str, params: Mapping[str, Any] | None, outcome: str, started: float,
             attempt: int) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        elapsed = (clock_of(self.provider).monotonic() - started) * 1000
        log.debug("%s: %s %s -> %s in %.0f ms%s", self.provider.instance, method, self.scrub(url), outcome,
                  elapsed, f" (retry {attempt})" if attempt else "")


def may_have_arrived(exc: BaseException) -> bool:
    """Whether a request that failed with ``exc`` may have reached the server.

    Only a refused connection, a failed name lookup or a timeout while
    connecting prove it did not; a read timeout or a connection dropped
    mid-answer may come after the server acted.
    """
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return False  # the request was never sent: no connection, or no TLS session
    root: Any = exc.args[0] if exc.args else None
    root = getattr(root, "reason", root)
    return not isinstance(root, (NewConnectionError, ConnectTimeoutError, NameResolutionError))


def _kind(exc: BaseException, timeout: float) -> str:
    """What went wrong, in words: ``connection refused``, ``read timeout after 5s``, ``TLS error: ...``."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    root: Any = exc.args[0] if exc.args else None
    root = getattr(root, "reason", root)
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timeout after {timeout:g}s"
    if isinstance(exc, requests.Timeout) or isinstance(root, (ReadTimeoutError, TimeoutError)):
        return f"read timeout after {timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {' '.join(str(root).split())[:200]}"
    if not may_have_arrived(exc):
        return "connection refused"
    return "connection dropped"


