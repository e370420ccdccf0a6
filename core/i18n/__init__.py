"""Languages: one gettext layer for tierctl's built-in text, and CLDR formatting.

``from tierctl.i18n import _, ngettext, N_`` marks and translates Python strings;
templates use the same catalogs through ``jinja2.ext.i18n`` (see
:func:`tierctl.i18n.translate.install`). The language is a context variable
(:func:`use_language`), so one run can render ``/nl/`` and ``/en/`` without
passing a language through every function. Catalogs are the ``.po`` files in
``catalogs/`` (one per language, English is the source), read with Babel at
first use and cached; Babel is imported only then, never on ``tierctl --help``.

May import: errors, util.
"""

from tierctl.i18n.translate import N_, _, current_language, gettext, ngettext, pgettext, use_language

__all__ = ["N_", "_", "current_language", "gettext", "ngettext", "pgettext", "use_language"]
