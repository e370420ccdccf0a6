"""The config as one language reads it.

Texts written per language (``{en: Basic, nl: Basis}``) are :class:`~tierctl.i18n.text.LocalText`
strings; :func:`localize` returns a copy of the config in which each of them reads in
the given language (falling back ``nl-BE`` -> ``nl`` -> the organisation's default),
so renderers and templates only ever see strings. :func:`texts` lists every such
text with its path, for ``validate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from pydantic import BaseModel

from tierctl.i18n.text import LocalText, negotiate

if TYPE_CHECKING:
    from tierctl.config.model import Config


def _walk(value: Any, language: str, default: str) -> Any:
    if isinstance(value, LocalText):
        return value.in_language(language, default)
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _walk(old, language, default)
            if new is not old:
                changes[name] = new
        extra = value.__pydantic_extra__ or {}
        new_extra = {k: _walk(v, language, default) for k, v in extra.items()}
        if any(new_extra[k] is not extra[k] for k in extra):
            changes.update(new_extra)
        if not changes:
            return value
        copy = value.model_copy(update=changes)
        if extra:
            copy.__pydantic_extra__ = {**extra, **{k: v for k, v in new_extra.items()}}
        return copy
    if isinstance(value, list):
        items = [_walk(v, language, default) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    if isinstance(value, tuple):
        items = [_walk(v, language, default) for v in value]
        return tuple(items) if any(a is not b for a, b in zip(items, value)) else value
    if isinstance(value, dict):
        new = {k: _walk(v, language, default) for k, v in value.items()}
        return new if any(new[k] is not value[k] for k in value) else value
    return value


def localize(config: "Config", language: str | None) -> "Config":
    """``config`` with every text in ``language`` (the organisation's default when None)."""
    default = config.organization.language
    return _walk(config, language or default, default)


def page_language(config: "Config", requested: str | None) -> str:
    """The published language that best serves ``requested`` (``nl-BE`` -> ``nl`` -> the default)."""
    return negotiate(requested, list(config.organization.languages), config.organization.language)


def output_language(config: "Config", requested: str | None) -> str:
    """The language a report or brief is written in: ``requested`` (``--language``), else the
    organisation's. A code without a catalog gets English built-in text, the config's text in
    the nearest language it is written in."""
    from tierctl.errors import TierctlError
    from tierctl.i18n.text import LANGUAGE_HELP, is_language

    if requested is None:
        return config.organization.language
    if not is_language(requested):
        from tierctl.util.suggest import quoted

        raise TierctlError(f"--language {quoted(requested)} is not {LANGUAGE_HELP}; "
                           f"the config publishes in {', '.join(config.organization.languages)}")
    return requested


def language_note(config: "Config", language: str) -> str | None:
    """What a reader should know of ``language`` when tierctl has no text in it: the built-in
    text is then English, and the config's text its nearest language (None when it has text)."""
    from tierctl.i18n.catalogs import shipped_languages

    base = language.split("-")[0].lower()
    shipped = shipped_languages()
    if base in shipped or base in (lang.split("-")[0].lower() for lang in config.organization.languages):
        return None
    nearest = negotiate(language, list(config.organization.languages), config.organization.language)
    return (f"no text in {language!r}: tierctl's own text is in English (it has {', '.join(shipped)}), "
            f"the config's in {nearest!r} (organization.languages: {', '.join(config.organization.languages)})")


def texts(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], LocalText]]:
    """Every per-language text under ``value``, with its path in the config."""
    if isinstance(value, LocalText):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from texts(getattr(value, name), path + (name,))
        for name, item in (value.__pydantic_extra__ or {}).items():
            yield from texts(item, path + (name,))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from texts(item, path + (index,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts(item, path + (key,))
