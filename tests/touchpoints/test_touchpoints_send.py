"""`tierctl touchpoints send` end to end: a real ledger, outbox files, the Twilio double over HTTP, processes.

Each (message, contact, occasion) goes out once; consent, phone and quiet
hours hold; a killed run leaves its batch unknown and nobody messaged twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from email import message_from_bytes, policy

import pytest
from doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble
from tp_fixtures import contact, project_yaml, status_counts, tp, write_project

ENV = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}
NOON = "2026-12-05T11:00:00Z"  # 12:00 in Amsterdam


def test_email_check_in_goes_out_once_per_contact_per_occasion(tmp_path):
    config = write_project(tmp_path, [contact(1, locale="nl-NL"), contact(2), contact(3, status_since="2026-11-20")],
                           project_yaml())
    code, out, err = tp(config, "send", "--now", NOON)
    assert code == 0, err
    assert "sent 2 of 2 due" in out  # contact 3 became active 15 days ago: no occasion yet
    mails = {m.name: message_from_bytes(m.read_bytes(), policy=policy.default)
             for m in (tmp_path / "outbox").glob("*.eml")}
    by_to = {str(m["To"]): m for m in mails.values()}
    assert by_to["Kim Contact1 <c1@a1.example>"]["Subject"] == "Hoe gaat het met Account 1?"
    assert "Hallo Kim, uw kwartaalcheck van Acme." in by_to["Kim Contact1 <c1@a1.example>"].get_body(
        ("plain",)).get_content()
    assert by_to["Kim Contact2 <c2@a2.example>"]["Subject"] == "How is Account 2 doing?"
    assert by_to["Kim Contact2 <c2@a2.example>"]["X-Tierctl-Survey"] == "message:check-in"
    # Again today, next week, next month: the same occasion, nothing new.
    for moment in (NOON, "2026-12-12T11:00:00Z", "2027-01-20T11:00:00Z"):
        code, out, _ = tp(config, "send", "--now", moment)
        assert code == 0 and "sent 0 of 0 due" in out
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    # 90 days after the first occasion the next one opens; contact 3 reaches its first (90 days active).
    code, out, _ = tp(config, "send", "--now", "2027-02-18T11:00:00Z")
    assert code == 0 and "sent 3 of 3 due" in out
    assert status_counts(config)["counts"] == {"message:check-in": {"sent": 5}}


def test_survey_status_leaves_messages_out(tmp_path):
    config = write_project(tmp_path, [contact(1)], project_yaml())
    assert tp(config, "send", "--now", NOON)[0] == 0
    from click.testing import CliRunner

    from tierctl.cli import cli

    result = CliRunner().invoke(cli, ["-c", str(config), "survey", "status", "--json"])
    assert json.loads(result.stdout)["counts"] == {}


def test_sms_check_in_needs_consent_and_a_phone_and_goes_out_once(tmp_path):
    with TwilioDouble() as twilio:
        yaml = project_yaml("sms", "texts", twilio.base_url, ACCOUNT_SID)
        rows = [contact(1), contact(2, sms_opt_in="no"), contact(3, phone=""), contact(4)]
        config = write_project(tmp_path, rows, yaml)
        code, out, _ = tp(config, "plan", "--now", NOON, env=ENV)
        assert "check-in: no sms consent" in out and "check-in: no phone number" in out
        code, out, err = tp(config, "send", "--now", NOON, env=ENV)
        assert code == 0, err
        assert sorted(m["To"] for m in twilio.messages) == ["+31612345601", "+31612345604"]
        assert twilio.messages[0]["Body"] == "Hello Kim, your quarterly check-in from Acme."
        assert twilio.messages[0]["From"] == "+3197010200300"
        code, out, _ = tp(config, "send", "--now", "2026-12-06T11:00:00Z", env=ENV)
        assert "sent 0 of 0 due" in out and len(twilio.messages) == 2
        assert not twilio.errors


def test_whatsapp_template_reaches_twilio_with_its_variables(tmp_path):
    template = ('template: {id: HXb5b62575e6e4ff6129ad7c8efe1f983e, variables: {"1": "{{ first_name }}", '
                '"2": "{{ account_name }}"}}')
    with TwilioDouble() as twilio:
        yaml = project_yaml("whatsapp", "texts", twilio.base_url, ACCOUNT_SID, template=template)
        config = write_project(tmp_path, [contact(1, account_name="Globex & Co"), contact(2, whatsapp_opt_in="no")],
                               yaml)
        code, out, err = tp(config, "send", "--now", NOON, env=ENV)
        assert code == 0, err
        [sent] = twilio.messages
        assert sent["To"] == "whatsapp:+31612345601" and sent["From"] == "whatsapp:+3197010200301"
        assert sent["ContentSid"] == "HXb5b62575e6e4ff6129ad7c8efe1f983e"
        assert json.loads(sent["ContentVariables"]) == {"1": "Kim", "2": "Globex & Co"}
        assert "Body" not in sent


def test_quiet_hours_defer_sms_until_morning_in_the_contacts_zone(tmp_path):
    with TwilioDouble() as twilio:
        yaml = project_yaml("sms", "texts", twilio.base_url, ACCOUNT_SID)
        rows = [contact(1), contact(2, timezone="America/New_York")]
        config = write_project(tmp_path, rows, yaml)
        # 22:30 in Amsterdam, 16:30 in New York.
        code, out, _ = tp(config, "send", "--now", "2026-12-05T21:30:00Z", env=ENV)
        assert code == 0 and "sent 1 of 1 due" in out and "1 deferred" in out
        assert [m["To"] for m in twilio.messages] == ["+31612345602"]
        code, out, _ = tp(config, "plan", "--now", "2026-12-05T21:30:00Z", "--json", env=ENV)
        deferred = [json.loads(line) for line in out.splitlines() if '"type": "deferred"' in line]
        assert deferred[0]["reason"].startswith("quiet hours until 2026-12-06T07:00:00+00:00")
        # 07:59 local: still quiet. 08:00 local: sent, not dropped.
        tp(config, "send", "--now", "2026-12-06T06:59:00Z", env=ENV)
        assert len(twilio.messages) == 1
        code, out, _ = tp(config, "send", "--now", "2026-12-06T07:00:00Z", env=ENV)
        assert "sent 1 of 1 due" in out
        assert [m["To"] for m in twilio.messages] == ["+31612345602", "+31612345601"]
        assert status_counts(config)["counts"]["message:check-in"] == {"sent": 2}


def test_onboarding_tips_go_weekly_only_while_onboarding(tmp_path):
    rows = [contact(1, status="onboarding", status_since="2026-11-20"), contact(2)]
    config = write_project(tmp_path, rows, project_yaml())
    code, out, _ = tp(config, "plan", "--now", NOON, "--json")
    due = [json.loads(line) for line in out.splitlines() if '"type": "due"' in line]
    assert {(d["survey"], d["contact"]) for d in due} == {("message:welcome-tip", "c1@a1.example"),
                                                          ("message:check-in", "c2@a2.example")}
    assert tp(config, "send", "--now", NOON)[0] == 0
    assert "sent 0 of 0" in tp(config, "send", "--now", "2026-12-06T11:00:00Z")[1]
    assert "sent 1 of 1" in tp(config, "send", "--now", "2026-12-11T11:00:00Z")[1]  # the next week


def test_fatigue_cap_counts_surveys_and_messages_per_week(tmp_path):
    rows = [contact(1, status="onboarding", status_since="2026-11-20")]
    throttle = "throttle: {messages_per_week: 1}"
    config = write_project(tmp_path, rows, project_yaml(throttle=throttle))
    assert "sent 1 of 1" in tp(config, "send", "--now", "2026-12-04T11:00:00Z")[1]  # week 2's tip
    # The week-3 tip opens on 11 Dec, but one message went out on 4 Dec: held until the 11th 11:00.
    code, out, _ = tp(config, "plan", "--now", "2026-12-11T10:00:00Z", "--json")
    [deferred] = [json.loads(line) for line in out.splitlines() if '"type": "deferred"' in line]
    assert "1 surveys or messages in the last 7 days (at most 1)" in deferred["reason"]
    assert "sent 1 of 1" in tp(config, "send", "--now", "2026-12-11T11:00:00Z")[1]


def test_dry_run_sends_and_records_nothing(tmp_path):
    config = write_project(tmp_path, [contact(1), contact(2)], project_yaml())
    code, out, _ = tp(config, "send", "--now", NOON, "--dry-run")
    assert code == 0 and "would send 2 of 2 due" in out
    assert not (tmp_path / "outbox").exists()
    code, out, _ = tp(config, "send", "--now", NOON, "--json", "--log-format", "json")
    assert json.loads(out)["sent"] == 2


def test_dry_run_with_a_limit_shows_what_the_run_would_send(tmp_path):
    config = write_project(tmp_path, [contact(1), contact(2), contact(3)], project_yaml())
    code, out, _ = tp(config, "send", "--now", NOON, "--dry-run", "--limit", "1")
    assert code == 0 and "would send 1 of 3 due, 0 failed, 0 deferred, 2 left for the next run." in out
    code, out, _ = tp(config, "send", "--now", NOON, "--dry-run", "--limit", "0", "--json")
    assert json.loads(out)["not_sent"] == 3
    code, out, _ = tp(config, "send", "--now", NOON, "--limit", "1")
    assert code == 0 and "sent 1 of 3 due, 0 failed, 0 deferred, 2 left for the next run." in out


def test_stop_reply_failure_is_permanent_and_listed(tmp_path):
    with TwilioDouble() as twilio:
        twilio.opt_out("+31612345601")
        config = write_project(tmp_path, [contact(1), contact(2)],
                               project_yaml("sms", "texts", twilio.base_url, ACCOUNT_SID))
        code, out, err = tp(config, "send", "--now", NOON, env=ENV)
        assert code == 1
        assert "Twilio error 21610: Attempt to send to unsubscribed recipient" in err
        assert status_counts(config)["counts"]["message:check-in"] == {"sent": 1, "failed": 1}
        code, out, _ = tp(config, "send", "--now", "2026-12-06T11:00:00Z", env=ENV)
        assert code == 0 and len(twilio.messages) == 1


def test_wrong_twilio_token_stops_the_provider_and_keeps_the_messages(tmp_path):
    with TwilioDouble() as twilio:
        config = write_project(tmp_path, [contact(1), contact(2)],
                               project_yaml("sms", "texts", twilio.base_url, ACCOUNT_SID))
        code, out, err = tp(config, "send", "--now", NOON, env={"TWILIO_AUTH_TOKEN": "wrong-token"})
        assert code == 1 and "refused the credentials" in err and "wrong-token" not in out + err
        code, out, _ = tp(config, "send", "--now", "2026-12-06T11:00:00Z", env=ENV)
        assert code == 0 and len(twilio.messages) == 2


@pytest.mark.slow
def test_sigkill_half_way_leaves_unknown_and_messages_nobody_twice(tmp_path):
    total = 120
    with TwilioDouble() as twilio:
        twilio.delay = 0.02
        rows = [contact(i, contact_email=f"p{i}@a.example", phone=f"+3161234{i:04d}") for i in range(total)]
        config = write_project(tmp_path, rows, project_yaml("sms", "texts", twilio.base_url, ACCOUNT_SID))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **ENV}
        victim = subprocess.Popen([sys.executable, "-m", "tierctl", "-c", str(config), "touchpoints", "send",
                                   "--now", NOON], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 30
        while len(twilio.messages) < 30 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(twilio.messages) >= 30, "the send never got going"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        time.sleep(0.2)
        assert len(twilio.messages) < total
        code, out, err = tp(config, "send", "--now", "2026-12-05T11:05:00Z", env=ENV)
        assert code == 0, err
        assert "in doubt from a stopped run (see touchpoints status)" in out
        numbers = [m["To"] for m in twilio.messages]
        assert len(numbers) == len(set(numbers)), "nobody may get the message twice"
        st = status_counts(config)
        unknown = {u["contact_email"] for u in st["unknown"]}
        assert len(unknown) > 0
        reached = {f"p{int(n[-4:])}@a.example" for n in numbers}
        assert reached | unknown == {f"p{i}@a.example" for i in range(total)}, "nobody may be forgotten"
        assert st["counts"]["message:check-in"] == {"sent": total - len(unknown), "unknown": len(unknown)}


def test_a_survey_by_sms_carries_its_link_and_waits_out_quiet_hours(tmp_path):
    from project_fixtures import run_cli

    with TwilioDouble() as twilio:
        yaml = project_yaml("sms", "texts", twilio.base_url, ACCOUNT_SID)
        yaml = yaml.replace("    plans: [free]\n", "    plans: [free]\n    surveys: [pulse]\n", 1)
        yaml = yaml.replace("messages:\n", "surveys:\n  pulse:\n    title: Quick pulse\n    trigger: {every: quarter}\n"
                                          "    provider: texts\n    questions: [{id: nps, type: nps, text: Recommend us?}]\n"
                                          "messages:\n", 1)
        yaml = yaml.replace("timeout: 5}", 'timeout: 5, survey_url: "https://t.example/s/{invite_id}"}')
        config = write_project(tmp_path, [contact(1), contact(2, sms_opt_in="no")], yaml)
        survey = ["-c", str(config), "survey", "send"]
        code, out, err = run_cli([*survey, "--now", "2026-12-05T21:30:00Z"], load_plugins=None, env=ENV)
        assert code == 0, err
        assert "sent 0 of 0 due" in out and "2 deferred" in out and not twilio.messages
        code, out, err = run_cli([*survey, "--now", "2026-12-06T07:00:00Z"], load_plugins=None, env=ENV)
        assert code == 1  # contact 2 gave no SMS consent: failed, listed, never sent
        assert "has not agreed to sms messages" in err
        [sms] = twilio.messages
        assert sms["To"] == "+31612345601" and sms["Body"].startswith("Quick pulse: https://t.example/s/")


def test_opted_out_contacts_get_no_messages(tmp_path):
    from datetime import datetime, timezone

    from tierctl.storage.opener import open_ledger

    config = write_project(tmp_path, [contact(1), contact(2), contact(3)], project_yaml())
    with open_ledger("sqlite:///.tierctl/state.db", tmp_path) as ledger:
        now = datetime(2026, 12, 1, tzinfo=timezone.utc)
        ledger.add_suppression("c1@a1.example", None, "link", "unsubscribed", now)  # from everything
        ledger.add_suppression("c2@a2.example", "message:check-in", "manual", None, now)  # from this message
    code, out, _ = tp(config, "plan", "--now", NOON)
    assert "check-in: opted out" in out and "1 due" in out
    code, out, _ = tp(config, "send", "--now", NOON)
    assert code == 0 and "sent 1 of 1 due" in out
    assert [p.name for p in (tmp_path / "outbox").glob("*.eml")] and status_counts(config)["counts"] == {
        "message:check-in": {"sent": 1}}


def test_a_number_that_replied_stop_gets_no_texts_on_that_channel_and_email_still_goes(tmp_path):
    """contacts optout --channel sms (what a STOP reply records) stops SMS check-ins to the number only."""
    with TwilioDouble() as twilio:
        yaml = project_yaml("sms", "texts", twilio.base_url, ACCOUNT_SID)
        rows = [contact(1), contact(2), contact(3, status="onboarding", status_since="2026-11-20")]
        config = write_project(tmp_path, rows, yaml)
        from project_fixtures import run_cli

        for number, channel in (("+31612345601", "sms"), ("+31612345602", "whatsapp"), ("+31612345603", "sms")):
            code, out, err = run_cli(["-c", str(config), "contacts", "optout", number, "--channel", channel],
                                     load_plugins=None)
            assert code == 0 and f"opted out: {number} ({channel})" in out, out + err
        code, out, _ = tp(config, "plan", "--now", NOON, env=ENV)
        assert "check-in: opted out" in out
        code, out, err = tp(config, "send", "--now", NOON, env=ENV)
        assert code == 0, err
        assert [m["To"] for m in twilio.messages] == ["+31612345602"]  # its WhatsApp opt-out is not SMS
        # Contact 3's number is off SMS, but its onboarding tip goes by e-mail.
        assert [p.read_text().count("c3@a3.example") > 0 for p in (tmp_path / "outbox").glob("*.eml")] == [True]
        code, out, err = run_cli(["-c", str(config), "contacts", "optout", "0612345601", "--channel", "sms"],
                                 load_plugins=None)
        assert code == 2 and "E.164" in err and "Traceback" not in err


def test_touchpoints_status_counts_sms_delivery_receipts(tmp_path):
    from datetime import datetime, timezone

    from tierctl.storage.opener import open_ledger

    with TwilioDouble() as twilio:
        config = write_project(tmp_path, [contact(1), contact(2)], project_yaml("sms", "texts", twilio.base_url,
                                                                               ACCOUNT_SID))
        assert tp(config, "send", "--now", NOON, env=ENV)[0] == 0
        first, second = (m["sid"] for m in twilio.messages)
    with open_ledger("sqlite:///.tierctl/state.db", tmp_path) as ledger:  # what /hooks/twilio records
        at = datetime(2026, 12, 5, 12, tzinfo=timezone.utc)
        assert ledger.record_delivery(first, "delivered", "", at)
        assert ledger.record_delivery(second, "failed", "30006", at)
    assert status_counts(config)["delivery"] == {"message:check-in": {"delivered": 1, "failed": 1}}
    code, out, _ = tp(config, "status")
    assert "1 delivered" in out and "1 failed" in out
    code, out, _ = tp(config, "send", "--now", "2026-12-06T11:00:00Z", env=ENV)
    assert "sent 0 of 0 due" in out  # a failed text is not sent again
