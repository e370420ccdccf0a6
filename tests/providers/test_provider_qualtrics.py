"""The qualtrics provider against its API double on 127.0.0.1, and through the real send engine.

Sending: a mailing list, a bulk contact import with embedded data, a
distribution. Fetching: the asynchronous export (start, poll, download a real
ZIP) with continuation tokens. Faults: revoked tokens, 429s, 5xx, timeouts,
partial imports.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from doubles.qualtrics import DIRECTORY, LIBRARY, MESSAGE, TOKEN, QualtricsDouble, envelope, error
from project_fixtures import PROJECT_YAML

from tierctl.config.loader import load_config
from tierctl.plugins.provider_qualtrics import QualtricsProvider
from tierctl.providers import ProviderError
from tierctl.testing import invitation, invitations

T0 = datetime(2027, 3, 2, 9, 0, tzinfo=timezone.utc)
SV = "SV_3kTQ0rB7Yq"
SURVEYS = {
    "pre-meeting": {"title": "Before our account review", "provider": "qx",
                    "questions": [{"id": "satisfaction", "type": "csat", "text": "How satisfied are you?"},
                                  {"id": "agenda", "type": "text", "text": "What should we cover?"},
                                  {"id": "channel", "type": "choice", "text": "How should we reach you?",
                                   "choices": ["E-mail", "Phone"]}]},
}
VALUES = {"QID1": 4, "QID2_TEXT": "Our renewal", "QID3": 2}
LABELS = {"QID1": "Satisfied", "QID3": "Phone"}
ANSWERS = {"satisfaction": 4, "agenda": "Our renewal", "channel": "Phone"}


@pytest.fixture
def qx():
    with QualtricsDouble() as double:
        double.add_survey(SV, "Before our account review")
        yield double
        assert not double.errors, double.errors


def build(engine, double: QualtricsDouble | None, config_surveys: dict | None = None, **options):
    """The qx instance, built by the kit's engine as ``survey send`` builds it (real clock)."""
    qx_options = {"token": "${QUALTRICS_TOKEN}", "directory_id": DIRECTORY, "surveys": {"pre-meeting": SV},
                  "library_id": LIBRARY, "message_id": MESSAGE, "from_email": "surveys@acme.example",
                  "questions": {"satisfaction": "QID1", "agenda": "QID2_TEXT", "channel": "QID3"},
                  "poll_interval": 0.01, "backoff_factor": 0.01, "timeout": 5, "requests_per_second": 50,
                  **options}
    if double is not None:
        qx_options.setdefault("base_url", double.url + "/API/v3")
    return engine.provider("qualtrics", qx_options, instance="qx", env={"QUALTRICS_TOKEN": TOKEN},
                           surveys=SURVEYS if config_surveys is None else config_surveys)


def posts(double: QualtricsDouble, fragment: str) -> list:
    return [r for r in double.requests if r.method == "POST" and r.route.endswith(fragment)]


# -- options -------------------------------------------------------------------------------------


def test_options_defaults_and_checks():
    base = {"token": TOKEN, "datacenter": "FRA1", "directory_id": DIRECTORY, "surveys": {"pre-meeting": SV},
            "library_id": LIBRARY, "message_id": MESSAGE}
    opts = QualtricsProvider.Options.model_validate(base)
    assert opts.api_url == "https://fra1.qualtrics.com/API/v3"
    assert (opts.mailing_list_id, opts.link_expiry, opts.requests_per_second, opts.poll_interval) == (None, None, 5.0, 2.0)
    assert TOKEN not in repr(opts) and TOKEN not in str(opts.model_dump())
    group = QualtricsProvider.Options.model_validate({**base, "library_id": "GR_abc", "mailing_list_id": "CG_x1"})
    assert group.library_id == "GR_abc"
    for bad in ({"datacenter": None}, {"datacenter": "fra1.qualtrics.com"}, {"directory_id": "dir-1"},
                {"surveys": {"pre-meeting": "123"}}, {"library_id": "MS_1"}, {"message_id": "UR_1"},
                {"mailing_list_id": "list"}, {"from_email": "not-an-address"}, {"link_expiry": 0},
                {"base_url": "fra1.qualtrics.com"}, {"bogus": 1}):
        with pytest.raises(ValueError):
            QualtricsProvider.Options.model_validate({**base, **bad})


