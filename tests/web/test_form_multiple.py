"""multiple_choice on the hosted form: a checkbox group in a fieldset with its legend, ticked by
keyboard in Chromium, every ticked choice stored; server-side checks (unknown choice, too many)."""

from __future__ import annotations

import re

import httpx
import pytest

from browser_helpers import chromium
from web_project import SECRET, cli, form_link, messages, sent_and_served, serve_yaml
from test_form_browser import PHONE, axe_violations

MULTI = ("      - {id: features, type: multiple_choice, text: Which features do you use?, max_choices: 2,\n"
         "         choices: [Reports, Exports, {en: Alerts, de: Warnungen}]}\n")


@pytest.fixture
def multi_project(tmp_path, monkeypatch):
    from tierctl.testing.sockets import unused_port

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    port = unused_port()
    yaml = serve_yaml(port).replace("      - {id: comment, type: text", MULTI + "      - {id: comment, type: text")
    with sent_and_served(tmp_path, port, yaml) as (config, server):
        yield tmp_path, config, server


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def answers(folder) -> dict[str, object]:
    from tierctl.storage.opener import open_ledger

    with open_ledger(None, folder) as ledger:
        return dict(ledger.conn.execute("SELECT question_id, value FROM answers").fetchall())


def test_checked_server_side_and_shown_again(multi_project):
    folder, config, server = multi_project
    link = form_link(messages(folder)["ann@acme.example"])
    with httpx.Client() as http:
        page = http.get(link).text
        group = page[page.index('<fieldset id="q-features"'):]
        group = group[:group.index("</fieldset>") + 11]
        assert "<legend>Which features do you use?" in group and group.count('type="checkbox"') == 3
        assert 'name="features" value="Alerts"' in group and "Choose 1 to 2." in group
        post = {"origin": server.url}
        bad = http.post(link, data={"csrf": csrf_of(page), "nps": "9", "features": ["Reports", "Colours"]},
                        headers=post)
        assert bad.status_code == 422 and "&#39;Colours&#39; is not one of the choices" in bad.text
        assert 'value="Reports" checked' in bad.text  # what was ticked stays ticked
        assert 'aria-describedby="err-features hint-features"' in bad.text
        many = http.post(link, data={"csrf": csrf_of(page), "nps": "9", "features": ["Reports", "Exports", "Alerts"]},
                         headers=post)
        assert many.status_code == 422 and "3 chosen; choose at most 2" in many.text
        ok = http.post(link, data={"csrf": csrf_of(page), "nps": "9", "features": ["Alerts", "Reports"]}, headers=post)
        assert ok.status_code == 303
        again = http.get(link).text
        assert 'value="Reports" checked' in again and 'value="Alerts" checked' in again
        assert 'value="Exports" checked' not in again
    assert answers(folder)["features"] == '["Reports", "Alerts"]'
    code, out, err = cli(config, "report", "--format", "md")
    assert code == 0 and "Reports: 1 · Exports: 0 · Alerts: 1 (1 answer)" in out, out


@pytest.mark.slow
def test_chromium_ticks_two_boxes_by_keyboard(multi_project):
    folder, config, server = multi_project
    link = form_link(messages(folder)["bob@acme.example"])
    with chromium() as browser:
        page = browser.new_page(viewport=PHONE)
        page.goto(link)
        assert axe_violations(page) == []
        page.keyboard.press("Tab")
        while page.evaluate("document.activeElement.name") != "nps":
            page.keyboard.press("Tab")
        page.keyboard.press("ArrowRight")  # 0 -> 1
        while page.evaluate("document.activeElement.name") != "features":
            page.keyboard.press("Tab")
        page.keyboard.press("Space")  # Reports
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")  # each box is its own tab stop: Reports -> Exports -> Alerts
        assert page.evaluate("document.activeElement.value") == "Alerts"
        page.keyboard.press("Space")
        while page.evaluate("document.activeElement.tagName") != "BUTTON":
            page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_url("**/thanks")
    assert answers(folder)["features"] == '["Reports", "Alerts"]'
