"""Build provider and source objects from a checked config.

The config loader has already validated each entry's options with the
plugin's own ``Options`` model; this module only instantiates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierctl.errors import TierctlError
from tierctl.providers import Provider, ProviderContext
from tierctl.sources import CustomerSource, MeetingSource

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost


def build_providers(config: "Config", host: "PluginHost", names: set[str]) -> dict[str, Provider]:
    """One provider object per named instance, with its rate-limit bucket.

    Instances that a named one sends through are built too, first: a provider
    class names them with a ``uses_instances(options)`` class method (the
    ``typeform`` provider's ``mailer``). They are in ``ProviderContext.providers``
    but not in the result unless named: the instance that uses them closes them
    in its own ``close`` (closing twice must be harmless).
    """
    from tierctl.render import Renderer, template_environment

    env = template_environment(config, host, Renderer())
    providers: dict[str, Provider] = {}
    context = ProviderContext(config=config, base_dir=config.base_dir, templates=env, providers=providers)
    for name in _with_used_instances(config, host, names):
        entry = config.providers[name]
        cls = host.providers[entry.plugin]
        provider = cls(name, config.plugin_options("providers", name), context)
        providers[name] = provider
    return {name: provider for name, provider in providers.items() if name in names}


def _with_used_instances(config: "Config", host: "PluginHost", names: set[str]) -> list[str]:
    """``names`` and the instances they use, each after the ones it uses (sorted otherwise)."""
    from tierctl.util.suggest import did_you_mean, one_of

    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            loop = visiting[visiting.index(name):]
            what = (f"{name} sends through itself" if len(loop) == 1 else
                    f"{' -> '.join(loop + [name])} send through each other in a circle")
            raise TierctlError(f"{config.path}: providers: {what}; a mailer must be a provider that sends "
                               "by itself, such as smtp")
        visiting.append(name)
        cls = host.providers[config.providers[name].plugin]
        uses = getattr(cls, "uses_instances", None)
        for used in sorted(uses(config.plugin_options("providers", name))) if uses else ():
            if used not in config.providers:
                raise TierctlError(f"{config.path}: providers.{name}: no provider instance {used!r}"
                                   f"{did_you_mean(used, config.providers)}; providers: {one_of(config.providers)}")
            visit(used)
        visiting.pop()
        order.append(name)

    for name in sorted(names):
        visit(name)
    return order


def build_customer_source(config: "Config", host: "PluginHost") -> CustomerSource:
    source = _build(config, host, "customers")
    if not isinstance(source, CustomerSource):
        raise TierctlError(f"{config.path}: sources.customers: plugin {config.sources['customers'].plugin!r} "
                           "is not a customer source; use a plugin such as csv")
    return source


def build_meeting_source(config: "Config", host: "PluginHost") -> MeetingSource | None:
    if "meetings" not in config.sources:
        return None
    source = _build(config, host, "meetings")
    if not isinstance(source, MeetingSource):
        raise TierctlError(f"{config.path}: sources.meetings: plugin {config.sources['meetings'].plugin!r} "
                           "is not a meeting source; use a plugin such as ical")
    return source


def _build(config: "Config", host: "PluginHost", key: str):
    if key not in config.sources:
        raise TierctlError(f"{config.path}: sources.{key} is not set; add e.g. "
                           "sources: {customers: {plugin: csv, path: customers.csv}}")
    entry = config.sources[key]
    cls = host.sources[entry.plugin]
    return cls(config.plugin_options("sources", key), config, config.base_dir)
