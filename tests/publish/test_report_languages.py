"""``report --language``, ``--period half-year`` and small samples marked in the report."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from metrics_fixtures import CONFIG, Fixture, write_config
from project_fixtures import run_cli

DUTCH = CONFIG.replace("language: en}", "languages: [en, nl]}").replace(
    "title: Quarterly feedback", "title: {en: Quarterly feedback, nl: Kwartaalfeedback}")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_config(tmp_path, DUTCH)
    fx = Fixture(tmp_path, rollup=True)
    for day, nps in (("2026-03-02", 9), ("2026-05-04", 10), ("2026-08-03", 3), ("2026-11-02", 7),
                     ("2026-12-01", 10), ("2026-12-02", 10)):
        fx.answer("feedback", "basic", day, {"nps": ("nps", nps), "sat": ("csat", 4)})
    fx.invite("feedback", "basic", "2026-12-03", state="failed")
    fx.close()
    return tmp_path


def test_report_in_dutch(folder: Path) -> None:
    config = str(folder / "tierctl.yaml")
    code, out, err = run_cli(["-c", config, "report", "--language", "nl"])
    assert code == 0, err
    assert out.startswith("# Onderzoeksrapport van Acme \\<Analytics\\> &amp; Co, per kwartaal\n")
    assert "## Kwartaalfeedback" in out and "| Periode | Reacties | Afgeleverd |" in out
    assert "Niet afgeleverd, dus niet in de respons: 1 mislukt." in out
    assert "100,0%" in out and "100.0%" not in out
    # The default is the organisation's language (en here), and the same ledger gives the same figures.
    code, english, err = run_cli(["-c", config, "report"])
    assert english.startswith("# Acme \\<Analytics\\> &amp; Co survey report, by quarter\n")
    assert "## Quarterly feedback" in english and "100.0%" in english


def test_report_html_says_its_language(folder: Path) -> None:
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--format", "html", "--language", "de"])
    assert code == 0, err
    assert '<html lang="de">' in out and "Befragungsbericht" in out and "Rücklaufquote" in out


def test_a_bad_language_is_a_usage_error(folder: Path) -> None:
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--language", "dutch"])
    assert code == 2 and "--language 'dutch' is not a language code" in err and "Traceback" not in err
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--language", "x" * 5000])
    assert code == 2 and "(5,000 characters) is not a language code" in err and len(err) < 600


def test_a_language_without_text_is_written_with_a_warning(folder: Path) -> None:
    """A code tierctl has no catalog for, and the config no text in: English built-in text, the
    config's nearest text, and a warning saying so (the report is still written)."""
    config = str(folder / "tierctl.yaml")
    code, out, err = run_cli(["-c", config, "report", "--language", "fy"])
    assert code == 0, err
    assert "warning: no text in 'fy': tierctl's own text is in English (it has de, en, nl)" in err
    assert "the config's in 'en' (organization.languages: en, nl)" in err
    assert out.startswith("# Acme \\<Analytics\\> &amp; Co survey report, by quarter\n")
    for known in ("nl", "nl-BE", "de", "en"):
        code, out, err = run_cli(["-c", config, "report", "--language", known])
        assert code == 0 and "warning" not in err, (known, err)


def test_half_year_periods(folder: Path) -> None:
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--period", "half-year", "--format", "json"])
    assert code == 0, err
    report = json.loads(out)
    survey = next(s for s in report["surveys"] if s["id"] == "feedback")
    assert survey["periods"] == ["2026-H1", "2026-H2"]
    basic = next(t for t in survey["tiers"] if t["id"] == "basic")
    assert [(p["period"], p["responses"]) for p in basic["periods"]] == [("2026-H1", 2), ("2026-H2", 4)]
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--period", "half-year"])
    assert code == 0 and "| H2 2026 |" in out and "by half-year" in out


