"""Real servers on 127.0.0.1 for provider tests, and sample records to send through them.

They live in :mod:`tierctl.testing` (shipped, so third-party provider
packages test with the same servers); this module keeps the names the tests
import::

    with SmtpServer() as smtp: ...      # aiosmtpd, scripted replies
    with HttpServer() as http: ...      # threaded HTTP/1.1, scripted replies

Nothing here mocks a client library: providers talk to these servers over
real sockets, with smtplib and requests doing the talking.
"""

from __future__ import annotations

from tierctl.testing.http_double import HttpDouble, HttpServer, Reply, Request, json_id_reply, route
from tierctl.testing.samples import invitation, invitations, sample_config
from tierctl.testing.smtp_server import ReceivedMail, SmtpServer, self_signed_certificate
from tierctl.testing.sockets import SilentServer, unused_port

__all__ = ["HttpDouble", "HttpServer", "ReceivedMail", "Reply", "Request", "SilentServer", "SmtpServer",
           "invitation", "invitations", "json_id_reply", "route", "sample_config", "self_signed_certificate",
           "unused_port"]
