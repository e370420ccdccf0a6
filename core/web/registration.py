"""``tierctl webhooks register`` / ``check``: point the platforms' webhooks at ``tierctl serve``.

For each provider instance of a platform with a receiver (:data:`tierctl.web.hooks.PLATFORMS`)
and a secret in ``serve.webhook_secrets``, and each survey it serves: a provider whose plugin can
(``register_webhook`` / ``webhook_state``: Typeform's, SurveyMonkey's and Qualtrics') registers or checks the URL
``<serve.base_url>/hooks/<platform>`` through the platform's API; for the others the line says
to do it by hand (the README gives the step).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from tierctl.web.hooks import PLATFORMS

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.storage.ledger import Ledger


@dataclass
class HookLine:
    """One (provider instance, survey): what registering or checking found."""

    instance: str
    survey_id: str
    url: str
    state: str  # "ok", "registered", "manual: ...", or what is wrong

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "registered") or self.state.startswith("manual")


def webhook_lines(config: "Config", host: "PluginHost", register: bool,
                  ledger: "Ledger | None" = None) -> list[HookLine]:
    """Register (``register=True``) or check every webhook the config's ``serve:`` section receives.

    A platform that names its webhook by an id it chose (Qualtrics' subscriptions: it documents no
    listing) gets that id kept in ``ledger`` (as the pull cursor ``webhook:<survey>`` of the provider
    instance), so that a later check finds it.
    """
    from tierctl.errors import TierctlError
    from tierctl.providers import ProviderError
    from tierctl.surveys.instances import build_providers

    serve = config.serve
    if serve is None:
        raise TierctlError(f"{config.path}: no serve: section, so there is no address for webhooks; add serve: "
                           "{base_url: https://..., secret: ${TIERCTL_SERVE_SECRET}}")
    lines: list[HookLine] = []
    for instance, entry in config.providers.items():
        platform = entry.plugin
        if platform not in PLATFORMS or platform not in serve.webhook_secrets:
            continue
        url = f"{serve.base_url}/hooks/{platform}"
        surveys = sorted(sid for sid, s in config.surveys.items() if s.provider == instance)
        provider = build_providers(config, host, {instance})[instance]
        try:
            for survey_id in surveys:
                can = hasattr(provider, "register_webhook") and hasattr(provider, "webhook_state")
                if not can:
                    lines.append(HookLine(instance, survey_id, url, f"manual: {platform}'s webhooks are registered "
                                                                    "by hand (see the README)"))
                    continue
                try:
                    if register:
                        made = provider.register_webhook(survey_id, url,
                                                         serve.webhook_secrets[platform].get_secret_value())
                        if _by_id(provider) and isinstance(made, dict) and made.get("id") and ledger is not None:
                            ledger.set_cursor(instance, _KEPT + survey_id, str(made["id"]), datetime.now(timezone.utc))
                    state = _state(provider, survey_id, url, instance, ledger)
                    lines.append(HookLine(instance, survey_id, url,
                                          "registered" if register and state == "ok" else state))
                except ProviderError as exc:
                    lines.append(HookLine(instance, survey_id, url, str(exc)))
        finally:
            provider.close()
    return lines


#: The pull-cursor name under which a webhook's platform id is kept.
_KEPT = "webhook:"


def _by_id(provider: object) -> bool:
    """Whether the provider's ``webhook_state`` needs the id its ``register_webhook`` returned."""
    import inspect

    return "subscription_id" in inspect.signature(provider.webhook_state).parameters  # type: ignore[attr-defined]


def _state(provider: object, survey_id: str, url: str, instance: str, ledger: "Ledger | None") -> str:
    if _by_id(provider):
        kept = ledger.get_cursor(instance, _KEPT + survey_id) if ledger is not None else None
        return provider.webhook_state(survey_id, url, subscription_id=kept)  # type: ignore[attr-defined]
    return provider.webhook_state(survey_id, url)  # type: ignore[attr-defined]