def test_setup_needs_a_sender_and_a_survey_id_per_survey(engine):
    provider = build(engine, None, base_url="https://fra1.qualtrics.com/API/v3", from_email=None)
    assert provider.from_email == "success@acme.example" and provider.from_name == "Acme Analytics"
    surveys = {**SURVEYS, "product-feedback": {**SURVEYS["pre-meeting"], "title": "Feedback"}}
    with pytest.raises(ProviderError, match="no Qualtrics survey for product-feedback; add them to surveys"):
        build(engine, None, config_surveys=surveys, base_url="https://fra1.qualtrics.com/API/v3")
    assert TOKEN not in repr(provider)


# -- sending -------------------------------------------------------------------------------------


def test_send_imports_contacts_with_embedded_data_then_distributes(engine, qx):
    provider = build(engine, qx, subject="A few questions from Acme", reply_to="csm@acme.example")
    batch = invitations(3)
    results = provider.send(batch)
    assert [r.ok for r in results] == [True] * 3 and [r.invite_id for r in results] == [i.invite_id for i in batch]

    [create] = posts(qx, "/mailinglists")
    assert create.headers["x-api-token"] == TOKEN and create.json()["name"].startswith("tierctl qx pre-meeting ")
    [list_id] = qx.lists
    [started] = posts(qx, "/contactimports")
    contacts = started.json()["contacts"]
    assert contacts[0] == {"firstName": "Zoë", "lastName": "Contact1", "email": "contact1@globex.example",
                           "extRef": "inv-0001", "language": "EN", "unsubscribed": False,
                           "embeddedData": {"invite_id": "inv-0001", "tier": "advanced", "account_id": "acc-42",
                                            "survey": "pre-meeting"}}
    [distribution] = posts(qx, "/distributions")
    body = distribution.json()
    assert body["message"] == {"libraryId": LIBRARY, "messageId": MESSAGE}
    assert body["recipients"] == {"mailingListId": list_id}
    assert body["header"] == {"fromEmail": "surveys@acme.example", "fromName": "Acme Analytics",
                              "subject": "A few questions from Acme", "replyToEmail": "csm@acme.example"}
    assert body["surveyLink"] == {"surveyId": SV, "type": "Individual", "expirationDate": "2027-03-04T13:00:00Z"}
    assert body["sendDate"].endswith("Z")
    [emd] = qx.distributions
    assert {r.external_id for r in results} == {f"{emd}/{d.contact_id}" for d in qx.deliveries}
    assert sorted(d.embedded["invite_id"] for d in qx.deliveries) == ["inv-0001", "inv-0002", "inv-0003"]
    # list, import, two polls (one in progress), summary, distribution: each paced.
    assert qx.count == 6 and provider.requests_made == 6


def test_a_refused_contact_fails_alone_and_is_not_distributed(engine, qx):
    qx.refuse_contact("contact2@globex.example", "Email address is on the brand's blocklist")
    provider = build(engine, qx)
    results = provider.send(invitations(3))
    assert [(r.ok, r.retry) for r in results] == [(True, False), (False, False), (True, False)]
    assert results[1].reason == ("Qualtrics refused the contact contact2@globex.example: Email address is on the "
                                 "brand's blocklist")
    assert sorted(d.email for d in qx.deliveries) == ["contact1@globex.example", "contact3@globex.example"]


def test_nobody_imported_means_no_distribution(engine, qx):
    provider = build(engine, qx)
    results = provider.send([invitation(1, contact_email="no-at-sign.example")])
    assert (results[0].ok, results[0].retry) == (False, False) and "Invalid email address" in results[0].reason
    assert posts(qx, "/distributions") == []


def test_the_same_address_twice_goes_out_in_two_lists(engine, qx):
    provider = build(engine, qx)
    batch = [invitation(1), invitation(2, contact_email="CONTACT1@globex.example", occasion="2027-Q1"),
             invitation(3)]
    results = provider.send(batch)
    assert all(r.ok for r in results)
    assert len(qx.lists) == 2 and len(qx.distributions) == 2
    by_invite = {d.embedded["invite_id"]: d for d in qx.deliveries}
    assert set(by_invite) == {"inv-0001", "inv-0002", "inv-0003"}
    assert by_invite["inv-0001"].distribution_id != by_invite["inv-0002"].distribution_id


