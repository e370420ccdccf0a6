"""tierctl's own providers (outbox, smtp, webhook) pass the provider contract of tierctl.testing,
exactly as a third-party provider package runs it: through the installed entry points, against
real servers on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
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


def eml_deliveries(folder):
    """One entry per .eml file written to ``folder``, by the invite id in the survey link inside it (so a
    file written for one invitation with another's link counts for the one it reaches)."""
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.is_dir() else ():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found += re.findall(r"survey\.example/[^?\s]+\?id=([A-Za-z0-9_-]+)",
                            message.get_body(("plain",)).get_content())[:1]
    return found


class TestOutboxContract(ProviderContract):
    plugin = "outbox"

    @pytest.fixture
    def double(self, tmp_path):
        # The folder the outbox writes to: the contract's config file is in tmp_path/tierctl-contract.
        return tmp_path / "tierctl-contract" / "outbox"

    @pytest.fixture
    def provider_options(self):
        # Relative to the generated config file, so inside the test's tmp_path.
        return {"dir": "outbox", "survey_url": "https://survey.example/{survey}?id={invite_id}"}

    def deliveries(self, double):
        """A delivery is a written .eml (a rewrite replaces the file with the same bytes: still one)."""
        return eml_deliveries(double)


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




def test_the_outbox_delivery_rule_bites_when_a_sent_invitation_has_no_eml(tmp_path):
    """The outbox's deliveries (written .eml files) are what the sending checks judge: an invitation
    recorded 'sent' whose file is missing fails them, naming it."""
    from tierctl.plugins.provider_outbox import eml_name
    from tierctl.testing import Engine

    contract = TestOutboxContract()
    folder = tmp_path / "outbox"
    with Engine(tmp_path) as engine:
        provider = engine.provider("outbox", {"dir": "outbox",
                                              "survey_url": "https://survey.example/{survey}?id={invite_id}"})
        invitations = contract.make_invitations(2)
        assert engine.send(provider, invitations).ok
        contract._check_deliveries("a healthy send", folder, invitations, engine)  # both written once
        (folder / eml_name(invitations[0].invite_id)).unlink()
        with pytest.raises(AssertionError, match=f"{invitations[0].invite_id} is recorded 'sent' but was "
                                                 "delivered 0 times"):
            contract._check_deliveries("a healthy send", folder, invitations, engine)
