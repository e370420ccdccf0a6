"""tierctl.testing: the kit for testing survey-provider plugins.

Shipped with tierctl and registered as a pytest plugin (``pytest11`` entry
point), so a provider package's tests get the fixtures without any set-up:

``tierctl_engine``, ``tierctl_engine_factory``
    An isolated :class:`Engine` (its own plugin host, a temporary SQLite
    ledger, a :class:`FakeClock`).
``tierctl_clock``
    A :class:`FakeClock` (:class:`RealClock` is the real one, for an
    :class:`Engine` whose providers meet a double that holds them to a
    rate in real time).
``tierctl_smtp_server``, ``tierctl_smtp_server_factory``
    A real SMTP server on 127.0.0.1 (:class:`SmtpServer`, needs aiosmtpd).
``tierctl_http_server``, ``tierctl_serve``
    A local HTTP server (:class:`HttpServer`), or any double started for the test.
``tierctl_silent_server``, ``tierctl_unused_port``
    A server that never answers; a port nobody listens on.
``tierctl_postgres``, ``tierctl_postgres_url``
    A real PostgreSQL server for the session (:class:`PostgresServer`), and
    an empty schema of its own on it for one test (a ``storage.url``).

and the contract suite every provider should pass::

    from tierctl.testing import ProviderContract

    class TestAcmeContract(ProviderContract):
        plugin = "acme"
        ...

and the ledger contract every storage backend should pass::

    from tierctl.testing import LedgerContract

    class TestMyBackend(LedgerContract):
        @pytest.fixture
        def ledger_url(self, tmp_path):
            return "mydb://..."

Names are imported on first use, so ``import tierctl.testing`` is cheap.

May import: every wing and the public API: the kit runs the real engine.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ProviderContract": "contract",
    "Engine": "engine",
    "SendOutcome": "engine",
    "RecordingLimiter": "engine",
    "FakeClock": "clock",
    "RealClock": "clock",
    "HttpServer": "http_double",
    "HttpDouble": "http_double",
    "Reply": "http_double",
    "Request": "http_double",
    "route": "http_double",
    "json_id_reply": "http_double",
    "SmtpServer": "smtp_server",
    "ReceivedMail": "smtp_server",
    "self_signed_certificate": "smtp_server",
    "LedgerContract": "ledger_contract",
    "PostgresServer": "postgres",
    "SilentServer": "sockets",
    "unused_port": "sockets",
    "invitation": "samples",
    "invitations": "samples",
    "sample_config": "samples",
    "SAMPLE_ANSWERS": "samples",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tierctl.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
