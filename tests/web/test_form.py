"""The hosted form on a real uvicorn: links from the .eml, answers into the report, changes, security."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import httpx

from web_project import SECRET, UvicornThread, cli, form_link, messages

HEADERS = {"content-security-policy", "referrer-policy", "x-content-type-options", "x-frame-options"}


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_a_link_from_the_eml_to_the_report(served):
    folder, config, server = served
    link = form_link(messages(folder)["ann@acme.example"])
    with httpx.Client() as http:
        page = http.get(link)
        assert page.status_code == 200
        assert HEADERS <= set(page.headers)
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script
        assert page.headers["referrer-policy"] == "no-referrer"
        html = page.text
        assert "<script" not in html and "style=" not in html
        assert "Acme" in html and "https://acme.example/support" in html
        assert html.count("<fieldset") == 4 + 0 and html.count("<legend>") == 4
        assert 'type="radio"' in html and 'name="nps" value="10"' in html and 'name="effort" value="7"' in html
        answer = {"csrf": csrf_of(html), "nps": "9", "effort": "6", "area": "Support", "comment": "Fast help"}
        sent = http.post(link, data=answer, headers={"origin": server.url})
        assert sent.status_code == 303 and sent.headers["location"].endswith("/thanks")
        assert "Thank you" in http.get(server.url + sent.headers["location"]).text
        code, out, err = cli(config, "report", "--format", "json")
        assert code == 0, err
        assert '"nps"' in out and out.count('"responses": 1') >= 1
        # The respondent changes the answer: the latest counts, once.
        again = http.get(link).text
        assert "Your new answers replace the earlier ones" in again and 'value="9" checked' in again
        http.post(link, data={**answer, "csrf": csrf_of(again), "nps": "3"}, headers={"origin": server.url})
    from tierctl.storage.opener import open_ledger

    with open_ledger(None, folder) as ledger:
        rows = ledger.conn.execute("SELECT response_id, source FROM responses").fetchall()
        assert len(rows) == 1 and rows[0][1] == "web"
        assert ledger.conn.execute("SELECT score, n FROM answer_day_counts WHERE question_id = 'nps'").fetchall() \
            == [(3.0, 1)]


def test_a_refused_submission_keeps_what_was_typed_and_ties_errors_to_fields(served):
    folder, _, server = served
    link = form_link(messages(folder)["ann@acme.example"])
    with httpx.Client() as http:
        token = csrf_of(http.get(link).text)
        bad = http.post(link, data={"csrf": token, "nps": "11", "comment": "keep <me>"})
        assert bad.status_code == 422
        html = bad.text
        assert "is outside the scale 0-10; nps answers are whole numbers from 0 to 10" in html  # import's message
        assert 'aria-describedby="err-nps"' in html and 'id="err-nps"' in html and 'aria-invalid="true"' in html
        assert "keep &lt;me&gt;</textarea>" in html  # kept, and escaped
        assert 'role="alert"' in html and 'href="#q-nps"' in html
        missing = http.post(link, data={"csrf": token, "comment": "only text"})
        assert missing.status_code == 422 and "Please answer this question." in missing.text
        tampered_choice = http.post(link, data={"csrf": token, "nps": "5", "area": "Free beer"})
        assert tampered_choice.status_code == 422 and "is not one of the choices" in tampered_choice.text


def _changed_last(text: str) -> str:
    """``text`` with another last character (replacing it with a fixed one tampers with nothing
    when the text already ends in it: 1 run in 64 for a random token)."""
    return text[:-1] + ("B" if text.endswith("A") else "A")


def test_tampered_links_csrf_and_cross_site_posts_are_refused(served):
    folder, _, server = served
    link = form_link(messages(folder)["ann@acme.example"])
    invite_id, sig = link.rsplit("/", 1)[1].split(".")
    with httpx.Client() as http:
        for bad in (f"{invite_id}.{_changed_last(sig)}", f"{_changed_last(invite_id)}.{sig}", invite_id, "x" * 300):
            page = http.get(f"{server.url}/s/{bad}")
            assert page.status_code == 404 and "This link is not valid" in page.text
        token = csrf_of(http.get(link).text)
        assert http.post(link, data={"nps": "5"}).status_code == 403
        assert http.post(link, data={"csrf": _changed_last(token), "nps": "5"}).status_code == 403
        assert http.post(link, data={"csrf": token, "nps": "5"},
                         headers={"origin": "https://evil.example"}).status_code == 403
        # an unsubscribe link does not open the form, nor the other way round
        unsub = re.search(r"/u/([A-Za-z0-9_.-]+)", messages(folder)["ann@acme.example"]["List-Unsubscribe"]).group(1)
        assert http.get(f"{server.url}/s/{unsub}").status_code == 404
        assert http.get(f"{server.url}/u/{link.rsplit('/', 1)[1]}").status_code == 404
        nothing = http.get(f"{server.url}/nope")
        assert nothing.status_code == 404 and "Traceback" not in nothing.text


def test_a_closed_occasion_says_so(tmp_path, served):
    from tierctl.web import create_app
    from tierctl.testing.sockets import unused_port

    folder, config, _ = served
    link = form_link(messages(folder)["ann@acme.example"])
    later = datetime.now(timezone.utc) + timedelta(days=400)
    app = create_app(str(config), clock=lambda: later)
    port = unused_port()
    with UvicornThread(app, port) as other:
        page = httpx.get(link.replace(link.split("/s/")[0], other.url))
        assert page.status_code == 410 and "This survey has closed" in page.text
    app.desk.close()


def test_body_and_rate_limits(served, tmp_path):
    folder, config, server = served
    link = form_link(messages(folder)["bob@acme.example"])
    with httpx.Client() as http:
        big = http.post(link, content=b"x" * 70_000, headers={"content-type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413
        codes = [http.get(link).status_code for _ in range(105)]
        assert codes.count(429) >= 1 and codes[0] == 200
        assert http.get(server.url + "/healthz").json() == {"status": "ok"}


def test_logs_carry_no_tokens(served, caplog):
    import logging

    folder, _, server = served
    link = form_link(messages(folder)["ann@acme.example"])
    token = link.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="tierctl"):
        logging.getLogger("tierctl").propagate = True
        httpx.get(link)
        httpx.get(link + "x")
    text = caplog.text
    assert "/s/…" in text and token not in text and token[:19] not in text


def test_the_eml_carries_one_click_unsubscribe_and_a_visible_link(served):
    folder, config, server = served
    msg = messages(folder)["ann@acme.example"]
    header = " ".join(str(msg["List-Unsubscribe"]).split())
    assert re.fullmatch(r"<http://127\.0\.0\.1:\d+/u/[A-Za-z0-9_.-]+>, <mailto:unsubscribe@acme\.example\?subject="
                        r"unsubscribe>", header)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header[1:header.index(">")]
    assert url in msg.get_body(("plain",)).get_content()
    with httpx.Client() as http:
        page = http.get(url)  # a mail scanner following the link: nothing happens
        assert page.status_code == 200 and "Unsubscribe" in page.text
        code, out, _ = cli(config, "contacts", "suppressions", "--json")
        assert json.loads(out) == []
        done = http.post(url, data={"List-Unsubscribe": "One-Click"})  # RFC 8058, from the mail client
        assert done.status_code == 200
    code, out, _ = cli(config, "contacts", "suppressions", "--json")
    assert [(r["address"], r["survey_id"], r["source"]) for r in json.loads(out)] == [
        ("ann@acme.example", None, "link")]
    code, out, _ = cli(config, "survey", "plan", "--now", (datetime.now(timezone.utc) + timedelta(days=100))
                       .isoformat())
    assert "ann@acme.example                 opted out" in out


def test_the_form_speaks_the_organisations_language_without_the_contacts_locale(served):
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    folder, config, _ = served
    config.write_text(config.read_text().replace("timezone: Europe/Amsterdam,", "timezone: Europe/Amsterdam, "
                                                                               "language: nl,"))
    link = form_link(messages(folder)["ann@acme.example"])
    from tierctl.storage.opener import open_ledger

    with open_ledger(None, folder) as ledger:  # invitations sent before the ledger kept the locale
        with ledger.conn:
            ledger.conn.execute("UPDATE invitations SET locale = ''")
    app = create_app(str(config))
    with UvicornThread(app, unused_port()) as other:
        page = httpx.get(link.replace(link.split("/s/")[0], other.url))
        assert '<html lang="nl">' in page.text and "Mijn antwoorden versturen" in page.text
        assert "Zeer onwaarschijnlijk" in page.text and "(verplicht)" in page.text
        bad = httpx.post(link.replace(link.split("/s/")[0], other.url), data={"csrf": csrf_of(page.text)})
        assert "Beantwoord deze vraag." in bad.text
    app.desk.close()


def test_the_form_speaks_the_contacts_language(tmp_path, monkeypatch):
    """The locale the invitation was sent in is kept in the ledger; every page of its link speaks it
    (nl-BE -> nl -> the organisation's default), the questions in it where the config has them."""
    from project_fixtures import write_customers
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    from web_project import make_project, serve_yaml

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    port = unused_port()
    yaml = serve_yaml(port).replace("text: Would you recommend us?, required: true}",
                                    "text: {en: Would you recommend us?, de: Würden Sie uns empfehlen?}, "
                                    "required: true}")
    config = make_project(tmp_path, port, yaml=yaml)
    write_customers(tmp_path / "customers.csv", [
        ["a1", "Acme", "starter", "active", "ann@acme.example", "Ann Smith", "user", "de"],
        ["a1", "Acme", "starter", "active", "bob@acme.example", "Bob", "user", "nl-BE"],
        ["a1", "Acme", "starter", "active", "cy@acme.example", "Cy", "user", "fr"],
    ])
    code, out, err = cli(config, "survey", "send")
    assert code == 0, out + err
    sent = messages(tmp_path)
    app = create_app(str(config))
    with UvicornThread(app, port) as server, httpx.Client() as http:
        link = form_link(sent["ann@acme.example"])
        page = http.get(link)
        assert '<html lang="de">' in page.text and "Meine Antworten senden" in page.text
        assert "Würden Sie uns empfehlen?" in page.text and "Sehr unwahrscheinlich" in page.text
        assert "(erforderlich)" in page.text and "Keine Befragungen mehr erhalten" in page.text
        bad = http.post(link, data={"csrf": csrf_of(page.text)}, headers={"origin": server.url})
        assert bad.status_code == 422 and "Bitte beantworten Sie diese Frage." in bad.text
        done = http.post(link, data={"csrf": csrf_of(page.text), "nps": "8"}, headers={"origin": server.url})
        assert done.status_code == 303
        assert "Vielen Dank!" in http.get(server.url + done.headers["location"]).text
        unsubscribe = re.search(r'href="(/u/[^"]+)"', page.text).group(1)
        assert '<html lang="de">' in http.get(server.url + unsubscribe).text
        dutch = http.get(form_link(sent["bob@acme.example"])).text  # nl-BE -> nl
        assert '<html lang="nl">' in dutch and "Mijn antwoorden versturen" in dutch
        assert "Would you recommend us?" in dutch  # no Dutch text in the config: its first language
        french = http.get(form_link(sent["cy@acme.example"])).text  # no French: the organisation's
        assert '<html lang="en">' in french and "Send my answers" in french
    app.desk.close()
    later = create_app(str(config), clock=lambda: datetime.now(timezone.utc) + timedelta(days=400))
    with UvicornThread(later, unused_port()) as other:
        closed = httpx.get(link.replace(link.split("/s/")[0], other.url))
        assert closed.status_code == 410 and "Diese Befragung ist beendet" in closed.text
    later.desk.close()
