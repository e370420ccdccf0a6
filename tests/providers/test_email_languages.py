"""Invitations in the contact's language: nl, de, en, and the fallbacks nl-BE -> nl -> the default."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from servers import invitation, sample_config
from tierctl.i18n.text import LocalText
from tierctl.plugins.email_message import EmailOptions, build_message
from tierctl.records import Question

OPTIONS = EmailOptions.model_validate({"survey_url": "https://form.example/s#invite_id={invite_id}"})
TITLE = LocalText("Quarterly feedback", {"en": "Quarterly feedback", "nl": "Kwartaalfeedback",
                                         "de": "Quartalsumfrage"})
QUESTION = LocalText("How likely are you to recommend us?",
                     {"en": "How likely are you to recommend us?", "nl": "Hoe waarschijnlijk is het dat je ons aanbeveelt?",
                      "de": "Wie wahrscheinlich empfehlen Sie uns?"})


def _message(locale: str, languages=("nl", "en"), **changes):
    config = sample_config(languages=list(languages))
    inv = invitation(1, locale=locale, survey_title=TITLE, account_name="Noordwind Logistiek N.V.",
                     questions=(Question("nps", "nps", QUESTION, (0, 10)),), description="",
                     closes_at=datetime(2027, 3, 31, 22, 0, tzinfo=timezone.utc), meeting_start=None, **changes)
    msg = build_message(inv, OPTIONS, None, config.organization)
    return msg, msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_a_german_contact_gets_a_german_invitation_with_german_dates() -> None:
    msg, text, html = _message("de")
    assert msg["Subject"] == "Quartalsumfrage"
    assert text.startswith("Hallo Zoë,\n")
    assert "Wir möchten gern wissen, wie zufrieden Noordwind Logistiek N.V. mit Acme Analytics ist." in text
    assert "Quartalsumfrage: 1 Frage, etwa 1 Minute." in text
    # The quarter closes at midnight Amsterdam time, 1 April: open until 31 March.
    assert "Die Befragung läuft bis Mittwoch, 31. März 2027." in text
    assert '<html lang="de">' in html and "Zur Befragung" in html
    for english in ("Hello", "Take the survey", "open until", "March", "Wednesday", "Thank you"):
        assert english not in text and english not in html, english


@pytest.mark.parametrize("locale", ["nl", "nl-BE", "nl_NL"])
def test_dutch_and_its_regions_get_dutch(locale: str) -> None:
    msg, text, html = _message(locale)
    assert msg["Subject"] == "Kwartaalfeedback"
    assert text.startswith("Beste Zoë,\n")
    assert "De vragenlijst staat open tot en met woensdag 31 maart 2027." in text
    # One full stop after a name that ends in one.
    assert "We horen graag hoe Acme Analytics het doet voor Noordwind Logistiek N.V. Je antwoorden" in text
    assert "N.V.." not in text and "N.V.." not in html
    assert '<html lang="nl">' in html


def test_english_and_unknown_locales() -> None:
    msg, text, _html = _message("en")
    assert msg["Subject"] == "Quarterly feedback"
    assert "The survey is open until Wednesday, March 31, 2027." in text
    assert "doing for Noordwind Logistiek N.V. Your answers" in text and "N.V.." not in text
    # French is neither shipped nor configured: the organisation's default language (nl here).
    msg, text, _html = _message("fr-FR")
    assert msg["Subject"] == "Kwartaalfeedback" and text.startswith("Beste Zoë,")


def test_the_question_texts_are_in_the_contacts_language() -> None:
    from tierctl.i18n import use_language
    from tierctl.plugins.email_message import template_values

    inv = invitation(1, locale="de", questions=(Question("nps", "nps", QUESTION, (0, 10)),))
    config = sample_config(languages=["nl", "en"])
    with use_language("de"):
        values = template_values(inv, OPTIONS, config.organization)
    assert [q.text for q in values["questions"]] == ["Wie wahrscheinlich empfehlen Sie uns?"]


def test_a_role_mailbox_gets_a_neutral_greeting() -> None:
    _msg, text, _html = _message("nl", contact_name="IT-beheer", contact_email="it-beheer@noordwind.example")
    assert text.startswith("Goedendag,\n")
    _msg, text, _html = _message("en", contact_name="", contact_email="it-beheer@noordwind.example")
    assert text.startswith("Hello,\n")
    _msg, text, _html = _message("en", contact_name="Ann de Vries", contact_email="it-beheer@noordwind.example")
    assert text.startswith("Hello Ann,\n")


def test_the_webhook_payload_carries_the_contacts_language(tierctl_engine_factory) -> None:
    engine = tierctl_engine_factory(organization={"languages": ["nl", "en"]})
    provider = engine.provider("webhook", {"url": "http://127.0.0.1:9/hook", "secret": "a-secret-of-sixteen-or-more"},
                               instance="crm")
    choice = LocalText("Yes", {"en": "Yes", "nl": "Ja", "de": "Ja"})
    inv = invitation(1, locale="de-AT", survey_title=TITLE,
                     questions=(Question("nps", "nps", QUESTION, (0, 10)), Question("ok", "choice", "Ok?", None, (choice,))))
    payload = provider.payload(inv)
    assert payload["survey_title"] == "Quartalsumfrage"
    assert [q["text"] for q in payload["questions"]] == ["Wie wahrscheinlich empfehlen Sie uns?", "Ok?"]
    assert payload["questions"][1]["choices"] == ["Ja"]
    assert provider.payload(invitation(1, locale="en", survey_title=TITLE))["survey_title"] == "Quarterly feedback"


def test_a_contact_moment_footer_is_in_the_contacts_language() -> None:
    from tierctl.records import OutgoingMessage

    options = EmailOptions.model_validate({"survey_url": "https://form.example/s#invite_id={invite_id}",
                                           "unsubscribe_url": "https://acme.example/u/{invite_id}"})
    message = OutgoingMessage("check-in", "email", "Hoe gaat het?", "Even checken hoe het gaat.")
    inv = invitation(1, locale="nl-BE", account_name="Noordwind Logistiek N.V.", message=message)
    msg = build_message(inv, options, None, sample_config(languages=["en", "nl"]).organization)
    text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert "Je ontvangt dit omdat je contactpersoon bent voor Noordwind Logistiek N.V. Geen berichten meer " \
           "ontvangen: https://acme.example/u/inv-0001" in text
    assert "Geen berichten meer ontvangen</a>" in html and "You receive" not in text + html
