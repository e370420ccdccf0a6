"""The hosted form's engine without HTTP: the response_received hook fires for a form submission,
and many threads submitting at once are stored once each (the batch writer)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from web_project import SECRET, cli, make_project
from tierctl.config.loader import load_config
from tierctl.hookspecs import hookimpl
from tierctl.host.plugin_host import PluginHost
from tierctl.storage.opener import open_ledger
from tierctl.web.desk import SurveyDesk
from tierctl.web.links import FORM, make_token


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str]] = []

    @hookimpl
    def response_received(self, response, invitation):
        self.calls.append((response.response_id, dict(response.answers), invitation["contact_email"]))


def test_a_form_submission_fires_the_hook_and_concurrent_ones_are_stored_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    config_path = make_project(tmp_path, 8080)
    code, out, err = cli(config_path, "survey", "send")
    assert code == 0, err
    host = PluginHost.load()
    recorder = Recorder()
    host.pm.register(recorder, name="recorder")
    config = load_config(config_path, host)
    desk = SurveyDesk(config, host)
    with open_ledger(None, tmp_path) as ledger:
        ids = {r["contact_email"]: r["invite_id"] for r in ledger.invitations(survey_id="product-feedback")}
    opened = desk.open(make_token(SECRET, FORM, ids["ann@acme.example"]))
    assert opened.problem == ""
    assert desk.submit(opened, {"nps": "7"}).ok
    assert recorder.calls == [(f"web:{ids['ann@acme.example']}", {"nps": 7}, "ann@acme.example")]

    def submit(n: int) -> bool:
        who = "ann@acme.example" if n % 2 else "bob@acme.example"
        mine = desk.open(make_token(SECRET, FORM, ids[who]))
        return desk.submit(mine, {"nps": str(n % 11)}).ok

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(submit, range(200)))
    desk.close()
    with open_ledger(None, tmp_path) as ledger:
        assert ledger.conn.execute("SELECT COUNT(*) FROM responses").fetchone() == (2,)
        assert ledger.conn.execute("SELECT SUM(n) FROM answer_day_counts WHERE question_id = 'nps'").fetchone() == (2,)
    assert len(recorder.calls) == 201


def _web_threads() -> list[str]:
    import threading

    return sorted(t.name for t in threading.enumerate() if t.name.startswith("tierctl-web"))


def test_a_served_app_leaves_no_thread_or_connection_when_the_server_stops(tmp_path, monkeypatch):
    """uvicorn's shutdown runs the app's lifespan: the batch writer stores what is queued, and the
    page and writer threads stop, their ledger connections closed (a program embedding the app, or
    a server reloading, keeps nothing running)."""
    import threading

    import httpx

    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app
    from tierctl.web.links import form_url

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    port = unused_port()
    config_path = make_project(tmp_path, port)
    code, out, err = cli(config_path, "survey", "send")
    assert code == 0, err
    before = _web_threads()
    app = create_app(str(config_path))
    config = load_config(config_path)
    with open_ledger(None, tmp_path) as ledger:
        invite = next(r["invite_id"] for r in ledger.invitations(survey_id="product-feedback"))
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.02)
        with httpx.Client(follow_redirects=False) as client:
            link = form_url(config, invite)
            page = client.get(link)
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            answered = client.post(link, data={"csrf": csrf, "nps": "9"})
            assert answered.status_code == 303, answered.text
        assert len(_web_threads()) > len(before)  # the page threads and the writer ran
    finally:
        server.should_exit = True
        thread.join(20)
    assert _web_threads() == before
    with open_ledger(None, tmp_path) as ledger:
        assert ledger.conn.execute("SELECT COUNT(*) FROM responses").fetchone() == (1,)


def test_closing_the_desk_stores_the_queued_submissions_first(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    config_path = make_project(tmp_path, 8080)
    code, out, err = cli(config_path, "survey", "send")
    assert code == 0, err
    desk = SurveyDesk(load_config(config_path), None)
    with open_ledger(None, tmp_path) as ledger:
        ids = [r["invite_id"] for r in ledger.invitations(survey_id="product-feedback")]
    queued = []
    for invite in ids:
        opened = desk.open(make_token(SECRET, FORM, invite))
        assert opened.problem == ""
        queued.append(desk.begin_submit(opened, {"nps": "8"}))
    desk.close()
    assert all(q.done.done() and q.done.result() for q in queued)
    assert _web_threads() == []
    with open_ledger(None, tmp_path) as ledger:
        assert ledger.conn.execute("SELECT COUNT(*) FROM responses").fetchone() == (len(ids),)
