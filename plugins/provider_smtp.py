"""The ``smtp`` provider: invitations as e-mail through your own mail server.

::

    providers:
      mail:
        plugin: smtp
        host: smtp.acme.example
        security: starttls              # starttls (port 587) | ssl (465) | none (25, trusted networks only)
        username: surveys@acme.example
        password: ${SMTP_PASSWORD}
        from_address: surveys@acme.example
        survey_url: https://form.typeform.com/to/AbC123#invite_id={invite_id}&tier={tier}
        per_second: 2                   # messages per second (default 2)

The message is :func:`tierctl.plugins.email_message.build_message`'s, byte
for byte what the ``outbox`` provider writes. One SMTP session is reused
across messages and batches until :meth:`SmtpProvider.close`; a session the
server dropped is reopened once.

Outcomes, per invitation:

* 2xx after the message: sent, ``external_id`` is the ``Message-ID``.
* 4xx (greylisting 450/451, 452, 421 "closing"): retried ``retries`` times
  with doubling delays, then ``failed(retry=True)``. When the server itself is
  unavailable (421, or the connection keeps failing) the rest of the batch is
  failed(retry=True) at once instead of waiting again for every message.
* 5xx for the recipient or the message (550, 553, 554): ``failed(retry=False)``
  with the server's reply as the reason.
* The connection is lost after the message was transmitted but before the
  server confirmed it (or no confirmation comes in ``timeout``): the message
  may have been delivered, so it is ``unknown``
  (:meth:`~tierctl.records.SendResult.maybe_sent`): never resent on its own,
  listed by ``survey status``, sent again only with ``--resend-unknown``.

The whole provider fails (:class:`~tierctl.providers.ProviderError`) when
login is rejected (535), TLS cannot be set up or verified, the server
refuses the sender, or it cannot be reached after the retries. If messages
of the batch were already transmitted, their results are returned and the
rest are failed(retry=True); the next ``send`` raises the error.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Sequence

from pydantic import Field, SecretStr, model_validator

from tierctl.plugins.email_message import EmailOptions, InvalidRecipient, message_bytes, render_for
from tierctl.providers import Provider, ProviderContext, ProviderError, RateLimit
from tierctl.records import Invitation, SendResult

if TYPE_CHECKING:
    import smtplib
    import ssl

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class SmtpOptions(EmailOptions):
    host: str = Field(description="SMTP server host name")
    port: int | None = Field(None, ge=1, le=65535, description="Default 587 (starttls), 465 (ssl), 25 (none)")
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (upgrade a plain connection), ssl (implicit TLS) or none")
    username: str | None = None
    password: SecretStr | None = Field(None, description="Write it as ${SMTP_PASSWORD}")
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the server on each command")
    per_second: float = Field(2.0, gt=0, description="Messages per second at most (the engine paces to it)")
    retries: int = Field(3, ge=0, le=10, description="Retries of a temporary (4xx) failure within a batch")
    retry_delay: float = Field(1.0, ge=0, le=60, description="Seconds before the first retry; doubles each time")
    ca_file: str | None = Field(None, description="PEM file of certificates to trust (a private CA or a "
                                                  "self-signed relay), relative to the config file")
    local_hostname: str | None = Field(None, description="Name sent in EHLO; default this machine's FQDN")
    allow_plaintext_login: bool = Field(False, description="Allow a password over security: none to a host "
                                                           "other than this machine (it travels unencrypted)")

    @model_validator(mode="after")
    def _login_pair(self) -> "SmtpOptions":
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both, or neither for an open relay")
        if (self.password is not None and self.security == "none" and not self.allow_plaintext_login
                and self.host.lower() not in ("localhost", "127.0.0.1", "::1")):
            raise ValueError(f"security: none would send the password to {self.host} unencrypted; use "
                             "starttls or ssl (or set allow_plaintext_login: true on a trusted network)")
        return self


def _rate(per_second: float) -> RateLimit:
    if per_second >= 1 and float(per_second).is_integer():
        return RateLimit(int(per_second), 1.0)
    return RateLimit(1, 1.0 / per_second)


class _Unavailable(Exception):
    """The server is temporarily unavailable as a whole (421, connection keeps failing)."""


class _Dropped(Exception):
    """The session broke before the message was transmitted: safe to try again."""


class _LostAfterPayload(Exception):
    """The session broke after the message was transmitted: it may have been delivered."""


_EOL = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _data_payload(data: bytes) -> bytes:
    """The DATA payload: CRLF line ends, dot-stuffed, terminated (RFC 5321 4.5.2)."""
    data = _LEADING_DOT.sub(b"..", _EOL.sub(b"\r\n", data))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class SmtpProvider(Provider):
    """Sends each invitation as one e-mail over one reused SMTP session."""

    name = "smtp"
    description = "Send invitations as e-mail through an SMTP server (STARTTLS/SSL, login, retries)"
    Options = SmtpOptions
    batch_size = 50
    options: SmtpOptions

    def __init__(self, instance: str, options: SmtpOptions, context: ProviderContext):
        super().__init__(instance, options, context)
        self.rate_limit = _rate(options.per_second)
        organization = context.config.organization if context.config is not None else None
        self.sender = options.from_address or (organization.contact_email if organization else None)
        if not self.sender:
            raise ProviderError(instance, "no sender address: set from_address in the provider's options "
                                          "(or organization.contact_email)", retry=False)
        self.port = options.port or DEFAULT_PORTS[options.security]
        self.address = f"{options.host}:{self.port}"
        self.connections = 0  # sessions opened so far
        self._smtp: "smtplib.SMTP | None" = None
        self._tls: "ssl.SSLContext | None" = None
        self._fatal: ProviderError | None = None
        self._transmitted = False  # a message of the current batch went over the wire
        self._lock = threading.Lock()

    # -- the batch -------------------------------------------------------------------------

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        with self._lock:
            if self._fatal is not None:
                raise self._fatal
            self._transmitted = False
            results: list[SendResult] = []
            unavailable: str | None = None
            for invitation in batch:
                if unavailable is not None:
                    results.append(SendResult.failed(invitation.invite_id, unavailable, retry=True))
                    continue
                try:
                    results.append(self._send_one(invitation))
                except _Unavailable as exc:
                    unavailable = str(exc)
                    results.append(SendResult.failed(invitation.invite_id, unavailable, retry=True))
                except ProviderError as exc:
                    self._disconnect()
                    if not self._transmitted:
                        raise  # nothing of this batch went out: the engine keeps all of it for later
                    self._fatal = exc
                    done = {r.invite_id for r in results}
                    results += [SendResult.failed(i.invite_id, f"not sent: {exc}", retry=True)
                                for i in batch if i.invite_id not in done]
                    break
            return results

    def _send_one(self, invitation: Invitation) -> SendResult:
        try:
            msg = render_for(self, invitation)
        except InvalidRecipient as exc:
            return SendResult.failed(invitation.invite_id, str(exc))
        recipient = msg["To"].addresses[0].addr_spec
        payload = _data_payload(message_bytes(msg))
        message_id = str(msg["Message-ID"])
        attempt, reconnected = 0, False
        while True:
            try:
                code, text, step = self._transaction(recipient, payload)
            except _Dropped as exc:
                self._disconnect()
                if not reconnected:
                    reconnected = True  # an idle session the server closed: reopen once
                    continue
                raise _Unavailable(f"the connection to {self.address} keeps breaking ({exc})") from None
            except _LostAfterPayload as exc:
                self._disconnect()
                return SendResult.maybe_sent(invitation.invite_id,
                                             f"the connection broke after the message was transmitted ({exc}); "
                                             "it may have been delivered, so it is not sent again")
            reply = f"{code} {text}".strip()
            if 200 <= code < 300:
                return SendResult.sent(invitation.invite_id, message_id)
            if code == 421:
                self._disconnect()  # the server is closing this session
            if 400 <= code < 500:
                attempt += 1
                if attempt > self.options.retries:
                    reason = f"{step}: {reply} (still failing after {self.options.retries} retries)"
                    if code == 421:
                        raise _Unavailable(f"the server {self.address} is unavailable: {reason}")
                    return SendResult.failed(invitation.invite_id, reason, retry=True)
                self.sleep(self.options.retry_delay * 2 ** (attempt - 1))
                continue
            if code == 530:
                raise ProviderError(self.instance, f"the server {self.address} requires authentication: "
                                                   f"{reply}; set username and password", retry=False)
            if step == "MAIL FROM" and code != 552:  # 552: this message is too big; others: the sender
                raise ProviderError(self.instance, f"the server {self.address} refused the sender "
                                                   f"<{self.sender}>: {reply}", retry=False)
            return SendResult.failed(invitation.invite_id, f"{step}: {reply}", retry=False)

    def _transaction(self, recipient: str, payload: bytes) -> tuple[int, str, str]:
        """MAIL, RCPT, DATA and the message; returns the first non-success reply (or the final one)."""
        import smtplib

        smtp = self._session()
        try:
            code, text = smtp.mail(self.sender or "")
            if code != 250:
                return self._rejected(smtp, code, text, "MAIL FROM")
            code, text = smtp.rcpt(recipient)
            if code not in (250, 251):
                return self._rejected(smtp, code, text, "RCPT TO")
            code, text = smtp.docmd("data")
            if code != 354:
                return self._rejected(smtp, code, text, "DATA")
        except smtplib.SMTPServerDisconnected as exc:
            raise _Dropped(self._scrub(str(exc)) or "disconnected") from None
        except OSError as exc:
            raise _Dropped(self._scrub(str(exc)) or type(exc).__name__) from None
        try:
            self._transmitted = True
            smtp.send(payload)
            code, text = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _LostAfterPayload(self._scrub(str(exc)) or type(exc).__name__) from None
        if code != 250:
            self._rset(smtp)
        return code, self._text(text), "message"

    def _rejected(self, smtp: "smtplib.SMTP", code: int, text: bytes, step: str) -> tuple[int, str, str]:
        if code != 421:
            self._rset(smtp)
        return code, self._text(text), step

    def _rset(self, smtp: "smtplib.SMTP") -> None:
        try:
            smtp.rset()
        except Exception:
            self._disconnect()

    def _text(self, reply: bytes | str) -> str:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return self._scrub(" ".join(text.split()))

    def _scrub(self, text: str) -> str:
        """Remove the password (and its AUTH encodings) from anything a server said."""
        password = self.options.password.get_secret_value() if self.options.password else ""
        if not password:
            return text
        import base64

        user = self.options.username or ""
        for secret in {password, base64.b64encode(password.encode()).decode(),
                       base64.b64encode(f"\0{user}\0{password}".encode()).decode()}:
            text = text.replace(secret, "***")
        return text

    # -- the session -----------------------------------------------------------------------

    def _session(self) -> "smtplib.SMTP":
        """The open session, or a new one (connect, TLS, login), retried on temporary failures."""
        import smtplib

        if self._smtp is not None:
            return self._smtp
        last = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                self.sleep(self.options.retry_delay * 2 ** (attempt - 1))
            try:
                self._smtp = self._open()
                self.connections += 1
                return self._smtp
            except smtplib.SMTPConnectError as exc:
                last = f"{exc.smtp_code} {self._text(exc.smtp_error)}"
                if 500 <= exc.smtp_code < 600:
                    break
            except (OSError, smtplib.SMTPException) as exc:
                last = self._scrub(str(exc)) or type(exc).__name__
        raise ProviderError(self.instance, f"cannot open an SMTP session with {self.address} "
                                           f"(security {self.options.security}): {last}", retry=True)

    def _tls_context(self) -> "ssl.SSLContext":
        import ssl

        if self._tls is None:
            cafile = None
            if self.options.ca_file:
                cafile = str(Path(self.context.base_dir) / self.options.ca_file)
            try:
                self._tls = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as exc:
                raise ProviderError(self.instance, f"cannot read ca_file {cafile}: {exc}", retry=False) from None
        return self._tls

    def _open(self) -> "smtplib.SMTP":
        import smtplib
        import ssl

        opts = self.options
        try:
            if opts.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(opts.host, self.port, opts.local_hostname,
                                                      timeout=opts.timeout, context=self._tls_context())
            else:
                smtp = smtplib.SMTP(opts.host, self.port, opts.local_hostname, timeout=opts.timeout)
        except ssl.SSLError as exc:
            raise self._tls_error(exc) from None
        try:
            smtp.ehlo()
            if opts.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ProviderError(self.instance, f"the server {self.address} does not offer STARTTLS; use "
                                                       "security: ssl, or none only on a trusted network",
                                        retry=False)
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if opts.username and opts.password is not None:
                self._login(smtp)
            return smtp
        except ssl.SSLError as exc:
            smtp.close()
            raise self._tls_error(exc) from None
        except BaseException:
            smtp.close()
            raise

    def _login(self, smtp: "smtplib.SMTP") -> None:
        import smtplib

        assert self.options.username is not None and self.options.password is not None
        try:
            smtp.login(self.options.username, self.options.password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            reply = f"{exc.smtp_code} {self._text(exc.smtp_error)}"
            raise ProviderError(self.instance, f"the server {self.address} rejected the login of user "
                                               f"{self.options.username!r}: {reply}",
                                retry=400 <= exc.smtp_code < 500) from None
        except smtplib.SMTPNotSupportedError:
            raise ProviderError(self.instance, f"the server {self.address} does not offer AUTH on this "
                                               "connection; check security (starttls or ssl)", retry=False) from None
        except smtplib.SMTPException as exc:
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise
            raise ProviderError(self.instance, f"cannot log in to {self.address}: "
                                               f"{self._scrub(str(exc))}", retry=False) from None

    def _tls_error(self, exc: Exception) -> ProviderError:
        import ssl

        if isinstance(exc, ssl.SSLCertVerificationError):
            why = exc.verify_message or str(exc)
            return ProviderError(self.instance, f"the TLS certificate of {self.address} is not trusted ({why}); "
                                                "for a private CA or a self-signed relay set ca_file",
                                 retry=False)
        return ProviderError(self.instance, f"TLS with {self.address} failed ({getattr(exc, 'reason', None) or exc}); "
                                            f"is security: {self.options.security} right for port {self.port}?",
                             retry=False)

    def _disconnect(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except Exception:
                pass

    def close(self) -> None:
        with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is not None:
                try:
                    smtp.quit()
                except Exception:
                    try:
                        smtp.close()
                    except Exception:
                        pass
