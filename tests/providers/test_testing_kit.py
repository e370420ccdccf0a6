"""tierctl.testing itself: the contract suite fails a provider for each kind of broken promise
(and passes a correct one), the pytest plugin stays light, and its fixtures work.

The contract checks run in a pytest subprocess on a generated test file, as a provider package
would run them, against a small provider ("toy") with one defect per variant.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from tierctl.testing import FakeClock, HttpDouble, Reply, invitations, route
from tierctl.testing.faults import FaultChecks

TOY = '''
import time
from datetime import datetime, timezone

import pytest
import requests
from pydantic import SecretStr

from tierctl.hookspecs import hookimpl
from tierctl.providers import Provider, ProviderError, ProviderOptions, RateLimit
from tierctl.records import RawResponse, SendResult
from tierctl.testing import HttpDouble, ProviderContract, route


class ToyOptions(ProviderOptions):
    url: str
    token: SecretStr
    timeout: float = 5.0


class Toy(Provider):
    name = "toy"
    Options = ToyOptions
    batch_size = 10
    can_fetch = True
    paces_itself = True
    rate_limit = RateLimit(5, 1.0)

    def _call(self, method, path, **kwargs):
        self.limiter.acquire()
        try:
            response = requests.request(method, self.options.url + path, timeout=self.options.timeout,
                                        headers={"Authorization": "Bearer " + self.options.token.get_secret_value()},
                                        **kwargs)
        except requests.RequestException as exc:
            raise ProviderError(self.instance, "cannot reach the toy API: " + type(exc).__name__) from None
        return response.json()

    def send(self, batch):
        answer = self._call("POST", "/send", json=[i.invite_id for i in batch])
        return [SendResult.sent(i) for i in answer["accepted"]]

    def fetch_responses(self, survey_id, cursor):
        after = int(cursor or 0) if (cursor or "0").isdigit() else 0
        rows = self._call("GET", "/responses", params={"after": after})
        out = [RawResponse(r["id"], r["invite_id"], datetime.fromisoformat(r["at"]), r["answers"]) for r in rows]
        return out, str(max([after] + [int(r["id"]) for r in rows]))


class DropsResult(Toy):
    def send(self, batch):
        return super().send(batch)[:-1]


class Leaks(Toy):
    def __repr__(self):
        return "<Toy token=" + self.options.token.get_secret_value() + ">"


class Raw(Toy):
    def _call(self, method, path, **kwargs):
        self.limiter.acquire()
        return requests.request(method, self.options.url + path, timeout=self.options.timeout, **kwargs).json()


class NoPace(Toy):
    def _call(self, method, path, **kwargs):
        limiter, self.limiter = self.limiter, None
        try:
            self.limiter = type("Free", (), {"acquire": lambda self, n=1: None})()
            return super()._call(method, path, **kwargs)
        finally:
            self.limiter = limiter


class Semicolons(Toy):
    """Gives ticked choices back as one text, ``a;b`` (as some platforms' exports do)."""

    def fetch_responses(self, survey_id, cursor):
        rows, cursor = super().fetch_responses(survey_id, cursor)
        return [RawResponse(r.response_id, r.invite_id, r.submitted_at,
                            {k: ";".join(v) if isinstance(v, list) else v for k, v in r.answers.items()})
                for r in rows], cursor


class IgnoresCursor(Toy):
    def fetch_responses(self, survey_id, cursor):
        return super().fetch_responses(survey_id, None)


class Mailer(Provider):
    name = "toy"
    Options = ProviderOptions

    def send(self, batch):
        return [SendResult.sent(i.invite_id) for i in batch]


def toy_plugin(cls):
    class Plugin:
        @staticmethod
        @hookimpl
        def register_providers(register):
            register("toy", cls)
    return {"toy": Plugin}


class ToyApi(HttpDouble):
    def __init__(self):
        super().__init__()
        self.sent, self.answers = set(), []

    @route("POST", "/send")
    def send(self, request):
        self.sent.update(request.json())
        return {"accepted": request.json()}

    @route("GET", "/responses")
    def responses(self, request):
        after = int(request.query["after"])
        return [r for r in self.answers if int(r["id"]) > after]


class ToyContract(ProviderContract):
    plugin = "toy"

    @pytest.fixture
    def double(self):
        with ToyApi() as api:
            yield api

    @pytest.fixture
    def provider_options(self, double):
        return {"url": double.url, "token": "toy-secret-token-42"}

    def answer(self, double, invitation, answers):
        assert invitation.invite_id in double.sent
        double.answers.append({"id": str(len(double.answers) + 1), "invite_id": invitation.invite_id,
                               "at": datetime.now(timezone.utc).isoformat(), "answers": answers})


class TestGood(ToyContract):
    plugins = toy_plugin(Toy)

class TestDropsResult(ToyContract):
    plugins = toy_plugin(DropsResult)

class TestLeaks(ToyContract):
    plugins = toy_plugin(Leaks)

class TestRaw(ToyContract):
    plugins = toy_plugin(Raw)

class TestNoPace(ToyContract):
    plugins = toy_plugin(NoPace)

class TestIgnoresCursor(ToyContract):
    plugins = toy_plugin(IgnoresCursor)

class TestTicks(ToyContract):
    """Invitations with a multiple_choice question, its ticks fetched back as ``a;b`` text."""
    plugins = toy_plugin(Semicolons)

    def make_invitations(self, count):
        import dataclasses

        from tierctl.records import Question

        areas = Question("areas", "multiple_choice", "Which areas do you use?", None, ("Reporting", "Billing", "API"))
        return [dataclasses.replace(i, questions=(*i.questions, areas)) for i in super().make_invitations(count)]

class TestMailer(ProviderContract):
    plugin = "toy"
    plugins = toy_plugin(Mailer)

    @pytest.fixture
    def provider_options(self):
        return {}
'''


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """``class -> check -> PASSED|FAILED|SKIPPED`` from one pytest run of the toy variants."""
    folder = tmp_path_factory.mktemp("toy")
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (folder / "test_toy.py").write_text(TOY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-rs", "test_toy.py"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    found: dict[str, dict[str, str]] = {}
    for cls, check, result in re.findall(r"test_toy\.py::(\w+)::(\w+) (PASSED|FAILED|SKIPPED|ERROR)", proc.stdout):
        found.setdefault(cls, {})[check] = result
    assert found, proc.stdout + proc.stderr
    found["_output"] = {"text": proc.stdout}
    return found


def failing(outcomes: dict[str, dict[str, str]], cls: str) -> set[str]:
    return {check for check, result in outcomes[cls].items() if result in ("FAILED", "ERROR")}


#: The fault-injection checks: opt-in (the toy contract defines no deliveries), so they skip here.
FAULT_CHECKS = {name for name in vars(FaultChecks) if name.startswith("test_")}


def test_a_correct_provider_passes_every_check(outcomes: dict[str, dict[str, str]]) -> None:
    good = outcomes["TestGood"]
    assert good and {c: r for c, r in good.items() if c not in FAULT_CHECKS} and \
        {r for c, r in good.items() if c not in FAULT_CHECKS} == {"PASSED"}, good
    assert {c for c, r in good.items() if r == "SKIPPED"} == FAULT_CHECKS, good


def test_ticked_choices_are_answered_as_a_list_and_may_come_back_as_text(outcomes) -> None:
    """The kit answers a multiple_choice question with two ticked labels; a platform may give them
    back as a list or as one text with ``;`` between them (Question's documented shapes)."""
    ticks = outcomes["TestTicks"]
    assert ticks["test_invite_id_round_trips_into_responses"] == "PASSED", \
        outcomes["_output"]["text"][-3000:]
    assert not failing(outcomes, "TestTicks")


def test_a_lost_tick_fails_the_answer_check() -> None:
    from tierctl.testing.contract import ProviderContract, _same_answer

    inv = type("Inv", (), {"contact_name": "Ann", "questions": (
        type("Q", (), {"id": "areas", "type": "multiple_choice", "choices": ("Reporting", "Billing", "API"),
                       "bounds": None})(),)})()
    given = ProviderContract().answers_for(inv)
    assert given == {"areas": ["Reporting", "Billing"]}
    assert _same_answer(["Billing", "Reporting"], given["areas"]) and _same_answer("Reporting; Billing", given["areas"])
    assert not _same_answer("Reporting", given["areas"]) and not _same_answer(["Reporting"], given["areas"])
    assert not _same_answer(7, given["areas"])


@pytest.mark.parametrize("cls, check", [
    ("TestDropsResult", "test_send_returns_one_result_per_invitation"),
    ("TestLeaks", "test_secrets_never_shown"),
    ("TestRaw", "test_connection_refused_becomes_a_tierctl_error"),
    ("TestRaw", "test_timeout_becomes_a_tierctl_error"),
    ("TestNoPace", "test_declared_rate_limit_is_honoured_when_sending"),
    ("TestNoPace", "test_declared_rate_limit_is_honoured_when_fetching"),
    ("TestIgnoresCursor", "test_fetching_again_with_the_cursor_returns_no_duplicates"),
])
def test_each_broken_promise_fails_its_check(outcomes: dict[str, dict[str, str]], cls: str, check: str) -> None:
    assert check in failing(outcomes, cls), outcomes["_output"]["text"][-3000:]


def test_broken_promises_fail_only_their_own_checks(outcomes: dict[str, dict[str, str]]) -> None:
    assert failing(outcomes, "TestLeaks") == {"test_secrets_never_shown"}
    assert failing(outcomes, "TestIgnoresCursor") == {"test_fetching_again_with_the_cursor_returns_no_duplicates"}


def test_every_failure_says_what_was_observed_the_rule_and_the_doc_section(outcomes: dict[str, dict[str, str]]) -> None:
    text = outcomes["_output"]["text"]
    failures = sum(len(failing(outcomes, cls)) for cls in outcomes if cls != "_output")
    assert failures >= 7 and text.count("see: docs/plugins.md §") >= failures
    assert re.search(r"observed: one result per invitation expected: .*\n.*rule: send returns a list with one "
                     r"SendResult per invitation.*\n.*see: docs/plugins.md §5 Sending", text)
    assert re.search(r"rule: a fetch returns each response once and a cursor.*\n.*see: docs/plugins.md §7 Fetching "
                     r"responses", text)
    assert re.search(r"rule: every request takes a token from the engine's limiter.*\n.*see: docs/plugins.md §6 "
                     r"Calling the API", text)
    assert "rule: a platform that cannot be reached gives a ProviderError naming the instance" in text


def test_a_failure_never_shows_a_secret_option_in_full(tierctl_engine) -> None:
    from tierctl.testing import ProviderContract
    from tierctl.testing.faults import explains

    secret = "whsec-do-not-print-0123456789"
    provider = tierctl_engine.provider("webhook", {"url": "http://127.0.0.1:9/hook", "secret": secret})

    @explains("the rule", "§5 Sending")
    def check(self, contract_engine, contract_provider):
        assert False, f"the provider said: bad signature with {secret}"

    with pytest.raises(AssertionError) as info:
        check(ProviderContract(), contract_engine=tierctl_engine, contract_provider=provider)
    text = str(info.value)
    assert secret not in text and "wh...89 (29 characters)" in text
    assert text.startswith("observed: the provider said: bad signature with") and "rule: the rule" in text


def test_what_a_provider_cannot_do_is_skipped_with_the_reason(outcomes: dict[str, dict[str, str]]) -> None:
    mailer = outcomes["TestMailer"]
    assert mailer["test_send_returns_one_result_per_invitation"] == "PASSED"
    skipped = {check for check, result in mailer.items() if result == "SKIPPED"}
    assert skipped == {"test_invite_id_round_trips_into_responses",
                       "test_fetching_again_with_the_cursor_returns_no_duplicates", "test_a_time_works_as_a_cursor",
                       "test_connection_refused_becomes_a_tierctl_error", "test_timeout_becomes_a_tierctl_error",
                       "test_declared_rate_limit_is_honoured_when_sending",
                       "test_declared_rate_limit_is_honoured_when_fetching", "test_secrets_never_shown"} | FAULT_CHECKS
    text = outcomes["_output"]["text"]
    for reason in ("provider 'toy' does not fetch responses (can_fetch = False)",
                   "provider 'toy' declares no rate limit", "provider 'toy' has no secret options set",
                   "no 127.0.0.1/localhost address or port in the options of provider 'toy'"):
        assert reason in text


# --- the pytest plugin -----------------------------------------------------------------

def test_the_pytest_plugin_imports_nothing_heavy() -> None:
    code = ("import sys, tierctl.testing.pytest_plugin\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tierctl', 'pydantic', 'requests', 'jinja2', 'yaml', 'aiosmtpd', 'click')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "['tierctl', 'tierctl.testing', 'tierctl.testing.pytest_plugin']"


def test_the_plugin_is_registered_with_pytest(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("tierctl"), "the pytest11 entry point 'tierctl' is not loaded"


def test_fixtures_give_an_isolated_engine_and_real_servers(tierctl_engine, tierctl_clock, tierctl_http_server,
                                                           tierctl_smtp_server, tierctl_unused_port) -> None:
    assert tierctl_engine.clock is tierctl_clock
    provider = tierctl_engine.provider("webhook", {"url": f"{tierctl_http_server.url}/hook",
                                                   "secret": "${HOOK_SECRET}", "per_second": 2},
                                       env={"HOOK_SECRET": "hook-secret-0123456789"})
    outcome = tierctl_engine.send(provider, invitations(5))
    assert outcome.ok and set(outcome.states.values()) == {"sent"} and tierctl_http_server.count == 5
    # Five tokens from a bucket of two per second: paced on the fake clock, not the real one.
    assert tierctl_clock.slept == pytest.approx(1.5)
    mail = tierctl_engine.provider("smtp", {"host": "127.0.0.1", "port": tierctl_smtp_server.port,
                                            "security": "none", "from_address": "surveys@acme.example",
                                            "survey_url": "https://s.example/{invite_id}"})
    # One ledger per engine: what it sent once, it never sends again.
    assert tierctl_engine.send(mail, invitations(1)).states == {"inv-0001": "sent"} and not tierctl_smtp_server.messages
    assert tierctl_engine.send(mail, invitations(1, start=6)).ok and len(tierctl_smtp_server.wait_for(1)) == 1
    assert isinstance(tierctl_unused_port, int)


def test_engines_do_not_share_state(tierctl_engine_factory) -> None:
    from tierctl.plugins import builtin

    one, two = tierctl_engine_factory(), tierctl_engine_factory(plugins={"outbox": builtin.outbox})
    assert one.root != two.root and one.host is not two.host
    assert list(two.host.providers) == ["outbox"]
    provider = two.provider("outbox", {"dir": "out", "survey_url": "https://s.example/{invite_id}"})
    two.send(provider, invitations(2))
    assert len(two.states()) == 2 and one.states() == {}


def test_a_misspelt_option_is_a_config_error_naming_the_plugin(tierctl_engine) -> None:
    from tierctl.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown option for plugin 'outbox' \(did you mean 'dir'\?\)"):
        tierctl_engine.provider("outbox", {"dri": "out"})


def test_fake_clock_sleeps_always_advance() -> None:
    clock = FakeClock()
    clock.sleep(0.3)
    before = clock.monotonic()
    clock.sleep(1e-18)  # a rounding error must still let time pass
    assert clock.monotonic() > before and clock.sleeps == [0.3, 1e-18]


class _Api(HttpDouble):
    @route("GET", "/v1/things/{thing}")
    def thing(self, request, thing):
        return {"thing": thing, "q": request.query.get("q")}

    @route("POST", "/v1/things")
    def create(self, request):
        return 201, {"created": request.json()["name"]}

    @route("GET", "/v1/boom")
    def boom(self, request):
        raise RuntimeError("bug in the double")


def test_http_double_routes_scripts_and_errors(tierctl_serve) -> None:
    import requests

    api = tierctl_serve(_Api())
    assert requests.get(f"{api.url}/v1/things/a%20b?q=1", timeout=5).json() == {"thing": "a%20b", "q": "1"}
    created = requests.post(f"{api.url}/v1/things", json={"name": "x"}, timeout=5)
    assert (created.status_code, created.json()) == (201, {"created": "x"})
    assert requests.get(f"{api.url}/v1/nothing", timeout=5).status_code == 404
    assert requests.delete(f"{api.url}/v1/things", timeout=5).status_code == 405
    api.script(Reply.json({"error": "slow down"}, 429, {"Retry-After": "1"}))
    limited = requests.get(f"{api.url}/v1/things/a", timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    assert requests.get(f"{api.url}/v1/boom", timeout=5).status_code == 500
    assert len(api.errors) == 1 and "bug in the double" in api.errors[0]
    assert api.count == 6 and api.max_requests_in(60) == 6


def test_smtp_server_without_aiosmtpd_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from tierctl.testing import SmtpServer

    monkeypatch.setitem(sys.modules, "aiosmtpd", None)
    monkeypatch.setitem(sys.modules, "aiosmtpd.controller", None)
    with pytest.raises(ModuleNotFoundError, match=r"needs aiosmtpd.*pip install 'aiosmtpd>=1.4'"):
        with SmtpServer():
            pass


def test_contract_docstring_names_every_hook() -> None:
    from tierctl.testing import ProviderContract

    doc = textwrap.dedent(ProviderContract.__doc__ or "")
    for name in ("provider_options", "double", "provider_env", "other_providers", "answer", "answers_for",
                 "make_invitations", "break_transport", "stall_transport", "count_requests", "secret_values",
                 "plugin", "plugins", "send_uses_transport", "contract_engine", "contract_provider"):
        assert f"``{name}" in doc, name


def test_an_engine_on_the_real_clock_builds_providers_that_wait_for_real(tierctl_engine_factory) -> None:
    """The kit's builder is the one provider tests use: on ``RealClock`` its providers wait as in
    production (against doubles that hold a client to a rate by the wall clock), with the config's
    surveys as given."""
    import time

    from tierctl.providers import clock_of
    from tierctl.testing import RealClock

    engine = tierctl_engine_factory(clock=RealClock())
    surveys = {"feedback": {"title": "Feedback", "provider": "crm",
                            "questions": [{"id": "nps", "type": "nps", "text": "Recommend us?"}]}}
    provider = engine.provider("webhook", {"url": "http://127.0.0.1:9/hook", "secret": "a-secret-of-sixteen-or-more",
                                           "per_second": 20}, instance="crm", surveys=surveys)
    assert isinstance(clock_of(provider), RealClock) and list(engine.config.surveys) == ["feedback"]
    assert [q.id for q in provider.context.questions("feedback")] == ["nps"]
    started = time.monotonic()
    provider.sleep(0.05)
    for _ in range(22):  # a bucket of 20 a second: the last two wait about 0.1 s on the real clock
        provider.limiter.acquire()
    assert time.monotonic() - started >= 0.05 + 0.08


def test_a_request_cut_off_mid_body_is_neither_counted_nor_recorded() -> None:
    """A sender killed while posting leaves half a request: a platform never sees it as one (the
    kill test counts the double's requests as deliveries)."""
    import socket
    import time
    from urllib.parse import urlsplit

    from tierctl.testing import HttpServer

    with HttpServer(Reply(200, b"{}")) as server:
        address = (urlsplit(server.url).hostname, urlsplit(server.url).port)
        with socket.create_connection(address) as cut:
            cut.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{\"survey\": ")
        body = b'{"survey": "s"}'
        with socket.create_connection(address) as whole:
            whole.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (len(body), body))
            assert whole.recv(100).startswith(b"HTTP/1.")
        time.sleep(0.2)  # the cut request's handler has read to its end by now
        assert server.count == 1
        assert [r.body for r in server.requests] == [body]
