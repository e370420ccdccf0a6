"""``/hooks/twilio`` on a real uvicorn: Twilio's double sends the texts, then posts signed callbacks as
Twilio does (delivery receipts to the StatusCallback, replies to the number's webhook): a reply "9"
answers an NPS-only survey sent by SMS, STOP/START switch a number's texts off and on, receipts
count in `survey status`, and anything unsigned is refused."""

from __future__ import annotations

import csv
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from web_project import SECRET, UvicornThread, cli
from tierctl.hookspecs import hookimpl
from doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble
from tierctl.storage.opener import open_ledger

HEADER = ["account_id", "account_name", "plan", "status", "contact_email", "contact_name", "role", "locale",
          "phone", "sms_opt_in"]
CONTACTS = [
    ["a1", "Acme", "free", "active", "ann@acme.example", "Ann de Vries", "user", "nl-BE", "+31612345601", "yes"],
    ["a1", "Acme", "free", "active", "bob@acme.example", "Bob Smith", "user", "en", "+31612345602", "yes"],
]
ANN, BOB = "+31612345601", "+31612345602"


def texting_yaml(port: int, twilio: str, base_url: str | None = None) -> str:
    return f"""\
version: 1
organization: {{name: Acme, timezone: Europe/Amsterdam, language: en}}
tiers:
  basic: {{name: Basic, touch_model: tech-touch, plans: [free], surveys: [pulse, feedback]}}
surveys:
  pulse:
    title: Quick pulse
    trigger: {{every: quarter}}
    audience: all
    provider: texts
    questions:
      - {{id: nps, type: nps, text: Would you recommend us?}}
  feedback:
    title: Product feedback
    trigger: {{every: quarter}}
    audience: all
    provider: mail
    questions:
      - {{id: nps, type: nps, text: Would you recommend us?}}
      - {{id: comment, type: text, text: Anything else?}}
sources:
  customers: {{plugin: csv, path: customers.csv}}
providers:
  mail: {{plugin: outbox, dir: outbox}}
  texts: {{plugin: twilio, base_url: "{twilio}", account_sid: "{ACCOUNT_SID}", auth_token: "${{TWILIO_AUTH_TOKEN}}",
          from_number: "+3197010200300", per_second: 100, max_retries: 0}}
serve:
  base_url: {base_url or f"http://127.0.0.1:{port}"}
  secret: ${{TIERCTL_SERVE_SECRET}}
  rate_per_ip: 1000
  rate_per_token: 100
"""


