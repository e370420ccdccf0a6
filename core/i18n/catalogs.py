"""The shipped catalogs: one ``catalogs/<language>.po`` per language, English being the source.

The ``.po`` files are read with Babel at first use and kept for the process:
no compiled ``.mo`` files to keep in step, and ``pip install -e .`` needs no
build step. Adding a language is adding ``catalogs/<code>.po`` (see README).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

#: The language messages are written in; it needs no catalog.
DEFAULT_LANGUAGE = "en"

CATALOG_DIR = Path(__file__).resolve().parent / "catalogs"
TEMPLATE = CATALOG_DIR / "tierctl.pot"


def shipped_languages() -> list[str]:
    """Every language tierctl has built-in text for: ``en`` plus one per catalog file."""
    return list(_languages_in(CATALOG_DIR))


@lru_cache(maxsize=4)
def _languages_in(folder: Path) -> tuple[str, ...]:
    # Asked once per invitation when providers pick a contact's language: list the folder once.
    return tuple(sorted({DEFAULT_LANGUAGE, *(p.stem for p in folder.glob("*.po"))}))


def read_catalog(language: str) -> Any:
    """The ``babel.messages.Catalog`` of ``language`` as shipped."""
    from babel.messages.pofile import read_po

    with open(CATALOG_DIR / f"{language}.po", "rb") as fh:
        return read_po(fh, locale=language, domain="tierctl")


@lru_cache(maxsize=None)
def translations(language: str) -> Any:
    """A gettext ``Translations`` for ``language`` (its base language, e.g. ``nl`` for ``nl-BE``);
    ``NullTranslations`` (English) when tierctl ships no catalog for it. Fuzzy entries are left out."""
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.support import NullTranslations, Translations

    base = language.replace("_", "-").split("-")[0].lower()
    if base == DEFAULT_LANGUAGE or not (CATALOG_DIR / f"{base}.po").is_file():
        return NullTranslations()
    buffer = BytesIO()
    write_mo(buffer, read_catalog(base), use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain="tierctl")
