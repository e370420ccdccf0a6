"""The smtp provider against a real aiosmtpd server on 127.0.0.1 (no mocks of smtplib)."""

from __future__ import annotations

import time

import pytest

from servers import SmtpServer, invitation, invitations, sample_config, self_signed_certificate, unused_port
from tierctl.plugins.email_message import build_message, message_bytes
from tierctl.plugins.provider_smtp import SmtpProvider
from tierctl.providers import ProviderError
from tierctl.testing import Engine

SURVEY_URL = "https://form.example/to/AbC#invite_id={invite_id}&tier={tier}"
PASSWORD = "s3cret-Pa55word!"


def make(engine, server: SmtpServer, **options) -> SmtpProvider:
    """The mail instance, built by the kit's engine as ``survey send`` builds it (real clock)."""
    values = {"host": server.host, "port": server.port, "security": "none", "survey_url": SURVEY_URL,
              "from_address": "surveys@acme.example", "retry_delay": 0.01, "timeout": 5}
    values.update(options)
    return engine.provider("smtp", values, instance="mail")


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    try:
        return self_signed_certificate(tmp_path_factory.mktemp("tls"))
    except RuntimeError as exc:
        pytest.skip(str(exc))


def test_messages_arrive_as_multipart_text_and_html_with_the_invite_link(engine, smtp):
    provider = make(engine, smtp)
    results = provider.send([invitation(1)])
    provider.close()

    assert [(r.ok, r.external_id) for r in results] == [(True, "<tierctl.inv-0001@acme.example>")]
    [mail] = smtp.wait_for(1)
    assert mail.mail_from == "surveys@acme.example" and mail.rcpt_tos == ["contact1@globex.example"]
    msg = mail.parsed
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "Before our account review"
    assert msg["Message-ID"] == "<tierctl.inv-0001@acme.example>"
    assert msg["X-Tierctl-Invite-Id"] == "inv-0001"
    assert msg["From"] == "Acme Analytics <surveys@acme.example>"
    assert msg["To"].addresses[0].display_name == "Zoë Contact1"
    link = "https://form.example/to/AbC#invite_id=inv-0001&tier=advanced"
    assert link in msg.get_body(("plain",)).get_content()
    assert link.replace("&", "&amp;") in msg.get_body(("html",)).get_content()


def test_the_server_receives_exactly_the_bytes_build_message_gives(engine, smtp):
    provider = make(engine, smtp)
    provider.send([invitation(3)])
    provider.close()
    [mail] = smtp.wait_for(1)
    # The Date is the moment of hand-over: build the expected message at that moment.
    sent_at = mail.parsed["Date"].datetime
    expected = message_bytes(build_message(invitation(3), provider.options, None, sample_config().organization,
                                           handed_over=sent_at))
    assert mail.raw == expected


def test_many_messages_and_batches_share_one_session(engine, smtp):
    provider = make(engine, smtp)
    first = provider.send(invitations(10))
    second = provider.send(invitations(5, start=11))
    provider.close()
    assert all(r.ok for r in first + second) and len(first + second) == 15
    assert len(smtp.wait_for(15)) == 15
    assert smtp.connections == 1 and provider.connections == 1
    assert {m.connection for m in smtp.messages} == {1}


def test_a_dropped_session_is_reopened_once(engine, smtp):
    provider = make(engine, smtp)
    assert provider.send([invitation(1)])[0].ok
    smtp.drop_connections()
    results = provider.send(invitations(3, start=2))
    provider.close()
    assert [r.ok for r in results] == [True, True, True]
    assert smtp.connections == 2
    assert len(smtp.wait_for(4)) == 4


def test_a_greylisting_451_is_retried_then_sent(engine, smtp):
    smtp.script("RCPT", "451 4.7.1 Greylisted, please try again")
    provider = make(engine, smtp)
    [result] = provider.send([invitation(1)])
    provider.close()
    assert result.ok
    assert [c[1:] for c in smtp.commands if c[1] == "RCPT"] == [("RCPT", "451 4.7.1 Greylisted, please try again"),
                                                              ("RCPT", "250 OK")]
    assert len(smtp.wait_for(1)) == 1


