"""Keep the catalogs in step with the code: ``python -m tierctl.i18n.extract``.

Collects every message from tierctl's Python (``_()``, ``ngettext()``, ``N_()``) and
templates (``{{ _() }}``, ``{% trans %}``) with Babel into ``catalogs/tierctl.pot``,
then updates each ``catalogs/<language>.po`` from it: new messages arrive empty,
changed ones are marked fuzzy. tests/i18n checks nothing is empty or fuzzy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tierctl.i18n.catalogs import CATALOG_DIR, TEMPLATE, read_catalog

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "pgettext": ((1, "c"), 2)}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "trim_blocks": "true",
                 "lstrip_blocks": "true"}


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(list(spec.submodule_search_locations)[0])


def source_dirs() -> list[tuple[Path, list[tuple[str, str]]]]:
    """Where messages come from: the engine, the first-party plugins and the templates."""
    python = [("**.py", "python")]
    jinja = [("**.html", "jinja2.ext:babel_extract"), ("**.md", "jinja2.ext:babel_extract"),
             ("**.txt", "jinja2.ext:babel_extract")]
    return [(_package_dir("tierctl"), python), (_package_dir("tierctl.plugins"), python),
            (_package_dir("tierctl.templates"), jinja)]


def extract() -> Any:
    """A ``babel.messages.Catalog`` of every English message in tierctl now."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(project="tierctl", domain="tierctl", charset="utf-8", fuzzy=False)
    for folder, method_map in source_dirs():
        options = {pattern: JINJA_OPTIONS for pattern, method in method_map if method != "python"}
        for filename, lineno, message, comments, context in extract_from_dir(
                folder, method_map, options_map=options, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)):
            if "/testing/" in f"/{filename}" or filename.startswith(("i18n/extract", "testing")):
                continue
            catalog.add(message, locations=[(f"{folder.name}/{filename}", lineno)],
                        auto_comments=comments, context=context)
    return catalog


def _write(path: Path, catalog: Any) -> None:
    from io import BytesIO

    from babel.messages.pofile import write_po

    buffer = BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
    path.write_bytes(buffer.getvalue())


def update() -> list[str]:
    """Rewrite the template and update every language's catalog; returns what changed."""
    template = extract()
    _write(TEMPLATE, template)
    changed = []
    for po in sorted(CATALOG_DIR.glob("*.po")):
        catalog = read_catalog(po.stem)
        catalog.update(template, update_header_comment=False)
        catalog.obsolete.clear()
        _write(po, catalog)
        changed.append(po.name)
    return changed


if __name__ == "__main__":
    print("updated:", ", ".join(update()) or "the template only")
