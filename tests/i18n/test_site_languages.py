"""One site per language: ``organization.languages: [nl, en]`` renders ``/nl/`` and ``/en/``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from multilingual import CONFIG, english_fragments, english_in, visible_text, write_config
from tierctl.config.loader import load_config
from tierctl.host.plugin_host import PluginHost
from tierctl.plugins import filters, html_site, markdown_sales
from tierctl.publish.render_engine import render_targets


def _render(folder: Path, text: str = CONFIG) -> None:
    host = PluginHost.from_modules({"html": html_site, "markdown": markdown_sales, "filters": filters})
    render_targets(load_config(write_config(folder, text), host), host)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("languages")
    _render(folder)
    return folder


def test_each_language_gets_its_own_site_with_alternates(rendered: Path) -> None:
    site = rendered / "site"
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")) == [
        "en/basis.html", "en/index.html", "en/zakelijk.html", "index.html",
        "nl/basis.html", "nl/index.html", "nl/zakelijk.html"]
    for language in ("nl", "en"):
        for page in ("index.html", "basis.html", "zakelijk.html"):
            html = (site / language / page).read_text(encoding="utf-8")
            assert f'<html lang="{language}">' in html
            assert f'<link rel="alternate" hreflang="nl" href="../nl/{page}">' in html
            assert f'<link rel="alternate" hreflang="en" href="../en/{page}">' in html
            assert f'<link rel="alternate" hreflang="x-default" href="../nl/{page}">' in html
            # The switcher marks this language and links the other one, to the same page.
            other = "en" if language == "nl" else "nl"
            assert f'<strong lang="{language}" aria-current="page">' in html
            assert f'<a href="../{other}/{page}" hreflang="{other}" lang="{other}">' in html
    top = (site / "index.html").read_text(encoding="utf-8")
    assert 'url=nl/index.html' in top and 'href="en/index.html"' in top and "Nederlands" in top


def test_dutch_pages_are_dutch(rendered: Path) -> None:
    basis = visible_text((rendered / "site" / "nl" / "basis.html").read_text(encoding="utf-8"))
    for dutch in ("Basis-support", "Wat je krijgt", "Kennisbank, E-mail, WhatsApp, SMS", "1 werkdag",
                  "Actief: elke 2 weken (SMS)", "30 minuten per maand", "Gratis",
                  "Deze supportpakketten gelden vanaf 31 maart 2027.", "Productie ligt stil",
                  "Zo snel als mogelijk", "Nederlands, Engels", "Kwartaalfeedback",
                  "Maandag tot en met vrijdag, 08:30–17:30", "Nederlandse feestdagen", "Direct naar de inhoud"):
        assert dutch in basis, dutch
    zakelijk = visible_text((rendered / "site" / "nl" / "zakelijk.html").read_text(encoding="utf-8"))
    for dutch in ("Vanaf 500 euro per maand", "4 werkuren", "5 personen mogen meldingen doen",
                  "Actief: elke 3 maanden (Telefoon, accountgesprek)", "Kwartaalgesprek"):
        assert dutch in zakelijk, dutch


def test_dutch_pages_hold_no_english_built_in_text(rendered: Path) -> None:
    fragments = english_fragments()
    assert "What you get" in fragments and "every" not in fragments  # the scan looks for real phrases
    for page in sorted((rendered / "site" / "nl").glob("*.html")) + sorted((rendered / "sales" / "nl").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        # What a reader sees: page text, or markdown without its link targets (file names).
        text = visible_text(text) if page.suffix == ".html" else re.sub(r"\]\([^)]*\)", "]", text)
        assert english_in(text, fragments) == [], page
    # ... while the English site does show them (the scan would see them).
    english = visible_text((rendered / "site" / "en" / "basis.html").read_text(encoding="utf-8"))
    assert {"What you get", "Skip to content"} <= set(english_in(english, fragments))
    assert "Active: every 2 weeks (SMS)" in english and "Basic support" in english


def test_sales_sheets_are_written_per_language(rendered: Path) -> None:
    sales = rendered / "sales"
    assert (sales / "README.md").read_text(encoding="utf-8").count("/README.md") == 2
    nl = (sales / "nl" / "zakelijk.md").read_text(encoding="utf-8")
    assert nl.startswith("# Zakelijk-support\n") and "**Prijs:** Vanaf 500 euro per maand" in nl
    en = (sales / "en" / "zakelijk.md").read_text(encoding="utf-8")
    assert en.startswith("# Business support\n") and "**Price:** From 500 euro a month" in en


def test_one_language_keeps_the_layout_as_it_was(tmp_path: Path) -> None:
    text = CONFIG.replace("languages: [nl, en]", "language: nl", 1)
    _render(tmp_path, text)
    site = tmp_path / "site"
    assert sorted(p.name for p in site.glob("*.html")) == ["basis.html", "index.html", "zakelijk.html"]
    html = (site / "basis.html").read_text(encoding="utf-8")
    assert '<html lang="nl">' in html and "hreflang" not in html and "Wat je krijgt" in html
    assert not re.search(r'class="languages"', html)


def test_german_and_english_durations_and_rows(tmp_path: Path) -> None:
    _render(tmp_path, CONFIG.replace("languages: [nl, en]", "languages: [de, en]", 1))
    de = visible_text((tmp_path / "site" / "de" / "zakelijk.html").read_text(encoding="utf-8"))
    # Config text without a German variant falls back to the default language's... which is de,
    # so to the first written (en); built-in text is German.
    assert "Was Sie bekommen" in de and "4 Geschäftsstunden" in de and "10 Stunden pro Monat" in de
    assert "alle 3 Monate (Telefon, kundengespräch)" in de
