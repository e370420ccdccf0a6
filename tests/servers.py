"""Real servers on 127.0.0.1 for provider tests, and sample records to send through them.

Each server is a context manager that picks a free port, runs in a thread,
records what it receives and can be scripted to misbehave::

    with SmtpServer() as smtp:
        smtp.script("RCPT", "451 4.7.1 Greylisted, try again")   # next RCPT only
        smtp.always("RCPT", "550 5.1.1 No such user", address="gone@example.com")
        ... send ...
        smtp.messages[0].parsed["Subject"]

    with HttpServer() as http:
        http.script(Reply(429, headers={"Retry-After": "1"}))   # next request only
        http.when(lambda r: b'"inv-3"' in r.body, Reply(400, b'{"error": "bad"}'), repeat=True)
        ... post to http.url ...
        http.requests[0].body

Nothing here mocks a client library: providers talk to these servers over
real sockets, with smtplib and requests doing the talking.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

# -- SMTP --------------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes  # the DATA payload after dot-unstuffing, CRLF line ends
    connection: int  # which connection (1-based) carried it
    authenticated_as: str | None

    @property
    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for ``host`` (and localhost), made with the openssl command.

    :raises RuntimeError: openssl is not installed.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=tierctl-test",
                    "-addext", f"subjectAltName=IP:{host},DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that records and parses messages and answers as scripted.

    :param security: ``None`` (plain), ``"starttls"`` (STARTTLS required) or ``"ssl"`` (implicit TLS).
    :param certificate: ``(cert, key)`` for TLS, e.g. from :func:`self_signed_certificate`.
    :param users: ``{login: password}``; when given, AUTH is required before MAIL.
    """

    def __init__(self, *, security: str | None = None, certificate: tuple[Path, Path] | None = None,
                 users: dict[str, str] | None = None):
        self.security = security
        self.certificate = certificate
        self.users = users
        self.host = "127.0.0.1"
        self.port = 0
        self.messages: list[ReceivedMail] = []
        self.commands: list[tuple[int, str, str]] = []  # (connection, MAIL|RCPT|DATA, reply)
        self.auth_attempts: list[tuple[str, bool]] = []  # (login, success); passwords are not kept
        self.connections = 0
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[tuple[str | None, str]]] = {"MAIL": deque(), "RCPT": deque(), "DATA": deque()}
        self._always: dict[str, list[tuple[str | None, str]]] = {"MAIL": [], "RCPT": [], "DATA": []}
        self._live: set[Any] = set()
        self._controller: Any = None

    # scripting

    def script(self, phase: str, *replies: str, address: str | None = None) -> None:
        """The next ``len(replies)`` ``phase`` commands (for ``address``, if given) get these replies.

        ``phase`` is MAIL, RCPT or DATA; a reply is a full SMTP line such as
        ``"451 4.7.1 Try again later"``. For DATA the reply comes after the
        message was received (and it is then not recorded).
        """
        with self._lock:
            self._scripts[phase].extend((address, r) for r in replies)

    def always(self, phase: str, reply: str, *, address: str | None = None) -> None:
        """Every ``phase`` command (for ``address``, if given) gets ``reply``, until :meth:`reset`."""
        with self._lock:
            self._always[phase].append((address, reply))

    def reset(self) -> None:
        with self._lock:
            for phase in self._scripts:
                self._scripts[phase].clear()
                self._always[phase].clear()

    def _reply_for(self, phase: str, address: str | None) -> str | None:
        with self._lock:
            queue = self._scripts[phase]
            for i, (addr, reply) in enumerate(queue):
                if addr is None or addr == address:
                    del queue[i]
                    return reply
            for addr, reply in self._always[phase]:
                if addr is None or addr == address:
                    return reply
        return None

    def drop_connections(self) -> None:
        """Close every open client connection, as a server does with idle sessions."""
        loop = self._controller.loop

        def drop() -> None:
            for proto in list(self._live):
                if proto.transport is not None:
                    proto.transport.close()

        done = threading.Event()
        loop.call_soon_threadsafe(lambda: (drop(), done.set()))
        done.wait(5)
        time.sleep(0.05)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages

    # lifecycle

    def __enter__(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP, AuthResult

        owner = self
        tls_context = None
        if self.security:
            if self.certificate is None:
                raise ValueError("a TLS server needs certificate=(cert, key)")
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(*map(str, self.certificate))

        class Protocol(SMTP):
            def __init__(self, *args: Any, number: int, **kwargs: Any):
                super().__init__(*args, **kwargs)
                self.number = number

            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                owner._live.add(self)

            def connection_lost(self, error: Exception | None) -> None:
                owner._live.discard(self)
                super().connection_lost(error)

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, mail_options):
                reply = owner._reply_for("MAIL", address)
                if owner.users is not None and not session.authenticated:
                    reply = "530 5.7.0 Authentication required"
                owner.commands.append((server.number, "MAIL", reply or "250 OK"))
                if reply:
                    return reply
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return "250 OK"

            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                reply = owner._reply_for("RCPT", address)
                owner.commands.append((server.number, "RCPT", reply or "250 OK"))
                if reply:
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                reply = owner._reply_for("DATA", envelope.rcpt_tos[0] if envelope.rcpt_tos else None)
                owner.commands.append((server.number, "DATA", reply or "250 OK"))
                if reply:
                    return reply
                login = session.auth_data if isinstance(session.auth_data, str) else None
                owner.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos),
                                                   bytes(envelope.original_content), server.number, login))
                return f"250 2.0.0 Ok: queued as {len(owner.messages)}"

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode()
            ok = owner.users is not None and owner.users.get(login) == auth_data.password.decode()
            owner.auth_attempts.append((login, ok))
            # On failure aiosmtpd answers 535; on success session.auth_data is the login.
            return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

        smtp_kwargs: dict[str, Any] = {"enable_SMTPUTF8": False}
        if self.security == "starttls":
            smtp_kwargs.update(tls_context=tls_context, require_starttls=True)
        if self.users is not None:
            # AUTH is required in handle_MAIL (aiosmtpd's auth_required warns without TLS).
            smtp_kwargs.update(authenticator=authenticator, auth_require_tls=self.security is not None)

        class FreePortController(Controller):
            def factory(self) -> Any:
                owner.connections += 1
                return Protocol(self.handler, number=owner.connections, **self.SMTP_kwargs)

            def _create_server(self) -> Any:
                return self._bind()

            async def _bind(self) -> Any:
                server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0,
                                                       ssl=self.ssl_context)
                self.port = server.sockets[0].getsockname()[1]
                return server

        self._controller = FreePortController(Handler(), hostname=self.host,
                                              ssl_context=tls_context if self.security == "ssl" else None,
                                              **smtp_kwargs)
        self._controller.start()
        self.port = self._controller.port
        time.sleep(0.05)
        self.connections = 0  # forget the controller's own start-up probe
        return self

    def __exit__(self, *exc: Any) -> None:
        self._controller.stop()


