"""The outbox provider and the shared message builder: .eml files, exact bytes, escaping."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pytest

from servers import SmtpServer, invitation, invitations, sample_config
from tierctl.plugins.email_message import EmailOptions, build_message, email_template_environment, message_bytes
from tierctl.plugins.provider_outbox import OutboxProvider, eml_name
from tierctl.plugins.provider_smtp import SmtpProvider
from tierctl.providers import ProviderError
from tierctl.render import builtin_templates
from tierctl.testing import Engine

SURVEY_URL = "https://form.example/to/AbC#invite_id={invite_id}&email={email}"


def undated(data: bytes) -> bytes:
    """The message without its Date line (the moment it was handed over)."""
    return re.sub(rb"(?m)^Date: [^\r\n]*\r\n", b"", data)


def make(engine, templates=None, **options) -> OutboxProvider:
    """The preview instance, built by the kit's engine as ``survey send`` builds it; ``templates``: a
    hand-made e-mail template environment put in its context instead of the config's."""
    provider = engine.provider("outbox", {"dir": "out", "survey_url": SURVEY_URL, **options}, instance="preview")
    if templates is not None:
        provider.context.templates = templates
    return provider


def parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def test_each_invitation_becomes_one_parseable_eml_file(engine, tmp_path):
    results = make(engine).send(invitations(3))
    assert [(r.ok, r.external_id) for r in results] == [(True, f"inv-000{n}.eml") for n in (1, 2, 3)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["inv-0001.eml", "inv-0002.eml", "inv-0003.eml"]
    msg = parse(tmp_path / "out" / "inv-0002.eml")
    assert msg["To"].addresses[0].addr_spec == "contact2@globex.example"
    assert msg["From"] == "Acme Analytics <success@acme.example>"  # organization.contact_email
    assert msg["Message-ID"] == "<tierctl.inv-0002@acme.example>"
    assert msg["Date"].datetime.year == datetime.now(timezone.utc).year  # handed over now, not due_at
    assert "invite_id=inv-0002&email=contact2%40globex.example" in msg.get_body(("plain",)).get_content()


def test_the_file_holds_exactly_what_smtp_sends(engine, tmp_path):
    shared = {"survey_url": SURVEY_URL, "from_address": "surveys@acme.example", "from_name": "Acme Success",
              "subject": "Two minutes before our call?", "unsubscribe_url": "https://acme.example/optout/{invite_id}"}
    make(engine, **shared).send([invitation(7)])
    written = (tmp_path / "out" / "inv-0007.eml").read_bytes()

    smtp_options = SmtpProvider.Options.model_validate({"host": "127.0.0.1", **shared})
    assert undated(written) == undated(message_bytes(build_message(invitation(7), smtp_options, None,
                                                                   sample_config().organization)))

    with SmtpServer() as server:
        provider = engine.provider("smtp", {**shared, "host": "127.0.0.1", "port": server.port, "security": "none"},
                                   instance="mail")
        assert provider.send([invitation(7)])[0].ok
        provider.close()
        assert undated(server.wait_for(1)[0].raw) == undated(written)


def test_output_is_deterministic_across_runs_and_processes_but_for_the_date(engine, tmp_path):
    make(engine, dir="a").send(invitations(2))
    make(engine, dir="b").send(invitations(2))
    script = ("import sys; sys.path.insert(0, %r)\n"
              "from pathlib import Path\n"
              "from servers import invitations\n"
              "from tierctl.testing import Engine\n"
              "with Engine(Path(%r) / 'other-process') as engine:\n"
              "    engine.provider('outbox', {'dir': '../c', 'survey_url': %r}).send(invitations(2))\n"
              % (str(Path(__file__).parents[1]), str(tmp_path), SURVEY_URL))
    env = dict(os.environ, PYTHONHASHSEED="12345", TZ="Pacific/Auckland", LC_ALL="C")
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    for name in ("inv-0001.eml", "inv-0002.eml"):
        a = undated((tmp_path / "a" / name).read_bytes())
        assert a == undated((tmp_path / "b" / name).read_bytes()) == undated((tmp_path / "c" / name).read_bytes())
    # Rewriting is atomic and leaves no temporary files behind.
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["inv-0001.eml", "inv-0002.eml"]


def test_customer_text_is_escaped_in_html_and_kept_literal_in_text(engine, tmp_path):
    inv = invitation(1, contact_name="<script>alert('x')</script> Eve", account_name="Globex <b>& Co</b>",
                     meeting_start=None)
    make(engine).send([inv])
    msg = parse(tmp_path / "out" / "inv-0001.eml")
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>" not in html and "Globex &lt;b&gt;&amp; Co&lt;/b&gt;" in html
    assert "Hello <script>alert('x')</script>," in msg.get_body(("plain",)).get_content()
    assert msg["To"].addresses[0].display_name == "<script>alert('x')</script> Eve"


def test_user_templates_override_and_html_is_escaped_even_without_autoescape(engine, tmp_path):
    overrides = tmp_path / "templates" / "email"
    overrides.mkdir(parents=True)
    (overrides / "invitation.txt").write_text("{% extends 'default:email/invitation.txt' %}"
                                              "{% block signature %}Cheers, the {{ org_name }} team\n{% endblock %}")
    (overrides / "invitation.nl.html").write_text("<p>Hallo {{ contact_name }}, <a href='{{ survey_url }}'>start</a></p>")
    env = email_template_environment(tmp_path / "templates")
    results = make(engine, templates=env).send([invitation(1), invitation(2, locale="nl-BE",
                                                                            contact_name="<i>Jan</i>")])
    assert all(r.ok for r in results)
    english, dutch = parse(tmp_path / "out" / "inv-0001.eml"), parse(tmp_path / "out" / "inv-0002.eml")
    assert "Cheers, the Acme Analytics team" in english.get_body(("plain",)).get_content()
    assert "Take the survey" in english.get_body(("html",)).get_content()  # built-in html
    assert dutch.get_body(("html",)).get_content().startswith("<p>Hallo &lt;i&gt;Jan&lt;/i&gt;, <a href='https")

    # An environment built without autoescape still gets escaped HTML.
    careless = jinja2.Environment(loader=jinja2.FileSystemLoader([str(tmp_path / "careless-templates"),
                                                                  str(builtin_templates())]))
    (tmp_path / "careless-templates" / "email").mkdir(parents=True)
    (tmp_path / "careless-templates" / "email" / "invitation.html").write_text("<p>Hi {{ contact_name }}</p>")
    make(engine, templates=careless, dir="careless").send([invitation(2, contact_name="<i>Jan</i>")])
    assert parse(tmp_path / "careless" / "inv-0002.eml").get_body(("html",)).get_content().startswith(
        "<p>Hi &lt;i&gt;Jan&lt;/i&gt;</p>")


def test_a_broken_template_is_a_provider_error_naming_it(engine, tmp_path):
    (tmp_path / "t" / "email").mkdir(parents=True)
    (tmp_path / "t" / "email" / "invitation.txt").write_text("Hello {{ no_such_value }}\n")
    with pytest.raises(ProviderError) as caught:
        make(engine, templates=email_template_environment(tmp_path / "t")).send([invitation(1)])
    assert "preview" in str(caught.value) and "no_such_value" in str(caught.value)
    assert "invitation.txt" in str(caught.value)


def test_headers_from_options(engine, tmp_path):
    make(engine, from_address="surveys@acme.example", from_name="Customer Success", reply_to="csm@acme.example",
         subject="Quick question", unsubscribe_url="mailto:optout@acme.example?subject={invite_id}",
         ).send([invitation(1)])
    msg = parse(tmp_path / "out" / "inv-0001.eml")
    assert msg["From"] == "Customer Success <surveys@acme.example>"
    assert msg["Reply-To"] == "csm@acme.example" and msg["Subject"] == "Quick question"
    assert msg["List-Unsubscribe"] == "<mailto:optout@acme.example?subject=inv-0001>"
    assert msg["Message-ID"] == "<tierctl.inv-0001@acme.example>"


def test_a_subject_per_language_follows_the_contacts_locale(engine, tmp_path):
    make(engine, subject={"en": "Quick question", "nl": "Korte vraag", "de": "Kurze Frage"}).send(
        [invitation(1, locale="nl-BE"), invitation(2, locale="de"), invitation(3, locale="fr")])
    subjects = [parse(tmp_path / "out" / f"inv-000{n}.eml")["Subject"] for n in (1, 2, 3)]
    # nl-BE falls back to nl; a language without a subject gets the organisation's default (en)
    assert subjects == ["Korte vraag", "Kurze Frage", "Quick question"]
    with pytest.raises(ValueError, match="xx"):
        OutboxProvider.Options.model_validate({"survey_url": SURVEY_URL, "subject": {"xx-invalid-1": "?"}})
    with pytest.raises(ValueError, match="single line"):
        OutboxProvider.Options.model_validate({"survey_url": SURVEY_URL, "subject": {"en": "two\nlines"}})


def test_fallback_sender_and_odd_invite_ids(tmp_path):
    with Engine(tmp_path, organization={"contact_email": None}) as engine:  # no organization.contact_email
        results = make(engine).send([invitation(1, invite_id="../x y")])
    assert results[0].ok and results[0].external_id == eml_name("../x y") != "../x y.eml"
    msg = parse(tmp_path / "out" / results[0].external_id)
    assert msg["From"].addresses[0].addr_spec == "surveys@example.invalid"
    assert msg["X-Tierctl-Invite-Id"] == "../x y"
    assert msg["Message-ID"].startswith("<tierctl.") and " " not in msg["Message-ID"]


def test_a_bad_address_fails_only_that_invitation(engine, tmp_path):
    results = make(engine).send([invitation(1, contact_email="not-an-address"), invitation(2)])
    assert (results[0].ok, results[0].retry) == (False, False) and results[1].ok


def test_options_need_a_survey_url_with_the_invite_id():
    with pytest.raises(ValueError, match="invite_id"):
        EmailOptions.model_validate({"survey_url": "https://form.example/to/AbC"})
    with pytest.raises(ValueError, match="from_address"):
        OutboxProvider.Options.model_validate({"survey_url": SURVEY_URL, "from_address": "nobody"})
    with pytest.raises(ValueError):
        OutboxProvider.Options.model_validate({"survey_url": SURVEY_URL, "subject": "two\nlines"})
    assert OutboxProvider.rate_limit is None
