"""The typeform provider passes tierctl's provider contract, against its Typeform double.

Typeform is link-only: sending hands the invitations to the mailer (an
``outbox`` instance here) and makes no Typeform API request. So the checks
that a *send* against a dead or silent API fails, and that sends take tokens
from Typeform's rate limit, do not apply to sending; for fetching they do,
and run below. The respondent answers through the link in the .eml the
mailer wrote, so the invite id round-trips exactly as in production.
"""

from __future__ import annotations

import email
import email.policy
import re

import pytest
from doubles.typeform import TOKEN, TypeformDouble

from tierctl.plugins.provider_outbox import eml_name
from tierctl.testing import ProviderContract, SilentServer, unused_port

FORM = "u6nXL7"


class TestTypeformContract(ProviderContract):
    plugin = "typeform"

    @pytest.fixture
    def double(self, tmp_path):
        # The contract checks pacing on a fake clock, so the double does not also hold the client to 2/s.
        with TypeformDouble(requests_per_second=1000) as tf:
            tf.add_form(FORM, {"agenda": "long_text", "satisfaction": "opinion_scale"})
            tf.outbox = tmp_path / "typeform-outbox"
            yield tf
            assert not tf.errors, tf.errors

    @pytest.fixture
    def provider_env(self):
        return {"TYPEFORM_TOKEN": TOKEN}

    @pytest.fixture
    def provider_options(self, double):
        return {"token": "${TYPEFORM_TOKEN}", "mailer": "mail", "forms": {"pre-meeting": FORM},
                "base_url": double.url, "timeout": 5, "page_size": 2}  # small pages: fetches cross pages

    @pytest.fixture
    def other_providers(self, double):
        return {"mail": {"plugin": "outbox", "dir": str(double.outbox),
                         "survey_url": "https://survey.example/{survey}?id={invite_id}"}}

    def deliveries(self, double):
        """Typeform is link-only: a delivery is an .eml the mailer wrote with the invitation's form link
        (the kit's send faults then skip, sending makes no Typeform request; its fetch faults run)."""
        found = []
        for path in sorted(double.outbox.glob("*.eml")) if double.outbox.is_dir() else ():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            link = re.search(r"https://form\.typeform\.com/to/\S+", message.get_body(("plain",)).get_content())
            found += re.findall(r"invite_id=([A-Za-z0-9_-]+)", link.group(0))[:1] if link else []
        return found

    def answer(self, double, invitation, answers):
        raw = (double.outbox / eml_name(invitation.invite_id)).read_bytes()
        text = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",)).get_content()
        link = re.search(r"https://form\.typeform\.com/to/\S+", text).group(0)
        double.respond(link, answers)


    # Sending makes no Typeform request: only fetching can meet a dead, silent or busy API.

    def test_connection_refused_becomes_a_tierctl_error(self, contract_engine, provider_options, other_providers):
        """Fetching from a closed port is a ProviderError naming the instance (sending does not use the API)."""
        provider = contract_engine.provider(self.plugin, self.break_transport(dict(provider_options), unused_port()),
                                            instance=self.instance, others=other_providers)
        _, error = self._bounded("fetch from a closed port",
                                 lambda: contract_engine.fetch_all(provider, "pre-meeting"))
        self._judge_fetch_failure("connection refused", error)
        outcome = contract_engine.send(provider, self.make_invitations(2))
        assert outcome.ok, "sending must not depend on the Typeform API"

    def test_timeout_becomes_a_tierctl_error(self, contract_engine, provider_options, other_providers):
        """Fetching from a server that never answers is a ProviderError, in bounded time."""
        with SilentServer() as silent:
            provider = contract_engine.provider(self.plugin, self.stall_transport(dict(provider_options), silent.port),
                                                instance=self.instance, others=other_providers)
            _, error = self._bounded("fetch from a server that never answers",
                                     lambda: contract_engine.fetch_all(provider, "pre-meeting"))
            self._judge_fetch_failure("timeout", error)
            provider.close()

    def test_declared_rate_limit_is_honoured_when_sending(self, contract_engine, contract_provider, double):
        """Sends are paced by the mailer's rate (see test_provider_typeform); they make no Typeform request."""
        before = double.count
        self._sent(contract_engine, contract_provider, self.make_invitations(self.rate_check_invitations))
        assert double.count == before, "sending made Typeform API requests"
        assert contract_provider.limiter.acquired == [], "sending took Typeform API tokens it does not use"
