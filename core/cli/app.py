"""State shared by CLI commands: the config path, the plugin host, the config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tierctl.cli.process_end import ProcessEnd
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.util.redact import Redactor

_HOST_KEY = "tierctl.plugin_host"


def shared_host(ctx: click.Context | None = None) -> "PluginHost":
    """The plugin host of this CLI invocation, loaded once and kept on the root
    click context (not in a global, so in-process runs such as tests do not
    share plugins or environment); broken plugins are warned about once."""
    ctx = ctx or click.get_current_context(silent=True)
    store = ctx.find_root().meta if ctx is not None else {}
    host = store.get(_HOST_KEY)
    if host is None:
        from tierctl.host.plugin_host import PluginHost

        host = store[_HOST_KEY] = PluginHost.load()
        for info in host.failed:
            click.echo(f"tierctl: warning: plugin {info.name!r} ({info.distribution or info.module}) could not "
                       f"be loaded and is skipped: {info.error}. Fix or uninstall it, or leave it out with "
                       "TIERCTL_LOAD_PLUGINS.", err=True)
    return host


@dataclass
class App:
    """Per-invocation state, created by the top-level group."""

    config_path: str
    debug: bool = False
    #: The console script's process end; None when the CLI runs in-process (tests, programs).
    end: "ProcessEnd | None" = field(default=None, repr=False)
    _config: "Config | None" = field(default=None, repr=False)

    def leave_to_exit(self, *objects: object) -> None:
        """Let ``objects`` (a big command's working memory) be freed by the system when this
        process ends, not one by one by Python; in-process runs free them as usual."""
        if self.end is not None:
            self.end.keep(*objects)

    @property
    def host(self) -> "PluginHost":
        return shared_host()

    def config(self) -> "Config":
        """Load and check the config (every problem at once), then the plugins it uses."""
        if self._config is None:
            from tierctl.config.loader import load_config

            host = self.host
            from tierctl.storage.opener import check_storage_url

            config = load_config(self.config_path, host)
            redact_output(config.redactor())
            check_storage_url(config)
            self._config = config
            host.check()
        return self._config


def redact_output(redactor: "Redactor") -> None:
    """From now on, everything this process prints goes through ``redactor``: the values the
    config took from the environment never reach the terminal, cron mail or a log file."""
    import sys

    from tierctl.util.redact import redacting_stream

    sys.stdout = redacting_stream(sys.stdout, redactor)
    sys.stderr = redacting_stream(sys.stderr, redactor)
