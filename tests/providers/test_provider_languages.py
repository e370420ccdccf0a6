"""Survey platforms get each contact's language (nl-BE -> nl -> the organisation's default): what the
SurveyMonkey, Typeform and Qualtrics doubles on 127.0.0.1 receive."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from doubles.qualtrics import DIRECTORY, LIBRARY, MESSAGE, TOKEN as QX_TOKEN, QualtricsDouble
from doubles.surveymonkey import SurveyMonkeyDouble

from tierctl.config.model import Config
from tierctl.errors import ConfigError
from tierctl.i18n import use_language
from tierctl.i18n.text import LocalText
from tierctl.plugins.provider_surveymonkey import DEFAULT_BODY_HTML, SurveyMonkeyProvider, default_body_html
from tierctl.providers import ProviderContext
from tierctl.testing import Engine, RealClock, invitation

TITLE = LocalText("Before our account review", {"en": "Before our account review", "nl": "Voor ons klantgesprek",
                                                "de": "Vor unserem Kundengespräch"})
QUESTION = {"en": "How satisfied are you so far?", "nl": "Hoe tevreden bent u tot nu toe?"}


ORGANIZATION = {"name": "Noordwind Logistiek N.V.", "contact_email": "success@noordwind.example",
                "languages": ["nl", "en"]}


def _surveys(provider: str) -> dict:
    return {"pre-meeting": {"title": dict(TITLE.variants), "provider": provider,
                            "questions": [{"id": "satisfaction", "type": "csat", "text": QUESTION}]}}


@pytest.fixture
def engine(tmp_path):
    """The kit's engine with a Dutch-first organisation ([nl, en]) on the real clock."""
    with Engine(tmp_path, clock=RealClock(), organization=ORGANIZATION) as built:
        yield built


def _config() -> Config:
    return Config.model_validate({
        "version": 1, "organization": {**ORGANIZATION, "timezone": "Europe/Amsterdam"},
        "tiers": {"advanced": {"name": "Advanced", "touch_model": "high-touch", "plans": ["enterprise"]}},
        "surveys": _surveys("p"),
        "providers": {"p": {"plugin": "outbox", "dir": "out", "survey_url": "https://s.example/{invite_id}"}}})


def _contacts() -> list:
    """A Dutch (Belgian), an English, a German and a French contact: French falls back to Dutch, the default."""
    return [invitation(n, locale=locale, survey_title=TITLE)
            for n, locale in ((1, "nl-BE"), (2, "en"), (3, "de"), (4, "fr"))]


def test_the_context_gives_texts_and_language_per_contact() -> None:
    context = ProviderContext(_config(), Path.cwd())
    assert [context.language(loc) for loc in ("nl-BE", "en-GB", "de", "fr", "", None)] == \
        ["nl", "en", "de", "nl", "nl", "nl"]
    assert context.questions("pre-meeting")[0].text == "Hoe tevreden bent u tot nu toe?"  # the default: nl
    assert context.questions("pre-meeting", "en-US")[0].text == "How satisfied are you so far?"
    assert context.questions("pre-meeting", "de")[0].text == "Hoe tevreden bent u tot nu toe?"  # not written in de
    assert context.survey_title("pre-meeting", "de") == "Vor unserem Kundengespräch"
    assert context.survey_title("nope", "de") == ""


# -- SurveyMonkey: one invite message per language ---------------------------------------------------


@pytest.fixture
def sm():
    with SurveyMonkeyDouble(minute_limit=10_000, day_limit=10_000) as double:
        double.add_survey("405123456", {"812002": ("How satisfied are you so far?", ["1", "2", "3", "4", "5"])})
        yield double
        assert not double.errors, double.errors


def _sm(engine: Engine, double: SurveyMonkeyDouble, **options) -> SurveyMonkeyProvider:
    values = {"token": double.token, "base_url": double.base_url, "surveys": {"pre-meeting": "405123456"},
              "requests_per_minute": 60_000, "backoff_factor": 0.01, "timeout": 5, **options}
    return engine.provider("surveymonkey", values, instance="monkey", surveys=_surveys("monkey"))


def _posts(double: SurveyMonkeyDouble, ending: str) -> list[tuple[str, dict]]:
    return [(r.route, json.loads(r.body)) for r in double.requests if r.method == "POST" and r.route.endswith(ending)]


