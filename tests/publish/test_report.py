"""``tierctl report`` and the tier pages' figures: JSON, CSV (formula injection), markdown and HTML
(escaping), errors, the example config end to end, and ``render`` with ``show_metrics``."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from metrics_fixtures import CONFIG, Fixture, load, make_host, write_config
from project_fixtures import ROOT, run_cli

from tierctl.publish.render_engine import render_targets
from tierctl.publish.figures import md_item
from tierctl.publish.report import (CSV_COLUMNS, CSV_NUMERIC, build_report, csv_text, report_csv, report_dict,
                            report_json, write_report)

EVIL = '<script>alert("x")</script> | **bold** [link](http://evil.example) =cmd()'


@pytest.fixture
def data(tmp_path: Path) -> Fixture:
    """Two quarters of hand-made answers in three tiers (see the figures asserted below)."""
    write_config(tmp_path)
    fx = Fixture(tmp_path, rollup=True)
    # basic, 2026-Q4: NPS 10 and 0 -> 0; CSAT 5, 1 -> 50 %
    fx.answer("feedback", "basic", "2026-11-02", {"nps": ("nps", 10), "sat": ("csat", 5), "next": ("text", "last quarter idea")})
    fx.answer("feedback", "basic", "2026-11-03", {"nps": ("nps", 0), "sat": ("csat", 1)})
    # basic, 2027-Q1: all detractors -> -100; CSAT 4, 4, 2 -> 66.7 %; CES 7, 2 -> mean 4.5, 50 %
    fx.answer("feedback", "basic", "2027-01-05", {"nps": ("nps", 3), "sat": ("csat", 4), "effort": ("ces", 7),
                                                  "plan": ("choice", "=Pro"), "next": ("text", EVIL)})
    fx.answer("feedback", "basic", "2027-01-06", {"nps": ("nps", 6), "sat": ("csat", 4), "effort": ("ces", 2),
                                                  "plan": ("choice", "Basic"), "next": ("text", "Dark mode\nand SSO")})
    fx.answer("feedback", "basic", "2027-02-01", {"nps": ("nps", 0), "sat": ("csat", 2)})
    fx.invite("feedback", "basic", "2027-02-01", state="failed")
    fx.invite("feedback", "basic", "2027-02-01", state="unknown")
    fx.invite("feedback", "basic", "2027-02-01")  # sent, not answered
    # advanced, 2027-Q1: a single response
    fx.answer("feedback", "advanced", "2027-03-01", {"nps": ("nps", 9), "next": ("text", "more <b>charts</b>")})
    # standard: invited, never answered
    fx.invite("feedback", "standard", "2027-03-02")
    yield fx
    fx.close()


def report_for(fx: Fixture, **kwargs):
    config = load(fx.folder)
    return config, build_report(config, fx.ledger, **kwargs)


# -- JSON -----------------------------------------------------------------------------------------


def test_json_figures_counts_and_empty_values(data: Fixture) -> None:
    _, report = report_for(data)
    doc = json.loads(report_json(report))
    assert doc["schema"] == "tierctl-report/1" and doc["period"] == "quarter"
    assert doc["filters"] == {"survey": None, "tier": None}
    assert any("delivered" in note for note in doc["notes"])
    feedback, review = doc["surveys"]
    assert (feedback["id"], review["id"], review["tiers"]) == ("feedback", "review", [])
    assert feedback["periods"] == ["2026-Q4", "2027-Q1"]
    assert [t["id"] for t in feedback["tiers"]] == ["basic", "standard", "advanced"]
    basic = feedback["tiers"][0]
    q4, q1 = basic["periods"]
    assert (q1["period"], q1["previous"], q1["responses"]) == ("2027-Q1", "2026-Q4", 3)
    questions = {q["id"]: q for q in q1["questions"]}
    nps = questions["nps"]
    assert (nps["metric"], nps["value"], nps["answers"], nps["counts"]) == (
        "nps", -100.0, 3, {"promoters": 0, "passives": 0, "detractors": 3})
    assert nps["trend"] == {"previous_period": "2026-Q4", "previous": 0.0, "delta": -100.0, "direction": "down"}
    assert nps["benchmarks"] == [{"metric": "nps", "value": 36.0, "source": "Published median", "year": None,
                                  "label": "Median NPS", "delta": -136.0}]
    assert {d["value"]: d["count"] for d in nps["distribution"]} == {0: 1, 1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: 1,
                                                                     7: 0, 8: 0, 9: 0, 10: 0}
    assert (questions["sat"]["value"], questions["sat"]["counts"]) == (66.67, {"satisfied": 2})
    assert questions["sat"]["trend"]["direction"] == "up"
    assert (questions["effort"]["value"], questions["effort"]["share"]) == (4.5, 50.0)
    assert questions["effort"]["trend"] is None  # nothing to compare with in 2026-Q4
    # No answers: the figure is null, never 0; the counts are real zeros.
    assert (questions["docs"]["value"], questions["docs"]["answers"]) == (None, 0)
    assert questions["plan"]["distribution"] == [{"value": "Basic", "count": 1}, {"value": "=Pro", "count": 1},
                                                 {"value": "Enterprise", "count": 0}]
    assert (questions["next"]["type"], questions["next"]["answers"]) == ("text", 2)
    rate = q1["response_rate"]
    assert (rate["value"], rate["responses"], rate["delivered"], rate["sent"]) == (75.0, 3, 4, 4)
    assert rate["excluded"] == {"failed": 1, "retry": 0, "deferred": 0, "unknown": 1, "sending": 0}
    assert rate["benchmarks"][0]["value"] == 26.0
    # A tier invited but never answered: every figure empty.
    standard_q1 = feedback["tiers"][1]["periods"][1]
    assert standard_q1["response_rate"]["value"] == 0.0  # 0 of 1 delivered is a real 0 %
    assert all(q["value"] is None for q in standard_q1["questions"])
    assert feedback["tiers"][1]["periods"][0]["response_rate"]["value"] is None  # nothing delivered in 2026-Q4
    # Free text is for people: not in the JSON.
    assert "Dark mode" not in report_json(report) and "script" not in report_json(report)


def test_json_keys_are_stable(data: Fixture) -> None:
    _, report = report_for(data)
    doc = report_dict(report)
    assert list(doc) == ["schema", "organization", "period", "filters", "notes", "surveys", "helpdesk", "language"]
    survey = doc["surveys"][0]
    assert list(survey) == ["id", "title", "periods", "questions", "tiers"]
    period = survey["tiers"][0]["periods"][0]
    assert list(period) == ["period", "previous", "responses", "response_rate", "questions", "label"]
    assert list(period["response_rate"]) == ["value", "responses", "delivered", "sent", "answered_unsent",
                                             "excluded", "trend", "benchmarks"]
    assert list(period["questions"][0]) == ["id", "type", "metric", "value", "share", "answers", "ignored",
                                            "counts", "distribution", "trend", "benchmarks"]


# -- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell, safe", [
    ("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+1 555", "'+1 555"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("plain", "plain"), ("a=b", "a=b"), ("", ""), (None, ""),
])
def test_csv_text_cells_are_neutralised(cell, safe) -> None:
    assert csv_text(cell) == safe


def test_csv_keeps_negative_numbers_numbers_and_neutralises_text(data: Fixture, tmp_path: Path) -> None:
    text = CONFIG.replace("text: Which plan fits?", 'text: "-Which plan fits?"').replace(
        "text: How likely are you to recommend us?", 'text: "=HYPERLINK(\\"http://evil.example\\")"')
    config = load(tmp_path, text)
    report = build_report(config, data.ledger)
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    nps = next(r for r in rows if r["tier"] == "basic" and r["period"] == "2027-Q1" and r["metric"] == "nps")
    assert nps["value"] == "-100.0" and nps["delta"] == "-100.0" and nps["detractors"] == "3"
    assert float(nps["value"]) == -100.0  # a number a spreadsheet reads as -100, not text
    assert nps["question_text"] == "'=HYPERLINK(\"http://evil.example\")"
    assert nps["benchmark"] == "36.0" and nps["benchmark_source"] == "Published median"
    choice = [r for r in rows if r["metric"] == "choice" and r["tier"] == "basic" and r["period"] == "2027-Q1"]
    assert [(r["option"], r["answers"], r["value"]) for r in choice] == [
        ("Basic", "1", "50.0"), ("'=Pro", "1", "50.0"), ("Enterprise", "0", "0.0")]
    assert all(r["question_text"] == "'-Which plan fits?" for r in choice)
    # Empty figures are blank cells, never 0.
    docs = next(r for r in rows if r["tier"] == "basic" and r["period"] == "2027-Q1" and r["metric"] == "rating_mean")
    assert (docs["value"], docs["answers"]) == ("", "0")
    # No cell outside the numeric columns starts a formula; numeric cells are numbers or blank.
    for row in rows:
        for column, cell in row.items():
            if column in CSV_NUMERIC:
                assert cell == "" or re.fullmatch(r"-?\d+(\.\d+)?", cell), (column, cell)
            else:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)


# -- markdown -------------------------------------------------------------------------------------


def test_markdown_escapes_config_and_customer_text(data: Fixture) -> None:
    config, report = report_for(data)
    text = write_report(report, "md", config, make_host())
    assert text.startswith("# Acme \\<Analytics\\> &amp; Co survey report, by quarter\n")
    assert "<script>" not in text and "**bold**" not in text and "[link](http" not in text
    assert "\\<script\\>alert(\"x\")\\</script\\> \\| \\*\\*bold\\*\\* \\[link\\](http://evil.example) =cmd()" in text
    assert "Dark mode and SSO" in text  # one line: a list item cannot be broken out of
    assert "| Q1 2027 | 3 | 4 | 2 | 75.0% | -100.0 ▼ (n=3) | 66.7% ▲ (n=3) | 4.50 (n=2) | — (n=0) |" in text
    assert "Not delivered, so not in the rate: 1 failed, 1 unknown." in text
    assert "Benchmark: 92.5% (Benchmark report, 2018); ours is 25.8 points below." in text
    assert "### What customers wrote, Q1 2027" in text and "more \\<b\\>charts\\</b\\>" in text
    assert "last quarter idea" not in text.split("What customers wrote")[1]  # 2026-Q4's text is not this quarter's read
    # Every table row has as many cells as its header.
    for table in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table


@pytest.mark.parametrize("text, item", [
    ("- stable API\n- an audit log", "\\- stable API - an audit log"), ("+ more", "\\+ more"),
    ("1. first", "1\\. first"), ("12) twelfth", "12\\) twelfth"), ("-5 stars", "-5 stars"),
    ("# big | table", "\\# big \\| table"),
])
def test_customer_text_cannot_start_a_nested_markdown_list(text: str, item: str) -> None:
    assert md_item(text) == item


# -- HTML -----------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_escaped_and_complete(data: Fixture) -> None:
    config, report = report_for(data)
    page = write_report(report, "html", config, make_host())
    parsed = _Collector()
    parsed.feed(page)
    tags = [t for t, _ in parsed.tags]
    assert dict(parsed.tags[0][1]) == {"lang": "en"} and parsed.tags[0][0] == "html"
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    for _, attrs in parsed.tags:  # nothing is fetched from anywhere
        assert not any(k in ("src", "srcset") for k in attrs), attrs
        assert not (attrs.get("href") or "").startswith(("http:", "https:", "//")), attrs
    assert "url(" not in page and "@import" not in page
    # Customers' text is data: escaped, shown as written.
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "<b>charts</b>" not in page
    assert EVIL in "".join(parsed.text)
    assert "Acme &lt;Analytics&gt; &amp; Co" in page
    # Tiles with trend arrows that say in words what they show, and benchmark lines.
    assert '<span aria-hidden="true">▼ -100.0 points</span><span class="sr">down 100.0 points from Q4 2026</span>' \
        in page
    assert "Benchmark 92.5%" in page and "Benchmark report, 2018" in page
    assert "Not delivered, not counted: 1 failed, 1 unknown" in page
    # An SVG chart per tier with a point (and its title) per period that has a figure.
    svgs = page.count("<svg ")
    assert svgs == 3
    basic = page.split('id="s-feedback-basic"')[1].split("</article>")[0]
    assert basic.count('<circle class="point nps"') == 2 and basic.count('<circle class="point csat"') == 2
    assert "<title>Q1 2027: NPS -100.0 (3 answers)</title>" in basic
    assert "<title>Q4 2026: CSAT 50.0% (2 answers)</title>" in basic
    # Distributions and the free text of the latest quarter, grouped by tier.
    assert 'class="bars"' in basic
    voices = page.split('class="voices"')[1]
    assert voices.index("<h4>Basic</h4>") < voices.index("<h4>Advanced</h4>")
    assert "Dark mode\nand SSO" in voices and "last quarter idea" not in voices


def test_empty_figures_are_blank_in_html(data: Fixture) -> None:
    config, report = report_for(data, tier="standard")
    page = write_report(report, "html", config, make_host())
    assert page.count('class="value empty">No answers</p>') == 4
    assert "<circle" not in page  # nothing answered: no points


# -- the command ----------------------------------------------------------------------------------


def test_cli_formats_and_out(data: Fixture, tmp_path: Path) -> None:
    config = str(data.folder / "tierctl.yaml")
    code, out, err = run_cli(["-c", config, "report"])
    assert code == 0, err
    assert out.startswith("# Acme") and "| Q1 2027 |" in out
    code, out, err = run_cli(["-c", config, "report", "--format", "json", "--period", "month", "--tier", "basic"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["period"] == "month" and doc["filters"]["tier"] == "basic"
    assert doc["surveys"][0]["periods"] == ["2026-11", "2026-12", "2027-01", "2027-02"]
    code, out, err = run_cli(["-c", config, "report", "--format", "csv", "--period", "year"])
    assert code == 0 and out.startswith("survey,tier,period,")
    target = tmp_path / "new-folder" / "report.html"  # its folder is created
    code, out, err = run_cli(["-c", config, "report", "--format", "html", "--survey", "feedback", "--out",
                              str(target)])
    assert (code, out) == (0, "")
    assert "html written to" in err and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("args, message", [
    (["--survey", "feedbak"], "no survey 'feedbak' (did you mean 'feedback'?); surveys: feedback, review"),
    (["--tier", "advance"], "no tier 'advance' (did you mean 'advanced'?); tiers: advanced, basic, standard"),
    (["--period", "week"], "Invalid value for '--period'"),
    (["--format", "pdf"], "Invalid value for '--format'"),
    (["--out", "{folder}/tierctl.yaml/r.md"], "cannot write the report to {folder}/tierctl.yaml/r.md"),
])
def test_cli_errors_are_clear_exit_2_no_traceback(data: Fixture, args: list[str], message: str) -> None:
    args = [a.format(folder=data.folder) for a in args]
    message = message.format(folder=data.folder)
    code, out, err = run_cli(["-c", str(data.folder / "tierctl.yaml"), "report", *args])
    assert code == 2 and message in err and "Traceback" not in err, err


def test_cli_without_a_ledger_says_nothing_was_sent(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out, err = run_cli(["-c", str(config), "report", "--format", "html"])
    assert (code, out) == (2, "")
    assert err == "tierctl: error: nothing sent yet; run tierctl survey send\n"
    assert not (tmp_path / "state.db").exists()  # a report creates no state
    code, _, err = run_cli(["-c", str(config), "report", "--tier", "gold"])
    assert code == 2 and "no tier 'gold'" in err


def test_stale_rollup_is_noted_on_stderr(data: Fixture) -> None:
    data.answer("feedback", "basic", "2027-02-02", {"nps": ("nps", 10)}, fold=False)
    code, out, err = run_cli(["-c", str(data.folder / "tierctl.yaml"), "report", "--format", "json"])
    assert code == 0
    assert "1 day(s) of responses were not in the metrics rollup" in err
    nps = json.loads(out)["surveys"][0]["tiers"][0]["periods"][1]["questions"][0]
    assert nps["answers"] == 4  # counted all the same


def test_example_config_end_to_end(tmp_path: Path) -> None:
    """The README's path: send with the outbox, import the example responses, report real figures."""
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.example.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("tierctl-acme"))
    config = str(tmp_path / "config.example.yaml")
    code, _, err = run_cli(["-c", config, "survey", "send", "--now", "2026-11-20T09:00"], load_plugins=None)
    assert code == 0, err
    code, out, err = run_cli(["-c", config, "survey", "import", "examples/responses.csv", "--survey",
                              "product-feedback"], load_plugins=None)
    assert code == 0 and " added" in out + err, err
    code, out, err = run_cli(["-c", config, "report", "--format", "json"], load_plugins=None)
    assert code == 0, err
    feedback = next(s for s in json.loads(out)["surveys"] if s["id"] == "product-feedback")
    answered = sum(p["responses"] for t in feedback["tiers"] for p in t["periods"])
    assert answered > 0
    nps = [q for t in feedback["tiers"] for p in t["periods"] for q in p["questions"] if q["id"] == "nps"]
    assert any(q["value"] is not None for q in nps)
    code, out, err = run_cli(["-c", config, "report", "--format", "html"], load_plugins=None)
    assert code == 0 and "<svg " in out and "What customers wrote" in out


