"""Webhook receivers on the same server: signatures checked on the raw bytes against the platforms'
documented schemes (and Qualtrics' published test vector), stored through the collect path once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import urlencode

import httpx
import pytest

from web_project import SECRET, TYPEFORM_SECRET, cli, messages, sent_and_served, serve_yaml
from doubles.typeform import TOKEN, TypeformDouble
from tierctl.web.hooks import PLATFORMS, signed

# Qualtrics: HMAC = hex(HMAC-SHA512(sharedKey, MSG)) (see ../shared/providers-wave2.md §6).
QUALTRICS_MSG = ('{"Status":"Complete","SurveyID":"SV_1AmkKSDmoZ4XlQx","ResponseID":"R_0B7IcnXszjEUHLP",'
                 '"CompletedDate":"2019-06-25 07:58:25","BrandID":"sapdevelopment"}')


def test_signature_schemes_match_the_platforms_examples():
    qualtrics = hmac.new(b"kyma4ever", QUALTRICS_MSG.encode(), hashlib.sha512).hexdigest()
    assert qualtrics.startswith("c2c585a404c2") and qualtrics.endswith("f46e5c598")  # the published vector
    assert signed(PLATFORMS["qualtrics"], b"kyma4ever", QUALTRICS_MSG.encode(), qualtrics)
    assert not signed(PLATFORMS["qualtrics"], b"kyma4ever", QUALTRICS_MSG.encode() + b" ", qualtrics)
    body = b'{"event_type":"response_completed"}'
    sm = base64.b64encode(hmac.new(b"api-key&api-secret", body, hashlib.sha1).digest()).decode()
    assert signed(PLATFORMS["surveymonkey"], b"api-key&api-secret", body, sm)
    tf = "sha256=" + base64.b64encode(hmac.new(b"s", body, hashlib.sha256).digest()).decode()
    assert signed(PLATFORMS["typeform"], b"s", body, tf)
    for given in (None, "", "sha256=", tf[:-2], "sha256=é"):
        assert not signed(PLATFORMS["typeform"], b"s", body, given)


@pytest.fixture
def typeform_project(tmp_path, monkeypatch):
    from tierctl.testing.sockets import unused_port

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("TYPEFORM_TOKEN", TOKEN)
    monkeypatch.setenv("TF_HOOK_SECRET", TYPEFORM_SECRET)
    with TypeformDouble() as double:
        double.add_form("Jm4gQd", {"nps_ref": "nps", "comment": "long_text"})
        double.add_form("u6nXL7", {"satisfaction": "opinion_scale"})
        port = unused_port()
        yaml = serve_yaml(port, "  webhook_secrets:\n    typeform: ${TF_HOOK_SECRET}\n")
        yaml = yaml.replace("provider: mail", "provider: tf").replace(
            "  mail: {plugin: outbox",
            f"  tf:\n    plugin: typeform\n    token: ${{TYPEFORM_TOKEN}}\n    mailer: mail\n"
            f"    base_url: {double.url}\n    forms: {{pre-meeting: u6nXL7, product-feedback: Jm4gQd}}\n"
            f"    questions: {{nps: nps_ref}}\n  mail: {{plugin: outbox")
        with sent_and_served(tmp_path, port, yaml) as (config, server):
            yield tmp_path, config, server, double


def test_a_signed_typeform_webhook_adds_a_response_once_and_an_unsigned_one_is_refused(typeform_project, caplog):
    import logging

    folder, config, server, double = typeform_project
    text = messages(folder)["ann@acme.example"].get_body(("plain",)).get_content()
    link = re.search(r"https://\S+#\S+", text).group(0)
    rid = double.respond(link, {"nps_ref": 10, "comment": "secret words"})
    body, headers = double.webhook_delivery("Jm4gQd", rid, TYPEFORM_SECRET)
    hook = server.url + "/hooks/typeform"
    logging.getLogger("tierctl").propagate = True
    with caplog.at_level(logging.INFO, logger="tierctl"):
        unsigned = httpx.post(hook, content=body, headers={"content-type": "application/json"})
        forged = httpx.post(hook, content=body.replace(b"10", b"0", 1), headers=headers)
    assert unsigned.status_code == 401 and forged.status_code == 401
    assert "typeform" in caplog.text and "signature; refused" in caplog.text
    assert "secret words" not in caplog.text  # the body is never logged
    first = httpx.post(hook, content=body, headers=headers)
    assert first.status_code == 200 and first.text.strip() == "Stored."
    again = httpx.post(hook, content=body, headers=headers)  # Typeform retries: stored once
    assert again.status_code == 200 and again.text.strip() == "Already stored."
    code, out, err = cli(config, "survey", "collect", "--survey", "product-feedback")  # pulled later: once
    assert code == 0, err
    from tierctl.storage.opener import open_ledger

    with open_ledger(None, folder) as ledger:
        rows = ledger.conn.execute("SELECT response_id FROM responses").fetchall()
    assert rows == [(f"tf:{rid}",)]
    assert httpx.post(server.url + "/hooks/nosuch", content=b"{}").status_code == 404


def test_surveymonkey_and_qualtrics_without_a_configured_secret_are_not_receivers(typeform_project):
    _, _, server, _ = typeform_project
    body = urlencode({"Topic": "x.surveyengine.completedResponse.SV_1", "MSG": QUALTRICS_MSG, "HMAC": "00"})
    assert httpx.post(server.url + "/hooks/qualtrics", content=body).status_code == 404
    assert httpx.post(server.url + "/hooks/surveymonkey", content=b"{}").status_code == 404


def test_webhooks_register_and_check_with_typeform(typeform_project):
    folder, config, server, double = typeform_project
    code, out, err = cli(config, "webhooks", "check")
    assert code == 1 and "not registered" in out
    code, out, err = cli(config, "webhooks", "register", "--json")
    assert code == 0, out + err
    lines = json.loads(out)
    assert {(l["survey"], l["state"]) for l in lines} == {("pre-meeting", "registered"),
                                                         ("product-feedback", "registered")}
    hook = double.webhooks[("Jm4gQd", "tierctl")]
    assert hook["url"] == f"{server.url}/hooks/typeform" and hook["enabled"] is True
    assert hook["secret"] == TYPEFORM_SECRET and hook["event_types"] == {"form_response": True}
    assert TYPEFORM_SECRET not in out + err
    double.webhooks[("Jm4gQd", "tierctl")]["enabled"] = False
    code, out, _ = cli(config, "webhooks", "check")
    assert code == 1 and "registered but switched off" in out


def test_webhooks_check_creates_no_ledger(tmp_path):
    """``webhooks check`` only reads: in a folder without a ledger it makes none (a new ledger would hide
    a lost one from the next send's "new ledger" warning)."""
    from web_project import make_project

    config = make_project(tmp_path, 8000, f"  webhook_secrets: {{typeform: {TYPEFORM_SECRET}}}\n")
    code, out, err = cli(config, "webhooks", "check")
    assert code in (0, 1), out + err
    assert not (tmp_path / ".tierctl").exists() and not list(tmp_path.rglob("*.db"))
