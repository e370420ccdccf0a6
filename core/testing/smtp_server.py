"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records messages and answers as scripted.

::

    with SmtpServer() as smtp:
        smtp.script("RCPT", "451 4.7.1 Greylisted, try again")   # next RCPT only
        smtp.always("RCPT", "550 5.1.1 No such user", address="gone@example.com")
        ... send to 127.0.0.1:smtp.port ...
        smtp.messages[0].parsed["Subject"]

aiosmtpd is a test dependency, imported only when a server starts; without
it, starting one raises ``ModuleNotFoundError`` saying what to install.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ReceivedMail", "SmtpServer", "self_signed_certificate"]


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
        self._drops_after_data = 0
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

    def drop_after_data(self, count: int = 1) -> None:
        """The next ``count`` messages are received (and recorded: they were delivered), then the
        connection is closed before the server confirms them, as a crashing relay or a broken network does."""
        with self._lock:
            self._drops_after_data += count

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
        try:
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import SMTP, AuthResult
        except ImportError as exc:
            raise ModuleNotFoundError(
                f"tierctl.testing's SMTP server needs aiosmtpd, which is not importable ({exc}); "
                "install it with: pip install 'aiosmtpd>=1.4' (or tierctl[test])") from None

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
                with owner._lock:
                    drop = owner._drops_after_data > 0
                    owner._drops_after_data -= drop
                if drop:
                    server.transport.abort()  # delivered, but the client never hears so
                    return "250 2.0.0 Ok (never sent: the connection is gone)"
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
