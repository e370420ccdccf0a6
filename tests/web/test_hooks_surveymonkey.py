"""SurveyMonkey's push: a signed response_completed event is answered at once (202), and the
survey is collected in the background through the collect path: the response is stored once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx

from web_project import SECRET, UvicornThread, cli, make_project, serve_yaml
from doubles.surveymonkey import TOKEN, SurveyMonkeyDouble

SM_KEY = "sm-app-key&sm-app-secret"


def test_a_signed_surveymonkey_event_collects_the_response(tmp_path, monkeypatch):
    from tierctl.storage.opener import open_ledger
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("SM_TOKEN", TOKEN)
    monkeypatch.setenv("SM_HOOK_SECRET", SM_KEY)
    with SurveyMonkeyDouble() as sm:
        sm.add_survey("406", {"813001": ("Would you recommend us?", [str(n) for n in range(11)])})
        sm.add_survey("407", {"814001": "How satisfied are you?"})
        port = unused_port()
        monkey = {"plugin": "surveymonkey", "token": "${SM_TOKEN}", "base_url": sm.base_url,
                  "surveys": {"product-feedback": "406", "pre-meeting": "407"}, "requests_per_minute": 60_000,
                  "backoff_factor": 0.01}
        yaml = serve_yaml(port, "  webhook_secrets:\n    surveymonkey: ${SM_HOOK_SECRET}\n")
        yaml = yaml.replace("provider: mail", "provider: monkey").replace(
            "providers:\n", f"providers:\n  monkey: {json.dumps(monkey)}\n")
        config = make_project(tmp_path, port, yaml=yaml)
        code, out, err = cli(config, "survey", "send")
        assert code == 0, out + err
        delivery = sm.deliveries[0]
        response_id = sm.respond(delivery["custom_fields"]["1"], {"813001": "9"})
        event = json.dumps({"name": "tierctl", "filter_type": "survey", "filter_id": "406",
                            "event_type": "response_completed", "event_id": "1", "object_type": "response",
                            "object_id": response_id, "event_datetime": "2026-12-05T09:00:00+00:00",
                            "resources": {"respondent_id": response_id, "recipient_id": "1", "user_id": "1",
                                          "collector_id": delivery["collector_id"], "survey_id": "406"}}).encode()
        signature = base64.b64encode(hmac.new(SM_KEY.encode(), event, hashlib.sha1).digest()).decode()
        app = create_app(str(config))
        with UvicornThread(app, port) as server:
            hook = server.url + "/hooks/surveymonkey"
            assert httpx.head(hook).status_code == 200  # SurveyMonkey checks the address exists
            assert httpx.post(hook, content=event, headers={"Sm-Signature": "x" + signature[1:]}).status_code == 401
            accepted = httpx.post(hook, content=event, headers={"Sm-Signature": signature,
                                                                 "Sm-Apikey": "sm-app-key",
                                                                 "Content-Type": "application/json"})
            assert accepted.status_code == 202
            deadline = time.monotonic() + 20
            stored: list = []
            while time.monotonic() < deadline and not stored:
                time.sleep(0.2)
                with open_ledger(None, tmp_path) as ledger:
                    stored = ledger.conn.execute("SELECT response_id FROM responses").fetchall()
            assert stored == [(f"monkey:{response_id}",)]
            again = httpx.post(hook, content=event, headers={"Sm-Signature": signature})
            assert again.status_code == 202
            # The repeated event started a background collect; a collect by hand meanwhile finds its
            # lock (exit 3, documented) and is run again once that one is done.
            deadline = time.monotonic() + 20
            while True:
                code, _, err = cli(config, "survey", "collect", "--survey", "product-feedback")
                if code != 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert code == 0, err
            time.sleep(1)
            with open_ledger(None, tmp_path) as ledger:
                assert ledger.conn.execute("SELECT COUNT(*) FROM responses").fetchone() == (1,)
        app.desk.close()


def test_webhooks_register_and_check_with_surveymonkey(tmp_path, monkeypatch):
    """SurveyMonkey's API makes webhooks (POST /v3/webhooks): register makes one per survey, once;
    check reads the list and each webhook's details."""
    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("SM_TOKEN", TOKEN)
    monkeypatch.setenv("SM_HOOK_SECRET", SM_KEY)
    with SurveyMonkeyDouble() as sm:
        monkey = {"plugin": "surveymonkey", "token": "${SM_TOKEN}", "base_url": sm.base_url,
                  "surveys": {"product-feedback": "406", "pre-meeting": "407"}, "requests_per_minute": 60_000,
                  "backoff_factor": 0.01}
        yaml = serve_yaml(8080, "  webhook_secrets:\n    surveymonkey: ${SM_HOOK_SECRET}\n")
        yaml = yaml.replace("provider: mail", "provider: monkey").replace(
            "providers:\n", f"providers:\n  monkey: {json.dumps(monkey)}\n")
        config = make_project(tmp_path, 8080, yaml=yaml)
        code, out, _ = cli(config, "webhooks", "check")
        assert code == 1 and out.count("not registered") == 2
        code, out, err = cli(config, "webhooks", "register", "--json")
        assert code == 0, out + err
        assert {(l["survey"], l["state"]) for l in json.loads(out)} == {("pre-meeting", "registered"),
                                                                       ("product-feedback", "registered")}
        hooks = sorted(sm.webhooks.values(), key=lambda h: h["object_ids"])
        assert [(h["object_ids"], h["event_type"], h["object_type"], h["subscription_url"]) for h in hooks] == [
            (["406"], "response_completed", "survey", "http://127.0.0.1:8080/hooks/surveymonkey"),
            (["407"], "response_completed", "survey", "http://127.0.0.1:8080/hooks/surveymonkey")]
        assert cli(config, "webhooks", "register")[0] == 0 and len(sm.webhooks) == 2  # not made twice
        assert SM_KEY not in json.dumps(hooks)  # the app's secret is never sent
        code, out, _ = cli(config, "webhooks", "check")
        assert code == 0 and out.count(" ok ") == 2
        hooks[0]["subscription_url"] = "https://old.example/hooks"
        code, out, _ = cli(config, "webhooks", "check")
        assert code == 1 and "not registered (no response_completed webhook of survey 406" in out
