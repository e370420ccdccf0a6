"""A click group that imports each command only when it is run or listed."""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """``lazy_commands`` maps a command name to ``"module:attribute"``.

    Plugin commands are added the first time the command list is needed or a
    name is not found among the built-in ones.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        plugin_commands = self._plugin_commands(ctx)
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands) | set(plugin_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            return self._load(cmd_name)
        command = super().get_command(ctx, cmd_name)
        if command is None:
            command = self._plugin_commands(ctx).get(cmd_name)
        return command

    def _load(self, cmd_name: str) -> click.Command:
        target = self.lazy_commands[cmd_name]
        module_name, attr = target.split(":")
        try:
            command = getattr(importlib.import_module(module_name), attr)
        except Exception as exc:  # a missing or broken command module must not brick --help
            return _unavailable(cmd_name, target, exc)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        """Commands added by plugins, collected once per invocation (kept on the root context)."""
        root = ctx.find_root()
        if _KEY not in root.meta:
            from tierctl.cli.app import shared_host

            host = shared_host(ctx)
            commands: dict[str, click.Command] = {}
            for name, reg in host.commands().items():
                if name in self.lazy_commands or name in self.commands:
                    host.errors.append(f"plugin {reg.plugin!r} adds a command {name!r}, which is a built-in "
                                       "command; the plugin's command is ignored")
                else:
                    commands[name] = reg.value
            for message in host.errors:
                click.echo(f"tierctl: warning: {message}", err=True)
            root.meta[_KEY] = commands
        return root.meta[_KEY]


def _unavailable(cmd_name: str, target: str, exc: Exception) -> click.Command:
    """A stand-in for a command whose module cannot be imported.

    ``--help`` lists it as ``(unavailable: <reason>)``; running it is an
    error naming the reason (``--debug`` shows the import's traceback).
    """
    reason = f"{type(exc).__name__}: {exc}"

    def run(*args: Any, **kwargs: Any) -> None:
        from tierctl.errors import TierctlError

        raise TierctlError(f"the command {cmd_name!r} is unavailable: its module {target} cannot be "
                           f"imported ({reason}); reinstall tierctl") from exc

    return click.Command(cmd_name, callback=run, help=f"(unavailable: {reason})",
                         short_help=f"(unavailable: {reason})", context_settings={"ignore_unknown_options": True},
                         params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)])


_KEY = "tierctl.plugin_commands"
