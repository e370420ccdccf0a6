"""The provider contract: checks every survey-provider plugin must pass.

A provider package runs them against its own provider with a few lines::

    import pytest
    from tierctl.testing import ProviderContract

    class TestAcmeContract(ProviderContract):
        plugin = "acme"

        @pytest.fixture
        def double(self):
            with AcmeApi() as api:
                yield api

        @pytest.fixture
        def provider_options(self, double):
            return {"base_url": double.url, "api_key": "acme-test-key-0123456789"}

        def answer(self, double, invitation, answers):
            double.respond(invitation.invite_id, answers)

See :class:`ProviderContract` for every fixture and hook a subclass can
override. A check that does not apply to a provider (no fetching, no rate
limit, no secrets, no network transport) is skipped, and the skip reason
says why: that is a capability of the provider, not a missing feature.
"""

from __future__ import annotations

import base64
import itertools
import logging
import math
import re
import threading
import time
import urllib.parse
import warnings
from typing import Any, ClassVar, Mapping

import pytest

from tierctl.testing.engine import Engine, RecordingLimiter, SendOutcome
from tierctl.testing.faults import CALLING, FETCHING, SENDING, FaultChecks, contract_failure, explains, masked
from tierctl.testing.samples import invitation as sample_invitation
from tierctl.testing.sockets import SilentServer, unused_port

__all__ = ["ProviderContract"]

_LOCAL_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?:[^@/]*@)?(?P<host>127\.0\.0\.1|localhost|\[::1\])"
                        r"(?::(?P<port>\d+))?", re.IGNORECASE)
_RAW_REPR = re.compile(r" object at 0x[0-9a-f]+|Traceback \(most recent call last\)")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_ids = itertools.count(1)