def test_550_is_a_permanent_failure_with_the_server_reply_and_others_still_go(engine, smtp):
    smtp.always("RCPT", "550 5.1.1 <contact2@globex.example>: mailbox unavailable", address="contact2@globex.example")
    provider = make(engine, smtp)
    results = provider.send(invitations(3))
    provider.close()
    assert [r.ok for r in results] == [True, False, True]
    failed = results[1]
    assert failed.invite_id == "inv-0002" and failed.retry is False
    assert "550 5.1.1" in failed.reason and "mailbox unavailable" in failed.reason
    assert sorted(m.rcpt_tos[0] for m in smtp.wait_for(2)) == ["contact1@globex.example", "contact3@globex.example"]


def test_a_message_rejected_after_data_is_permanent(engine, smtp):
    smtp.script("DATA", "554 5.6.0 Message content rejected")
    provider = make(engine, smtp)
    [result] = provider.send([invitation(1)])
    provider.close()
    assert not result.ok and not result.retry and "554 5.6.0" in result.reason


def test_421_every_time_fails_the_batch_for_a_later_run(engine, smtp):
    smtp.always("MAIL", "421 4.3.2 Service not available, closing channel")
    provider = make(engine, smtp, retries=2)
    started = time.monotonic()
    results = provider.send(invitations(4))
    provider.close()
    assert [(r.ok, r.retry) for r in results] == [(False, True)] * 4
    assert all("421 4.3.2" in r.reason for r in results)
    # Only the first message waited through the retries; the others failed at once.
    assert sum(1 for c in smtp.commands if c[1] == "MAIL") == 3
    assert time.monotonic() - started < 2
    assert smtp.messages == []


def test_a_temporary_recipient_failure_that_persists_is_retryable(engine, smtp):
    smtp.always("RCPT", "450 4.2.1 Mailbox busy", address="contact1@globex.example")
    provider = make(engine, smtp, retries=1)
    results = provider.send(invitations(2))
    provider.close()
    assert (results[0].ok, results[0].retry) == (False, True) and "450 4.2.1" in results[0].reason
    assert results[1].ok


def test_wrong_password_is_a_provider_error_without_the_password(engine):
    with SmtpServer(users={"surveys": "right-password"}) as server:
        provider = make(engine, server, username="surveys", password=PASSWORD)
        with pytest.raises(ProviderError) as caught:
            provider.send([invitation(1)])
        err = caught.value
        assert err.retry is False and "mail" in str(err) and "535" in str(err)
        for text in (str(err), repr(err), repr(provider), repr(provider.options), str(provider.options),
                     repr(err.__cause__), repr(err.__context__) if not err.__suppress_context__ else ""):
            assert PASSWORD not in text
        # smtplib tries each mechanism the server offers (PLAIN, then LOGIN); all were refused.
        assert server.auth_attempts and all(a == ("surveys", False) for a in server.auth_attempts)
        assert server.messages == []
        # The next batch fails the same way instead of hammering the server with messages.
        with pytest.raises(ProviderError):
            provider.send([invitation(2)])


def test_right_password_logs_in(engine):
    with SmtpServer(users={"surveys": PASSWORD}) as server:
        provider = make(engine, server, username="surveys", password=PASSWORD)
        assert all(r.ok for r in provider.send(invitations(2)))
        provider.close()
        assert [m.authenticated_as for m in server.wait_for(2)] == ["surveys", "surveys"]


def test_starttls_with_a_self_signed_certificate_and_login(engine, certificate, tmp_path):
    cert, _ = certificate
    with SmtpServer(security="starttls", certificate=certificate, users={"surveys": PASSWORD}) as server:
        provider = make(engine, server, security="starttls", ca_file=str(cert),
                        username="surveys", password=PASSWORD)
        assert provider.send([invitation(1)])[0].ok
        provider.close()
        assert server.wait_for(1)[0].authenticated_as == "surveys"


