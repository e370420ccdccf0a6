"""`tierctl plan capacity`: agent hours per tier and month, checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from project_fixtures import run_cli

YAML = """\
version: 1
organization: {name: Acme, timezone: Europe/Amsterdam}
tiers:
  basic:
    name: Basic
    touch_model: tech-touch
    plans: [free]
    agent_time_cap: 30m/month
    contact_cadence:
      onboarding: {every: 7d, channel: email, automated: true}
      active: {every: 90d, channel: email, automated: true}
  premium:
    name: Premium
    touch_model: mid-touch
    plans: [pro]
    agent_time_cap: 30m/month
    contact_cadence:
      active: {every: 1mo, channel: video, duration: 1h}
      at-risk: {every: 2w, channel: phone}
  enterprise:
    name: Enterprise
    touch_model: high-touch
    plans: [corp]
    agent_time_cap: 3h/week
    contact_cadence:
      active: {every: 1mo, channel: video, meeting: account-review, duration: 90m}
  community:
    name: Community
    touch_model: tech-touch
    plans: [oss]
sources:
  customers: {plugin: csv, path: customers.csv}
"""

CUSTOMERS = [
    # basic: 2 live accounts (b1 onboarding; b2 active), b3 churned
    ["b1", "B1", "free", "onboarding", "a@b1.example", "", "", ""],
    ["b2", "B2", "free", "active", "a@b2.example", "", "", ""],
    ["b2", "B2", "free", "active", "b@b2.example", "", "", ""],
    ["b3", "B3", "free", "churned", "a@b3.example", "", "", ""],
    # premium: p1, p2 active; p3 has an active and an at-risk contact: counts as at-risk
    ["p1", "P1", "pro", "active", "a@p1.example", "", "", ""],
    ["p2", "P2", "pro", "active", "a@p2.example", "", "", ""],
    ["p3", "P3", "pro", "active", "a@p3.example", "", "", ""],
    ["p3", "P3", "pro", "at-risk", "b@p3.example", "", "", ""],
    # enterprise: 1 active account
    ["e1", "E1", "corp", "active", "a@e1.example", "", "", ""],
    # community: 2 accounts, no cap, no cadence
    ["o1", "O1", "oss", "active", "a@o1.example", "", "", ""],
    ["o2", "O2", "oss", "onboarding", "a@o2.example", "", "", ""],
]

MONTH_DAYS = 365.2425 / 12  # an average month: 30.436875 days


@pytest.fixture
def config(project) -> Path:
    return project(CUSTOMERS, yaml=YAML)


def capacity(config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), "plan", "capacity", *args], load_plugins=None)


def test_hours_per_tier_checked_by_hand(config):
    code, out, err = capacity(config, "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    tiers = {t["tier"]: t for t in doc["tiers"]}

    basic = tiers["basic"]
    assert basic["accounts_by_status"] == {"onboarding": 1, "active": 1}
    # Automated e-mails take no agent time; the cap allows 2 accounts x 0.5 h.
    assert (basic["planned_hours"], basic["cap_hours"], basic["needed_hours"]) == (0, 1.0, 1.0)
    assert doc["churned_accounts"] == 1

    premium = tiers["premium"]
    assert premium["accounts_by_status"] == {"at-risk": 1, "active": 2}
    # active: 2 accounts x 1 video a month (every 1mo = 1 contact) x 1 h = 2 h
    # at-risk: 1 account x (30.436875 / 14) calls a month x 30 min (the default for an agent's contact)
    at_risk_calls = MONTH_DAYS / 14
    assert premium["contacts"][1]["contacts_per_month"] == round(at_risk_calls, 2) == 2.17
    planned = 2 * 1 * 1.0 + 1 * at_risk_calls * 0.5
    assert premium["planned_hours"] == round(planned, 2) == 3.09
    # The cap allows 3 x 0.5 h = 1.5 h; the planned contacts need more, so they set the need.
    assert (premium["cap_hours"], premium["needed_hours"]) == (1.5, round(planned, 2))
    assert [c["fits_cap"] for c in premium["contacts"]] == [False, False]

    enterprise = tiers["enterprise"]
    # 3 h a week is 3 / (12/52) = 13 h a month; a 90-minute monthly review fits.
    assert enterprise["cap_hours_per_account"] == 13.0
    assert (enterprise["planned_hours"], enterprise["cap_hours"], enterprise["needed_hours"]) == (1.5, 13.0, 13.0)
    assert enterprise["warnings"] == []

    community = tiers["community"]
    assert (community["accounts"], community["planned_hours"], community["cap_hours"],
            community["needed_hours"]) == (2, 0, None, 0)

    total = 1.0 + planned + 13.0
    assert doc["needed_hours"] == round(total, 2) == 17.09
    assert doc["planned_hours"] == round(planned + 1.5, 2)
    assert doc["agents"] is None and doc["agents_needed"] == round(total / 120, 2)
    assert doc["mixed_status_accounts"] == 1


def test_warnings_per_tier_and_against_the_team(config):
    code, out, err = capacity(config, "--agents", "1", "--hours-per-agent", "10")
    assert code == 0  # warnings are printed, not failures
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: tier premium: the planned video contact for active accounts (every 1mo, 1 h each: 1 h per "
        "account a month) does not fit in its agent_time_cap of 30 minutes per month (30 min a month); raise "
        "the cap, or make the contact shorter, rarer or automated (2 accounts affected)",
        "warning: tier premium: the planned phone contact for at-risk accounts (every 2w, 30 min each: 1.1 h per "
        "account a month) does not fit in its agent_time_cap of 30 minutes per month (30 min a month); raise "
        "the cap, or make the contact shorter, rarer or automated (1 account affected)",
        "warning: the tiers need 17.1 h of agent time a month, but 1 agent x 10 h give 10 h: 7.1 h short "
        "(about 0.7 more agents at 10 h)",
    ]
    assert "capacity: 1 agent x 10 h = 10 h a month; needed 17.1 h (171% of it)" in out
    assert "    active: 2 accounts, every 1mo by video (1 h each) = 1 h per account a month" in out
    code, out, _ = capacity(config, "--agents", "2", "--hours-per-agent", "10")
    assert "warning: the tiers need" not in out and "(85% of it)" in out


def test_the_table(config):
    code, out, _ = capacity(config)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Agent hours a month per tier (8 live accounts; 1 churned left out)"
    assert lines[2].split() == ["tier", "accounts", "cap/account", "planned", "caps", "allow", "needed"]
    assert lines[3].split() == ["Basic", "2", "30", "min", "0", "h", "1", "h", "1", "h"]
    assert "needed: 17.1 h a month = 0.1 agents at 120 h (pass --agents N to compare with your team)" in out
    community = out.split("\nCommunity")[1].splitlines()
    assert community[0].split() == ["2", "-", "0", "h", "no", "cap", "0", "h"]
    assert community[1:3] == ["    onboarding: 1 account, no planned contact", "    active: 1 account, no planned contact"]


def test_bad_rows_are_listed_and_a_missing_source_is_exit_2(project, tmp_path):
    config = project(CUSTOMERS + [["x1", "X", "gold", "active", "a@x1.example", "", "", ""]], yaml=YAML)
    code, out, err = capacity(config)
    assert code == 0 and "skipped row: customers.csv:13: plan 'gold' is not covered by any tier" in err
    (tmp_path / "customers.csv").unlink()
    code, out, err = capacity(config)
    assert code == 2 and "customer file not found" in err
