"""The platforms' webhooks: ``POST /hooks/typeform``, ``/hooks/surveymonkey``, ``/hooks/qualtrics``,
and text providers' callbacks (``/hooks/twilio``: :mod:`tierctl.web.provider_hooks`).

Each receiver verifies the platform's signature on the raw body, in
constant time, before reading anything; a bad or missing one gets 401 and
a log line without the body. The secrets are ``serve.webhook_secrets``
(by platform name). What each platform sends (see ``../shared/providers-wave2.md``):

* **Typeform** — JSON ``{"event_type": "form_response", "form_response": {...}}`` with the answers;
  ``Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>``. Stored at once through the
  collect path (the typeform provider reads it: ``webhook_response``).
* **SurveyMonkey** — JSON ``{"event_type": "response_completed", "object_id": <response id>,
  "resources": {"survey_id": ...}}`` without answers; ``Sm-Signature: base64 HMAC-SHA1(key =
  "<api key>&<api secret>", body)``. Answered at once; the survey is then collected in the background.
* **Qualtrics** (event subscription ``surveyengine.completedResponse.<SV>``) — form-encoded ``Topic``,
  ``MSG`` (JSON with ``SurveyID``, ``ResponseID``) and ``HMAC`` = hex HMAC-SHA512(sharedKey, MSG).
  Answered at once; the one response it names is then read through the API in the background
  (the provider's ``fetch_response``) and stored through the collect path.

A response whose background read fails (the platform down, the server stopped) is not lost: the
next ``survey collect`` reads it.

Responses are stored under the same ids ``survey collect`` gives them (``<provider instance>:<platform
id>``), so one pushed and later collected counts once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.web.desk import SurveyDesk

log = logging.getLogger("tierctl.web.hooks")


def _b64_hmac(digest: Any) -> Callable[[bytes, bytes], str]:
    return lambda key, body: base64.b64encode(hmac.new(key, body, digest).digest()).decode("ascii")


@dataclass(frozen=True)
class Platform:
    """How one platform signs its deliveries."""

    name: str
    sign: Callable[[bytes, bytes], str]  # (secret, signed bytes) -> header value
    header: str = ""  # the signature header (empty: the signature is a form field)
    prefix: str = ""


PLATFORMS = {
    "typeform": Platform("typeform", _b64_hmac(hashlib.sha256), "typeform-signature", "sha256="),
    "surveymonkey": Platform("surveymonkey", _b64_hmac(hashlib.sha1), "sm-signature"),
    "qualtrics": Platform("qualtrics", lambda key, msg: hmac.new(key, msg, hashlib.sha512).hexdigest()),
}


def signed(platform: Platform, secret: bytes, signed_bytes: bytes, given: str | None) -> bool:
    """Whether ``given`` signs ``signed_bytes`` (constant-time compare)."""
    if not isinstance(given, str) or not given:
        return False
    expected = platform.prefix + platform.sign(secret, signed_bytes)
    return hmac.compare_digest(expected.encode("ascii"), given.strip().encode("ascii", "replace"))


def _platform_survey(config: "Config", plugin: str, platform_id: str) -> tuple[str, str] | None:
    """``(provider instance, tierctl survey id)`` whose platform survey/form is ``platform_id``."""
    for instance, entry in config.providers.items():
        if entry.plugin != plugin:
            continue
        options = config.plugin_options("providers", instance)
        mapping = getattr(options, "forms", None) or getattr(options, "surveys", None) or {}
        for survey_id, target in mapping.items():
            if str(getattr(target, "id", target)) == platform_id:
                return instance, survey_id
    return None


class Collector:
    """Background ``survey collect`` of one survey at a time, rerun once when events come meanwhile."""

    def __init__(self, desk: "SurveyDesk"):
        self.desk = desk
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._pending = 0

    #: Background reads of single responses waiting or running at most; more are left to ``survey collect``.
    MAX_PENDING = 200

    def fetch(self, instance: str, survey_id: str, response_id: str) -> bool:
        """Read one pushed response through the provider's API and store it, in the background;
        ``False`` when too many are waiting (the next collect reads it)."""
        with self._lock:
            if self._pending >= self.MAX_PENDING:
                return False
            self._pending += 1
        threading.Thread(target=self._fetch_one, args=(instance, survey_id, response_id), daemon=True,
                         name=f"fetch-{survey_id}").start()
        return True

    def _fetch_one(self, instance: str, survey_id: str, response_id: str) -> None:
        from tierctl.providers import ProviderError
        from tierctl.surveys.instances import build_providers

        config = self.desk.config
        try:
            provider = build_providers(config, self.desk.host, {instance})[instance]
            try:
                if not hasattr(provider, "fetch_response"):
                    self.request(survey_id)  # no single-response read: collect the survey
                    return
                raw = provider.fetch_response(survey_id, response_id)
            finally:
                provider.close()
            if raw is None:
                log.info("webhook: response %s of survey %s is not finished; the next collect reads it",
                         response_id, survey_id)
                return
            status, text = store_raw(config, self.desk, instance, survey_id, raw)
            log.info("webhook: response %s of survey %s: %s", response_id, survey_id, text)
        except ProviderError as exc:
            log.warning("webhook: cannot read response %s of survey %s (%s); the next collect reads it",
                        response_id, survey_id, exc)
        except Exception:
            log.exception("webhook: reading response %s of survey %s failed; the next collect reads it",
                          response_id, survey_id)
        finally:
            self.desk.close_ledger()
            with self._lock:
                self._pending -= 1

    def request(self, survey_id: str) -> None:
        with self._lock:
            if survey_id in self._running:
                self._again.add(survey_id)
                return
            self._running.add(survey_id)
        threading.Thread(target=self._run, args=(survey_id,), daemon=True, name=f"collect-{survey_id}").start()

    def _run(self, survey_id: str) -> None:
        from tierctl.errors import LockHeldError
        from tierctl.responses.collect import collect

        try:
            while True:
                try:
                    result = collect(self.desk.config, self.desk.ledger(), self.desk.host, survey=survey_id,
                                     now=self.desk.clock())
                    log.info("collected survey %s after a webhook: %d added, %d duplicates, %d errors",
                             survey_id, result.added, result.duplicates, len(result.errors))
                except LockHeldError:
                    log.info("survey %s: a collect is already running; it picks the response up", survey_id)
                except Exception:
                    log.exception("collecting survey %s after a webhook failed", survey_id)
                with self._lock:
                    if survey_id not in self._again:
                        self._running.discard(survey_id)
                        return
                    self._again.discard(survey_id)
        finally:
            self.desk.close_ledger()


def webhook_route(config: "Config", desk: "SurveyDesk") -> Any:
    """The Starlette route ``/hooks/{platform}``."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from tierctl.web.provider_hooks import ProviderHooks, webhook_request

    secrets = {name: s.get_secret_value().encode("utf-8")
               for name, s in (config.serve.webhook_secrets if config.serve else {}).items()}
    collector = Collector(desk)
    provider_hooks = ProviderHooks(config, desk)
    by_provider = provider_hooks.plugins() - set(PLATFORMS)
    public = config.serve.base_url.rstrip("/") if config.serve else ""

    async def from_provider(request: Request, name: str) -> Response:
        if request.method == "HEAD":
            return PlainTextResponse("ok\n")
        body = await request.body()
        query = request.url.query
        hook = webhook_request(f"{public}/hooks/{name}" + (f"?{query}" if query else ""), request.headers, body,
                               request.method)
        if hook is None:
            return PlainTextResponse("Not a form this receiver reads.\n", status_code=400)
        status, content_type, answer = await run_in_threadpool(provider_hooks.receive, name, hook)
        return Response(answer, status_code=status, media_type=content_type)

    async def receive(request: Request) -> Response:
        name = request.path_params["platform"]
        if name in by_provider:
            return await from_provider(request, name)
        platform = PLATFORMS.get(name)
        secret = secrets.get(name)
        if platform is None or secret is None:
            return PlainTextResponse("No such webhook receiver.\n", status_code=404)
        if request.method in ("GET", "HEAD"):  # SurveyMonkey checks the address before it subscribes
            return PlainTextResponse("ok\n")
        body = await request.body()
        if platform.header:
            signature, signed_bytes = request.headers.get(platform.header), body
            fields: dict[str, str] = {}
        else:
            from urllib.parse import parse_qsl

            fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            signature, signed_bytes = fields.get("HMAC"), fields.get("MSG", "").encode("utf-8")
        if not signed(platform, secret, signed_bytes, signature):
            log.warning("webhook %s from %s: %s signature; refused (%d bytes, not logged)", name,
                        request.client.host if request.client else "?",
                        "missing" if not signature else "bad", len(body))
            return PlainTextResponse("Signature missing or wrong.\n", status_code=401)
        try:
            event = json.loads(signed_bytes)
        except ValueError:
            return PlainTextResponse("Not JSON.\n", status_code=400)
        if not isinstance(event, dict):
            return PlainTextResponse("Not a JSON object.\n", status_code=400)
        if name == "typeform":
            status, text = await run_in_threadpool(_store_typeform, config, desk, body, signature, secret, event)
            return PlainTextResponse(text + "\n", status_code=status)
        platform_survey = str((event.get("resources") or {}).get("survey_id") or "") if name == "surveymonkey" \
            else str(event.get("SurveyID") or "")
        found = _platform_survey(config, name, platform_survey)
        if found is None:
            log.info("webhook %s: survey %s is not one of the config's; ignored", name, platform_survey or "?")
            return PlainTextResponse("Not a survey of ours; ignored.\n", status_code=202)
        if name == "qualtrics":
            if event.get("Status") not in (None, "Complete"):
                return PlainTextResponse("Not a completed response; ignored.\n", status_code=202)
            # Answer fast; the response it names is read through the API in the background.
            collector.fetch(found[0], found[1], str(event.get("ResponseID") or ""))
            return PlainTextResponse("Accepted.\n", status_code=202)
        collector.request(found[1])  # answer fast; the responses API is read in the background
        return PlainTextResponse("Accepted.\n", status_code=202)

    return Route("/hooks/{platform}", receive, methods=["POST", "GET", "HEAD"])