def test_starttls_refuses_an_untrusted_certificate(engine, certificate):
    with SmtpServer(security="starttls", certificate=certificate) as server:
        provider = make(engine, server, security="starttls")
        with pytest.raises(ProviderError) as caught:
            provider.send([invitation(1)])
        assert "not trusted" in str(caught.value) and "ca_file" in str(caught.value)
        assert caught.value.retry is False and server.messages == []


def test_implicit_tls(engine, certificate):
    cert, _ = certificate
    with SmtpServer(security="ssl", certificate=certificate) as server:
        provider = make(engine, server, security="ssl", ca_file=str(cert))
        assert provider.send([invitation(1)])[0].ok
        provider.close()
        assert len(server.wait_for(1)) == 1


def test_an_unreachable_server_is_a_provider_error_after_retries(engine):
    provider = engine.provider("smtp", {"host": "127.0.0.1", "port": unused_port(), "security": "none",
                                        "survey_url": SURVEY_URL, "retries": 2, "retry_delay": 0.01}, instance="mail")
    with pytest.raises(ProviderError) as caught:
        provider.send([invitation(1)])
    assert caught.value.retry is True and "cannot open an SMTP session" in str(caught.value)


def test_an_invalid_address_fails_only_that_invitation(engine, smtp):
    provider = make(engine, smtp)
    results = provider.send([invitation(1, contact_email="zoë@globex.example"), invitation(2)])
    provider.close()
    assert (results[0].ok, results[0].retry) == (False, False) and "non-ASCII" in results[0].reason
    assert results[1].ok


def test_options_defaults_rate_limit_and_validation(engine):
    opts = SmtpProvider.Options.model_validate({"host": "mail.example", "survey_url": SURVEY_URL,
                                                "username": "u", "password": PASSWORD})
    assert (opts.security, opts.timeout, opts.per_second) == ("starttls", 30.0, 2.0)
    assert PASSWORD not in repr(opts) and PASSWORD not in str(opts.model_dump())
    given = {"host": "mail.example", "survey_url": SURVEY_URL, "username": "u", "password": PASSWORD}
    provider = engine.provider("smtp", given)
    assert provider.port == 587 and provider.rate_limit.per_second == 2.0
    assert engine.provider("smtp", {**given, "security": "ssl"}).port == 465
    with pytest.raises(ValueError, match="username and password go together"):
        SmtpProvider.Options.model_validate({"host": "h", "survey_url": SURVEY_URL, "username": "u"})
    with pytest.raises(ValueError, match="unencrypted"):
        SmtpProvider.Options.model_validate({"host": "mail.example", "security": "none", "survey_url": SURVEY_URL,
                                             "username": "u", "password": PASSWORD})
    with pytest.raises(ValueError, match="invite_id"):
        SmtpProvider.Options.model_validate({"host": "h", "survey_url": "https://form.example/s/abc"})
    with pytest.raises(ValueError, match="unknown placeholder"):
        SmtpProvider.Options.model_validate({"host": "h", "survey_url": "https://x.example/{invite_id}/{nope}"})
    with pytest.raises(ValueError):
        SmtpProvider.Options.model_validate({"host": "h", "survey_url": SURVEY_URL, "bogus": 1})


def test_no_sender_address_is_refused_up_front(tmp_path):
    with Engine(tmp_path, organization={"contact_email": None}) as engine:  # no organization.contact_email
        with pytest.raises(ProviderError, match="from_address"):
            engine.provider("smtp", {"host": "mail.example", "survey_url": SURVEY_URL})


def test_registered_through_the_entry_point():
    from tierctl.host.plugin_host import PluginHost

    host = PluginHost.load()
    assert host.providers["smtp"] is SmtpProvider