# -- the tier pages -------------------------------------------------------------------------------


def _render(folder: Path, website_metrics: bool, sales_metrics: bool, min_answers: int = 1) -> None:
    text = CONFIG.replace("website: {format: html, out: site}",
                          f"website: {{format: html, out: site, show_metrics: {str(website_metrics).lower()}, "
                          f"min_answers: {min_answers}}}")
    text = text.replace("sales: {format: markdown, out: sales}",
                        f"sales: {{format: markdown, out: sales, show_metrics: {str(sales_metrics).lower()}, "
                        f"min_answers: {min_answers}}}")
    host = make_host()
    render_targets(load(folder, text), host)


def test_render_shows_metrics_only_where_asked(data: Fixture) -> None:
    folder = data.folder
    _render(folder, website_metrics=False, sales_metrics=True)
    sales = (folder / "sales" / "basic.md").read_text(encoding="utf-8")
    assert "## Latest customer figures" in sales
    assert "| Quarterly feedback | Q1 2027 | -100.0 (n=3) | 66.7% (n=3) | 3 |" in sales
    assert "Latest customer figures" not in (folder / "sales" / "standard.md").read_text()  # nothing answered
    site = "".join(p.read_text(encoding="utf-8") for p in (folder / "site").glob("*.html"))
    assert "What customers tell us" not in site and "-100.0" not in site
    # Asked on the website too: figures and counts, never an answer or free text.
    _render(folder, website_metrics=True, sales_metrics=False)
    basic = (folder / "site" / "basic.html").read_text(encoding="utf-8")
    assert "What customers tell us" in basic
    assert "NPS <strong>-100.0</strong> (3 answers), CSAT <strong>66.7%</strong> (3 answers); 3 responses." in basic
    advanced = (folder / "site" / "advanced.html").read_text(encoding="utf-8")
    assert "NPS <strong>+100.0</strong> (1 answer); 1 response." in advanced
    for page in (folder / "site").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        for answer in ("Dark mode", "charts", "script", "=Pro", "last quarter idea"):
            assert answer not in html.replace("<script", ""), (page, answer)
    assert "Latest customer figures" not in (folder / "sales" / "basic.md").read_text()


