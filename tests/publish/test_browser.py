"""The rendered website in a real browser: Debian's headless Chromium, driven
by playwright, loading the site from a real HTTP server on 127.0.0.1.

Without /usr/bin/chromium the tests are skipped locally, but fail when CI is
set: CI must run them (``.ci/run`` installs chromium).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tierctl.config.loader import load_config
from tierctl.plugins import filters, html_site, markdown_sales
from tierctl.host.plugin_host import PluginHost
from tierctl.publish.render_engine import render_targets

PHONE = {"width": 390, "height": 844}

# Four tiers with long texts: the phone layout has to cope with more than the example.
CONFIG = """\
    version: 1
    organization:
      name: Acme Analytics
      support_url: https://acme.example/support
      severities: {urgent: Production is down., high: A key feature is broken., normal: A question.}
    tiers:
      basic:
        name: Basic
        summary: Quick answers and self-service for teams getting started.
        touch_model: tech-touch
        plans: [free, starter]
        channels: [knowledge-base, community, email]
        response_targets: {urgent: 1 business day, normal: 3 business days}
        agent_time_cap: 30m/month
        contact_cadence:
          onboarding: {every: 7d, channel: email, automated: true}
        surveys: [product-feedback]
      standard:
        extends: basic
        name: Standard
        touch_model: low-touch
        plans: [team, business]
        channels: [+chat, +phone]
        hours: extended
        response_targets: {urgent: 4h, high: 8h, normal: 1 business day}
        agent_time_cap: 2h/month
        named_contacts: 3
      advanced:
        extends: standard
        name: Advanced
        touch_model: high-touch
        plans: [enterprise]
        hours: 24x7
        channels: [+video, +on-site]
        response_targets: {urgent: 1h, high: 4h, normal: 4h}
        agent_time_cap: 10h/month
        named_contacts: 10
        specialists: [integrations, reporting, security]
        surveys: [pre-meeting, product-feedback]
      enterprise-premium-plus:
        extends: advanced
        name: Enterprise Premium Plus with a Dedicated Engineering Escalation Team
        plans: [enterprise-premium-annual-contract-with-extras]
        includes: [A very long inclusion name that goes on and on without any natural break point at all]
        escalation: https://acme.example/escalation/for/the/accounts/with/the/longest/contracts/ever/written
    surveys:
      pre-meeting: {title: Before our account review}
      product-feedback: {title: Quarterly product feedback}
    render:
      website: {format: html, out: site, title: Acme Analytics support plans}
    """
TIER_NAMES = ["Basic", "Standard", "Advanced", "Enterprise Premium Plus with a Dedicated Engineering Escalation Team"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    (root / "tierctl.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    host = PluginHost.from_modules({"html": html_site, "markdown": markdown_sales, "filters": filters})
    render_targets(load_config(root / "tierctl.yaml", host), host)
    return root / "site"


def _offline(page) -> list[str]:
    """Record any request that leaves 127.0.0.1: the site must be self-contained."""
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith("http://127.0.0.1") else None)
    return outside


def test_index_shows_every_tier_and_links_work(browser, base_url: str) -> None:
    page = browser.new_page()
    outside = _offline(page)
    response = page.goto(f"{base_url}/index.html")
    assert response is not None and response.status == 200
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.title() == "Acme Analytics support plans"
    headers = page.locator("#comparison thead th[scope=col]")
    assert [h.strip() for h in headers.all_inner_texts()] == TIER_NAMES
    assert page.locator("#comparison caption").inner_text().strip() == "What each support plan includes"
    # Row headers are real <th scope=row>, one per row, and every row has a cell per tier.
    rows = page.locator("#comparison tbody tr")
    assert rows.count() >= 9
    for i in range(rows.count()):
        row = rows.nth(i)
        assert row.locator("th[scope=row]").count() == 1
        assert row.locator("td").count() == len(TIER_NAMES)
    row_labels = page.locator("#comparison tbody th").all_inner_texts()
    for label in ("Plans", "Support hours", "Channels", "First response: urgent", "First response: high",
                  "Agent time per account", "Named contacts", "Specialist agents", "Service model",
                  "Customer surveys"):
        assert label in row_labels
    # Every tier link in the table leads to that tier's page, and back.
    for name in TIER_NAMES:
        page.locator("#comparison thead th").get_by_role("link", name=name, exact=True).click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == f"{name} support", page.url
        page.get_by_role("link", name="All support plans").click()
        page.wait_for_load_state()
        assert page.url.endswith("/index.html")
    assert outside == [], f"the site fetched from outside: {outside}"
    page.close()


def test_phone_width_has_no_horizontal_overflow(browser, base_url: str, tmp_path: Path) -> None:
    # No is_mobile emulation: a mobile viewport zooms out to fit wide content,
    # which would make window.innerWidth grow and hide the overflow.
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    for name in ("index.html", "enterprise-premium-plus.html", "basic.html"):
        page.goto(f"{base_url}/{name}")
        shot = tmp_path / f"{name.removesuffix('.html')}-phone.png"
        page.screenshot(path=str(shot), full_page=True)
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert inner_width == PHONE["width"]
        assert scroll_width <= inner_width, (
            f"{name} is {scroll_width}px wide on a {inner_width}px phone screen; screenshot: {shot}")
        assert shot.stat().st_size > 10_000, f"screenshot looks empty: {shot}"
    # The comparison scrolls inside its own box, and its row labels stay in view while it does.
    page.goto(f"{base_url}/index.html")
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("e => e.scrollWidth > e.clientWidth"), "four tiers should need sideways scrolling"
    label = page.locator("#comparison tbody th").first
    before = label.bounding_box()
    wrap.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    after = label.bounding_box()
    assert before is not None and after is not None and abs(before["x"] - after["x"]) < 1, (
        f"row labels scrolled away ({before} -> {after}); screenshot: {tmp_path / 'index-phone.png'}")
    assert page.locator(".scroll-hint").is_visible()
    # Text is readable without zooming.
    font_px = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert font_px >= 14
    context.close()