class Recorder:
    """A plugin that records each response_received call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, str]] = []

    @hookimpl
    def response_received(self, response, invitation):
        self.calls.append((response.response_id, dict(response.answers), invitation["contact_email"]))


def run(config: Path, *args: str) -> tuple[int, str, str]:
    return cli(config, *args)


@pytest.fixture
def texting(tmp_path, monkeypatch):
    """``(folder, config, server, double)``: the pulse survey sent by SMS through Twilio's double on
    2026-12-05 (e-mail for the feedback survey), and serve running on uvicorn."""
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    with TwilioDouble() as double:
        port = unused_port()
        with open(tmp_path / "customers.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([HEADER, *CONTACTS])
        config = tmp_path / "tierctl.yaml"
        config.write_text(texting_yaml(port, double.base_url))
        code, out, err = run(config, "survey", "send", "--now", "2026-12-05T10:00:00+00:00")
        assert code == 0, out + err
        from tierctl.host.plugin_host import PluginHost

        host = PluginHost.load()
        recorder = Recorder()
        host.pm.register(recorder, name="recorder")
        app = create_app(str(config), clock=lambda: datetime(2026, 12, 5, 11, tzinfo=timezone.utc), host=host)
        with UvicornThread(app, port) as server:
            server.recorder = recorder
            yield tmp_path, config, server, double
        app.desk.close()


def sid_to(double: TwilioDouble, number: str) -> str:
    [message] = [m for m in double.messages if m["To"] == number]
    return message["sid"]


def responses(folder: Path) -> list[dict]:
    with open_ledger(f"sqlite:///{folder}/.tierctl/state.db", folder) as ledger:
        return ledger.responses_for_account("a1")


def test_texts_carry_the_hosted_link_and_ask_for_receipts_at_serve(texting):
    folder, config, server, double = texting
    assert {m["To"] for m in double.messages} == {ANN, BOB}
    for message in double.messages:
        assert message["StatusCallback"] == f"{server.url}/hooks/twilio"
        assert f"{server.url}/s/" in message["Body"] and message["Body"].startswith("Quick pulse: ")


def test_a_reply_of_9_answers_the_nps_survey_once_and_is_thanked_in_the_contacts_language(texting):
    folder, config, server, double = texting
    hook = f"{server.url}/hooks/twilio"
    first = double.inbound(hook, ANN, " 9. ", sid="SM" + "a" * 32)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/xml")
    assert first.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    assert "Bedankt" in first.text and "9" in first.text  # Ann's locale is nl-BE
    again = double.inbound(hook, ANN, " 9. ", sid="SM" + "a" * 32)  # Twilio retried: stored once
    assert again.status_code == 200
    [stored] = [r for r in responses(folder) if r["survey_id"] == "pulse"]
    assert stored["answers"]["nps"]["score"] == 9 and stored["response_id"] == "texts:text:SM" + "a" * 32
    # The collect path: the hook once, and the report's rollup counts it.
    assert server.recorder.calls == [("texts:text:SM" + "a" * 32, {"nps": 9}, "ann@acme.example")]
    with open_ledger(f"sqlite:///{folder}/.tierctl/state.db", folder) as ledger:
        assert ledger.conn.execute("SELECT SUM(n) FROM answer_day_counts WHERE survey_id = 'pulse'").fetchone() == (1,)
    changed = double.inbound(hook, ANN, "10")  # a later text replaces the answer, as on the hosted form
    assert "10" in changed.text and "Bedankt" in changed.text
    [stored] = [r for r in responses(folder) if r["survey_id"] == "pulse"]
    assert stored["answers"]["nps"]["score"] == 10 and len(server.recorder.calls) == 2
    with open_ledger(f"sqlite:///{folder}/.tierctl/state.db", folder) as ledger:
        assert ledger.conn.execute("SELECT SUM(n) FROM answer_day_counts WHERE survey_id = 'pulse'").fetchone() == (1,)
    help_reply = double.inbound(hook, BOB, "great stuff, thanks")
    assert help_reply.status_code == 200 and "0 to 10" in help_reply.text and "Bedankt" not in help_reply.text
    too_high = double.inbound(hook, BOB, "11")
    assert "0 to 10" in too_high.text
    assert [r["survey_id"] for r in responses(folder)] == ["pulse"]  # nothing else stored
    stranger = double.inbound(hook, "+31699999999", "9")
    assert stranger.status_code == 200 and "no open survey" in stranger.text


def test_receipts_count_in_survey_status_forward_only_and_a_failed_text_is_not_resent(texting):
    folder, config, server, double = texting
    ann, bob = sid_to(double, ANN), sid_to(double, BOB)
    assert double.status_callback(ann, "sent").status_code == 200
    assert double.status_callback(ann, "delivered").status_code == 200
    assert double.status_callback(ann, "sent").status_code == 200  # late: delivered stays
    assert double.status_callback(bob, "undelivered", "30003").status_code == 200
    assert double.status_callback(bob, "undelivered", "30003").status_code == 200  # again
    code, out, err = run(config, "survey", "status", "--json")
    assert code == 0, err
    assert json.loads(out)["delivery"] == {"pulse": {"delivered": 1, "undelivered": 1}}
    code, out, _ = run(config, "survey", "status")
    assert "texts by delivery receipt" in out and "1 undelivered" in out
    assert "pulse  bob@acme.example  sms undelivered error 30003" in out
    sent = len(double.messages)
    code, out, err = run(config, "survey", "send", "--now", "2026-12-06T10:00:00+00:00")
    assert code == 0 and len(double.messages) == sent  # an undelivered text is not sent again


def test_stop_suppresses_the_number_on_that_channel_and_start_lifts_it(texting):
    folder, config, server, double = texting
    hook = f"{server.url}/hooks/twilio"
    stop = double.inbound(hook, BOB, "Stop")
    assert stop.status_code == 200 and "<Message>" not in stop.text  # Twilio answers STOP itself
    double.inbound(hook, "whatsapp:" + ANN, "STOP")
    code, out, _ = run(config, "contacts", "suppressions", "--json")
    rows = sorted((r["channel"], r["address"], r["source"]) for r in json.loads(out))
    assert rows == [("sms", BOB, "provider"), ("whatsapp", ANN, "provider")]
    code, out, _ = run(config, "contacts", "suppressions")
    assert "sms" in out and BOB in out
    # Next quarter: no SMS to Bob, Ann's SMS goes (only her WhatsApp is off), e-mail to both.
    code, out, err = run(config, "survey", "plan", "--now", "2027-01-05T10:00:00+00:00")
    assert "pulse: opted out" in out, out
    code, out, err = run(config, "survey", "send", "--now", "2027-01-05T10:00:00+00:00")
    assert code == 0, out + err
    texted = [m["To"] for m in double.messages]
    assert texted.count(BOB) == 1 and texted.count(ANN) == 2
    mailed = [p.read_text() for p in (folder / "outbox").glob("*.eml")]
    assert sum("bob@acme.example" in m and "Product feedback" in m for m in mailed) == 2  # e-mail still goes
    assert double.inbound(hook, BOB, "start").status_code == 200
    code, out, _ = run(config, "contacts", "suppressions", "--json")
    assert [r["channel"] for r in json.loads(out)] == ["whatsapp"]


def test_unsigned_or_forged_callbacks_are_refused_and_logged_without_the_body(texting, caplog):
    folder, config, server, double = texting
    hook = f"{server.url}/hooks/twilio"
    logging.getLogger("tierctl").propagate = True
    with caplog.at_level(logging.INFO, logger="tierctl"):
        unsigned = double.inbound(hook, ANN, "9", signature=None)
        forged = double.inbound(hook, ANN, "9", signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        other_url = double.inbound(hook, ANN, "9", signed_url="https://evil.example/hooks/twilio")
        not_a_form = httpx.post(hook, content=b'{"Body": "9"}', headers={"content-type": "application/json"})
    assert [r.status_code for r in (unsigned, forged, other_url, not_a_form)] == [401, 401, 401, 401]
    assert "missing X-Twilio-Signature" in caplog.text and "does not match" in caplog.text
    assert "+31612345601" not in caplog.text and "Body" not in caplog.text
    assert responses(folder) == []


def test_callbacks_signed_under_a_webhooks_rule_need_its_shared_key(texting, monkeypatch):
    """A Twilio Webhooks Rule signs with its Setting's shared key and HMAC-SHA256: accepted once
    ``webhook_key`` is configured, refused (401) before."""
    folder, config, server, double = texting
    hook = f"{server.url}/hooks/twilio"
    rule = ("the-rules-shared-key-0123456789", "HMAC_SHA256")
    assert double.inbound(hook, ANN, "8", rule=rule).status_code == 401
    assert responses(folder) == []
    monkeypatch.setenv("TWILIO_WEBHOOK_KEY", rule[0])
    config.write_text(config.read_text().replace('auth_token: "${TWILIO_AUTH_TOKEN}",',
                                                 'auth_token: "${TWILIO_AUTH_TOKEN}", webhook_key: "${TWILIO_WEBHOOK_KEY}",'))
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    app = create_app(str(config), clock=lambda: datetime(2026, 12, 5, 11, tzinfo=timezone.utc))
    with UvicornThread(app, unused_port()) as other:
        # Signed over serve.base_url's address (the fixture's server), as Twilio would.
        signed = double.inbound(f"{other.url}/hooks/twilio", ANN, "8", rule=rule, signed_url=hook)
        plain = double.inbound(f"{other.url}/hooks/twilio", BOB, "7", signed_url=hook)  # no rule: the auth token
    app.desk.close()
    assert signed.status_code == 200 and plain.status_code == 200
    assert sorted(r["answers"]["nps"]["score"] for r in responses(folder) if r["survey_id"] == "pulse") == [7, 8]


def test_behind_a_proxy_the_signature_is_over_the_public_url(tmp_path, monkeypatch):
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    public = "https://surveys.acme.example/tierctl"
    with TwilioDouble() as double:
        port = unused_port()
        with open(tmp_path / "customers.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([HEADER, *CONTACTS])
        config = tmp_path / "tierctl.yaml"
        config.write_text(texting_yaml(port, double.base_url, public))
        assert run(config, "survey", "send", "--now", "2026-12-05T10:00:00+00:00")[0] == 0
        assert {m["StatusCallback"] for m in double.messages} == {f"{public}/hooks/twilio"}
        app = create_app(str(config), clock=lambda: datetime(2026, 12, 5, 11, tzinfo=timezone.utc))
        with UvicornThread(app, port) as server:
            local = f"{server.url}/tierctl/hooks/twilio"  # the proxy passes the path on
            as_seen = double.inbound(local, ANN, "10")  # signed over the address the server sees: wrong
            as_sent = double.inbound(local, ANN, "10", signed_url=f"{public}/hooks/twilio")
        app.desk.close()
    assert as_seen.status_code == 401 and as_sent.status_code == 200 and "10" in as_sent.text


def test_messagebird_delivery_reports_are_checked_jwts_and_update_the_text(tmp_path, monkeypatch):
    """Bird reports by a signed GET to reportUrl (serve's /hooks/messagebird); the JWT is checked as
    MessageBird's RequestValidator does: issuer, expiry, url_hash."""
    from doubles.messagebird import ACCESS_KEY, MessageBirdDouble
    from tierctl.testing.sockets import unused_port
    from tierctl.web import create_app

    signing_key = "bird-signing-key-0123456789abcdefghijklmnop"
    monkeypatch.setenv("TIERCTL_SERVE_SECRET", SECRET)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("BIRD_KEY", ACCESS_KEY)
    monkeypatch.setenv("BIRD_SIGNING_KEY", signing_key)
    with MessageBirdDouble() as bird:
        port = unused_port()
        with open(tmp_path / "customers.csv", "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([HEADER, *CONTACTS])
        config = tmp_path / "tierctl.yaml"
        config.write_text(texting_yaml(port, "http://127.0.0.1:9").replace(
            "provider: texts", "provider: bird").replace(
            "providers:\n", f"providers:\n  bird: {{plugin: messagebird, base_url: \"{bird.url}\", "
                            "access_key: \"${BIRD_KEY}\", signing_key: \"${BIRD_SIGNING_KEY}\", originator: Acme}\n"))
        code, out, err = run(config, "survey", "send", "--now", "2026-12-05T10:00:00+00:00")
        assert code == 0, out + err
        assert {m["reportUrl"] for m in bird.messages} == {f"http://127.0.0.1:{port}/hooks/messagebird"}
        ann, bob = (m["id"] for m in sorted(bird.messages, key=lambda m: m["recipients"][0]))
        app = create_app(str(config), clock=lambda: datetime(2026, 12, 5, 11, tzinfo=timezone.utc))
        with UvicornThread(app, port):
            assert bird.delivery_report(ann, "delivered", signing_key).status_code == 200
            assert bird.delivery_report(ann, "sent", signing_key).status_code == 200  # late: stays delivered
            assert bird.delivery_report(bob, "delivery_failed", signing_key, "104").status_code == 200
            refused = [bird.delivery_report(ann, "delivery_failed", "wrong-key-0123456789abcdefghijklmnopqrstuv").status_code,
                       bird.delivery_report(ann, "delivery_failed", signing_key, expires_in=-60).status_code,
                       bird.delivery_report(ann, "delivery_failed", signing_key, issuer="Someone").status_code,
                       bird.delivery_report(ann, "delivery_failed", signing_key,
                                            signed_url="https://elsewhere.example/hooks/messagebird").status_code,
                       httpx.get(f"http://127.0.0.1:{port}/hooks/messagebird?id={ann}&status=delivery_failed"
                                 ).status_code]
        app.desk.close()
    assert refused == [401] * 5
    code, out, _ = run(config, "survey", "status", "--json")
    assert json.loads(out)["delivery"] == {"pulse": {"delivered": 1, "failed": 1}}


def test_a_burst_of_receipts_has_its_own_budget_beside_the_forms(texting):
    """rate_per_ip is 1000 here: 1,050 signed receipts from one address all land (rate_per_ip_hooks,
    default 6,000 a minute), and the same address can still open a form afterwards."""
    from tierctl.web.guard import RateLimits

    folder, config, server, double = texting
    ann = sid_to(double, ANN)
    with httpx.Client() as http:
        fields = {"AccountSid": ACCOUNT_SID, "MessageSid": ann, "MessageStatus": "sent", "To": ANN}
        headers = {"content-type": "application/x-www-form-urlencoded",
                   "x-twilio-signature": double.sign(f"{server.url}/hooks/twilio", fields)}
        from urllib.parse import urlencode

        codes = [http.post(f"{server.url}/hooks/twilio", content=urlencode(fields), headers=headers).status_code
                 for _ in range(1050)]
        assert codes.count(200) == 1050
        assert http.get(f"{server.url}/healthz").status_code == 200
    limits = RateLimits(per_ip=2, per_token=5, clock=lambda: 0.0, per_ip_hooks=3)
    assert [limits.allow("1.2.3.4", None, hook=True) for _ in range(4)] == [True, True, True, False]
    assert [limits.allow("1.2.3.4", None) for _ in range(3)] == [True, True, False]
