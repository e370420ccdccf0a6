"""The acme provider passes tierctl's provider contract (tierctl.testing)."""

# [docs:contract]
import pytest
from acme_api import AcmeApi

from tierctl.testing import ProviderContract


class TestAcmeContract(ProviderContract):
    plugin = "acme"  # found through the installed entry point, as users get it

    @pytest.fixture
    def double(self):
        with AcmeApi(api_key="acme-test-key-0123456789") as api:
            yield api

    @pytest.fixture
    def provider_env(self):
        return {"ACME_API_KEY": "acme-test-key-0123456789"}

    @pytest.fixture
    def provider_options(self, double):
        return {"api_key": "${ACME_API_KEY}", "base_url": f"{double.url}/v1", "retries": 0}

    def answer(self, double, invitation, answers):
        double.respond(invitation.invite_id, answers)
# [/docs:contract]
