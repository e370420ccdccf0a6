"""What stands in front of every request: security headers, a body limit, rate limits, quiet errors
and access logs without tokens.

Plain ASGI middleware (no Starlette import), so each piece is small and
testable on its own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Awaitable, Callable

log = logging.getLogger("tierctl.web")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: No inline script or style anywhere; forms post only to this server; never framed.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),  # the link's token must not leak to other sites
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# Path segments after these are secrets (signed links): logged as "…".
_SECRET_PATH = re.compile(r"^(/[su]/)[^/]+")


def redact(path: str) -> str:
    """A request path fit for logs: the token of a survey or unsubscribe link removed."""
    return _SECRET_PATH.sub(r"\1…", path)


def _plain(status: int, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = text.encode("utf-8")
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                         (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]},
            {"type": "http.response.body", "body": body})


class Guard:
    """Security headers on every answer; 413 for a body over ``max_body``; 429 over the rate limits;
    a plain 500 (never a stack trace) when something breaks; one log line per request without tokens."""

    def __init__(self, app: ASGIApp, max_body: int, limits: "RateLimits"):
        self.app = app
        self.max_body = max_body
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]
        path = scope.get("path", "")

        async def send_guarded(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in SECURITY_HEADERS if h[0] not in names]
            await send(message)

        async def reply(code: int, text: str) -> None:
            for message in _plain(code, text):
                await send_guarded(message)

        try:
            length = dict(scope.get("headers", [])).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await reply(413, "Request body too large.\n")
                return
            client = (scope.get("client") or ("?", 0))[0]
            token = _token_of(path)
            if not self.limits.allow(client, token, hook="/hooks/" in path):
                await reply(429, "Too many requests; try again in a minute.\n")
                return
            received = [0]

            async def receive_limited() -> dict[str, Any]:
                message = await receive()
                if message["type"] == "http.request":
                    received[0] += len(message.get("body", b""))
                    if received[0] > self.max_body:
                        raise _TooLarge()
                return message

            await self.app(scope, receive_limited, send_guarded)
        except _TooLarge:
            if not status[0]:
                await reply(413, "Request body too large.\n")
        except Exception as exc:
            if _client_left(exc):  # nobody to answer, and nothing wrong on our side
                log.info("client left during %s %s", scope.get("method"), redact(path))
                return
            log.exception("error while answering %s %s", scope.get("method"), redact(path))
            if not status[0]:
                await reply(500, "Something went wrong on our side; please try again later.\n")
        finally:
            log.info("%s %s %d %.1fms", scope.get("method"), redact(path), status[0],
                     (time.perf_counter() - started) * 1000)


class _TooLarge(Exception):
    pass


def _client_left(exc: Exception) -> bool:
    """Whether the client hung up before its request was read (Starlette's ``ClientDisconnect``)."""
    from starlette.requests import ClientDisconnect

    return isinstance(exc, ClientDisconnect)


def _token_of(path: str) -> str | None:
    parts = path.split("/")
    return parts[2] if len(parts) > 2 and parts[1] in ("s", "u") else None


class RateLimits:
    """Fixed one-minute windows per client address and per link token, in memory (per process).

    Webhook requests (``/hooks/...``) count against their own per-address
    budget (``per_ip_hooks``): a platform posts a receipt or two for every
    message it delivers from a few addresses (or all through one proxy), and
    must not use up the form's visitors' budget, nor be cut off by it.

    Memory is bounded: the counters are dropped each minute, and a minute
    with more than ``max_keys`` distinct keys stops counting new ones
    (they are let through, the known ones stay limited).
    """

    def __init__(self, per_ip: int, per_token: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000, per_ip_hooks: int | None = None):
        self.per_ip = per_ip
        self.per_ip_hooks = per_ip if per_ip_hooks is None else per_ip_hooks
        self.per_token = per_token
        self.clock = clock
        self.max_keys = max_keys
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, token: str | None, hook: bool = False) -> bool:
        window = int(self.clock() // 60)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            if hook:
                return self._hit("hooks:" + client, self.per_ip_hooks)
            ok = self._hit("ip:" + client, self.per_ip)
            if token is not None:
                ok = self._hit("token:" + token, self.per_token) and ok
            return ok

    def _hit(self, key: str, limit: int) -> bool:
        n = self._counts.get(key)
        if n is None:
            if len(self._counts) >= self.max_keys:
                return True
            n = 0
        self._counts[key] = n + 1
        return n < limit
