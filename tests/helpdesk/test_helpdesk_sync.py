"""``tierctl helpdesk sync`` against the Zendesk double (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
from doubles.zendesk import OAUTH, TOKEN, ZendeskDouble
from project_fixtures import PROJECT_YAML, run_cli

PLUGINS = "html,markdown,filters,csv,ical,outbox,zendesk"
ROWS = [["A1", "Tiny Co", "starter", "active", "ann@tiny.example", "Ann", "admin", "en"],
        ["A2", "Free Co", "free", "active", "cy@free.example", "Cy", "admin", "en"],
        ["A3", "Big Co", "enterprise", "active", "di@big.example", "Di", "key-stakeholder", "en"],
        ["A4", "Gone Co", "starter", "churned", "ed@gone.example", "Ed", "admin", "en"]]
TARGETS = {"basic": "{urgent: 1 business day, normal: 3 business days}",
           "advanced": "{urgent: 1h, normal: 4 business hours}"}


def zendesk_yaml(url: str, auth: str = "email: ops@acme.example\n    token: ${ZENDESK_TOKEN}", extra: str = "",
                 targets: dict[str, str] | None = None) -> str:
    targets = {**TARGETS, **(targets or {})}
    yaml = PROJECT_YAML.replace("    plans: [free, starter]\n",
                                f"    plans: [free, starter]\n    response_targets: {targets['basic']}\n")
    yaml = yaml.replace("    plans: [enterprise]\n",
                        f"    plans: [enterprise]\n    response_targets: {targets['advanced']}\n")
    return yaml + f"helpdesks:\n  zendesk:\n    plugin: zendesk\n    base_url: {url}\n    {auth}\n{extra}"


@pytest.fixture
def zendesk() -> Iterator[ZendeskDouble]:
    with ZendeskDouble() as zd:
        zd.add_organization("Tiny Co", external_id="a1", tags=["vip"])  # external ids match case-insensitively
        zd.add_organization("FREE CO")  # no external id: matched by name
        zd.add_organization("Big Co", external_id="A3", tags=["tier_basic"])  # a stale tier tag
        zd.add_organization("Someone else", external_id="X9", tags=["prospect"])
        yield zd
        assert not zd.errors


def sync(config: Path, *args: str, token: str = TOKEN) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), "helpdesk", "sync", *args], load_plugins=PLUGINS,
                   env={"ZENDESK_TOKEN": token})


def test_sync_creates_a_policy_per_tier_tags_organisations_and_a_second_run_changes_nothing(project, zendesk):
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url))
    code, out, err = sync(config)
    assert code == 0, err
    assert "create SLA policy 'Basic (tierctl)'" in out and "create SLA policy 'Advanced (tierctl)'" in out
    policies = {p["title"]: p for p in zendesk.policies.values()}
    basic = policies["Basic (tierctl)"]
    assert basic["filter"] == {"all": [{"field": "current_tags", "operator": "includes", "value": "tier_basic"}],
                               "any": []}
    # business days become business minutes (8-hour days); clock hours are calendar minutes
    assert sorted((m["priority"], m["metric"], m["target"], m["business_hours"]) for m in basic["policy_metrics"]) == [
        ("normal", "first_reply_time", 1440, True), ("urgent", "first_reply_time", 480, True)]
    advanced = policies["Advanced (tierctl)"]
    assert sorted((m["priority"], m["target"], m["business_hours"]) for m in advanced["policy_metrics"]) == [
        ("normal", 240, True), ("urgent", 60, False)]
    tags = {o["name"]: o["tags"] for o in zendesk.organizations.values()}
    assert tags == {"Tiny Co": ["vip", "tier_basic"], "FREE CO": ["tier_basic"], "Big Co": ["tier_advanced"],
                    "Someone else": ["prospect"]}
    writes = zendesk.writes
    assert writes == 2 + 3

    code, out, err = sync(config)
    assert code == 0, err
    assert zendesk.writes == writes
    assert "zendesk: nothing to change (0 SLA policies, 0 organisations; 2 policies and 3 organisations already " \
           "in step)" in out


def test_dry_run_prints_what_would_change_and_writes_nothing(project, zendesk):
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url))
    code, out, _ = sync(config, "--dry-run")
    assert code == 0
    assert "would create SLA policy 'Basic (tierctl)' (organisations tagged tier_basic): normal 1440 min " \
           "(business hours), urgent 480 min (business hours)" in out
    assert "would tag organisation 'Big Co' (account A3): add tier_advanced; remove tier_basic" in out
    assert zendesk.writes == 0
    code, out, _ = sync(config, "--dry-run", "--json")
    assert json.loads(out)["dry_run"] is True and zendesk.writes == 0


def test_a_tightened_target_updates_the_policy_in_place(project, zendesk):
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url))
    assert sync(config)[0] == 0
    ids = set(zendesk.policies)
    config.write_text(zendesk_yaml(zendesk.url, targets={"advanced": "{urgent: 30m, normal: 4 business hours}"}))
    code, out, _ = sync(config)
    assert code == 0
    assert out.splitlines()[0].startswith("update SLA policy 'Advanced (tierctl)'")
    assert set(zendesk.policies) == ids
    advanced = next(p for p in zendesk.policies.values() if p["title"] == "Advanced (tierctl)")
    assert ("urgent", 30) in {(m["priority"], m["target"]) for m in advanced["policy_metrics"]}


def test_oauth_token_and_cursor_pages_of_organisations(project, zendesk):
    for n in range(230):  # three pages of 100 organisations
        zendesk.add_organization(f"Other {n}")
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url, auth="oauth_token: ${ZENDESK_OAUTH}"))
    code, _, err = run_cli(["-c", str(config), "helpdesk", "sync"], load_plugins=PLUGINS,
                           env={"ZENDESK_OAUTH": OAUTH})
    assert code == 0, err
    assert zendesk.calls["GET /api/v2/organizations"] == 3
    assert all("page%5Bsize%5D=100" in r.path or "page[size]=100" in r.path
               for r in zendesk.requests if r.route == "/api/v2/organizations")
    assert all(r.headers["authorization"] == f"Bearer {OAUTH}" for r in zendesk.requests)


@pytest.mark.slow
def test_rate_limit_waits_for_retry_after(project):
    with ZendeskDouble(limit_per_minute=3, minute_seconds=1) as zd:
        for name, ext in (("Tiny Co", "A1"), ("Free Co", "A2"), ("Big Co", "A3")):
            zd.add_organization(name, ext)
        config = project(ROWS, yaml=zendesk_yaml(zd.url))
        code, _, err = sync(config)
        assert code == 0, err
        assert zd.rate_limited >= 1
        assert len(zd.policies) == 2 and all(o["tags"] for o in zd.organizations.values())
        assert not zd.errors


def test_bad_input_is_listed_with_lines_and_nothing_is_applied(project, zendesk):
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url, targets={"basic": "{p1: 1 business day, normal: 1mo}",
                                                                   "advanced": "{urgent: 90s}"}))
    code, _, err = sync(config)
    assert code == 2
    lines = err.splitlines()
    assert any(line.endswith("tiers.basic.response_targets.p1: severity 'p1' has no Zendesk priority; add it to "
                             "helpdesks.zendesk.priorities, e.g. {p1: high} (priorities: low, normal, high, urgent)")
               and ":8:24:" in line for line in lines), err
    assert any("tiers.basic.response_targets.normal: '1mo' cannot be a Zendesk SLA target: months have no fixed "
               "length" in line for line in lines), err
    assert any("tiers.advanced.response_targets.urgent: '90s' cannot be a Zendesk SLA target: Zendesk targets are "
               "whole minutes" in line for line in lines), err
    assert "Traceback" not in err
    assert zendesk.requests == []  # a wrong config never reaches Zendesk


def test_a_priority_mapping_fixes_the_severity(project, zendesk):
    extra = "    priorities: {p1: urgent}\n"
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url, extra=extra,
                                             targets={"basic": "{p1: 2h, normal: best effort}"}))
    code, _, err = sync(config)
    assert code == 0, err
    basic = next(p for p in zendesk.policies.values() if p["title"] == "Basic (tierctl)")
    assert [(m["priority"], m["target"]) for m in basic["policy_metrics"]] == [("urgent", 120)]


def test_an_organisation_not_found_stops_the_whole_sync(project, zendesk):
    rows = ROWS + [["A5", "Unknown Ltd", "enterprise", "active", "fi@unknown.example", "Fi", "admin", "en"]]
    config = project(rows, yaml=zendesk_yaml(zendesk.url))
    code, _, err = sync(config)
    assert code == 2
    assert "customers.csv: account A5: no zendesk organization has external_id 'A5' or name 'Unknown Ltd'; " \
           "create it, or set its external_id to the account id" in err
    assert zendesk.writes == 0  # planned first: no policy was created either


def test_a_refused_token_is_a_clear_error_without_the_token(project, zendesk):
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url))
    code, out, err = sync(config, token="wrong-token-123")
    assert code == 2
    assert "Zendesk refused GET /api/v2/slas/policies: HTTP 401 Couldn't authenticate you; check " \
           "helpdesks.<name>.email and token" in err
    assert "wrong-token-123" not in out + err and "Traceback" not in err


def test_zendesk_validation_errors_are_shown_as_zendesk_words_them(project, zendesk):
    from doubles.zendesk import invalid

    zendesk.when(lambda r: r.method == "POST", invalid({"title": "cannot be blank"}))
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url))
    code, _, err = sync(config)
    assert code == 2
    assert "Zendesk refused POST /api/v2/slas/policies: HTTP 422 RecordInvalid: Record validation errors " \
           "(title: Title: cannot be blank)" in err


def test_helpdesk_options_are_checked_with_the_config(project):
    config = project(ROWS, yaml=zendesk_yaml("https://acme.zendesk.com", extra="    prioritie: {p1: urgent}\n"))
    code, _, err = run_cli(["-c", str(config), "validate"], load_plugins=PLUGINS, env={"ZENDESK_TOKEN": TOKEN})
    assert code == 2
    assert "helpdesks.zendesk.prioritie: unknown option for plugin 'zendesk' (did you mean 'priorities'?)" in err
    config = project(ROWS, yaml=zendesk_yaml("https://acme.zendesk.com", auth="email: ops@acme.example"))
    code, _, err = run_cli(["-c", str(config), "validate"], load_plugins=PLUGINS)
    assert code == 2 and "give email and token (an API token), or oauth_token" in err
    config = project(ROWS, yaml=zendesk_yaml("https://acme.zendesk.com").replace("plugin: zendesk", "plugin: zendsk"))
    code, _, err = run_cli(["-c", str(config), "validate"], load_plugins=PLUGINS, env={"ZENDESK_TOKEN": TOKEN})
    assert code == 2 and "no helpdesk plugin named 'zendsk' is installed (did you mean 'zendesk'?)" in err
    assert TOKEN not in err


def test_a_write_refused_half_way_says_what_was_done_and_a_rerun_finishes(project, zendesk):
    from tierctl.testing.http_double import Reply

    zendesk.when(lambda r: r.method == "PUT" and r.route.startswith("/api/v2/organizations/"),
                 Reply.json({"error": "InternalError", "description": "Something went wrong"}, 500), repeat=True)
    # one retry, at once: a 5xx of an idempotent PUT is retried before it counts
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url, extra="    max_retries: 1\n    backoff_factor: 0\n"))
    code, _, err = sync(config)
    assert code == 2
    assert "Zendesk refused PUT" in err and "HTTP 500 InternalError: Something went wrong (after 1 retries)" in err
    assert "2 of 5 changes were made before it" in err
    zendesk.reset()
    code, out, _ = sync(config)
    assert code == 0
    assert "0 SLA policies, 3 organisations; 2 policies and 0 organisations already in step" in out
    assert sync(config)[1].startswith("zendesk: nothing to change")


def test_a_passing_outage_is_retried(project, zendesk):
    from tierctl.testing.http_double import Reply

    zendesk.script(Reply.json({"error": "InternalError", "description": "Something went wrong"}, 503))
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url, extra="    backoff_factor: 0\n"))
    code, _, err = sync(config)
    assert code == 0, err
    assert len(zendesk.policies) == 2


def test_an_unreachable_zendesk_is_a_clear_error(project):
    from tierctl.testing.sockets import unused_port

    config = project(ROWS, yaml=zendesk_yaml(f"http://127.0.0.1:{unused_port()}",
                                             extra="    max_retries: 1\n    backoff_factor: 0\n"))
    code, _, err = sync(config)
    assert code == 2
    assert "GET /api/v2/slas/policies: cannot reach Zendesk at http://127.0.0.1:" in err
    assert TOKEN not in err and "Traceback" not in err
