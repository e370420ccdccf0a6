"""The one door every string of the hosted pages goes through: gettext.

Uses :mod:`tierctl.i18n` (Babel catalogs) when it is installed, so the pages
speak the language their catalogs have; without it, strings are shown as
written (English). Templates call ``_()`` too.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterator


def gettext(message: str) -> str:
    """``message`` in the current language (see :func:`language`)."""
    try:
        from tierctl.i18n import gettext as translate
    except ImportError:  # the i18n wing is not there yet: English
        return message
    return translate(message)


@contextmanager
def language(code: str) -> Iterator[None]:
    """Translate into ``code`` (BCP 47) inside the block."""
    try:
        from tierctl.i18n import use_language
    except ImportError:
        manager = nullcontext()
    else:
        manager = use_language(code)
    with manager:
        yield