def _store_typeform(config: "Config", desk: "SurveyDesk", body: bytes, signature: str | None, secret: bytes,
                    event: dict[str, Any]) -> tuple[int, str]:
    """Store a verified Typeform ``form_response`` through the collect path; ``(status, text)``."""
    from tierctl.surveys.instances import build_providers

    form_response = event.get("form_response") if isinstance(event.get("form_response"), dict) else {}
    found = _platform_survey(config, "typeform", str(form_response.get("form_id") or ""))
    if event.get("event_type") != "form_response" or found is None:
        log.info("webhook typeform: not a form_response of one of the config's forms; ignored")
        return 202, "Ignored."
    instance, survey_id = found
    provider = build_providers(config, desk.host, {instance})[instance]
    try:
        raw = provider.webhook_response(survey_id, body, signature, secret)
    except (ValueError, TypeError, AttributeError) as exc:
        return 400, f"Not a usable form_response: {exc}"
    finally:
        provider.close()
    return store_raw(config, desk, instance, survey_id, raw)


def store_raw(config: "Config", desk: "SurveyDesk", instance: str, survey_id: str, raw: Any) -> tuple[int, str]:
    """Store one platform response (a :class:`~tierctl.records.RawResponse`) through the collect path,
    idempotent by its platform id; ``(status, text)`` for the answer or the log."""
    from tierctl.responses.collect import pending_from_raw
    from tierctl.responses.store import AnswerChecks, ResponseStore

    problems: list[str] = []
    checks = AnswerChecks(config.surveys[survey_id])
    pending = pending_from_raw(raw, instance, checks, lambda ref, msg: problems.append(msg))
    if pending is None:
        log.warning("webhook %s: response %s refused: %s", instance, raw.response_id, "; ".join(problems))
        return 422, "Refused: " + "; ".join(problems)
    store = ResponseStore(desk.ledger(), desk.host, survey_id, instance, checks, desk.clock(),
                          lambda ref, msg: problems.append(msg), lambda msg: log.error("%s", msg))
    added, duplicates = store.store([pending])
    if problems:
        log.warning("webhook %s: response %s not stored: %s", instance, raw.response_id, "; ".join(problems))
        return 422, "Refused: " + "; ".join(problems)
    log.info("webhook %s: response for survey %s %s", instance, survey_id, "stored" if added else "already stored")
    return 200, "Stored." if added else "Already stored."
