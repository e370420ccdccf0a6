"""The shipped catalogs: complete, not fuzzy, in step with the code, placeholders intact."""

from __future__ import annotations

import re

import pytest

from tierctl.i18n import _, ngettext, use_language
from tierctl.i18n.catalogs import CATALOG_DIR, TEMPLATE, read_catalog, shipped_languages, translations
from tierctl.i18n.extract import extract

LANGUAGES = [code for code in shipped_languages() if code != "en"]


@pytest.fixture(scope="module")
def source():
    """Every English message in tierctl's code and templates now."""
    return extract()


def _ids(catalog) -> set:
    return {m.id for m in catalog if m.id}


def test_nl_and_de_are_shipped() -> None:
    assert {"en", "nl", "de"} <= set(shipped_languages())


def test_the_template_is_in_step_with_the_code(source) -> None:
    from babel.messages.pofile import read_po

    with open(TEMPLATE, "rb") as fh:
        template = read_po(fh)
    assert _ids(template) == _ids(source), "run: python -m tierctl.i18n.extract, then translate what is new"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_english_message_is_translated_and_none_is_fuzzy(source, language: str) -> None:
    catalog = read_catalog(language)
    missing, fuzzy = [], []
    for message in source:
        if not message.id:
            continue
        ours = catalog.get(message.id, context=message.context)
        strings = () if ours is None else ours.string if isinstance(ours.string, tuple) else (ours.string,)
        if ours is None or not strings or not all(strings):
            missing.append(message.id)
        elif ours.fuzzy:
            fuzzy.append(message.id)
    assert missing == [], f"{CATALOG_DIR / (language + '.po')}: no translation for {missing}"
    assert fuzzy == [], f"{CATALOG_DIR / (language + '.po')}: fuzzy (check and remove the flag): {fuzzy}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    for message in read_catalog(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\(\w+\)s", ids[-1]))
        for text in strings:
            assert set(re.findall(r"%\(\w+\)s", text)) <= wanted | {"%(num)s"}, (message.id, text)
            if len(ids) == 1 or text is strings[-1]:
                assert set(re.findall(r"%\(\w+\)s", text)) == wanted, (message.id, text)


def test_a_fuzzy_entry_is_not_used(tmp_path, monkeypatch) -> None:
    # A translation marked fuzzy may be wrong: readers get the English text instead.
    po = (CATALOG_DIR / "nl.po").read_text(encoding="utf-8")
    fuzzy = po.replace('msgid "What you get"', '#, fuzzy\nmsgid "What you get"')
    (tmp_path / "nl.po").write_text(fuzzy, encoding="utf-8")
    monkeypatch.setattr("tierctl.i18n.catalogs.CATALOG_DIR", tmp_path)
    translations.cache_clear()
    try:
        with use_language("nl"):
            assert _("What you get") == "What you get" and _("Plans") != "Plans"
    finally:
        translations.cache_clear()


def test_gettext_follows_the_language_and_its_region() -> None:
    assert _("What you get") == "What you get"
    with use_language("nl-BE"):
        assert _("What you get") == "Wat je krijgt"
        with use_language("de"):
            assert ngettext("%(num)s business day", "%(num)s business days", 2) % {"num": 2} == "2 Werktage"
        assert ngettext("%(num)s business day", "%(num)s business days", 1) % {"num": 1} == "1 werkdag"
    with use_language("fr"):  # no catalog: English
        assert _("What you get") == "What you get"
