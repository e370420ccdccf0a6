"""tierctl's own providers (outbox, smtp, webhook) pass the provider contract of tierctl.testing,
exactly as a third-party provider package runs it: through the installed entry points, against
real servers on 127.0.0.1."""

from __future__ import annotations

import re

import pytest

from tierctl.plugins.provider_webhook import verify_signature
from tierctl.testing import HttpDouble, ProviderContract, Reply, SmtpServer, route

SMTP_PASSWORD = "smtp-Pa55word-for-the-contract"
WEBHOOK_SECRET = "whsec-contract-0123456789abcdef"


class WebhookReceiver(HttpDouble):
    """A receiver as the webhook provider's docs ask for: signature checked on the raw bytes, one
    delivery per Idempotency-Key (a repeated request is accepted and not delivered again)."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: dict[str, str] = {}  # Idempotency-Key -> receiver id

    @route("POST", "/hooks/tierctl")
    def receive(self, request):
        if not verify_signature(WEBHOOK_SECRET.encode(), request.body, request.headers.get("x-tierctl-signature", "")):
            return Reply.json({"error": "bad signature"}, 401)
        key = request.headers["idempotency-key"]
        with self.lock:
            receipt = self.delivered.setdefault(key, f"rcv-{len(self.delivered) + 1}")
        return {"id": receipt}


class TestOutboxContract(ProviderContract):
    plugin = "outbox"

    @pytest.fixture
    def provider_options(self):
        # Relative to the generated config file, so inside the test's tmp_path.
        return {"dir": "outbox", "survey_url": "https://survey.example/{survey}?id={invite_id}"}


class TestSmtpContract(ProviderContract):
    plugin = "smtp"

    @pytest.fixture
    def double(self):
        with SmtpServer(users={"surveys@acme.example": SMTP_PASSWORD}) as server:
            yield server

    @pytest.fixture
    def provider_env(self):
        return {"SMTP_PASSWORD": SMTP_PASSWORD}

    def deliveries(self, double):
        """One entry per message the server accepted, by the invite id in its survey link: the
        contract then checks each invitation reached the person at most once, and 'sent' exactly once."""
        found = []
        for mail in list(double.messages):
            text = mail.parsed.get_body(("plain",)).get_content()
            found += re.findall(r"survey\.example/[^?\s]+\?id=([A-Za-z0-9_-]+)", text)[:1]
        return found

    @pytest.fixture
    def provider_options(self, double):
        return {"host": double.host, "port": double.port, "security": "none", "timeout": 5,
                "username": "surveys@acme.example", "password": "${SMTP_PASSWORD}",
                "from_address": "surveys@acme.example",
                "survey_url": "https://survey.example/{survey}?id={invite_id}"}


class TestWebhookContract(ProviderContract):
    plugin = "webhook"

    @pytest.fixture
    def double(self):
        with WebhookReceiver() as server:
            yield server

    @pytest.fixture
    def provider_env(self):
        return {"CRM_WEBHOOK_SECRET": WEBHOOK_SECRET}

    def deliveries(self, double):
        with double.lock:
            return list(double.delivered)

    @pytest.fixture
    def provider_options(self, double):
        return {"url": f"{double.url}/hooks/tierctl", "secret": "${CRM_WEBHOOK_SECRET}", "per_second": 5,
                "headers": {"Authorization": "Bearer crm-token-0123456789"}, "timeout": 5}


