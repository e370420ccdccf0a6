"""The SMS/WhatsApp providers pass the provider contract of tierctl.testing against their doubles."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tierctl.testing import ProviderContract
from doubles.messagebird import ACCESS_KEY, MessageBirdDouble
from doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble


class _Texts(ProviderContract):
    def make_invitations(self, count):
        # SMS needs a phone number and the contact's consent; the samples are e-mail contacts.
        return [replace(inv, phone=f"+3161234{n:04d}", consent=("sms",))
                for n, inv in enumerate(super().make_invitations(count))]


class TestTwilioContract(_Texts):
    plugin = "twilio"

    def deliveries(self, double):
        # Twilio keeps no metadata of ours: the invite id travels in the survey link of the body.
        return [m["Body"].rsplit("/", 1)[-1] for m in double.messages]

    @pytest.fixture
    def double(self):
        with TwilioDouble(per_second=1000) as twilio:
            yield twilio

    @pytest.fixture
    def provider_env(self):
        return {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}

    @pytest.fixture
    def provider_options(self, double):
        return {"base_url": double.base_url, "account_sid": ACCOUNT_SID, "auth_token": "${TWILIO_AUTH_TOKEN}",
                "from_number": "+3197010200300", "survey_url": "https://t.example/s/{invite_id}",
                "per_second": 50, "timeout": 5}


class TestMessageBirdContract(_Texts):
    plugin = "messagebird"

    def deliveries(self, double):
        return [m["reference"] for m in double.messages]

    @pytest.fixture
    def double(self):
        with MessageBirdDouble(per_second=1000) as bird:
            yield bird

    @pytest.fixture
    def provider_env(self):
        return {"MESSAGEBIRD_KEY": ACCESS_KEY}

    @pytest.fixture
    def provider_options(self, double):
        return {"base_url": double.url, "access_key": "${MESSAGEBIRD_KEY}", "originator": "Acme",
                "survey_url": "https://t.example/s/{invite_id}", "per_second": 50, "timeout": 5}
