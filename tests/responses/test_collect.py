"""`tierctl survey collect`: a provider that really fetches, over HTTP, from a platform on 127.0.0.1.

The provider below is a small, complete plugin: it "sends" by registering
invitations with the platform and fetches responses page by page with an
opaque cursor and an overlapping window, as real platforms need. What is under
test is the engine: paging, de-duplication across overlapping windows and
runs, the cursor saved only after the responses are committed, providers
that cannot fetch skipped with a note, and one failing provider not stopping
the others.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner
from project_fixtures import run_cli, write_customers, write_ics
from servers import HttpServer, Reply, Request

from tierctl.config.loader import load_config
from tierctl.hookspecs import hookimpl
from tierctl.storage.opener import open_ledger
from tierctl.plugins import builtin
from tierctl.host.plugin_host import PluginHost
from tierctl.providers import Provider, ProviderError, ProviderOptions
from tierctl.records import Invitation, RawResponse, SendResult
from tierctl.responses.collect import collect
from tierctl.responses.csv_import import import_csv
from tierctl.surveys.send_run import SurveyRun

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=timezone.utc)
LATER = datetime(2027, 1, 20, 9, 0, tzinfo=timezone.utc)


# -- the platform and its provider ------------------------------------------------------------


class Platform:
    """The platform's data: responses per survey in arrival order; GET /responses?survey&start&limit."""

    def __init__(self) -> None:
        self.responses: dict[str, list[dict[str, Any]]] = {}

    def add(self, survey: str, response_id: str, answers: dict[str, Any], invite_id: str | None = None,
            email: str | None = None, submitted_at: str = "2027-01-05T10:00:00+00:00") -> None:
        self.responses.setdefault(survey, []).append({"id": response_id, "invite_id": invite_id, "email": email,
                                                      "submitted_at": submitted_at, "answers": answers})

    def reply(self, request: Request) -> bytes:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        items = self.responses.get(query["survey"], [])
        if "since" in query:
            since = datetime.fromisoformat(query["since"])
            start = next((i for i, it in enumerate(items) if datetime.fromisoformat(it["submitted_at"]) >= since),
                         len(items))
        else:
            start = int(query["start"])
        page = items[start:start + int(query["limit"])]
        return json.dumps({"start": start, "items": page}).encode()


class PlatformOptions(ProviderOptions):
    url: str
    page_size: int = 2


class PlatformProvider(Provider):
    """Fetches one page per call; the cursor is the number of responses read, minus one for overlap."""

    name = "platform"
    Options = PlatformOptions
    can_fetch = True
    options: PlatformOptions

    def send(self, batch: Sequence[Invitation]) -> list[SendResult]:
        return [SendResult.sent(inv.invite_id, f"pf-{inv.invite_id}") for inv in batch]

    def fetch_responses(self, survey_id: str, cursor: str | None) -> tuple[Iterator[RawResponse], str | None]:
        params: dict[str, Any] = {"survey": survey_id, "limit": self.options.page_size}
        if cursor is not None and not cursor.isdigit():
            params["since"] = cursor  # collect --since: an ISO time
        else:
            params["start"] = max(0, int(cursor or 0) - 1)  # one response of overlap
        reply = requests.get(f"{self.options.url}/responses", params=params, timeout=10)
        if reply.status_code != 200:
            raise ProviderError(self.instance, f"the platform answered HTTP {reply.status_code}")
        body = reply.json()
        items = body["items"]

        def parse() -> Iterator[RawResponse]:  # lazily, as a streaming client would
            for it in items:
                yield RawResponse(it["id"], it["invite_id"], datetime.fromisoformat(it["submitted_at"]),
                                  it["answers"], it["email"])

        return parse(), (str(body["start"] + len(items)) if items else cursor)


class PlatformPlugin:
    @staticmethod
    @hookimpl
    def register_providers(register):
        register("platform", PlatformProvider)


