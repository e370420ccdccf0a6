"""``report --language``, ``--period half-year`` and small samples marked in the report."""

from __future__ import annotations

import json
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


def test_half_year_periods(folder: Path) -> None:
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--period", "half-year", "--format", "json"])
    assert code == 0, err
    report = json.loads(out)
    survey = next(s for s in report["surveys"] if s["id"] == "feedback")
    assert survey["periods"] == ["2026-H1", "2026-H2"]
    basic = next(t for t in survey["tiers"] if t["id"] == "basic")
    assert [(p["period"], p["responses"]) for p in basic["periods"]] == [("2026-H1", 2), ("2026-H2", 4)]
    code, out, err = run_cli(["-c", str(folder / "tierctl.yaml"), "report", "--period", "half-year"])
    assert code == 0 and "| 2026-H2 |" in out and "by half-year" in out


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