class ProviderContract(FaultChecks):
    """The contract suite for a survey-provider plugin; subclass it in your tests.

    Class attributes:

    ``plugin`` (required)
        The provider's registered name (what users write as ``plugin:``).
    ``plugins``
        ``{name: module or object}`` to build the engine's plugin host from;
        ``None`` (default) uses the installed ``tierctl`` entry points, so the
        check covers your packaging too.
    ``instance``
        The provider instance's name in the generated config (``contract``).
    ``batch``
        Invitations per check (3).
    ``rate_check_invitations``
        Invitations sent by the rate-limit check (6).
    ``stall_timeout``
        Seconds put into a ``timeout`` option, when the options model has
        one, for the check of a timeout after the delivery request, where
        the other requests must still be answered in time (0.5).
    ``silent_timeout``
        Seconds put into the ``timeout`` option for the check against a
        server that never answers (0.2): every attempt, retries included,
        waits this long in real time, so it is kept short; the default
        retry options stay as they are.
    ``transport_timeout``
        Wall-clock seconds a send or fetch against a dead or silent server
        may take before the check fails (30).
    ``send_uses_transport``
        ``False`` for link-only platforms whose invitations go out through
        another provider (the mailer) without an API request: the transport
        checks then expect sending to succeed while the platform is down
        (only fetching must fail), and sending is not rate-checked (True).

    Fixtures (override with ``@pytest.fixture`` methods of the same name):

    ``provider_options`` (required)
        The provider's options as written in YAML (a dict; ``${NAME}``
        works, see ``provider_env``), pointing at your double.
    ``double``
        Your platform's test double, started; passed to the hooks below
        (default ``None``).
    ``provider_env``
        Environment variables for ``${NAME}`` in the options (default ``{}``).
    ``other_providers``
        Further provider instances the config needs, ``{name: {plugin: ..,
        **options}}`` (e.g. the mailer of a link-only platform; default ``{}``).

    Hooks (override as plain methods):

    ``answer(double, invitation, answers)``
        Make a respondent answer ``invitation`` on the double (``answers``:
        question id -> value). Required when the provider can fetch
        responses (``can_fetch = True``); the fetch checks fail without it.
    ``answers_for(invitation)``
        The answers ``answer`` is given (default: a valid value for each of
        the invitation's questions; for a ``multiple_choice`` question a list
        of its first two choices, which may be fetched back as a list or as
        one text with ``;`` between them).
    ``make_invitations(count)``
        Fresh invitations for a check (default: the sample invitations of
        :mod:`tierctl.testing.samples` with unique, real-looking invite ids
        and addresses; survey ``pre-meeting``).
    ``break_transport(options, port)``
        Options with which every request fails with "connection refused"
        (``port`` has no listener). Default: every ``http(s)://127.0.0.1:N``
        (or ``localhost``) in the option values and any ``port`` option is
        pointed at ``port``; ``None`` (no address found) skips the check.
    ``stall_transport(options, port)``
        Options with which every request is accepted and never answered
        (``port`` is a silent server). Default: like ``break_transport``,
        and a ``timeout`` option, if the model has one, set to
        ``silent_timeout``. Override to also turn off retries that would make
        the check slow.
    ``count_requests(double)``
        How many requests (API calls, or messages for SMTP) the double has
        received so far, for the rate-limit checks. Default: ``double.count``
        (:class:`~tierctl.testing.HttpServer`), else ``len(double.messages)``
        (:class:`~tierctl.testing.SmtpServer`), else ``len(double.requests)``;
        ``None`` checks only that the limiter was used.
    ``secret_values(options)``
        The secrets that must never be shown (default: every ``SecretStr``
        value in the validated options).
    ``deliveries(double)``
        Optional. The invite ids the platform was asked to deliver to a
        person, one entry per delivery, repeats included (read them from
        the double's state, e.g. the metadata of every invitation stored).
        Defining it makes every sending check apply the delivery rules
        below, and opts in to the fault-injection checks
        (:mod:`tierctl.testing.faults`): every invitation is delivered at
        most once and each ``sent`` one exactly once, through a 429 with
        ``Retry-After`` mid-batch (waited out on the provider's clock), 500s
        and a dropped connection after some requests, a timeout after the
        delivery request (must be ``unknown``), pages that shift by a few
        items while fetching, a response stamped with the cursor's instant
        arriving between two fetches (collected exactly once) and one
        arriving while the last page is answered. The double must be a
        :class:`~tierctl.testing.HttpServer` (an ``HttpDouble``) that stamps
        what it stores with ``self.now()`` (the kit freezes it).

    Other fixtures the checks use: ``contract_engine`` (an isolated
    :class:`~tierctl.testing.Engine` with a temporary ledger and a fake
    clock) and ``contract_provider`` (the provider built from
    ``provider_options``), both usable in your own tests in the subclass.
    """

    plugin: ClassVar[str] = ""
    plugins: ClassVar[Mapping[str, Any] | None] = None
    instance: ClassVar[str] = "contract"
    batch: ClassVar[int] = 3
    rate_check_invitations: ClassVar[int] = 6
    stall_timeout: ClassVar[float] = 0.5
    silent_timeout: ClassVar[float] = 0.2
    transport_timeout: ClassVar[float] = 30.0
    send_uses_transport: ClassVar[bool] = True

    # --- fixtures a subclass overrides ----------------------------------------------------

    @pytest.fixture
    def provider_options(self) -> dict[str, Any]:
        pytest.fail(f"{type(self).__name__} must define a provider_options fixture: the options of "
                    f"plugin {self.plugin!r} as written in YAML, pointing at your test double")

    @pytest.fixture
    def double(self) -> Any:
        return None

    @pytest.fixture
    def provider_env(self) -> dict[str, str]:
        return {}

    @pytest.fixture
    def other_providers(self) -> dict[str, dict[str, Any]]:
        return {}

    # --- hooks a subclass overrides -------------------------------------------------------

    def answer(self, double: Any, invitation: Any, answers: dict[str, Any]) -> None:
        raise NotImplementedError

    def answers_for(self, invitation: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for q in invitation.questions:
            if q.type == "text":
                values[q.id] = f"Answer from {invitation.contact_name}"
            elif q.type == "choice":
                values[q.id] = q.choices[0] if q.choices else "yes"
            elif q.type == "multiple_choice":
                values[q.id] = list(q.choices[:2]) or ["yes"]  # ticked: a list of choice labels
            elif q.bounds:
                values[q.id] = q.bounds[1] - 1
        return values

    def make_invitations(self, count: int) -> list[Any]:
        from tierctl.surveys.send_run import new_invite_id

        out = []
        for _ in range(count):
            n = next(_ids)
            out.append(sample_invitation(n, invite_id=new_invite_id(),
                                         contact_email=f"contract{n}-{new_invite_id()[:6].lower()}@globex.example"))
        return out

    def break_transport(self, options: dict[str, Any], port: int) -> dict[str, Any] | None:
        changed, new = _point_at(options, port)
        return new if changed else None

    def stall_transport(self, options: dict[str, Any], port: int) -> dict[str, Any] | None:
        changed, new = _point_at(options, port)
        if not changed:
            return None
        if "timeout" in self._options_model().model_fields:
            new["timeout"] = self.silent_timeout
        return new

    def count_requests(self, double: Any) -> int | None:
        count = getattr(double, "count", None)
        if isinstance(count, int) and not isinstance(count, bool):
            return count
        for attr in ("messages", "requests"):
            items = getattr(double, attr, None)
            if isinstance(items, list):
                return len(items)
        return None

    def secret_values(self, options: Any) -> list[str]:
        return sorted({s for s in _secrets(options) if s})

    # --- the suite's own fixtures ---------------------------------------------------------

    @pytest.fixture
    def contract_engine(self, tmp_path: Any, provider_env: dict[str, str]) -> Any:
        if not self.plugin:
            pytest.fail(f"{type(self).__name__} must set plugin = '<registered provider name>'")
        with Engine(tmp_path / "tierctl-contract", self.plugins, env=provider_env) as engine:
            self._model = self._provider_class(engine).Options
            yield engine

    @pytest.fixture
    def contract_provider(self, contract_engine: Engine, provider_options: dict[str, Any],
                          other_providers: dict[str, dict[str, Any]], double: Any) -> Any:
        self._double = double  # every send through _sent applies the delivery rules to it
        return contract_engine.provider(self.plugin, provider_options, instance=self.instance,
                                        others=other_providers)

    # --- helpers --------------------------------------------------------------------------

    def _provider_class(self, engine: Engine) -> Any:
        registry = engine.host.providers
        if self.plugin not in registry:
            from tierctl.util.suggest import did_you_mean, one_of

            pytest.fail(f"no survey provider {self.plugin!r} is registered{did_you_mean(self.plugin, registry)}; "
                        f"registered: {one_of(registry)}{engine.host.load_hint(self.plugin)}")
        return registry[self.plugin]

    def _options_model(self) -> Any:
        return getattr(self, "_model", None) or _NoFields

    def _fetch_or_skip(self, provider: Any) -> None:
        if not getattr(provider, "can_fetch", False):
            pytest.skip(f"provider {self.plugin!r} does not fetch responses (can_fetch = False): responses come "
                        "in through tierctl survey import, so there is nothing to fetch")

    def _answer(self, double: Any, invitation: Any) -> dict[str, Any]:
        answers = self.answers_for(invitation)
        try:
            self.answer(double, invitation, answers)
        except NotImplementedError:
            pytest.fail(f"provider {self.plugin!r} can fetch responses, so {type(self).__name__} must define "
                        "answer(self, double, invitation, answers) to make a respondent answer an invitation "
                        "on the test double")
        return answers

    def _sent(self, engine: Engine, provider: Any, invitations: list[Any], what: str = "a send") -> SendOutcome:
        """Send through the engine against the healthy double: all sent, and (where ``deliveries`` is
        defined) each delivered exactly once."""
        outcome = engine.send(provider, invitations)
        assert outcome.error is None, f"send failed as a whole against a healthy double: {outcome.error}"
        failed = [f"{r.invite_id}: {r.reason}" for r in outcome.results if not r.ok]
        assert not failed, f"invitations failed against a healthy double: {failed}"
        self._deliveries_if_counted(what, getattr(self, "_double", None), invitations, engine)
        return outcome

    def _bounded(self, what: str, func: Any) -> tuple[Any, BaseException | None]:
        """Run ``func`` in a thread; fail if it takes longer than ``transport_timeout``."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = func()
            except BaseException as exc:  # noqa: BLE001 - judged by the caller
                box["error"] = exc

        thread = threading.Thread(target=run, daemon=True, name=f"tierctl-contract-{what}")
        started = time.monotonic()
        thread.start()
        thread.join(self.transport_timeout)
        if thread.is_alive():
            pytest.fail(f"{what} did not finish within {self.transport_timeout:g}s; set timeouts on every request "
                        f"(or override stall_transport to shorten them and turn off retries in the check)")
        box["seconds"] = time.monotonic() - started
        return box.get("value"), box.get("error")

    def _judge_transport_failure(self, what: str, sent: list[Any], value: Any, error: BaseException | None,
                                 instance: str) -> list[str]:
        """Assert a send against a broken transport failed the tierctl way; return the messages."""
        from tierctl.providers import ProviderError

        if error is not None:
            if not isinstance(error, ProviderError):
                raise AssertionError(
                    f"{what}: send raised {type(error).__module__}.{type(error).__name__}: {error}; transport "
                    "errors must become tierctl.providers.ProviderError (when nothing went out) or failed "
                    "results, never a raw exception") from error
            text = str(error)
            assert instance in text or self.plugin in text, \
                f"{what}: the ProviderError does not name the instance {instance!r} or plugin: {text!r}"
            assert not _RAW_REPR.search(text), f"{what}: the message shows a raw exception: {text!r}"
            return [text]
        results = list(value or [])
        ids = sorted(i.invite_id for i in sent)
        assert sorted(r.invite_id for r in results) == ids, \
            f"{what}: expected one result per invitation {ids}, got {[r.invite_id for r in results]}"
        messages = []
        for r in results:
            assert not r.ok, f"{what}: {r.invite_id} is reported sent although the server could not be reached"
            assert isinstance(r.reason, str) and r.reason.strip(), f"{what}: failed result without a reason"
            assert not _RAW_REPR.search(r.reason), f"{what}: the reason shows a raw exception: {r.reason!r}"
            messages.append(r.reason)
        return messages

    # --- the checks -----------------------------------------------------------------------

    @explains("the plugin is registered under its name as a tierctl.providers.Provider subclass whose Options model "
              "(a ProviderOptions) refuses unknown keys with a did-you-mean hint",
              "§3 Options")
    def test_registered_with_a_strict_options_model(self, contract_engine: Engine,
                                                     provider_options: dict[str, Any],
                                                     other_providers: dict[str, dict[str, Any]]) -> None:
        """The plugin is registered, declares itself, and rejects a misspelt option with a hint."""
        from pydantic import BaseModel

        from tierctl.errors import ConfigError
        from tierctl.providers import Provider

        cls = self._provider_class(contract_engine)
        assert isinstance(cls, type) and issubclass(cls, Provider), \
            f"{self.plugin!r} is registered as {cls!r}, not a subclass of tierctl.providers.Provider"
        assert cls.name == self.plugin, f"{cls.__name__}.name is {cls.name!r}; set it to {self.plugin!r}"
        assert isinstance(cls.Options, type) and issubclass(cls.Options, BaseModel), \
            f"{cls.__name__}.Options must be a pydantic model (subclass tierctl.providers.ProviderOptions)"
        assert cls.Options.model_config.get("extra") == "forbid", \
            f"{cls.__name__}.Options must forbid unknown keys (subclass ProviderOptions) so typos are errors"
        assert isinstance(cls.batch_size, int) and cls.batch_size >= 1, f"batch_size must be >= 1: {cls.batch_size!r}"
        if cls.can_fetch:
            assert cls.fetch_responses is not Provider.fetch_responses, \
                f"{cls.__name__}.can_fetch is True but fetch_responses is not implemented"
        registration = contract_engine.host.registry("providers")[self.plugin]
        if not isinstance(registration.value, str):
            warnings.warn(f"provider {self.plugin!r} is registered as a class, so its module (and everything it "
                          "imports) loads on every tierctl start; register the import path "
                          f"'package.module:{cls.__name__}' instead", stacklevel=1)
        if provider_options:
            key = next(iter(provider_options))
            typo = {**provider_options, f"{key}x": provider_options[key]}
            with pytest.raises(ConfigError) as info:
                contract_engine.build({self.instance: {"plugin": self.plugin, **typo}, **other_providers})
            assert f"unknown option for plugin {self.plugin!r} (did you mean {key!r}?)" in str(info.value), \
                str(info.value)

    @explains("send returns a list with one SendResult per invitation of the batch, matched by invite_id",
              SENDING)
    def test_send_returns_one_result_per_invitation(self, contract_engine: Engine, contract_provider: Any,
                                                    double: Any) -> None:
        """A batch gives exactly one SendResult per invitation, matched by invite id (and, where
        ``deliveries`` is defined, each sent one was delivered exactly once)."""
        from tierctl.records import SendResult

        batch = self.make_invitations(self.batch)
        results = contract_provider.send(batch)
        assert isinstance(results, list), f"send must return a list, got {type(results).__name__}"
        assert all(isinstance(r, SendResult) for r in results), f"send must return SendResults: {results!r}"
        got = [r.invite_id for r in results]
        assert sorted(got) == sorted(i.invite_id for i in batch), \
            f"one result per invitation expected: sent {[i.invite_id for i in batch]}, got results for {got}"
        failed = [f"{r.invite_id}: {r.reason}" for r in results if not r.ok]
        assert not failed, f"invitations failed against a healthy double: {failed}"
        self._results_delivered("send called directly", double, results)

    @explains("against a healthy platform every invitation sent through the engine (claimed, paced, batched) "
              "ends up sent",
              SENDING)
    def test_engine_records_every_invitation_as_sent(self, contract_engine: Engine, contract_provider: Any,
                                                     double: Any) -> None:
        """Through the engine (ledger claim, pacing, batches), every invitation ends up 'sent' (and, where
        ``deliveries`` is defined, was delivered exactly once)."""
        invitations = self.make_invitations(self.batch)
        outcome = self._sent(contract_engine, contract_provider, invitations, "a send through the engine")
        assert outcome.states == {i.invite_id: "sent" for i in invitations}, outcome.states

    @explains("each response carries the invite id from the platform's metadata channel, a response_id, a "
              "timezone-aware submitted_at and answers keyed by tierctl's question ids; unanswered invitations have none",
              FETCHING)
    def test_invite_id_round_trips_into_responses(self, contract_engine: Engine, contract_provider: Any,
                                                   double: Any) -> None:
        """Answers to an invitation come back carrying its invite id, and only answered ones come back."""
        self._fetch_or_skip(contract_provider)
        invitations = self.make_invitations(self.batch)
        self._sent(contract_engine, contract_provider, invitations, "a send before fetching")
        answered = {i.invite_id: self._answer(double, i) for i in invitations[:-1]}
        survey_id = invitations[0].survey_id
        responses, _ = contract_engine.fetch_all(contract_provider, survey_id)
        by_invite = {r.invite_id: r for r in responses}
        missing = sorted(set(answered) - set(by_invite))
        assert not missing, (f"responses to {missing} were not fetched, or came back without their invite id "
                             f"(fetched invite ids: {sorted(map(str, by_invite))}); carry the invite id in the "
                             "platform's metadata channel and set RawResponse.invite_id from it")
        assert invitations[-1].invite_id not in by_invite, "a response was fetched for an unanswered invitation"
        for invite_id, answers in answered.items():
            response = by_invite[invite_id]
            assert isinstance(response.response_id, str) and response.response_id, "empty response_id"
            assert response.submitted_at.tzinfo is not None, "submitted_at must be timezone-aware"
            for qid, value in answers.items():
                assert qid in response.answers, \
                    f"answer to question {qid!r} missing from {response.answers!r} (key answers by question id)"
                assert _same_answer(response.answers[qid], value), \
                    f"question {qid!r}: answered {value!r}, fetched {response.answers[qid]!r}"

    @explains("a fetch returns each response once and a cursor; fetching again from it returns only what is new "
              "since (nothing twice, nothing lost)",
              FETCHING)
    def test_fetching_again_with_the_cursor_returns_no_duplicates(self, contract_engine: Engine,
                                                                   contract_provider: Any, double: Any) -> None:
        """The returned cursor moves on: nothing twice, and what is new after it comes next time."""
        self._fetch_or_skip(contract_provider)
        invitations = self.make_invitations(self.batch)
        self._sent(contract_engine, contract_provider, invitations)
        for inv in invitations[:-1]:
            self._answer(double, inv)
        survey_id = invitations[0].survey_id
        first, cursor = contract_engine.fetch_all(contract_provider, survey_id)
        ids = [r.response_id for r in first]
        assert len(ids) == len(set(ids)), f"one fetch returned a response twice: {sorted(ids)}"
        assert cursor is not None, "fetch_responses returned no cursor after responses came in"
        again, cursor2 = contract_engine.fetch_all(contract_provider, survey_id, cursor)
        repeated = sorted({r.response_id for r in again} & set(ids))
        assert not repeated, f"fetching again with the returned cursor repeated {repeated}"
        self._answer(double, invitations[-1])
        later, _ = contract_engine.fetch_all(contract_provider, survey_id, cursor2 or cursor)
        assert invitations[-1].invite_id in {r.invite_id for r in later}, \
            "a response given after the cursor was not fetched with that cursor"
        repeated = sorted({r.response_id for r in later} & set(ids))
        assert not repeated, f"a fetch with a later cursor repeated earlier responses {repeated}"

    @explains("an ISO 8601 time (aware UTC, from survey collect --since) works as a cursor: responses from then on",
              FETCHING)
    def test_a_time_works_as_a_cursor(self, contract_engine: Engine, contract_provider: Any, double: Any) -> None:
        """``tierctl survey collect --since`` passes an ISO 8601 time as the cursor."""
        self._fetch_or_skip(contract_provider)
        invitations = self.make_invitations(2)
        self._sent(contract_engine, contract_provider, invitations)
        self._answer(double, invitations[0])
        responses, _ = contract_engine.fetch_all(contract_provider, invitations[0].survey_id,
                                                 "2000-01-01T00:00:00+00:00")
        assert invitations[0].invite_id in {r.invite_id for r in responses}, \
            "fetch_responses with an ISO 8601 time as cursor did not return a later response"

    @explains("a platform that cannot be reached gives a ProviderError naming the instance, or failed results "
              "with a reason, never a raw exception, in bounded time",
              CALLING)
    def test_connection_refused_becomes_a_tierctl_error(self, contract_engine: Engine,
                                                         provider_options: dict[str, Any],
                                                         other_providers: dict[str, dict[str, Any]]) -> None:
        """A dead server gives ProviderError or failed results naming the provider, never a raw exception."""
        port = unused_port()
        broken = self.break_transport(dict(provider_options), port)
        if broken is None:
            pytest.skip(f"no 127.0.0.1/localhost address or port in the options of provider {self.plugin!r}: "
                        "it does not talk to a server (define break_transport() if it does)")
        provider = contract_engine.provider(self.plugin, broken, instance=self.instance, others=other_providers)
        batch = self.make_invitations(self.batch)
        value, error = self._bounded("send to a closed port", lambda: provider.send(batch))
        self._judge_send("connection refused", batch, value, error)
        if getattr(provider, "can_fetch", False):
            _, error = self._bounded("fetch from a closed port",
                                     lambda: contract_engine.fetch_all(provider, batch[0].survey_id))
            self._judge_fetch_failure("connection refused", error)

    @explains("a platform that never answers gives a ProviderError naming the instance, or failed results with "
              "a reason, never a raw exception, in bounded time (a timeout on every request)",
              CALLING)
    def test_timeout_becomes_a_tierctl_error(self, contract_engine: Engine, provider_options: dict[str, Any],
                                              other_providers: dict[str, dict[str, Any]]) -> None:
        """A server that never answers gives ProviderError or failed results, in bounded time."""
        with SilentServer() as silent:
            stalled = self.stall_transport(dict(provider_options), silent.port)
            if stalled is None:
                pytest.skip(f"no 127.0.0.1/localhost address or port in the options of provider {self.plugin!r}: "
                            "it does not talk to a server (define stall_transport() if it does)")
            provider = contract_engine.provider(self.plugin, stalled, instance=self.instance,
                                                others=other_providers)
            batch = self.make_invitations(self.batch)
            value, error = self._bounded("send to a server that never answers", lambda: provider.send(batch))
            self._judge_send("timeout", batch, value, error)
            if getattr(provider, "can_fetch", False):
                _, error = self._bounded("fetch from a server that never answers",
                                         lambda: contract_engine.fetch_all(provider, batch[0].survey_id))
                self._judge_fetch_failure("timeout", error)
            provider.close()

    def _judge_send(self, what: str, batch: list[Any], value: Any, error: BaseException | None) -> None:
        if self.send_uses_transport:
            self._judge_transport_failure(what, batch, value, error, self.instance)
            return
        assert error is None, (f"{what}: send raised {type(error).__name__}: {error}, but send_uses_transport = "
                               "False says sending does not need the platform's API")
        ids = sorted(i.invite_id for i in batch)
        assert sorted(r.invite_id for r in value or []) == ids and all(r.ok for r in value), \
            f"{what}: sending must not depend on the platform's API (send_uses_transport = False): {value!r}"

    def _judge_fetch_failure(self, what: str, error: BaseException | None) -> None:
        from tierctl.providers import ProviderError

        assert error is not None, f"{what}: fetch_responses returned normally although the server was unreachable"
        if not isinstance(error, ProviderError):
            raise AssertionError(f"{what}: fetch_responses raised {type(error).__module__}."
                                 f"{type(error).__name__}: {error}; raise tierctl.providers.ProviderError") from error
        text = str(error)
        assert self.instance in text or self.plugin in text, f"{what}: the error does not name the provider: {text!r}"
        assert not _RAW_REPR.search(text), f"{what}: the message shows a raw exception: {text!r}"

    def _limiter_or_skip(self, provider: Any) -> RecordingLimiter:
        from tierctl.providers import RateLimit

        if provider.rate_limit is None:
            pytest.skip(f"provider {self.plugin!r} declares no rate limit (rate_limit = None with these options): "
                        "the engine does not pace it")
        assert isinstance(provider.rate_limit, RateLimit), f"rate_limit must be a RateLimit: {provider.rate_limit!r}"
        assert isinstance(provider.limiter, RecordingLimiter), "the engine's limiter was replaced by the provider"
        return provider.limiter

    def _check_paced(self, what: str, limiter: RecordingLimiter, start: int, requests: int | None,
                     rate: Any) -> None:
        acquired = limiter.acquired[start:]
        tokens = sum(n for _, n in acquired)
        assert acquired, (f"{what}: no tokens were taken from the rate limiter; with paces_itself = True the "
                          "provider must call self.pace() (or self.limiter.acquire()) before each request")
        if requests is not None:
            # The engine takes batch * requests_per_invitation tokens per batch; a partly filled batch may
            # round its last request down, hence the ceiling per acquire.
            budget = sum(math.ceil(n - 1e-9) for _, n in acquired)
            assert requests <= budget, (
                f"{what}: {requests} requests reached the double but only {tokens:g} tokens were taken from the "
                f"rate limiter ({rate.requests} per {rate.per_seconds:g}s declared); take a token per request "
                "(paces_itself = True and self.pace() before each request) or declare requests_per_invitation truthfully")
        capacity = max(1.0, min(float(rate.requests), rate.per_second))
        elapsed = acquired[-1][0] - (limiter.acquired[start - 1][0] if start else 0.0)
        needed = (tokens - capacity) / rate.per_second
        assert elapsed >= needed - 1e-6, \
            f"{what}: {tokens:g} tokens in {elapsed:.3f}s of fake time exceed {rate.requests}/{rate.per_seconds:g}s"

    @explains("every request takes a token from the engine's limiter (paces_itself = True: self.pace(), or "
              "tierctl.http.HttpClient, before each request, retries included) and stays within rate_limit",
              CALLING)
    def test_declared_rate_limit_is_honoured_when_sending(self, contract_engine: Engine, contract_provider: Any,
                                                           double: Any) -> None:
        """Sends take a token per request from the engine's bucket (checked on a fake clock)."""
        limiter = self._limiter_or_skip(contract_provider)
        if not self.send_uses_transport:
            pytest.skip(f"sending through provider {self.plugin!r} makes no API request (send_uses_transport = "
                        "False): there is nothing to pace")
        before, start = self.count_requests(double), len(limiter.acquired)
        paced = self.make_invitations(self.rate_check_invitations)
        self._sent(contract_engine, contract_provider, paced, "a paced send")
        after = self.count_requests(double)
        requests = None if before is None or after is None else after - before
        if requests == 0:
            pytest.skip(f"sending through provider {self.plugin!r} made no request to the double: nothing to pace")
        self._check_paced("sending", limiter, start, requests, contract_provider.rate_limit)

    @explains("every request takes a token from the engine's limiter (paces_itself = True: self.pace(), or "
              "tierctl.http.HttpClient, before each request, retries included) and stays within rate_limit",
              CALLING)
    def test_declared_rate_limit_is_honoured_when_fetching(self, contract_engine: Engine, contract_provider: Any,
                                                            double: Any) -> None:
        """Fetches take a token per request too (the engine cannot pace them for the provider)."""
        self._fetch_or_skip(contract_provider)
        limiter = self._limiter_or_skip(contract_provider)
        invitations = self.make_invitations(self.batch)
        self._sent(contract_engine, contract_provider, invitations)
        for inv in invitations:
            self._answer(double, inv)
        before, start = self.count_requests(double), len(limiter.acquired)
        contract_engine.fetch_all(contract_provider, invitations[0].survey_id)
        after = self.count_requests(double)
        requests = None if before is None or after is None else after - before
        if requests == 0:
            pytest.skip(f"fetching from provider {self.plugin!r} made no request to the double: nothing to pace")
        self._check_paced("fetching", limiter, start, requests, contract_provider.rate_limit)

    def test_secrets_never_shown(self, contract_engine: Engine, contract_provider: Any, double: Any,
                                 provider_options: dict[str, Any], other_providers: dict[str, dict[str, Any]],
                                 caplog: Any) -> None:
        """Secret options never appear in reprs, errors, logs or the tierctl plugins --json document."""
        import json

        from tierctl.cli.plugins_cmd import plugins_document

        secrets = [s for s in self.secret_values(contract_provider.options) if len(s) >= 6]
        if not secrets:
            pytest.skip(f"provider {self.plugin!r} has no secret options set (no SecretStr values of 6+ "
                        "characters in provider_options): nothing to redact")
        caplog.set_level(logging.DEBUG)
        shown = [repr(contract_provider), str(contract_provider), repr(contract_provider.options),
                 str(contract_provider.options), contract_provider.options.model_dump_json()]
        invitations = self.make_invitations(self.batch)
        outcome = contract_engine.send(contract_provider, invitations)
        self._deliveries_if_counted("a send in the secrets check", double, invitations, contract_engine)
        shown += [str(outcome.error or ""), *(r.reason or "" for r in outcome.results), repr(outcome.results)]
        if getattr(contract_provider, "can_fetch", False) and outcome.ok:
            self._answer(double, invitations[0])
            responses, cursor = contract_engine.fetch_all(contract_provider, invitations[0].survey_id)
            shown += [repr(responses), str(cursor)]
        broken = self.break_transport(dict(provider_options), unused_port())
        if broken is not None:
            provider = contract_engine.provider(self.plugin, broken, instance=self.instance, others=other_providers)
            value, error = self._bounded("send to a closed port", lambda: provider.send(self.make_invitations(1)))
            shown += [str(error or ""), repr(error), *(r.reason or "" for r in value or [])]
        shown.append(json.dumps(plugins_document(contract_engine.host)))
        shown += [r.getMessage() for r in caplog.records] + [caplog.text]
        for secret in secrets:
            forms = {secret, urllib.parse.quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}
            for text in shown:
                for form in forms:
                    if form in text:
                        at = text.index(form)
                        context = text[max(0, at - 120):at + len(form) + 120].replace(form, masked(secret))
                        pytest.fail(contract_failure(
                            f"the secret option value {masked(secret)} is shown in: {context!r}",
                            "secret options (SecretStr) never appear in reprs, errors, result reasons, logs or "
                            "tierctl plugins --json", "§3 Options"), pytrace=False)


class _NoFields:
    model_fields: dict[str, Any] = {}


def _same_answer(fetched: Any, answered: Any) -> bool:
    """Whether a fetched answer is the one given: the same text, or for ticked choices (a list) the
    same labels, fetched as a list or as one text with ``;`` between them (see Question)."""
    if isinstance(answered, (list, tuple)):
        labels = fetched.split(";") if isinstance(fetched, str) else fetched
        if not isinstance(labels, (list, tuple)):
            return False
        return sorted(str(label).strip() for label in labels) == sorted(str(label) for label in answered)
    return str(fetched) == str(answered)


def _point_at(options: Any, port: int) -> tuple[bool, Any]:
    """Options with every local address (URL, host + port) pointed at ``127.0.0.1:port``."""
    if isinstance(options, Mapping):
        changed, out = False, {}
        local_host = str(options.get("host", "")).lower() in _LOCAL_HOSTS
        for key, value in options.items():
            if key == "port" and isinstance(value, int) and not isinstance(value, bool) and local_host:
                out[key], changed = port, True
                continue
            sub_changed, out[key] = _point_at(value, port)
            changed = changed or sub_changed
        return changed, out
    if isinstance(options, list):
        pairs = [_point_at(v, port) for v in options]
        return any(c for c, _ in pairs), [v for _, v in pairs]
    if isinstance(options, str):
        match = _LOCAL_URL.match(options)
        if match:
            return True, f"{match.group('scheme')}127.0.0.1:{port}{options[match.end():]}"
    return False, options


def _secrets(value: Any) -> list[str]:
    from pydantic import BaseModel, SecretBytes, SecretStr

    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, SecretBytes):
        return [value.get_secret_value().decode("utf-8", "replace")]
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in _secrets(getattr(value, name))]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _secrets(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _secrets(v)]
    return []