YAML = """\
version: 1
organization: {name: Acme, timezone: Europe/Amsterdam}
tiers:
  basic: {name: Basic, touch_model: tech-touch, plans: [starter], surveys: [product-feedback, onboarding, exit]}
surveys:
  product-feedback:
    title: Quarterly product feedback
    trigger: {every: quarter}
    provider: forms
    questions:
      - {id: nps, type: nps, text: Would you recommend us?}
      - {id: next, type: text, text: What next?}
  onboarding:
    title: Onboarding
    trigger: {every: month}
    provider: mail
    questions: [{id: sat, type: csat, text: Happy?}]
  exit:
    title: Exit
    trigger: {every: year}
    provider: other
    questions: [{id: why, type: text, text: Why?}]
sources:
  customers: {plugin: csv, path: customers.csv}
providers:
  forms: {plugin: platform, url: "URL"}
  other: {plugin: platform, url: "OTHER"}
  mail: {plugin: outbox, dir: outbox, survey_url: "https://forms.example/{survey}?id={invite_id}"}
"""


def make_host() -> PluginHost:
    return PluginHost.from_modules({"csv": builtin.csv, "ical": builtin.ical, "outbox": builtin.outbox,
                                    "platform": PlatformPlugin})


@pytest.fixture
def world(tmp_path: Path):
    """Two platforms (the second one broken unless told otherwise), 4 contacts sent every survey."""
    platform, other = Platform(), Platform()
    with HttpServer(Reply(200, platform.reply)) as server, HttpServer(Reply(200, other.reply)) as server2:
        write_customers(tmp_path / "customers.csv",
                        [[f"acc{i}", f"Account {i}", "starter", "active", f"p{i}@acc{i}.example", f"P {i}", "user",
                          "en"] for i in range(4)])
        write_ics(tmp_path / "meetings.ics", [])
        path = tmp_path / "tierctl.yaml"
        path.write_text(YAML.replace("URL", server.url).replace("OTHER", server2.url))
        host = make_host()
        config = load_config(path, host)
        with SurveyRun(config, host, NOW).open_ledger() as ledger:
            report = SurveyRun(config, host, NOW).send(ledger)
            assert (report.sent, report.failures) == (12, [])
            ids = {(r["survey_id"], r["contact_email"]): r["invite_id"] for r in ledger.invitations(state="sent")}
        yield _World(tmp_path, path, host, config, platform, other, server, server2, ids)


class _World:
    def __init__(self, folder, path, host, config, platform, other, server, server2, ids):
        self.folder, self.path, self.host, self.config = folder, path, host, config
        self.platform, self.other, self.server, self.server2, self.ids = platform, other, server, server2, ids

    def invite(self, n: int, survey: str = "product-feedback") -> str:
        return self.ids[(survey, f"p{n}@acc{n}.example")]

    def collect(self, **kwargs: Any):
        with open_ledger(self.config.storage.url, self.config.base_dir) as ledger:
            return collect(self.config, ledger, self.host, now=kwargs.pop("now", LATER), **kwargs)

    def cursor(self, provider: str = "forms", survey: str = "product-feedback") -> str | None:
        with open_ledger(self.config.storage.url, self.config.base_dir) as ledger:
            return ledger.get_cursor(provider, survey)

    def stored(self) -> dict[str, dict]:
        with open_ledger(self.config.storage.url, self.config.base_dir) as ledger:
            return {r["response_id"]: r for n in range(4) for r in ledger.responses_for_account(f"acc{n}")}

    def starts(self, server: HttpServer | None = None) -> list[int]:
        server = server or self.server
        return [int(parse_qs(urlsplit(r.path).query)["start"][0]) for r in server.requests
                if "start=" in r.path]


def fetch(result, provider: str = "forms", survey: str = "product-feedback"):
    return next(f for f in result.fetches if (f.provider, f.survey_id) == (provider, survey))


