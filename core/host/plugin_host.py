"""Find, load and keep track of plugins.

Plugins come from the ``tierctl`` entry-point group, tierctl's own included.
:class:`PluginHost` owns one ``pluggy.PluginManager`` (no global state, so
tests can build as many isolated hosts as they like), records which
distribution each plugin came from, and collects what each plugin registers.
A plugin that cannot be imported is reported and skipped; the rest work.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable, Iterator, Mapping

import pluggy

from tierctl import hookspecs
from tierctl.errors import PluginError
from tierctl.util.suggest import did_you_mean, one_of

ENTRY_POINT_GROUP = "tierctl"
LOAD_ENV = "TIERCTL_LOAD_PLUGINS"

# Registries, and the hook that fills each.
REGISTRIES = {
    "renderers": "register_renderers",
    "providers": "register_providers",
    "sources": "register_sources",
    "template_filters": "register_template_filters",
    "template_globals": "register_template_globals",
    "helpdesks": "register_helpdesks",
}


@dataclass
class PluginInfo:
    """One plugin as ``tierctl plugins`` shows it."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "module": self.module, "distribution": self.distribution,
                "version": self.version, "hooks": self.hooks, "registers": self.registers,
                "error": self.error}


@dataclass(frozen=True)
class Registration:
    """Something a plugin registered: its name, the object, and who registered it.

    ``value`` may be an import path ``"package.module:Name"``: it is imported
    only when used, so plugins can register classes whose modules need heavy
    libraries without slowing every start-up (``tierctl --help`` included).
    """

    name: str
    value: Any
    plugin: str

    def resolve(self) -> Any:
        if not isinstance(self.value, str):
            return self.value
        import importlib

        module_name, _, attr = self.value.partition(":")
        try:
            obj = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(f"plugin {self.plugin!r} registered {self.name!r} as {self.value!r}, which cannot "
                              f"be imported: {_describe(exc)}; reinstall the plugin or leave it out with "
                              f"{LOAD_ENV}") from exc
        return obj


class Resolved(Mapping[str, Any]):
    """A registry as name -> object, importing lazily registered objects on access."""

    def __init__(self, registrations: dict[str, Registration]):
        self._regs = registrations
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = self._regs[name].resolve()
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._regs)

    def __len__(self) -> int:
        return len(self._regs)