def test_public_pages_hold_back_figures_from_too_few_answers(data: Fixture) -> None:
    # Basic has 3 NPS and 3 CSAT answers, advanced 1 NPS answer: with min_answers 3 basic's
    # figures are published and advanced's single answer is not.
    _render(data.folder, website_metrics=True, sales_metrics=True, min_answers=3)
    basic = (data.folder / "site" / "basic.html").read_text(encoding="utf-8")
    assert "NPS <strong>-100.0</strong> (3 answers)" in basic
    advanced = (data.folder / "site" / "advanced.html").read_text(encoding="utf-8")
    assert "What customers tell us" not in advanced and "+100.0" not in advanced
    assert "+100.0" not in (data.folder / "sales" / "advanced.md").read_text(encoding="utf-8")
    # The default (5) publishes neither.
    _render(data.folder, website_metrics=True, sales_metrics=False, min_answers=5)
    assert "What customers tell us" not in (data.folder / "site" / "basic.html").read_text(encoding="utf-8")


def test_render_with_metrics_but_no_ledger_leaves_the_section_out(tmp_path: Path) -> None:
    _render(tmp_path, website_metrics=True, sales_metrics=True)
    assert "What customers tell us" not in (tmp_path / "site" / "basic.html").read_text()
    assert "Latest customer figures" not in (tmp_path / "sales" / "basic.md").read_text()
    assert not (tmp_path / "state.db").exists()