def test_surveymonkey_sends_one_message_per_language_in_it(engine, sm) -> None:
    results = _sm(engine, sm).send(_contacts())
    assert [r.ok for r in results] == [True] * 4
    messages = _posts(sm, "/messages")
    by_subject = {body["subject"]: body["body_html"] for _, body in messages}
    assert set(by_subject) == {"Voor ons klantgesprek", "Before our account review", "Vor unserem Kundengespräch"}
    dutch = by_subject["Voor ons klantgesprek"]
    assert "Noordwind Logistiek N.V. hoort graag van je: <strong>Voor ons klantgesprek</strong>" in dutch
    assert '<a href="[SurveyLink]">Start de vragenlijst</a>' in dutch and "[OptOutLink]" in dutch
    assert "Start the survey" not in dutch
    german = by_subject["Vor unserem Kundengespräch"]
    assert '<a href="[SurveyLink]">Zur Umfrage</a>' in german and "Datenschutz" in german
    assert by_subject["Before our account review"] == DEFAULT_BODY_HTML.replace(
        "{organization}", "Noordwind Logistiek N.V.").replace("{survey_title}", "Before our account review")
    # Each message got its own recipients: nl-BE and fr (-> nl) together, en and de alone.
    [collector] = sm.collectors.values()
    recipients = {m.subject: sorted(sm.recipients[r].email for r in m.recipients) for m in collector.messages.values()
                  if m.status == "sent"}
    assert recipients == {"Voor ons klantgesprek": ["contact1@globex.example", "contact4@globex.example"],
                          "Before our account review": ["contact2@globex.example"],
                          "Vor unserem Kundengespräch": ["contact3@globex.example"]}
    assert len(_posts(sm, "/collectors")) == 1  # one collector for the survey, whatever the languages


def test_surveymonkey_subject_and_body_options_per_language(engine, sm) -> None:
    body = {"en": DEFAULT_BODY_HTML, "nl": "<p>Beste klant, [SurveyLink] [OptOutLink] [PrivacyLink] [FooterLink]</p>"}
    _sm(engine, sm, subject={"en": "Two minutes?", "nl": "Twee minuten?"}, body_html=body).send(_contacts()[:3])
    sent = {b["subject"]: b["body_html"] for _, b in _posts(sm, "/messages")}
    # German is not among the option's languages: the organisation's default (nl) is used.
    assert set(sent) == {"Twee minuten?", "Two minutes?"}
    assert sent["Twee minuten?"].startswith("<p>Beste klant,")
    with pytest.raises(ValueError, match="the nl message must contain"):
        SurveyMonkeyProvider.Options.model_validate({"token": "t", "surveys": {"a": "1"},
                                                     "body_html": {"en": DEFAULT_BODY_HTML, "nl": "<p>Hoi</p>"}})
    with pytest.raises(ValueError, match="not a language code"):
        SurveyMonkeyProvider.Options.model_validate({"token": "t", "surveys": {"a": "1"}, "subject": {"dutch": "x"}})


def test_surveymonkey_headings_match_a_question_in_any_of_its_languages(engine, sm) -> None:
    provider = _sm(engine, sm)
    [result] = provider.send([invitation(1, locale="nl", survey_title=TITLE)])
    sm.respond("inv-0001", {"812002": "4"})
    responses, _ = provider.fetch_responses("pre-meeting", None)
    assert [r.answers for r in responses] == [{"satisfaction": "4"}]


def test_the_default_body_in_english_is_the_documented_one() -> None:
    with use_language("en"):
        assert default_body_html() == DEFAULT_BODY_HTML


# -- Typeform: typeform-lang in the link, the mailer's e-mail in the same language ---------------------


MAIL = {"plugin": "outbox", "dir": "outbox", "survey_url": "https://s.example/{invite_id}"}


def _typeform(engine: Engine, **options):
    from doubles.typeform import TOKEN as TF_TOKEN

    return engine.provider("typeform", {"token": "${TYPEFORM_TOKEN}", "mailer": "mail",
                                        "forms": {"pre-meeting": "u6nXL7"}, **options},
                           instance="tf", others={"mail": MAIL}, surveys=_surveys("tf"),
                           env={"TYPEFORM_TOKEN": TF_TOKEN})


