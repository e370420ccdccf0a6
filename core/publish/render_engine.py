"""``tierctl render``: turn the config into files through renderer plugins.

Renderers yield :class:`~tierctl.render.OutputFile` objects; this module writes them
deterministically (same config, same bytes), atomically, and removes files it wrote
last time that are no longer produced, so a deleted tier's page does not linger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from tierctl.errors import ConfigError, Problem, TierctlError
from tierctl.publish.headlines import published_headlines
from tierctl.render import OutputFile, RenderContext, Renderer, template_environment
from tierctl.util.files import atomic_write
from tierctl.util.suggest import did_you_mean, one_of

if TYPE_CHECKING:
    import jinja2

    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

MANIFEST = ".tierctl-manifest"


@dataclass
class RenderResult:
    """What one target wrote."""

    target: str
    out_dir: Path
    written: list[str]
    unchanged: list[str]
    removed: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "out": str(self.out_dir), "written": self.written,
                "unchanged": self.unchanged, "removed": self.removed}


def render_targets(config: "Config", host: "PluginHost", only: Iterable[str] | None = None,
                   out_override: str | None = None, extra: dict[str, Any] | None = None,
                   headlines: "Mapping[str, list[Any]] | None" = None) -> list[RenderResult]:
    """Render the config's targets (or just ``only``) and return what was written.

    :param headlines: the survey figures for targets with ``show_metrics`` (tier id -> its
        :class:`~tierctl.publish.headlines.TierHeadline` list), computed before rendering with
        :func:`tierctl.publish.headlines.headlines_for`; each target publishes those from at least its
        ``min_answers`` answers, as ``tier_metrics``. ``None`` (the default, as before) reads them
        from the ledger when a target shows metrics.
    """
    targets = config.render.targets
    names = list(targets) if only is None else list(only)
    for name in names:
        if name not in targets:
            raise TierctlError(f"no render target named {name!r}{did_you_mean(name, targets)}; "
                               f"targets in {config.path}: {one_of(targets)}")
    if not names:
        raise TierctlError(f"{config.path} has no render targets; add one under render:, e.g. "
                           "website: {format: html, out: build/site}")
    if headlines is None and any(targets[name].show_metrics for name in names):
        from tierctl.publish.headlines import headlines_for

        headlines = headlines_for(config, names)
    results = []
    for name in names:
        target = targets[name]
        renderer_cls = host.renderers.get(target.format)
        if renderer_cls is None:
            raise ConfigError([Problem(config.path, 0, 0, f"render.{name}.format",
                                       f"no renderer {target.format!r}{did_you_mean(target.format, host.renderers)}; "
                                       f"installed: {one_of(host.renderers)}")])
        renderer = renderer_cls()
        base = Path(config.path).parent if config.path else Path.cwd()
        out_dir = Path(out_override) / name if out_override and len(names) > 1 else \
            Path(out_override) if out_override else base / target.out
        values = dict(extra or {})
        # Survey figures only where a target asks for them (show_metrics: true);
        # templates always get tier_metrics, empty when not shown or nothing answered.
        shown = published_headlines(dict(headlines), target.min_answers) if target.show_metrics and headlines else {}
        values.setdefault("tier_metrics", shown)
        env = template_environment(config, host, renderer)
        files = _render_languages(renderer, config, name, env, values, host)
        try:
            results.append(write_files(name, out_dir, files))
        except OSError as exc:
            raise TierctlError(f"target {name!r}: cannot write {exc.filename or out_dir}: {exc.strerror or exc}; "
                               "choose another folder with out: or --out") from exc
    return results


def _render_languages(renderer: Renderer, config: "Config", name: str, env: "jinja2.Environment",
                      values: dict[str, Any], host: "PluginHost") -> list[OutputFile]:
    """The target's files in each of ``organization.languages``: as they are with one language,
    under ``<language>/`` with several (plus the renderer's :meth:`~Renderer.language_index`)."""
    from tierctl.config.localize import localize
    from tierctl.i18n import use_language

    languages = list(config.organization.languages)
    several = len(languages) > 1
    files: list[OutputFile] = []
    context = None
    for language in languages:
        with use_language(language):
            local = localize(config, language)
            context = RenderContext(local, name, local.render.targets[name], env,
                                    {**values, "language": language, "languages": languages,
                                     "multilingual": several})
            rendered = _render_files(renderer, context, name, host)
        files += [OutputFile(f"{language}/{f.path}", f.content) for f in rendered] if several else rendered
    if several and context is not None:
        with use_language(config.organization.language):
            files += list(_checked(renderer.language_index(context), name))
    return files


def _render_files(renderer: Renderer, context: RenderContext, target: str,
                  host: "PluginHost") -> list[OutputFile]:
    """Run the renderer; template mistakes become errors that name the template and line."""
    import jinja2

    registration = host.registry("renderers").get(context.target.format)
    plugin = registration.plugin if registration else "?"
    try:
        return list(_checked(renderer.render(context), target))
    except jinja2.TemplateNotFound as exc:
        raise TierctlError(f"target {target!r}: template {exc.name!r} not found (renderer plugin {plugin!r}); "
                           f"looked in: {', '.join(_search_path(context.env))}") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name}:{exc.lineno}"
        raise TierctlError(f"{where}: template syntax error: {exc.message}; fix the template "
                           f"(target {target!r})") from exc
    except jinja2.TemplateError as exc:
        where = _template_frame(exc)
        hint = ("; check the name, or guard it with {% if ... is defined %}"
                if isinstance(exc, jinja2.UndefinedError) else "")
        raise TierctlError(f"{where + ': ' if where else ''}template error in target {target!r}: "
                           f"{exc.message or exc}{hint}") from exc


