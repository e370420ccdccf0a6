"""The Dutch report and brief hold no English built-in text: their output scanned against the English
catalog, as the pages are (tests/i18n/test_site_languages.py), in markdown and HTML, periods included."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from metrics_fixtures import CONFIG as METRICS_CONFIG, Fixture, load, make_host
from multilingual import english_fragments, english_in, visible_text
from tierctl.config.localize import localize
from tierctl.i18n import use_language
from tierctl.publish.brief import Brief, BriefAnswer, Stakeholder
from tierctl.publish.report import build_report, write_report

#: Every config text written in Dutch too, so what is left in English is tierctl's own.
DUTCH = (METRICS_CONFIG
         .replace("language: en}", "languages: [nl, en]}")
         .replace("title: Quarterly feedback", "title: {nl: Kwartaalfeedback, en: Quarterly feedback}")
         .replace("text: How likely are you to recommend us?", "text: {nl: Hoe waarschijnlijk?, en: How likely?}")
         .replace("text: How satisfied are you?", "text: {nl: Hoe tevreden?, en: How satisfied?}")
         .replace("text: It was easy to get my work done.", "text: {nl: Het ging makkelijk., en: It was easy.}")
         .replace("text: Rate our docs", "text: {nl: Cijfer voor de documentatie, en: Rate our docs}")
         .replace("text: Which plan fits?", "text: {nl: Welk pakket past?, en: Which plan fits?}")
         .replace("text: What should we build next?", "text: {nl: Wat moeten we bouwen?, en: What next?}")
         .replace("source: Benchmark report", "source: Benchmarkrapport")
         .replace("label: Median NPS", "label: Mediaan-NPS")
         .replace("source: B2B e-mail surveys", "source: Zakelijke e-mailenquêtes"))


def test_the_dutch_report_has_no_english_built_in_text(tmp_path: Path) -> None:
    config = localize(load(tmp_path, DUTCH), "nl")
    fx = Fixture(tmp_path, rollup=True)
    for day, nps, sat, effort, docs in (("2026-11-02", 9, 5, 6, 8), ("2026-11-09", 6, 3, 2, 4),
                                        ("2027-01-05", 10, 4, 7, 9), ("2027-02-03", 3, 2, 5, 7)):
        fx.answer("feedback", "basic", day, {"nps": ("nps", nps), "sat": ("csat", sat), "effort": ("ces", effort),
                                             "docs": ("rating", docs), "plan": ("choice", "Basic"),
                                             "next": ("text", "Donkere modus")})
    fx.invite("feedback", "basic", "2027-02-11", state="failed")
    fragments = english_fragments()
    with use_language("nl"):
        report = build_report(config, fx.ledger, "quarter", language="nl")
        markdown = write_report(report, "md", config, make_host())
        html = visible_text(write_report(report, "html", config, make_host()))
    fx.close()
    for text in (markdown, html):
        assert english_in(text, fragments) == []
        assert not re.search(r"\b20\d\d-Q\d\b", text) and "K1 2027" in text and "K4 2026" in text
    assert "Beoordeling" in markdown and "RATING" not in markdown


def test_the_dutch_brief_has_no_english_built_in_text() -> None:
    utc = timezone.utc
    brief = Brief("ACC-1", "Noordwind", "Europe/Amsterdam", meeting_start=datetime(2027, 2, 4, 9, tzinfo=utc),
                  surveys={"pre-meeting": "Voor ons gesprek"})
    answered = Stakeholder("an@noordwind.example", "An", "beslisser", "pre-meeting", "sent", "i1",
                           datetime(2027, 2, 1, 9, tzinfo=utc), submitted_at=datetime(2027, 2, 2, 9, tzinfo=utc),
                           answers=[BriefAnswer("sat", "Hoe tevreden?", "csat", 4, scale=(1, 5)),
                                    BriefAnswer("docs", "Cijfer?", "rating", 7, scale=(2, 10)),
                                    BriefAnswer("agenda", "Wat bespreken?", "text")])
    waiting = Stakeholder("it@noordwind.example", "", "admin", "pre-meeting", "failed", "i2", None, "adres onbekend")
    pending = Stakeholder("bo@noordwind.example", "Bo", "", "pre-meeting", "unknown", "i3", None)
    brief.stakeholders = [answered, waiting, pending]
    with use_language("nl"):
        text = brief.text()
    assert english_in(text, english_fragments()) == [], text
    assert "niet bereikt (mislukt: adres onbekend)" in text and "status onbekend" in text and "beoordeling 7 (2-10)" in text
