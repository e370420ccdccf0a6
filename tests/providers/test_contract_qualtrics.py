"""The qualtrics provider passes tierctl's provider contract, against its Qualtrics double."""

from __future__ import annotations

import pytest
from doubles.qualtrics import DIRECTORY, LIBRARY, MESSAGE, TOKEN, QualtricsDouble

from tierctl.testing import ProviderContract

SV = "SV_3kTQ0rB7Yq"


class TestQualtricsContract(ProviderContract):
    plugin = "qualtrics"

    @pytest.fixture
    def double(self):
        with QualtricsDouble(import_polls=1, export_polls=1) as qx:
            qx.add_survey(SV, "Before our account review")
            yield qx
            assert not qx.errors, qx.errors

    @pytest.fixture
    def provider_env(self):
        return {"QUALTRICS_TOKEN": TOKEN}

    @pytest.fixture
    def provider_options(self, double):
        return {"token": "${QUALTRICS_TOKEN}", "base_url": f"{double.url}/API/v3", "directory_id": DIRECTORY,
                "surveys": {"pre-meeting": SV}, "library_id": LIBRARY, "message_id": MESSAGE,
                "from_email": "surveys@acme.example", "timeout": 5}

    def answer(self, double, invitation, answers):
        # Export columns named after tierctl's question ids: no questions mapping needed.
        double.respond(invitation.invite_id, answers)

    def deliveries(self, double):
        with double.lock:
            return [d.embedded.get("invite_id") for d in double.deliveries]