def test_a_fixed_list_gets_one_distribution_per_contact(engine, qx):
    list_id = "CG_fixed1"
    qx.lists[list_id] = {"name": "tierctl", "members": {}}
    provider = build(engine, qx, mailing_list_id=list_id)
    assert all(r.ok for r in provider.send(invitations(2)))
    assert all(r.ok for r in provider.send(invitations(2, start=3)))
    assert posts(qx, "/mailinglists") == []
    recipients = [p.json()["recipients"] for p in posts(qx, "/distributions")]
    assert len(recipients) == 4 and all(r["mailingListId"] == list_id and r["contactId"] for r in recipients)
    # Earlier batches' contacts stay in the list but are not sent to again.
    assert sorted(d.embedded["invite_id"] for d in qx.deliveries) == [f"inv-000{n}" for n in range(1, 5)]


def test_link_expiry_in_days(engine, qx):
    provider = build(engine, qx, link_expiry=14)
    provider._clock = lambda: T0
    assert provider.send(invitations(1))[0].ok
    body = posts(qx, "/distributions")[0].json()
    assert (body["surveyLink"]["expirationDate"], body["sendDate"]) == ("2027-03-16T09:00:00Z", "2027-03-02T09:00:00Z")


def test_a_revoked_token_stops_the_provider_before_anything_is_sent(engine, qx):
    provider = build(engine, qx)
    qx.revoke()
    with pytest.raises(ProviderError) as caught:
        provider.send(invitations(2))
    text = str(caught.value)
    assert caught.value.retry is False and text.startswith("provider qx: Qualtrics refused the API token (HTTP 401")
    assert "AUTH_2" in text and TOKEN not in text
    assert qx.count == 1 and qx.deliveries == []


def test_status_answers_map_to_errors_through_the_clients_one_method(engine, qx):
    """401/403/404 become ProviderErrors in the HTTP client's overridable error_for, as for every provider."""
    provider = build(engine, qx)
    qx.revoke()
    seen = []
    default = provider.http.error_for

    def mapping(response, what, retries):
        seen.append((response.status_code, what))
        return default(response, what, retries)

    provider.http.error_for = mapping
    with pytest.raises(ProviderError, match="refused the API token"):
        provider.send(invitations(1))
    assert [status for status, _ in seen] == [401]


def test_a_revoked_token_mid_batch_keeps_what_was_sent(engine, qx):
    qx.add_survey("SV_second1")
    surveys = {**SURVEYS, "product-feedback": {**SURVEYS["pre-meeting"], "title": "Feedback"}}
    provider = build(engine, qx, config_surveys=surveys,
                     surveys={"pre-meeting": SV, "product-feedback": "SV_second1"})
    qx.when(lambda r: r.method == "POST" and r.route.endswith("/mailinglists") and len(qx.lists) >= 1,
            error(401, "AUTH_2", "Invalid or revoked API token"))
    batch = [invitation(1), invitation(2, survey_id="product-feedback")]
    results = provider.send(batch)
    assert (results[0].ok, results[1].ok, results[1].retry) == (True, False, True)
    assert "not sent: provider qx: Qualtrics refused the API token" in results[1].reason
    with pytest.raises(ProviderError):  # the provider stays stopped for the rest of the run
        provider.send([invitation(3)])


def test_429_with_retry_after_is_honoured_and_without_it_backed_off(engine, qx):
    provider = build(engine, qx, backoff_factor=0.2)
    qx.fail("POST", "/contactimports", 429, retry_after="1")
    qx.fail("POST", "/distributions", 429)
    started = time.monotonic()
    assert provider.send(invitations(1))[0].ok
    imports, distributions = posts(qx, "/contactimports"), posts(qx, "/distributions")
    assert len(imports) == 2 and imports[1].received_at - imports[0].received_at >= 0.95
    assert len(distributions) == 2 and distributions[1].received_at - distributions[0].received_at >= 0.19
    assert time.monotonic() - started < 4


def test_server_errors_are_retried_where_repeating_is_safe(engine, qx):
    provider = build(engine, qx)
    qx.fail("POST", "/mailinglists", 500, times=2)
    qx.fail("GET", "/summary", 502)
    qx.fail("POST", "/distributions", 503)  # 503: surely not created, so retried
    assert all(r.ok for r in provider.send(invitations(2)))
    assert len(posts(qx, "/mailinglists")) == 3 and len(posts(qx, "/distributions")) == 2
    assert len(qx.distributions) == 1


