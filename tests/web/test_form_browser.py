"""Headless Chromium fills in and submits the hosted form with the keyboard only, at phone width;
axe-core checks the pages (WCAG 2.1 AA rules, colour contrast included); a screenshot is checked."""

from __future__ import annotations

import pytest

from browser_helpers import chromium
from web_project import cli, form_link, messages

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


def axe_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                                             "wcag21aa"]}})
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in results.response["violations"]]


def test_keyboard_only_at_phone_width(served, tmp_path):
    folder, config, server = served
    link = form_link(messages(folder)["ann@acme.example"])
    with chromium() as browser:
        page = browser.new_page(viewport=PHONE, java_script_enabled=True)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(link)
        assert axe_violations(page) == []
        # No horizontal scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot = page.screenshot(full_page=True)
        path = tmp_path / "form.png"
        path.write_bytes(shot)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
        width, height = int.from_bytes(shot[16:20], "big"), int.from_bytes(shot[20:24], "big")
        assert width == PHONE["width"] and height > 800  # the whole form, laid out for the phone
        # Keyboard only: Tab into the NPS group, arrows choose, Tab on to the next group...
        page.keyboard.press("Tab")  # the first radio of the first group (nothing before the form is focusable)
        focused = page.evaluate("document.activeElement.name")
        while focused != "nps":
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement.name")
        for _ in range(8):
            page.keyboard.press("ArrowRight")  # 0 -> 8
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.name") == "effort"
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")  # 1 -> 3 (arrows also select)
        page.keyboard.press("Tab")
        page.keyboard.press("ArrowDown")  # Speed -> Price
        page.keyboard.press("Tab")
        page.keyboard.type("Typed with a keyboard")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "BUTTON"
        page.keyboard.press("Enter")
        page.wait_for_url("**/thanks")
        assert "Thank you" in page.content()
        assert axe_violations(page) == []
        assert errors == []  # no blocked inline script or style (CSP) complained about
    code, out, err = cli(config, "report", "--format", "json")
    assert code == 0, err
    from tierctl.storage.opener import open_ledger

    with open_ledger(None, folder) as ledger:
        assert sorted(ledger.conn.execute("SELECT question_id, value FROM answers").fetchall()) == [
            ("area", "Price"), ("comment", "Typed with a keyboard"), ("effort", 3), ("nps", 8)]


def test_errors_and_the_unsubscribe_page_pass_axe(served):
    folder, _, server = served
    msg = messages(folder)["bob@acme.example"]
    with chromium() as browser:
        page = browser.new_page(viewport=PHONE)
        page.goto(form_link(msg))
        page.click("text=Send my answers")  # nothing answered: the required question's error
        assert page.locator("#err-nps").count() == 1
        assert page.locator("#q-nps").get_attribute("aria-describedby") == "err-nps"
        assert axe_violations(page) == []
        unsubscribe = str(msg["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
        page.goto(unsubscribe)
        assert axe_violations(page) == []
