"""The Dutch site and the Dutch report in Chromium: screenshots, ``lang``/``hreflang``, and visible
text that is Dutch (scanned against the English catalog), served from 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics_fixtures import CONFIG as METRICS_CONFIG, Fixture, load, make_host
from multilingual import CONFIG, english_fragments, english_in, write_config
from tierctl.config.loader import load_config
from tierctl.config.localize import localize
from tierctl.host.plugin_host import PluginHost
from tierctl.i18n import use_language
from tierctl.plugins import filters, html_site, markdown_sales
from tierctl.publish.render_engine import render_targets
from tierctl.publish.report import build_report, write_report

pytestmark = pytest.mark.slow

#: The metrics fixture's config, published in Dutch (its questions written in Dutch and English).
DUTCH_METRICS = (METRICS_CONFIG
                 .replace("language: en}", "languages: [nl, en]}")
                 .replace("title: Quarterly feedback", "title: {nl: Kwartaalfeedback, en: Quarterly feedback}")
                 .replace("text: How likely are you to recommend us?",
                          "text: {nl: Hoe waarschijnlijk beveel je ons aan?, en: How likely are you to recommend us?}")
                 .replace("text: How satisfied are you?", "text: {nl: Hoe tevreden ben je?, en: How satisfied are you?}")
                 .replace("source: Benchmark report", "source: Benchmarkrapport"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dutch")
    host = PluginHost.from_modules({"html": html_site, "markdown": markdown_sales, "filters": filters})
    render_targets(load_config(write_config(root, CONFIG), host), host)
    # A report in Dutch over two quarters of answers.
    data = root / "data"
    data.mkdir()
    config = localize(load(data, DUTCH_METRICS), "nl")
    fx = Fixture(data, rollup=True)
    for day, nps, sat in (("2026-11-02", 9, 5), ("2026-11-09", 6, 3), ("2027-01-05", 10, 4), ("2027-02-03", 3, 2),
                          ("2027-02-10", 8, 4)):
        fx.answer("feedback", "basic", day, {"nps": ("nps", nps), "sat": ("csat", sat), "next": ("text", "Donkere modus")})
    fx.invite("feedback", "basic", "2027-02-11", state="failed")
    with use_language("nl"):
        report = build_report(config, fx.ledger, "quarter", language="nl")
        html = write_report(report, "html", config, make_host())
    fx.close()
    (root / "site" / "report.html").write_text(html, encoding="utf-8")
    return root / "site"


def _visible(page) -> str:
    return " ".join(page.locator("body").inner_text().split())


def test_the_dutch_site_in_chromium(browser, base_url: str, tmp_path: Path) -> None:
    page = browser.new_page()
    page.goto(f"{base_url}/index.html")  # the top page opens the default language's site
    page.wait_for_url(f"{base_url}/nl/index.html")
    assert page.evaluate("document.documentElement.lang") == "nl"
    alternates = page.eval_on_selector_all("link[rel=alternate]", "ls => ls.map(l => [l.hreflang, l.href])")
    assert alternates == [["nl", f"{base_url}/nl/index.html"], ["en", f"{base_url}/en/index.html"],
                          ["x-default", f"{base_url}/nl/index.html"]]
    fragments = english_fragments()
    for name in ("index.html", "basis.html", "zakelijk.html"):
        page.goto(f"{base_url}/nl/{name}")
        shot = tmp_path / f"nl-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000, f"screenshot looks empty: {shot}"
        text = _visible(page)
        assert english_in(text, fragments) == [], name
    assert "Supportpakketten vergelijken" in text or "Wat je krijgt" in text
    # The switcher leads to the same page in English.
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.url == f"{base_url}/en/zakelijk.html"
    assert page.evaluate("document.documentElement.lang") == "en"
    assert "What you get" in _visible(page)


def test_the_dutch_report_in_chromium(browser, base_url: str, tmp_path: Path) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(f"{base_url}/report.html")
    shot = tmp_path / "report-nl.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 30_000, f"screenshot looks empty: {shot}"
    assert page.evaluate("document.documentElement.lang") == "nl"
    text = _visible(page)
    for dutch in ("Onderzoeksrapport", "Kwartaalfeedback", "Respons", "Hoe waarschijnlijk beveel je ons aan?",
                  "Niet afgeleverd, niet meegeteld: 1 mislukt", "Wat klanten schreven, K1 2027",
                  "1 promotor, 1 passieve, 1 criticaster", "66,7%", "Basic: per kwartaal"):
        assert dutch in text, dutch
    assert english_in(text, english_fragments()) == []
    # Periods read the Dutch way everywhere, chart and table included; the key is only in data-period.
    assert "K4 2026" in text and "2027-Q1" not in text and "2026-Q4" not in text