class PluginHost:
    """The loaded plugins and everything they registered.

    Build one with :meth:`load` (entry points) or :meth:`from_modules` (tests
    and embedding). Registries are filled on first use, each plugin called on
    its own so one failure does not hide the others.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.failed: list[PluginInfo] = []
        self.errors: list[str] = []  # clashes and hooks that raised
        self._registries: dict[str, dict[str, Registration]] = {}
        self._commands: dict[str, Registration] | None = None
        self._skipped_by_env: list[str] = []

    # --- loading ------------------------------------------------------------

    @classmethod
    def load(cls, only: Iterable[str] | None = None, env: Mapping[str, str] | None = None) -> "PluginHost":
        """Load the plugins installed in the ``tierctl`` entry-point group.

        ``only`` (or ``TIERCTL_LOAD_PLUGINS=a,b`` in the environment) loads just
        those names; an empty value loads none.
        """
        host = cls()
        env = os.environ if env is None else env
        if only is None and LOAD_ENV in env:
            only = [n.strip() for n in env[LOAD_ENV].split(",") if n.strip()]
        wanted = None if only is None else set(only)
        seen: dict[str, str] = {}
        # A distribution's name and version, read once: each read parses its METADATA file
        # (about 3 ms), and tierctl alone has a dozen entry points; this is on `tierctl --help`'s path.
        about: dict[int, tuple[str | None, str | None]] = {}
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if id(ep.dist) not in about:
                fields = ep.dist.metadata if ep.dist else None
                about[id(ep.dist)] = (fields["Name"], fields["Version"]) if fields is not None else (None, None)
            dist, version = about[id(ep.dist)]
            if wanted is not None and ep.name not in wanted:
                host._skipped_by_env.append(ep.name)
                continue
            if ep.name in seen and seen[ep.name] != dist:
                host.errors.append(f"plugin name {ep.name!r} is claimed by two distributions, {seen[ep.name]} "
                                   f"and {dist}; uninstall one of them")
                continue
            if ep.name in seen:
                continue  # the same distribution seen twice on sys.path
            seen[ep.name] = dist or ""
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not brick the CLI
                host.failed.append(PluginInfo(ep.name, ep.value, dist, version,
                                              error=_describe(exc)))
                continue
            host._add(ep.name, module, dist, version)
        if wanted is not None:
            for name in sorted(wanted - set(seen) - {f.name for f in host.failed}):
                host.errors.append(f"{LOAD_ENV} names {name!r}, which is not installed"
                                   f"{did_you_mean(name, host._skipped_by_env)}")
        return host

    @classmethod
    def from_modules(cls, modules: Mapping[str, Any]) -> "PluginHost":
        """A host with exactly these plugins (name -> module or object)."""
        host = cls()
        for name, module in modules.items():
            host._add(name, module, None, None)
        return host

    def _add(self, name: str, module: Any, dist: str | None, version: str | None) -> None:
        info = PluginInfo(name, getattr(module, "__name__", repr(module)), dist, version)
        try:
            self.pm.register(module, name=name)
            # A misspelt hook name would otherwise be silently ignored.
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            info.error = self._hook_problem(exc)
            self.failed.append(info)
            return
        info.hooks = sorted(impl.name for impl in self._hookcallers(module))
        self.plugins[name] = info

    def _hook_problem(self, exc: Exception) -> str:
        """A hook validation error in words, with a suggestion for a misspelt hook name."""
        import re

        text = _describe(exc)
        unknown = re.search(r"unknown hook '([^']+)'", str(exc))
        if unknown:
            hooks = [h for h in dir(hookspecs) if h.startswith("register_")]
            text = (f"{type(exc).__name__}: unknown hook {unknown.group(1)!r}"
                    f"{did_you_mean(unknown.group(1), hooks)}; tierctl's hooks are {one_of(hooks)}")
        return "; ".join(line.strip() for line in text.splitlines() if line.strip())

    def _hookcallers(self, module: Any) -> list[Any]:
        return self.pm.get_hookcallers(module) or []

    def load_hint(self, name: str) -> str:
        """A note for 'no such plugin' errors when the plugin was skipped or broken."""
        if name in self._skipped_by_env:
            return f"; {name!r} is installed but {LOAD_ENV} leaves it out"
        for info in self.failed:
            if info.name == name:
                return f"; plugin {name!r} is installed but failed to load: {info.error}"
        return ""

    # --- registries ---------------------------------------------------------

    def registry(self, kind: str) -> dict[str, Registration]:
        """Everything registered through the hook for ``kind`` (see ``REGISTRIES``)."""
        if kind not in self._registries:
            self._registries[kind] = self._collect(kind)
        return self._registries[kind]

    def _collect(self, kind: str) -> dict[str, Registration]:
        hook_name = REGISTRIES[kind]
        out: dict[str, Registration] = {}
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            plugin = impl.plugin_name

            def register(name: str, value: Any, _plugin: str = plugin) -> None:
                if not isinstance(name, str) or not name:
                    raise PluginError(f"plugin {_plugin!r} registered a {kind[:-1]} with an invalid name {name!r}")
                if name in out:
                    other = out[name].plugin
                    self.errors.append(f"{kind[:-1]} {name!r} is registered by two plugins, {other!r} and "
                                       f"{_plugin!r}; uninstall one, or load only one with {LOAD_ENV}")
                    return
                out[name] = Registration(name, value, _plugin)
                self.plugins[_plugin].registers.setdefault(kind, []).append(name)

            try:
                impl.function(register=register)
            except Exception as exc:
                self.errors.append(f"plugin {plugin!r} failed in {hook_name}: {_describe(exc)}")
        return out

    @property
    def renderers(self) -> "Resolved":
        return Resolved(self.registry("renderers"))

    @property
    def providers(self) -> "Resolved":
        return Resolved(self.registry("providers"))

    @property
    def sources(self) -> "Resolved":
        return Resolved(self.registry("sources"))

    @property
    def helpdesks(self) -> "Resolved":
        return Resolved(self.registry("helpdesks"))

    def collect_all(self) -> None:
        """Fill every registry (for listings)."""
        for kind in REGISTRIES:
            self.registry(kind)

    def check(self) -> None:
        """Raise :class:`PluginError` if plugins clash or a registration hook raised."""
        self.collect_all()
        if self.errors:
            raise PluginError("\n".join(self.errors))

    def commands(self) -> dict[str, Registration]:
        """The CLI commands plugins add (``register_commands``), by command name.

        Each plugin adds its commands to a group of its own, so a plugin that
        fails is skipped on its own and two plugins adding one command name is
        an error naming both (the first one is kept).
        """
        if self._commands is None:
            import click

            out: dict[str, Registration] = {}
            for impl in self.pm.hook.register_commands.get_hookimpls():  # in registration order
                plugin = impl.plugin_name
                group = click.Group(ENTRY_POINT_GROUP)
                try:
                    impl.function(cli=group)
                except Exception as exc:
                    self.errors.append(f"plugin {plugin!r} failed in register_commands: {_describe(exc)}")
                    continue
                for name, command in sorted(group.commands.items()):
                    if name in out:
                        self.errors.append(f"command {name!r} is added by two plugins, {out[name].plugin!r} and "
                                           f"{plugin!r}; uninstall one, or load only one with {LOAD_ENV}")
                        continue
                    out[name] = Registration(name, command, plugin)
                    self.plugins[plugin].registers.setdefault("commands", []).append(name)
            self._commands = out
        return self._commands

    def add_commands(self, cli: Any) -> None:
        """Add every plugin's commands to the click group ``cli``."""
        for name, reg in self.commands().items():
            cli.add_command(reg.value, name)

    def describe(self) -> list[PluginInfo]:
        """All plugins, loaded and failed, sorted by name."""
        self.collect_all()
        self.commands()
        return sorted([*self.plugins.values(), *self.failed], key=lambda p: p.name)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if os.environ.get("TIERCTL_DEBUG", "").lower() not in ("", "0", "false", "no"):
        text += "\n" + "".join(traceback.format_exception(exc))
    return text


def installed_names(host: PluginHost, kind: str) -> str:
    return one_of(host.registry(kind))
