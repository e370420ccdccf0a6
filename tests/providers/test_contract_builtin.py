"""tierctl's own providers (outbox, smtp, webhook) pass the provider contract of tierctl.testing,
exactly as a third-party provider package runs it: through the installed entry points, against
real servers on 127.0.0.1."""

from __future__ import annotations

import pytest

from tierctl.testing import HttpServer, ProviderContract, SmtpServer

SMTP_PASSWORD = "smtp-Pa55word-for-the-contract"
WEBHOOK_SECRET = "whsec-contract-0123456789abcdef"


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

    @pytest.fixture
    def provider_options(self, double):
        return {"host": double.host, "port": double.port, "security": "none", "timeout": 5,
                "username": "surveys@acme.example", "password": "${SMTP_PASSWORD}",
                "from_address": "surveys@acme.example", "retry_delay": 0.01,
                "survey_url": "https://survey.example/{survey}?id={invite_id}"}

    def stall_transport(self, options, port):
        # A silent server never greets: one short wait, no retries, keeps the check quick.
        return {**super().stall_transport(options, port), "retries": 0}

    def break_transport(self, options, port):
        return {**super().break_transport(options, port), "retries": 0}


class TestWebhookContract(ProviderContract):
    plugin = "webhook"

    @pytest.fixture
    def double(self):
        with HttpServer() as server:
            yield server

    @pytest.fixture
    def provider_env(self):
        return {"CRM_WEBHOOK_SECRET": WEBHOOK_SECRET}

    @pytest.fixture
    def provider_options(self, double):
        return {"url": f"{double.url}/hooks/tierctl", "secret": "${CRM_WEBHOOK_SECRET}", "per_second": 5,
                "headers": {"Authorization": "Bearer crm-token-0123456789"}, "backoff_factor": 0.01,
                "timeout": 5}

    def stall_transport(self, options, port):
        return {**super().stall_transport(options, port), "max_retries": 0}

    def break_transport(self, options, port):
        return {**super().break_transport(options, port), "max_retries": 0}