def test_pages_are_followed_with_the_cursor_and_overlaps_are_not_stored_twice(world):
    for n in range(4):
        world.platform.add("product-feedback", f"r{n}", {"nps": 6 + n, "next": f"idea {n}"}, world.invite(n))
    world.platform.add("product-feedback", "r4", {"nps": 10}, world.invite(0))  # a second response to p0
    world.other.add("exit", "x0", {"why": "price"}, world.invite(1, "exit"))
    result = world.collect()
    assert (result.errors, result.problems, result.hook_errors) == ([], [], [])
    forms = fetch(result)
    # Pages of 2 with one response of overlap: starts 0, 1, 2, 3, then 4 brings nothing new.
    assert world.starts() == [0, 1, 2, 3, 4]
    assert (forms.calls, forms.added, forms.duplicates, forms.cursor_after) == (5, 4, 1, "5")
    assert world.cursor() == "5"
    stored = world.stored()
    assert sorted(stored) == ["forms:r0", "forms:r1", "forms:r2", "forms:r3", "other:x0"]
    assert stored["forms:r0"]["answers"] == {"nps": {"qtype": "nps", "score": 6.0, "text": None},
                                             "next": {"qtype": "text", "score": None, "text": "idea 0"}}
    assert stored["forms:r0"]["source"] == "forms" and stored["forms:r0"]["due_day"] == "2027-01-01"
    assert stored["other:x0"]["survey_id"] == "exit" and stored["other:x0"]["occasion"] == "2027"

    # The next run starts at the saved cursor; its overlap is a duplicate, not a new response.
    again = world.collect()
    assert (fetch(again).calls, again.added, fetch(again).duplicates) == (1, 0, 1)
    world.platform.add("product-feedback", "r5", {"nps": 3}, world.invite(3, "product-feedback"))  # p3 again
    world.platform.add("product-feedback", "r6", {"nps": 8}, None, email="P2@acc2.example")  # by e-mail only
    world.platform.add("product-feedback", "r7", {"nps": 12}, world.invite(1))  # outside the scale
    third = world.collect()
    assert third.added == 0 and fetch(third).duplicates == 3  # r4 (overlap), r5 and r6: their invitations answered
    assert third.problems == ["provider forms, survey product-feedback, response r7: nps: '12' is outside the "
                              "scale 0-10; nps answers are whole numbers from 0 to 10"]
    assert world.cursor() == "8"


def test_responses_linked_by_email_and_unknown_invitations(world):
    world.platform.add("product-feedback", "a", {"nps": 9, "npss": 3, "hidden_tier": "x"}, None,
                       email="P1@Acc1.example")
    world.platform.add("product-feedback", "b", {"nps": 9}, "no-such-invite")
    world.platform.add("product-feedback", "c", {"nps": 9})  # neither id nor e-mail
    result = world.collect()
    assert result.added == 1
    assert world.stored()["forms:a"]["invite_id"] == world.invite(1)
    assert list(world.stored()["forms:a"]["answers"]) == ["nps"]
    assert "provider forms, survey product-feedback: answers to 'hidden_tier', 'npss' (did you mean 'nps'?) are " \
           "not questions of the survey and were ignored; its questions are nps, next" in result.notes
    assert result.problems == [
        "provider forms, survey product-feedback, response b: unknown invite_id 'no-such-invite': no invitation "
        "with this id in the ledger",
        "provider forms, survey product-feedback, response c: carries neither an invite_id nor a contact e-mail: "
        "it cannot be linked to an invitation"]


def test_the_cursor_moves_only_after_the_responses_are_committed(world):
    for n in range(4):
        world.platform.add("product-feedback", f"r{n}", {"nps": n}, world.invite(n))
    world.platform.responses["product-feedback"][2]["submitted_at"] = "garbage"  # the provider chokes on r2
    result = world.collect()
    forms = fetch(result)
    assert forms.added == 2 and "ValueError" in forms.error and "provider forms (platform)" in forms.error
    # The call that failed had returned cursor "3", but its responses were never stored: the cursor stays.
    assert world.cursor() == "2"
    assert sorted(world.stored()) == ["forms:r0", "forms:r1"]
    world.platform.responses["product-feedback"][2]["submitted_at"] = "2027-01-05T10:00:00+00:00"
    retry = world.collect()
    assert retry.errors == [] and retry.added == 2 and fetch(retry).duplicates == 1  # r1 again: harmless
    assert sorted(world.stored()) == ["forms:r0", "forms:r1", "forms:r2", "forms:r3"]
    assert world.cursor() == "4"