# -- HTTP --------------------------------------------------------------------------------------


@dataclass
class Reply:
    """A scripted HTTP answer. ``body`` may be a function of the request."""

    status: int = 200
    body: bytes | Callable[["Request"], bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Request:
    """One request as received: raw body bytes and headers (names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic()
    connection: int  # which connection (1-based) carried it
    seq: int = 0  # 1-based arrival number


def json_id_reply(request: Request) -> bytes:
    """The default answer body: ``{"id": "sub-<n>"}`` (n counts requests), like most receivers."""
    return b'{"id":"sub-%d"}' % request.seq


class HttpServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records requests and answers as scripted.

    Keep-alive connections, Nagle disabled, one thread per connection: fast
    enough to benchmark a client against. ``record=False`` keeps only counts.
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

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        """The next requests (in arrival order) get these replies, then the default again."""
        with self._lock:
            self._queue.extend(replies)

    def when(self, predicate: Callable[[Request], bool], *replies: Reply, repeat: bool = False) -> None:
        """Requests matching ``predicate`` get ``replies`` in order (the last forever if ``repeat``)."""
        with self._lock:
            self._rules.append((predicate, deque(replies), repeat))

    def _reply_for(self, request: Request) -> Reply:
        with self._lock:
            for predicate, replies, repeat in self._rules:
                if replies and predicate(request):
                    return replies[0] if repeat and len(replies) == 1 else replies.popleft()
            if self._queue:
                return self._queue.popleft()
        return self.default

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

            def do_GET(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  body, time.monotonic(), self.number)
                with owner._lock:
                    owner.count += 1
                    request.seq = owner.count
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                    if owner.record:
                        owner.requests.append(request)
                try:
                    reply = owner._reply_for(request)
                    if reply.delay:
                        time.sleep(reply.delay)
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


def unused_port() -> int:
    """A port nothing listens on (for "unreachable" tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- sample records ----------------------------------------------------------------------------


def sample_config(**organization: Any):
    """A minimal valid :class:`tierctl.model.Config` (Acme Analytics, one tier)."""
    from tierctl.model import Config

    org = {"name": "Acme Analytics", "timezone": "Europe/Amsterdam", "contact_email": "success@acme.example"}
    org.update(organization)
    return Config.model_validate({
        "version": 1,
        "organization": org,
        "tiers": {"advanced": {"name": "Advanced", "touch_model": "high-touch", "plans": ["enterprise"]}},
    })


def invitation(n: int = 1, **changes: Any):
    """Invitation number ``n``: ``inv-000n`` to ``contact<n>@globex.example``."""
    from tierctl.records import Invitation, Question

    values: dict[str, Any] = dict(
        invite_id=f"inv-{n:04d}", survey_id="pre-meeting", survey_title="Before our account review",
        tier="advanced", account_id="acc-42", account_name="Globex & Co", contact_email=f"contact{n}@globex.example",
        contact_name=f"Zoë Contact{n}", role="key-stakeholder", locale="en",
        occasion="meeting:uid-7@2027-03-04T14:00",
        due_at=datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc),
        closes_at=datetime(2027, 3, 4, 13, 0, tzinfo=timezone.utc),
        questions=(Question("agenda", "text", "What should we cover in our next call?"),
                   Question("satisfaction", "csat", "How satisfied are you so far?", (1, 5))),
        description="Three questions so we can prepare the call you need.",
        meeting_start=datetime(2027, 3, 4, 13, 0, tzinfo=timezone.utc),
    )
    values.update(changes)
    return Invitation(**values)


def invitations(count: int, start: int = 1) -> list:
    return [invitation(n) for n in range(start, start + count)]
