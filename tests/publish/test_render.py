"""``tierctl render``: deterministic, escaped, overridable output through the
html and markdown renderers, via the engine and via the CLI entry point."""

from __future__ import annotations

import re
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from tierctl.cli import main
from tierctl.config.loader import load_config
from tierctl.errors import TierctlError
from tierctl.plugins import filters, html_site, markdown_sales
from tierctl.host.plugin_host import PluginHost
from tierctl.publish.render_engine import render_targets

CONFIG = """\
    version: 1
    organization:
      name: Acme & Sons <Support>
      language: nl
      severities: {urgent: Down, normal: "A question | or a how-to"}
    tiers:
      basic:
        name: Basic <script>alert("tier")</script> & more
        summary: Self-service & e-mail | no phone <b>bold</b>
        touch_model: tech-touch
        plans: [free, starter]
        channels: [knowledge-base, email]
        hours: business
        response_targets: {urgent: 1 business day, normal: best effort}
        agent_time_cap: 30m/month
        named_contacts: 1
        surveys: [feedback]
      standard:
        extends: basic
        name: Standard
        summary: Chat and phone.
        touch_model: low-touch
        plans: [team]
        channels: [+chat, +phone]
        hours: extended
        response_targets: {urgent: 4h}
        agent_time_cap: 2h/month
        named_contacts: 3
      advanced:
        extends: standard
        name: Advanced
        summary: A named team.
        touch_model: high-touch
        plans: [enterprise]
        hours: 24x7
        response_targets: {urgent: 1h, normal: 4h}
        agent_time_cap: 10h/month
        named_contacts: 10
        specialists: [integrations, security]
        surveys: [feedback, pre-meeting]
    surveys:
      feedback: {title: "Quarterly feedback <i>&</i>"}
      pre-meeting: {title: Before our review}
    render:
      website: {format: html, out: build/site}
      sales: {format: markdown, out: build/sales}
    """

TIER_NAMES = ['Basic <script>alert("tier")</script> & more', "Standard", "Advanced"]


def make_host() -> PluginHost:
    return PluginHost.from_modules({"html": html_site, "markdown": markdown_sales, "filters": filters})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    config = tmp_path / "tierctl.yaml"
    config.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return config


