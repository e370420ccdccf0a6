"""The surveymonkey provider passes the provider contract of tierctl.testing, against its API double."""

from __future__ import annotations

import pytest
from doubles.surveymonkey import SurveyMonkeyDouble

from tierctl.testing import ProviderContract

SM_SURVEY = "405123456"
#: The sample survey's questions (tierctl.testing.samples) as they look on SurveyMonkey.
QUESTIONS = {"agenda": ("812001", "What should we cover in our next call?", []),
             "satisfaction": ("812002", "How satisfied are you so far?", ["1", "2", "3", "4", "5"])}


class TestSurveyMonkeyContract(ProviderContract):
    plugin = "surveymonkey"

    @pytest.fixture
    def double(self):
        with SurveyMonkeyDouble() as sm:
            sm.add_survey(SM_SURVEY, {qid: (heading, choices) for qid, heading, choices in QUESTIONS.values()})
            yield sm
            assert not sm.errors, sm.errors

    @pytest.fixture
    def provider_env(self, double):
        return {"SM_TOKEN": double.token}

    @pytest.fixture
    def provider_options(self, double):
        return {"token": "${SM_TOKEN}", "base_url": double.base_url, "surveys": {"pre-meeting": SM_SURVEY},
                "timeout": 5}

    def answer(self, double, invitation, answers):
        double.respond(invitation.invite_id, {QUESTIONS[qid][0]: str(value) for qid, value in answers.items()})

    def deliveries(self, double):
        with double.lock:
            return double.delivered_invite_ids()