def test_an_ambiguous_distribution_failure_is_not_repeated(engine, qx):
    provider = build(engine, qx)
    qx.fail("POST", "/distributions", 500)
    results = provider.send(invitations(2))
    assert [(r.ok, r.retry, r.unknown) for r in results] == [(False, False, True), (False, False, True)]
    assert "it may have been created, so it is not repeated" in results[0].reason and "HTTP 500" in results[0].reason
    assert len(posts(qx, "/distributions")) == 1


def test_a_distribution_timeout_is_not_repeated(engine, qx):
    provider = build(engine, qx, timeout=0.3)
    qx.fail("POST", "/distributions", 200, delay=1.0)
    results = provider.send(invitations(1))
    assert (results[0].ok, results[0].retry, results[0].unknown) == (False, False, True)
    assert "read timeout after 0.3s" in results[0].reason
    assert len(posts(qx, "/distributions")) == 1


def test_an_import_qualtrics_keeps_failing_stops_the_provider_for_now(engine, qx):
    provider = build(engine, qx, max_retries=1)
    qx.fail("POST", "/contactimports", 500, times=2)
    with pytest.raises(ProviderError) as caught:
        provider.send(invitations(2))
    assert caught.value.retry is True and str(caught.value) == (
        "provider qx: Qualtrics is unavailable: cannot import contacts: still failing after 1 retries: HTTP 500 Q_500: "
        "Internal Server Error")
    assert qx.deliveries == []
    assert all(r.ok for r in provider.send(invitations(2)))  # a later run goes through


def test_an_import_refused_as_a_whole_fails_its_round(engine, qx):
    provider = build(engine, qx)
    qx.fail("POST", "/contactimports", 400, code="CI_TOO_MANY")
    results = provider.send(invitations(2))
    assert all((not r.ok) and r.retry for r in results)
    assert results[0].reason == "contacts not imported: cannot import contacts: HTTP 400 CI_TOO_MANY: Bad Request"


def test_an_unreachable_api_is_a_provider_error(engine):
    from tierctl.testing import unused_port

    provider = build(engine, None, base_url=f"http://127.0.0.1:{unused_port()}/API/v3", max_retries=1)
    with pytest.raises(ProviderError, match="provider qx: Qualtrics is unavailable: cannot create a mailing list: "
                                            "still failing after 1 retries: connection refused") as caught:
        provider.send(invitations(2))
    assert caught.value.retry is True
    with pytest.raises(ProviderError, match="provider qx: cannot export the responses of SV_3kTQ0rB7Yq"):
        provider.fetch_responses("pre-meeting", None)


def test_unknown_ids_are_a_provider_error(engine, qx):
    provider = build(engine, qx, directory_id="POOL_nosuch")
    with pytest.raises(ProviderError, match="cannot create a mailing list: Qualtrics does not know "
                                            "/directories/POOL_nosuch/mailinglists \\(HTTP 404 DIR_404"):
        provider.send(invitations(1))


def test_sending_stays_under_the_declared_rate(engine):
    with QualtricsDouble(requests_per_second=5) as qx:
        qx.add_survey(SV)
        qx.lists["CG_fixed1"] = {"name": "tierctl", "members": {}}
        provider = build(engine, qx, requests_per_second=5, mailing_list_id="CG_fixed1")
        started = time.monotonic()
        assert all(r.ok for r in provider.send(invitations(6)))
        elapsed = time.monotonic() - started
        # import, 2 polls, summary, 6 distributions = 10 requests: a full bucket of 5, then 5 per second.
        assert qx.count == 10 and qx.throttled == 0 and elapsed >= (10 - 5) / 5 - 0.05
        assert not qx.errors


# -- responses -----------------------------------------------------------------------------------


def sent(provider, qx, count: int = 3, start: int = 1) -> list:
    batch = invitations(count, start)
    assert all(r.ok for r in provider.send(batch))
    return batch


