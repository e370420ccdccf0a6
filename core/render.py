"""The renderer API for plugins: :class:`Renderer`, :class:`OutputFile`,
:class:`RenderContext`, and how a renderer's templates are found.

A renderer (registered with the ``register_renderers`` hook) yields
:class:`OutputFile` objects; :mod:`tierctl.publish.render_engine` writes them
(``tierctl render``). ``render_targets``, ``write_files`` and ``RenderResult``
lived here before 0.2 and are still reachable from this module, with a
``DeprecationWarning``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from tierctl.errors import TierctlError

if TYPE_CHECKING:
    import jinja2

    from tierctl.config.model import Config, RenderTarget, Tier
    from tierctl.host.plugin_host import PluginHost

@dataclass(frozen=True)
class OutputFile:
    """One file a renderer produces, ``path`` relative to the target's folder."""

    path: str
    content: str


@dataclass
class RenderContext:
    """What a renderer gets: the config, its target, and a template environment."""

    config: "Config"
    target_name: str
    target: "RenderTarget"
    env: "jinja2.Environment"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tiers(self) -> list[tuple[str, "Tier"]]:
        """Tiers in the order the config lists them."""
        return list(self.config.tiers.items())

    def render_template(self, name: str, **values: Any) -> str:
        template = self.env.get_template(name)
        values = {"language": self.config.organization.language, "languages": [self.config.organization.language],
                  "multilingual": False, **self.extra, **values}
        return template.render(config=self.config, org=self.config.organization, tiers=self.tiers,
                               target=self.target, target_name=self.target_name, **values)


class Renderer:
    """Base class for output formats.

    Subclasses set :attr:`name` and :attr:`description` and implement
    :meth:`render`. Templates are looked up as ``<template_folder>/<file>``: in
    the user's ``render.templates`` folder first, then in
    :attr:`templates_path` (a plugin's own folder, if any), then in tierctl's
    built-in templates, which are also reachable as ``default:<path>`` so an
    override can ``{% extends "default:website/base.html" %}``.
    """

    name: str = ""
    description: str = ""
    #: Extensions of templates that are HTML-escaped automatically.
    autoescape_extensions: tuple[str, ...] = ("html", "htm", "xml", "svg")
    #: A folder of the plugin's own templates, searched after the user's.
    templates_path: str | None = None
    #: Names (without extension) of the pages it writes besides one per tier, e.g. ``("index",)``:
    #: a tier with such an id would overwrite that page, so the config refuses it.
    page_names: tuple[str, ...] = ()

    def render(self, context: RenderContext) -> Iterable[OutputFile]:
        """Yield every file of this target."""
        raise NotImplementedError

    def language_index(self, context: RenderContext) -> Iterable[OutputFile]:
        """With several ``organization.languages``, each language's files go under ``<language>/``;
        files yielded here go at the top (e.g. a page that sends readers to their language).
        ``context`` is in the default language. Default: none."""
        return ()

    def template_filters(self) -> dict[str, Any]:
        """Filters this renderer's own templates need, so they work whichever
        plugins are loaded; filters registered by plugins take precedence."""
        return {}


def builtin_templates() -> Path:
    return Path(str(resources.files("tierctl.templates")))


def template_environment(config: "Config", host: "PluginHost", renderer: Renderer) -> "jinja2.Environment":
    """A jinja2 environment: user overrides, then the plugin's, then built-ins."""
    import jinja2

    search: list[str] = []
    if config.render.templates:
        search.append(str(Path(config.path).parent / config.render.templates))
    if renderer.templates_path:
        search.append(renderer.templates_path)
    builtin = str(builtin_templates())
    search.append(builtin)
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(search),
        jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(builtin)}, delimiter=":"),
    ])
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(enabled_extensions=renderer.autoescape_extensions,
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates do not change during a run: no stat() per include
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from tierctl.i18n.translate import install

    install(env)  # {% trans %} and _() in the language being rendered
    env.filters.update(renderer.template_filters())
    for name, reg in host.registry("template_filters").items():
        env.filters[name] = reg.resolve()
    for name, reg in host.registry("template_globals").items():
        env.globals[name] = reg.resolve()
    return env


def page_name(tier_id: str, extension: str) -> str:
    """The file name of a tier's page; ids are validated slugs, checked again here."""
    from tierctl.config.model import SLUG_RE

    if not SLUG_RE.match(tier_id):
        raise TierctlError(f"tier id {tier_id!r} is not a safe file name")
    return f"{tier_id}{extension}"


_MOVED = {"render_targets", "write_files", "RenderResult", "MANIFEST"}


def __getattr__(name: str) -> Any:
    # The render engine moved to tierctl.publish.render_engine (0.2); keep old imports working.
    if name in _MOVED:
        import warnings

        import tierctl.publish.render_engine as render_engine

        warnings.warn(f"tierctl.render.{name} moved to tierctl.publish.render_engine.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(render_engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