def _sent_link(folder: Path, invite_id: str) -> tuple[str, str]:
    message = email.message_from_bytes((folder / "outbox" / f"{invite_id}.eml").read_bytes(),
                                       policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    return re.search(r"https://form\.typeform\.com/to/\S+", text).group(0), text


def test_typeform_links_open_the_form_in_the_contacts_language(engine, tmp_path) -> None:
    provider = _typeform(engine)
    assert [r.ok for r in provider.send(_contacts())] == [True] * 4
    langs = {}
    for n in (1, 2, 3, 4):
        link, text = _sent_link(tmp_path, f"inv-000{n}")
        fragment = parse_qs(urlsplit(link).fragment)
        assert fragment["invite_id"] == [f"inv-000{n}"]
        langs[n] = fragment["typeform-lang"]
        if n == 1:
            assert "Voor ons klantgesprek" in text and "Vul de vragenlijst in" in text  # the mailer writes Dutch too
    # The forms are translated into organization.languages (nl, en): de and fr get the default, nl.
    assert langs == {1: ["nl"], 2: ["en"], 3: ["nl"], 4: ["nl"]}
    # Forms translated into German too: say so, and the German contact gets it.
    provider = _typeform(engine, languages=["nl", "en", "de"])
    link = provider.form_link(invitation(3, locale="de-AT"))
    assert link.endswith("#invite_id=inv-0003&tier=advanced&typeform-lang=de")
    with pytest.raises(ConfigError, match=r"tierctl(-\d+)?\.yaml:\d+:\d+: providers.tf.languages: 'Dutch': give each as a "
                                          "language code"):
        _typeform(engine, languages=["Dutch"])


def test_typeform_links_of_a_one_language_form_stay_as_they_were(engine) -> None:
    provider = _typeform(engine, languages=["en"])
    assert provider.form_link(invitation(1, locale="nl")) == \
        "https://form.typeform.com/to/u6nXL7#invite_id=inv-0001&tier=advanced"


# -- Qualtrics: the contact's language, and a distribution per language with its subject --------------


@pytest.fixture
def qx():
    with QualtricsDouble() as double:
        double.add_survey("SV_3kTQ0rB7Yq", "Before our account review")
        yield double
        assert not double.errors, double.errors


def _qualtrics(engine: Engine, double: QualtricsDouble, **options):
    return engine.provider("qualtrics", {"token": "${QUALTRICS_TOKEN}", "directory_id": DIRECTORY,
                                         "surveys": {"pre-meeting": "SV_3kTQ0rB7Yq"}, "library_id": LIBRARY,
                                         "message_id": MESSAGE, "base_url": double.url + "/API/v3",
                                         "poll_interval": 0.01, "backoff_factor": 0.01, "timeout": 5,
                                         "requests_per_second": 50, **options},
                           instance="qx", surveys=_surveys("qx"), env={"QUALTRICS_TOKEN": QX_TOKEN})


def test_qualtrics_gets_each_contacts_language_and_a_subject_in_it(engine, qx) -> None:
    results = _qualtrics(engine, qx).send(_contacts())
    assert [r.ok for r in results] == [True] * 4
    imported = [c for r in qx.requests if r.method == "POST" and r.route.endswith("/contactimports")
                for c in r.json()["contacts"]]
    assert {c["email"]: c["language"] for c in imported} == {
        "contact1@globex.example": "NL", "contact2@globex.example": "EN", "contact3@globex.example": "DE",
        "contact4@globex.example": "FR"}  # Qualtrics may have a French translation; the subject is Dutch
    distributions = [r.json() for r in qx.requests if r.method == "POST" and r.route.endswith("/distributions")]
    subjects = sorted(d["header"]["subject"] for d in distributions)
    assert subjects == ["Before our account review", "Voor ons klantgesprek", "Vor unserem Kundengespräch"]
    # Each distribution reaches only its language's contacts (its own mailing list).
    members = {d["header"]["subject"]: sorted(qx.lists[d["recipients"]["mailingListId"]]["members"])
               for d in distributions}
    assert [len(m) for _, m in sorted(members.items())] == [1, 2, 1]


def test_a_contact_without_a_locale_gets_the_organisations_language_on_qualtrics(engine, qx) -> None:
    _qualtrics(engine, qx).send([invitation(1, locale="", survey_title=TITLE)])
    [contact] = [c for r in qx.requests if r.method == "POST" and r.route.endswith("/contactimports")
                 for c in r.json()["contacts"]]
    assert contact["language"] == "NL"  # not EN: the organisation writes Dutch first


def test_qualtrics_subject_option_per_language(engine, qx) -> None:
    provider = _qualtrics(engine, qx, subject={"en": "Two minutes?", "nl": "Twee minuten?"})
    provider.send(_contacts()[:2])
    subjects = sorted(r.json()["header"]["subject"] for r in qx.requests
                      if r.method == "POST" and r.route.endswith("/distributions"))
    assert subjects == ["Twee minuten?", "Two minutes?"]
    with pytest.raises(ConfigError, match="providers.qx.subject: .*single, non-empty line"):
        _qualtrics(engine, qx, subject={"en": "Two\nlines"})


# -- SMS: the survey invitation's text and title in the contact's language ------------------------------


def test_sms_invitations_carry_the_title_in_the_contacts_language(engine) -> None:
    from dataclasses import replace

    from doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble

    with TwilioDouble(per_second=1000) as twilio:
        options = {"base_url": twilio.base_url, "account_sid": ACCOUNT_SID, "auth_token": "${TWILIO_AUTH_TOKEN}",
                   "from_number": "+3197010200300", "survey_url": "https://t.example/s/{invite_id}",
                   "per_second": 50, "timeout": 5,
                   "survey_text": {"nl": "{title}, twee minuten: {link}", "en": "{title}, two minutes: {link}"}}
        provider = engine.provider("twilio", options, instance="sms", surveys=_surveys("sms"),
                                   env={"TWILIO_AUTH_TOKEN": AUTH_TOKEN})
        batch = [replace(inv, phone=f"+316123400{n}", consent=("sms",)) for n, inv in enumerate(_contacts(), 1)]
        assert [r.ok for r in provider.send(batch)] == [True] * 4
        bodies = {m["To"]: m["Body"] for m in twilio.messages}
    assert bodies == {
        "+3161234001": "Voor ons klantgesprek, twee minuten: https://t.example/s/inv-0001",   # nl-BE
        "+3161234002": "Before our account review, two minutes: https://t.example/s/inv-0002",  # en
        # de: the title is written in German; the text is not, so it is the organisation's (nl).
        "+3161234003": "Vor unserem Kundengespräch, twee minuten: https://t.example/s/inv-0003",
        "+3161234004": "Voor ons klantgesprek, twee minuten: https://t.example/s/inv-0004"}    # fr -> nl
