"""The contract checks that inject faults into a provider's HTTP double.

They are part of :class:`tierctl.testing.ProviderContract` and run when the
contract subclass defines ``deliveries(double)`` (the invite ids the
platform was asked to deliver, repeats included) and the double is a
:class:`tierctl.testing.HttpServer` (an :class:`~tierctl.testing.HttpDouble`):
the kit then needs nothing else from the author. It makes the double answer
429 with ``Retry-After`` in the middle of a batch, 500 or a dropped
connection after some requests went through, time out after it stored a
delivery, shift pages while a fetch pages through, and take a response in
at the cursor boundary; and checks that nobody is surveyed twice and no
answer is lost. Each failure says what was observed, the rule, and the
section of docs/plugins.md that explains it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter
from typing import Any

import pytest

from tierctl.testing.engine import Engine, SendOutcome

__all__ = ["FaultChecks", "contract_failure", "explains"]

DOC = "docs/plugins.md"
SENDING = "§5 Sending"
CALLING = "§6 Calling the API"
FETCHING = "§7 Fetching responses"
#: Seconds of Retry-After the kit sends with its 429 (on the fake clock: no real wait).
RETRY_AFTER = 7


def contract_failure(observed: str, rule: str, section: str) -> str:
    """A contract failure message: what was seen, the rule broken, where the docs explain it."""
    return f"observed: {observed}\nrule: {rule}\nsee: {DOC} {section}"


def explains(rule: str, section: str) -> Any:
    """Mark a contract check with the rule it checks and the docs section that explains it: an
    assertion that fails inside it (with only what was observed) is reported as a
    :func:`contract_failure` message."""
    import functools

    def mark(check: Any) -> Any:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return check(*args, **kwargs)
            except AssertionError as exc:
                text = str(exc)
                if "\nrule: " in text:
                    raise
                observed = text.split("\nassert ")[0].strip() or "an assertion failed"
                raise AssertionError(contract_failure(_without_secrets(observed, args, kwargs), rule,
                                                      section)) from None

        return run

    return mark


def masked(secret: str) -> str:
    """A secret as a failure may show it: its first and last two characters at most."""
    return f"{secret[:2]}...{secret[-2:]} ({len(secret)} characters)" if len(secret) >= 8 else "***"


def _without_secrets(text: str, args: Any, kwargs: Any) -> str:
    """``text`` with the secret options of the check's providers masked (a failure never shows one in full)."""
    import base64
    import urllib.parse

    contract = args[0] if args else None
    providers = list(getattr(kwargs.get("contract_engine"), "providers", {}).values())
    if kwargs.get("contract_provider") is not None:
        providers.append(kwargs["contract_provider"])
    secrets: set[str] = set()
    for provider in providers:
        try:
            secrets.update(contract.secret_values(provider.options))  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - a failure message is never lost to this
            continue
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        for form in {secret, urllib.parse.quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}:
            text = text.replace(form, masked(secret))
    return text


