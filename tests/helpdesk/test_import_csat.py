"""``tierctl helpdesk import-csat``: Zendesk's good/bad ratings per tier in the ledger and in ``tierctl report``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterator

import pytest
from doubles.zendesk import TOKEN, ZendeskDouble
from project_fixtures import run_cli
from test_helpdesk_sync import PLUGINS, ROWS, zendesk_yaml

BENCHMARK = "benchmarks:\n  - {metric: csat, value: 86, source: Zendesk customer satisfaction index, year: 2012}\n"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.fixture
def zendesk() -> Iterator[ZendeskDouble]:
    with ZendeskDouble() as zd:
        yield zd
        assert not zd.errors


def cli(config, *args: str) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), *args], load_plugins=PLUGINS, env={"ZENDESK_TOKEN": TOKEN})


def test_ratings_become_csat_per_tier_in_the_report(project, zendesk):
    tiny = zendesk.add_organization("Tiny Co", "A1", tags=["tier_basic"])  # tagged by sync
    big = zendesk.add_organization("Big Co", "A3")  # not tagged yet: reached through the customers source
    stray = zendesk.add_organization("Prospect Inc")  # no tier at all
    for when, org, score in [("2026-08-10T10:00:00", tiny, "good"), ("2026-08-11T10:00:00", tiny, "bad"),
                             ("2026-10-05T10:00:00", tiny, "good"), ("2026-10-06T10:00:00", tiny, "good"),
                             ("2026-10-07T10:00:00", tiny, "good"), ("2026-10-08T10:00:00", tiny, "bad"),
                             ("2026-10-09T10:00:00", big, "good"), ("2026-10-10T10:00:00", stray, "good"),
                             ("2026-10-11T10:00:00", None, "bad")]:
        zendesk.add_rating(org, score, at(when))
    zendesk.add_rating(tiny, "offered", at("2026-10-12T10:00:00"))  # offered, not answered: not a rating
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url, extra=BENCHMARK))

    code, out, err = cli(config, "helpdesk", "import-csat")
    assert code == 0, err
    assert out == ("zendesk: 9 ratings read, 7 new, 0 already kept (updated); 1 without an organisation and 1 "
                   "whose organisation has no tier left out\n")
    ratings_calls = [r for r in zendesk.requests if r.route == "/api/v2/satisfaction_ratings"]
    assert "score=received" in ratings_calls[0].path

    code, out, err = cli(config, "report", "--format", "json")
    assert code == 0, err
    [desk] = json.loads(out)["helpdesk"]
    assert desk["source"] == "zendesk" and desk["periods"] == ["2026-Q3", "2026-Q4"]
    basic, advanced = desk["tiers"]
    assert (basic["id"], [(p["good"], p["bad"], p["value"]) for p in basic["periods"]]) == \
        ("basic", [(1, 1, 50.0), (3, 1, 75.0)])
    assert basic["periods"][1]["trend"] == {"previous_period": "2026-Q3", "previous": 50.0, "delta": 25.0,
                                            "direction": "up"}
    assert basic["periods"][1]["benchmarks"][0]["value"] == 86 and basic["periods"][1]["benchmarks"][0]["delta"] == -11
    assert (advanced["id"], advanced["periods"][1]["value"]) == ("advanced", 100.0)

    code, out, _ = cli(config, "report")
    assert "## Helpdesk CSAT: zendesk" in out
    assert "| Basic | Q4 2026 | 4 | 3 | 1 | 75.0% ▲ |" in out
    assert "Benchmark: 86.0% (Zendesk customer satisfaction index, 2012); ours is 11.0 points below." in out

    code, out, _ = cli(config, "report", "--format", "csv")
    assert "helpdesk:zendesk,basic,2026-Q4,,helpdesk_csat,,75.0,4" in out


def test_import_is_incremental_and_updates_a_changed_rating(project, zendesk):
    tiny = zendesk.add_organization("Tiny Co", "A1")
    first = zendesk.add_rating(tiny, "bad", at("2026-10-05T10:00:00"))
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url))
    assert cli(config, "helpdesk", "import-csat")[1].startswith("zendesk: 1 ratings read, 1 new")
    zendesk.add_rating(tiny, "good", at("2026-10-06T10:00:00"))
    code, out, _ = cli(config, "helpdesk", "import-csat", "--json")
    doc = json.loads(out)
    # the next import asks from the last rating's time: the new one, and the last one again (same second)
    assert (doc["read"], doc["new"], doc["updated"]) == (2, 1, 1)
    assert doc["since"] == "2026-10-05T10:00:00+00:00"
    last = [r for r in zendesk.requests if r.route == "/api/v2/satisfaction_ratings"][-1]
    assert f"start_time={int(at('2026-10-05T10:00:00').timestamp())}" in last.path
    # the customer changes their mind: bad becomes good; --since reads it again
    zendesk.rate_again(first, "good", at("2026-10-07T10:00:00"))
    code, out, _ = cli(config, "helpdesk", "import-csat", "--since", "2026-10-01", "--json")
    assert json.loads(out)["new"] == 0
    code, out, _ = cli(config, "report", "--format", "json")
    [desk] = json.loads(out)["helpdesk"]
    assert [(p["good"], p["bad"]) for p in desk["tiers"][0]["periods"]] == [(2, 0)]
    # no csat benchmark in this config: Zendesk's own published figure is shown
    assert desk["tiers"][0]["periods"][0]["benchmarks"] == [
        {"metric": "csat", "value": 86.0, "source": "Zendesk customer satisfaction index", "year": 2012,
         "label": "Zendesk global average", "delta": 14.0}]


def test_many_ratings_arrive_over_cursor_pages(project, zendesk):
    tiny = zendesk.add_organization("Tiny Co", "A1")
    for n in range(250):
        zendesk.add_rating(tiny, "good" if n % 5 else "bad", at(f"2026-10-{1 + n % 28:02d}T10:{n % 60:02d}:00"))
    config = project(ROWS, yaml=zendesk_yaml(zendesk.url))
    code, out, err = cli(config, "helpdesk", "import-csat", "--json")
    assert code == 0, err
    assert json.loads(out)["new"] == 250
    assert zendesk.calls["GET /api/v2/satisfaction_ratings"] == 3
    code, out, _ = cli(config, "report", "--format", "json", "--period", "month")
    [desk] = json.loads(out)["helpdesk"]
    assert desk["tiers"][0]["periods"][0] == {**desk["tiers"][0]["periods"][0], "good": 200, "bad": 50, "value": 80.0}