def test_render_with_metrics_is_deterministic(data: Fixture) -> None:
    _render(data.folder, website_metrics=True, sales_metrics=True)
    first = {p: p.read_bytes() for p in sorted(data.folder.glob("s*/*")) if p.is_file()}
    _render(data.folder, website_metrics=True, sales_metrics=True)
    assert {p: p.read_bytes() for p in sorted(data.folder.glob("s*/*")) if p.is_file()} == first


def test_headlines_reach_the_pages_through_the_render_inputs(tmp_path: Path) -> None:
    """Figures computed before rendering are what the pages show: no ledger is read while rendering."""
    from tierctl.publish.headlines import TierHeadline, headlines_for

    text = CONFIG.replace("website: {format: html, out: site}",
                          "website: {format: html, out: site, show_metrics: true, min_answers: 5}")
    config = load(tmp_path, text)
    assert headlines_for(config) == {} and not (tmp_path / "state.db").exists()  # no ledger: nothing to show
    given = {"basic": [TierHeadline("feedback", "Quarterly feedback", "2027-Q1", 12, 41.7, 12, 75.0, 4)]}
    render_targets(config, make_host(), only=["website"], headlines=given)
    basic = (tmp_path / "site" / "basic.html").read_text(encoding="utf-8")
    # NPS from 12 answers is published, CSAT from 4 (under min_answers) is not.
    assert "Quarterly feedback, Q1 2027: NPS <strong>+41.7</strong> (12 answers); 12 responses." in basic
    assert "75.0%" not in basic


def test_render_reads_the_headlines_only_for_targets_that_show_them(data: Fixture) -> None:
    from tierctl.publish.headlines import headlines_for

    text = CONFIG.replace("website: {format: html, out: site}", "website: {format: html, out: site, show_metrics: true}")
    config = load(data.folder, text)
    assert set(headlines_for(config)) == {"basic", "advanced"}
    assert headlines_for(config, ["sales"]) == {}
