"""The HTML report in a real browser: Debian's headless Chromium, driven by playwright, loading the
page from a real HTTP server on 127.0.0.1 at desktop and phone width.

Without /usr/bin/chromium the tests are skipped locally, but fail when CI is
set: CI must run them (``.ci/run`` installs chromium).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from metrics_fixtures import Fixture, load, make_host

from tierctl.publish.report import build_report, write_report

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
QUARTERS = [f"{y}-Q{q}" for y in (2025, 2026) for q in (1, 2, 3, 4)]
LONG_TEXT = ("A very long comment with an address that does not break on its own: "
             "https://acme.example/reports/exports/scheduled/sharepoint/with/a/very/long/path/and/more/and/more")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight quarters of answers in three tiers, rendered as report.html."""
    root = tmp_path_factory.mktemp("report-browser")
    config = load(root)
    fx = Fixture(root, rollup=True)
    rnd = random.Random(11)
    for quarter in QUARTERS:
        year, q = int(quarter[:4]), int(quarter[-1])
        for tier, lift in (("basic", 0), ("standard", 1), ("advanced", 2)):
            for i in range(6):
                day = f"{year}-{3 * q - 2 + i % 3:02d}-{1 + 4 * i:02d}"
                answers = {"nps": ("nps", min(10, rnd.randrange(0, 11) + lift)),
                           "sat": ("csat", min(5, rnd.randrange(1, 6) + lift // 2)),
                           "effort": ("ces", rnd.randrange(1, 8)), "docs": ("rating", rnd.randrange(1, 11)),
                           "plan": ("choice", rnd.choice(["Basic", "=Pro", "Enterprise"])),
                           "next": ("text", LONG_TEXT if i == 0 else f"<b>idea</b> {i} & more")}
                fx.answer("feedback", tier, day, answers)
            fx.invite("feedback", tier, f"{year}-{3 * q - 2:02d}-02", state="failed")
    report = build_report(config, fx.ledger, "quarter")
    fx.close()
    (root / "report.html").write_text(write_report(report, "html", config, make_host()), encoding="utf-8")
    return root


def test_report_at_desktop_width(browser, base_url: str, tmp_path: Path) -> None:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base_url) else None)
    response = page.goto(f"{base_url}/report.html")
    assert response is not None and response.status == 200
    shot = tmp_path / "report-desktop.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 30_000, f"screenshot looks empty: {shot}"
    assert page.evaluate("document.documentElement.lang") == "en"
    assert outside == [], f"the report fetched from outside: {outside}"
    # One chart per tier, drawn (not zero-sized), with a point per quarter for NPS and for CSAT.
    charts = page.locator("figure.chart svg")
    assert charts.count() == 3
    for i in range(3):
        svg = charts.nth(i)
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150, box
        assert svg.locator("circle.point.nps").count() == len(QUARTERS)
        assert svg.locator("circle.point.csat").count() == len(QUARTERS)
        periods = svg.locator("circle.point.nps").evaluate_all("els => els.map(e => e.dataset.period)")
        assert periods == QUARTERS
        titles = svg.locator("circle.point.nps title").all_text_contents()
        assert len(titles) == len(QUARTERS) and titles[0].startswith("Q1 2025: NPS ")
        assert svg.locator("polyline.line").count() == 2
        assert svg.locator("text").filter(has_text="2026").count() == 1  # axis labels
    # Tiles show figures with arrows whose meaning is also in words.
    tiles = page.locator("#s-feedback-basic .tile")
    assert tiles.count() == 5  # response rate, NPS, CSAT, CES, rating
    assert page.locator("#s-feedback-basic .trend .sr").first.inner_text().startswith(("up ", "down ", "unchanged"))
    # Customers' text arrives as text: no <b> element from an answer.
    assert page.locator(".voices b").count() == 0
    assert page.get_by_text("<b>idea</b> 1 & more").count() == 3  # once per tier
    context.close()


def test_report_on_a_phone(browser, base_url: str, tmp_path: Path) -> None:
    # No is_mobile emulation: a mobile viewport zooms out to fit wide content and would hide overflow.
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/report.html")
    shot = tmp_path / "report-phone.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 30_000, f"screenshot looks empty: {shot}"
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert inner_width == PHONE["width"]
    assert scroll_width <= inner_width, f"the report is {scroll_width}px wide on a {inner_width}px phone; {shot}"
    # The chart fits the screen and its labels stay readable (at least 9 CSS px).
    svg = page.locator("figure.chart svg").first
    box = svg.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    label = svg.locator("text").first.bounding_box()
    assert label is not None and label["height"] >= 9, label
    # Tiles sit side by side in two columns, and the wide table scrolls inside its own box.
    first, second = page.locator("#s-feedback-basic .tile").nth(0), page.locator("#s-feedback-basic .tile").nth(1)
    assert first.bounding_box()["y"] == second.bounding_box()["y"]
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 14
    context.close()
