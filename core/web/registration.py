"""``tierctl webhooks register`` / ``check``: point the platforms' webhooks at ``tierctl serve``.

For each provider instance of a platform with a receiver (:data:`tierctl.web.hooks.PLATFORMS`)
and a secret in ``serve.webhook_secrets``, and each survey it serves: a provider whose plugin can
(``register_webhook`` / ``webhook_state``, Typeform's today) registers or checks the URL
``<serve.base_url>/hooks/<platform>`` through the platform's API; for the others the line says
to do it by hand (the README gives the step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierctl.web.hooks import PLATFORMS

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost


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


def webhook_lines(config: "Config", host: "PluginHost", register: bool) -> list[HookLine]:
    """Register (``register=True``) or check every webhook the config's ``serve:`` section receives."""
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
                        provider.register_webhook(survey_id, url,
                                                  serve.webhook_secrets[platform].get_secret_value())
                        state = provider.webhook_state(survey_id, url)
                        lines.append(HookLine(instance, survey_id, url, "registered" if state == "ok" else state))
                    else:
                        lines.append(HookLine(instance, survey_id, url, provider.webhook_state(survey_id, url)))
                except ProviderError as exc:
                    lines.append(HookLine(instance, survey_id, url, str(exc)))
        finally:
            provider.close()
    return lines