def _search_path(env: "jinja2.Environment") -> list[str]:
    loaders = getattr(env.loader, "loaders", [env.loader])
    return [p for loader in loaders for p in getattr(loader, "searchpath", [])]


def _template_frame(exc: BaseException) -> str:
    """``file:line`` of the innermost template frame in ``exc``'s traceback, or ''."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.endswith(".py") and not filename.startswith("<"):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _checked(files: Iterable[OutputFile], target: str) -> Iterator[OutputFile]:
    for f in files:
        parts = Path(f.path).parts
        if Path(f.path).is_absolute() or ".." in parts or not parts:
            raise TierctlError(f"renderer for target {target!r} produced an unsafe path {f.path!r}")
        yield f


def write_files(target: str, out_dir: Path, files: Iterable[OutputFile]) -> RenderResult:
    """Write ``files`` under ``out_dir``; remove files this target wrote before but not now."""
    files = list(files)
    seen: dict[str, OutputFile] = {}
    for f in files:
        # Case-folded: on macOS and Windows index.html and INDEX.html are one file.
        other = seen.setdefault(f.path.lower(), f)
        if other is not f:
            raise TierctlError(f"render target {target!r}: two pages would be written to the same file "
                               f"{out_dir / f.path} ({other.path!r} and {f.path!r}); nothing was written. Rename the "
                               "tier (or template output) whose page clashes")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    before = set(manifest.read_text(encoding="utf-8").split()) if manifest.exists() else set()
    written, unchanged, now = [], [], []
    for f in sorted(files, key=lambda f: f.path):
        dest = out_dir / f.path
        data = f.content.encode("utf-8")
        now.append(f.path)
        if dest.exists() and dest.read_bytes() == data:
            unchanged.append(f.path)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data)
        written.append(f.path)
    removed = []
    for old in sorted(before - set(now)):
        stale = out_dir / old
        if ".." not in Path(old).parts and stale.is_file():
            stale.unlink()
            removed.append(old)
    atomic_write(manifest, ("\n".join(sorted(now)) + "\n").encode("utf-8"))
    return RenderResult(target, out_dir, written, unchanged, removed)
