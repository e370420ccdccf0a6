"""Qualtrics pushes end to end: a real uvicorn, the Qualtrics double, tierctl's own send.

The event subscription posts ``Topic``, ``MSG`` (SurveyID, ResponseID) and ``HMAC``; the receiver
answers at once, reads the one response through the API (``GET /surveys/{id}/responses/{id}``)
and stores it through the collect path, so a later ``survey collect`` counts it once.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from web_project import SECRET, cli, sent_and_served, serve_yaml
from doubles.qualtrics import DIRECTORY, LIBRARY, MESSAGE, TOKEN, QualtricsDouble

SV = "SV_3kTQ0rB7Yq"
SV_MEETING = "SV_9pLm2Qa4"
HOOK_SECRET = "qx-shared-key-0123456789abcdef"


@pytest.fixture
def qualtrics_project(tmp_path, monkeypatch):
    from tierctl.testing.sockets import unused_port

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("QUALTRICS_TOKEN", TOKEN)
    monkeypatch.setenv("QX_HOOK_SECRET", HOOK_SECRET)
    with QualtricsDouble(export_polls=0) as double:
        double.add_survey(SV, "Quarterly product feedback")
        double.add_survey(SV_MEETING, "Before our account review")
        port = unused_port()
        yaml = serve_yaml(port, "  webhook_secrets:\n    qualtrics: ${QX_HOOK_SECRET}\n")
        yaml = yaml.replace("provider: mail", "provider: qx").replace(
            "  mail: {plugin: outbox",
            f"  qx:\n    plugin: qualtrics\n    token: ${{QUALTRICS_TOKEN}}\n    base_url: {double.url}/API/v3\n"
            f"    directory_id: {DIRECTORY}\n    library_id: {LIBRARY}\n    message_id: {MESSAGE}\n"
            f"    from_email: surveys@acme.example\n    poll_interval: 0.01\n    requests_per_second: 50\n"
            f"    surveys: {{product-feedback: {SV}, pre-meeting: {SV_MEETING}}}\n"
            f"    questions: {{nps: QID1, effort: QID2, area: QID3, comment: QID4_TEXT}}\n"
            f"  mail: {{plugin: outbox")
        with sent_and_served(tmp_path, port, yaml) as (config, server):
            yield tmp_path, config, server, double


def stored(folder) -> list[tuple[str, str]]:
    from tierctl.storage.opener import open_ledger

    with open_ledger(None, folder) as ledger:
        return [(r["response_id"], r["source"]) for r in ledger.responses_for_account("a1")]


def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_qualtrics_event_is_read_through_the_api_and_counted_once(qualtrics_project, caplog):
    folder, config, server, double = qualtrics_project
    invite_id = double.deliveries[0].embedded["invite_id"]
    rid = double.respond(invite_id, {"QID1": 9, "QID3": 2, "QID4_TEXT": "quick answers"},
                         labels={"QID3": "Price"})
    hook = server.url + "/hooks/qualtrics"
    form = {"content-type": "application/x-www-form-urlencoded"}
    body = double.event_delivery(SV, rid, HOOK_SECRET)
    unsigned = httpx.post(hook, content=double.event_delivery(SV, rid, None), headers=form)
    forged = httpx.post(hook, content=double.event_delivery(SV, rid, "another key"), headers=form)
    assert unsigned.status_code == 401 and forged.status_code == 401
    started = time.monotonic()
    pushed = httpx.post(hook, content=body, headers=form)
    assert pushed.status_code == 202 and time.monotonic() - started < 2  # answered before the API is read
    assert wait_for(lambda: stored(folder)) == [(f"qx:{rid}", "qx")]
    reads = [r for r in double.requests if r.method == "GET" and r.route.endswith(f"/responses/{rid}")]
    assert len(reads) == 1  # the one response, not an export of the survey
    assert httpx.post(hook, content=body, headers=form).status_code == 202  # Qualtrics retries: stored once
    wait_for(lambda: len([r for r in double.requests if r.route.endswith(f"/responses/{rid}")]) == 2)
    time.sleep(0.3)
    code, out, err = cli(config, "survey", "collect", "--survey", "product-feedback", "--json")
    assert code == 0, out + err
    assert stored(folder) == [(f"qx:{rid}", "qx")]  # pushed, then exported: counted once
    code, out, err = cli(config, "report", "--format", "json")
    assert code == 0, err
    assert '"responses": 1' in out


def test_an_unfinished_or_unknown_response_is_left_to_collect(qualtrics_project, caplog):
    import logging

    folder, config, server, double = qualtrics_project
    invite_id = double.deliveries[0].embedded["invite_id"]
    partial = double.respond(invite_id, {"QID1": 4}, finished=False)
    hook = server.url + "/hooks/qualtrics"
    form = {"content-type": "application/x-www-form-urlencoded"}
    logging.getLogger("tierctl").propagate = True
    with caplog.at_level(logging.INFO, logger="tierctl"):
        assert httpx.post(hook, content=double.event_delivery(SV, partial, HOOK_SECRET),
                          headers=form).status_code == 202
        assert httpx.post(hook, content=double.event_delivery(SV, "R_unknown00", HOOK_SECRET),
                          headers=form).status_code == 202
        assert httpx.post(hook, content=double.event_delivery("SV_notours", partial, HOOK_SECRET),
                          headers=form).status_code == 202
        assert wait_for(lambda: "is not finished" in caplog.text and "R_unknown00" in caplog.text)
    assert stored(folder) == []
    assert "the next collect reads it" in caplog.text
    assert HOOK_SECRET not in caplog.text and TOKEN not in caplog.text


def test_webhooks_register_and_check_with_qualtrics(qualtrics_project):
    """Qualtrics' subscription is created through its API; its id (Qualtrics lists none) is kept in
    the ledger so that check finds it."""
    folder, config, server, double = qualtrics_project
    code, out, err = cli(config, "webhooks", "check")
    assert code == 1 and "not registered" in out
    code, out, err = cli(config, "webhooks", "register", "--json")
    assert code == 0, out + err
    assert {(l["survey"], l["state"]) for l in json.loads(out)} == {("pre-meeting", "registered"),
                                                                   ("product-feedback", "registered")}
    by_topic = {s["topics"]: s for s in double.subscriptions.values()}
    sub = by_topic[f"surveyengine.completedResponse.{SV}"]
    assert sub["publicationUrl"] == f"{server.url}/hooks/qualtrics" and sub["sharedKey"] == HOOK_SECRET
    assert sub["encrypted"] is False and HOOK_SECRET not in out + err
    code, out, _ = cli(config, "webhooks", "check")
    assert code == 0 and out.count(" ok ") == 2, out
    double.subscriptions[sub["id"]]["publicationUrl"] = "https://elsewhere.example/hook"
    code, out, _ = cli(config, "webhooks", "check")
    assert code == 1 and "points at 'https://elsewhere.example/hook'" in out
