"""The helpdesk a command works with: the config's ``helpdesks:`` entry, built from its plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierctl.errors import TierctlError
from tierctl.util.suggest import did_you_mean, one_of

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.helpdesks import Helpdesk
    from tierctl.host.plugin_host import PluginHost


def build_helpdesk(config: "Config", host: "PluginHost", name: str | None = None) -> "Helpdesk":
    """The helpdesk instance ``name`` (the only one when ``name`` is None)."""
    entries = config.helpdesks
    if not entries:
        raise TierctlError(f"{config.path} has no helpdesks: section; add one, e.g. helpdesks: {{zendesk: "
                           "{plugin: zendesk, subdomain: acme, email: ops@acme.example, token: \"${ZENDESK_TOKEN}\"}}")
    if name is None:
        if len(entries) > 1:
            raise TierctlError(f"several helpdesks are configured ({one_of(entries)}); choose one with --helpdesk NAME")
        name = next(iter(entries))
    if name not in entries:
        raise TierctlError(f"no helpdesk named {name!r}{did_you_mean(name, entries)}; helpdesks: {one_of(entries)}")
    plugin_cls = host.helpdesks[entries[name].plugin]
    return plugin_cls(config.plugin_options("helpdesks", name), config, name)
