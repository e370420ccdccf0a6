"""Text written in several languages in the config: ``name: {en: Basic, nl: Basis}``.

A :class:`LocalText` is a ``str`` (the text in the language chosen for it, the
organisation's default after loading) that also carries every variant, so code
that only knows strings keeps working and code that knows a reader's language
asks for theirs with :func:`in_language`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
LANGUAGE_HELP = "a language code such as en, nl, de or nl-BE"


def is_language(code: Any) -> bool:
    return isinstance(code, str) and bool(_LANGUAGE_RE.match(code))


def language_chain(requested: str | None, default: str) -> list[str]:
    """The languages to try for a reader of ``requested``: ``nl-BE`` -> ``nl-BE, nl, <default>``."""
    chain: list[str] = []
    if requested and is_language(requested):
        parts = re.split(r"[_-]", requested)
        for i in range(len(parts), 0, -1):
            code = "-".join([parts[0].lower(), *parts[1:i]])
            if code not in chain:
                chain.append(code)
    if default not in chain:
        chain.append(default)
    return chain


def negotiate(requested: str | None, available: list[str], default: str) -> str:
    """The first of ``available`` in ``requested``'s chain (``nl-BE`` -> ``nl`` -> ``default``)."""
    lowered = {a.lower(): a for a in available}
    for code in language_chain(requested, default):
        if code.lower() in lowered:
            return lowered[code.lower()]
    return default


def reader_language(locale: str | None, organization: Any = None) -> str:
    """The language to write to a reader of ``locale`` in: ``nl-BE`` -> ``nl`` -> the organisation's
    default, among the languages tierctl ships text in and ``organization.languages``."""
    from tierctl.i18n.catalogs import shipped_languages

    default = organization.language if organization is not None else "en"
    available = shipped_languages() + (list(organization.languages) if organization is not None else [])
    return negotiate(locale, available, default)


class LocalText(str):
    """A config text: the ``str`` value in one language, :attr:`variants` in all it was written in.

    A plain string in the config is one variant for every language (``variants`` is empty).
    """

    variants: dict[str, str]

    def __new__(cls, value: str, variants: Mapping[str, str] | None = None) -> "LocalText":
        text = super().__new__(cls, value)
        text.variants = dict(variants or {})
        return text

    @classmethod
    def parse(cls, value: Any) -> Any:
        """A string stays a string; ``{en: ..., nl: ...}`` becomes a LocalText in its first language."""
        if isinstance(value, (LocalText, str)) or not isinstance(value, dict):
            return value
        if not value:
            raise ValueError("expected a text or a mapping of language to text, e.g. {en: Basic, nl: Basis}")
        variants: dict[str, str] = {}
        for code, text in value.items():
            if not is_language(code):
                raise ValueError(f"{code!r} is not {LANGUAGE_HELP}")
            if not isinstance(text, str):
                raise ValueError(f"the {code} text must be a string, got {text!r}")
            variants[str(code)] = text.strip()
        return cls(next(iter(variants.values())), variants)

    def in_language(self, language: str | None, default: str | None = None) -> "LocalText":
        """This text for a reader of ``language`` (``nl-BE`` -> ``nl`` -> ``default`` -> first written)."""
        if not self.variants:
            return self
        for code in language_chain(language, default or next(iter(self.variants))):
            if code in self.variants:
                return LocalText(self.variants[code], self.variants)
        return self

    def missing(self, languages: list[str]) -> list[str]:
        """Which of ``languages`` this text was not written in (none for a plain string)."""
        return [code for code in languages if self.variants and code not in self.variants]

    def __eq__(self, other: object) -> bool:
        # Two config texts differ when any language differs (tierctl diff, config reloads); against a
        # plain string only the text itself counts, so `tier.name == "Basic"` reads as it looks.
        if isinstance(other, LocalText):
            return str.__eq__(self, other) and self.variants == other.variants
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __reduce__(self) -> Any:
        return (LocalText, (str(self), self.variants))

    def __getnewargs__(self) -> Any:
        return (str(self), self.variants)


def in_language(value: Any, language: str | None, default: str | None = None) -> Any:
    """``value`` for a reader of ``language`` when it is a :class:`LocalText`; anything else unchanged."""
    return value.in_language(language, default) if isinstance(value, LocalText) else value


def text_for(value: Any, language: str | None, default: str | None = None) -> Any:
    """An option or config text for a reader of ``language``: a plain string as it is, a
    :class:`LocalText` or a ``{en: ..., nl: ...}`` mapping in ``language`` (``nl-BE`` -> ``nl`` ->
    ``default`` -> the first written); ``None`` stays ``None``."""
    if isinstance(value, dict):
        value = LocalText.parse(value)
    return in_language(value, language, default)
