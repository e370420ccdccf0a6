"""The surveymonkey provider against its API double on 127.0.0.1 (real sockets, no mocks of requests).

What is under test: the collector -> message -> bulk recipients -> send flow and its per-invitation
results, the custom_fields gotcha, collector reuse, the rate-limit headers (429 without Retry-After,
the per-minute and the daily budget, stopping cleanly and resuming the next day through the real
engine), error messages without the token, retries that never send anything twice, and fetching
responses page by page, de-duplicated, from an overlapping cursor.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from doubles.surveymonkey import SurveyMonkeyDouble, sm_error
from project_fixtures import PROJECT_YAML
from pydantic import ValidationError

from tierctl.plugins.provider_surveymonkey import BUDGET_SPENT, SurveyMonkeyProvider
from tierctl.providers import ProviderError
from tierctl.testing import invitation, invitations

SM_SURVEY = "405123456"
QUESTIONS = {"812001": "What should we cover in our next call?",
             "812002": ("How satisfied are you so far?", ["1", "2", "3", "4", "5"]),
             "812003": "Anything else?"}


@pytest.fixture
def sm():
    with SurveyMonkeyDouble(minute_limit=10_000, day_limit=10_000) as double:
        double.add_survey(SM_SURVEY, QUESTIONS)
        double.add_survey("406", {"813001": "Would you recommend us?"})
        yield double
        assert not double.errors, double.errors


def make(engine, sm: SurveyMonkeyDouble, config_surveys: dict | None = None, **options) -> SurveyMonkeyProvider:
    """The monkey instance, built by the kit's engine as ``survey send`` builds it (real clock), with the
    sample survey (its questions match the double's headings) or ``config_surveys``."""
    values = {"token": sm.token, "base_url": sm.base_url, "surveys": {"pre-meeting": SM_SURVEY, "other": "406"},
              "requests_per_minute": 60_000, "backoff_factor": 0.01, "timeout": 5}
    values.update(options)
    return engine.provider("surveymonkey", values, instance="monkey", surveys=config_surveys)


def bodies(sm: SurveyMonkeyDouble, fragment: str) -> list[dict]:
    """The JSON bodies of the POSTs whose path ends with ``fragment``, in order."""
    return [json.loads(r.body) for r in sm.requests if r.route.endswith(fragment) and r.method == "POST"]


# -- sending ------------------------------------------------------------------------------------


def test_a_batch_goes_out_through_collector_message_bulk_and_send(engine, sm):
    provider = make(engine, sm)
    results = provider.send(invitations(3))
    provider.close()

    assert [(r.invite_id, r.ok) for r in results] == [("inv-0001", True), ("inv-0002", True), ("inv-0003", True)]
    assert all(r.external_id and r.external_id.isdigit() for r in results)
    assert [f"{r.method} {r.route.split('/v3')[1]}" for r in sm.requests] == [
        f"POST /surveys/{SM_SURVEY}/collectors",
        "POST /collectors/{c}/messages".format(c=sm.requests[1].route.split("/")[3]),
        "POST /collectors/{c}/messages/{m}/recipients/bulk".format(c=sm.requests[2].route.split("/")[3],
                                                                  m=sm.requests[2].route.split("/")[5]),
        "POST /collectors/{c}/messages/{m}/send".format(c=sm.requests[3].route.split("/")[3],
                                                       m=sm.requests[3].route.split("/")[5]),
    ]
    assert all(r.headers["authorization"] == f"bearer {sm.token}" for r in sm.requests)
    [collector] = bodies(sm, "/collectors")
    assert collector["type"] == "email" and collector["name"].startswith("tierctl pre-meeting ")
    [message] = bodies(sm, "/messages")
    assert message["type"] == "invite" and message["subject"] == "Before our account review"
    for placeholder in ("[SurveyLink]", "[OptOutLink]", "[PrivacyLink]", "[FooterLink]"):
        assert placeholder in message["body_html"]
    assert "Acme Analytics" in message["body_html"] and "Before our account review" in message["body_html"]
    [bulk] = bodies(sm, "/recipients/bulk")
    assert bulk["contacts"][0] == {"email": "contact1@globex.example", "first_name": "Zoë",
                                   "last_name": "Contact1", "custom_fields": {"1": "inv-0001"}}
    assert bodies(sm, "/send") == [{}]
    assert sm.delivered_invite_ids() == ["inv-0001", "inv-0002", "inv-0003"]


def test_every_contact_carries_custom_fields_because_a_bulk_add_clears_them_otherwise(engine, sm):
    # The double models the documented gotcha: a contact without custom_fields in a bulk add
    # where another contact has some loses its own.
    url = sm.base_url
    headers = {"Authorization": f"bearer {sm.token}"}
    collector = requests.post(f"{url}/surveys/{SM_SURVEY}/collectors", json={"type": "email"}, headers=headers).json()
    first = requests.post(f"{url}/collectors/{collector['id']}/messages",
                          json={"type": "invite", "body_html": "[SurveyLink][OptOutLink][PrivacyLink][FooterLink]"},
                          headers=headers).json()
    requests.post(f"{url}/collectors/{collector['id']}/messages/{first['id']}/recipients/bulk",
                  json={"contacts": [{"email": "kept@globex.example", "custom_fields": {"1": "old-invite"}}]},
                  headers=headers)
    other = requests.post(f"{url}/surveys/406/collectors", json={"type": "email"}, headers=headers).json()
    second = requests.post(f"{url}/collectors/{other['id']}/messages",
                           json={"type": "invite", "body_html": "[SurveyLink][OptOutLink][PrivacyLink][FooterLink]"},
                           headers=headers).json()
    requests.post(f"{url}/collectors/{other['id']}/messages/{second['id']}/recipients/bulk",
                  json={"contacts": [{"email": "kept@globex.example"},
                                     {"email": "x@globex.example", "custom_fields": {"1": "new"}}]},
                  headers=headers)
    assert sm.contacts["kept@globex.example"]["custom_fields"] == {}

    provider = make(engine, sm, invite_field=3)
    provider.send(invitations(4))
    provider.close()
    [bulk] = bodies(sm, "/recipients/bulk")[2:]
    assert [c["custom_fields"] for c in bulk["contacts"]] == [{"3": f"inv-000{n}"} for n in range(1, 5)]


def test_partial_bulk_results_give_one_result_per_invitation(engine, sm):
    sm.bounce("contact2@globex.example")
    sm.opt_out("contact4@globex.example")
    batch = invitations(5)
    batch[2] = invitation(3, contact_email="not-an-address")
    provider = make(engine, sm)
    results = provider.send(batch)
    provider.close()

    assert [r.invite_id for r in results] == [i.invite_id for i in batch]
    by_id = {r.invite_id: r for r in results}
    assert by_id["inv-0001"].ok and by_id["inv-0005"].ok
    assert (by_id["inv-0002"].ok, by_id["inv-0002"].retry) == (False, False) and "bounced" in by_id["inv-0002"].reason
    assert (by_id["inv-0003"].ok, by_id["inv-0003"].retry) == (False, False) and "invalid" in by_id["inv-0003"].reason
    assert (by_id["inv-0004"].ok, by_id["inv-0004"].retry) == (False, False) and "opted out" in by_id["inv-0004"].reason
    assert sm.delivered_invite_ids() == ["inv-0001", "inv-0005"]
    # SurveyMonkey's opt-outs and bounces are the person's: tierctl suppresses them (an invalid address is not).
    assert [by_id[i].opted_out for i in ("inv-0002", "inv-0003", "inv-0004")] == [True, False, True]


def test_nothing_valid_in_a_part_sends_no_message(engine, sm):
    sm.bounce("contact1@globex.example")
    provider = make(engine, sm)
    [result] = provider.send(invitations(1))
    provider.close()
    assert not result.ok and not result.retry
    assert not bodies(sm, "/send") and not sm.deliveries


def test_the_collector_is_reused_by_every_batch_of_a_run_but_not_by_the_next_run(engine, sm):
    provider = make(engine, sm)
    for start in (1, 4, 7):
        assert all(r.ok for r in provider.send(invitations(3, start=start)))
    provider.close()
    assert len(bodies(sm, f"/surveys/{SM_SURVEY}/collectors")) == 1
    assert len(bodies(sm, "/send")) == 3 and len(sm.requests) == 1 + 3 * 3

    again = make(engine, sm)  # the next run: a new collector, since SurveyMonkey invites an address once per collector
    assert again.send([invitation(1, invite_id="inv-next-quarter")])[0].ok
    again.close()
    assert len(bodies(sm, f"/surveys/{SM_SURVEY}/collectors")) == 2
    assert sm.delivered()[(SM_SURVEY, "contact1@globex.example")] == 2


def test_surveys_of_one_batch_go_through_their_own_collectors(engine, sm):
    batch = [invitation(1), invitation(2, survey_id="other", survey_title="Quarterly feedback"), invitation(3)]
    provider = make(engine, sm)
    results = provider.send(batch)
    provider.close()
    assert [r.invite_id for r in results] == ["inv-0001", "inv-0002", "inv-0003"] and all(r.ok for r in results)
    assert sorted(b["subject"] for b in bodies(sm, "/messages") if "subject" in b) == \
        ["Before our account review", "Quarterly feedback"]
    assert Counter(d["survey_id"] for d in sm.deliveries) == {SM_SURVEY: 2, "406": 1}


def test_an_unmapped_survey_fails_its_invitations_for_a_later_run(engine, sm):
    provider = make(engine, sm)
    results = provider.send([invitation(1), invitation(2, survey_id="unknown-survey")])
    provider.close()
    assert results[0].ok
    assert (results[1].ok, results[1].retry) == (False, True)
    assert "providers.monkey.surveys" in results[1].reason and "unknown-survey" in results[1].reason


def test_an_unknown_survey_id_on_surveymonkey_is_named(engine, sm):
    provider = make(engine, sm, surveys={"pre-meeting": "999"})
    [result] = provider.send(invitations(1))
    provider.close()
    assert (result.ok, result.retry) == (False, True)
    assert "SurveyMonkey has no survey 999" in result.reason and "providers.monkey.surveys.pre-meeting" in result.reason


def test_the_same_address_twice_in_a_run_goes_out_once_now_and_once_next_run(engine, sm):
    provider = make(engine, sm)
    first = provider.send([invitation(1), invitation(2, contact_email="contact1@globex.example"), invitation(3)])
    later = provider.send([invitation(4, contact_email="CONTACT3@globex.example")])
    provider.close()
    assert [r.ok for r in first] == [True, False, True] and first[1].retry
    assert (later[0].ok, later[0].retry) == (False, True) and "next run" in later[0].reason
    assert sm.delivered()[(SM_SURVEY, "contact1@globex.example")] == 1
    nxt = make(engine, sm)
    assert [r.ok for r in nxt.send([invitation(2, contact_email="contact1@globex.example"),
                                     invitation(4, contact_email="CONTACT3@globex.example")])] == [True, True]
    nxt.close()
    assert sm.delivered()[(SM_SURVEY, "contact1@globex.example")] == 2


# -- rate limits --------------------------------------------------------------------------------


def test_the_minute_budget_in_the_headers_is_waited_for_without_a_429(engine):
    with SurveyMonkeyDouble(minute_limit=4, minute_seconds=1.0) as sm:
        sm.add_survey(SM_SURVEY, QUESTIONS)
        provider = make(engine, sm, requests_per_minute=60_000)
        started = time.monotonic()
        for start in (1, 3, 5):
            assert all(r.ok for r in provider.send(invitations(2, start=start)))
        elapsed = time.monotonic() - started
        provider.close()
        assert sm.rate_limited == 0 and sm.accepted == 10
        assert elapsed >= 2.0  # 10 requests, 4 a "minute": three windows
        assert sm.max_requests_in(0.99) <= 4


def test_a_429_without_retry_after_waits_for_the_minute_reset_and_retries(engine):
    with SurveyMonkeyDouble(minute_limit=5, minute_seconds=1.0) as sm:
        sm.add_survey(SM_SURVEY, QUESTIONS)
        # Another client of the same app spends this minute's budget: the provider's next call gets a 429.
        other = requests.Session()
        other.headers["Authorization"] = f"bearer {sm.token}"
        answers = [other.get(f"{sm.base_url}/users/me") for _ in range(6)]
        assert answers[-1].status_code == 429 and "Retry-After" not in answers[-1].headers
        assert answers[-1].json()["error"]["id"] == "1040"
        provider = make(engine, sm)
        started = time.monotonic()
        [result] = provider.send(invitations(1))
        provider.close()
        assert result.ok and provider.rate_limited == 1
        assert time.monotonic() - started >= 0.5
        assert sm.rate_limited == 2  # the other client's and the provider's one


def test_429s_that_do_not_stop_fail_the_invitations_for_a_later_run(engine, sm):
    sm.fail_next(reply=sm_error("1040", "Too many requests were made, try again later."), times=20,
                 path="/recipients/bulk")
    provider = make(engine, sm, max_retries=1, max_rate_wait=0.05)
    results = provider.send(invitations(2))
    provider.close()
    assert all(not r.ok and r.retry and "429" in r.reason for r in results)
    assert not sm.deliveries


def write_project(tmp_path: Path, sm: SurveyMonkeyDouble, rows: int, **options) -> Path:
    from project_fixtures import write_customers, write_ics

    write_customers(tmp_path / "customers.csv",
                    [[f"acc{i // 4}", f"Account {i // 4}", "starter", "active", f"p{i}@acc{i // 4}.example",
                      f"Person {i}", "user", "en"] for i in range(rows)])
    write_ics(tmp_path / "meetings.ics", [])
    opts = {"token": "${SM_TOKEN}", "base_url": sm.base_url,
            "surveys": {"product-feedback": "406", "pre-meeting": SM_SURVEY}, "requests_per_minute": 60_000,
            "backoff_factor": 0.01, **options}
    yaml = PROJECT_YAML.replace("provider: mail", "provider: monkey").replace(
        "providers:\n", f"providers:\n  monkey: {json.dumps({'plugin': 'surveymonkey', **opts})}\n")
    (tmp_path / "tierctl.yaml").write_text(yaml, encoding="utf-8")
    return tmp_path / "tierctl.yaml"


def test_the_daily_budget_stops_a_run_cleanly_and_the_next_day_sends_the_rest_once(tmp_path, monkeypatch, host):
    from tierctl.config.loader import load_config
    from tierctl.surveys.send_run import SurveyRun

    monkeypatch.setenv("SM_TOKEN", "sm-test-token-Xq7c2LmN9vB4kR8w")
    with SurveyMonkeyDouble(day_limit=8) as sm:
        sm.add_survey("406", {"813001": "Would you recommend us?"})
        config = load_config(write_project(tmp_path, sm, 12, batch_size=3), host)

        run = SurveyRun(config, host, datetime(2027, 1, 4, 9, tzinfo=timezone.utc))
        ledger = run.open_ledger()
        first = run.send(ledger)
        ledger.close()
        # Collector + two batches (7 requests); the third batch would need 3 of the last 1.
        assert (first.due, first.sent) == (12, 6)
        assert len(first.failures) == 6 and all(f.retry for f in first.failures)
        assert sum(BUDGET_SPENT in f.reason for f in first.failures) == 6
        assert any(BUDGET_SPENT in e for e in first.provider_errors) and first.exit_code == 1
        assert sm.accepted == 7 and sm.rate_limited == 0 and len(sm.deliveries) == 6

        sm.new_day()
        config = load_config(tmp_path / "tierctl.yaml", host)
        run = SurveyRun(config, host, datetime(2027, 1, 5, 9, tzinfo=timezone.utc))
        ledger = run.open_ledger()
        second = run.send(ledger)
        ledger.close()
        assert (second.due, second.sent, second.exit_code) == (6, 6, 0)
        assert sm.delivered() == {("406", f"p{i}@acc{i // 4}.example"): 1 for i in range(12)}
        assert sm.rate_limited == 0


def test_the_day_remaining_header_stops_before_the_budget_runs_out(engine, sm):
    sm.day_limit = 5
    provider = make(engine, sm, batch_size=2)
    assert all(r.ok for r in provider.send(invitations(2)))  # 4 requests; 1 left
    stopped = provider.send(invitations(2, start=3))
    assert all((r.ok, r.retry, r.reason) == (False, True, BUDGET_SPENT) for r in stopped)
    with pytest.raises(ProviderError) as info:
        provider.send(invitations(1, start=5))
    provider.close()
    assert info.value.retry and "monkey" in str(info.value) and "(5/day, resets 00:00 UTC)" in str(info.value)
    assert sm.rate_limited == 0 and len(sm.deliveries) == 2


def test_the_engine_send_and_collect_round_trip_through_the_ledger(tmp_path, monkeypatch, host):
    from tierctl.config.loader import load_config
    from tierctl.responses.collect import collect
    from tierctl.surveys.send_run import SurveyRun

    monkeypatch.setenv("SM_TOKEN", "sm-test-token-Xq7c2LmN9vB4kR8w")
    with SurveyMonkeyDouble() as sm:
        sm.add_survey("406", {"813001": ("Would you recommend us?", [str(n) for n in range(11)])})
        sm.add_survey(SM_SURVEY, QUESTIONS)
        config = load_config(write_project(tmp_path, sm, 6), host)
        sm.opt_out("p5@acc1.example")  # opted out of SurveyMonkey's e-mails: becomes a tierctl suppression
        now = datetime(2027, 1, 4, 9, tzinfo=timezone.utc)
        run = SurveyRun(config, host, now)
        ledger = run.open_ledger()
        report = run.send(ledger)
        assert report.sent == 5
        assert [(s["address"], s["survey_id"], s["source"]) for s in ledger.suppressions()] == [
            ("p5@acc1.example", None, "provider")]
        for n, delivery in enumerate(sm.deliveries[:3]):
            sm.respond(delivery["custom_fields"]["1"], {"813001": str(7 + n)})
        result = collect(config, ledger, host, now=now)
        again = collect(config, ledger, host, now=now)
        ledger.close()
    assert not result.errors and not result.problems, (result.errors, result.problems)
    assert result.added == 3 and again.added == 0 and again.duplicates == 0


# -- errors -------------------------------------------------------------------------------------


def test_a_revoked_token_stops_the_provider_with_a_message_naming_the_instance_not_the_token(engine, sm, caplog):
    caplog.set_level(logging.DEBUG)
    sm.revoke_token()
    provider = make(engine, sm)
    with pytest.raises(ProviderError) as info:
        provider.send(invitations(2))
    with pytest.raises(ProviderError) as fetched:
        provider.fetch_responses("pre-meeting", None)
    provider.close()
    text = str(info.value)
    assert text.startswith("provider monkey: ") and "1013" in text and "revoked" in text
    assert "SM_TOKEN" in text and "developer.surveymonkey.com" in text and info.value.retry is False
    for shown in (text, repr(info.value), str(fetched.value), caplog.text, repr(provider), repr(provider.options)):
        assert sm.token not in shown


def test_a_wrong_data_centre_names_base_url(engine, sm):
    sm.wrong_region = True
    provider = make(engine, sm)
    with pytest.raises(ProviderError) as info:
        provider.send(invitations(1))
    provider.close()
    assert "1018" in str(info.value) and "base_url" in str(info.value) and "access_url" in str(info.value)


def test_an_error_that_echoes_the_token_is_redacted(engine, sm):
    sm.fail_next(reply=sm_error("1000", f"bad header: bearer {sm.token}"), path="/messages", method="POST")
    provider = make(engine, sm)
    [result] = provider.send(invitations(1))
    provider.close()
    assert not result.ok and "bad header" in result.reason and sm.token not in result.reason


def test_a_token_revoked_half_way_keeps_what_went_out(engine, sm):
    sm.fail_next(reply=sm_error("1013", "The access token was revoked by the user."), path="/surveys/406/collectors")
    batch = [invitation(1), invitation(2, survey_id="other"), invitation(3)]
    provider = make(engine, sm)
    results = provider.send(batch)
    assert [(r.invite_id, r.ok) for r in results] == [("inv-0001", True), ("inv-0002", False), ("inv-0003", True)]
    assert results[1].retry
    with pytest.raises(ProviderError):
        provider.send(invitations(1, start=9))
    provider.close()
    assert sm.delivered_invite_ids() == ["inv-0001", "inv-0003"]


def test_5xx_is_retried_with_backoff(engine, sm):
    sm.fail_next(500, times=2, path="/recipients/bulk")
    provider = make(engine, sm)
    results = provider.send(invitations(2))
    provider.close()
    assert all(r.ok for r in results)
    assert len(bodies(sm, "/recipients/bulk")) == 3 and sm.delivered_invite_ids() == ["inv-0001", "inv-0002"]


def test_5xx_after_the_retries_fails_for_a_later_run_and_sends_nothing(engine, sm):
    sm.fail_next(503, times=10, path="/messages", method="POST")
    provider = make(engine, sm, max_retries=2)
    results = provider.send(invitations(2))
    provider.close()
    assert all(not r.ok and r.retry and "HTTP 503" in r.reason and "3 attempts" in r.reason for r in results)
    assert not sm.deliveries


def test_a_lost_bulk_answer_is_retried_into_the_same_message_without_doubles(engine, sm):
    sm.fail_next(500, path="/recipients/bulk", apply=True)  # carried out, answer lost
    provider = make(engine, sm)
    results = provider.send(invitations(3))
    provider.close()
    assert all(r.ok for r in results)
    assert sm.delivered_invite_ids() == ["inv-0001", "inv-0002", "inv-0003"]
    assert (len(bodies(sm, "/messages")), len(bodies(sm, "/recipients/bulk")), len(bodies(sm, "/send"))) == (1, 2, 1)


def test_a_send_whose_answer_times_out_is_settled_by_the_message_status(engine, sm):
    sm.slow_next(1.0, path="/send")  # sent, but the answer comes after the timeout
    provider = make(engine, sm, timeout=0.3)
    results = provider.send(invitations(2))
    provider.close()
    assert all(r.ok for r in results)
    assert sm.delivered_invite_ids() == ["inv-0001", "inv-0002"]  # once, not resent
    assert sm.calls["GET /v3/collectors/{id}/messages/{id}"] == 1


def test_a_send_that_failed_before_sending_is_sent_again(engine, sm):
    sm.fail_next(503, path="/send")  # not carried out
    provider = make(engine, sm)
    results = provider.send(invitations(2))
    provider.close()
    assert all(r.ok for r in results)
    assert len(bodies(sm, "/send")) == 2 and sm.delivered_invite_ids() == ["inv-0001", "inv-0002"]


def test_a_send_whose_outcome_cannot_be_told_gets_no_result(engine, sm):
    sm.slow_next(1.0, path="/send")
    sm.fail_next(500, times=10, method="GET", path="/messages/")
    provider = make(engine, sm, timeout=0.3, max_retries=1)
    results = provider.send(invitations(2))
    provider.close()
    assert results == []  # the engine lists them as unknown: they did go out here
    assert len(sm.deliveries) == 2


def test_timeouts_are_set_on_every_request(engine, sm):
    sm.slow_next(2.0, times=5, path="/collectors", method="POST", apply=False)
    provider = make(engine, sm, timeout=0.3, max_retries=1)
    started = time.monotonic()
    results = provider.send(invitations(2))
    provider.close()
    assert time.monotonic() - started < 1.5
    assert all(not r.ok and r.retry and "read timeout after 0.3s" in r.reason for r in results)


def test_an_unreachable_api_stops_the_provider(engine, sm):
    from tierctl.testing import unused_port

    provider = make(engine, sm, base_url=f"http://127.0.0.1:{unused_port()}/v3", max_retries=0)
    with pytest.raises(ProviderError) as info:
        provider.send(invitations(1))
    provider.close()
    assert "cannot reach 127.0.0.1" in str(info.value) and info.value.retry


# -- responses ----------------------------------------------------------------------------------


def send_and_answer(sm: SurveyMonkeyDouble, provider: SurveyMonkeyProvider, count: int, at: datetime,
                    step: timedelta = timedelta(seconds=1)) -> list[str]:
    batch = invitations(count)
    for start in range(0, count, 100):
        assert all(r.ok for r in provider.send(batch[start:start + 100]))
    return [sm.respond(inv.invite_id, {"812001": f"Topic {n}", "812002": str(1 + n % 5)}, at=at + n * step)
            for n, inv in enumerate(batch)]


def test_fetch_follows_links_next_and_drops_duplicates_across_pages(engine, sm):
    sm.duplicate_across_pages = True
    provider = make(engine, sm)
    ids = send_and_answer(sm, provider, 250, datetime(2027, 3, 2, 8, tzinfo=timezone.utc))
    before = len(sm.requests)
    responses, cursor = provider.fetch_responses("pre-meeting", None)
    provider.close()
    pages = sm.requests[before:]
    assert len(pages) == 3
    assert pages[0].query == {"per_page": "100", "sort_by": "date_modified", "sort_order": "ASC", "simple": "true",
                              "status": "completed"}
    assert pages[2].query["page"] == "3"
    assert [r.response_id for r in responses] == ids  # 250, each once, oldest first
    first = responses[0]
    assert first.invite_id == "inv-0001" and first.contact_email == "contact1@globex.example"
    assert first.answers == {"agenda": "Topic 0", "satisfaction": "1"}
    assert first.submitted_at == datetime(2027, 3, 2, 8, tzinfo=timezone.utc)
    assert json.loads(cursor)["modified"] == "2027-03-02T08:04:09+00:00"


def test_the_cursor_overlaps_and_still_returns_each_response_once(engine, sm):
    provider = make(engine, sm, fetch_overlap=600)
    t0 = datetime(2027, 3, 2, 8, tzinfo=timezone.utc)
    send_and_answer(sm, provider, 3, t0, step=timedelta(minutes=1))
    first, cursor = provider.fetch_responses("pre-meeting", None)
    assert len(first) == 3
    # Indexed late: modified before the cursor, inside the overlap window; and one too old to be seen.
    late = sm.respond(email="contact1@globex.example", answers={"812003": "late"}, at=t0 - timedelta(minutes=5))
    sm.respond(email="contact2@globex.example", answers={"812003": "ancient"}, at=t0 - timedelta(hours=1))
    fresh = sm.respond("inv-0003", {"812001": "new"}, at=t0 + timedelta(minutes=30))
    before = len(sm.requests)
    second, cursor2 = provider.fetch_responses("pre-meeting", cursor)
    assert sm.requests[before].query["start_modified_at"] == "2027-03-02T07:52:00"  # cursor 08:02 - 10 min
    assert [r.response_id for r in second] == [late, fresh]
    third, cursor3 = provider.fetch_responses("pre-meeting", cursor2)
    provider.close()
    assert third == [] and cursor3 == cursor2


def test_an_edited_response_comes_back_as_its_new_version(engine, sm):
    provider = make(engine, sm)
    [rid] = send_and_answer(sm, provider, 1, datetime(2027, 3, 2, 8, tzinfo=timezone.utc))
    _, cursor = provider.fetch_responses("pre-meeting", None)
    sm.edit_response(rid, {"812001": "Changed my mind"}, at=datetime(2027, 3, 2, 8, 1, tzinfo=timezone.utc))
    [again], _ = provider.fetch_responses("pre-meeting", cursor)
    provider.close()
    assert again.response_id == rid and again.answers == {"agenda": "Changed my mind"}


def test_a_time_is_a_cursor_and_a_bad_cursor_is_named(engine, sm):
    provider = make(engine, sm)
    send_and_answer(sm, provider, 2, datetime(2027, 3, 2, 8, tzinfo=timezone.utc))
    responses, _ = provider.fetch_responses("pre-meeting", "2027-03-02T08:00:01+00:00")
    assert [r.invite_id for r in responses] == ["inv-0001", "inv-0002"]  # minus the overlap
    with pytest.raises(ProviderError) as info:
        provider.fetch_responses("pre-meeting", "yesterday")
    provider.close()
    assert "monkey" in str(info.value) and "ISO 8601" in str(info.value)


def test_question_map_invite_field_and_custom_variables(engine, sm):
    # No question of the config's survey has the text of a SurveyMonkey heading: only the map applies.
    unmatched = {"pre-meeting": {"title": "Before our call", "provider": "monkey",
                                 "questions": [{"id": "agenda", "type": "text", "text": "Topics for the call?"}]}}
    provider = make(engine, sm, unmatched, invite_field=2,
                    surveys={"pre-meeting": {"id": SM_SURVEY, "questions": {"812003": "agenda"}}})
    assert provider.send(invitations(1))[0].ok
    sm.respond("inv-0001", {"812003": "Mapped", "812001": "no config survey: not matched", "812002": "3"})
    sm.respond(survey_id=SM_SURVEY, custom_variables={"invite_id": "inv-web"}, answers={"812003": "From a link"})
    responses, _ = provider.fetch_responses("pre-meeting", None)
    provider.close()
    assert [(r.invite_id, r.answers) for r in responses] == [("inv-0001", {"agenda": "Mapped"}),
                                                               ("inv-web", {"agenda": "From a link"})]
    assert responses[1].contact_email is None


def test_fetch_errors_are_provider_errors(engine, sm):
    sm.fail_next(500, times=10, path="/responses/bulk")
    provider = make(engine, sm, max_retries=1)
    with pytest.raises(ProviderError) as info:
        provider.fetch_responses("pre-meeting", None)
    with pytest.raises(ProviderError) as unmapped:
        provider.fetch_responses("nope", None)
    provider.close()
    assert "HTTP 500" in str(info.value) and info.value.retry and "monkey" in str(unmapped.value)


def test_a_fetch_that_spends_the_day_keeps_what_it_read(engine, sm):
    provider = make(engine, sm)
    send_and_answer(sm, provider, 150, datetime(2027, 3, 2, 8, tzinfo=timezone.utc))
    sm.day_limit = sm.accepted + 1  # one page left today
    responses, cursor = provider.fetch_responses("pre-meeting", None)
    assert len(responses) == 100 and json.loads(cursor)["modified"] == "2027-03-02T08:01:39+00:00"
    with pytest.raises(ProviderError) as info:
        provider.fetch_responses("pre-meeting", cursor)
    provider.close()
    assert BUDGET_SPENT in str(info.value)


# -- options and secrets ------------------------------------------------------------------------


def options(**changes):
    return SurveyMonkeyProvider.Options.model_validate({"token": "tok-123456", "surveys": {"pre-meeting": 405},
                                                        **changes})


def test_options_defaults_and_checks():
    opts = options()
    assert opts.base_url == "https://api.surveymonkey.com/v3" and opts.requests_per_minute == 120
    assert opts.requests_per_day == 500 and opts.surveys["pre-meeting"].id == "405"
    with pytest.raises(ValidationError, match=r"\[PrivacyLink\], \[FooterLink\]"):
        options(body_html="<a href='[SurveyLink]'>go</a> [OptOutLink]")
    with pytest.raises(ValidationError, match="map each tierctl survey"):
        options(surveys={})
    with pytest.raises(ValidationError, match="not a SurveyMonkey survey id"):
        options(surveys={"pre-meeting": "../users/me"})
    with pytest.raises(ValidationError, match="not an API address"):
        options(base_url="api.surveymonkey.com")
    with pytest.raises(ValidationError, match="single, non-empty line"):
        options(subject="two\nlines")
    with pytest.raises(ValidationError, match="Extra inputs"):
        options(survey_id="405")


def test_the_provider_declares_its_pacing(engine, sm):
    provider = make(engine, sm, requests_per_minute=90, batch_size=250)
    assert provider.paces_itself and provider.can_fetch
    assert (provider.rate_limit.requests, provider.rate_limit.per_seconds) == (90, 60.0)
    assert provider.batch_size == 250 and provider.requests_per_invitation == pytest.approx(3 / 250)


def test_secrets_are_never_shown(engine, sm, caplog):
    caplog.set_level(logging.DEBUG)
    provider = make(engine, sm)
    send_and_answer(sm, provider, 2, datetime(2027, 3, 2, 8, tzinfo=timezone.utc))
    responses, cursor = provider.fetch_responses("pre-meeting", None)
    provider.close()
    shown = [repr(provider), str(provider), repr(provider.options), provider.options.model_dump_json(),
             repr(responses), cursor, caplog.text]
    assert all(sm.token not in text for text in shown)
    assert "**********" in repr(provider.options)


def test_several_ticked_choices_of_one_question_are_fetched_as_a_list_and_stored_as_multiple_choice(engine, sm):
    """A SurveyMonkey multiple_choice question with several boxes ticked: one answer per choice in
    the response; fetched as a list of the choices' texts, which the checks store as a JSON list."""
    from tierctl.responses.store import AnswerChecks

    sm.add_survey("407", {"814001": ("Which features do you use?", ["Reports", "Exports", "Alerts"])})
    surveys = {"features": {"title": "Features", "provider": "monkey",
                            "questions": [{"id": "used", "type": "multiple_choice", "text": "Which features do you use?",
                                           "choices": ["Reports", "Exports", "Alerts"]}]}}
    provider = make(engine, sm, surveys, surveys={"features": "407"})
    inv = invitation(1, survey_id="features", survey_title="Features")
    assert provider.send([inv])[0].ok
    sm.respond(inv.invite_id, {"814001": ["Alerts", "Reports"]})
    responses, _ = provider.fetch_responses("features", None)
    provider.close()
    [response] = list(responses)
    assert response.answers == {"used": ["Alerts", "Reports"]}
    checks = AnswerChecks(provider.context.config.surveys["features"])
    assert checks.check(response.answers) == ({"used": '["Reports", "Alerts"]'}, [])