def render(config_path: Path, **kwargs) -> list:
    host = make_host()
    return render_targets(load_config(config_path, host), host, **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(args: list[str], cwd: Path) -> tuple[int, str, str]:
    runner = CliRunner()
    with runner.isolation(env={"TIERCTL_LOAD_PLUGINS": "html,markdown,filters", "TIERCTL_DEBUG": None}) as (
            out, err, _):
        old = Path.cwd()
        import os
        os.chdir(cwd)
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os.chdir(old)
        return code, out.getvalue().decode(), err.getvalue().decode()


def test_output_is_deterministic(project: Path, tmp_path: Path) -> None:
    results = render(project)
    assert [r.target for r in results] == ["website", "sales"]
    first = snapshot(tmp_path / "build")
    assert set(first) == {
        "site/.tierctl-manifest", "site/index.html", "site/basic.html", "site/standard.html", "site/advanced.html",
        "sales/.tierctl-manifest", "sales/README.md", "sales/comparison.md", "sales/basic.md", "sales/standard.md",
        "sales/advanced.md"}
    # Again into the same folder: nothing changes, nothing is rewritten.
    again = render(project)
    assert all(not r.written and not r.removed for r in again)
    assert snapshot(tmp_path / "build") == first
    # From scratch in a fresh folder (another process, another day): the same bytes.
    fresh = tmp_path / "fresh"
    render(project, out_override=str(fresh))
    assert {k.replace("website/", "site/"): v for k, v in snapshot(fresh).items()} == first


def test_every_config_text_is_html_escaped(project: Path, tmp_path: Path) -> None:
    render(project, only=["website"])
    for page in ("index.html", "basic.html", "advanced.html"):
        html = (tmp_path / "build" / "site" / page).read_text(encoding="utf-8")
        assert "<script>" not in html and "<b>" not in html and "<i>" not in html, page
        assert "Acme &amp; Sons &lt;Support&gt;" in html
    index = (tmp_path / "build" / "site" / "index.html").read_text(encoding="utf-8")
    assert "Basic &lt;script&gt;alert(&#34;tier&#34;)&lt;/script&gt; &amp; more" in index
    assert "Self-service &amp; e-mail | no phone &lt;b&gt;bold&lt;/b&gt;" in index
    assert "Quarterly feedback &lt;i&gt;&amp;&lt;/i&gt;" in index
    # The escaped text still reads right in the parsed page.
    table = parse_comparison(index)
    assert table.columns == TIER_NAMES


def test_markdown_escaping_keeps_tables_intact(project: Path, tmp_path: Path) -> None:
    render(project, only=["sales"])
    sales = tmp_path / "build" / "sales"
    for name in ("comparison.md", "README.md", "basic.md"):
        text = (sales / name).read_text(encoding="utf-8")
        assert "<script>" not in text and "<b>" not in text, name
        for table in markdown_tables(text):
            widths = {len(cells) for cells in table}
            assert len(widths) == 1, f"{name}: rows with different numbers of cells: {table}"
    comparison = (sales / "comparison.md").read_text(encoding="utf-8")
    header = markdown_tables(comparison)[0][0]
    assert len(header) == 1 + 3  # a label column and one per tier
    assert header[1] == r'Basic \<script\>alert("tier")\</script\> &amp; more'
    assert "A question \\| or a how-to" in comparison
    basic = (sales / "basic.md").read_text(encoding="utf-8")
    assert "> Self-service &amp; e-mail \\| no phone \\<b\\>bold\\</b\\>" in basic


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Tables in ``text`` as rows of cells, splitting on unescaped ``|``."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            current.append([c.strip() for c in cells])
        elif current:
            tables.append(current)
            current = []
    return tables


class ComparisonTable(HTMLParser):
    """The comparison table of the index page: column headers and row headers with their cells."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.col_links: list[str] = []
        self.rows: dict[str, tuple[str, list[str]]] = {}
        self.scopes: list[str | None] = []
        self.lang: str | None = None
        self._in_table = False
        self._section = ""
        self._row_key: str | None = None
        self._cell: list[str] | None = None
        self._cells: list[str] = []
        self._row_label = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "table" and a.get("id") == "comparison":
            self._in_table = True
        if not self._in_table:
            return
        if tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self._row_key, self._cells, self._row_label = a.get("data-row"), [], ""
        elif tag in ("th", "td"):
            self._cell = []
            if tag == "th":
                self.scopes.append(a.get("scope"))
        elif tag == "a" and self._section == "thead":
            self.col_links.append(a.get("href") or "")
        elif tag == "li" and self._cell is not None and self._cell:
            self._cell.append("; ")

    def handle_endtag(self, tag: str) -> None:
        if not self._in_table:
            return
        if tag == "table":
            self._in_table = False
        elif tag in ("th", "td") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self._section == "thead" and tag == "th":
                self.columns.append(text)
            elif self._section == "tbody" and tag == "th":
                self._row_label = text
            elif self._section == "tbody":
                self._cells.append(text)
            self._cell = None
        elif tag == "tr" and self._section == "tbody" and self._row_key:
            self.rows[self._row_key] = (self._row_label, self._cells)

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_comparison(html: str) -> ComparisonTable:
    table = ComparisonTable()
    table.feed(html)
    return table


def test_comparison_table_has_a_column_per_tier_and_every_row(project: Path, tmp_path: Path) -> None:
    render(project, only=["website"])
    site = tmp_path / "build" / "site"
    table = parse_comparison((site / "index.html").read_text(encoding="utf-8"))
    assert table.lang == "nl"
    assert table.columns == TIER_NAMES
    assert table.col_links == ["basic.html", "standard.html", "advanced.html"]
    assert all(scope in ("col", "row") for scope in table.scopes), "every header cell needs a scope"
    # language: nl, so tierctl's own text is Dutch (the config's text is as written).
    expected = {
        "plans": ("Abonnementen", ["free; starter", "team", "enterprise"]),
        "touch_model": ("Servicemodel", ["Tech-touch (geautomatiseerd)", "Low-touch", "High-touch (persoonlijk)"]),
        "hours": ("Supporturen", ["Kantooruren", "Ruime openingstijden", "24/7"]),
        "channels": ("Kanalen", ["Kennisbank; E-mail", "Kennisbank; E-mail; Chat; Telefoon",
                                 "Kennisbank; E-mail; Chat; Telefoon"]),
        "response.urgent": ("Eerste reactie: urgent", ["1 werkdag", "4 uur", "1 uur"]),
        "response.normal": ("Eerste reactie: normaal", ["Zo snel als mogelijk", "Zo snel als mogelijk", "4 uur"]),
        "agent_time_cap": ("Tijd van medewerkers per account",
                           ["30 minuten per maand", "2 uur per maand", "10 uur per maand"]),
        "named_contacts": ("Vaste contactpersonen", ["1", "3", "10"]),
        "specialists": ("Specialisten", ["—", "—", "Integraties; Beveiliging"]),
        "surveys": ("Klantonderzoeken", ["Quarterly feedback <i>&</i>", "Quarterly feedback <i>&</i>",
                                         "Quarterly feedback <i>&</i>; Before our review"]),
    }
    for key, (label, cells) in expected.items():
        assert table.rows.get(key) == (label, cells), f"row {key}: {table.rows.get(key)}"
    for label, cells in table.rows.values():
        assert len(cells) == len(TIER_NAMES), label
    # Every tier page exists and links back.
    for href in table.col_links:
        page = (site / href).read_text(encoding="utf-8")
        assert 'href="index.html"' in page and '<html lang="nl">' in page


def test_template_override_is_searched_first_and_can_extend_the_default(project: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "my-templates"
    (overrides / "website").mkdir(parents=True)
    (overrides / "sales").mkdir(parents=True)
    (overrides / "website" / "tier.html").write_text(
        '{% extends "default:website/tier.html" %}\n'
        '{% block title %}Custom: {{ tier.name }}{% endblock %}\n'
        '{% block footer %}<p class="custom">Prices exclude VAT &amp; {{ org.name }}</p>{% endblock %}\n')
    (overrides / "sales" / "index.md").write_text("# Sales index for {{ org.name | md }}\n")
    project.write_text(project.read_text().replace("render:\n", "render:\n  templates: my-templates\n"))
    render(project)
    basic = (tmp_path / "build" / "site" / "basic.html").read_text(encoding="utf-8")
    assert "<title>Custom: Basic &lt;script&gt;" in basic  # escaped in an override too
    assert '<p class="custom">Prices exclude VAT &amp; Acme &amp; Sons &lt;Support&gt;</p>' in basic
    assert "Streeftijden voor de eerste reactie" in basic  # the default's content blocks are kept (in Dutch)
    index = (tmp_path / "build" / "site" / "index.html").read_text(encoding="utf-8")
    assert "Custom:" not in index and "Prices exclude VAT" not in index
    assert (tmp_path / "build" / "sales" / "README.md").read_text() == r"# Sales index for Acme &amp; Sons \<Support\>" + "\n"


def test_template_mistakes_are_errors_with_file_and_line(project: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "tpl" / "website"
    overrides.mkdir(parents=True)
    project.write_text(project.read_text().replace("render:\n", "render:\n  templates: tpl\n"))
    (overrides / "index.html").write_text('{% extends "default:website/index.html" %}\n'
                                          "{% block content %}\n{{ tier.nmae }}{% endblock %}\n")
    code, out, err = run_cli(["-c", str(project), "render"], cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert f"{overrides / 'index.html'}:3: template error in target 'website': 'tier' is undefined" in err
    (overrides / "index.html").write_text("{% block content %}\n{{ org.name }\n")
    code, out, err = run_cli(["-c", str(project), "render"], cwd=tmp_path)
    assert code == 2 and f"{overrides / 'index.html'}:2: template syntax error" in err


def test_stale_pages_are_removed(project: Path, tmp_path: Path) -> None:
    render(project)
    site, sales = tmp_path / "build" / "site", tmp_path / "build" / "sales"
    (site / "notes.txt").write_text("mine")  # not tierctl's: left alone
    text = project.read_text()
    start, end = text.index("  advanced:\n"), text.index("surveys:\n")
    project.write_text(text[:start] + text[end:].replace("      pre-meeting: {title: Before our review}\n", ""))
    results = {r.target: r for r in render(project)}
    assert results["website"].removed == ["advanced.html"] and results["sales"].removed == ["advanced.md"]
    assert not (site / "advanced.html").exists() and not (sales / "advanced.md").exists()
    assert (site / "notes.txt").read_text() == "mine"
    assert "advanced.html" not in (site / "index.html").read_text()
    assert (site / ".tierctl-manifest").read_text().split() == ["basic.html", "index.html", "standard.html"]


def test_cli_target_and_out(project: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "elsewhere"
    code, out, err = run_cli(["-c", str(project), "render", "--target", "sales", "--out", str(out_dir)], cwd=tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        ".tierctl-manifest", "README.md", "advanced.md", "basic.md", "comparison.md", "standard.md"]
    assert not (tmp_path / "build").exists()
    assert f"sales: 5 files in {out_dir} (5 written, 0 unchanged)" in out
    # Several targets with --out: one folder per target under it.
    code, out, err = run_cli(["-c", str(project), "render", "--out", str(tmp_path / "all")], cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "all" / "website" / "index.html").is_file() and (tmp_path / "all" / "sales" / "README.md").is_file()
    # Without --out, out: is relative to the config file, not the working directory.
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    code, out, err = run_cli(["-c", str(project), "render", "-t", "website"], cwd=elsewhere)
    assert code == 0 and (tmp_path / "build" / "site" / "index.html").is_file() and not list(elsewhere.iterdir())


def test_unknown_target_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(["-c", str(project), "render", "--target", "webiste"], cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert (f"tierctl: error: no render target named 'webiste' (did you mean 'website'?); targets in {project}: "
            "sales, website") in err
    assert not (tmp_path / "build").exists()
    with pytest.raises(TierctlError, match="no render target named 'pdf'"):
        render(project, only=["pdf"])


def test_config_without_targets(project: Path, tmp_path: Path) -> None:
    text = project.read_text()
    project.write_text(text[:text.index("render:")])
    code, out, err = run_cli(["-c", str(project), "render"], cwd=tmp_path)
    assert code == 2 and "has no render targets; add one under render:" in err
