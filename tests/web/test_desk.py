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
