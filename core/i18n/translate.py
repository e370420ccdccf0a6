"""The current language and gettext functions that follow it.

Messages are English in the source; :func:`_` looks them up in the catalog of
the language set by :func:`use_language` (a context variable, so threads and
nested renders keep their own). A message without a translation stays English.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

from tierctl.i18n.catalogs import DEFAULT_LANGUAGE, translations

_language: ContextVar[str] = ContextVar("tierctl_language", default=DEFAULT_LANGUAGE)


def current_language() -> str:
    """The language text is produced in now, e.g. ``nl``."""
    return _language.get()


@contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Produce text in ``language`` inside the block (``None`` keeps the current one)."""
    if not language:
        yield _language.get()
        return
    token = _language.set(language)
    try:
        yield language
    finally:
        _language.reset(token)


def _catalog() -> Any:
    language = _language.get()
    if language == DEFAULT_LANGUAGE:
        return None
    return translations(language)


def gettext(message: str) -> str:
    """``message`` in the current language."""
    catalog = _catalog()
    return message if catalog is None else catalog.gettext(message)


def ngettext(singular: str, plural: str, n: float) -> str:
    """The singular or plural form for ``n``, in the current language (``%(num)s`` is not filled in)."""
    catalog = _catalog()
    if catalog is None:
        return singular if n == 1 else plural
    # Plural rules take whole numbers; a fraction (1.5 hours) takes the plural in nl, de and en.
    return catalog.ngettext(singular, plural, int(n) if float(n).is_integer() else 2)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, told apart from the same English word by ``context``."""
    catalog = _catalog()
    return message if catalog is None else catalog.pgettext(context, message)


_ = gettext


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it now (module constants)."""
    return message


def install(env: Any) -> Any:
    """Give a jinja2 environment ``{% trans %}``, ``_()`` and ``ngettext()`` in the current language.

    The callables read the language when a template renders, so one environment
    serves every language. Whitespace inside ``{% trans %}`` blocks is collapsed
    (``ext.i18n.trimmed``), as the catalog extraction does.
    """
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(gettext, ngettext, newstyle=True, pgettext=pgettext)
    env.globals["current_language"] = current_language
    env.filters.setdefault("one_stop", one_stop)
    return env


def one_stop(sentence: Any) -> Any:
    """``... Logistiek N.V..`` -> ``... Logistiek N.V.``: a sentence that ends in a name ending in a
    full stop keeps one (an ellipsis is left alone). Keeps markup safe when given markup."""
    import re

    text = str(sentence)
    fixed = re.sub(r"(?<!\.)\.\.(?!\.)", ".", text)
    if fixed == text:
        return sentence
    return type(sentence)(fixed) if hasattr(sentence, "__html__") else fixed
