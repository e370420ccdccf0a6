"""The typeform provider against its API double on 127.0.0.1, and through the real send engine.

Sending: form links with hidden fields, delivered by the mailer instance.
Fetching: the Responses API with since/after paging, de-duplication across
pages and overlapping windows, cursors, 2 requests/s, error handling.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from doubles.typeform import TOKEN, TypeformDouble
from project_fixtures import PROJECT_YAML

from tierctl.config.loader import load_config
from tierctl.errors import TierctlError
from tierctl.surveys.instances import build_providers
from tierctl.plugins.email_message import LinkedInvitation
from tierctl.plugins.provider_typeform import (TypeformProvider, typeform_signature, verify_typeform_signature)
from tierctl.providers import ProviderError
from tierctl.util.ratelimit import TokenBucket
from tierctl.testing import FakeClock, SmtpServer, invitation, invitations

T0 = datetime(2027, 3, 2, 9, 0, tzinfo=timezone.utc)
FORM = "u6nXL7"
FIELDS = {"csat_ref": "opinion_scale", "agenda": "long_text", "channel": "multiple_choice", "extra": "short_text"}
SURVEYS = {
    "pre-meeting": {"title": "Before our account review", "provider": "tf",
                    "questions": [{"id": "satisfaction", "type": "csat", "text": "How satisfied are you?"},
                                  {"id": "agenda", "type": "text", "text": "What should we cover?"},
                                  {"id": "channel", "type": "choice", "text": "How should we reach you?",
                                   "choices": ["E-mail", "Phone"]}]},
}


MAIL = {"plugin": "outbox", "dir": "outbox", "survey_url": "https://survey.example/{survey}?id={invite_id}"}


@pytest.fixture
def tf():
    with TypeformDouble() as double:
        double.add_form(FORM, FIELDS)
        yield double
        assert not double.errors, double.errors


def build(engine, double: TypeformDouble | None, providers=None, surveys=None, **options):
    """The tf instance, its mailer and any ``providers``, built by the kit's engine as ``survey send``
    builds them (real token buckets on the real clock)."""
    tf_options = {"forms": {"pre-meeting": FORM}, "questions": {"satisfaction": "csat_ref"},
                  "backoff_factor": 0.01, "timeout": 5, **options}
    if double is not None:
        tf_options.setdefault("base_url", double.url)
    return engine.build({"mail": MAIL, "tf": {"plugin": "typeform", "token": "${TYPEFORM_TOKEN}", "mailer": "mail",
                                              **tf_options}, **(providers or {})},
                        SURVEYS if surveys is None else surveys, env={"TYPEFORM_TOKEN": TOKEN})


def link_of(message: email.message.EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"https://form\.typeform\.com/to/\S+", text).group(0)


def answer(double: TypeformDouble, link: str, n: int = 4, **kw) -> str:
    return double.respond(link, {"csat_ref": n, "agenda": f"Topic {n}", "channel": "Phone", "extra": "x"}, **kw)


# -- options and links -----------------------------------------------------------------------------


def test_options_defaults_and_checks():
    base = {"token": TOKEN, "mailer": "mail", "forms": {"pre-meeting": FORM}}
    opts = TypeformProvider.Options.model_validate(base)
    assert (opts.base_url, opts.form_url, opts.hidden_fields, opts.requests_per_second, opts.page_size) == \
        ("https://api.typeform.com", "https://form.typeform.com/to/{form_id}", ["invite_id", "tier"], 2.0, 1000)
    assert TOKEN not in repr(opts) and TOKEN not in str(opts.model_dump())
    eu = TypeformProvider.Options.model_validate({**base, "base_url": "https://api.eu.typeform.com/"})
    assert eu.base_url == "https://api.eu.typeform.com"
    for bad in ({"forms": {"pre-meeting": "https://form.typeform.com/to/x"}}, {"form_url": "https://x.example/to/"},
                {"form_url": "https://x.example/to/{form_id}#a=1"}, {"form_url": "https://x/{form_id}/{survey}"},
                {"hidden_fields": ["tier"]}, {"hidden_fields": ["invite_id", "password"]}, {"mailer": " "},
                {"page_size": 1001}, {"requests_per_second": 0}, {"bogus": 1}):
        with pytest.raises(ValueError):
            TypeformProvider.Options.model_validate({**base, **bad})


def test_form_link_carries_the_invite_id_and_tier_url_quoted(engine):
    provider = build(engine, None, form_url="https://acme.typeform.com/to/{form_id}",
                     hidden_fields=["invite_id", "tier", "account_id"])["tf"]
    link = provider.form_link(invitation(1, invite_id="a/b c&d=é", tier="advanced", account_id="acc 42"))
    assert link == "https://acme.typeform.com/to/u6nXL7#invite_id=a%2Fb%20c%26d%3D%C3%A9&tier=advanced&account_id=acc%2042"
    fragment = parse_qs(urlsplit(link).fragment)
    assert fragment["invite_id"] == ["a/b c&d=é"]
    with pytest.raises(ProviderError, match="no form for survey 'product-feedback'"):
        provider.form_link(invitation(2, survey_id="product-feedback"))


# -- sending through the mailer ------------------------------------------------------------------


def test_send_hands_linked_invitations_to_the_mailer(engine, tmp_path, tf):
    built = build(engine, tf)
    assert set(built) == {"tf", "mail"}  # the mailer is built with it, though not asked for
    provider, mailer = built["tf"], built["mail"]
    results = provider.send(invitations(3))
    assert [(r.invite_id, r.ok, r.external_id) for r in results] == \
        [(f"inv-000{n}", True, f"inv-000{n}.eml") for n in (1, 2, 3)]
    for n in (1, 2, 3):
        msg = email.message_from_bytes((tmp_path / "outbox" / f"inv-000{n}.eml").read_bytes(),
                                       policy=email.policy.default)
        assert link_of(msg) == f"https://form.typeform.com/to/{FORM}#invite_id=inv-000{n}&tier=advanced"
        assert f'href="https://form.typeform.com/to/{FORM}#invite_id=inv-000{n}&amp;tier=advanced"' in \
            msg.get_body(("html",)).get_content()
        assert "survey.example" not in msg.as_string()  # the mailer's own survey_url is not used
    assert tf.count == 0  # sending makes no Typeform API request
    # The mailer still uses its own link for surveys that name it directly.
    [direct] = mailer.send([invitation(9)])
    direct_msg = email.message_from_bytes((tmp_path / "outbox" / "inv-0009.eml").read_bytes(),
                                          policy=email.policy.default)
    assert direct.ok and "https://survey.example/pre-meeting?id=inv-0009" in \
        direct_msg.get_body(("plain",)).get_content()


def test_build_providers_returns_the_named_instances_and_builds_the_mailer_into_the_context(engine, host):
    engine.build({"mail": MAIL, "tf": {"plugin": "typeform", "token": "${TYPEFORM_TOKEN}", "mailer": "mail",
                                       "forms": {"pre-meeting": FORM}, "base_url": "https://api.eu.typeform.com"}},
                 SURVEYS, env={"TYPEFORM_TOKEN": TOKEN})
    config = engine.config
    built = build_providers(config, host, {"tf"})
    assert list(built) == ["tf"]  # what the caller asked for (and closes)
    assert list(built["tf"].context.providers) == ["mail", "tf"]  # the mailer first, then its user
    assert built["tf"].mailer() is built["tf"].context.providers["mail"]
    both = build_providers(config, host, {"tf", "mail"})
    assert sorted(both) == ["mail", "tf"] and both["tf"].mailer() is both["mail"]


def test_linked_invitation_is_a_copy_with_a_link():
    original = invitation(1)
    linked = LinkedInvitation.of(original, "https://form.typeform.com/to/x#invite_id=inv-0001")
    assert linked.survey_link.endswith("inv-0001") and linked.invite_id == "inv-0001"
    assert linked.questions == original.questions and linked.due_at == original.due_at


def test_sends_are_paced_by_the_mailer_over_real_smtp(engine, host):
    with SmtpServer() as smtp:
        mail = {"plugin": "smtp", "host": smtp.host, "port": smtp.port, "security": "none",
                "from_address": "surveys@acme.example", "per_second": 4, "retry_delay": 0.01,
                "survey_url": "https://survey.example/{survey}?id={invite_id}"}
        built = build(engine, None, providers={"mail": mail})
        provider, mailer = built["tf"], built["mail"]
        clock = FakeClock()
        mailer.limiter = TokenBucket(mailer.rate_limit, clock=clock.monotonic, sleep=clock.sleep)
        provider.limiter = TokenBucket(provider.rate_limit, clock=clock.monotonic, sleep=clock.sleep)
        results = provider.send(invitations(10))
        assert mailer._smtp is not None  # one session, still open
        provider.close()  # closes the mailer it was built with
        assert mailer._smtp is None
        assert all(r.ok for r in results)
        assert clock.slept == pytest.approx((10 - 4) / 4)  # 4 per second, a full bucket of 4 to start
        messages = smtp.wait_for(10)
        assert sorted(link_of(m.parsed) for m in messages) == \
            sorted(f"https://form.typeform.com/to/{FORM}#invite_id=inv-{n:04d}&tier=advanced" for n in range(1, 11))


def test_a_failing_mailer_fails_the_typeform_instance(engine, tmp_path):
    (tmp_path / "outbox").write_text("a file where the folder should be")
    provider = build(engine, None)["tf"]
    with pytest.raises(ProviderError) as caught:
        provider.send(invitations(2))
    assert str(caught.value).startswith("provider tf: its mailer failed: provider mail: cannot create")
    assert caught.value.retry is False


def test_the_mailer_must_exist_and_send_mail(engine):
    with pytest.raises(TierctlError, match=r"providers.tf.mailer: sends through 'mial', which is not defined under "
                                           r"providers: \(did you mean 'mail'\?\)"):
        build(engine, None, mailer="mial")
    hook = {"plugin": "webhook", "url": "https://hooks.example/x", "secret": "whsec-0123456789abcdef"}
    provider = build(engine, None, mailer="hook", providers={"hook": hook})["tf"]
    with pytest.raises(ProviderError, match="its mailer 'hook' \\(plugin webhook\\) does not send tierctl's "
                                            "invitation e-mail"):
        provider.send(invitations(1))
    other = {"plugin": "typeform", "token": TOKEN, "mailer": "tf", "forms": {}}
    with pytest.raises(TierctlError, match="tf -> tf2 -> tf send through each other in a circle"):
        build(engine, None, mailer="tf2", providers={"tf2": other})
    with pytest.raises(TierctlError, match="providers: tf sends through itself; a mailer must be"):
        build(engine, None, mailer="tf")


def test_every_survey_of_the_instance_needs_a_form(engine):
    surveys = {**SURVEYS, "product-feedback": {**SURVEYS["pre-meeting"], "title": "Feedback"}}
    with pytest.raises(ProviderError, match="no form for survey\\(s\\) product-feedback; add them to forms"):
        build(engine, None, surveys=surveys)


ENGINE_YAML = PROJECT_YAML.replace("provider: mail", "provider: tf").replace(
    "  mail: {plugin: outbox",
    "  tf:\n"
    "    plugin: typeform\n"
    "    token: ${TYPEFORM_TOKEN}\n"
    "    mailer: mail\n"
    "    base_url: BASE_URL\n"
    "    forms: {pre-meeting: u6nXL7, product-feedback: Jm4gQd}\n"
    "    questions: {nps: nps_ref}\n"
    "  mail: {plugin: outbox")


def test_survey_send_through_typeform_then_collect(project, tmp_path, host, monkeypatch):
    """The real engine: ledger, outbox .eml files with the form link, then responses collected back."""
    from tierctl.responses.collect import collect
    from tierctl.surveys.send_run import SurveyRun

    rows = [[f"acc{i}", f"Account {i}", "enterprise", "active", f"p{i}@acc{i}.example", f"P {i}", "user", "en"]
            for i in range(4)]
    with TypeformDouble() as double:
        double.add_form("Jm4gQd", {"nps_ref": "nps"})
        double.add_form(FORM, {"satisfaction": "opinion_scale"})
        path = project(rows, yaml=ENGINE_YAML.replace("BASE_URL", double.url))
        config = load_config(path, host, env={"TYPEFORM_TOKEN": TOKEN})
        now = datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc)
        run = SurveyRun(config, host, now)
        with run.open_ledger() as ledger:
            report = run.send(ledger)
            assert (report.sent, report.failures, report.provider_errors) == (4, [], [])
            assert SurveyRun(config, host, now).send(ledger).sent == 0  # exactly once
            sent = {row["invite_id"]: row for row in ledger.invitations(state="sent")}
        files = sorted((tmp_path / "outbox").glob("*.eml"))
        assert len(files) == 4 and double.count == 0
        links = {}
        for file in files:
            msg = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
            link = link_of(msg)
            fragment = parse_qs(urlsplit(link).fragment)
            invite_id = fragment["invite_id"][0]
            assert link.startswith("https://form.typeform.com/to/Jm4gQd#invite_id=")
            assert fragment["tier"] == ["advanced"] and invite_id == msg["X-Tierctl-Invite-Id"]
            assert sent[invite_id]["contact_email"] == msg["To"].addresses[0].addr_spec
            links[invite_id] = link
        answered = sorted(links)[:3]
        for n, invite_id in enumerate(answered):
            double.respond(links[invite_id], {"nps_ref": 7 + n})
        with run.open_ledger() as ledger:
            result = collect(config, ledger, host, now=now + timedelta(days=2))
            assert (result.errors, result.problems, result.added) == ([], [], 3)
            again = collect(config, ledger, host, now=now + timedelta(days=3))
            assert (again.errors, again.added) == ([], 0)
            stored = [r for row in rows for r in ledger.responses_for_account(row[0])]
        assert sorted(r["invite_id"] for r in stored) == answered
        assert sorted(r["answers"]["nps"]["score"] for r in stored) == [7, 8, 9]
        assert all(r["tier"] == "advanced" and r["survey_id"] == "product-feedback" for r in stored)
        assert not double.errors


# -- fetching ------------------------------------------------------------------------------------


def sent_links(provider, count: int, start: int = 1) -> list[str]:
    return [provider.form_link(inv) for inv in invitations(count, start)]


def test_fetch_maps_answers_by_ref_and_reads_the_invite_id(engine, tf):
    provider = build(engine, tf)["tf"]
    [link] = sent_links(provider, 1)
    rid = answer(tf, link, 5, submitted_at=T0)
    tf.respond(link.replace("inv-0001", "inv-0002"), {"agenda": "  "}, completed=False)  # a partial response
    items, cursor = provider.fetch_responses("pre-meeting", None)
    [response] = list(items)
    assert (response.response_id, response.invite_id, response.submitted_at) == (rid, "inv-0001", T0)
    assert response.answers == {"satisfaction": 5, "agenda": "Topic 5", "channel": "Phone"}  # 'extra' is no question
    [request] = tf.requests
    assert request.headers["authorization"] == f"bearer {TOKEN}"
    assert request.route == f"/forms/{FORM}/responses"
    assert request.query == {"page_size": "1000", "completed": "true", "sort": "submitted_at,asc"}
    state = json.loads(cursor)
    assert state["since"] == (T0 - timedelta(minutes=30)).isoformat() and state["seen"] == {rid: T0.timestamp()}


def test_fetch_pages_with_after_tokens_and_drops_duplicates_across_pages(engine, tf):
    provider = build(engine, tf, page_size=2)["tf"]
    tf.duplicate_across_pages = True
    links = sent_links(provider, 5)
    ids = [answer(tf, link, submitted_at=T0 + timedelta(minutes=n)) for n, link in enumerate(links)]
    got, cursor, calls = [], None, 0
    while True:
        items, new = provider.fetch_responses("pre-meeting", cursor)
        items = list(items)
        calls += 1
        got += items
        if not items or new == cursor:
            break
        cursor = new
    assert [r.response_id for r in got] == ids  # each once, in order
    assert [r.invite_id for r in got] == [f"inv-000{n}" for n in range(1, 6)]
    queries = [r.query for r in tf.requests]
    assert "after" not in queries[0] and queries[0]["sort"] == "submitted_at,asc"
    assert all("sort" not in q for q in queries[1:])  # Typeform refuses sort with after
    # Each page repeats the previous page's last response (the fault): dropped, and paging goes on after it.
    assert [q["after"] for q in queries[1:]] == ids[1:]
    assert all(q["page_size"] == "2" for q in queries)
    # The next pull starts a window before the newest response: pages of responses already seen are
    # walked within one call, so the new response comes back at once.
    newest = answer(tf, sent_links(provider, 1, start=6)[0], submitted_at=T0 + timedelta(minutes=5))
    items, _ = provider.fetch_responses("pre-meeting", new)
    assert [r.response_id for r in items] == [newest]
    assert tf.throttled == 0


def test_overlapping_windows_catch_late_responses_without_repeating_any(engine, tf):
    provider = build(engine, tf, overlap_minutes=60)["tf"]
    links = sent_links(provider, 4)
    first = [answer(tf, links[0], submitted_at=T0), answer(tf, links[1], submitted_at=T0 + timedelta(minutes=20))]
    late = answer(tf, links[2], submitted_at=T0 + timedelta(minutes=10), indexed=False)
    items, cursor = provider.fetch_responses("pre-meeting", None)
    assert [r.response_id for r in items] == first
    tf.index_all()  # submitted before the newest response we saw, indexed only now
    newer = answer(tf, links[3], submitted_at=T0 + timedelta(hours=3))
    items, cursor2 = provider.fetch_responses("pre-meeting", cursor)
    assert [r.response_id for r in items] == [late, newer]
    assert tf.requests[-1].query["since"] == "2027-03-02T08:20:00"  # the newest (09:20) minus the overlap
    items, cursor3 = provider.fetch_responses("pre-meeting", cursor2)
    assert list(items) == [] and cursor3 == cursor2  # nothing new: the engine stops here
    assert tf.requests[-1].query["since"] == "2027-03-02T11:00:00"
    assert json.loads(cursor3)["seen"] == {newer: (T0 + timedelta(hours=3)).timestamp()}  # older ids forgotten


def test_a_time_works_as_a_cursor_and_a_foreign_cursor_is_refused(engine, tf):
    provider = build(engine, tf)["tf"]
    links = sent_links(provider, 2)
    answer(tf, links[0], submitted_at=T0)
    later = answer(tf, links[1], submitted_at=T0 + timedelta(days=1))
    items, _ = provider.fetch_responses("pre-meeting", (T0 + timedelta(hours=1)).isoformat())
    assert [r.response_id for r in items] == [later]
    assert tf.requests[-1].query["since"] == "2027-03-02T10:00:00"
    with pytest.raises(ProviderError, match="collect once with --since"):
        provider.fetch_responses("pre-meeting", "page-7")
    with pytest.raises(ProviderError, match="no form for survey 'other'"):
        provider.fetch_responses("other", None)


def test_fetching_stays_at_two_requests_per_second(engine, tf):
    provider = build(engine, tf, page_size=1)["tf"]
    for n, link in enumerate(sent_links(provider, 7)):
        answer(tf, link, submitted_at=T0 + timedelta(seconds=n))
    started = time.monotonic()
    cursor, got = None, []
    for _ in range(7):
        items, cursor = provider.fetch_responses("pre-meeting", cursor)
        got += list(items)
    elapsed = time.monotonic() - started
    assert len(got) == 7 and tf.count == 7
    assert tf.throttled == 0  # the double enforces 2/s: nothing was refused
    assert elapsed >= (7 - 2) / 2 - 0.05  # a full bucket of 2, then one every half second
    assert tf.max_requests_in(0.45) <= 2


def test_429_with_retry_after_is_honoured(engine, tf):
    provider = build(engine, tf)["tf"]
    tf.fail_next(429, retry_after="1")
    started = time.monotonic()
    items, _ = provider.fetch_responses("pre-meeting", None)
    assert list(items) == [] and tf.count == 2
    assert tf.requests[1].received_at - tf.requests[0].received_at >= 0.95
    assert time.monotonic() - started < 3


def test_429_without_retry_after_backs_off_then_gives_up(engine, tf):
    provider = build(engine, tf, max_retries=2, backoff_factor=0.2)["tf"]
    tf.fail_next(429, times=3)
    with pytest.raises(ProviderError) as caught:
        provider.fetch_responses("pre-meeting", None)
    assert caught.value.retry is True and "still fails after 2 retries: HTTP 429: RATE_LIMIT_EXCEEDED" in \
        str(caught.value)
    gaps = [b.received_at - a.received_at for a, b in zip(tf.requests, tf.requests[1:])]
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39  # 0.2 s, then 0.4 s


def test_the_double_refuses_a_burst_over_two_per_second(tf):
    def get():
        return requests.get(f"{tf.url}/forms/{FORM}/responses", headers={"Authorization": f"bearer {TOKEN}"})

    statuses = [get() for _ in range(4)]
    assert [r.status_code for r in statuses][:2] == [200, 200] and statuses[2].status_code == 429
    assert statuses[2].headers["Retry-After"] == "1" and statuses[2].json()["code"] == "RATE_LIMIT_EXCEEDED"
    tf.retry_after = False
    assert "Retry-After" not in get().headers
    time.sleep(1.1)
    assert get().status_code == 200
    bad = requests.get(f"{tf.url}/forms/{FORM}/responses?after=x&sort=submitted_at,asc",
                       headers={"Authorization": f"bearer {TOKEN}"})
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "sort"


def test_500s_are_retried_and_then_fail_the_fetch(engine, tf):
    provider = build(engine, tf, max_retries=2)["tf"]
    tf.fail_next(500, times=2)
    [link] = sent_links(provider, 1)
    answer(tf, link)
    items, _ = provider.fetch_responses("pre-meeting", None)
    assert len(list(items)) == 1 and tf.count == 3
    tf.fail_next(503, times=3)
    with pytest.raises(ProviderError) as caught:
        provider.fetch_responses("pre-meeting", None)
    assert caught.value.retry is True and str(caught.value).startswith("provider tf: GET /forms/u6nXL7/responses")


def test_a_timeout_is_retried(engine, tf):
    provider = build(engine, tf, timeout=0.3, max_retries=1)["tf"]
    tf.slow_next(1.0)
    started = time.monotonic()
    items, _ = provider.fetch_responses("pre-meeting", None)
    assert list(items) == [] and time.monotonic() - started < 1.0
    tf.slow_next(1.0, times=2)
    with pytest.raises(ProviderError, match=r"read timeout after 0\.3s, after 1 retries"):
        provider.fetch_responses("pre-meeting", None)


def test_a_revoked_token_is_a_provider_error_without_the_token(engine, tf):
    provider = build(engine, tf)["tf"]
    tf.revoke()
    with pytest.raises(ProviderError) as caught:
        provider.fetch_responses("pre-meeting", None)
    text = str(caught.value)
    assert caught.value.retry is False and text.startswith("provider tf: Typeform refused the token (HTTP 401")
    assert "AUTHENTICATION_FAILED" in text and TOKEN not in text and TOKEN not in repr(provider)
    assert tf.count == 1  # not retried


def test_an_unknown_form_names_the_form(engine, tf):
    provider = build(engine, tf, forms={"pre-meeting": "NoSuch"})["tf"]
    with pytest.raises(ProviderError, match="Typeform does not know form 'NoSuch' \\(HTTP 404: FORM_NOT_FOUND"):
        provider.fetch_responses("pre-meeting", None)


def test_an_unreachable_api_is_a_provider_error(engine):
    from tierctl.testing import unused_port

    provider = build(engine, None, base_url=f"http://127.0.0.1:{unused_port()}", max_retries=1)["tf"]
    with pytest.raises(ProviderError, match=r"cannot reach Typeform at .* \(connection refused, after 1 retries\)") as caught:
        provider.fetch_responses("pre-meeting", None)
    assert caught.value.retry is True


# -- webhooks --------------------------------------------------------------------------------------

WEBHOOK_SECRET = "tf-webhook-secret-0123456789"


def test_webhook_signature_is_verified_on_the_raw_bytes(engine, tf):
    provider = build(engine, tf)["tf"]
    [link] = sent_links(provider, 1)
    rid = answer(tf, link, 3, submitted_at=T0)
    body, headers = tf.webhook_delivery(FORM, rid, WEBHOOK_SECRET)
    header = headers["Typeform-Signature"]
    assert body.endswith(b"\n") and header == typeform_signature(WEBHOOK_SECRET, body)
    assert verify_typeform_signature(WEBHOOK_SECRET, body, header)
    assert verify_typeform_signature(WEBHOOK_SECRET.encode(), body, header)
    assert not verify_typeform_signature(WEBHOOK_SECRET, body.replace(b"Topic 3", b"Topic 4"), header)  # tampered
    assert not verify_typeform_signature(WEBHOOK_SECRET, body.rstrip(b"\n"), header)  # the newline is signed
    assert not verify_typeform_signature("another-secret", body, header)
    import hashlib
    import hmac

    hex_digest = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    for wrong in (hex_digest, None, "", "sha256=ü", header.replace("sha256=", "sha1=")):
        assert not verify_typeform_signature(WEBHOOK_SECRET, body, wrong)

    response = provider.webhook_response("pre-meeting", body, header, WEBHOOK_SECRET)
    assert (response.response_id, response.invite_id, response.submitted_at) == (rid, "inv-0001", T0)
    assert response.answers == {"satisfaction": 3, "agenda": "Topic 3", "channel": "Phone"}
    with pytest.raises(ProviderError, match="does not match its body"):
        provider.webhook_response("pre-meeting", body + b" ", header, WEBHOOK_SECRET)


def test_validate_reports_a_mailer_that_is_not_defined(tmp_path):
    """The config check names the typeform instance's mailer: line, before anything is sent."""
    from project_fixtures import run_cli

    config = tmp_path / "tierctl.yaml"
    config.write_text(
        "version: 1\n"
        "organization: {name: Acme}\n"
        "tiers:\n  basic: {name: Basic, touch_model: tech-touch, plans: [free]}\n"
        "providers:\n"
        "  mail: {plugin: outbox, survey_url: 'https://s.example/{invite_id}'}\n"
        "  tf:\n"
        "    plugin: typeform\n"
        "    token: tf-token-0123456789\n"
        "    mailer: mial\n"
        "    forms: {feedback: AbC123}\n", encoding="utf-8")
    code, out, err = run_cli(["-c", str(config), "validate"], load_plugins=None)
    assert code == 2, out + err
    assert "tierctl.yaml:10:" in err and "providers.tf.mailer" in err
    assert "did you mean 'mail'" in err
