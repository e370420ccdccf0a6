"""Callbacks of text providers: ``POST /hooks/<plugin>`` handed to the provider plugin that owns them.

A provider with :attr:`~tierctl.providers.Provider.receives_webhooks` (the
``twilio`` plugin: ``/hooks/twilio``) verifies and reads its platform's
callbacks itself (:meth:`~tierctl.providers.Provider.webhook_events`); this
receiver gives it the raw request with the *public* URL the platform
signed (``serve.base_url`` + path + query: behind a proxy the server sees
another address), tries each configured instance of the plugin (each
holds its own account's token), and acts on the events through
:mod:`tierctl.responses.texts`. Nobody's signature fits: 401, logged
without the body. The answer to a text is the provider's own format
(TwiML for Twilio), in the contact's language.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from tierctl.providers import WebhookRefused
from tierctl.records import WebhookRequest

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.providers import Provider
    from tierctl.web.desk import SurveyDesk

log = logging.getLogger("tierctl.web.hooks")

#: Form fields accepted in one callback (Twilio sends a few dozen).
MAX_FIELDS = 200


class ProviderHooks:
    """The provider instances that receive webhooks, by plugin name, built once on first use and kept
    for the app's life (they hold options and an idle HTTP pool, nothing per request)."""

    def __init__(self, config: "Config", desk: "SurveyDesk"):
        self.config = config
        self.desk = desk
        self._lock = threading.Lock()
        self._built: dict[str, dict[str, "Provider"]] = {}

    def plugins(self) -> set[str]:
        """Plugin names with a receiver: configured provider plugins that receive webhooks."""
        host = self.desk.host
        if host is None:
            return set()
        return {entry.plugin for entry in self.config.providers.values()
                if getattr(host.providers.get(entry.plugin), "receives_webhooks", False)}

    def instances(self, plugin: str) -> dict[str, "Provider"]:
        with self._lock:
            if plugin not in self._built:
                from tierctl.surveys.instances import build_providers

                names = {name for name, entry in self.config.providers.items() if entry.plugin == plugin}
                self._built[plugin] = build_providers(self.config, self.desk.host, names) if names else {}
            return self._built[plugin]

    def receive(self, plugin: str, request: WebhookRequest) -> tuple[int, str, bytes]:
        """``(HTTP status, content type, body)`` for a callback to ``/hooks/<plugin>`` (in a worker thread)."""
        from tierctl.responses.texts import act_on

        refusals = []
        for instance, provider in self.instances(plugin).items():
            try:
                events = provider.webhook_events(request)
            except WebhookRefused as exc:
                refusals.append(str(exc))
                continue
            replies = [act_on(self.config, self.desk.ledger(), self.desk.host, instance, event, self.desk.clock())
                       for event in events]
            text = next((r for r in replies if r), "")
            content_type, body = provider.webhook_reply(text)
            return 200, content_type, body
        log.warning("webhook %s: %s; refused (%d bytes, not logged)", plugin,
                    "; ".join(sorted(set(refusals))) or "no instance", len(request.body))
        return 401, "text/plain; charset=utf-8", b"Signature missing or wrong.\n"


def webhook_request(public_url: str, headers: Any, body: bytes, method: str = "POST") -> WebhookRequest | None:
    """The request as a provider reads it; None when the form has more fields than a platform sends."""
    form: tuple[tuple[str, str], ...] = ()
    if headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            form = tuple(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                                   max_num_fields=MAX_FIELDS))
        except (UnicodeDecodeError, ValueError):
            return None
    return WebhookRequest(public_url, {k.lower(): v for k, v in headers.items()}, body, form, method)