def test_export_round_trip_reads_the_zip_and_the_embedded_invite_id(engine, qx):
    provider = build(engine, qx)
    batch = sent(provider, qx)
    rid1 = qx.respond("inv-0001", VALUES, labels=LABELS, recorded_at=T0)
    rid2 = qx.respond("inv-0002", {**VALUES, "QID1": 5}, labels=LABELS, recorded_at=T0 + timedelta(hours=1))
    qx.respond("inv-0003", {"QID1": 1}, finished=False)  # still in progress: not exported
    before = qx.count
    items, cursor = provider.fetch_responses("pre-meeting", None)
    items = list(items)
    assert [(r.response_id, r.invite_id) for r in items] == [(rid1, "inv-0001"), (rid2, "inv-0002")]
    assert items[0].answers == ANSWERS and items[1].answers["satisfaction"] == 5
    assert items[0].submitted_at == T0 and items[0].contact_email == batch[0].contact_email
    assert cursor and cursor in qx.continuations
    export = [r for r in qx.requests[before:]]
    assert [(r.method, r.route.rsplit("/", 1)[-1]) for r in export][0] == ("POST", "export-responses")
    assert export[0].json() == {"format": "json", "compress": True, "allowContinuation": True}
    assert export[-1].route.endswith("/file") and len(export) == 1 + 3 + 1  # start, 3 polls, file


def test_the_continuation_token_fetches_only_newer_responses(engine, qx):
    provider = build(engine, qx)
    sent(provider, qx)
    first = qx.respond("inv-0001", VALUES, labels=LABELS)
    items, cursor = provider.fetch_responses("pre-meeting", None)
    assert [r.response_id for r in items] == [first]
    items, cursor2 = provider.fetch_responses("pre-meeting", cursor)
    assert list(items) == []
    assert posts(qx, "/export-responses")[-1].json() == {"format": "json", "compress": True,
                                                          "continuationToken": cursor}
    second = qx.respond("inv-0002", VALUES, labels=LABELS)
    items, _ = provider.fetch_responses("pre-meeting", cursor2)
    assert [r.response_id for r in items] == [second]


def test_duplicates_in_an_export_are_returned_once(engine, qx):
    provider = build(engine, qx)
    sent(provider, qx)
    qx.duplicate_in_export = True
    ids = [qx.respond(f"inv-000{n}", VALUES, labels=LABELS) for n in (1, 2)]
    items, _ = provider.fetch_responses("pre-meeting", None)
    assert [r.response_id for r in items] == ids


def test_a_time_cursor_exports_from_then_and_a_stale_token_is_refused(engine, qx):
    provider = build(engine, qx)
    sent(provider, qx)
    qx.respond("inv-0001", VALUES, recorded_at=T0)
    later = qx.respond("inv-0002", VALUES, recorded_at=T0 + timedelta(days=1))
    items, cursor = provider.fetch_responses("pre-meeting", (T0 + timedelta(hours=1)).isoformat())
    assert [r.response_id for r in items] == [later] and cursor in qx.continuations
    assert posts(qx, "/export-responses")[-1].json() == {"format": "json", "compress": True,
                                                          "startDate": "2027-03-02T10:00:00Z",
                                                          "allowContinuation": True}
    with pytest.raises(ProviderError, match="refused the stored continuation token .*collect once with --since") \
            as caught:
        provider.fetch_responses("pre-meeting", "not-a-token-we-issued")
    assert caught.value.retry is False


def test_a_slow_or_failed_export_is_a_provider_error(engine):
    with QualtricsDouble(export_polls=1000) as qx:
        qx.add_survey(SV)
        provider = build(engine, qx, export_timeout=0.3, poll_interval=0.05)
        started = time.monotonic()
        with pytest.raises(ProviderError, match="the response export was not complete after 0.3s"):
            provider.fetch_responses("pre-meeting", None)
        assert time.monotonic() - started < 2
        qx.when(lambda r: r.method == "GET" and "/export-responses/ES_" in r.route,
                envelope({"percentComplete": 0.0, "status": "failed"}))
        with pytest.raises(ProviderError, match="the response export failed at Qualtrics"):
            provider.fetch_responses("pre-meeting", None)
        qx.revoke()
        with pytest.raises(ProviderError, match="refused the API token") as caught:
            provider.fetch_responses("pre-meeting", None)
        assert TOKEN not in str(caught.value)


def test_a_broken_export_file_is_a_provider_error(engine, qx):
    from tierctl.testing import Reply

    provider = build(engine, qx)
    qx.when(lambda r: r.route.endswith("/file"), Reply(200, b"PK\x03\x04 not really a zip"))
    with pytest.raises(ProviderError, match="is not a ZIP with a JSON file"):
        provider.fetch_responses("pre-meeting", None)


