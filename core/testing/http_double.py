"""Local HTTP doubles: a real HTTP/1.1 server on 127.0.0.1 that answers as scripted.

Two levels:

* :class:`HttpServer` records every request and answers with scripted
  :class:`Reply` objects (``script``, ``when``) or a default reply::

      with HttpServer() as http:
          http.script(Reply(429, headers={"Retry-After": "1"}))   # next request only
          http.when(lambda r: b'"inv-3"' in r.body, Reply(400, b'{"error": "bad"}'), repeat=True)
          ... post to http.url ...
          http.requests[0].body

* :class:`HttpDouble` is an :class:`HttpServer` whose answers come from
  methods marked with :func:`route`: a small, stateful imitation of a
  platform's API. Scripted replies still come first, so a test can inject a
  fault (a 429, a 500, a slow answer) into any double::

      class AcmeApi(HttpDouble):
          @route("GET", "/v1/surveys/{survey_id}/responses")
          def responses(self, request, survey_id):
              return {"data": self.stored[survey_id]}          # 200, JSON

Nothing here mocks a client library: the code under test talks to these
servers over real sockets.
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["HttpDouble", "HttpServer", "Reply", "Request", "json_id_reply", "route"]


@dataclass
class Reply:
    """A scripted HTTP answer. ``body`` may be a function of the request."""

    status: int = 200
    body: bytes | Callable[["Request"], bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # close the connection instead of answering (after ``delay``)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None,
             delay: float = 0.0) -> "Reply":
        """A JSON answer (``Content-Type: application/json``)."""
        return cls(status, json.dumps(data).encode("utf-8"),
                   {"Content-Type": "application/json", **(headers or {})}, delay)


@dataclass
class Request:
    """One request as received: raw body bytes and headers (names lower-cased)."""

    method: str
    path: str  # as sent: path and query string
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic()
    connection: int  # which connection (1-based) carried it
    #: 1-based arrival number on this server (all routes, all connections): the server's
    #: request counter when this request arrived, so ``seq == count`` for the latest one.
    seq: int = 0

    @property
    def route(self) -> str:
        """The path without the query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the last value of each)."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


def json_id_reply(request: Request) -> bytes:
    """The default answer body: ``{"id": "sub-<n>"}`` (n counts requests), like most receivers."""
    return b'{"id":"sub-%d"}' % request.seq


class HttpServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records requests and answers as scripted.

    Keep-alive connections, Nagle disabled, one thread per connection: fast
    enough to benchmark a client against. ``record=False`` keeps only counts.
    Use it as a context manager (or :meth:`start` / :meth:`stop`).

    Answers, first match wins: a :meth:`when` rule, a :meth:`script`-ed
    reply, then :meth:`handle` (by default the ``default`` reply).
    """

    def __init__(self, default: Reply | None = None, *, record: bool = True):
        self.default = default or Reply(200, json_id_reply, {"Content-Type": "application/json"})
        self.record = record
        self.requests: list[Request] = []
        self.count = 0
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._rules: list[tuple[Callable[[Request], bool], deque[Reply], bool]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._observers: list[Callable[[Request], None]] = []
        self._filters: list[Callable[[Request, Reply], Reply]] = []
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        """The double's time (aware UTC): the real time, or the instant :meth:`freeze_time` set.

        Stamp what the double stores (a response's submitted or updated
        time) with it: the contract's cursor-boundary check then puts a
        response at exactly the instant of the cursor.
        """
        frozen = self._frozen
        return frozen if frozen is not None else datetime.now(timezone.utc)

    def freeze_time(self, at: datetime | None) -> None:
        """Make :meth:`now` return ``at`` (aware) from now on; ``None`` lets it run again."""
        if at is not None and at.tzinfo is None:
            raise ValueError("freeze_time needs an aware datetime (tzinfo=timezone.utc)")
        self._frozen = at

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not started; use it in a with block"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started; use it in a with block"
        return int(self._server.server_address[1])

    def script(self, *replies: Reply) -> None:
        """The next requests (in arrival order) get these replies, then the default again."""
        with self._lock:
            self._queue.extend(replies)

    def when(self, predicate: Callable[[Request], bool], *replies: Reply, repeat: bool = False) -> None:
        """Requests matching ``predicate`` get ``replies`` in order (the last forever if ``repeat``)."""
        with self._lock:
            self._rules.append((predicate, deque(replies), repeat))

    def on_request(self, callback: Callable[[Request], None]) -> None:
        """Call ``callback(request)`` as each request arrives, before it is answered."""
        with self._lock:
            self._observers.append(callback)

    def filter_replies(self, change: Callable[[Request, Reply], Reply]) -> None:
        """Pass every answer through ``change(request, reply)`` before it is sent (e.g. to
        delay or drop it after the double has acted on the request)."""
        with self._lock:
            self._filters.append(change)

    def reset(self) -> None:
        """Forget scripted replies, rules, observers and reply filters, and let :meth:`now` run
        again (recorded requests are kept)."""
        with self._lock:
            self._frozen = None
            self._queue.clear()
            self._rules.clear()
            self._observers.clear()
            self._filters.clear()

    def handle(self, request: Request) -> Reply:
        """The answer when nothing is scripted; override for a stateful double."""
        return self.default

    def max_requests_in(self, seconds: float) -> int:
        """The most requests received within any window of ``seconds`` (needs ``record=True``)."""
        times = sorted(r.received_at for r in self.requests)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _reply_for(self, request: Request) -> Reply:
        with self._lock:
            for predicate, replies, repeat in self._rules:
                if replies and predicate(request):
                    return replies[0] if repeat and len(replies) == 1 else replies.popleft()
            if self._queue:
                return self._queue.popleft()
        return self.handle(request)

    def start(self) -> "HttpServer":
        return self.__enter__()

    def stop(self) -> None:
        self.__exit__(None, None, None)

    def __enter__(self) -> "HttpServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with owner._lock:
                    owner.connections += 1
                    self.number = owner.connections

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # The client went away before its request was whole (killed mid-send, timed
                    # out): a platform never sees that as a request, so the double neither counts
                    # nor records it.
                    self.close_connection = True
                    return
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  body, time.monotonic(), self.number)
                with owner._lock:
                    owner.count += 1
                    request.seq = owner.count
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                    if owner.record:
                        owner.requests.append(request)
                for observe in list(owner._observers):
                    observe(request)
                try:
                    reply = owner._reply_for(request)
                    for change in list(owner._filters):
                        reply = change(request, reply)
                    if reply.delay:
                        time.sleep(reply.delay)
                    if reply.drop:
                        self.close_connection = True
                        return
                    payload = reply.body(request) if callable(reply.body) else reply.body
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that time out and hang up are part of the tests

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


# -- routed doubles ----------------------------------------------------------------------------

_ROUTE_ATTR = "_tierctl_route"


def route(method: str, pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark an :class:`HttpDouble` method as the answer to ``method pattern``.

    ``pattern`` is a path with ``{name}`` placeholders (one path segment
    each), passed to the method as keyword arguments after the request. The
    method returns a :class:`Reply`, a ``(status, data)`` pair or plain data
    (answered as ``200`` JSON).
    """
    names = re.findall(r"\{(\w+)\}", pattern)
    regex = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$")

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, _ROUTE_ATTR, (method.upper(), regex, names))
        return func

    return mark


class HttpDouble(HttpServer):
    """A stateful imitation of an HTTP API, answering through :func:`route` methods.

    Subclass it, keep the platform's state on ``self`` and guard it with
    ``self.lock`` (requests arrive on several threads). A request no route
    matches gets 404 with a JSON error; a route that raises gets 500 and the
    traceback is kept in :attr:`errors` (check it is empty at the end of a
    test: a double that crashes hides what the client did wrong).
    """

    def __init__(self, *, record: bool = True):
        super().__init__(record=record)
        self.lock = threading.RLock()
        self.errors: list[str] = []
        self._routes = []
        seen: set[str] = set()
        for klass in type(self).__mro__:  # subclass first: an override replaces the route
            for name, member in vars(klass).items():
                if name not in seen and hasattr(member, _ROUTE_ATTR):
                    self._routes.append(getattr(member, _ROUTE_ATTR) + (getattr(self, name),))
                seen.add(name)

    def handle(self, request: Request) -> Reply:
        allowed = []
        for method, regex, _names, func in self._routes:
            match = regex.match(request.route)
            if not match:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            try:
                return _as_reply(func(request, **match.groupdict()))
            except Exception:
                text = traceback.format_exc()
                self.errors.append(f"{request.method} {request.path}: {text}")
                return Reply.json({"error": "the test double crashed", "detail": text.splitlines()[-1]}, 500)
        if allowed:
            return Reply.json({"error": f"method {request.method} not allowed"}, 405,
                              {"Allow": ", ".join(sorted(set(allowed)))})
        return Reply.json({"error": f"no route for {request.method} {request.route}"}, 404)


def _as_reply(value: Any) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        return Reply.json(value[1], value[0])
    return Reply.json(value)