def test_a_figure_from_few_answers_is_marked_small_sample(folder: Path) -> None:
    config = folder / "tierctl.yaml"
    code, out, err = run_cli(["-c", str(config), "report"])
    # 2026-Q4 has 3 answers, under the default of 5: shown, and marked.
    assert "How likely are you to recommend us?: **+66.7 ▲** _(small sample)_" in out
    code, out, err = run_cli(["-c", str(config), "report", "--format", "html"])
    assert "Small sample: fewer than 5 answers" in out
    # A website that publishes from 3 answers sets the bar for the report too.
    config.write_text(config.read_text().replace("website: {format: html, out: site}",
                                                 "website: {format: html, out: site, show_metrics: true, min_answers: 3}"))
    code, out, err = run_cli(["-c", str(config), "report"])
    assert "small sample" not in out


def test_periods_read_in_the_reports_language_in_every_format(folder: Path) -> None:
    config = str(folder / "tierctl.yaml")
    code, md, err = run_cli(["-c", config, "report", "--language", "nl"])
    assert code == 0, err
    assert "| K4 2026 | 3 |" in md and "**K4 2026**:" in md and "K3 2026" in md
    assert "docs (Beoordeling) |" in md and "- Beoordeling, Rate our docs:" in md and "RATING" not in md
    code, html, err = run_cli(["-c", config, "report", "--language", "nl", "--format", "html"])
    assert code == 0, err
    shown = re.sub(r'data-period="[^"]*"', "", html)  # the machine key stays in data attributes only
    assert not re.search(r"\b20\d\d-(Q|H)\d\b", shown), re.findall(r".{40}\b20\d\d-Q\d\b.{20}", shown)
    assert '<th scope="row">K4 2026</th>' in html and "K1 2026 tot en met K4 2026" in html
    assert '<text' in html and ">K4<" in html  # the chart's axis: K4 over its year
    # JSON keeps the keys and adds the label; CSV too.
    code, out, err = run_cli(["-c", config, "report", "--language", "nl", "--format", "json"])
    doc = json.loads(out)
    basic = next(t for t in doc["surveys"][0]["tiers"] if t["id"] == "basic")
    assert [(p["period"], p["label"]) for p in basic["periods"]][-1] == ("2026-Q4", "K4 2026")
    assert doc["language"] == "nl" and doc["notes"][0].startswith("Respons = reacties / afgeleverde uitnodigingen.")
    code, out, err = run_cli(["-c", config, "report", "--language", "nl", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(r["period"], r["period_label"]) for r in rows} >= {("2026-Q4", "K4 2026"), ("2026-Q1", "K1 2026")}


@pytest.mark.parametrize("language, labels", [
    ("en", ("| H1 2026 |", "| H2 2026 |")), ("nl", ("| 1e helft 2026 |", "| 2e helft 2026 |")),
    ("de", ("| 1. Halbjahr 2026 |", "| 2. Halbjahr 2026 |"))])
def test_half_years_read_in_the_reports_language(folder: Path, language: str, labels: tuple[str, str]) -> None:
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--period", "half-year",
                              "--language", language])
    assert code == 0, err
    assert all(label in out for label in labels) and "2026-H" not in out


def test_month_periods_and_trends_in_german(folder: Path) -> None:
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--period", "month", "--language", "de"])
    assert code == 0, err
    assert "| Dezember 2026 |" in out and "November 2026" in out and "2026-12" not in out


def test_the_charts_axis_keeps_periods_short(folder: Path) -> None:
    from tierctl.i18n import use_language
    from tierctl.publish.report import _short_period

    with use_language("de"):
        assert [_short_period(p) for p in ("2026-H1", "2026-Q3")] == [("1. Hj.", "2026"), ("Q3", "2026")]
    with use_language("nl"):
        assert [_short_period(p) for p in ("2026-H2", "2026-Q3")] == [("H2", "2026"), ("K3", "2026")]
    code, html, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--format", "html", "--period",
                               "half-year", "--language", "de"])
    assert code == 0, err
    assert ">1. Hj.</text>" in html and ">2. Hj.</text>" in html  # the axis; tables and titles say 2. Halbjahr 2026
    assert "2. Halbjahr 2026" in html
