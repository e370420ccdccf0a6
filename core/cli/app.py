"""State shared by CLI commands: the config path, the plugin host, the config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..model import Config
    from ..plugins_manager import PluginHost

_HOST: "PluginHost | None" = None
_WARNED = False


def shared_host() -> "PluginHost":
    """The CLI's plugin host, loaded once per process; broken plugins are warned about once."""
    global _HOST, _WARNED
    if _HOST is None:
        from ..plugins_manager import PluginHost

        _HOST = PluginHost.load()
    if not _WARNED:
        _WARNED = True
        for info in _HOST.failed:
            click.echo(f"tierctl: warning: plugin {info.name!r} ({info.distribution or info.module}) could not "
                       f"be loaded and is skipped: {info.error}. Fix or uninstall it, or leave it out with "
                       "TIERCTL_LOAD_PLUGINS.", err=True)
    return _HOST


@dataclass
class App:
    """Per-invocation state, created by the top-level group."""

    config_path: str
    debug: bool = False
    _config: "Config | None" = field(default=None, repr=False)

    @property
    def host(self) -> "PluginHost":
        return shared_host()

    def config(self) -> "Config":
        """Load and check the config (every problem at once), then the plugins it uses."""
        if self._config is None:
            from ..config import load_config

            host = self.host
            self._config = load_config(self.config_path, host)
            host.check()
        return self._config
