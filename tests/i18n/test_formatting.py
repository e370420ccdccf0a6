"""Dates, numbers, durations and period labels per language, checked against Babel (CLDR)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from babel.dates import format_date as babel_date
from babel.numbers import format_percent as babel_percent

from tierctl.config.durations import Duration, ResponseTarget, TimeCap
from tierctl.i18n import use_language
from tierctl.i18n.formatting import format_date, format_number, format_percent, format_time, language_name
from tierctl.i18n.text import LocalText, language_chain, negotiate
from tierctl.publish.filters import period_label


@pytest.mark.parametrize("language", ["en", "nl", "de", "nl-BE"])
def test_dates_are_babels(language: str) -> None:
    day = date(2027, 3, 31)
    locale = language.replace("-", "_")
    assert format_date(day, language=language) == babel_date(day, "long", locale=locale)
    assert format_date(datetime(2027, 3, 31, 23, 0), "full", language) == babel_date(day, "full", locale=locale)


def test_dates_read_as_people_write_them() -> None:
    day = date(2027, 3, 31)
    assert format_date(day, language="nl") == "31 maart 2027"
    assert format_date(day, "full", "nl") == "woensdag 31 maart 2027"
    assert format_date(day, "full", "de") == "Mittwoch, 31. März 2027"
    assert format_date(day, language="en") == "March 31, 2027"
    assert format_time(time(14, 30), "nl") == "14:30"
    with use_language("de"):
        assert format_date(day) == "31. März 2027"


@pytest.mark.parametrize("language", ["en", "nl", "de"])
def test_percentages_and_numbers_are_babels(language: str) -> None:
    from babel import Locale

    pattern = Locale.parse(language).percent_formats[None].pattern.replace("0", "0.#")
    assert format_percent(62.5, language) == babel_percent(0.625, pattern, locale=language)
    assert format_percent(None, language) == ""


def test_numbers_use_the_languages_separators() -> None:
    assert format_percent(62.5, "nl") == "62,5%"
    assert format_percent(62.5, "de") == "62,5\u00a0%"  # a no-break space, as CLDR writes it
    assert format_percent(62.5, "en") == "62.5%"
    assert format_number(1234.5, "nl") == "1.234,5"
    assert format_number(1234.5, "en") == "1,234.5"


def test_durations_and_targets_in_words() -> None:
    target, cap, every = ResponseTarget.parse("1 business day"), TimeCap.parse("90m/month"), Duration.parse("2w")
    with use_language("nl"):
        assert (target.human(), cap.human(), every.every()) == ("1 werkdag", "90 minuten per maand", "elke 2 weken")
        assert Duration.parse("1w").every() == "elke week"
        assert ResponseTarget.parse("best effort").human() == "Zo snel als mogelijk"
    with use_language("de"):
        assert (target.human(), cap.human(), every.every()) == ("1 Werktag", "90 Minuten pro Monat", "alle 2 Wochen")
    assert (target.human(), cap.human(), every.every()) == ("1 business day", "90 minutes per month", "every 2 weeks")
    with use_language("nl"):  # a fraction: the language's decimal sign and the plural
        assert Duration.parse("90s").human() == "1,5 minuten"


def test_period_labels() -> None:
    assert period_label("2027-Q1") == "Q1 2027"
    with use_language("nl"):
        assert (period_label("2027-Q1"), period_label("2027-H2"), period_label("2027-03"),
                period_label("2027")) == ("K1 2027", "2e helft 2027", "maart 2027", "2027")


def test_language_names_and_fallbacks() -> None:
    assert language_name("nl") == "Nederlands" and language_name("de") == "Deutsch"
    assert language_name("nl", "en") == "Dutch"
    assert language_chain("nl-BE", "en") == ["nl-BE", "nl", "en"]
    assert negotiate("nl-BE", ["en", "nl"], "en") == "nl"
    assert negotiate("fr-FR", ["en", "nl"], "nl") == "nl"
    text = LocalText("Basic", {"en": "Basic", "nl": "Basis"})
    assert text.in_language("nl-BE") == "Basis" and text.in_language("fr", "en") == "Basic"
    assert text.missing(["nl", "en", "de"]) == ["de"]
    # A change in any language is a change (tierctl diff compares texts); a plain string compares as text.
    assert text != LocalText("Basic", {"en": "Basic", "nl": "Basis plus"}) and text == "Basic"
    assert text == LocalText("Basic", {"en": "Basic", "nl": "Basis"}) and {text: 1}["Basic"] == 1