class FaultChecks:
    """Fault-injection checks, mixed into :class:`~tierctl.testing.ProviderContract`."""

    def deliveries(self, double: Any) -> list[str]:
        raise NotImplementedError

    # --- helpers ------------------------------------------------------------------------------

    def _delivered(self, double: Any) -> Counter[str] | None:
        try:
            return Counter(self.deliveries(double))
        except NotImplementedError:
            return None

    def _faults_or_skip(self, double: Any) -> None:
        from tierctl.testing.http_double import HttpServer

        if self._delivered(double) is None:
            pytest.skip(f"{type(self).__name__} defines no deliveries(double): the fault-injection checks "
                        "(429, 500, dropped connections, timeouts, shifting pages) need to count what the "
                        "platform was asked to deliver; define it to opt in")
        if not isinstance(double, HttpServer):
            pytest.skip("the double is not a tierctl.testing.HttpServer/HttpDouble, so the kit cannot inject "
                        "faults into it")

    def _deliveries_if_counted(self, what: str, double: Any, invitations: list[Any], engine: Engine) -> None:
        """Every sending check applies the delivery rules when the test class counts deliveries."""
        if self._delivered(double) is not None:
            self._check_deliveries(what, double, invitations, engine)

    def _check_deliveries(self, what: str, double: Any, invitations: list[Any], engine: Engine) -> None:
        """At most one delivery per invitation; ``sent`` means delivered once; ``retry`` means not delivered."""
        delivered = self._delivered(double) or Counter()
        ids = {i.invite_id for i in invitations}
        twice = sorted(i for i in ids if delivered[i] > 1)
        assert not twice, contract_failure(
            f"{what}: the platform was asked to deliver {', '.join(f'{i} {delivered[i]} times' for i in twice)}",
            "each invitation is delivered at most once: never send a request again that may have reached the "
            "platform, and return exactly what happened to each invitation", SENDING)
        states = engine.states(ids)
        for invite_id in sorted(ids):
            state, count = states[invite_id], delivered[invite_id]
            assert not (state == "sent" and count != 1), contract_failure(
                f"{what}: {invite_id} is recorded 'sent' but was delivered {count} times",
                "a 'sent' result means the platform accepted it exactly once", SENDING)
            assert not (state == "retry" and count), contract_failure(
                f"{what}: {invite_id} was delivered but is recorded 'retry', so the next run sends it again",
                "what went out is 'sent' (or 'unknown' when no answer came); a ProviderError or a retry result "
                "is only for invitations that did not go out", SENDING)

    def _results_delivered(self, what: str, double: Any, results: list[Any]) -> None:
        """The delivery rules for results of ``send`` called directly (no ledger): a sent result was
        delivered exactly once, a retry result not at all, nothing twice."""
        delivered = self._delivered(double)
        if delivered is None:
            return
        for result in results:
            count = delivered[result.invite_id]
            wrong = (count > 1 or (result.ok and count != 1)
                     or (not result.ok and result.retry and count))
            assert not wrong, contract_failure(
                f"{what}: {result.invite_id} has the result {'sent' if result.ok else 'retry' if result.retry else 'failed'}"
                f" and was delivered {count} times",
                "each invitation is delivered at most once; a 'sent' result means the platform accepted it exactly "
                "once, a retry result that it did not go out", SENDING)

    def _send_with_fault(self, engine: Engine, provider: Any, double: Any, install: Any) -> tuple[list[Any], SendOutcome]:
        """Send a batch after ``install(double, first, target)`` set up a fault; return invitations, outcome.

        ``first`` is the count of requests before the batch; the fault is meant for request number
        ``first + target``: the one after half of those a healthy batch takes (the second request
        when a batch takes one: the batch is then sent one invitation per ``send``, so the fault
        comes after some invitations went out).
        """
        probe = self.make_invitations(self.batch)
        before = double.count
        self._sent(engine, provider, probe, "a healthy send before the fault")
        per_batch = double.count - before
        if per_batch == 0:
            pytest.skip(f"sending through provider {self.plugin!r} made no request to the double (a link-only "
                        "platform: another provider delivers): there is no request to inject a fault into")
        if per_batch <= 1:
            provider.batch_size = 1
            target = 2
        else:
            target = per_batch // 2 + 1
        invitations = self.make_invitations(self.batch)
        install(double, double.count, target)
        try:
            outcome = engine.send(provider, invitations)
        finally:
            double.reset()
        return invitations, outcome

    def _next_run(self, engine: Engine, provider: Any, invitations: list[Any]) -> SendOutcome:
        """Send again what a later run would: the invitations in 'retry' (and those never claimed)."""
        states = engine.states(i.invite_id for i in invitations)
        again = [i for i in invitations if states[i.invite_id] in ("retry", "absent")]
        return engine.send(provider, again) if again else SendOutcome()

    # --- the checks -----------------------------------------------------------------------------

    def test_each_invitation_is_delivered_once(self, contract_engine: Engine, contract_provider: Any,
                                               double: Any) -> None:
        """Against a healthy double, each invitation is delivered exactly once (no repeated request or batch).
        Needs only ``deliveries``, not an HTTP double: it injects no fault."""
        if self._delivered(double) is None:
            self._faults_or_skip(double)
        invitations = self.make_invitations(self.batch)
        self._sent(contract_engine, contract_provider, invitations, "a healthy send")
        self._check_deliveries("a healthy send", double, invitations, contract_engine)

    def test_a_429_mid_batch_is_waited_out_on_the_provider_clock(self, contract_engine: Engine,
                                                                 contract_provider: Any, double: Any) -> None:
        """429 with Retry-After: the provider waits at least that long (on its clock) and sends nothing twice."""
        from tierctl.testing.http_double import Reply

        self._faults_or_skip(double)
        clock = contract_engine.clock
        arrivals: dict[int, tuple[float, tuple[str, str, bytes]]] = {}
        hit: list[int] = []

        def install(double: Any, first: int, target: int) -> None:
            double.on_request(lambda request: arrivals.__setitem__(
                request.seq, (clock.monotonic(), (request.method, request.path, request.body))))

            def limited(request: Any) -> bool:
                if request.seq - first == target and not hit:
                    hit.append(request.seq)
                    return True
                return False

            double.when(limited, Reply.json({"error": "rate limited"}, 429, {"Retry-After": str(RETRY_AFTER)}))

        invitations, _ = self._send_with_fault(contract_engine, contract_provider, double, install)
        self._check_deliveries("a 429 mid-batch", double, invitations, contract_engine)
        # The same request again (method, path and body): the retry of the one that got the 429.
        later = sorted(seq for seq in arrivals if hit and seq > hit[0] and arrivals[seq][1] == arrivals[hit[0]][1])
        if later:
            waited = arrivals[later[0]][0] - arrivals[hit[0]][0]
            assert waited >= RETRY_AFTER - 1e-6, contract_failure(
                f"after a 429 with Retry-After: {RETRY_AFTER}, the request was repeated {waited:.3f}s later on "
                "the provider's clock (a wait on time.sleep does not count)",
                "honour Retry-After, waiting with self.sleep() (tierctl.http.HttpClient does)", CALLING)
        self._next_run(contract_engine, contract_provider, invitations)
        self._check_deliveries("a 429 mid-batch, then the next run", double, invitations, contract_engine)

    def test_a_500_mid_batch_resends_nothing(self, contract_engine: Engine, contract_provider: Any,
                                             double: Any) -> None:
        """500s after some requests went through: what went out is sent or unknown, never resent."""
        from tierctl.testing.http_double import Reply

        self._faults_or_skip(double)

        def install(double: Any, first: int, target: int) -> None:
            double.when(lambda request: request.seq - first >= target,
                        Reply.json({"error": "internal error"}, 500), repeat=True)

        invitations, _ = self._send_with_fault(contract_engine, contract_provider, double, install)
        self._check_deliveries("500s mid-batch", double, invitations, contract_engine)
        self._next_run(contract_engine, contract_provider, invitations)
        self._check_deliveries("500s mid-batch, then the next run", double, invitations, contract_engine)

    def test_a_dropped_connection_mid_batch_resends_nothing(self, contract_engine: Engine, contract_provider: Any,
                                                            double: Any) -> None:
        """A connection dropped after the platform acted on a request: that request is never repeated."""
        self._faults_or_skip(double)

        def install(double: Any, first: int, target: int) -> None:
            def drop(request: Any, reply: Any) -> Any:
                # The double has handled the request (and stored what it delivers); the answer is lost.
                return dataclasses.replace(reply, drop=True) if request.seq - first == target else reply

            double.filter_replies(drop)

        invitations, _ = self._send_with_fault(contract_engine, contract_provider, double, install)
        self._check_deliveries("a connection dropped after the request was handled", double, invitations,
                               contract_engine)
        self._next_run(contract_engine, contract_provider, invitations)
        self._check_deliveries("a dropped connection, then the next run", double, invitations, contract_engine)

    def test_a_timeout_after_the_delivery_request_is_unknown(self, contract_engine: Engine,
                                                            provider_options: dict[str, Any],
                                                            other_providers: dict[str, dict[str, Any]],
                                                            double: Any) -> None:
        """No answer after the platform stored a delivery: the invitation is 'unknown', never 'retry'."""
        self._faults_or_skip(double)
        if "timeout" not in self._options_model().model_fields:
            pytest.skip(f"provider {self.plugin!r} has no timeout option to shorten for this check")
        options = {**provider_options, "timeout": self.stall_timeout}
        provider = contract_engine.provider(self.plugin, options, instance=self.instance, others=other_providers)
        lock = threading.Lock()
        stalled: list[int] = []

        def stall(request: Any, reply: Any) -> Any:
            with lock:
                delivered = sum((self._delivered(double) or Counter()).values())
                if delivered > baseline[0] and not stalled:
                    stalled.append(request.seq)
                    return dataclasses.replace(reply, delay=self.stall_timeout + 1.0)
            return reply

        baseline = [sum((self._delivered(double) or Counter()).values())]
        double.filter_replies(stall)
        invitations = self.make_invitations(self.batch)
        try:
            contract_engine.send(provider, invitations)  # bounded by the provider's timeout option
        finally:
            double.reset()
        delivered = self._delivered(double) or Counter()
        states = contract_engine.states(i.invite_id for i in invitations)
        wrong = {i: states[i] for i in sorted(states) if delivered[i] and states[i] not in ("sent", "unknown")}
        assert not wrong, contract_failure(
            f"the platform stored the delivery of {sorted(wrong)} but its answer never came; they are recorded "
            f"{wrong}",
            "a request that may have reached the platform and got no answer is 'unknown' "
            "(SendResult.maybe_sent, or let tierctl.http.MaybeSent propagate), never 'retry' or 'failed'", SENDING)
        self._check_deliveries("a timeout after the delivery request", double, invitations,
                               contract_engine)

    def test_shifting_pages_return_each_response_once(self, contract_engine: Engine, contract_provider: Any,
                                                      double: Any) -> None:
        """Pages that shift by a few items while a fetch pages through: each response once per fetch.

        Between two page requests of one fetch a response is inserted before the offset, so the
        next page starts with the last item(s) of the page before (an overlap inside a page, not
        a whole page again): what offset paging does when responses arrive while you page.
        """
        self._fetch_or_skip(contract_provider)
        self._faults_or_skip(double)
        invitations = self.make_invitations(self.batch + 2)
        self._sent(contract_engine, contract_provider, invitations)
        for inv in invitations:
            self._answer(double, inv)
        previous: dict[str, list[Any]] = {}
        shifted: list[tuple[int, int]] = []  # (request seq, items moved onto the next page)

        def shift(request: Any, reply: Any) -> Any:
            if request.method != "GET" or reply.status != 200 or shifted:
                return reply
            data, items = _page_items(reply, request)
            if items is None:
                return reply
            before = previous.get(request.route)
            previous[request.route] = list(items)
            if not before or not items:
                return reply
            moved = before[-max(1, min(2, len(before) - 1)):]  # a few items, never a whole page
            items[:0] = moved
            shifted.append((request.seq, len(moved)))
            return dataclasses.replace(reply, body=json.dumps(data).encode("utf-8"))

        double.filter_replies(shift)
        calls = []
        original = contract_provider.fetch_responses

        def recording(survey_id: str, cursor: str | None) -> Any:
            items, new_cursor = original(survey_id, cursor)
            items = list(items)
            calls.append(items)
            return items, new_cursor

        contract_provider.fetch_responses = recording
        try:
            contract_engine.fetch_all(contract_provider, invitations[0].survey_id)
        finally:
            del contract_provider.fetch_responses
            double.reset()
        if not shifted:
            pytest.skip("fetching took no second page request with a JSON list of items: there was no page "
                        "to shift (a single page, or pages the kit cannot read)")
        for items in calls:
            ids = [r.response_id for r in items]
            repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
            assert not repeated, contract_failure(
                f"one fetch_responses call returned {repeated} more than once after a response was inserted "
                f"before the offset, so the next page began with the last {shifted[0][1]} item(s) of the "
                "page before",
                "pages may overlap while you page through (offset pages shift as responses arrive): "
                "de-duplicate by response id within a call", FETCHING)
        lost = sorted({i.invite_id for i in invitations} - {r.invite_id for items in calls for r in items})
        assert not lost, contract_failure(
            f"with pages shifted by {shifted[0][1]} item(s), the fetch did not return the responses of {lost}",
            "an overlap between pages is no reason to drop what follows it", FETCHING)

    def test_a_response_at_the_cursor_instant_is_collected_once(self, contract_engine: Engine,
                                                                contract_provider: Any, double: Any) -> None:
        """A response stamped with the cursor's own instant, arriving between two fetches: collected
        exactly once across the two (an exclusive ``>`` window loses it; an inclusive one without
        dropping the ids it returned collects the others twice).

        The double's :meth:`~tierctl.testing.HttpServer.now` is frozen for the check, so a double
        that stamps responses with ``self.now()`` puts them all at one instant."""
        self._fetch_or_skip(contract_provider)
        self._faults_or_skip(double)
        invitations = self.make_invitations(self.batch)
        self._sent(contract_engine, contract_provider, invitations)
        survey_id = invitations[0].survey_id
        instant = _a_past_second()
        double.freeze_time(instant)
        try:
            for inv in invitations[:-1]:
                self._answer(double, inv)
            first, cursor = contract_engine.fetch_all(contract_provider, survey_id)
            late = invitations[-1]
            self._answer(double, late)  # at the cursor's instant, after the fetch
            again, _ = contract_engine.fetch_all(contract_provider, survey_id, cursor)
        finally:
            double.reset()
        counts = Counter(r.response_id for r in [*first, *again])
        by_invite = Counter(r.invite_id for r in {r.response_id: r for r in [*first, *again]}.values())
        assert by_invite[late.invite_id] >= 1, contract_failure(
            f"a response stamped {instant.isoformat()} (the instant of the cursor {cursor!r}) that arrived after "
            "the first fetch was not returned by the next fetch from that cursor",
            "the cursor window is inclusive (>=, not >): the platform may still add responses at the cursor's "
            "instant; drop the ids already returned at that instant instead (keep them in the cursor)", FETCHING)
        twice = sorted(rid for rid, n in counts.items() if n > 1)
        assert not twice, contract_failure(
            f"responses {twice} were returned by the first fetch and again by the next one from its cursor "
            f"{cursor!r} (all stamped {instant.isoformat()})",
            "a fetch from a returned cursor returns only what is new since: with an inclusive window, drop the ids "
            "already returned at the cursor's instant", FETCHING)

    def test_a_response_at_the_cursor_boundary_is_not_lost(self, contract_engine: Engine, contract_provider: Any,
                                                           double: Any) -> None:
        """A response arriving while the last page is answered comes with the next fetch from the cursor."""
        self._fetch_or_skip(contract_provider)
        self._faults_or_skip(double)
        invitations = self.make_invitations(self.batch)
        self._sent(contract_engine, contract_provider, invitations)
        for inv in invitations[:-1]:
            self._answer(double, inv)
        survey_id = invitations[0].survey_id
        _, cursor = contract_engine.fetch_all(contract_provider, survey_id)
        late = invitations[-1]
        arrived: list[int] = []

        def arrive(request: Any, reply: Any) -> Any:
            if request.method == "GET" and reply.status == 200 and not arrived:
                arrived.append(request.seq)
                self._answer(double, late)  # after the page was made, before the client has it
            return reply

        double.filter_replies(arrive)
        try:
            first, cursor = contract_engine.fetch_all(contract_provider, survey_id, cursor)
        finally:
            double.reset()
        if not arrived:
            pytest.skip("fetching made no GET request to the double: nothing to arrive at")
        again, _ = contract_engine.fetch_all(contract_provider, survey_id, cursor)
        got = {r.invite_id for r in first} | {r.invite_id for r in again}
        assert late.invite_id in got, contract_failure(
            "a response that arrived while the last page was being answered was not returned by that fetch nor "
            "by the next one from the returned cursor",
            "the cursor must not move past what the platform may still add at that instant: use an inclusive "
            "time window and drop the ids already returned (tierctl de-duplicates by response id)", FETCHING)


def _page_items(reply: Any, request: Any) -> tuple[Any, list[Any] | None]:
    """A JSON page answer and its list of items (the longest list of objects in it, at most two levels
    down: ``data``, ``items``, ``responses``...), or ``(None, None)`` when the answer is not such a page."""
    body = reply.body(request) if callable(reply.body) else reply.body
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None, None
    candidates: list[list[Any]] = []
    for value in (data.values() if isinstance(data, dict) else ()):
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            candidates.append(value)
        elif isinstance(value, dict):
            candidates += [v for v in value.values()
                           if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    return (data, max(candidates, key=len)) if candidates else (None, None)


def _a_past_second() -> Any:
    """A whole second a minute ago (aware UTC): a time platforms with second resolution keep as is."""
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(minutes=1)).replace(microsecond=0)