def test_since_replaces_the_stored_cursor(world):
    for n in range(4):
        world.platform.add("product-feedback", f"r{n}", {"nps": n}, world.invite(n),
                           submitted_at=f"2027-01-0{5 + n}T10:00:00+00:00")
    since = datetime(2027, 1, 7, 0, 0, tzinfo=timezone.utc)
    result = world.collect(since=since, survey="product-feedback")
    assert [f.provider for f in result.fetches] == ["forms"]  # --survey: only that one
    assert world.server.requests[0].path.endswith("since=2027-01-07T00%3A00%3A00%2B00%3A00")
    assert sorted(world.stored()) == ["forms:r2", "forms:r3"]
    assert fetch(result).cursor_before == "2027-01-07T00:00:00+00:00" and world.cursor() == "4"


def test_a_failing_provider_is_named_and_the_others_still_collect(world):
    world.platform.add("product-feedback", "r0", {"nps": 9}, world.invite(0))
    world.other.add("exit", "x0", {"why": "price"}, world.invite(1, "exit"))
    world.server2.script(Reply(503, b"maintenance"))
    result = world.collect()
    assert result.errors == ["provider other: the platform answered HTTP 503"]
    assert result.exit_code == 1 and result.added == 1
    assert fetch(result, "other", "exit").error == "provider other: the platform answered HTTP 503"
    assert world.cursor("other", "exit") is None
    assert result.notes == ["provider mail (plugin outbox) cannot fetch responses; import them with tierctl "
                            "survey import"]
    assert world.collect().added == 1  # the platform is back


def test_collect_command_prints_notes_errors_and_exits_1_on_a_failed_provider(world):
    from tierctl.cli import cli
    from tierctl.cli.app import _HOST_KEY

    world.platform.add("product-feedback", "r0", {"nps": 9}, world.invite(0))
    world.server2.script(Reply(500))

    def run(*args: str) -> tuple[int, str, str]:
        runner = CliRunner()
        with runner.isolation() as (out, err, _):
            code = 0
            try:
                with cli.make_context("tierctl", ["-c", str(world.path), "survey", "collect",
                                                  "--now", LATER.isoformat(), *args]) as ctx:
                    ctx.meta[_HOST_KEY] = world.host  # the plugins of this test, instead of the installed ones
                    cli.invoke(ctx)
            except SystemExit as exc:
                code = exc.code
            return code, out.getvalue().decode(), err.getvalue().decode()

    code, out, err = run()
    assert code == 1
    assert out.splitlines() == ["forms product-feedback: 1 added, 0 duplicates, 0 bad",
                                "other exit: 0 added, 0 duplicates, 0 bad (failed)",
                                "collected 1 new response from 2 provider(s); 0 already stored, 0 bad."]
    assert err.splitlines() == [
        "note: provider mail (plugin outbox) cannot fetch responses; import them with tierctl survey import",
        "  error   provider other: the platform answered HTTP 500"]
    code, out, err = run("--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["added"], doc["duplicates"], doc["errors"]) == (0, 1, [])


def test_only_providers_that_cannot_fetch(project):
    config = project([])
    code, out, err = _main(config, "collect")
    assert code == 2 and "nothing sent yet" in err
    assert _main(config, "send")[0] == 0
    code, out, err = _main(config, "collect")
    assert code == 0
    assert err == "note: provider mail (plugin outbox) cannot fetch responses; import them with tierctl survey import\n"
    assert out == "collected 0 new responses from 0 provider(s); 0 already stored, 0 bad.\n"


def _main(config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), "survey", *args], load_plugins=None)


def test_collect_and_import_share_one_response_per_invitation(world, tmp_path):
    """A response imported from a CSV export is a duplicate when the platform returns it too."""
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(f"invite_id,submitted_at,nps\n{world.invite(0)},2027-01-05T10:00:00Z,9\n")
    with open_ledger(world.config.storage.url, world.config.base_dir) as ledger:
        assert import_csv(world.config, ledger, world.host, csv_path, "product-feedback", LATER).added == 1
    world.platform.add("product-feedback", "r0", {"nps": 9}, world.invite(0))
    result = world.collect()
    assert (result.added, fetch(result).duplicates) == (0, 1)
    assert list(world.stored()) == [f"import:{world.invite(0)}"]