# -- the real engine -------------------------------------------------------------------------------

ENGINE_YAML = PROJECT_YAML.replace("provider: mail", "provider: qx").replace(
    "  mail: {plugin: outbox",
    "  qx:\n"
    "    plugin: qualtrics\n"
    "    token: ${QUALTRICS_TOKEN}\n"
    "    base_url: BASE_URL\n"
    f"    directory_id: {DIRECTORY}\n"
    f"    library_id: {LIBRARY}\n"
    f"    message_id: {MESSAGE}\n"
    "    from_email: surveys@acme.example\n"
    "    surveys: {pre-meeting: SV_pre1, product-feedback: SV_feedback1}\n"
    "    questions: {nps: QID1}\n"
    "    poll_interval: 0.01\n"
    "    requests_per_second: 50\n"
    "  mail: {plugin: outbox")


def test_survey_send_through_qualtrics_then_collect(project, host):
    from tierctl.responses.collect import collect
    from tierctl.surveys.send_run import SurveyRun

    rows = [[f"acc{i}", f"Account {i}", "enterprise", "active", f"p{i}@acc{i}.example", f"P {i}", "user", "en"]
            for i in range(5)]
    with QualtricsDouble() as qx:
        qx.add_survey("SV_pre1")
        qx.add_survey("SV_feedback1", "Quarterly product feedback")
        config = load_config(project(rows, yaml=ENGINE_YAML.replace("BASE_URL", qx.url + "/API/v3")), host,
                             env={"QUALTRICS_TOKEN": TOKEN})
        now = datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc)
        run = SurveyRun(config, host, now)
        with run.open_ledger() as ledger:
            report = run.send(ledger)
            assert (report.sent, report.failures, report.provider_errors) == (5, [], [])
            assert SurveyRun(config, host, now).send(ledger).sent == 0  # exactly once
            invited = {row["invite_id"] for row in ledger.invitations(state="sent")}
        assert {d.embedded["invite_id"] for d in qx.deliveries} == invited and len(qx.deliveries) == 5
        assert {d.embedded["tier"] for d in qx.deliveries} == {"advanced"}
        answered = sorted(invited)[:4]
        for n, invite_id in enumerate(answered):
            qx.respond(invite_id, {"QID1": 6 + n})
        with run.open_ledger() as ledger:
            result = collect(config, ledger, host, now=now + timedelta(days=2))
            assert (result.errors, result.problems, result.added) == ([], [], 4)
            assert collect(config, ledger, host, now=now + timedelta(days=3)).added == 0
            stored = [r for row in rows for r in ledger.responses_for_account(row[0])]
        assert sorted(r["invite_id"] for r in stored) == answered
        assert sorted(r["answers"]["nps"]["score"] for r in stored) == [6, 7, 8, 9]
        assert not qx.errors


def test_a_multi_select_question_is_read_as_its_list_of_labels(engine, qx):
    """Qualtrics exports a multi-select answer as lists (choice numbers in values, texts in labels);
    a multiple_choice question takes the labels, which the checks store as a JSON list."""
    from tierctl.responses.store import AnswerChecks

    surveys = {"pre-meeting": {**SURVEYS["pre-meeting"], "questions": [
        *SURVEYS["pre-meeting"]["questions"],
        {"id": "features", "type": "multiple_choice", "text": "Which features do you use?",
         "choices": ["Reports", "Exports", "Alerts"]}]}}
    provider = build(engine, qx, surveys, questions={"satisfaction": "QID1", "agenda": "QID2_TEXT", "channel": "QID3",
                                                     "features": "QID5"})
    sent(provider, qx)
    qx.respond("inv-0001", {**VALUES, "QID5": [1, 3]}, labels={**LABELS, "QID5": ["Reports", "Alerts"]},
               recorded_at=T0)
    [item] = list(provider.fetch_responses("pre-meeting", None)[0])
    assert item.answers["features"] == ["Reports", "Alerts"]
    checks = AnswerChecks(provider.context.config.surveys["pre-meeting"])
    assert checks.check({"features": item.answers["features"]}) == ({"features": '["Reports", "Alerts"]'}, [])
